//! guest_print: upstream guest_print_test.c. The guest prints two values with
//! a format (GUEST_PRINTF) and asserts they are equal with the same format
//! (__GUEST_ASSERT); the host formats the values with the C library's
//! snprintf and the C test's format string, and compares each line exactly.
//! Then the text limits: a text of exactly UCALL_TEXT_MAX bytes, and longer
//! ones (the C test's guest_code_limits). One trial per row of
//! kvmtest-abi's `print_test::CASES`, e.g. `guest_print::test_type_i64::1`.

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void, CString};

use kvmtest::abi::print_test::{
    PrintCase, PrintType, CASES, MODE_ABORT_OVER_MAX, MODE_TEXT_EXACT_MAX, MODE_TEXT_OVER_MAX, OVER_MAX_EXTRA, STRINGS,
};
use kvmtest::abi::UCALL_TEXT_MAX;
use kvmtest::{bail, ensure, runner, Payload, Ucall, Vm};
use kvmtest_tests::payloads;

const PAYLOAD_FILE: &str = "guest-payloads/payloads/src/bin/guest_print.rs";

/// How a value travels through C's varargs for its format.
#[derive(Clone, Copy)]
enum CType {
    Long,
    ULong,
    UInt,
    /// `int`, and `char` (promoted to int).
    Int,
    Str,
    Ptr,
}

/// The C test's TYPE_LIST (name, format, type), then kvmtest's rows.
const TYPES: &[(PrintType, &str, &str, CType)] = &[
    (PrintType::I64, "test_type_i64", "%ld", CType::Long),
    (PrintType::U64u, "test_type_u64", "%lu", CType::ULong),
    (PrintType::U64x, "test_type_x64", "0x%lx", CType::ULong),
    (PrintType::U64X, "test_type_X64", "0x%lX", CType::ULong),
    (PrintType::U32u, "test_type_u32", "%u", CType::UInt),
    (PrintType::U32x, "test_type_x32", "0x%x", CType::UInt),
    (PrintType::U32X, "test_type_X32", "0x%X", CType::UInt),
    (PrintType::Int, "test_type_int", "%d", CType::Int),
    (PrintType::Char, "test_type_char", "%c", CType::Int),
    (PrintType::Str, "test_type_str", "'%s'", CType::Str),
    (PrintType::Ptr, "test_type_ptr", "%p", CType::Ptr),
    (PrintType::IntWidth, "int_width", "%8d", CType::Int),
    (PrintType::IntLeft, "int_left", "%-8d|", CType::Int),
    (PrintType::IntZeroPad, "int_zero_pad", "%08d", CType::Int),
    (PrintType::IntPlus, "int_plus", "%+d", CType::Int),
    (PrintType::U64AltHex, "u64_alt_hex", "%#lx", CType::ULong),
    (PrintType::U64AltHexPad, "u64_alt_hex_pad", "%#018lx", CType::ULong),
    (PrintType::U64Octal, "u64_octal", "%lo", CType::ULong),
    (PrintType::StrWidth, "str_width", "%8s|", CType::Str),
    (PrintType::StrLeft, "str_left", "%-8s|", CType::Str),
    (PrintType::StrPrecision, "str_precision", "%.2s", CType::Str),
];

fn type_row(ty: PrintType) -> &'static (PrintType, &'static str, &'static str, CType) {
    TYPES.iter().find(|r| r.0 == ty).expect("every PrintType has a TYPES row")
}

/// snprintf(buf, UCALL_TEXT_MAX, fmt, a, b) with `a` and `b` passed as `ty`.
fn c_snprintf(fmt: &str, ty: CType, a: u64, b: u64) -> String {
    let fmt = CString::new(fmt).expect("formats have no NUL");
    let string = |i: u64| CString::new(STRINGS[i as usize]).expect("the strings have no NUL");
    let mut buf = vec![0u8; UCALL_TEXT_MAX];
    let (p, n, f) = (buf.as_mut_ptr() as *mut c_char, buf.len(), fmt.as_ptr());
    // SAFETY: `buf` has `n` bytes; the format takes two arguments of the
    // C type `ty` says, and each is passed as that type (strings as
    // NUL-terminated CStrings that outlive the call).
    let len = unsafe {
        match ty {
            CType::Long => libc::snprintf(p, n, f, a as c_long, b as c_long),
            CType::ULong => libc::snprintf(p, n, f, a as c_ulong, b as c_ulong),
            CType::UInt => libc::snprintf(p, n, f, a as c_uint, b as c_uint),
            CType::Int => libc::snprintf(p, n, f, a as c_int, b as c_int),
            CType::Str => {
                let (a, b) = (string(a), string(b));
                libc::snprintf(p, n, f, a.as_ptr(), b.as_ptr())
            }
            CType::Ptr => libc::snprintf(p, n, f, a as usize as *const c_void, b as usize as *const c_void),
        }
    };
    assert!(len >= 0 && (len as usize) < n, "snprintf({fmt:?}) returned {len}");
    String::from_utf8_lossy(&buf[..len as usize]).into_owned()
}

