//! arm64: the name and kind of an exception the firmware's vector table
//! reported (ESR_EL1.EC as the vector, the whole ESR as the error code), and
//! what ESR/ELR/FAR say when the firmware faulted itself or the vCPU is stuck
//! on a vector it cannot fetch.

use crate::error::ExceptionKind;

/// ESR_EL1.EC is bits 31:26.
pub const ESR_EC_SHIFT: u32 = 26;
/// ESR_EL1 ISS bit 6 of a Data Abort (WnR): the access was a write.
const ESR_DABT_WNR: u64 = 1 << 6;
/// The DFSC/IFSC field of an abort's ESR: bits 5:0.
const ESR_FSC_MASK: u64 = 0x3f;
/// Pseudo exception classes for the slots where ESR_EL1 means nothing,
/// just above the 6-bit EC space.
pub const VECTOR_IRQ: u64 = 0x40;
/// `VECTOR_FIQ`.
pub const VECTOR_FIQ: u64 = 0x41;
/// Bytes of the EL1 vector table VBAR_EL1 points at.
pub const VECTOR_TABLE_SIZE: u64 = 0x800;

/// ESR_EL1.EC values (`ESR_ELx_EC_*` in arch/arm64/include/asm/esr.h).
pub const EC_UNKNOWN: u64 = 0x00;
/// `EC_IABT_LOW`.
pub const EC_IABT_LOW: u64 = 0x20;
/// `EC_IABT_CUR`.
pub const EC_IABT_CUR: u64 = 0x21;
/// `EC_DABT_LOW`.
pub const EC_DABT_LOW: u64 = 0x24;
/// `EC_DABT_CUR`.
pub const EC_DABT_CUR: u64 = 0x25;

/// ESR_EL1.EC of a syndrome.
pub fn esr_class(esr: u64) -> u64 {
    esr >> ESR_EC_SHIFT
}

/// Human name of an exception class (ESR_EL1.EC), with the fault status of
/// aborts decoded from the ISS.
pub fn exception_name(vector: u64, esr: u64) -> String {
    let ec_name = match vector {
        0x00 => "Unknown reason (UNDEF)",
        0x01 => "trapped WFI/WFE",
        0x07 => "SVE/SIMD/FP access trap",
        0x0e => "Illegal Execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "trapped MSR/MRS/system instruction",
        0x19 => "SVE access trap",
        0x20 => "Instruction Abort from a lower EL",
        0x21 => "Instruction Abort",
        0x22 => "PC alignment fault",
        0x24 => "Data Abort from a lower EL",
        0x25 => "Data Abort",
        0x26 => "SP alignment fault",
        0x2c => "FP exception",
        0x2f => "SError",
        0x30 | 0x31 => "Breakpoint",
        0x32 | 0x33 => "Software Step",
        0x34 | 0x35 => "Watchpoint",
        0x3c => "BRK",
        VECTOR_IRQ => "IRQ",
        VECTOR_FIQ => "FIQ",
        _ => "reserved exception class",
    };
    match vector {
        EC_IABT_LOW | EC_IABT_CUR | EC_DABT_LOW | EC_DABT_CUR => {
            let mut s = format!("{ec_name} ({}", fault_status(esr & ESR_FSC_MASK));
            if vector >= EC_DABT_LOW {
                s.push_str(if esr & ESR_DABT_WNR != 0 { ", write" } else { ", read" });
            }
            s.push(')');
            s
        }
        _ => ec_name.to_string(),
    }
}

/// What an exception class means: EC 0x00 is an undefined instruction; a
/// Data Abort (from EL1 or below) with a translation, access-flag or
/// permission fault is a page fault; an Instruction Abort an instruction fault.
pub fn exception_kind(vector: u64, esr: u64) -> ExceptionKind {
    let mmu_fault = matches!((esr & ESR_FSC_MASK) >> 2, 0b0001..=0b0011);
    match vector {
        EC_UNKNOWN => ExceptionKind::UndefinedInstruction,
        EC_DABT_LOW | EC_DABT_CUR if mmu_fault => ExceptionKind::PageFault,
        EC_IABT_LOW | EC_IABT_CUR => ExceptionKind::InstructionFault,
        _ => ExceptionKind::Other,
    }
}

