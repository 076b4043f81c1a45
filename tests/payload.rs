//! payload: a payload file is untrusted input. Each row corrupts the real
//! `ucall` payload (or builds a bad code payload) one way, and `Vm::build`
//! must refuse it with the `PayloadError` that names the problem — before a
//! byte reaches guest memory. Named `payload::<case>`. The five cases of
//! tests/selftest.rs (`corrupt_payload_rejected`) are not repeated here.

use kvmtest::layout::Layout;
use kvmtest::{bail, ensure, runner, Error, Payload, PayloadError, Vm};
use kvmtest_tests::payloads;

/// Offsets in an ELF64 header (`Elf64_Ehdr`).
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const E_TYPE: usize = 16;
const E_ENTRY: usize = 24;
const E_PHOFF: usize = 32;
const E_SHOFF: usize = 40;
const E_PHENTSIZE: usize = 54;
const E_PHNUM: usize = 56;
/// Offsets in an ELF64 program header (`Elf64_Phdr`).
const P_TYPE: usize = 0;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_MEMSZ: usize = 40;
const PHDR_SIZE: usize = 56;
const ELFCLASS32: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PT_NULL: u32 = 0;

const MIB: u64 = 1 << 20;
/// The smallest VM: a 2 MiB payload region.
const SMALL: u64 = 4 * MIB;
const DEFAULT: u64 = kvmtest::vm::DEFAULT_MEM_SIZE;

/// The `ucall` payload with `edit` applied.
fn ucall_elf(edit: impl FnOnce(&mut Elf)) -> Payload {
    let mut elf = Elf(payloads::UCALL.to_vec());
    edit(&mut elf);
    Payload::elf(elf.0)
}

struct Elf(Vec<u8>);

impl Elf {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().unwrap_or_default())
    }
    /// File offset of field `field` of program header `i`.
    fn phdr(&self, i: usize, field: usize) -> usize {
        self.u64_at(E_PHOFF) as usize + i * PHDR_SIZE + field
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap_or_default())
    }
    /// Indexes of the PT_LOAD program headers.
    fn loads(&self) -> Vec<usize> {
        let count = u16::from_le_bytes([self.0[E_PHNUM], self.0[E_PHNUM + 1]]) as usize;
        (0..count).filter(|&i| self.u32_at(self.phdr(i, P_TYPE)) == PT_LOAD).collect()
    }
    /// Index, address and size of the n-th PT_LOAD segment.
    fn load(&self, n: usize) -> (usize, u64, u64) {
        let i = self.loads()[n];
        (i, self.u64_at(self.phdr(i, P_VADDR)), self.u64_at(self.phdr(i, P_MEMSZ)))
    }
    /// Moves the first PT_LOAD (the one holding the entry point) and the entry with it.
    fn move_first_segment(&mut self, to: u64) {
        let (i, vaddr, _) = self.load(0);
        let entry = self.u64_at(E_ENTRY);
        let at = self.phdr(i, P_VADDR);
        self.put(at, &to.to_le_bytes());
        self.put(E_ENTRY, &(entry - vaddr + to).to_le_bytes());
    }
}

