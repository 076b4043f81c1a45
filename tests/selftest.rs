//! selftest: the framework proves it catches failures. A guest assertion,
//! an exception, a hang, a panic and a corrupt payload must each end in a
//! precise, readable error: these tests assert on what is reported.

use std::time::{Duration, Instant};

use kvmtest::asm::AsmGuest;
use kvmtest::bare_vm::BareVm;
use kvmtest::{bail, ensure, runner, Error, ExceptionKind, Payload, PayloadError, Vm};
use kvmtest_tests::payloads;

// Modes of guest-payloads/payloads/src/bin/faults.rs (boot arg 0), and the
// unmapped address its page fault reads.
use kvmtest::abi::faults::{FaultMode, UNMAPPED};

fn faults_vm(mode: FaultMode) -> kvmtest::Result<Vm> {
    Vm::builder().payload(Payload::elf(payloads::FAULTS)).arg(0, mode as u64).arg(1, PANIC_INDEX).build()
}

/// The out-of-bounds index the PANIC mode uses on its 3-element array.
const PANIC_INDEX: u64 = 5;

/// The exception the guest reported, or a failure saying what came instead.
fn expect_exception(vm: &mut Vm) -> kvmtest::Result<(kvmtest::GuestException, String)> {
    match vm.vcpu(0).run_until_ucall() {
        Err(e @ Error::GuestException { .. }) => {
            let text = e.to_string();
            let Error::GuestException { exception, .. } = e else { unreachable!() };
            Ok((*exception, text))
        }
        other => bail!("expected an exception report, got {other:?}"),
    }
}

fn undefined_instruction_elf() -> kvmtest::Result<()> {
    let mut vm = faults_vm(FaultMode::Ud)?;
    let at = vm.vcpu(0).expect_sync(1)?[0];
    check_undefined(&mut vm, at)
}

fn undefined_instruction_dynasm() -> kvmtest::Result<()> {
    let mut g = AsmGuest::new();
    let at = g.undefined_instruction();
    let mut vm = Vm::builder().payload(g.finish()?).build()?;
    check_undefined(&mut vm, at)
}

fn check_undefined(vm: &mut Vm, at: u64) -> kvmtest::Result<()> {
    let (e, text) = expect_exception(vm)?;
    ensure!(e.pc == at, "undefined instruction: expected pc {at:#x}, reported {:#x}", e.pc);
    ensure!(
        e.kind == ExceptionKind::UndefinedInstruction,
        "expected an undefined-instruction exception, reported {text}"
    );
    ensure!(text.contains(&format!("{at:#x}")) && text.contains(&e.name), "report lacks pc or name: {text}");
    Ok(())
}

fn page_fault_elf() -> kvmtest::Result<()> {
    let mut vm = faults_vm(FaultMode::PageFault)?;
    let addr = vm.vcpu(0).expect_sync(1)?[0];
    check_page_fault(&mut vm, addr, None)
}

fn page_fault_dynasm() -> kvmtest::Result<()> {
    let mut g = AsmGuest::new();
    let at = g.load_from(UNMAPPED);
    let mut vm = Vm::builder().payload(g.finish()?).build()?;
    check_page_fault(&mut vm, UNMAPPED, Some(at))
}

fn check_page_fault(vm: &mut Vm, addr: u64, pc: Option<u64>) -> kvmtest::Result<()> {
    let (e, text) = expect_exception(vm)?;
    ensure!(e.kind == ExceptionKind::PageFault, "expected a data page fault, reported {text}");
    ensure!(e.fault_addr == addr, "fault address: expected {addr:#x}, reported {:#x}", e.fault_addr);
    if let Some(pc) = pc {
        ensure!(e.pc == pc, "fault pc: expected {pc:#x}, reported {:#x}", e.pc);
    }
    ensure!(vm.layout().payload.contains(&e.pc), "fault pc {:#x} is not in the payload", e.pc);
    Ok(())
}

const TIMEOUT: Duration = Duration::from_millis(300);
/// The watchdog must not fire before its timeout; after it, only a
/// watchdog that never fires is a failure: on a loaded 2-core machine its
/// thread and the vCPU's can each wait seconds for a core.
const FIRED_BY: Duration = Duration::from_secs(30);

