//! xen_shinfo: upstream x86_64/xen_shinfo_test.c. One guest walks numbered
//! stages while the host checks and pokes KVM's Xen state between them: the
//! shared info page (by GFN, or by HVA where the series has
//! KVM_XEN_HVM_CONFIG_SHARED_INFO_HVA) remapped under KVM's feet, vcpu_info,
//! the runstate area across a page boundary (RUNSTATE_CURRENT/ADJUST/DATA,
//! steal time), event channels to the upcall vector through irqfd routes,
//! KVM_XEN_HVM_EVTCHN_SEND and the guest's EVTCHNOP_send (to a port, after
//! a memslot change, to an eventfd), the Xen timer (KVM_XEN_VCPU_ATTR_TYPE_TIMER
//! and set_timer_op), SCHEDOP_poll, and racing shared-info changes against
//! deliveries; then KVM_XEN_EVTCHN_RESET, the wall clock and time info, and
//! the runstate area in both modes at every offset across a page end.
//! Upstream runs once, by HVA when KVM offers it; here `shinfo_gfn` and
//! `shinfo_hva` each walk every stage. Upstream's alarm(1) per expected
//! IRQ is the harness's per-ucall watchdog (10 s: sized for TCG).

kvmtest_tests::arch_only_main!("x86_64", scenario::trials, "KVM's Xen HVM emulation");

#[cfg(target_arch = "x86_64")]
mod scenario {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use kvmtest::abi::xen_shinfo::stage::*;
    use kvmtest::abi::xen_shinfo::*;
    use kvmtest::kvm_bindings::{
        kvm_irq_routing_entry, kvm_irq_routing_xen_evtchn, kvm_xen_hvm_attr, kvm_xen_hvm_config, kvm_xen_vcpu_attr,
        KvmIrqRouting, KVM_CAP_XEN_HVM, KVM_CLOCK_REALTIME, KVM_IRQ_ROUTING_XEN_EVTCHN, KVM_XEN_ATTR_TYPE_EVTCHN,
        KVM_XEN_ATTR_TYPE_LONG_MODE, KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG, KVM_XEN_ATTR_TYPE_SHARED_INFO,
        KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA, KVM_XEN_ATTR_TYPE_UPCALL_VECTOR, KVM_XEN_EVTCHN_RESET,
        KVM_XEN_EVTCHN_UPDATE, KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL, KVM_XEN_HVM_CONFIG_EVTCHN_SEND,
        KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL, KVM_XEN_HVM_CONFIG_RUNSTATE, KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG,
        KVM_XEN_HVM_CONFIG_SHARED_INFO, KVM_XEN_HVM_CONFIG_SHARED_INFO_HVA, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR,
        KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADJUST, KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_CURRENT,
        KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA, KVM_XEN_VCPU_ATTR_TYPE_TIMER, KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO,
        KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO_HVA, KVM_XEN_VCPU_ATTR_TYPE_VCPU_TIME_INFO,
    };
    use kvmtest::layout::RegionKind;
    use kvmtest::memslot::SlotMemory;
    use kvmtest::series::{Feature, Series};
    use kvmtest::x86_64::xen;
    use kvmtest::{bail, ensure, runner, Error, Payload, Result, Ucall, Vm};
    use kvmtest_tests::payloads::XEN_SHINFO;
    use kvmtest_tests::CpuPin;
    use libtest_mimic::Trial;
    use vmm_sys_util::eventfd::EventFd;

    /// SHINFO_REGION_SLOT, DUMMY_REGION_SLOT, DUMMY_REGION_SLOT_2.
    const SHINFO_REGION_SLOT: u32 = 10;
    const DUMMY_REGION_SLOT: u32 = 11;
    const DUMMY_REGION_SLOT_2: u32 = 12;
    /// The test's XEN_HYPERCALL_MSR.
    const XEN_HYPERCALL_MSR: u32 = 0x4000_0000;
    /// KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL ((__u32)(-1)).
    const PRIO_2LEVEL: u32 = u32::MAX;
    /// EVTCHNSTAT_interdomain.
    const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
    /// KVM_XEN_INVALID_GFN.
    const KVM_XEN_INVALID_GFN: u64 = u64::MAX;
    const NSEC_PER_SEC: i64 = 1_000_000_000;
    /// Upstream yields without a bound until the run delay grew by
    /// MIN_STEAL_TIME; here the wait ends after this long and the guest's
    /// check fails.
    const STEAL_WAIT: Duration = Duration::from_secs(10);

    const RUNSTATE_NAMES: [&str; 4] = ["running", "runnable", "blocked", "offline"];

    #[derive(Clone, Copy, PartialEq)]
    enum ShinfoBy {
        Gfn,
        Hva,
    }

    /// The series' KVM_CAP_XEN_HVM flags this test uses; the kernel must
    /// offer each the series has (upstream's do_* flags come from the cap).
    struct XenFeatures {
        runstate_flag: bool,
        shinfo_hva: bool,
    }

