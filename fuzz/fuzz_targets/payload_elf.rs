//! The payload ELF loader over arbitrary files. It must answer Ok or a
//! `PayloadError`, never panic, and whatever it accepts must load inside the
//! payload region exactly as its program headers say.
#![no_main]

use std::sync::OnceLock;

use kvmtest::arch::{Arch, HostArch};
use kvmtest::payload::elf;
use libfuzzer_sys::fuzz_target;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// The smallest VM: its payload region is 2 MiB.
const MEM_SIZE: u64 = 4 << 20;

fn memory() -> &'static GuestMemoryMmap {
    static MEM: OnceLock<GuestMemoryMmap> = OnceLock::new();
    MEM.get_or_init(|| GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE as usize)]).expect("4 MiB of memory"))
}

fuzz_target!(|data: &[u8]| {
    let region = HostArch::layout(MEM_SIZE).expect("the minimal layout").payload;
    let (segments, entry) = match elf::parse(data, &region, HostArch::ELF_MACHINE) {
        Ok(ok) => ok,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    for (i, s) in segments.iter().enumerate() {
        let end = s.addr.checked_add(s.memsz).expect("segment end overflows");
        assert!(region.start <= s.addr && end <= region.end, "segment {i} {s:x?} outside {region:x?}");
        assert!(s.file.end <= data.len() && s.file.len() as u64 <= s.memsz, "segment {i} {s:x?} file range");
        for t in &segments[..i] {
            assert!(end <= t.addr || t.addr + t.memsz <= s.addr, "segments {t:x?} and {s:x?} overlap");
        }
    }
    assert!(segments.iter().any(|s| (s.addr..s.addr + s.memsz).contains(&entry)), "entry {entry:#x} outside");

    let mem = memory();
    let loaded = elf::load(data, mem, region.clone(), HostArch::ELF_MACHINE).expect("parse accepted it");
    assert_eq!(loaded, entry);
    for s in &segments {
        let mut back = vec![0u8; s.file.len()];
        mem.read_slice(&mut back, GuestAddress(s.addr)).expect("inside guest memory");
        assert!(back == data[s.file.clone()], "segment at {:#x} not copied intact", s.addr);
    }
});
