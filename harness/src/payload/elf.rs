//! Loading a payload from its ELF with goblin. Nothing in the file is
//! trusted: every PT_LOAD segment's file range is checked against the file
//! and its memory range against the payload region before a byte is copied.

use std::ops::Range;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::{header, program_header::PT_LOAD, Elf, Header, ProgramHeader};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Why a payload could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the payload is empty (0 bytes)")]
    /// No bytes at all.
    Empty,
    #[error("not a valid ELF file: {0}")]
    /// goblin could not parse the file (its message).
    Malformed(String),
    #[error("ELF is not 64-bit little-endian")]
    /// A 32-bit or big-endian ELF.
    NotElf64,
    #[error("ELF is for machine {found} ({found_name}), this VM runs machine {expected} ({expected_name})")]
    /// An ELF for another machine than the VM's.
    WrongMachine {
        /// The VM's `e_machine`.
        expected: u16,
        /// Its name.
        expected_name: &'static str,
        /// The file's `e_machine`.
        found: u16,
        /// Its name.
        found_name: &'static str,
    },
    #[error("ELF type {0} is not an executable (ET_EXEC); build payloads with relocation-model=static")]
    /// Not ET_EXEC (the `e_type` found): a relocatable or shared object.
    NotExecutable(u16),
    #[error("ELF has no PT_LOAD segment")]
    /// Nothing to load.
    NoLoadableSegments,
    #[error("segment {index}: file range {offset:#x}+{filesz:#x} lies outside the {file_len}-byte file")]
    /// A segment's file bytes lie past the end of the file.
    FileRangeOutOfBounds {
        /// Index of the segment among the program headers.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
        /// Bytes in the file.
        file_len: usize,
    },
    #[error("segment {index}: p_filesz {filesz:#x} is larger than p_memsz {memsz:#x}")]
    /// A segment with more file bytes than memory bytes.
    FileszExceedsMemsz {
        /// Index of the segment among the program headers.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    #[error(
        "segment {index}: [{start:#x}, {start:#x}+{memsz:#x}) is outside the payload region [{:#x}, {:#x}){}",
        region.start, region.end,
        if *start < region.start { " (it overlaps the harness's own memory: tables, firmware, ucall slots, stacks)" } else { " (beyond guest memory)" }
    )]
    /// A segment outside the payload region.
    SegmentOutsideRegion {
        /// Index of the segment among the program headers.
        index: usize,
        /// `p_vaddr`.
        start: u64,
        /// `p_memsz`.
        memsz: u64,
        /// The payload region.
        region: Range<u64>,
    },
    #[error("segments {first} and {second} overlap")]
    /// Two segments share memory.
    SegmentsOverlap {
        /// Index of one segment.
        first: usize,
        /// Index of the other.
        second: usize,
    },
    #[error("entry point {entry:#x} is not inside any loaded segment")]
    /// The entry point is in no loaded segment.
    EntryOutsideSegments {
        /// `e_entry`.
        entry: u64,
    },
    #[error("{size:#x}-byte payload does not fit the payload region [{:#x}, {:#x})", region.start, region.end)]
    /// Raw code larger than the payload region.
    TooLarge {
        /// Bytes of code.
        size: u64,
        /// The payload region.
        region: Range<u64>,
    },
    #[error("writing guest memory: {0}")]
    /// vm-memory refused a write (its message).
    GuestMemory(String),
}

fn machine_name(m: u16) -> &'static str {
    match m {
        header::EM_X86_64 => "x86_64",
        header::EM_AARCH64 => "aarch64",
        header::EM_386 => "i386",
        header::EM_RISCV => "riscv",
        header::EM_ARM => "arm",
        _ => "unknown",
    }
}

/// A PT_LOAD segment after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Guest physical address of the segment.
    pub addr: u64,
    /// Bytes of guest memory it occupies (past the file bytes: .bss, zero).
    pub memsz: u64,
    /// Its bytes in the file.
    pub file: Range<usize>,
}

/// Size of an ELF64 program header (`sizeof(Elf64_Phdr)`).
const ELF64_PHDR_SIZE: u64 = goblin::elf64::program_header::SIZEOF_PHDR as u64;