fn watchdog(mut vm: Vm, spin_pc: Option<u64>) -> kvmtest::Result<()> {
    vm.vcpu(0).set_timeout(TIMEOUT);
    let start = Instant::now();
    let r = vm.vcpu(0).run_until_ucall();
    let took = start.elapsed();
    let Err(Error::Watchdog { pc, timeout_ms, .. }) = &r else { bail!("expected the watchdog to fire, got {r:?}") };
    ensure!(*timeout_ms == TIMEOUT.as_millis() as u64, "reported timeout {timeout_ms} ms");
    ensure!(took >= TIMEOUT && took < FIRED_BY, "watchdog fired after {took:?} for a {TIMEOUT:?} timeout");
    ensure!(vm.layout().payload.contains(pc), "watchdog pc {pc:#x} is not in the payload");
    if let Some(at) = spin_pc {
        ensure!(*pc == at, "watchdog pc: expected the loop at {at:#x}, got {pc:#x}");
    }
    Ok(())
}

fn watchdog_elf() -> kvmtest::Result<()> {
    let mut vm = faults_vm(FaultMode::EndlessLoop)?;
    vm.vcpu(0).expect_sync(1)?;
    watchdog(vm, None)
}

fn watchdog_dynasm() -> kvmtest::Result<()> {
    let mut g = AsmGuest::new();
    let at = g.spin();
    watchdog(Vm::builder().payload(g.finish()?).build()?, Some(at))
}

fn stack_overflow() -> kvmtest::Result<()> {
    let mut vm = faults_vm(FaultMode::StackOverflow)?;
    vm.vcpu(0).expect_sync(1)?;
    let guard = vm.layout().stack_guard_of(0);
    let (e, text) = expect_exception(&mut vm)?;
    ensure!(e.kind == ExceptionKind::PageFault, "stack overflow: expected a data page fault, reported {text}");
    ensure!(
        (guard..guard + 4096).contains(&e.fault_addr),
        "stack overflow: fault address {:#x} is not the guard page at {guard:#x}",
        e.fault_addr
    );
    Ok(())
}

fn fault_probe_recovers() -> kvmtest::Result<()> {
    let mut vm = faults_vm(FaultMode::ProbeFault)?;
    if kvmtest::kvm_api::undefined_register_read_faults()? {
        vm.vcpu(0).expect_sync(1)?;
        return vm.vcpu(0).expect_done();
    }
    // x86 with kvm.ignore_msrs=Y: KVM completes the bogus RDMSR with 0
    // instead of a #GP (x86.c, kvm_do_msr_access / 6.1 kvm_msr_ignored_check),
    // so there is no fault to recover from and the guest's assertion reports
    // "no vector" (0xff). Anything else (a #GP, an exit) is wrong here.
    const NO_FAULT: u64 = 0xff;
    match vm.vcpu(0).next_event() {
        Err(Error::GuestAssert(a)) if a.msg.contains("should fault") && a.values.first() == Some(&NO_FAULT) => Ok(()),
        other => bail!(
            "kvm.ignore_msrs=Y: expected the guest's RDMSR of a bogus MSR to complete (its assertion reporting \
             vector {NO_FAULT:#x}, no fault), got {other:?}"
        ),
    }
}

fn assert_failure_text() -> kvmtest::Result<()> {
    let mut vm = Vm::builder().payload(Payload::elf(payloads::UCALL)).arg(0, 2).arg(1, 7).build()?;
    let line = vm.vcpu(0).expect_sync(100)?[0];
    let err = match vm.vcpu(0).next_event() {
        Err(e @ Error::GuestAssert(_)) => e.to_string(),
        other => bail!("expected the guest assertion to fail the test, got {other:?}"),
    };
    let expected = format!(
        "guest assertion failed on vCPU 0 at guest-payloads/payloads/src/bin/ucall.rs:{line}: \
         boot_arg(1) == 42u64 failed. boot arg 1 should be 42: left 7 (0x7), right 42 (0x2a)"
    );
    ensure!(err.ends_with(&expected), "reported:\n  {err}\nexpected it to end with:\n  {expected}");
    Ok(())
}