    fn require(by: ShinfoBy) -> Result<XenFeatures> {
        let caps = kvmtest::require_cap_raw("KVM_CAP_XEN_HVM", KVM_CAP_XEN_HVM.into())? as u32;
        Feature::XenShinfoEvtchnSend.require()?;
        if by == ShinfoBy::Hva {
            Feature::XenSharedInfoHva.require()?;
        }
        let series = Series::running()?;
        let f = XenFeatures {
            runstate_flag: Feature::XenRunstateUpdateFlag.in_series(series),
            shinfo_hva: Feature::XenSharedInfoHva.in_series(series),
        };
        let mut want = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL
            | KVM_XEN_HVM_CONFIG_SHARED_INFO
            | KVM_XEN_HVM_CONFIG_RUNSTATE
            | KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL
            | KVM_XEN_HVM_CONFIG_EVTCHN_SEND;
        if f.runstate_flag {
            want |= KVM_XEN_HVM_CONFIG_RUNSTATE_UPDATE_FLAG;
        }
        if f.shinfo_hva {
            want |= KVM_XEN_HVM_CONFIG_SHARED_INFO_HVA;
        }
        ensure!(
            caps & want == want,
            "KVM_CAP_XEN_HVM: expected the flags {want:#x} Linux {series} has, got {caps:#x} (missing {:#x})",
            want & !caps
        );
        Ok(f)
    }

    /// The shared-info region as the host sees it (upstream's shinfo,
    /// vinfo and rs pointers), bounds-checked through the slot's memory.
    struct Region {
        mem: SlotMemory,
        gpa: u64,
    }