struct Case {
    name: &'static str,
    mem_size: u64,
    payload: fn(&Layout) -> Payload,
    /// The variant expected.
    is: fn(&PayloadError) -> bool,
    /// What its message must say.
    says: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "elf32",
        mem_size: DEFAULT,
        payload: |_| ucall_elf(|e| e.put(EI_CLASS, &[ELFCLASS32])),
        is: |e| matches!(e, PayloadError::NotElf64),
        says: "not 64-bit little-endian",
    },
    Case {
        name: "big_endian",
        mem_size: DEFAULT,
        payload: |_| ucall_elf(|e| e.put(EI_DATA, &[ELFDATA2MSB])),
        is: |e| matches!(e, PayloadError::NotElf64),
        says: "not 64-bit little-endian",
    },
    Case {
        name: "shared_object",
        mem_size: DEFAULT,
        payload: |_| ucall_elf(|e| e.put(E_TYPE, &ET_DYN.to_le_bytes())),
        is: |e| matches!(e, PayloadError::NotExecutable(ET_DYN)),
        says: "ELF type 3 is not an executable (ET_EXEC)",
    },
    Case {
        name: "program_headers_past_the_file",
        mem_size: DEFAULT,
        payload: |_| ucall_elf(|e| e.put(E_PHNUM, &u16::MAX.to_le_bytes())),
        is: |e| matches!(e, PayloadError::Malformed(_)),
        says: "(65535 x 56 bytes) lies outside the",
    },
    Case {
        name: "wrong_program_header_size",
        mem_size: DEFAULT,
        payload: |_| ucall_elf(|e| e.put(E_PHENTSIZE, &32u16.to_le_bytes())),
        is: |e| matches!(e, PayloadError::Malformed(_)),
        says: "e_phentsize is 32, an ELF64 program header is 56 bytes",
    },
    Case {
        name: "truncated_inside_a_segment",
        mem_size: DEFAULT,
        payload: |_| {
            ucall_elf(|e| {
                let (i, _, _) = e.load(0);
                let data = e.u64_at(e.phdr(i, P_OFFSET)) as usize;
                e.0.truncate(data + 16);
            })
        },
        is: |e| matches!(e, PayloadError::FileRangeOutOfBounds { .. }),
        says: "lies outside the",
    },
    Case {
        name: "filesz_larger_than_memsz",
        mem_size: DEFAULT,
        payload: |_| {
            ucall_elf(|e| {
                let (i, _, _) = e.load(0);
                let at = e.phdr(i, P_MEMSZ);
                e.put(at, &1u64.to_le_bytes());
            })
        },
        is: |e| matches!(e, PayloadError::FileszExceedsMemsz { memsz: 1, .. }),
        says: "is larger than p_memsz 0x1",
    },
    Case {
        name: "segment_over_ucall_slots",
        mem_size: DEFAULT,
        payload: |l| ucall_elf(|e| e.move_first_segment(l.ucall_slots)),
        is: |e| matches!(e, PayloadError::SegmentOutsideRegion { .. }),
        says: "overlaps the harness's own memory",
    },
    Case {
        name: "segment_over_firmware",
        mem_size: DEFAULT,
        payload: |l| ucall_elf(|e| e.move_first_segment(l.firmware.start)),
        is: |e| matches!(e, PayloadError::SegmentOutsideRegion { .. }),
        says: "overlaps the harness's own memory",
    },
    Case {
        name: "segment_straddles_end_of_ram",
        mem_size: SMALL,
        payload: |l| ucall_elf(|e| e.move_first_segment(l.mem_size - 0x800)),
        is: |e| matches!(e, PayloadError::SegmentOutsideRegion { .. }),
        says: "beyond guest memory",
    },
    Case {
        name: "segment_in_mmio_window",
        mem_size: DEFAULT,
        payload: |l| ucall_elf(|e| e.move_first_segment(l.mmio.ucall)),
        is: |e| matches!(e, PayloadError::SegmentOutsideRegion { .. }),
        says: "beyond guest memory",
    },
    Case {
        name: "segments_overlap",
        mem_size: DEFAULT,
        payload: |_| {
            ucall_elf(|e| {
                let (_, first, _) = e.load(0);
                let (i, _, _) = e.load(1);
                let at = e.phdr(i, P_VADDR);
                e.put(at, &(first + 0x10).to_le_bytes());
            })
        },
        is: |e| matches!(e, PayloadError::SegmentsOverlap { first: 0, .. }),
        says: "segments 0 and",
    },
    Case {
        name: "entry_between_segments",
        mem_size: DEFAULT,
        payload: |_| {
            ucall_elf(|e| {
                let (_, vaddr, memsz) = e.load(0);
                e.put(E_ENTRY, &(vaddr + memsz).to_le_bytes());
            })
        },
        is: |e| matches!(e, PayloadError::EntryOutsideSegments { .. }),
        says: "is not inside any loaded segment",
    },
    Case {
        name: "entry_in_null_page",
        mem_size: DEFAULT,
        payload: |_| ucall_elf(|e| e.put(E_ENTRY, &0x10u64.to_le_bytes())),
        is: |e| matches!(e, PayloadError::EntryOutsideSegments { entry: 0x10 }),
        says: "entry point 0x10 is not inside any loaded segment",
    },
    Case {
        name: "no_loadable_segment",
        mem_size: DEFAULT,
        payload: |_| {
            ucall_elf(|e| {
                for i in e.loads() {
                    let at = e.phdr(i, P_TYPE);
                    e.put(at, &PT_NULL.to_le_bytes());
                }
            })
        },
        is: |e| matches!(e, PayloadError::NoLoadableSegments),
        says: "ELF has no PT_LOAD segment",
    },
    Case {
        name: "empty_code",
        mem_size: DEFAULT,
        payload: |_| Payload::code(Vec::new()),
        is: |e| matches!(e, PayloadError::Empty),
        says: "the payload is empty",
    },
    Case {
        name: "code_larger_than_region",
        mem_size: SMALL,
        payload: |l| Payload::code(vec![0xf4; (l.payload.end - l.payload.start) as usize + 1]),
        is: |e| matches!(e, PayloadError::TooLarge { .. }),
        says: "payload does not fit the payload region",
    },
];

fn check(case: &Case) -> kvmtest::Result<()> {
    let layout = Layout::of_host(case.mem_size)?;
    let name = case.name;
    match Vm::builder().mem_size(case.mem_size).payload((case.payload)(&layout)).build() {
        Err(Error::Payload(e)) => {
            let text = Error::Payload(e.clone()).to_string();
            ensure!((case.is)(&e), "{name}: wrong error: {text}");
            ensure!(text.contains(case.says), "{name}: reported {text:?}, expected it to say {:?}", case.says);
            Ok(())
        }
        Err(e) => Err(e),
        Ok(_) => bail!("{name}: the payload was accepted"),
    }
}

/// The loader reads program headers only: garbage where the section headers
/// should be does not stop a payload from loading and running.
fn section_headers_ignored() -> kvmtest::Result<()> {
    const DONE: u64 = 3;
    let payload = ucall_elf(|e| e.put(E_SHOFF, &u64::MAX.to_le_bytes()));
    let mut vm = Vm::builder().payload(payload).arg(0, DONE).build()?;
    vm.vcpu(0).expect_done()
}

fn main() -> std::process::ExitCode {
    let mut trials: Vec<_> =
        CASES.iter().map(|case| runner::test(format!("payload::{}", case.name), move || check(case))).collect();
    trials.push(runner::test("payload::section_headers_ignored", section_headers_ignored));
    runner::main(trials)
}
