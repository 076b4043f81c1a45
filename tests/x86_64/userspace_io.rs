//! userspace_io: string I/O through userspace (upstream
//! x86_64/userspace_io_test.c). The guest's REP INSB from port 0x80 exits
//! with KVM_EXIT_IO; the host fills kvm_run's I/O data with 0xaa and rewrites
//! the REP count in RCX (2 => 1, 3 => 8192), which KVM must survive without
//! overflowing the guest's buffer; with RCX left alone the guest sees RCX 0,
//! RDI at the buffer's end and every byte 0xaa.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "REP INS/OUTS and KVM_EXIT_IO are x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use kvmtest::abi::userspace_io::{COUNT_LONG, COUNT_SHORT, FILL_BYTE, PORT, STUFFED_LONG, STUFFED_SHORT};
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::{bail, ensure, runner, Error, ExitAction, Payload, Result, Ucall, Vm};
    use kvmtest_tests::payloads::USERSPACE_IO;
    use libtest_mimic::Trial;

    fn userspace_io() -> Result<()> {
        let mut vm = Vm::builder().payload(Payload::elf(USERSPACE_IO)).build()?;
        let vcpu = vm.vcpu(0);
        let mut exits = 0u32;
        loop {
            // TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO): any other exit
            // fails in run_with; a port-I/O exit stops the run so the host
            // can look at it and edit RCX.
            let mut port = None;
            let run = vcpu.run_with(|exit| match exit {
                VcpuExit::IoIn(p, data) => {
                    port = Some(*p);
                    data.fill(FILL_BYTE);
                    ExitAction::Stop
                }
                VcpuExit::IoOut(p, _) => {
                    port = Some(*p);
                    ExitAction::Stop
                }
                _ => ExitAction::Unhandled,
            });
            match run {
                Ok(Ucall::Done) => break,
                Ok(other) => return Err(other.into_failure(0)),
                Err(Error::ExitStopped { .. }) => {}
                Err(e) => return Err(e),
            }
            exits += 1;
            let port = port.unwrap_or_default();
            ensure!(port == PORT, "Expected I/O at port {PORT:#x}, got port {port:#x}");
            // Rewrite the REP count in RCX: 2 => 1 and 3 => 8192 (this abuses
            // KVM's batching of REP string I/O, as upstream says).
            let mut regs = vcpu.fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
            if regs.rcx == COUNT_SHORT {
                regs.rcx = STUFFED_SHORT;
            }
            if regs.rcx == COUNT_LONG {
                regs.rcx = STUFFED_LONG;
            }
            vcpu.fd().set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
            if exits > 64 {
                bail!("more than 64 KVM_EXIT_IOs at port {PORT:#x}: KVM did not batch the REP INSB");
            }
        }
        runner::announce(format!("userspace_io: {exits} KVM_EXIT_IOs at port {PORT:#x}"));
        Ok(())
    }

    pub fn trials() -> Vec<Trial> {
        vec![runner::test("userspace_io::rep_insb_port80", userspace_io)]
    }
}
