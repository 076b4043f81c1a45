//! The `guest_print` payload's contract (upstream guest_print_test.c): boot
//! argument 0 picks a row of [`CASES`] the guest prints and asserts on, or
//! one of the text-limit modes; tests/guest_print.rs formats the same values
//! with the C library's snprintf and compares.

/// The value types and formats of guest_print_test.c's TYPE_LIST, then the
/// widths, paddings and flags kvmtest adds. Each prints "Got params a = F and
/// b = F" and asserts `a == b` with "Expected F, got F instead".
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintType {
    /// `%ld`, int64_t.
    I64 = 0,
    /// `%lu`, uint64_t.
    U64u = 1,
    /// `0x%lx`, uint64_t.
    U64x = 2,
    /// `0x%lX`, uint64_t.
    U64X = 3,
    /// `%u`, uint32_t.
    U32u = 4,
    /// `0x%x`, uint32_t.
    U32x = 5,
    /// `0x%X`, uint32_t.
    U32X = 6,
    /// `%d`, int.
    Int = 7,
    /// `%c`, char.
    Char = 8,
    /// `'%s'`, a string: a and b index [`STRINGS`].
    Str = 9,
    /// `%p`, a pointer.
    Ptr = 10,
    /// (kvmtest adds) `%8d`: right-aligned in a width.
    IntWidth = 11,
    /// (kvmtest adds) `%-8d|`: left-aligned in a width.
    IntLeft = 12,
    /// (kvmtest adds) `%08d`: zero-padded, sign first.
    IntZeroPad = 13,
    /// (kvmtest adds) `%+d`: sign always.
    IntPlus = 14,
    /// (kvmtest adds) `%#lx`: alternate form (values are non-zero: C omits the 0x of 0).
    U64AltHex = 15,
    /// (kvmtest adds) `%#018lx`: alternate form zero-padded to 18 (prefix counted).
    U64AltHexPad = 16,
    /// (kvmtest adds) `%lo`: octal.
    U64Octal = 17,
    /// (kvmtest adds) `%8s|`: a string right-aligned in a width.
    StrWidth = 18,
    /// (kvmtest adds) `%-8s|`: a string left-aligned in a width.
    StrLeft = 19,
    /// (kvmtest adds) `%.2s`: a string cut to a precision.
    StrPrecision = 20,
}

/// One call of the C test's `test_type_<T>(vcpu, a, b)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintCase {
    /// The type and format.
    pub ty: PrintType,
    /// The first value (for strings, an index into [`STRINGS`]).
    pub a: u64,
    /// The second value; the guest's assertion fails when it differs from `a`.
    pub b: u64,
}

const fn case(ty: PrintType, a: u64, b: u64) -> PrintCase {
    PrintCase { ty, a, b }
}

/// The strings of the `Str*` rows.
pub const STRINGS: &[&str] = &["foo", "bar"];

/// Values as the C test passes them: `-1` as int64_t/int sign-extends.
const M1: u64 = -1i64 as u64;

/// main() of guest_print_test.c, in order, then kvmtest's rows.
pub const CASES: &[PrintCase] = &[
    case(PrintType::I64, M1, M1),
    case(PrintType::I64, M1, 1),
    case(PrintType::I64, 0x1234567890abcdef, 0x1234567890abcdef),
    case(PrintType::I64, 0x1234567890abcdef, 0x1234567890abcdee),
    case(PrintType::U64u, 0x1234567890abcdef, 0x1234567890abcdef),
    case(PrintType::U64u, 0x1234567890abcdef, 0x1234567890abcdee),
    case(PrintType::U64x, 0x1234567890abcdef, 0x1234567890abcdef),
    case(PrintType::U64x, 0x1234567890abcdef, 0x1234567890abcdee),
    case(PrintType::U64X, 0x1234567890abcdef, 0x1234567890abcdef),
    case(PrintType::U64X, 0x1234567890abcdef, 0x1234567890abcdee),
    case(PrintType::U32u, 0x90abcdef, 0x90abcdef),
    case(PrintType::U32u, 0x90abcdef, 0x90abcdee),
    case(PrintType::U32x, 0x90abcdef, 0x90abcdef),
    case(PrintType::U32x, 0x90abcdef, 0x90abcdee),
    case(PrintType::U32X, 0x90abcdef, 0x90abcdef),
    case(PrintType::U32X, 0x90abcdef, 0x90abcdee),
    case(PrintType::Int, M1, M1),
    case(PrintType::Int, M1, 1),
    case(PrintType::Int, 1, 1),
    case(PrintType::Char, b'a' as u64, b'a' as u64),
    case(PrintType::Char, b'a' as u64, b'A' as u64),
    case(PrintType::Char, b'a' as u64, b'b' as u64),
    case(PrintType::Str, 0, 0),
    case(PrintType::Str, 0, 1),
    case(PrintType::Ptr, 0x1234567890abcdef, 0x1234567890abcdef),
    case(PrintType::Ptr, 0x1234567890abcdef, 0x1234567890abcdee),
    // kvmtest adds: widths, padding and flags.
    case(PrintType::IntWidth, -42i64 as u64, 42),
    case(PrintType::IntLeft, -42i64 as u64, 42),
    case(PrintType::IntZeroPad, -42i64 as u64, 42),
    case(PrintType::IntPlus, 42, -42i64 as u64),
    case(PrintType::U64AltHex, 0xabc, 0xabc),
    case(PrintType::U64AltHexPad, 0xabc, 0x1234567890abcdef),
    case(PrintType::U64Octal, 0o755, u64::MAX),
    case(PrintType::StrWidth, 0, 1),
    case(PrintType::StrLeft, 0, 1),
    case(PrintType::StrPrecision, 0, 1),
];

/// Boot argument 0 values past [`CASES`]: the text-limit guests.
/// PRINTF of exactly UCALL_TEXT_MAX `'a'`s.
pub const MODE_TEXT_EXACT_MAX: u64 = 1000;
/// PRINTF of UCALL_TEXT_MAX + [`OVER_MAX_EXTRA`] `'a'`s (guest_code_limits).
pub const MODE_TEXT_OVER_MAX: u64 = 1001;
/// A failed assertion whose message is UCALL_TEXT_MAX + [`OVER_MAX_EXTRA`] `'a'`s.
pub const MODE_ABORT_OVER_MAX: u64 = 1002;
/// How far the over-long texts go past the limit (`UCALL_BUFFER_LEN + 10`).
pub const OVER_MAX_EXTRA: usize = 10;