/// The ELF header and program headers: all the loader needs. Section headers,
/// symbols and dynamic tables are never parsed, so a hostile file has as
/// little parser to attack as possible.
fn read_headers(bytes: &[u8]) -> Result<(Header, Vec<ProgramHeader>), PayloadError> {
    let malformed = |e: goblin::error::Error| PayloadError::Malformed(e.to_string());
    let header = Elf::parse_header(bytes).map_err(malformed)?;
    if header.e_ident[header::EI_CLASS] != header::ELFCLASS64 || header.e_ident[header::EI_DATA] != header::ELFDATA2LSB
    {
        return Err(PayloadError::NotElf64);
    }
    if u64::from(header.e_phentsize) != ELF64_PHDR_SIZE {
        return Err(PayloadError::Malformed(format!(
            "e_phentsize is {}, an ELF64 program header is {ELF64_PHDR_SIZE} bytes",
            header.e_phentsize
        )));
    }
    let table_end = u64::from(header.e_phnum).checked_mul(ELF64_PHDR_SIZE).and_then(|n| n.checked_add(header.e_phoff));
    if table_end.is_none_or(|e| e > bytes.len() as u64) {
        return Err(PayloadError::Malformed(format!(
            "program header table at {:#x} ({} x {ELF64_PHDR_SIZE} bytes) lies outside the {}-byte file",
            header.e_phoff,
            header.e_phnum,
            bytes.len()
        )));
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs =
        ProgramHeader::parse(bytes, header.e_phoff as usize, usize::from(header.e_phnum), ctx).map_err(malformed)?;
    Ok((header, phdrs))
}

/// Validates `bytes` as a payload for `machine` to be loaded into `region`.
/// Returns the segments and the entry point; touches no guest memory.
pub fn parse(bytes: &[u8], region: &Range<u64>, machine: u16) -> Result<(Vec<Segment>, u64), PayloadError> {
    if bytes.is_empty() {
        return Err(PayloadError::Empty);
    }
    // goblin is third-party code fed untrusted bytes: should it ever panic,
    // the payload is reported as malformed and the host process carries on.
    let (header, program_headers) = std::panic::catch_unwind(|| read_headers(bytes))
        .map_err(|_| PayloadError::Malformed("the ELF parser panicked on this file".into()))??;
    if header.e_machine != machine {
        return Err(PayloadError::WrongMachine {
            expected: machine,
            expected_name: machine_name(machine),
            found: header.e_machine,
            found_name: machine_name(header.e_machine),
        });
    }
    if header.e_type != header::ET_EXEC {
        return Err(PayloadError::NotExecutable(header.e_type));
    }
    let mut segments: Vec<Segment> = Vec::new();
    // Program header index of each segment, for error messages.
    let mut indexes: Vec<usize> = Vec::new();
    for (index, ph) in program_headers.iter().enumerate().filter(|(_, p)| p.p_type == PT_LOAD) {
        if ph.p_memsz == 0 {
            continue;
        }
        let file_end = ph.p_offset.checked_add(ph.p_filesz);
        if file_end.is_none_or(|e| e > bytes.len() as u64) {
            return Err(PayloadError::FileRangeOutOfBounds {
                index,
                offset: ph.p_offset,
                filesz: ph.p_filesz,
                file_len: bytes.len(),
            });
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(PayloadError::FileszExceedsMemsz { index, filesz: ph.p_filesz, memsz: ph.p_memsz });
        }
        let end = ph.p_vaddr.checked_add(ph.p_memsz);
        if ph.p_vaddr < region.start || end.is_none_or(|e| e > region.end) {
            return Err(PayloadError::SegmentOutsideRegion {
                index,
                start: ph.p_vaddr,
                memsz: ph.p_memsz,
                region: region.clone(),
            });
        }
        let seg = Segment {
            addr: ph.p_vaddr,
            memsz: ph.p_memsz,
            file: ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize,
        };
        if let Some(i) = segments.iter().position(|s| s.addr < seg.addr + seg.memsz && seg.addr < s.addr + s.memsz) {
            return Err(PayloadError::SegmentsOverlap { first: indexes[i], second: index });
        }
        segments.push(seg);
        indexes.push(index);
    }
    if segments.is_empty() {
        return Err(PayloadError::NoLoadableSegments);
    }
    let entry = header.e_entry;
    if !segments.iter().any(|s| entry >= s.addr && entry < s.addr + s.memsz) {
        return Err(PayloadError::EntryOutsideSegments { entry });
    }
    Ok((segments, entry))
}

/// Loads an ELF payload into guest memory; returns its entry point.
pub fn load(bytes: &[u8], mem: &GuestMemoryMmap, region: Range<u64>, machine: u16) -> Result<u64, PayloadError> {
    let (segments, entry) = parse(bytes, &region, machine)?;
    for s in &segments {
        let data = &bytes[s.file.clone()];
        mem.write_slice(data, GuestAddress(s.addr)).map_err(|e| PayloadError::GuestMemory(e.to_string()))?;
        // Fresh guest memory is already zero, so .bss needs no writes (and no
        // resident pages) unless the region was used before.
    }
    Ok(entry)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const REGION: Range<u64> = 0x20_0000..0x400_0000;

    /// A minimal ELF64 executable with the given PT_LOAD segments
    /// (vaddr, offset, filesz, memsz) and code bytes after the headers.
    pub fn tiny_elf(machine: u16, e_type: u16, entry: u64, segs: &[(u64, u64, u64, u64)]) -> Vec<u8> {
        let phoff = 64u64;
        let mut b = vec![0u8; 64 + 56 * segs.len()];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little-endian
        b[6] = 1;
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&entry.to_le_bytes());
        b[32..40].copy_from_slice(&phoff.to_le_bytes());
        b[52..54].copy_from_slice(&64u16.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, (vaddr, off, filesz, memsz)) in segs.iter().enumerate() {
            let p = 64 + 56 * i;
            b[p..p + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[p + 4..p + 8].copy_from_slice(&5u32.to_le_bytes());
            b[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            b[p + 16..p + 24].copy_from_slice(&vaddr.to_le_bytes());
            b[p + 24..p + 32].copy_from_slice(&vaddr.to_le_bytes());
            b[p + 32..p + 40].copy_from_slice(&filesz.to_le_bytes());
            b[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
            b[p + 48..p + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        }
        b.resize(b.len() + 0x100, 0xf4);
        b
    }

    fn parse_x86(b: &[u8]) -> Result<(Vec<Segment>, u64), PayloadError> {
        parse(b, &REGION, header::EM_X86_64)
    }

    #[test]
    fn accepts_a_good_executable() {
        let b = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x10, 0x2000)]);
        let (segs, entry) = parse_x86(&b).unwrap();
        assert_eq!(entry, 0x20_0000);
        assert_eq!(segs, vec![Segment { addr: 0x20_0000, memsz: 0x2000, file: 0x100..0x110 }]);
    }

    #[test]
    fn rejects_each_malformation_by_name() {
        let ok_seg = [(0x20_0000, 0x100, 0x10, 0x10)];
        assert_eq!(parse_x86(&[]), Err(PayloadError::Empty));
        assert!(matches!(parse_x86(b"\x7fELF\x02\x01"), Err(PayloadError::Malformed(_))));
        assert!(matches!(
            parse_x86(b"MZ not an elf at all, just bytes...................................."),
            Err(PayloadError::Malformed(_))
        ));
        let arm = tiny_elf(header::EM_AARCH64, header::ET_EXEC, 0x20_0000, &ok_seg);
        assert!(matches!(parse_x86(&arm), Err(PayloadError::WrongMachine { found: header::EM_AARCH64, .. })));
        let dynamic = tiny_elf(header::EM_X86_64, header::ET_DYN, 0x20_0000, &ok_seg);
        assert_eq!(parse_x86(&dynamic), Err(PayloadError::NotExecutable(header::ET_DYN)));
        let none = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[]);
        assert_eq!(parse_x86(&none), Err(PayloadError::NoLoadableSegments));
        let past_file =
            tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x10_0000, 0x10_0000)]);
        assert!(matches!(parse_x86(&past_file), Err(PayloadError::FileRangeOutOfBounds { index: 0, .. })));
        let wrap = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, u64::MAX, 0x10, 0x10)]);
        assert!(matches!(parse_x86(&wrap), Err(PayloadError::FileRangeOutOfBounds { .. })));
        let filesz = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x20, 0x10)]);
        assert!(matches!(parse_x86(&filesz), Err(PayloadError::FileszExceedsMemsz { .. })));
        let low = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x1000, &[(0x1000, 0x100, 0x10, 0x10)]);
        let e = parse_x86(&low).unwrap_err();
        assert!(e.to_string().contains("harness's own memory"), "{e}");
        let huge =
            tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x10, u64::MAX - 0x10)]);
        assert!(parse_x86(&huge).unwrap_err().to_string().contains("beyond guest memory"));
        let overlap = tiny_elf(
            header::EM_X86_64,
            header::ET_EXEC,
            0x20_0000,
            &[(0x20_0000, 0x100, 0x10, 0x2000), (0x20_1000, 0x100, 0x10, 0x10)],
        );
        assert_eq!(parse_x86(&overlap), Err(PayloadError::SegmentsOverlap { first: 0, second: 1 }));
        let after_empty = tiny_elf(
            header::EM_X86_64,
            header::ET_EXEC,
            0x20_0000,
            &[(0x20_0000, 0, 0, 0), (0x20_0000, 0x100, 0x10, 0x2000), (0x20_1000, 0x100, 0x10, 0x10)],
        );
        assert_eq!(
            parse_x86(&after_empty),
            Err(PayloadError::SegmentsOverlap { first: 1, second: 2 }),
            "program header indexes, not positions among the loaded segments"
        );
        let entry = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x30_0000, &ok_seg);
        assert_eq!(parse_x86(&entry), Err(PayloadError::EntryOutsideSegments { entry: 0x30_0000 }));
    }

    /// Header fields at their ELF64 offsets, for corrupting a good file.
    const EI_CLASS: usize = 4;
    const EI_DATA: usize = 5;
    const E_PHOFF: usize = 32;
    const E_PHENTSIZE: usize = 54;
    const E_PHNUM: usize = 56;

    fn good() -> Vec<u8> {
        tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x10, 0x10)])
    }

    #[test]
    fn rejects_broken_headers_by_name() {
        let with = |at: usize, bytes: &[u8]| {
            let mut b = good();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            parse_x86(&b)
        };
        assert_eq!(with(EI_CLASS, &[header::ELFCLASS32]), Err(PayloadError::NotElf64), "32-bit");
        assert_eq!(with(EI_DATA, &[header::ELFDATA2MSB]), Err(PayloadError::NotElf64), "big-endian");
        let e = with(EI_CLASS, &[7]).unwrap_err().to_string();
        assert!(e.starts_with("not a valid ELF file"), "unknown class: {e}");
        let e = with(E_PHENTSIZE, &32u16.to_le_bytes()).unwrap_err().to_string();
        assert!(e.contains("e_phentsize is 32"), "{e}");
        let e = with(E_PHNUM, &u16::MAX.to_le_bytes()).unwrap_err().to_string();
        assert!(e.contains("program header table at 0x40 (65535 x 56 bytes) lies outside"), "{e}");
        let e = with(E_PHOFF, &u64::MAX.to_le_bytes()).unwrap_err().to_string();
        assert!(e.contains("program header table at 0xffffffffffffffff"), "{e}");
    }

    #[test]
    fn section_headers_are_not_needed() {
        // The loader reads program headers only: garbage section header
        // fields (e_shoff, e_shnum, e_shstrndx) do not matter.
        let mut b = good();
        b[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        b[58..64].copy_from_slice(&[0xff; 6]);
        assert!(parse_x86(&b).is_ok());
    }

    #[test]
    fn segments_must_stay_inside_the_region() {
        let seg = |vaddr, memsz| {
            let b = tiny_elf(header::EM_X86_64, header::ET_EXEC, vaddr, &[(vaddr, 0x100, 0x10, memsz)]);
            parse_x86(&b).map_err(|e| e.to_string())
        };
        let e = seg(REGION.end - 0x1000, 0x2000).unwrap_err();
        assert!(e.contains("beyond guest memory"), "straddling the end: {e}");
        let e = seg(REGION.end, 0x10).unwrap_err();
        assert!(e.contains("beyond guest memory"), "just past the end: {e}");
        let e = seg(REGION.start - 0x1000, 0x2000).unwrap_err();
        assert!(e.contains("harness's own memory"), "straddling the start: {e}");
        assert!(seg(REGION.end - 0x10, 0x10).is_ok(), "the last bytes of the region are usable");
    }

    #[test]
    fn zero_sized_segments_load_nothing() {
        let only_empty = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0, 0)]);
        assert_eq!(parse_x86(&only_empty), Err(PayloadError::NoLoadableSegments));
        // An empty segment anywhere (even in harness memory) is ignored.
        let b = tiny_elf(
            header::EM_X86_64,
            header::ET_EXEC,
            0x20_0000,
            &[(0x1000, 0, 0, 0), (0x20_0000, 0x100, 0x10, 0x10)],
        );
        assert_eq!(parse_x86(&b).map(|(s, _)| s.len()), Ok(1));
    }

    #[test]
    fn entry_just_past_a_segment_is_rejected() {
        let b = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0010, &[(0x20_0000, 0x100, 0x10, 0x10)]);
        assert_eq!(parse_x86(&b), Err(PayloadError::EntryOutsideSegments { entry: 0x20_0010 }));
    }

    #[test]
    fn truncated_files_never_panic() {
        let b = tiny_elf(header::EM_X86_64, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x10, 0x10)]);
        for len in 0..b.len() {
            let _ = parse_x86(&b[..len]);
        }
    }

    fn exec(entry: u64, segs: &[(u64, u64, u64, u64)]) -> Vec<u8> {
        tiny_elf(header::EM_X86_64, header::ET_EXEC, entry, segs)
    }

    #[test]
    fn a_program_header_table_ending_at_the_end_of_the_file_is_read() {
        // The one program header moved to the last 56 bytes of the file.
        let mut b = exec(0x20_0000, &[(0x20_0000, 0, 0x10, 0x10)]);
        let phdr = b[64..120].to_vec();
        let at = b.len() as u64;
        b.extend_from_slice(&phdr);
        b[E_PHOFF..E_PHOFF + 8].copy_from_slice(&at.to_le_bytes());
        assert!(parse_x86(&b).is_ok(), "table ends exactly at the end of the file");
        let short = &b[..b.len() - 1];
        assert_eq!(
            parse_x86(short),
            Err(PayloadError::Malformed(format!(
                "program header table at {at:#x} (1 x 56 bytes) lies outside the {}-byte file",
                short.len()
            )))
        );
    }

    #[test]
    fn a_segment_ending_at_the_end_of_the_file_is_loaded() {
        let len = exec(0x20_0000, &[(0x20_0000, 0, 0, 0x10)]).len() as u64;
        let seg = |offset, filesz| parse_x86(&exec(0x20_0000, &[(0x20_0000, offset, filesz, 0x100)]));
        assert_eq!(seg(len - 0x10, 0x10).unwrap().0[0].file, (len - 0x10) as usize..len as usize);
        assert_eq!(seg(len, 0).unwrap().0[0].file, len as usize..len as usize, "empty, at the end");
        assert_eq!(
            seg(len - 0xf, 0x10),
            Err(PayloadError::FileRangeOutOfBounds {
                index: 0,
                offset: len - 0xf,
                filesz: 0x10,
                file_len: len as usize
            })
        );
        assert_eq!(
            seg(len + 1, 0).unwrap_err().to_string(),
            format!("segment 0: file range {:#x}+0x0 lies outside the {len}-byte file", len + 1)
        );
    }

    #[test]
    fn filesz_may_equal_memsz_but_not_exceed_it() {
        let seg = |filesz, memsz| parse_x86(&exec(0x20_0000, &[(0x20_0000, 0x100, filesz, memsz)]));
        assert!(seg(0x10, 0x10).is_ok());
        assert_eq!(seg(0x11, 0x10), Err(PayloadError::FileszExceedsMemsz { index: 0, filesz: 0x11, memsz: 0x10 }));
        assert_eq!(seg(0x11, 0x10).unwrap_err().to_string(), "segment 0: p_filesz 0x11 is larger than p_memsz 0x10");
    }

    #[test]
    fn a_segment_may_fill_the_region_exactly() {
        let seg = |vaddr: u64, memsz: u64| parse_x86(&exec(vaddr, &[(vaddr, 0x100, 0x10, memsz)]));
        let whole = REGION.end - REGION.start;
        assert!(seg(REGION.start, whole).is_ok(), "first to last byte of the region");
        assert!(seg(REGION.start, 0x10).is_ok(), "at the first byte");
        assert!(seg(REGION.end - 0x10, 0x10).is_ok(), "to the last byte");
        let outside = |start, memsz| Err(PayloadError::SegmentOutsideRegion { index: 0, start, memsz, region: REGION });
        assert_eq!(seg(REGION.start, whole + 1), outside(REGION.start, whole + 1), "one byte past the end");
        assert_eq!(seg(REGION.end - 0xf, 0x10), outside(REGION.end - 0xf, 0x10));
        assert_eq!(seg(REGION.start - 1, 0x10), outside(REGION.start - 1, 0x10), "one byte before the start");
        assert_eq!(
            seg(REGION.start - 1, 0x10).unwrap_err().to_string(),
            "segment 0: [0x1fffff, 0x1fffff+0x10) is outside the payload region [0x200000, 0x4000000) \
             (it overlaps the harness's own memory: tables, firmware, ucall slots, stacks)"
        );
        assert_eq!(
            seg(REGION.end - 0xf, 0x10).unwrap_err().to_string(),
            "segment 0: [0x3fffff1, 0x3fffff1+0x10) is outside the payload region [0x200000, 0x4000000) \
             (beyond guest memory)"
        );
    }

    #[test]
    fn touching_segments_load_overlapping_ones_do_not() {
        let two = |a: (u64, u64), b: (u64, u64)| {
            parse_x86(&exec(0x20_0000, &[(a.0, 0x100, 0x10, a.1), (b.0, 0x100, 0x10, b.1)])).map(|(s, _)| s.len())
        };
        let (lo, hi) = ((0x20_0000, 0x1000), (0x20_1000, 0x1000));
        assert_eq!(two(lo, hi), Ok(2), "the first ends where the second starts");
        assert_eq!(two(hi, lo), Ok(2), "the second ends where the first starts");
        let error = PayloadError::SegmentsOverlap { first: 0, second: 1 };
        assert_eq!(error.to_string(), "segments 0 and 1 overlap");
        let overlap = Err(error);
        assert_eq!(two((0x20_0000, 0x1001), hi), overlap, "one byte in common, first below");
        assert_eq!(two(hi, (0x20_0000, 0x1001)), overlap, "one byte in common, first above");
        assert_eq!(two(lo, lo), overlap, "the same range");
        assert_eq!(two((0x20_0000, 0x3000), hi), overlap, "one inside the other");
        assert_eq!(two(hi, (0x20_0000, 0x3000)), overlap, "the other inside the one");
    }

    #[test]
    fn the_entry_may_be_any_byte_of_a_segment() {
        let with_entry =
            |entry| parse_x86(&exec(entry, &[(0x20_0000, 0x100, 0x10, 0x20), (0x30_0000, 0x100, 0x10, 0x20)]));
        for entry in [0x20_0000, 0x20_001f, 0x30_0000, 0x30_001f] {
            assert_eq!(with_entry(entry).map(|(_, e)| e), Ok(entry), "{entry:#x}");
        }
        for entry in [0x1f_ffff, 0x20_0020, 0x2f_ffff, 0x30_0020] {
            assert_eq!(with_entry(entry), Err(PayloadError::EntryOutsideSegments { entry }), "{entry:#x}");
        }
        assert_eq!(
            with_entry(0x20_0020).unwrap_err().to_string(),
            "entry point 0x200020 is not inside any loaded segment"
        );
    }

    #[test]
    fn errors_name_both_machines() {
        for (machine, name) in [
            (header::EM_X86_64, "x86_64"),
            (header::EM_AARCH64, "aarch64"),
            (header::EM_386, "i386"),
            (header::EM_RISCV, "riscv"),
            (header::EM_ARM, "arm"),
            (0x1234, "unknown"),
        ] {
            assert_eq!(machine_name(machine), name);
        }
        let arm = tiny_elf(header::EM_ARM, header::ET_EXEC, 0x20_0000, &[(0x20_0000, 0x100, 0x10, 0x10)]);
        assert_eq!(
            parse(&arm, &REGION, header::EM_AARCH64).unwrap_err().to_string(),
            "ELF is for machine 40 (arm), this VM runs machine 183 (aarch64)"
        );
        let b = exec(0x20_0000, &[(0x20_0000, 0x100, 0x10, 0x10)]);
        assert!(parse(&b, &REGION, header::EM_X86_64).is_ok());
    }

    #[test]
    fn load_copies_the_file_bytes_and_leaves_the_rest_zero() {
        let mut b = exec(0x20_0000, &[(0x20_0000, 0x100, 0x4, 0x10)]);
        b[0x100..0x104].copy_from_slice(&[1, 2, 3, 4]);
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap();
        assert_eq!(load(&b, &mem, REGION, header::EM_X86_64), Ok(0x20_0000));
        let mut got = [0xffu8; 0x11];
        mem.read_slice(&mut got, GuestAddress(0x20_0000)).unwrap();
        assert_eq!(got[..5], [1, 2, 3, 4, 0]);
        // A region beyond the guest's memory: vm-memory refuses the write.
        let small = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
        assert!(matches!(load(&b, &small, REGION, header::EM_X86_64), Err(PayloadError::GuestMemory(_))));
    }
}