/// test_type_<T>(vcpu, a, b) and run_test(): the PRINTF line must be the C
/// library's formatting of the same values; a != b must end in the ABORT
/// whose message is the assert format's, a == b in DONE.
fn test_type(index: usize, case: PrintCase) -> kvmtest::Result<()> {
    let &(_, _, fmt, ctype) = type_row(case.ty);
    let expected_printf = c_snprintf(&format!("Got params a = {fmt} and b = {fmt}"), ctype, case.a, case.b);
    let expected_assert = c_snprintf(&format!("Expected {fmt}, got {fmt} instead"), ctype, case.a, case.b);

    let mut vm = Vm::builder().payload(Payload::elf(payloads::GUEST_PRINT)).arg(0, index as u64).build()?;
    let vcpu = vm.vcpu(0);
    match vcpu.run_until_ucall()? {
        Ucall::Printf(text) => {
            ensure!(text == expected_printf, "Unexpected mismatch. Expected: '{expected_printf}', got: '{text}'")
        }
        Ucall::Sync { stage, .. } => bail!("Unknown 'args_type' = {stage}"),
        other => return Err(other.into_failure(0)),
    }
    if case.a == case.b {
        return vcpu.expect_done();
    }
    let Ucall::Abort(a) = vcpu.run_until_ucall()? else {
        bail!("a = {:#x} and b = {:#x} differ: expected the guest's assertion to fail", case.a, case.b);
    };
    // Upstream checks the message ends with the assert format's text;
    // kvmtest's ABORT carries the message alone, so it is compared whole.
    let msg = format!("assertion failed: a == b: {expected_assert}");
    ensure!(a.msg == msg, "Unexpected mismatch. Expected: '{msg}', got: '{}'", a.msg);
    ensure!(a.file == PAYLOAD_FILE, "ABORT file: expected {PAYLOAD_FILE:?}, got {:?}", a.file);
    Ok(())
}

/// The text limits. Upstream's guest_code_limits prints UCALL_BUFFER_LEN +
/// 10 bytes and its guest_vsnprintf asserts (UCALL_ABORT); kvmtest's guest
/// runtime instead truncates any text at UCALL_TEXT_MAX bytes
/// (guest-payloads/runtime/src/ucall.rs) and the host takes a message of
/// up to UCALL_TEXT_MAX text bytes: these trials pin that behaviour.
fn test_limits(mode: u64) -> kvmtest::Result<()> {
    let mut vm = Vm::builder().payload(Payload::elf(payloads::GUEST_PRINT)).arg(0, mode).build()?;
    let vcpu = vm.vcpu(0);
    let max = "a".repeat(UCALL_TEXT_MAX);
    match (mode, vcpu.run_until_ucall()?) {
        (MODE_TEXT_EXACT_MAX | MODE_TEXT_OVER_MAX, Ucall::Printf(text)) => {
            ensure!(
                text == max,
                "PRINTF of {} 'a's: expected exactly {} 'a's, got {} bytes: {:?}…",
                if mode == MODE_TEXT_EXACT_MAX { UCALL_TEXT_MAX } else { UCALL_TEXT_MAX + OVER_MAX_EXTRA },
                max.len(),
                text.len(),
                &text[..text.len().min(40)]
            );
            vcpu.expect_done()
        }
        (MODE_ABORT_OVER_MAX, Ucall::Abort(a)) => {
            // The file comes first and whole; the message fills the rest.
            ensure!(a.file == PAYLOAD_FILE, "ABORT file: expected {PAYLOAD_FILE:?}, got {:?}", a.file);
            let msg = format!("assertion failed: mode == 0: {max}");
            let msg = &msg[..UCALL_TEXT_MAX - PAYLOAD_FILE.len()];
            ensure!(
                a.msg == msg,
                "ABORT message: expected the first {} bytes of the over-long message, got {} bytes: {:?}…",
                msg.len(),
                a.msg.len(),
                &a.msg[..a.msg.len().min(60)]
            );
            Ok(())
        }
        (_, other) => Err(other.into_failure(0)),
    }
}

fn main() -> std::process::ExitCode {
    let mut trials = Vec::new();
    let mut per_type = std::collections::HashMap::new();
    for (index, &case) in CASES.iter().enumerate() {
        let n = per_type.entry(case.ty as u64).or_insert(0);
        let name = format!("guest_print::{}::{n}", type_row(case.ty).1);
        *n += 1;
        trials.push(runner::test(name, move || test_type(index, case)));
    }
    for (mode, name) in [
        (MODE_TEXT_EXACT_MAX, "text_exact_max"),
        (MODE_TEXT_OVER_MAX, "text_over_max"),
        (MODE_ABORT_OVER_MAX, "abort_over_max"),
    ] {
        trials.push(runner::test(format!("guest_print::limits::{name}"), move || test_limits(mode)));
    }
    runner::main(trials)
}
