//! sync_regs: KVM_CAP_SYNC_REGS on x86 (upstream x86_64/sync_regs_test.c).
//! The guest loops on `in al, dx; add rbx, 1`: each KVM_RUN ends in a
//! KVM_EXIT_IO with RBX one higher. Invalid bits in kvm_valid_regs or
//! kvm_dirty_regs fail KVM_RUN with EINVAL; kvm_run's s.regs equals
//! KVM_GET_REGS/SREGS/VCPU_EVENTS when requested, is taken when marked
//! dirty, and is left alone otherwise. 6.12's race cases rewrite kvm_run
//! from a second thread during KVM_RUN (bounded for emulated machines);
//! kvmtest adds that the vCPU then still runs its guest correctly.

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM_SYNC_X86_* are x86's");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use std::ptr::addr_of_mut;
    use std::time::{Duration, Instant};

    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    use kvmtest::abi::UCALL_PIO_PORT;
    use kvmtest::asm::AsmGuest;
    use kvmtest::kvm_bindings::{kvm_run, KVM_CAP_SYNC_REGS};
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::series::{x86_sync_regs, Series, X86_SYNC_REGS_COPIED, X86_SYNC_REGS_COPIED_SOURCE};
    use kvmtest::x86_64::sregs::{EFER_LME, X86_CR4_PAE};
    use kvmtest::x86_64::sync_regs::{KVM_SYNC_X86_EVENTS, KVM_SYNC_X86_REGS, KVM_SYNC_X86_SREGS};
    use kvmtest::{bail, ensure, runner, Error, ExitAction, Result, Vcpu, Vm};
    use libc::EINVAL;
    use libtest_mimic::Trial;

    const TEST_SYNC_FIELDS: u64 = (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS) as u64;
    const INVALID_SYNC_FIELD: u64 = 0x8000_0000;
    /// #UD, the vector the event racers inject.
    const UD_VECTOR: u8 = 6;
    /// How long each race runs (upstream: "2 seconds, roughly"; shorter so
    /// the binary stays within seconds under TCG).
    const RACE_TIME: Duration = Duration::from_millis(250);

    /// main()'s TEST_REQUIREs, as the series says: KVM_CAP_SYNC_REGS has
    /// exactly KVM_SYNC_X86_VALID_FIELDS (so all of TEST_SYNC_FIELDS and
    /// not INVALID_SYNC_FIELD).
    fn require_sync_regs() -> Result<()> {
        let series = Series::running()?;
        let Some(row) = x86_sync_regs(series) else {
            return Err(Error::Skip(format!(
                "requires KVM_CAP_SYNC_REGS, Linux 4.17+ (this kernel is Linux {series})"
            )));
        };
        let cap = kvmtest::kvm::check_cap_raw(KVM_CAP_SYNC_REGS.into())? as u64;
        ensure!(
            cap == row.valid_fields,
            "KVM_CAP_SYNC_REGS: expected {:#x} (KVM_SYNC_X86_VALID_FIELDS, {}), got {cap:#x}",
            row.valid_fields,
            row.source
        );
        ensure!(
            cap & TEST_SYNC_FIELDS == TEST_SYNC_FIELDS && cap & INVALID_SYNC_FIELD == 0,
            "KVM_CAP_SYNC_REGS {cap:#x}"
        );
        Ok(())
    }

    /// guest_code: `1: in %dx, %al; add $1, %rbx; jmp 1b` with DX the port.
    fn vm() -> Result<Vm> {
        require_sync_regs()?;
        let mut g = AsmGuest::new();
        let top = g.ops().new_dynamic_label();
        dynasm!(g.ops()
            ; .arch x64
            ; mov dx, UCALL_PIO_PORT as i16
            ; =>top
            ; in al, dx
            ; add rbx, 1
            ; jmp =>top
        );
        // The in-kernel irqchip of every selftests VM: vcpu_load_state()'s
        // MSRs include MSR_KVM_ASYNC_PF_INT, which KVM takes only with one.
        Vm::builder().payload(g.finish()?).irqchip(true).build()
    }

    /// _vcpu_run(): KVM_RUN until the guest's IN; KVM_RUN's error as is.
    fn try_run(vcpu: &mut Vcpu) -> Result<()> {
        let run = vcpu.run_with(|exit| match exit {
            VcpuExit::IoIn(UCALL_PIO_PORT, _) => ExitAction::Stop,
            _ => ExitAction::Unhandled,
        });
        match run {
            Err(Error::ExitStopped { .. }) => Ok(()),
            Ok(u) => Err(u.into_failure(vcpu.id())),
            Err(e) => Err(e),
        }
    }

    /// vcpu_run() + TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO).
    fn run_io(vcpu: &mut Vcpu) -> Result<()> {
        try_run(vcpu).map_err(|e| Error::Check(format!("expected KVM_EXIT_IO from the guest's IN, got {e}")))
    }

    fn expect_einval(vcpu: &mut Vcpu, what: &str) -> Result<()> {
        match try_run(vcpu) {
            Err(e) if e.errno() == Some(EINVAL) => Ok(()),
            Ok(()) => bail!("Invalid {what} did not cause expected KVM_RUN error: expected EINVAL, got KVM_EXIT_IO"),
            Err(e) => bail!("Invalid {what} did not cause expected KVM_RUN error: expected EINVAL, got {e}"),
        }
    }

    /// compare_regs(), compare_sregs(), compare_vcpu_events(): upstream's
    /// last two are empty; kvmtest compares them whole.
    fn compare_with_ioctls(vcpu: &mut Vcpu) -> Result<()> {
        let regs = vcpu.fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
        let sregs = vcpu.sregs()?;
        let events = vcpu.fd().get_vcpu_events().map_err(Error::kvm("KVM_GET_VCPU_EVENTS"))?;
        let sync = *vcpu.sync_regs().regs();
        macro_rules! reg_compare {
            ($($reg:ident),*) => {$(
                ensure!(
                    regs.$reg == sync.regs.$reg,
                    concat!("Register ", stringify!($reg), " values did not match: {:#x}, {:#x}"),
                    regs.$reg,
                    sync.regs.$reg
                );
            )*};
        }
        reg_compare!(rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags);
        ensure!(sregs == sync.sregs, "sregs did not match: KVM_GET_SREGS {sregs:x?}, s.regs.sregs {:x?}", sync.sregs);
        ensure!(
            events == sync.events,
            "vcpu_events did not match: KVM_GET_VCPU_EVENTS {events:x?}, s.regs.events {:x?}",
            sync.events
        );
        Ok(())
    }

    fn read_invalid() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        vcpu.sync_regs().set_valid(INVALID_SYNC_FIELD);
        expect_einval(vcpu, "kvm_valid_regs")?;
        vcpu.sync_regs().set_valid(INVALID_SYNC_FIELD | TEST_SYNC_FIELDS);
        expect_einval(vcpu, "kvm_valid_regs")?;
        vcpu.sync_regs().set_valid(0);
        Ok(())
    }

    fn set_invalid() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        vcpu.sync_regs().set_dirty(INVALID_SYNC_FIELD);
        expect_einval(vcpu, "kvm_dirty_regs")?;
        vcpu.sync_regs().set_dirty(INVALID_SYNC_FIELD | TEST_SYNC_FIELDS);
        expect_einval(vcpu, "kvm_dirty_regs")?;
        vcpu.sync_regs().set_dirty(0);
        Ok(())
    }

    fn req_and_verify_all_valid() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        vcpu.sync_regs().set_valid(TEST_SYNC_FIELDS);
        run_io(vcpu)?;
        compare_with_ioctls(vcpu)
    }

    fn set_and_verify_various() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        // Run once to get register set.
        vcpu.sync_regs().set_valid(TEST_SYNC_FIELDS);
        run_io(vcpu)?;

        // Set and verify various register values.
        let mut sync = vcpu.sync_regs();
        sync.regs_mut().regs.rbx = 0xBAD1DEA;
        sync.regs_mut().sregs.apic_base = 1 << 11;
        sync.set_valid(TEST_SYNC_FIELDS);
        sync.set_dirty((KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS).into());
        run_io(vcpu)?;
        let sync = vcpu.sync_regs();
        let (rbx, apic_base, dirty) = (sync.regs().regs.rbx, sync.regs().sregs.apic_base, sync.dirty());
        ensure!(rbx == 0xBAD1DEA + 1, "rbx sync regs value incorrect {rbx:#x}: expected {:#x}", 0xBAD1DEA + 1);
        ensure!(apic_base == 1 << 11, "apic_base sync regs value incorrect {apic_base:#x}: expected {:#x}", 1 << 11);
        // kvmtest adds: KVM clears the kvm_dirty_regs bits it took (sync_regs()).
        ensure!(dirty == 0, "kvm_dirty_regs after KVM_RUN: expected 0 (KVM clears what it took), got {dirty:#x}");
        compare_with_ioctls(vcpu)
    }

    fn clear_kvm_dirty_regs_bits() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        // Clear kvm_dirty_regs bits, verify new s.regs values are
        // overwritten with existing guest values.
        let mut sync = vcpu.sync_regs();
        sync.set_valid(TEST_SYNC_FIELDS);
        sync.set_dirty(0);
        sync.regs_mut().regs.rbx = 0xDEADBEEF;
        run_io(vcpu)?;
        let rbx = vcpu.sync_regs().regs().regs.rbx;
        ensure!(rbx != 0xDEADBEEF, "rbx sync regs value incorrect {rbx:#x}: expected the guest's, not 0xdeadbeef");
        // kvmtest adds: it is the guest's RBX.
        let guest = vcpu.fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?.rbx;
        ensure!(rbx == guest, "rbx sync regs value {rbx:#x}: expected the guest's {guest:#x}");
        Ok(())
    }

    fn clear_kvm_valid_and_dirty_regs() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        // Run once to get register set.
        vcpu.sync_regs().set_valid(TEST_SYNC_FIELDS);
        run_io(vcpu)?;

        // Clear kvm_valid_regs bits and kvm_dirty_bits. Verify s.regs values
        // are not overwritten with existing guest values and that guest
        // values are not overwritten with kvm_sync_regs values.
        let mut sync = vcpu.sync_regs();
        sync.set_valid(0);
        sync.set_dirty(0);
        sync.regs_mut().regs.rbx = 0xAAAA;
        let mut regs = vcpu.fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
        regs.rbx = 0xBAC0;
        vcpu.fd().set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
        run_io(vcpu)?;
        let rbx = vcpu.sync_regs().regs().regs.rbx;
        ensure!(rbx == 0xAAAA, "rbx sync regs value incorrect {rbx:#x}: expected 0xaaaa");
        let guest = vcpu.fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?.rbx;
        ensure!(guest == 0xBAC0 + 1, "rbx guest value incorrect {guest:#x}: expected {:#x}", 0xBAC0 + 1);
        Ok(())
    }

    fn clear_kvm_valid_regs_bits() -> Result<()> {
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        // Run once to get register set.
        vcpu.sync_regs().set_valid(TEST_SYNC_FIELDS);
        run_io(vcpu)?;

        // Clear kvm_valid_regs bits. Verify s.regs values are not
        // overwritten with existing guest values but that guest values are
        // overwritten with kvm_sync_regs values.
        let mut sync = vcpu.sync_regs();
        sync.set_valid(0);
        sync.set_dirty(TEST_SYNC_FIELDS);
        sync.regs_mut().regs.rbx = 0xBBBB;
        run_io(vcpu)?;
        let rbx = vcpu.sync_regs().regs().regs.rbx;
        ensure!(rbx == 0xBBBB, "rbx sync regs value incorrect {rbx:#x}: expected 0xbbbb");
        let guest = vcpu.fd().get_regs().map_err(Error::kvm("KVM_GET_REGS"))?.rbx;
        ensure!(guest == 0xBBBB + 1, "rbx guest value incorrect {guest:#x}: expected {:#x}", 0xBBBB + 1);
        Ok(())
    }

    /// What a racer thread rewrites in kvm_run while the vCPU runs.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Racer {
        /// race_sregs_cr4: toggle CR4.PAE (illegal with EFER.LME) in s.regs.sregs.
        Cr4,
        /// race_events_exc: a #UD pending, then the vector made 255.
        Exc,
        /// race_events_inj_pen: a #UD both pending and injected.
        InjPen,
    }

    /// kvm_run's address, sent to the racer thread.
    struct RunPage(*mut kvm_run);
    // SAFETY: the racer only writes fields of the kvm_run mapping, which
    // outlives it (joined before the vCPU is dropped); KVM reading them
    // concurrently is the race under test.
    unsafe impl Send for RunPage {}

    /// The kvm_run fields the racers write, as raw pointers into the page.
    struct RaceFields {
        dirty: *mut u64,
        cr4: *mut u64,
        flags: *mut u32,
        nr: *mut u8,
        injected: *mut u8,
        pending: *mut u8,
    }

    impl RaceFields {
        fn of(page: &RunPage) -> Self {
            let run = page.0;
            // SAFETY: `run` is the live kvm_run mapping (see RunPage);
            // addr_of_mut! takes the fields' addresses without reading or
            // making references, and s.regs is x86's member of the union.
            unsafe {
                RaceFields {
                    dirty: addr_of_mut!((*run).kvm_dirty_regs),
                    cr4: addr_of_mut!((*run).s.regs.sregs.cr4),
                    flags: addr_of_mut!((*run).s.regs.events.flags),
                    nr: addr_of_mut!((*run).s.regs.events.exception.nr),
                    injected: addr_of_mut!((*run).s.regs.events.exception.injected),
                    pending: addr_of_mut!((*run).s.regs.events.exception.pending),
                }
            }
        }
    }

    /// WRITE_ONCE() of one racer field.
    fn write_once<T>(field: *mut T, value: T) {
        // SAFETY: `field` is one of RaceFields', a plain integer in the
        // kvm_run mapping that outlives the racer; KVM reads it
        // concurrently, which is the race under test.
        unsafe { field.write_volatile(value) }
    }

    /// The racer threads' loops: upstream's WRITE_ONCEs, of fields the main
    /// thread does not touch while the racer runs.
    fn racer_loop(racer: Racer, page: RunPage, stop: &std::sync::atomic::AtomicBool) {
        use std::sync::atomic::Ordering;
        let f = RaceFields::of(&page);
        match racer {
            Racer::Cr4 => {
                // SAFETY: as in write_once; the main thread wrote s.regs
                // before the racer started.
                let pae_enabled = unsafe { f.cr4.read_volatile() };
                let pae_disabled = pae_enabled & !X86_CR4_PAE;
                while !stop.load(Ordering::Relaxed) {
                    write_once(f.dirty, KVM_SYNC_X86_SREGS.into());
                    write_once(f.cr4, pae_enabled);
                    for _ in 0..512 {
                        std::hint::spin_loop();
                    }
                    write_once(f.cr4, pae_disabled);
                }
            }
            Racer::Exc => {
                while !stop.load(Ordering::Relaxed) {
                    write_once(f.dirty, KVM_SYNC_X86_EVENTS.into());
                    write_once(f.flags, 0);
                    write_once(f.nr, UD_VECTOR);
                    write_once(f.pending, 1);
                    write_once(f.nr, 255);
                }
            }
            Racer::InjPen => {
                write_once(f.nr, UD_VECTOR);
                while !stop.load(Ordering::Relaxed) {
                    write_once(f.dirty, KVM_SYNC_X86_EVENTS.into());
                    write_once(f.flags, 0);
                    write_once(f.injected, 1);
                    write_once(f.pending, 1);
                }
            }
        }
    }

    /// race_sync_regs(): save a good state, let the racer rewrite kvm_run
    /// while KVM_RUN loops (errors and exits as they come; reload the good
    /// state when the guest shuts down or faults), stop the racer.
    fn race_sync_regs(racer: Racer) -> Result<()> {
        let series = Series::running()?;
        if !series.at_least(X86_SYNC_REGS_COPIED) {
            return Err(Error::Skip(format!(
                "the race cases need KVM to copy s.regs before using it, Linux {X86_SYNC_REGS_COPIED}+ \
                 (this kernel is Linux {series}: {X86_SYNC_REGS_COPIED_SOURCE})"
            )));
        }
        let mut vm = vm()?;
        let vcpu = vm.vcpu(0);
        vcpu.sync_regs().set_valid(KVM_SYNC_X86_SREGS.into());
        run_io(vcpu)?;
        vcpu.sync_regs().set_valid(0);

        // Save state *before* spawning the thread that mucks with vCPU state.
        let state = vcpu.save_state()?;

        // 64-bit guests: both EFER.LME and CR4.PAE are set.
        let sregs = vcpu.sync_regs().regs().sregs;
        ensure!(
            sregs.cr4 & X86_CR4_PAE != 0 && sregs.efer & EFER_LME != 0,
            "vCPU should be in long mode, CR4.PAE={}, EFER.LME={}",
            u8::from(sregs.cr4 & X86_CR4_PAE != 0),
            u8::from(sregs.efer & EFER_LME != 0)
        );

        let stop = std::sync::atomic::AtomicBool::new(false);
        let page = RunPage(vcpu.kvm_run_ptr());
        let (mut runs, mut reloads) = (0u32, 0u32);
        let result = std::thread::scope(|s| {
            let thread = s.spawn(|| racer_loop(racer, page, &stop));
            let end = Instant::now() + RACE_TIME;
            let mut result = Ok(());
            while Instant::now() < end {
                runs += 1;
                let mut shutdown = false;
                let run = vcpu.run_with(|exit| match exit {
                    VcpuExit::Shutdown => {
                        shutdown = true;
                        ExitAction::Stop
                    }
                    _ => ExitAction::Stop,
                });
                // Reload known good state if the vCPU triple faults (SVM
                // synthesizes an INIT) or, here, takes an exception the
                // harness's handler reports (the injected #UD).
                let faulted = matches!(run, Err(Error::GuestException { .. }));
                if shutdown || faulted {
                    reloads += 1;
                    if let Err(e) = vcpu.load_state(&state) {
                        result = Err(e);
                        break;
                    }
                }
                if racer == Racer::Cr4 {
                    // __vcpu_ioctl(vcpu, KVM_TRANSLATE, &tr): its result does
                    // not matter, KVM must survive it.
                    let _ = vcpu.fd().translate_gva(0);
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            if thread.join().is_err() {
                result = Err(Error::Check("the racer thread panicked".into()));
            }
            result
        });
        result?;

        // kvmtest adds: with the racer gone, the good state loads and the guest runs on.
        vcpu.load_state(&state)?;
        let mut sync = vcpu.sync_regs();
        sync.set_dirty(0);
        sync.set_valid(KVM_SYNC_X86_REGS.into());
        run_io(vcpu)?;
        let rbx = vcpu.sync_regs().regs().regs.rbx;
        ensure!(
            rbx == state.regs.rbx + 1,
            "after the race and reloading the saved state: RBX {rbx:#x}, expected {:#x}",
            state.regs.rbx + 1
        );
        runner::announce(format!("sync_regs race: {runs} KVM_RUNs, {reloads} reloads of the saved state"));
        Ok(())
    }

    pub fn trials() -> Vec<Trial> {
        vec![
            runner::test("sync_regs::read_invalid", read_invalid),
            runner::test("sync_regs::set_invalid", set_invalid),
            runner::test("sync_regs::req_and_verify_all_valid", req_and_verify_all_valid),
            runner::test("sync_regs::set_and_verify_various", set_and_verify_various),
            runner::test("sync_regs::clear_kvm_dirty_regs_bits", clear_kvm_dirty_regs_bits),
            runner::test("sync_regs::clear_kvm_valid_and_dirty_regs", clear_kvm_valid_and_dirty_regs),
            runner::test("sync_regs::clear_kvm_valid_regs_bits", clear_kvm_valid_regs_bits),
            runner::test("sync_regs::race_cr4", || race_sync_regs(Racer::Cr4)),
            runner::test("sync_regs::race_exc", || race_sync_regs(Racer::Exc)),
            runner::test("sync_regs::race_inj_pen", || race_sync_regs(Racer::InjPen)),
        ]
    }
}
