//! kvm_clock: upstream x86 kvm_clock_test.c. For each case the host sets the
//! VM's kvmclock (KVM_SET_CLOCK: a base, or a base plus a CLOCK_REALTIME
//! reading moved by an offset with KVM_CLOCK_REALTIME), reads it with
//! KVM_GET_CLOCK before and after running the vCPU, and the guest's pvclock
//! reading (MSR_KVM_SYSTEM_TIME_NEW, `__pvclock_read_cycles(pvti, rdtsc())`)
//! must fall in between; both KVM_GET_CLOCK answers carry
//! KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "kvmclock is x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::abi::kvm_clock::{CASES_ARG, PVTI_ARG};
    use kvmtest::kvm_bindings::{kvm_clock_data, KVM_CLOCK_HOST_TSC, KVM_CLOCK_REALTIME};
    use kvmtest::series::{Feature, Series};
    use kvmtest::{ensure, runner, Cap, Error, Payload, Result, TransportKind, Vm};
    use kvmtest_tests::payloads::KVM_CLOCK;
    use libtest_mimic::Trial;

    const NSEC_PER_SEC: i64 = 1_000_000_000;

    struct TestCase {
        name: &'static str,
        kvmclock_base: u64,
        realtime_offset: i64,
    }

    /// test_cases[] of the C test.
    const TEST_CASES: &[TestCase] = &[
        TestCase { name: "base 0", kvmclock_base: 0, realtime_offset: 0 },
        TestCase { name: "base 180 s", kvmclock_base: (180 * NSEC_PER_SEC) as u64, realtime_offset: 0 },
        TestCase { name: "realtime -180 s", kvmclock_base: 0, realtime_offset: -180 * NSEC_PER_SEC },
        TestCase { name: "realtime +180 s", kvmclock_base: 0, realtime_offset: 180 * NSEC_PER_SEC },
    ];

    const EXPECTED_FLAGS: u32 = KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;

    /// The host clocksource (upstream's sys_get_cur_clocksource()).
    const CLOCKSOURCE_PATH: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

    fn assert_flags(data: &kvm_clock_data, which: &str, case: &TestCase) -> Result<()> {
        ensure!(
            data.flags & EXPECTED_FLAGS == EXPECTED_FLAGS,
            "{}: {which} KVM_GET_CLOCK: unexpected clock data flags: {:#x} (want set: {EXPECTED_FLAGS:#x})",
            case.name,
            data.flags
        );
        Ok(())
    }

    /// setup_clock() of the C test.
    fn setup_clock(vm: &Vm, case: &TestCase) -> Result<()> {
        let mut data = kvm_clock_data { clock: case.kvmclock_base, ..Default::default() };
        if case.realtime_offset != 0 {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            let r = loop {
                // SAFETY: clock_gettime writes one timespec, `ts`.
                let r = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
                if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break r;
                }
            };
            ensure!(r == 0, "clock_gettime() failed: {}", std::io::Error::last_os_error());
            data.flags |= KVM_CLOCK_REALTIME;
            data.realtime = (ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec + case.realtime_offset) as u64;
        }
        vm.fd().set_clock(&data).map_err(Error::kvm("KVM_SET_CLOCK"))
    }

    /// main()'s requirements: the series has KVM_CLOCK_REALTIME (a skip
    /// naming it otherwise) and KVM_CAP_ADJUST_CLOCK must then offer it; the
    /// host clocksource must be TSC-based (as upstream, a skip naming it:
    /// KVM reports REALTIME/HOST_TSC only with a TSC host clock, x86.c
    /// __get_kvmclock).
    fn require() -> Result<()> {
        Feature::KvmClockRealtime.require()?;
        let flags = kvmtest::check_cap(Cap::AdjustClock)? as u32;
        ensure!(
            flags & KVM_CLOCK_REALTIME != 0,
            "KVM_CAP_ADJUST_CLOCK: expected KVM_CLOCK_REALTIME ({KVM_CLOCK_REALTIME:#x}, Linux {} has it), got {flags:#x}",
            Series::running()?
        );
        let clk = std::fs::read_to_string(CLOCKSOURCE_PATH)
            .map_err(|e| Error::Config(format!("reading {CLOCKSOURCE_PATH}: {e}")))?;
        if !matches!(clk.as_str(), "tsc\n" | "hyperv_clocksource_tsc_page\n") {
            return Err(Error::Skip(format!(
                "the host clocksource is {:?}, not TSC-based (sys_clocksource_is_based_on_tsc)",
                clk.trim()
            )));
        }
        Ok(())
    }

    /// enter_guest() of the C test: every case in order on one vCPU.
    fn enter_guest() -> Result<()> {
        require()?;
        let mut vm = Vm::builder()
            .payload(Payload::elf(KVM_CLOCK))
            .transport(TransportKind::Pio)
            .arg(CASES_ARG, TEST_CASES.len() as u64)
            .build()?;
        let pvti = vm.shared_alloc(64)?;
        vm.set_arg(PVTI_ARG, pvti)?;
        for (i, case) in TEST_CASES.iter().enumerate() {
            setup_clock(&vm, case)?;
            let start = vm.fd().get_clock().map_err(Error::kvm("KVM_GET_CLOCK"))?;
            let args = vm.vcpu(0).expect_sync(i as u64)?;
            let end = vm.fd().get_clock().map_err(Error::kvm("KVM_GET_CLOCK"))?;
            // handle_sync()
            let (obs, exp_lo, exp_hi) = (args[0], start.clock, end.clock);
            assert_flags(&start, "start", case)?;
            assert_flags(&end, "end", case)?;
            ensure!(
                exp_lo <= obs && obs <= exp_hi,
                "{}: unexpected kvm-clock value: {obs} expected range: [{exp_lo}, {exp_hi}]",
                case.name
            );
        }
        vm.vcpu(0).expect_done()
    }

    pub fn trials() -> Vec<Trial> {
        vec![runner::test("kvm_clock::kvmclock", enter_guest)]
    }
}