    impl Region {
        fn u64_at(&self, off: u64) -> Result<u64> {
            let mut b = [0u8; 8];
            self.mem.read(off, &mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn u32_at(&self, off: u64) -> Result<u32> {
            let mut b = [0u8; 4];
            self.mem.read(off, &mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn set_u64(&self, off: u64, v: u64) -> Result<()> {
            self.mem.write(off, &v.to_le_bytes())
        }
        fn set_u32(&self, off: u64, v: u32) -> Result<()> {
            self.mem.write(off, &v.to_le_bytes())
        }
        fn set_evtchn_pending0(&self, v: u64) -> Result<()> {
            self.set_u64(SI_EVTCHN_PENDING, v)
        }
        fn set_evtchn_pending1(&self, v: u64) -> Result<()> {
            self.set_u64(SI_EVTCHN_PENDING + 8, v)
        }
        fn set_evtchn_mask0(&self, v: u64) -> Result<()> {
            self.set_u64(SI_EVTCHN_MASK, v)
        }
        /// 64-bit runstate at `off`: (state, state_entry_time, time[0..5]).
        fn runstate(&self, off: u64) -> Result<(u32, u64, [u64; 5])> {
            let mut t = [0u64; 5];
            for (i, v) in t.iter_mut().enumerate() {
                *v = self.u64_at(off + RS_TIME + 8 * i as u64)?;
            }
            Ok((self.u32_at(off + RS_STATE)?, self.u64_at(off + RS_STATE_ENTRY_TIME)?, t))
        }
        /// Compat (packed) runstate at `off`.
        fn compat_runstate(&self, off: u64) -> Result<(u32, u64, [u64; 5])> {
            let mut t = [0u64; 5];
            for (i, v) in t.iter_mut().enumerate() {
                *v = self.u64_at(off + CRS_TIME + 8 * i as u64)?;
            }
            Ok((self.u32_at(off + RS_STATE)?, self.u64_at(off + CRS_STATE_ENTRY_TIME)?, t))
        }
        fn rs_state_entry_time(&self) -> Result<u64> {
            self.u64_at(RUNSTATE_OFFSET + RS_STATE_ENTRY_TIME)
        }
        fn rs_time(&self, state: u64) -> Result<u64> {
            self.u64_at(RUNSTATE_OFFSET + RS_TIME + 8 * state)
        }
    }

    fn hvm_attr(type_: u32) -> kvm_xen_hvm_attr {
        kvm_xen_hvm_attr { type_: type_ as u16, ..Default::default() }
    }

    fn vcpu_attr(type_: u32) -> kvm_xen_vcpu_attr {
        kvm_xen_vcpu_attr { type_: type_ as u16, ..Default::default() }
    }

    fn long_mode(on: u8) -> kvm_xen_hvm_attr {
        let mut lm = hvm_attr(KVM_XEN_ATTR_TYPE_LONG_MODE);
        lm.u.long_mode = on;
        lm
    }

    fn timer_expires(t: &kvm_xen_vcpu_attr) -> u64 {
        // SAFETY: the attribute is of type KVM_XEN_VCPU_ATTR_TYPE_TIMER.
        unsafe { t.u.timer.expires_ns }
    }

    fn set_timer_expires(t: &mut kvm_xen_vcpu_attr, ns: u64) {
        t.u.timer.expires_ns = ns;
    }

    /// juggle_shinfo_state(): activates and deactivates the shared info
    /// page (by GFN, and by HVA where the series has it) until stopped, on a
    /// dup of the VM fd, while the vCPU runs. Stops and joins when dropped.
    struct Juggler {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Juggler {
        fn start(vm: &Vm, region: &Region, with_hva: bool) -> Result<Juggler> {
            // SAFETY: dup of the VM's fd, which stays open; the new fd is owned.
            let fd = unsafe { libc::dup(vm.fd().as_raw_fd()) };
            ensure!(fd >= 0, "dup(VM fd): {}", std::io::Error::last_os_error());
            // SAFETY: `fd` is a fresh descriptor nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut activate_gfn = hvm_attr(KVM_XEN_ATTR_TYPE_SHARED_INFO);
            activate_gfn.u.shared_info.gfn = region.gpa / PAGE_SIZE;
            let mut deactivate_gfn = hvm_attr(KVM_XEN_ATTR_TYPE_SHARED_INFO);
            deactivate_gfn.u.shared_info.gfn = KVM_XEN_INVALID_GFN;
            let mut activate_hva = hvm_attr(KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA);
            activate_hva.u.shared_info.hva = region.mem.host_addr();
            // Upstream's cache_deactivate_hva says KVM_XEN_ATTR_TYPE_SHARED_INFO
            // with hva 0, which KVM reads as GFN 0: guest page 0, where this
            // harness keeps its descriptor tables. The HVA type with 0 is the
            // deactivation it means (xen.c: "hva == 0" deactivates).
            let deactivate_hva = hvm_attr(KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA);
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = stop.clone();
            let thread = std::thread::spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    // Errors are expected and ignored, as upstream's __vm_ioctl.
                    let _ = xen::hvm_set_attr(&fd, &activate_gfn);
                    let _ = xen::hvm_set_attr(&fd, &deactivate_gfn);
                    if with_hva {
                        let _ = xen::hvm_set_attr(&fd, &activate_hva);
                        let _ = xen::hvm_set_attr(&fd, &deactivate_hva);
                    }
                }
            });
            Ok(Juggler { stop, thread: Some(thread) })
        }

        fn finish(mut self) -> Result<()> {
            self.stop.store(true, Ordering::Relaxed);
            match self.thread.take().map(JoinHandle::join) {
                Some(Err(_)) => bail!("the shared-info juggling thread panicked"),
                _ => Ok(()),
            }
        }
    }

    impl Drop for Juggler {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// TEST_STEAL_TIME's host side: "yield until scheduler delay exceeds
    /// target". Upstream relies on other load to make sched_yield() wait;
    /// here a thread pinned to this thread's CPU spins meanwhile, as the
    /// steal_time scenario's stealer, so the wait is certain.
    fn steal_time() -> Result<()> {
        let pin = CpuPin::first_allowed()?;
        let cpu = pin.cpu();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let stealer = std::thread::spawn(move || {
            let _pin = CpuPin::to(cpu);
            while !stopped.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let result = (|| {
            let rundelay = kvmtest_tests::get_run_delay()? + MIN_STEAL_TIME;
            let give_up = Instant::now() + STEAL_WAIT;
            while kvmtest_tests::get_run_delay()? < rundelay && Instant::now() < give_up {
                std::thread::yield_now();
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        let _ = stealer.join();
        drop(pin);
        result
    }

    /// Replaces the first page's mapping with a private /dev/zero one, as
    /// upstream does to the shinfo HVA after KVM holds a reference to it.
    fn remap_zero_page(region: &Region) -> Result<()> {
        let zero = std::fs::File::open("/dev/zero").map_err(|e| Error::Config(format!("open /dev/zero: {e}")))?;
        let at = region.mem.host_addr() as *mut libc::c_void;
        // SAFETY: `at` is the first page of the slot's own mapping, which
        // stays reserved for it; MAP_FIXED replaces that page with another
        // readable, writable private page the slot's munmap still covers.
        let m = unsafe {
            libc::mmap(
                at,
                PAGE_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE,
                zero.as_raw_fd(),
                0,
            )
        };
        ensure!(m == at, "Failed to map /dev/zero over shared info: {}", std::io::Error::last_os_error());
        Ok(())
    }

    /// The trials run one after the other, as upstream's one process does:
    /// TEST_STEAL_TIME pins a spinning thread to a CPU, and the runstate
    /// checks count every preemption of the vCPU thread, so a second trial
    /// beside it fails the first ("rs_time(RUNSTATE_RUNNABLE) == 0 failed",
    /// "Unexpected event channel IRQ", seen in the emulated SVM machine).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn xen_shinfo(by: ShinfoBy) -> Result<()> {
        let f = require(by)?;
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let min_ts = realtime()?;
        let mut vm = Vm::builder().payload(Payload::elf(XEN_SHINFO)).irqchip(true).build()?;
        let [a0, a1, a2] = vm.irq_controller_args();
        for (i, v) in [a0, a1, a2].into_iter().enumerate() {
            vm.set_arg(ARG_IRQ_CONTROLLER + i, v)?;
        }

        // Map a region for the shared_info page
        let spare = vm.layout().spare.clone();
        let gpa = spare.start.next_multiple_of(2 << 20);
        vm.map_region(gpa..gpa + (2 << 20), RegionKind::Ram)?;
        let mem = vm.memslots().add(SHINFO_REGION_SLOT, gpa, 3 * PAGE_SIZE, 0)?;
        let region = Region { mem, gpa };
        vm.set_arg(ARG_SHINFO_REGION, gpa)?;

        // Let the kernel know that we *will* use it for sending all event
        // channels, which lets it intercept SCHEDOP_poll
        vm.xen_hvm_config(&kvm_xen_hvm_config {
            flags: KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL | KVM_XEN_HVM_CONFIG_EVTCHN_SEND,
            msr: XEN_HYPERCALL_MSR,
            ..Default::default()
        })?;
        vm.xen_hvm_set_attr(&long_mode(1))?;

        if f.runstate_flag {
            let mut ruf = hvm_attr(KVM_XEN_ATTR_TYPE_RUNSTATE_UPDATE_FLAG);
            ruf.u.runstate_update_flag = 1;
            vm.xen_hvm_set_attr(&ruf)?;
            ruf.u.runstate_update_flag = 0;
            vm.xen_hvm_get_attr(&mut ruf)?;
            // SAFETY: the attribute is of type RUNSTATE_UPDATE_FLAG.
            let got = unsafe { ruf.u.runstate_update_flag };
            ensure!(got == 1, "Failed to read back RUNSTATE_UPDATE_FLAG attr: expected 1, got {got}");
        }

        let mut ha = hvm_attr(KVM_XEN_ATTR_TYPE_SHARED_INFO);
        match by {
            ShinfoBy::Hva => {
                ha = hvm_attr(KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA);
                ha.u.shared_info.hva = region.mem.host_addr();
            }
            ShinfoBy::Gfn => ha.u.shared_info.gfn = gpa / PAGE_SIZE,
        }
        vm.xen_hvm_set_attr(&ha)?;

        // Test what happens when the HVA of the shinfo page is remapped after
        // the kernel has a reference to it. But make sure we copy the clock
        // info over since that's only set at setup time, and we test it later.
        let mut wc_copy = [0u8; 12];
        region.mem.read(SI_WC, &mut wc_copy)?;
        remap_zero_page(&region)?;
        region.mem.write(SI_WC, &wc_copy)?;

        let mut vi = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO);
        vi.u.gpa = gpa + VCPU_INFO_OFFSET;
        vm.vcpu(0).xen_vcpu_set_attr(&vi)?;
        let mut pvclock = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_VCPU_TIME_INFO);
        pvclock.u.gpa = gpa + PVTIME_OFFSET;
        vm.vcpu(0).xen_vcpu_set_attr(&pvclock)?;
        let mut vec = hvm_attr(KVM_XEN_ATTR_TYPE_UPCALL_VECTOR);
        vec.u.vector = EVTCHN_VECTOR;
        vm.xen_hvm_set_attr(&vec)?;
        let mut st = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR);
        st.u.gpa = gpa + RUNSTATE_OFFSET;
        vm.vcpu(0).xen_vcpu_set_attr(&st)?;

        let irq_fd = [
            EventFd::new(0).map_err(|e| Error::Config(format!("eventfd: {e}")))?,
            EventFd::new(0).map_err(|e| Error::Config(format!("eventfd: {e}")))?,
        ];
        let mut routes = KvmIrqRouting::new(0).map_err(|e| Error::Config(format!("KvmIrqRouting: {e:?}")))?;
        for (gsi, port) in [(32, EVTCHN_TEST1), (33, EVTCHN_TEST2)] {
            let mut e = kvm_irq_routing_entry { gsi, type_: KVM_IRQ_ROUTING_XEN_EVTCHN, ..Default::default() };
            e.u.xen_evtchn = kvm_irq_routing_xen_evtchn { port, vcpu: 0, priority: PRIO_2LEVEL };
            routes.push(e).map_err(|e| Error::Config(format!("KvmIrqRouting: {e:?}")))?;
        }
        vm.fd().set_gsi_routing(&routes).map_err(Error::kvm("KVM_SET_GSI_ROUTING"))?;
        vm.fd().register_irqfd(&irq_fd[0], 32).map_err(Error::kvm("KVM_IRQFD"))?;
        vm.fd().register_irqfd(&irq_fd[1], 33).map_err(Error::kvm("KVM_IRQFD"))?;

        let mut tmr = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_TIMER);
        tmr.u.timer.port = EVTCHN_TIMER;
        tmr.u.timer.priority = PRIO_2LEVEL;
        tmr.u.timer.expires_ns = 0;

        let mut inj = hvm_attr(KVM_XEN_ATTR_TYPE_EVTCHN);
        inj.u.evtchn.send_port = SEND_PORT_TO_EVTCHN;
        inj.u.evtchn.type_ = EVTCHNSTAT_INTERDOMAIN;
        inj.u.evtchn.flags = 0;
        inj.u.evtchn.deliver.port.port = EVTCHN_TEST1;
        inj.u.evtchn.deliver.port.vcpu = 1;
        inj.u.evtchn.deliver.port.priority = PRIO_2LEVEL;
        vm.xen_hvm_set_attr(&inj)?;
        // Test migration to a different vCPU
        inj.u.evtchn.flags = KVM_XEN_EVTCHN_UPDATE;
        inj.u.evtchn.deliver.port.vcpu = 0;
        vm.xen_hvm_set_attr(&inj)?;
        inj.u.evtchn.send_port = SEND_PORT_TO_EVENTFD;
        inj.u.evtchn.deliver.eventfd.port = 0;
        inj.u.evtchn.deliver.eventfd.fd = irq_fd[1].as_raw_fd();
        inj.u.evtchn.flags = 0;
        vm.xen_hvm_set_attr(&inj)?;
        vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;

        region.mem.write(VCPU_INFO_OFFSET + VI_UPCALL_PENDING, &[0])?;
        region.set_u32(RUNSTATE_OFFSET + RS_STATE, 0x5a)?;

        let mut evtchn_irq_expected = false;
        let mut juggler: Option<Juggler> = None;
        let not_seen = "Expected event channel IRQ but it didn't happen";
        loop {
            let stage = match vm.vcpu(0).run_until_ucall()? {
                Ucall::Sync { stage, .. } => stage,
                other => return Err(other.into_failure(0)),
            };
            let (_, entry, t) = region.runstate(RUNSTATE_OFFSET)?;
            let sum = t[0].wrapping_add(t[1]).wrapping_add(t[2]).wrapping_add(t[3]);
            ensure!(entry == sum, "stage {stage}: runstate times don't add up: state_entry_time {entry}, times {t:?}");

            match stage {
                TEST_INJECT_VECTOR => {
                    evtchn_irq_expected = true;
                    region.mem.write(VCPU_INFO_OFFSET + VI_UPCALL_PENDING, &[1])?;
                }
                TEST_RUNSTATE_RUNNABLE..=TEST_RUNSTATE_OFFLINE => {
                    ensure!(!evtchn_irq_expected, "Event channel IRQ not seen");
                    let mut rst = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_CURRENT);
                    rst.u.runstate.state = stage + RUNSTATE_RUNNABLE - TEST_RUNSTATE_RUNNABLE;
                    vm.vcpu(0).xen_vcpu_set_attr(&rst).map_err(|e| {
                        Error::Config(format!("RUNSTATE_CURRENT {}: {e}", RUNSTATE_NAMES[rst_state(&rst)]))
                    })?;
                }
                TEST_RUNSTATE_ADJUST => {
                    let mut rst = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADJUST);
                    let blocked = 0x5au64.wrapping_sub(region.rs_time(RUNSTATE_BLOCKED)?);
                    let offline = 0x6b6bu64.wrapping_sub(region.rs_time(RUNSTATE_OFFLINE)?);
                    rst.u.runstate.state = u64::MAX;
                    rst.u.runstate.time_blocked = blocked;
                    rst.u.runstate.time_offline = offline;
                    rst.u.runstate.time_runnable = 0u64.wrapping_sub(blocked).wrapping_sub(offline);
                    vm.vcpu(0).xen_vcpu_set_attr(&rst)?;
                }
                TEST_RUNSTATE_DATA => {
                    let mut rst = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA);
                    rst.u.runstate.state = RUNSTATE_RUNNING;
                    rst.u.runstate.state_entry_time = 0x6b6b + 0x5a;
                    rst.u.runstate.time_blocked = 0x6b6b;
                    rst.u.runstate.time_offline = 0x5a;
                    vm.vcpu(0).xen_vcpu_set_attr(&rst)?;
                }
                TEST_STEAL_TIME => steal_time()?,
                TEST_EVTCHN_MASKED => {
                    region.set_evtchn_mask0(1 << EVTCHN_TEST1)?;
                    irq_fd[0].write(1).map_err(|e| Error::Config(format!("eventfd_write: {e}")))?;
                }
                TEST_EVTCHN_UNMASKED => {
                    // Unmask that, but deliver the other one
                    region.set_evtchn_pending0(0)?;
                    region.set_evtchn_mask0(0)?;
                    irq_fd[1].write(1).map_err(|e| Error::Config(format!("eventfd_write: {e}")))?;
                    evtchn_irq_expected = true;
                }
                TEST_EVTCHN_SLOWPATH => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_EVTCHN_UNMASKED)");
                    region.set_evtchn_pending1(0)?;
                    vm.memslots().add(DUMMY_REGION_SLOT, gpa + 3 * PAGE_SIZE, PAGE_SIZE, 0)?;
                    irq_fd[0].write(1).map_err(|e| Error::Config(format!("eventfd_write: {e}")))?;
                    evtchn_irq_expected = true;
                }
                TEST_EVTCHN_SEND_IOCTL => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_EVTCHN_SLOWPATH)");
                    region.set_evtchn_pending0(0)?;
                    let e = kvm_irq_routing_xen_evtchn { port: EVTCHN_TEST2, vcpu: 0, priority: PRIO_2LEVEL };
                    vm.xen_hvm_evtchn_send(&e)?;
                    evtchn_irq_expected = true;
                }
                TEST_EVTCHN_HCALL => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_EVTCHN_SEND_IOCTL)");
                    region.set_evtchn_pending1(0)?;
                    evtchn_irq_expected = true;
                }
                TEST_EVTCHN_HCALL_SLOWPATH => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_EVTCHN_HCALL)");
                    region.set_evtchn_pending0(0)?;
                    vm.memslots().add(DUMMY_REGION_SLOT_2, gpa + 4 * PAGE_SIZE, PAGE_SIZE, 0)?;
                    evtchn_irq_expected = true;
                }
                TEST_EVTCHN_HCALL_EVENTFD => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_EVTCHN_HCALL_SLOWPATH)");
                    region.set_evtchn_pending0(0)?;
                    evtchn_irq_expected = true;
                }
                TEST_TIMER_SETUP => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_EVTCHN_HCALL_EVENTFD)");
                    region.set_evtchn_pending1(0)?;
                }
                TEST_TIMER_WAIT => {
                    tmr = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_TIMER);
                    vm.vcpu(0).xen_vcpu_get_attr(&mut tmr)?;
                    // SAFETY: the attribute is of type TIMER.
                    let (port, priority) = unsafe { (tmr.u.timer.port, tmr.u.timer.priority) };
                    ensure!(port == EVTCHN_TIMER, "Timer port not returned: expected {EVTCHN_TIMER}, got {port}");
                    ensure!(
                        priority == PRIO_2LEVEL,
                        "Timer priority not returned: expected {PRIO_2LEVEL:#x}, got {priority:#x}"
                    );
                    let entry = region.rs_state_entry_time()?;
                    ensure!(
                        timer_expires(&tmr) > entry,
                        "Timer expiry not returned: expected > {entry}, got {}",
                        timer_expires(&tmr)
                    );
                    evtchn_irq_expected = true;
                }
                TEST_TIMER_RESTORE => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_TIMER_WAIT)");
                    region.set_evtchn_pending0(0)?;
                    set_timer_expires(&mut tmr, region.rs_state_entry_time()? + 100_000_000);
                    vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;
                    evtchn_irq_expected = true;
                }
                TEST_POLL_READY => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_TIMER_RESTORE)");
                    region.set_evtchn_pending0(1 << EVTCHN_TIMER)?;
                    region.set_evtchn_mask0(1 << EVTCHN_TIMER)?;
                }
                TEST_POLL_TIMEOUT => region.set_evtchn_pending0(0)?,
                TEST_POLL_MASKED => {
                    set_timer_expires(&mut tmr, region.rs_state_entry_time()? + 100_000_000);
                    vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;
                }
                TEST_POLL_WAKE => {
                    region.set_evtchn_pending0(0)?;
                    region.set_evtchn_mask0(0)?;
                    evtchn_irq_expected = true;
                    let want = region.rs_state_entry_time()? + 100_000_000;
                    set_timer_expires(&mut tmr, want);
                    vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;
                    // Read it back and check the pending time is reported correctly
                    set_timer_expires(&mut tmr, 0);
                    vm.vcpu(0).xen_vcpu_get_attr(&mut tmr)?;
                    ensure!(
                        timer_expires(&tmr) == want,
                        "Timer not reported pending: expected expires_ns {want}, got {}",
                        timer_expires(&tmr)
                    );
                }
                SET_VCPU_INFO => {
                    if f.shinfo_hva {
                        let mut vih = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO_HVA);
                        vih.u.hva = region.mem.host_addr() + VCPU_INFO_OFFSET;
                        vm.vcpu(0).xen_vcpu_set_attr(&vih)?;
                    }
                }
                TEST_TIMER_PAST => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_POLL_WAKE)");
                    // Read timer and check it is no longer pending
                    vm.vcpu(0).xen_vcpu_get_attr(&mut tmr)?;
                    ensure!(
                        timer_expires(&tmr) == 0,
                        "Timer still reported pending: expected expires_ns 0, got {}",
                        timer_expires(&tmr)
                    );
                    region.set_evtchn_pending0(0)?;
                    evtchn_irq_expected = true;
                    set_timer_expires(&mut tmr, region.rs_state_entry_time()?.wrapping_sub(100_000_000));
                    vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;
                }
                TEST_LOCKING_SEND_RACE => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_TIMER_PAST)");
                    juggler = Some(Juggler::start(&vm, &region, f.shinfo_hva)?);
                    let uxe = kvm_irq_routing_xen_evtchn { port: 1, vcpu: 0, priority: PRIO_2LEVEL };
                    evtchn_irq_expected = true;
                    let end = Instant::now() + Duration::from_millis(SHINFO_RACE_TIMEOUT_MS);
                    while Instant::now() < end {
                        // Errors are expected while the page comes and goes.
                        let _ = vm.xen_hvm_evtchn_send(&uxe);
                    }
                }
                TEST_LOCKING_POLL_RACE => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_LOCKING_SEND_RACE)");
                    region.set_evtchn_pending0(1)?;
                    evtchn_irq_expected = true;
                    set_timer_expires(&mut tmr, region.rs_state_entry_time()? + SHINFO_RACE_TIMEOUT_MS * 1_000_000);
                    vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;
                }
                TEST_LOCKING_POLL_TIMEOUT => {
                    // Optional and possibly repeated: injecting the timer IRQ
                    // may fail if the shinfo is invalid when the timer
                    // expires; if it expired undelivered, rearm and retry.
                    vm.vcpu(0).xen_vcpu_get_attr(&mut tmr)?;
                    if timer_expires(&tmr) == 0 && evtchn_irq_expected {
                        set_timer_expires(&mut tmr, region.rs_state_entry_time()? + SHINFO_RACE_TIMEOUT_MS * 1_000_000);
                        vm.vcpu(0).xen_vcpu_set_attr(&tmr)?;
                    }
                }
                TEST_DONE => {
                    ensure!(!evtchn_irq_expected, "{not_seen} (TEST_LOCKING_POLL_RACE)");
                    match juggler.take() {
                        Some(j) => j.finish()?,
                        None => bail!("TEST_DONE before TEST_LOCKING_SEND_RACE started the juggling thread"),
                    }
                    break;
                }
                TEST_GUEST_SAW_IRQ => {
                    ensure!(evtchn_irq_expected, "Unexpected event channel IRQ");
                    evtchn_irq_expected = false;
                }
                other => bail!("Unknown stage {other}"),
            }
        }

        let max_ts = realtime()?;
        let mut evt_reset = hvm_attr(KVM_XEN_ATTR_TYPE_EVTCHN);
        evt_reset.u.evtchn.flags = KVM_XEN_EVTCHN_RESET;
        vm.xen_hvm_set_attr(&evt_reset)?;

        // Just a *really* basic check that things are being put in the right place.
        let wc_version = region.u32_at(SI_WC)?;
        ensure!(wc_version != 0 && wc_version & 1 == 0, "Bad wallclock version {wc_version:#x}");
        // 6.1's check: the guest's epoch lies between CLOCK_REALTIME before
        // the VM was made and after it ran. Upstream replaced it (Vitaly
        // Kuznetsov, "KVM: selftests: Compare wall time from xen shinfo
        // against KVM_GET_CLOCK", 2024) because kvm_get_wall_clock_epoch()
        // subtracts the raw kvmclock from an NTP-slewed CLOCK_REALTIME, so
        // the epoch it reports can lie before min_ts ("VM time too old"; seen
        // here on 7.3 under TCG). kvmtest keeps the bound, widened by the 1 s
        // the replacement check allows.
        let vm_ns = i64::from(region.u32_at(SI_WC + 4)?) * NSEC_PER_SEC + i64::from(region.u32_at(SI_WC + 8)?);
        let (min_ns, max_ns) = (min_ts.0 * NSEC_PER_SEC + min_ts.1, max_ts.0 * NSEC_PER_SEC + max_ts.1);
        ensure!(
            vm_ns > min_ns - NSEC_PER_SEC,
            "VM time too old: wall clock {}.{:09} more than 1 s before CLOCK_REALTIME at the start, {}.{:09}",
            vm_ns / NSEC_PER_SEC,
            vm_ns % NSEC_PER_SEC,
            min_ts.0,
            min_ts.1
        );
        ensure!(
            vm_ns < max_ns + NSEC_PER_SEC,
            "VM time too new: wall clock {}.{:09} more than 1 s after CLOCK_REALTIME at the end, {}.{:09}",
            vm_ns / NSEC_PER_SEC,
            vm_ns % NSEC_PER_SEC,
            max_ts.0,
            max_ts.1
        );
        let kcdata = vm.fd().get_clock().map_err(Error::kvm("KVM_GET_CLOCK"))?;
        if kcdata.flags & KVM_CLOCK_REALTIME != 0 {
            let (sec, nsec) = (i64::from(region.u32_at(SI_WC + 4)?), i64::from(region.u32_at(SI_WC + 8)?));
            let epoch = kcdata.realtime as i64 - kcdata.clock as i64;
            let delta = (sec * NSEC_PER_SEC + nsec) - epoch;
            // KVM_GET_CLOCK gives CLOCK_REALTIME, which jumps on leap seconds: 1 s is sane enough.
            ensure!(
                delta.abs() < NSEC_PER_SEC,
                "Guest's epoch from shinfo {sec}.{nsec:09} differs from KVM_GET_CLOCK {}.{:09}",
                epoch / NSEC_PER_SEC,
                epoch % NSEC_PER_SEC
            );
        } else {
            runner::announce("xen_shinfo: Missing KVM_CLOCK_REALTIME, skipping shinfo epoch sanity check");
        }
        let ti = region.u32_at(VCPU_INFO_OFFSET + VI_TIME)?;
        ensure!(ti != 0 && ti & 1 == 0, "Bad time_info version {ti:#x} (vcpu_info)");
        let ti2 = region.u32_at(PVTIME_OFFSET)?;
        ensure!(ti2 != 0 && ti2 & 1 == 0, "Bad time_info version {ti2:#x} (VCPU_TIME_INFO)");

        // Fetch runstate: we aren't running the vCPU any more, so the
        // numbers must be identical wherever KVM writes them.
        let mut rst = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA);
        vm.vcpu(0).xen_vcpu_get_attr(&mut rst)?;
        // SAFETY: the attribute is of type RUNSTATE_DATA.
        let r = unsafe { rst.u.runstate };
        let want = [r.time_running, r.time_runnable, r.time_blocked, r.time_offline];

        // Exercise runstate info at all points across the page boundary, in
        // 32-bit and 64-bit mode; in particular configured in 32-bit mode
        // and then switched to 64-bit mode while active, which takes it
        // onto the second page.
        let check = |mode: &str, at: u64, (state, entry, t): (u32, u64, [u64; 5])| -> Result<()> {
            let what = format!("{mode} runstate at {:#x}", gpa + at);
            ensure!(u64::from(state) == r.state, "{what}: Runstate mismatch: expected {}, got {state}", r.state);
            ensure!(
                entry == r.state_entry_time,
                "{what}: State entry time mismatch: expected {}, got {entry}",
                r.state_entry_time
            );
            for (i, name) in ["Running", "Runnable", "Blocked", "Offline"].iter().enumerate() {
                ensure!(t[i] == want[i], "{what}: {name} time mismatch: expected {}, got {}", want[i], t[i]);
            }
            ensure!(
                t[4] == 0xa5a5_a5a5_a5a5_a5a5,
                "{what}: Structure overrun: expected 0xa5a5a5a5a5a5a5a5 past the end, got {:#x}",
                t[4]
            );
            let sum = t[0].wrapping_add(t[1]).wrapping_add(t[2]).wrapping_add(t[3]);
            ensure!(entry == sum, "{what}: runstate times don't add up: state_entry_time {entry}, times {t:?}");
            Ok(())
        };
        let start = 2 * PAGE_SIZE - RS_SIZE - 4;
        for at in start..2 * PAGE_SIZE + 4 {
            region.mem.write(at, &[0xa5; RS_SIZE as usize])?;
            // Set to compatibility mode
            vm.xen_hvm_set_attr(&long_mode(0))?;
            // Set runstate to new address (kernel will write it)
            let mut st = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR);
            st.u.gpa = gpa + at;
            vm.vcpu(0).xen_vcpu_set_attr(&st)?;
            check("Compatibility", at, region.compat_runstate(at)?)?;

            // Now switch to 64-bit mode
            vm.xen_hvm_set_attr(&long_mode(1))?;
            region.mem.write(at, &[0xa5; RS_SIZE as usize])?;
            // Don't change the address, just trigger a write
            let mut adj = vcpu_attr(KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADJUST);
            adj.u.runstate.state = u64::MAX;
            vm.vcpu(0).xen_vcpu_set_attr(&adj)?;
            check("64-bit", at, region.runstate(at)?)?;
        }
        Ok(())
    }

    /// CLOCK_REALTIME as (seconds, nanoseconds).
    fn realtime() -> Result<(i64, i64)> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec, `ts`.
        let r = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        ensure!(r == 0, "clock_gettime(CLOCK_REALTIME): {}", std::io::Error::last_os_error());
        Ok((ts.tv_sec, ts.tv_nsec))
    }

    fn rst_state(rst: &kvm_xen_vcpu_attr) -> usize {
        // SAFETY: the attribute is of type RUNSTATE_CURRENT.
        (unsafe { rst.u.runstate.state } as usize).min(RUNSTATE_NAMES.len() - 1)
    }

    pub fn trials() -> Vec<Trial> {
        runner::announce(
            "xen_shinfo: upstream xen_shinfo_test.c, every stage with the shared info page\n  \
             shinfo_gfn  set by KVM_XEN_ATTR_TYPE_SHARED_INFO (GFN)\n  \
             shinfo_hva  set by KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA (upstream's choice where KVM has it, 6.9+)",
        );
        vec![
            runner::test("xen_shinfo::shinfo_gfn", || xen_shinfo(ShinfoBy::Gfn)),
            runner::test("xen_shinfo::shinfo_hva", || xen_shinfo(ShinfoBy::Hva)),
        ]
    }
}