fn panic_reported() -> kvmtest::Result<()> {
    let mut vm = faults_vm(FaultMode::Panic)?;
    let line = vm.vcpu(0).expect_sync(1)?[0];
    let err = match vm.vcpu(0).next_event() {
        Err(e @ Error::GuestAssert(_)) => e.to_string(),
        other => bail!("expected the guest panic to fail the test, got {other:?}"),
    };
    let expected = format!("guest-payloads/payloads/src/bin/faults.rs:{line}: guest panic: index out of bounds: the len is 3 but the index is {PANIC_INDEX}");
    ensure!(err.contains(&expected), "reported:\n  {err}\nexpected it to contain:\n  {expected}");
    Ok(())
}

fn corrupt_payloads() -> kvmtest::Result<()> {
    let good = payloads::UCALL;
    let mut wrong_machine = good.to_vec();
    wrong_machine[18] ^= 0xff;
    let mut low_segment = good.to_vec();
    // Move the first program header's p_vaddr into the harness's page tables.
    let phoff = u64::from_le_bytes(good[32..40].try_into().unwrap_or_default()) as usize;
    low_segment[phoff + 16..phoff + 24].copy_from_slice(&0x7000u64.to_le_bytes());
    let mut huge = good.to_vec();
    huge[phoff + 40..phoff + 48].copy_from_slice(&(1u64 << 40).to_le_bytes());
    type IsExpected = fn(&PayloadError) -> bool;
    let cases: [(&str, Vec<u8>, IsExpected); 5] = [
        ("empty", Vec::new(), |e| matches!(e, PayloadError::Empty)),
        ("truncated", good[..100].to_vec(), |e| matches!(e, PayloadError::Malformed(_))),
        ("wrong machine", wrong_machine, |e| matches!(e, PayloadError::WrongMachine { .. })),
        ("segment over the page tables", low_segment, |e| e.to_string().contains("harness's own memory")),
        ("huge p_memsz", huge, |e| e.to_string().contains("beyond guest memory")),
    ];
    for (what, bytes, is_expected) in cases {
        match Vm::builder().payload(Payload::elf(bytes)).build() {
            Err(Error::Payload(e)) if is_expected(&e) => {}
            Err(Error::Payload(e)) => bail!("{what}: wrong error: {e}"),
            Err(e) => return Err(e),
            Ok(_) => bail!("{what}: the payload was accepted"),
        }
    }
    Ok(())
}

/// Runs one trial of this binary in a child whose KVM device does not exist,
/// with libtest output or (`ktap`) KTAP output.
fn run_without_kvm(require: bool, ktap: bool) -> kvmtest::Result<(std::process::ExitStatus, String)> {
    run_child(&[("KVMTEST_KVM_DEVICE", "/nonexistent/kvm")], require, ktap)
}