/// The DFSC/IFSC field of an abort's ESR.
fn fault_status(fsc: u64) -> String {
    let level = fsc & 3;
    match fsc >> 2 {
        0b0000 => format!("address size fault, level {level}"),
        0b0001 => format!("translation fault, level {level}"),
        0b0010 => format!("access flag fault, level {level}"),
        0b0011 => format!("permission fault, level {level}"),
        _ => match fsc {
            0b01_0000 => "synchronous external abort".into(),
            0b10_0001 => "alignment fault".into(),
            0b11_0000 => "TLB conflict abort".into(),
            other => format!("fault status {other:#x}"),
        },
    }
}

/// What the firmware met when it faulted itself, from the ESR/ELR/FAR_EL1
/// of that nested fault.
pub fn handler_fault(esr: u64, elr: u64, far: u64) -> String {
    let name = exception_name(esr_class(esr), esr);
    format!("it took {name} (ESR {esr:#x}) at {elr:#x}, FAR {far:#x}, and gave up with PSCI SYSTEM_OFF")
}

/// Why a vCPU stopped at `pc` cannot make progress, if it keeps taking an
/// Instruction Abort on the fetch of its own vector (`pc` inside the table at
/// `vbar` and the faulting address): VBAR_EL1 points at memory it cannot execute.
pub fn stuck_on_vector_fetch(vbar: u64, esr: u64, far: u64, pc: u64) -> Option<String> {
    let in_table = pc.checked_sub(vbar).is_some_and(|off| off < VECTOR_TABLE_SIZE);
    (in_table && esr_class(esr) == EC_IABT_CUR && far == pc).then(|| {
        format!(
            "it keeps taking an exception whose vector it cannot fetch: {} at {pc:#x}, \
             VBAR_EL1 {vbar:#x} is not executable guest memory",
            exception_name(esr_class(esr), esr)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_faulted() {
        assert_eq!(exception_name(0, 0x0200_0000), "Unknown reason (UNDEF)");
        assert_eq!(exception_name(0x25, 0x9600_0007), "Data Abort (translation fault, level 3, read)");
        assert_eq!(exception_name(0x25, 0x9600_0046), "Data Abort (translation fault, level 2, write)");
        assert_eq!(exception_name(0x21, 0x8600_000f), "Instruction Abort (permission fault, level 3)");
        assert_eq!(exception_name(0x3c, 0xf200_0000), "BRK");
        assert_eq!(exception_name(VECTOR_IRQ, 0), "IRQ");
    }

    #[test]
    fn every_named_class_has_its_name() {
        let names: &[(u64, &str)] = &[
            (0x00, "Unknown reason (UNDEF)"),
            (0x01, "trapped WFI/WFE"),
            (0x07, "SVE/SIMD/FP access trap"),
            (0x0e, "Illegal Execution state"),
            (0x15, "SVC"),
            (0x16, "HVC"),
            (0x17, "SMC"),
            (0x18, "trapped MSR/MRS/system instruction"),
            (0x19, "SVE access trap"),
            (0x22, "PC alignment fault"),
            (0x26, "SP alignment fault"),
            (0x2c, "FP exception"),
            (0x2f, "SError"),
            (0x30, "Breakpoint"),
            (0x31, "Breakpoint"),
            (0x32, "Software Step"),
            (0x33, "Software Step"),
            (0x34, "Watchpoint"),
            (0x35, "Watchpoint"),
            (0x3c, "BRK"),
            (VECTOR_IRQ, "IRQ"),
            (VECTOR_FIQ, "FIQ"),
            (0x02, "reserved exception class"),
            (0x3f, "reserved exception class"),
            (0x42, "reserved exception class"),
        ];
        for (ec, name) in names {
            assert_eq!(exception_name(*ec, 0x7f), *name, "EC {ec:#x}: the ISS is read only for aborts");
        }
    }

    #[test]
    fn aborts_carry_their_fault_status_and_data_aborts_the_direction() {
        let abort = |ec: u64, iss: u64| exception_name(ec, (ec << ESR_EC_SHIFT) | iss);
        assert_eq!(abort(EC_IABT_LOW, 0x04), "Instruction Abort from a lower EL (translation fault, level 0)");
        assert_eq!(abort(EC_IABT_CUR, 0x4f), "Instruction Abort (permission fault, level 3)", "no WnR for fetches");
        assert_eq!(abort(EC_DABT_LOW, 0x49), "Data Abort from a lower EL (access flag fault, level 1, write)");
        assert_eq!(abort(EC_DABT_CUR, 0x02), "Data Abort (address size fault, level 2, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x10), "Data Abort (synchronous external abort, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x21), "Data Abort (alignment fault, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x30), "Data Abort (TLB conflict abort, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x11), "Data Abort (fault status 0x11, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x3f), "Data Abort (fault status 0x3f, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x80), "Data Abort (address size fault, level 0, read)", "FSC is bits 5:0");
        // The direction bit is bit 6 alone.
        assert_eq!(abort(EC_DABT_CUR, 0x20 | 0x07), "Data Abort (fault status 0x27, read)");
        assert_eq!(abort(EC_DABT_CUR, 0x80 | 0x07), "Data Abort (translation fault, level 3, read)");
    }

    #[test]
    fn kinds_follow_the_exception_class() {
        assert_eq!(exception_kind(0, 0x0200_0000), ExceptionKind::UndefinedInstruction);
        assert_eq!(exception_kind(0x25, 0x9600_0007), ExceptionKind::PageFault);
        assert_eq!(exception_kind(0x25, 0x9600_004f), ExceptionKind::PageFault);
        assert_eq!(exception_kind(0x25, 0x9600_0021), ExceptionKind::Other, "alignment fault");
        assert_eq!(exception_kind(0x21, 0x8600_0007), ExceptionKind::InstructionFault);
        assert_eq!(exception_kind(0x3c, 0xf200_0000), ExceptionKind::Other);
    }

    #[test]
    fn page_faults_are_exactly_the_mmu_fault_statuses() {
        // FSC 0b0001xx..=0b0011xx: translation, access flag, permission; either Data Abort class.
        for ec in [EC_DABT_LOW, EC_DABT_CUR] {
            for fsc in 0..0x40 {
                let expected =
                    if (0x04..=0x0f).contains(&fsc) { ExceptionKind::PageFault } else { ExceptionKind::Other };
                assert_eq!(exception_kind(ec, fsc), expected, "EC {ec:#x} FSC {fsc:#x}");
            }
            assert_eq!(exception_kind(ec, 0x44), ExceptionKind::PageFault, "WnR does not matter");
            assert_eq!(exception_kind(ec, 0x80 | 0x30), ExceptionKind::Other, "only bits 5:0 are the FSC");
        }
        for ec in [EC_IABT_LOW, EC_IABT_CUR] {
            assert_eq!(exception_kind(ec, 0x30), ExceptionKind::InstructionFault, "any fault status");
        }
        for ec in [0x01, 0x22, 0x23, 0x26, VECTOR_IRQ] {
            assert_eq!(exception_kind(ec, 0x07), ExceptionKind::Other, "EC {ec:#x}");
        }
    }

    #[test]
    fn the_class_is_the_top_six_bits() {
        assert_eq!(esr_class(0x9600_0007), EC_DABT_CUR);
        assert_eq!(esr_class(0x0400_0000), 1);
        assert_eq!(esr_class(0x03ff_ffff), 0);
    }

    #[test]
    fn a_handler_fault_names_syndrome_address_and_pc() {
        assert_eq!(
            handler_fault(0x9600_0046, 0x1_0040, 0xdead_0000),
            "it took Data Abort (translation fault, level 2, write) (ESR 0x96000046) at 0x10040, \
             FAR 0xdead0000, and gave up with PSCI SYSTEM_OFF"
        );
    }

    #[test]
    fn stuck_only_on_a_fetch_of_its_own_vector() {
        const VBAR: u64 = 0x1_0000;
        const IABT: u64 = (EC_IABT_CUR << ESR_EC_SHIFT) | 0x07;
        let stuck = |esr, far, pc| stuck_on_vector_fetch(VBAR, esr, far, pc);
        assert_eq!(
            stuck(IABT, VBAR, VBAR).as_deref(),
            Some(
                "it keeps taking an exception whose vector it cannot fetch: Instruction Abort \
                 (translation fault, level 3) at 0x10000, VBAR_EL1 0x10000 is not executable guest memory"
            ),
            "the first byte of the table"
        );
        let last = VBAR + VECTOR_TABLE_SIZE - 4;
        assert!(stuck(IABT, last, last).is_some(), "the last slot of the table");
        let past = VBAR + VECTOR_TABLE_SIZE;
        assert_eq!(stuck(IABT, past, past), None, "just past the table");
        assert_eq!(stuck(IABT, VBAR - 4, VBAR - 4), None, "just before the table");
        assert_eq!(stuck(IABT, VBAR + 4, VBAR), None, "a fault elsewhere");
        assert_eq!(stuck((EC_IABT_LOW << ESR_EC_SHIFT) | 0x07, VBAR, VBAR), None, "from a lower EL");
        assert_eq!(stuck((EC_DABT_CUR << ESR_EC_SHIFT) | 0x07, VBAR, VBAR), None, "a data abort");
    }
}
