//! The guest_print payload (upstream guest_print_test.c's guest_code and
//! guest_code_limits): boot argument 0 is a row of kvmtest-abi's
//! `print_test::CASES`, printed with GUEST_PRINTF and asserted on with its
//! format, or one of the text-limit modes.
#![no_std]
#![no_main]

use kvmtest_guest::abi::print_test::{
    PrintType, CASES, MODE_ABORT_OVER_MAX, MODE_TEXT_EXACT_MAX, MODE_TEXT_OVER_MAX, OVER_MAX_EXTRA, STRINGS,
};
use kvmtest_guest::abi::UCALL_TEXT_MAX;
use kvmtest_guest::{boot_arg, guest_assert, guest_printf, guest_sync};

/// GUEST_PRINTF(PRINTF_FMT_##ext, a, b) then __GUEST_ASSERT(a == b, ASSERT_FMT_##ext, a, b).
macro_rules! print_and_assert {
    ($cond:expr, $fmt:literal, $a:expr, $b:expr) => {{
        guest_printf!(concat!("Got params a = ", $fmt, " and b = ", $fmt), $a, $b);
        guest_assert!($cond, concat!("Expected ", $fmt, ", got ", $fmt, " instead"), $a, $b);
    }};
}

fn string(i: u64) -> &'static str {
    STRINGS.get(i as usize).copied().unwrap_or("<no such string>")
}

fn main() {
    let mode = boot_arg(0);
    match mode {
        MODE_TEXT_EXACT_MAX => guest_printf!("{:a<1$}", "", UCALL_TEXT_MAX),
        MODE_TEXT_OVER_MAX => guest_printf!("{:a<1$}", "", UCALL_TEXT_MAX + OVER_MAX_EXTRA),
        MODE_ABORT_OVER_MAX => guest_assert!(mode == 0, "{:a<1$}", "", UCALL_TEXT_MAX + OVER_MAX_EXTRA),
        _ => {
            let Some(case) = CASES.get(mode as usize) else {
                // The C guest's `default: GUEST_SYNC(vals.type)`.
                guest_sync!(mode);
                return;
            };
            let (a, b) = (case.a, case.b);
            match case.ty {
                PrintType::I64 => print_and_assert!(a == b, "{}", a as i64, b as i64),
                PrintType::U64u => print_and_assert!(a == b, "{}", a, b),
                PrintType::U64x => print_and_assert!(a == b, "0x{:x}", a, b),
                PrintType::U64X => print_and_assert!(a == b, "0x{:X}", a, b),
                PrintType::U32u => print_and_assert!(a == b, "{}", a as u32, b as u32),
                PrintType::U32x => print_and_assert!(a == b, "0x{:x}", a as u32, b as u32),
                PrintType::U32X => print_and_assert!(a == b, "0x{:X}", a as u32, b as u32),
                PrintType::Int => print_and_assert!(a == b, "{}", a as i32, b as i32),
                PrintType::Char => print_and_assert!(a == b, "{}", a as u8 as char, b as u8 as char),
                PrintType::Str => print_and_assert!(a == b, "'{}'", string(a), string(b)),
                PrintType::Ptr => print_and_assert!(a == b, "{:p}", a as *const u8, b as *const u8),
                PrintType::IntWidth => print_and_assert!(a == b, "{:8}", a as i32, b as i32),
                PrintType::IntLeft => print_and_assert!(a == b, "{:<8}|", a as i32, b as i32),
                PrintType::IntZeroPad => print_and_assert!(a == b, "{:08}", a as i32, b as i32),
                PrintType::IntPlus => print_and_assert!(a == b, "{:+}", a as i32, b as i32),
                PrintType::U64AltHex => print_and_assert!(a == b, "{:#x}", a, b),
                PrintType::U64AltHexPad => print_and_assert!(a == b, "{:#018x}", a, b),
                PrintType::U64Octal => print_and_assert!(a == b, "{:o}", a, b),
                PrintType::StrWidth => print_and_assert!(a == b, "{:>8}|", string(a), string(b)),
                PrintType::StrLeft => print_and_assert!(a == b, "{:<8}|", string(a), string(b)),
                PrintType::StrPrecision => print_and_assert!(a == b, "{:.2}", string(a), string(b)),
            }
        }
    }
}

kvmtest_guest::entry!(main);