/// Runs `selftest::exception_fixup_recovers::elf` in a child with `env` set.
fn run_child(env: &[(&str, &str)], require: bool, ktap: bool) -> kvmtest::Result<(std::process::ExitStatus, String)> {
    let exe = std::env::current_exe().map_err(|e| Error::Check(format!("current_exe: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", "selftest::exception_fixup_recovers::elf", "--test-threads=1"])
        .envs(env.iter().copied())
        .env_remove("KVMTEST_REQUIRE_KVM")
        .env(runner::FORMAT_ENV, if ktap { "ktap" } else { "libtest" });
    if require {
        cmd.env("KVMTEST_REQUIRE_KVM", "1");
    }
    let out = cmd.output().map_err(|e| Error::Check(format!("running the child test: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status, text))
}

/// A device node that opens but is not KVM (/dev/kvm bound to /dev/null)
/// is named as such, in the banner and the skip, not shown as "API -1".
fn not_kvm_device_named() -> kvmtest::Result<()> {
    let (status, text) = run_child(&[("KVMTEST_KVM_DEVICE", "/dev/null")], false, false)?;
    ensure!(status.success(), "a device that is not KVM must skip, not fail:\n{text}");
    let reason = "/dev/null is not a KVM device: KVM_GET_API_VERSION failed";
    ensure!(
        text.contains("1 ignored")
            && text.contains(reason)
            && text.contains(&format!("kvmtest: /dev/kvm is not usable: {reason}")),
        "expected the banner and the skip to say {reason:?}:\n{text}"
    );
    ensure!(!text.contains("API -1"), "the banner claims a KVM API version:\n{text}");
    Ok(())
}

/// KVMTEST_TIMEOUT_MS that is not a positive number of milliseconds (or
/// `off`) fails the trial with the variable named, instead of being ignored.
fn bad_timeout_env_refused() -> kvmtest::Result<()> {
    for bad in ["abc", "-5", "", "0"] {
        let (status, text) = run_child(&[("KVMTEST_TIMEOUT_MS", bad)], false, false)?;
        let expected = format!("KVMTEST_TIMEOUT_MS={bad:?}: expected the watchdog timeout as a positive number");
        ensure!(
            !status.success() && text.contains("1 failed") && text.contains(&expected),
            "KVMTEST_TIMEOUT_MS={bad:?}: expected a failure saying {expected:?}:\n{text}"
        );
    }
    // `off` runs the guest: that needs KVM.
    kvmtest::backend()?;
    let (status, text) = run_child(&[("KVMTEST_TIMEOUT_MS", "off")], false, false)?;
    ensure!(status.success() && text.contains("1 passed"), "KVMTEST_TIMEOUT_MS=off: expected a pass:\n{text}");
    Ok(())
}

/// A host-side check names the test's file and line, as a guest assertion does.
fn host_check_names_its_line() -> kvmtest::Result<()> {
    let check = |got: u64| -> kvmtest::Result<()> {
        ensure!(got == 43, "SYNC(1): expected 43, got {got}");
        Ok(())
    };
    let line = line!() - 3;
    let err = check(42).expect_err("42 is not 43").to_string();
    let expected = format!("tests/selftest.rs:{line}: SYNC(1): expected 43, got 42");
    ensure!(err == expected, "reported {err:?}, expected {expected:?}");
    Ok(())
}

fn missing_kvm_skips() -> kvmtest::Result<()> {
    let (status, text) = run_without_kvm(false, false)?;
    ensure!(status.success(), "without KVMTEST_REQUIRE_KVM a missing /dev/kvm must not fail:\n{text}");
    ensure!(
        text.contains("1 ignored") && text.contains("SKIP: /dev/kvm is not usable"),
        "expected a skip with its reason:\n{text}"
    );
    ensure!(text.contains("0 passed"), "a skipped test must not count as passed:\n{text}");
    Ok(())
}

fn missing_kvm_fails_when_required() -> kvmtest::Result<()> {
    let (status, text) = run_without_kvm(true, false)?;
    ensure!(!status.success(), "with KVMTEST_REQUIRE_KVM=1 a missing /dev/kvm must fail:\n{text}");
    ensure!(
        text.contains("1 failed") && text.contains("/dev/kvm is not usable"),
        "expected a failure naming /dev/kvm:\n{text}"
    );
    Ok(())
}

/// kselftest's exit statuses (tools/testing/selftests/kselftest.h), as the
/// runner defines them, widened to what `ExitStatus::code` returns.
const KSFT_FAIL: i32 = runner::ktap::KSFT_FAIL as i32;
const KSFT_SKIP: i32 = runner::ktap::KSFT_SKIP as i32;

fn missing_kvm_ktap_skip() -> kvmtest::Result<()> {
    let (status, text) = run_without_kvm(false, true)?;
    ensure!(
        status.code() == Some(KSFT_SKIP),
        "KTAP run with only skips: expected exit {KSFT_SKIP}, got {status}:\n{text}"
    );
    let expected = "KTAP version 1\n1..1\n";
    ensure!(text.starts_with(expected), "expected KTAP to start with {expected:?}:\n{text}");
    let skip = "\nok 1 selftest::exception_fixup_recovers::elf # SKIP /dev/kvm is not usable";
    ensure!(text.contains(skip), "expected the skip line {skip:?}:\n{text}");
    Ok(())
}

fn missing_kvm_ktap_failure() -> kvmtest::Result<()> {
    let (status, text) = run_without_kvm(true, true)?;
    ensure!(
        status.code() == Some(KSFT_FAIL),
        "KTAP run with a failure: expected exit {KSFT_FAIL}, got {status}:\n{text}"
    );
    let report = "\n# /dev/kvm is not usable: No such file or directory (os error 2)\nnot ok 1 selftest::exception_fixup_recovers::elf\n";
    ensure!(text.contains(report), "expected the failure report then `not ok`:\n{text}");
    ensure!(
        text.ends_with("# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n"),
        "expected the totals line last:\n{text}"
    );
    Ok(())
}

const CRASH_CHILD: &str = "selftest::host_crash_reported::child";
const CRASH_CHILD_ENV: &str = "KVMTEST_SELFTEST_CRASH_CHILD";
const CRASH_ADDRESS_LINE: &str = "crash child reads ";

/// A fault of the test process itself (here a read of a PROT_NONE page) is
/// reported with the signal, the address, the host PC and the thread, and
/// the process still dies by the signal, as a runner expects.
fn host_crash_reported() -> kvmtest::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().map_err(|e| Error::Check(format!("current_exe: {e}")))?;
    let out = std::process::Command::new(exe)
        .args(["--exact", CRASH_CHILD, "--test-threads=1"])
        .env(CRASH_CHILD_ENV, "1")
        .env(runner::FORMAT_ENV, "libtest")
        .output()
        .map_err(|e| Error::Check(format!("running the child test: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.signal() == Some(libc::SIGSEGV), "the child did not die by SIGSEGV ({}):\n{text}", out.status);
    let address = text.lines().find_map(|l| l.split(CRASH_ADDRESS_LINE).nth(1)).unwrap_or("(none)").trim();
    let report = format!("kvmtest: fatal signal SIGSEGV (si_code 2, address {address}) at host pc 0x");
    ensure!(text.contains(&report), "expected the crash report {report:?}:\n{text}");
    Ok(())
}

/// The child: reads a page it mapped PROT_NONE (SEGV_ACCERR, si_code 2).
fn host_crash_child() -> kvmtest::Result<()> {
    use std::io::Write;
    // SAFETY: an anonymous PROT_NONE mapping of one page, read once: the
    // read faults, which is the point of this child.
    unsafe {
        let page =
            libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        ensure!(page != libc::MAP_FAILED, "mmap of a PROT_NONE page failed");
        println!("{CRASH_ADDRESS_LINE}{:#018x}", page as u64);
        let _ = std::io::stdout().flush();
        std::ptr::read_volatile(page.cast::<u8>());
    }
    bail!("reading a PROT_NONE page did not fault")
}

/// Child trials of the runner's own tests, present only when this is set:
/// one hangs on the host, one announces and prints from the guest.
const RUNNER_CHILD_ENV: &str = "KVMTEST_SELFTEST_RUNNER_CHILD";
const HANG_CHILD: &str = "selftest::runner_child::hangs_on_host";
const PRINT_CHILD: &str = "selftest::runner_child::prints";

/// The child that hangs: one SYNC from the guest (when KVM is there), then a
/// host-side wait that never ends, as a deadlock would.
fn hangs_on_host_child() -> kvmtest::Result<()> {
    if kvmtest::backend().is_ok() {
        let mut g = AsmGuest::new();
        g.sync(1, &[42]).done();
        let mut vm = Vm::builder().payload(g.finish()?).build()?;
        vm.vcpu(0).expect_sync(1)?;
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The child that prints: a scenario's text and, with KVM, a guest PRINTF.
fn prints_child() -> kvmtest::Result<()> {
    runner::announce("found during the trial:\n  two lines");
    if kvmtest::backend().is_ok() {
        let mut g = AsmGuest::new();
        g.printf("hello from the guest").done();
        Vm::builder().payload(g.finish()?).build()?.vcpu(0).expect_done()?;
    }
    Ok(())
}

/// Longest a child of the runner's tests may run: a child that hangs fails
/// the parent instead of hanging it too.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Runs this binary with `args` and the runner's child trials, with `env`;
/// returns its status, stdout, stderr and how long it took.
fn run_runner_child(
    args: &[&str],
    env: &[(&str, &str)],
) -> kvmtest::Result<(std::process::ExitStatus, String, String, Duration)> {
    use std::io::Read;
    use std::process::Stdio;
    let exe = std::env::current_exe().map_err(|e| Error::Check(format!("current_exe: {e}")))?;
    let start = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(args)
        .env(RUNNER_CHILD_ENV, "1")
        .env_remove(runner::TRIAL_TIMEOUT_ENV)
        .env_remove(runner::FORMAT_ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Check(format!("running the child test: {e}")))?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        match child.try_wait().map_err(|e| Error::Check(format!("waiting for the child test: {e}")))? {
            Some(status) => break status,
            None if start.elapsed() > CHILD_DEADLINE => {
                // Only our own child, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                let (out, err) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
                bail!("the child {args:?} still ran after {CHILD_DEADLINE:?}; killed it:\n{out}{err}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let (out, err) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    Ok((status, out, err, start.elapsed()))
}

/// A trial stuck on the host fails after the per-trial timeout with its
/// name, the time and where its thread was; the other trial still passes,
/// the summary is printed and the binary exits non-zero at once.
fn trial_timeout_ends_a_host_hang() -> kvmtest::Result<()> {
    let filters = ["--test-threads=2", HANG_CHILD, "selftest::host_check_names_its_line"];
    let (status, out, err, took) = run_runner_child(&filters, &[(runner::TRIAL_TIMEOUT_ENV, "1")])?;
    let text = out + &err;
    ensure!(took < Duration::from_secs(10), "the child took {took:?} to end after a 1 s trial timeout:\n{text}");
    ensure!(!status.success(), "a timed-out trial must fail the binary:\n{text}");
    let expected = format!("trial `{HANG_CHILD}` timed out: still running after 1.");
    ensure!(text.contains(&expected), "expected {expected:?}:\n{text}");
    ensure!(text.contains("1 passed") && text.contains("1 failed"), "the other trial must still run:\n{text}");
    let place = if kvmtest::backend().is_ok() {
        "its thread was on the host (not in KVM_RUN) for "
    } else {
        "its thread was on the host and had not run a vCPU"
    };
    ensure!(text.contains(place), "expected where the thread was ({place:?}):\n{text}");
    if kvmtest::backend().is_ok() {
        ensure!(text.contains("since vCPU 0 returned SYNC(1); 1 ucall so far"), "expected the last ucall:\n{text}");
    }
    // The flag does the same, and wins over the variable.
    let args = ["--exact", HANG_CHILD, "--trial-timeout", "1"];
    let (status, out, err, took) = run_runner_child(&args, &[(runner::TRIAL_TIMEOUT_ENV, "600")])?;
    ensure!(
        !status.success() && took < Duration::from_secs(10) && out.contains(&expected),
        "--trial-timeout 1: expected a failure within seconds ({took:?}):\n{out}{err}"
    );
    Ok(())
}

/// KVMTEST_TRIAL_TIMEOUT_S that is not a positive number of seconds (or
/// `off`) stops the binary with the variable named.
fn bad_trial_timeout_refused() -> kvmtest::Result<()> {
    for bad in ["abc", "0", "-1", ""] {
        let (status, out, err, _) =
            run_runner_child(&["--exact", "selftest::host_check_names_its_line"], &[(runner::TRIAL_TIMEOUT_ENV, bad)])?;
        let expected = format!(
            "{}={bad:?}: expected the per-trial timeout as a positive number of seconds",
            runner::TRIAL_TIMEOUT_ENV
        );
        ensure!(
            !status.success() && err.contains(&expected),
            "{bad:?}: expected a refusal saying {expected:?}:\n{out}{err}"
        );
    }
    Ok(())
}

/// Names in the list a child prints with `--list`.
fn listed(args: &[&str]) -> kvmtest::Result<Vec<String>> {
    let mut all = vec!["--list"];
    all.extend_from_slice(args);
    let (status, out, err, _) = run_runner_child(&all, &[])?;
    ensure!(status.success(), "--list {args:?} failed:\n{out}{err}");
    Ok(out.lines().filter_map(|l| l.strip_suffix(": test")).map(str::to_string).collect())
}

/// Several filters (as libtest takes them), `--skip`, `--exact` and
/// `--tests-from FILE` select trials; an unknown listed name is an error.
fn selection_like_libtest() -> kvmtest::Result<()> {
    let got = listed(&["host_check", "not_kvm_device"])?;
    ensure!(got == ["selftest::not_kvm_device_named", "selftest::host_check_names_its_line"], "two filters: {got:?}");
    let got = listed(&["missing_kvm", "--skip", "ktap", "--skip=when_required"])?;
    ensure!(got == ["selftest::missing_kvm::skips_with_reason"], "filter and two --skip: {got:?}");
    let got = listed(&["--exact", "selftest::missing_kvm", "selftest::host_check_names_its_line"])?;
    ensure!(got == ["selftest::host_check_names_its_line"], "--exact: {got:?}");
    let dir = std::env::temp_dir().join(format!("kvmtest-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Check(format!("{}: {e}", dir.display())))?;
    let list = dir.join("tests.txt");
    let write = |text: &str| std::fs::write(&list, text).map_err(|e| Error::Check(format!("{}: {e}", list.display())));
    write("# the two to rerun\nselftest::host_check_names_its_line\nselftest::corrupt_payload_rejected\n")?;
    let file = list.to_string_lossy().into_owned();
    let got = listed(&["--tests-from", &file])?;
    ensure!(
        got == ["selftest::corrupt_payload_rejected", "selftest::host_check_names_its_line"],
        "--tests-from: {got:?}"
    );
    write("selftest::no_such_trial\n")?;
    let (status, out, err, _) = run_runner_child(&["--tests-from", &file], &[])?;
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(
        !status.success() && err.contains("--tests-from: no trial named `selftest::no_such_trial`"),
        "an unknown listed name must be refused:\n{out}{err}"
    );
    Ok(())
}

/// KTAP output: the version line first, then only the plan, results and
/// `# ` diagnostics, with text announced before `runner::main` and guest
/// PRINTF lines among the diagnostics.
fn ktap_output_is_only_ktap() -> kvmtest::Result<()> {
    let (_, out, err, _) = run_runner_child(&["--exact", PRINT_CHILD], &[(runner::FORMAT_ENV, "ktap")])?;
    let mut lines = out.lines();
    ensure!(lines.next() == Some("KTAP version 1"), "the first line must be the version line:\n{out}");
    for line in lines {
        let result = line.starts_with("ok ") || line.starts_with("not ok ");
        let plan = line.starts_with("1..");
        ensure!(result || plan || line == "#" || line.starts_with("# "), "not a KTAP line: {line:?}\n{out}{err}");
    }
    ensure!(out.contains("\nok 1 selftest::runner_child::prints\n"), "the trial must pass:\n{out}{err}");
    ensure!(out.contains("# runner's child: announced before main\n"), "the early announcement is missing:\n{out}");
    ensure!(out.contains("# found during the trial:\n#   two lines\n"), "the trial's text is missing:\n{out}");
    if kvmtest::backend().is_ok() {
        ensure!(out.contains("# [guest vCPU 0] hello from the guest\n"), "the guest's PRINTF is missing:\n{out}");
    }
    Ok(())
}

/// A `BareVm`'s vCPUs are KVM's ids: each added (and on arm64 initialised)
/// under its own id, in any order; an id not added is a harness error naming
/// it; an id added twice is KVM's EEXIST (kvm_vm_ioctl_create_vcpu).
fn bare_vm_vcpus_by_id() -> kvmtest::Result<()> {
    let mut vm = BareVm::new()?;
    ensure!(vm.add_vcpu(3, &[])?.id() == 3, "add_vcpu(3): expected vCPU 3");
    ensure!(vm.create_vcpu(0)?.id() == 0, "create_vcpu(0): expected vCPU 0");
    ensure!(vm.vcpu(3)?.id() == 3, "vcpu(3): expected vCPU 3");
    match vm.vcpu(1) {
        Err(e @ Error::Config(_)) if e.to_string().contains("no vCPU 1 (2 added)") => {}
        Err(e) => bail!("vcpu(1), never added: expected \"no vCPU 1 (2 added)\", got {e}"),
        Ok(_) => bail!("vcpu(1), never added: expected an error, got a vCPU"),
    }
    match vm.create_vcpu(3) {
        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
        Err(e) => bail!("KVM_CREATE_VCPU(3) a second time: expected EEXIST, got {e}"),
        Ok(_) => bail!("KVM_CREATE_VCPU(3) a second time: expected EEXIST, got success"),
    }
}

/// A slot of any host address goes only into a `BareVm` without vCPUs, and
/// that VM gets none after (nothing may make KVM touch that memory).
fn bare_vm_foreign_slot_keeps_vcpus_out() -> kvmtest::Result<()> {
    let page = kvmtest::memslot::PAGE_SIZE;
    let mut with_slot = BareVm::new()?;
    with_slot.set_user_memory_region(0, 0, 0, page, page)?;
    match with_slot.create_vcpu(0) {
        Err(e @ Error::Config(_)) if e.to_string().contains("memory it does not own") => {}
        Err(e) => bail!("KVM_CREATE_VCPU after a foreign slot: expected the harness's refusal, got {e}"),
        Ok(_) => bail!("KVM_CREATE_VCPU after a foreign slot: expected the harness's refusal, got a vCPU"),
    }
    let with_vcpu = BareVm::with_vcpu(&[])?;
    match with_vcpu.set_user_memory_region(0, 0, 0, page, page) {
        Err(e @ Error::Config(_)) if e.to_string().contains("1 vCPU(s) that could reach it") => Ok(()),
        Err(e) => bail!("a foreign slot beside a vCPU: expected the harness's refusal, got {e}"),
        Ok(()) => bail!("a foreign slot beside a vCPU: expected the harness's refusal, got success"),
    }
}

fn main() -> std::process::ExitCode {
    type Body = fn() -> kvmtest::Result<()>;
    let tests: &[(&str, Body)] = &[
        ("selftest::assert_failure_reported::elf", assert_failure_text),
        ("selftest::panic_reported::elf", panic_reported),
        ("selftest::undefined_instruction_reported::elf", undefined_instruction_elf),
        ("selftest::undefined_instruction_reported::dynasm", undefined_instruction_dynasm),
        ("selftest::page_fault_reported::elf", page_fault_elf),
        ("selftest::page_fault_reported::dynasm", page_fault_dynasm),
        ("selftest::stack_overflow_reported::elf", stack_overflow),
        ("selftest::exception_fixup_recovers::elf", fault_probe_recovers),
        ("selftest::watchdog_stops_endless_loop::elf", watchdog_elf),
        ("selftest::watchdog_stops_endless_loop::dynasm", watchdog_dynasm),
        ("selftest::corrupt_payload_rejected", corrupt_payloads),
        ("selftest::missing_kvm::skips_with_reason", missing_kvm_skips),
        ("selftest::missing_kvm::fails_when_required", missing_kvm_fails_when_required),
        ("selftest::missing_kvm::ktap_skip_exits_4", missing_kvm_ktap_skip),
        ("selftest::missing_kvm::ktap_failure_exits_1", missing_kvm_ktap_failure),
        ("selftest::host_crash_reported", host_crash_reported),
        ("selftest::not_kvm_device_named", not_kvm_device_named),
        ("selftest::bad_timeout_env_refused", bad_timeout_env_refused),
        ("selftest::host_check_names_its_line", host_check_names_its_line),
        ("selftest::runner::trial_timeout_ends_a_host_hang", trial_timeout_ends_a_host_hang),
        ("selftest::runner::bad_trial_timeout_refused", bad_trial_timeout_refused),
        ("selftest::runner::selection_like_libtest", selection_like_libtest),
        ("selftest::runner::ktap_output_is_only_ktap", ktap_output_is_only_ktap),
        ("selftest::bare_vm::vcpus_by_id", bare_vm_vcpus_by_id),
        ("selftest::bare_vm::foreign_slot_keeps_vcpus_out", bare_vm_foreign_slot_keeps_vcpus_out),
    ];
    let mut trials: Vec<_> = tests.iter().map(|&(name, f)| runner::test(name, f)).collect();
    if std::env::var_os(CRASH_CHILD_ENV).is_some() {
        trials.push(runner::test(CRASH_CHILD, host_crash_child));
    }
    if std::env::var_os(RUNNER_CHILD_ENV).is_some() {
        runner::announce("runner's child: announced before main");
        trials.push(runner::test(HANG_CHILD, hangs_on_host_child));
        trials.push(runner::test(PRINT_CHILD, prints_child));
    }
    runner::main(trials)
}
