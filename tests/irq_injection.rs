//! irq_injection: the in-kernel irqchip's host-to-guest path, the same on
//! both arches. The host drives each of `Vm::TEST_IRQS` at vCPU 0 with
//! `Vm::irq_line` (arm64: KVM_IRQ_LINE of a PPI and of an SPI through the
//! vGICv3; x86_64:
//! KVM_SIGNAL_MSI to the local APIC in x2APIC mode); the guest, its
//! controller brought up by the runtime (`irq::Controller`), takes each in
//! its handler (the firmware's IRQ path, `VcpuBootInfo::irq_handler`) and
//! reports the number it got before the host lowers the line and the
//! runtime EOIs. No interrupt arrives before the host raises the line, and
//! each raise is taken once. `guest_timer`: the same with the guest's own
//! one-shot timer (arm64 CNTV, virtual timer PPI 27; x86_64 the local APIC
//! timer), which KVM emulates and delivers through the same controller.

use kvmtest::abi::irq_test::*;
use kvmtest::{ensure, runner, Payload, Result, Ucall, Vm};
use kvmtest_tests::payloads::IRQ_INJECTION;

/// Interrupts sent per VM.
const ROUNDS: u64 = 3;

fn injected_irqs_reach_the_guest_handler(intid: u32) -> Result<()> {
    let mut vm = Vm::builder()
        .payload(Payload::elf(IRQ_INJECTION))
        .irqchip(true)
        .arg(ARG_INTID, intid.into())
        .arg(ARG_ROUNDS, ROUNDS)
        .build()?;
    for (i, value) in vm.irq_controller_args().into_iter().enumerate() {
        vm.set_arg(ARG_IRQ_CONTROLLER + i, value)?;
    }
    for round in 0..ROUNDS {
        match vm.vcpu(0).run_until_ucall()? {
            Ucall::Sync { stage: STAGE_READY, args } => {
                ensure!(*args == [round], "READY: expected round {round}, got {args:?}")
            }
            other => return Err(other.into_failure(0)),
        }
        vm.irq_line(0, intid, true)?;
        match vm.vcpu(0).run_until_ucall()? {
            Ucall::Sync { stage: STAGE_GOT_IRQ, args } => ensure!(
                *args == [u64::from(intid), round],
                "the guest's handler: expected interrupt {intid} in round {round}, got [interrupt, round] {args:?}"
            ),
            other => return Err(other.into_failure(0)),
        }
        vm.irq_line(0, intid, false)?;
    }
    vm.vcpu(0).expect_done()
}

fn guest_timer_irqs_reach_the_guest_handler() -> Result<()> {
    let mut vm = Vm::builder()
        .payload(Payload::elf(IRQ_INJECTION))
        .irqchip(true)
        .arg(ARG_INTID, Vm::GUEST_TIMER_IRQ.into())
        .arg(ARG_ROUNDS, ROUNDS)
        .arg(ARG_SOURCE, SOURCE_GUEST_TIMER)
        .build()?;
    for (i, value) in vm.irq_controller_args().into_iter().enumerate() {
        vm.set_arg(ARG_IRQ_CONTROLLER + i, value)?;
    }
    for round in 0..ROUNDS {
        vm.vcpu(0).expect_sync(STAGE_READY).and_then(|args| {
            ensure!(*args == [round], "READY: expected round {round}, got {args:?}");
            Ok(())
        })?;
        let args = vm.vcpu(0).expect_sync(STAGE_GOT_IRQ)?;
        ensure!(
            *args == [u64::from(Vm::GUEST_TIMER_IRQ), round],
            "the guest's handler: expected its timer's interrupt {} in round {round}, got [interrupt, round] {args:?}",
            Vm::GUEST_TIMER_IRQ
        );
    }
    vm.vcpu(0).expect_done()
}

fn irq_line_needs_the_irqchip() -> Result<()> {
    let vm = Vm::builder().payload(Payload::elf(IRQ_INJECTION)).build()?;
    match vm.irq_line(0, Vm::TEST_IRQS[0], true) {
        Err(kvmtest::Error::Config(why)) if why.contains("irqchip(true)") => Ok(()),
        other => {
            Err(kvmtest::Error::Check(format!("irq_line without an irqchip: expected a Config error, got {other:?}")))
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut trials: Vec<_> = Vm::TEST_IRQS
        .iter()
        .map(|&intid| {
            runner::test(format!("irq_injection::injected_irqs_reach_the_guest_handler::{intid}"), move || {
                injected_irqs_reach_the_guest_handler(intid)
            })
        })
        .collect();
    trials.extend([
        runner::test(
            "irq_injection::guest_timer_irqs_reach_the_guest_handler",
            guest_timer_irqs_reach_the_guest_handler,
        ),
        runner::test("irq_injection::irq_line_needs_the_irqchip", irq_line_needs_the_irqchip),
    ]);
    runner::main(trials)
}
