//! system_counter_offset: upstream system_counter_offset_test.c (x86 only
//! upstream: its other arches are `#error test not implemented`). For each
//! case the host sets the vCPU's TSC offset (KVM_VCPU_TSC_CTRL /
//! KVM_VCPU_TSC_OFFSET), reads its own TSC plus the offset before and after
//! running the vCPU, and the guest's RDTSC in between must fall in that
//! range: guest_tsc = host_tsc + offset (devices/vcpu.rst). kvmtest adds
//! that KVM_GET_DEVICE_ATTR reads the offset back.

kvmtest_tests::arch_only_main!(
    "x86_64",
    scenario::trials,
    "system_counter_offset_test.c is x86's (KVM_VCPU_TSC_OFFSET)"
);

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::x86_64::tsc::host_rdtsc;
    use kvmtest::{ensure, runner, Error, Payload, Result, Vm};
    use kvmtest_tests::payloads::SYSTEM_COUNTER;
    use libtest_mimic::Trial;

    const NSEC_PER_SEC: i64 = 1_000_000_000;

    struct TestCase {
        name: &'static str,
        tsc_offset: u64,
    }

    /// test_cases[] of the C test.
    const TEST_CASES: &[TestCase] = &[
        TestCase { name: "0", tsc_offset: 0 },
        TestCase { name: "180 * NSEC_PER_SEC", tsc_offset: (180 * NSEC_PER_SEC) as u64 },
        TestCase { name: "-180 * NSEC_PER_SEC", tsc_offset: (-180 * NSEC_PER_SEC) as u64 },
    ];

    /// host_read_guest_system_counter(): the host's TSC plus the case's offset.
    fn host_read_guest_system_counter(test: &TestCase) -> u64 {
        host_rdtsc().wrapping_add(test.tsc_offset)
    }

    /// enter_guest() of the C test: every case in order on one vCPU.
    fn enter_guest() -> Result<()> {
        let mut vm = Vm::builder().payload(Payload::elf(SYSTEM_COUNTER)).arg(0, TEST_CASES.len() as u64).build()?;
        let vcpu = vm.vcpu(0);
        vcpu.require_tsc_offset()?;
        for (i, test) in TEST_CASES.iter().enumerate() {
            // setup_system_counter()
            vcpu.set_tsc_offset(test.tsc_offset)?;
            let read_back = vcpu.tsc_offset()?;
            let backend = kvmtest::backend()?;
            if read_back != test.tsc_offset && backend.is_pvm() {
                return Err(Error::Skip(format!(
                    "KVM_VCPU_TSC_OFFSET: {backend} reads {read_back:#x} back after {:#x}: PVM runs the guest's \
                     RDTSC on the host's TSC, without an offset (a backend limit)",
                    test.tsc_offset
                )));
            }
            ensure!(
                read_back == test.tsc_offset,
                "offset {}: KVM_GET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET): expected {:#x}, got {read_back:#x}",
                test.name,
                test.tsc_offset
            );
            let start = host_read_guest_system_counter(test);
            let args = vcpu.expect_sync(i as u64)?;
            let end = host_read_guest_system_counter(test);
            // handle_sync()
            let obs = args[0];
            ensure!(
                start <= obs && obs <= end,
                "offset {}: unexpected system counter value: {obs} expected range: [{start}, {end}]",
                test.name
            );
        }
        vcpu.expect_done()
    }

    pub fn trials() -> Vec<Trial> {
        vec![runner::test("system_counter_offset::tsc_offset", enter_guest)]
    }
}
