//! x86_64: the name and kind of an exception vector the firmware's IDT
//! stubs reported (vector and error code, as pushed by the CPU).

use crate::error::ExceptionKind;

/// #UD, #GP and #PF: the vectors whose kind the harness tells apart.
pub const VECTOR_UD: u64 = 6;
/// `VECTOR_GP`.
pub const VECTOR_GP: u64 = 13;
/// `VECTOR_PF`.
pub const VECTOR_PF: u64 = 14;
/// #PF error code bit 4 (I/D): the fault was an instruction fetch.
pub const PF_INSTRUCTION_FETCH: u64 = 1 << 4;

/// Name of an x86 exception vector.
pub fn vector_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE",
        1 => "#DB",
        2 => "NMI",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        20 => "#VE",
        21 => "#CP",
        28 => "#HV",
        29 => "#VC",
        30 => "#SX",
        _ => "reserved vector",
    }
}

/// What an exception vector means; a #PF is an instruction fault when its
/// error code says the access was a fetch.
pub fn exception_kind(vector: u64, error_code: u64) -> ExceptionKind {
    match vector {
        VECTOR_UD => ExceptionKind::UndefinedInstruction,
        VECTOR_GP => ExceptionKind::GeneralProtection,
        VECTOR_PF if error_code & PF_INSTRUCTION_FETCH != 0 => ExceptionKind::InstructionFault,
        VECTOR_PF => ExceptionKind::PageFault,
        _ => ExceptionKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_architectural_vector_has_its_name() {
        let names = [
            "#DE",
            "#DB",
            "NMI",
            "#BP",
            "#OF",
            "#BR",
            "#UD",
            "#NM",
            "#DF",
            "reserved vector",
            "#TS",
            "#NP",
            "#SS",
            "#GP",
            "#PF",
            "reserved vector",
            "#MF",
            "#AC",
            "#MC",
            "#XM",
            "#VE",
            "#CP",
            "reserved vector",
            "reserved vector",
            "reserved vector",
            "reserved vector",
            "reserved vector",
            "reserved vector",
            "#HV",
            "#VC",
            "#SX",
            "reserved vector",
        ];
        for (vector, name) in names.iter().enumerate() {
            assert_eq!(vector_name(vector as u64), *name, "vector {vector}");
        }
        assert_eq!(vector_name(32), "reserved vector");
        assert_eq!(vector_name(u64::MAX), "reserved vector");
    }

    #[test]
    fn kinds_follow_the_vector_and_the_fetch_bit() {
        assert_eq!(exception_kind(6, 0), ExceptionKind::UndefinedInstruction);
        assert_eq!(exception_kind(13, 0), ExceptionKind::GeneralProtection);
        assert_eq!(exception_kind(14, 0x2), ExceptionKind::PageFault, "a write");
        assert_eq!(exception_kind(14, 0xf), ExceptionKind::PageFault, "every bit but I/D");
        assert_eq!(exception_kind(14, 0x10), ExceptionKind::InstructionFault, "I/D alone");
        assert_eq!(exception_kind(14, 0x11), ExceptionKind::InstructionFault);
        assert_eq!(exception_kind(0, 0x10), ExceptionKind::Other, "the fetch bit means nothing outside #PF");
        assert_eq!(exception_kind(5, 0), ExceptionKind::Other);
        assert_eq!(exception_kind(7, 0), ExceptionKind::Other);
        assert_eq!(exception_kind(12, 0), ExceptionKind::Other);
        assert_eq!(exception_kind(15, 0x10), ExceptionKind::Other);
    }
}
