//! hostile, x86_64 only: guests that break the machine rather than the
//! ucall protocol — a triple fault, I/O ports nobody serves, a doorbell OUT
//! of the wrong width, the harness's GS base destroyed. Each must end with
//! the exit named, not a hang. Arch-neutral cases are in tests/hostile.rs.

kvmtest_tests::arch_only_main!("x86_64", x86::trials, "these guests are x86 machine code");

#[cfg(target_arch = "x86_64")]
mod x86 {
    use dynasmrt::{dynasm, DynasmApi};
    use kvmtest::asm::AsmGuest;
    use kvmtest::{bail, ensure, runner, Error, TransportKind, Vm};
    use libtest_mimic::Trial;

    /// The kernel selftests' UCALL_PIO_PORT, where the PIO doorbell writes
    /// (dynasm's `mov dx, imm16` takes it as an i16).
    const UCALL_PIO_PORT: i16 = kvmtest::ucall::UCALL_PIO_PORT as i16;
    /// POST code port: a real PC has it, this VM does not.
    const PORT_POST: u8 = 0x80;
    const MSR_GS_BASE: i32 = 0xc000_0101_u32 as i32;

    enum Expect {
        /// `Error::UnexpectedExit` whose text contains this.
        UnexpectedExit(&'static str),
        /// `Error::BadDoorbell` whose reason contains this.
        BadDoorbell(&'static str),
    }

    struct Case {
        name: &'static str,
        guest: fn(&mut AsmGuest),
        expect: Expect,
    }

    const CASES: &[Case] = &[
        Case {
            // An IDT with limit 0: the #UD cannot be delivered, nor the #GP
            // that follows, nor the #DF: the CPU shuts down.
            name: "triple_fault",
            guest: |g| dynasm!(g.ops() ; .arch x64 ; push 0 ; push 0 ; lidt [rsp] ; ud2),
            expect: Expect::UnexpectedExit("KVM_EXIT_SHUTDOWN (triple fault"),
        },
        Case {
            // Every ucall and exception stub finds its buffer through GS:
            // with GS base 0 the #UD handler faults, then the #DF handler.
            name: "harness_gs_base_destroyed",
            guest: |g| dynasm!(g.ops() ; .arch x64 ; mov ecx, MSR_GS_BASE ; xor eax, eax ; xor edx, edx ; wrmsr ; ud2),
            expect: Expect::UnexpectedExit("in the harness's exception handler, which faulted itself"),
        },
        Case {
            name: "out_to_unknown_port",
            guest: |g| dynasm!(g.ops() ; .arch x64 ; mov al, 0x5a ; out PORT_POST as i8, al),
            expect: Expect::UnexpectedExit("KVM_EXIT_IO out to port 0x80 (1 bytes: [5a]), not a ucall port"),
        },
        Case {
            name: "in_from_the_ucall_port",
            guest: |g| dynasm!(g.ops() ; .arch x64 ; mov dx, UCALL_PIO_PORT ; in eax, dx),
            expect: Expect::UnexpectedExit("KVM_EXIT_IO in from port 0x1000 (4 bytes)"),
        },
        Case {
            name: "doorbell_out_too_narrow",
            guest: |g| dynasm!(g.ops() ; .arch x64 ; mov dx, UCALL_PIO_PORT ; mov ax, 0x2000 ; out dx, ax),
            expect: Expect::BadDoorbell("2-byte OUT to the ucall port 0x1000, expected the message's 4-byte address"),
        },
    ];

    fn check(case: &Case) -> kvmtest::Result<()> {
        let mut g = AsmGuest::new();
        (case.guest)(&mut g);
        g.done();
        let mut vm = Vm::builder().transport(TransportKind::Pio).payload(g.finish()?).build()?;
        let name = case.name;
        match (&case.expect, vm.vcpu(0).run_until_ucall()) {
            (Expect::UnexpectedExit(what), Err(e @ Error::UnexpectedExit { .. })) => {
                let text = e.to_string();
                ensure!(text.contains(what), "{name}: reported {text:?}, expected it to contain {what:?}");
            }
            (Expect::BadDoorbell(what), Err(Error::BadDoorbell { why, pc, .. })) => {
                ensure!(why.contains(what), "{name}: BadDoorbell says {why:?}, expected it to contain {what:?}");
                ensure!(vm.layout().payload.contains(&pc), "{name}: BadDoorbell pc {pc:#x} is not in the payload");
            }
            (_, other) => bail!("{name}: the host reported {other:?}"),
        }
        Ok(())
    }

    pub fn trials() -> Vec<Trial> {
        CASES.iter().map(|case| runner::test(format!("hostile::x86_64::{}", case.name), move || check(case))).collect()
    }
}
