//! debug_exceptions: debug exceptions of an arm64 guest (upstream
//! aarch64/debug-exceptions.c, 6.1 and 6.12 alike; DebugVer >= 6, the
//! Armv8 debug architecture, required).
//!
//! `guest_debug_exceptions_all` (test_guest_debug_exceptions_all()): for
//! every normal breakpoint and every watchpoint the vCPU's ID_AA64DFR0_EL1
//! offers, each with every context-aware breakpoint, a VM whose guest
//! (guest-payloads/payloads/src/aarch64/debug_exceptions.rs, guest_code())
//! takes its own debug exceptions through handlers it installed (BRK,
//! hardware breakpoint, watchpoint, software step, SVC): breakpoints alone
//! and on an SVC and a BRK, a watchpoint, three single steps, the OS Lock
//! blocking all but BRK, and breakpoint and watchpoint linked to a
//! context-ID breakpoint, each checked in the guest (where the exception
//! came from); the host expects DONE.
//!
//! `single_step_from_userspace` (test_single_step_from_userspace()): the
//! guest (guest_code_ss()) runs ITERATIONS rounds: a SYNC on which the
//! host turns on KVM_SET_GUEST_DEBUG(ENABLE | SINGLESTEP), then writes i<<2
//! to DBGBVR0_EL1 and DBGWVR0_EL1 and reads both back (trapped and
//! emulated by KVM while the host debugs the guest). Every KVM_EXIT_DEBUG
//! must come while single step is on, with ESR.EC "software step from a
//! lower EL"; between iter_ss_begin and iter_ss_end each step advances the
//! PC by 4 (no instruction skipped or run twice around the emulated
//! accesses), and each round's region is stepped instruction by
//! instruction; one step before iter_ss_end the host turns single step
//! off. The guest asserts it read back what it wrote. Upstream runs 10,000
//! rounds; ITERATIONS is sized for the emulated machines (every step is an
//! exit to userspace).

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
    use kvmtest::aarch64::smccc::{pc, read_reg};
    use kvmtest::arch::aarch64::guest_debug::{DebugExit, ESR_EC_SOFTSTP_LOW};
    use kvmtest::arch::aarch64::regs::{DBGBVR0_EL1, DBGWVR0_EL1, ID_AA64DFR0_EL1};
    use kvmtest::asm::AsmGuest;
    use kvmtest::guest_debug::{debug_exit, GuestDebug};
    use kvmtest::kvm_ioctls::VcpuExit;
    use kvmtest::{bail, ensure, runner, Error, ExitAction, Payload, Result, Ucall, Vm};
    use kvmtest_tests::payloads::DEBUG_EXCEPTIONS;

    /// Rounds of the single-step guest (upstream: `ss_iteration = 10000`).
    const ITERATIONS: u64 = 50;
    /// The SYNC stage that stands for upstream's GUEST_UCALL_NONE().
    const ENABLE_SS_STAGE: u64 = 1;
    /// ID_AA64DFR0_EL1.DebugVer of the Armv8 debug architecture.
    const DEBUGVER_ARMV8: u64 = 6;

    pub fn trials() -> Vec<runner::Trial> {
        vec![
            runner::test("debug_exceptions::guest_debug_exceptions_all", guest_debug_exceptions_all),
            runner::test("debug_exceptions::single_step_from_userspace", single_step_from_userspace),
        ]
    }

    /// main(): __TEST_REQUIRE(debug_version(aa64dfr0) >= 6); returns ID_AA64DFR0_EL1.
    fn require_armv8_debug(vm: &mut Vm) -> Result<u64> {
        let dfr0 = read_reg(vm.vcpu(0), ID_AA64DFR0_EL1.kvm_id(), "KVM_GET_ONE_REG(ID_AA64DFR0_EL1)")?;
        if dfr0 & 0xf < DEBUGVER_ARMV8 {
            return Err(Error::Skip(format!(
                "Armv8 debug architecture not supported (ID_AA64DFR0_EL1.DebugVer = {})",
                dfr0 & 0xf
            )));
        }
        Ok(dfr0)
    }

    /// test_guest_debug_exceptions_all(): every breakpoint/watchpoint/
    /// context-aware breakpoint combination, one VM each.
    fn guest_debug_exceptions_all() -> Result<()> {
        let dfr0 = require_armv8_debug(&mut Vm::builder().payload(Payload::elf(DEBUG_EXCEPTIONS)).build()?)?;
        // Number of breakpoints, watchpoints, context-aware breakpoints.
        let brp_num = ((dfr0 >> 12) & 0xf) + 1;
        if brp_num < 2 {
            return Err(Error::Skip(format!("At least two breakpoints are required (ID_AA64DFR0_EL1 {dfr0:#x})")));
        }
        let wrp_num = ((dfr0 >> 20) & 0xf) + 1;
        let ctx_brp_num = ((dfr0 >> 28) & 0xf) + 1;
        // Normal (non-context-aware) breakpoints come first.
        let normal_brp_num = brp_num - ctx_brp_num;
        let ctx_brp_base = normal_brp_num;
        // Upstream runs the cross product of (b, w, c); here every normal
        // breakpoint and every watchpoint is paired with every context-aware
        // breakpoint (each appears in the linked cases with each c), which is
        // max(b, w) VMs per c instead of b * w: under TCG on 6.1 the cross
        // product (32 VMs on qemu's -cpu max) alone takes ~10 s.
        for c in ctx_brp_base..ctx_brp_base + ctx_brp_num {
            for i in 0..normal_brp_num.max(wrp_num) {
                let (b, w) = (i % normal_brp_num, i % wrp_num);
                test_guest_debug_exceptions(b, w, c).map_err(|e| {
                    if e.is_skip() {
                        e
                    } else {
                        Error::Check(format!("bpn#{b}, wpn#{w}, ctx_bpn#{c}: {e}"))
                    }
                })?;
            }
        }
        Ok(())
    }

    /// test_guest_debug_exceptions(): the guest reports DONE or its failed assertion.
    fn test_guest_debug_exceptions(bpn: u64, wpn: u64, ctx_bpn: u64) -> Result<()> {
        let mut vm =
            Vm::builder().payload(Payload::elf(DEBUG_EXCEPTIONS)).arg(0, bpn).arg(1, wpn).arg(2, ctx_bpn).build()?;
        vm.vcpu(0).expect_done()
    }

    /// One round's single-stepped region: [begin, end).
    #[derive(Debug, Clone, Copy)]
    struct Region {
        begin: u64,
        end: u64,
    }

    /// guest_code_ss(): the guest, run-time assembled so the host knows
    /// iter_ss_begin and iter_ss_end of every round.
    fn guest_code_ss() -> Result<(kvmtest::Payload, Vec<Region>)> {
        const BVR: u32 = DBGBVR0_EL1.mrs_imm();
        const WVR: u32 = DBGWVR0_EL1.mrs_imm();
        let mut g = AsmGuest::new();
        let bad = g.ops().new_dynamic_label();
        let mut regions = Vec::new();
        for i in 0..ITERATIONS {
            // Bits [1:0] of dbg{b,w}vr are RES0.
            let w = (i << 2) as u32;
            g.sync(ENABLE_SS_STAGE, &[i]);
            let begin = g.here(); // iter_ss_begin
            dynasm!(g.ops()
                ; .arch aarch64
                ; nop
                ; movz x0, w
                ; msr BVR, x0
                ; msr WVR, x0
                ; mrs x1, BVR
                ; mrs x2, WVR
            );
            let end = g.here(); // iter_ss_end: the host has turned single step off
            dynasm!(g.ops() ; .arch aarch64 ; cmp x1, x0 ; b.ne =>bad ; cmp x2, x0 ; b.ne =>bad);
            regions.push(Region { begin, end });
        }
        let done = g.ops().new_dynamic_label();
        dynasm!(g.ops() ; .arch aarch64 ; b =>done ; =>bad);
        g.abort(file!(), line!(), "GUEST_ASSERT_EQ(bvr, w_bvr) && GUEST_ASSERT_EQ(wvr, w_wvr) failed", &[]);
        dynasm!(g.ops() ; .arch aarch64 ; =>done);
        g.done();
        Ok((g.finish()?, regions))
    }

    fn single_step_from_userspace() -> Result<()> {
        let (payload, regions) = guest_code_ss()?;
        let mut vm = Vm::builder().payload(payload).build()?;
        require_armv8_debug(&mut vm)?;
        let mut ss_enable = false;
        let mut test_pc = 0u64;
        let mut round: Option<usize> = None;
        let mut stepped: Vec<u64> = Vec::new();
        loop {
            let mut exit: Option<DebugExit> = None;
            let ucall = vm.vcpu(0).run_with(|e| match e {
                VcpuExit::Debug(raw) => {
                    exit = Some(debug_exit(raw));
                    ExitAction::Stop
                }
                _ => ExitAction::Unhandled,
            });
            let exit = match (ucall, exit) {
                (Ok(Ucall::Sync { stage: ENABLE_SS_STAGE, args }), None) => {
                    let i = args.first().copied().unwrap_or(u64::MAX) as usize;
                    ensure!(
                        i < regions.len() && round.map_or(i == 0, |r| r + 1 == i),
                        "SYNC of round {i} after {round:?}"
                    );
                    round = Some(i);
                    stepped.clear();
                    vm.vcpu(0).set_guest_debug(&GuestDebug::single_step())?;
                    ss_enable = true;
                    continue;
                }
                (Ok(Ucall::Done), None) => break,
                (Ok(other), None) => return Err(other.into_failure(0)),
                (Err(Error::ExitStopped { .. }), Some(exit)) => exit,
                (Err(e), _) => return Err(e),
                (Ok(_), Some(_)) => bail!("a ucall and a KVM_EXIT_DEBUG from one KVM_RUN"),
            };
            let pc = pc(vm.vcpu(0))?;
            ensure!(ss_enable, "Unexpected KVM_EXIT_DEBUG at pc {pc:#x} (ESR {:#x}): single step is off", exit.esr);
            ensure!(
                exit.ec() == ESR_EC_SOFTSTP_LOW,
                "KVM_EXIT_DEBUG at pc {pc:#x}: expected ESR.EC {ESR_EC_SOFTSTP_LOW:#x} (software step), got {:#x} (ESR {:#x})",
                exit.ec(),
                exit.esr
            );
            // Check if the current pc is expected.
            ensure!(test_pc == 0 || pc == test_pc, "Unexpected pc {pc:#x} (expected {test_pc:#x})");
            let Some(region) = round.map(|r| regions[r]) else {
                bail!("KVM_EXIT_DEBUG at pc {pc:#x} before the first round");
            };
            if (region.begin..region.end).contains(&pc) {
                stepped.push(pc);
            }
            if pc + 4 == region.end {
                let expected: Vec<u64> = (region.begin..region.end).step_by(4).collect();
                ensure!(
                    stepped == expected,
                    "round {round:?}: stepped through {stepped:#x?}, expected every instruction {expected:#x?}"
                );
                test_pc = 0;
                vm.vcpu(0).set_guest_debug(&GuestDebug::enabled())?;
                ss_enable = false;
                continue;
            }
            // Between iter_ss_begin and iter_ss_end the next exit is at pc + 4.
            test_pc = if (region.begin..region.end).contains(&pc) { pc + 4 } else { 0 };
        }
        ensure!(round == Some(regions.len() - 1), "DONE after round {round:?} of {}", regions.len());
        Ok(())
    }
}
