//! The ucall layer: how a guest's SYNC / DONE / ABORT / PRINTF reaches the host.
//!
//! A transport (one file each: `pio.rs`, `mmio.rs`, `halt.rs`, `shared.rs`, `hvc.rs`)
//! says three things: what the guest's doorbell does, where each vCPU builds
//! its message, and which exit is its doorbell. The message format is the one
//! in `kvmtest_abi`, read here with bounds checks; nothing the guest wrote is
//! trusted. Decoding a SYNC copies 72 bytes and allocates nothing.

mod halt;
mod hvc;
mod mmio;
mod pio;
mod shared;

pub use self::hvc::UCALL_HVC_FUNC_ID;
pub use self::pio::UCALL_PIO_PORT;
pub use crate::transport::{Doorbell, MessageAt, RawUcall, TransportKind};

use std::fmt;

use kvm_ioctls::VcpuExit;
use kvmtest_abi::{
    ExceptionArgs, UcallCmd, UcallHeader, UCALL_HEADER_SIZE, UCALL_MAGIC, UCALL_MAX_ARGS, UCALL_TEXT_MAX,
};
use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::error::GuestAssert;
use crate::layout::Layout;
use crate::{Error, Result};

impl TransportKind {
    /// The transports this host's arch implements.
    pub fn all() -> &'static [TransportKind] {
        <crate::arch::HostArch as crate::arch::Arch>::TRANSPORTS
    }

    pub(crate) fn instantiate(self, layout: &Layout) -> Result<Box<dyn Transport>> {
        if !Self::all().contains(&self) {
            return Err(Error::Unsupported(format!(
                "the {} ucall transport does not exist on {}",
                self.name(),
                <crate::arch::HostArch as crate::arch::Arch>::NAME
            )));
        }
        Ok(match self {
            TransportKind::Pio => Box::new(pio::Pio::new()),
            TransportKind::Mmio => Box::new(mmio::Mmio::new(layout)),
            TransportKind::Halt => Box::new(halt::Halt::new()),
            TransportKind::Shared => Box::new(shared::Shared::new(layout)),
            TransportKind::Hvc => Box::new(hvc::Hvc::new()),
        })
    }
}

/// A bump allocator over the layout's shared arena (`ucall_shared_alloc`).
#[derive(Debug, Clone)]
pub struct SharedArena {
    next: u64,
    end: u64,
}

impl SharedArena {
    /// The arena of `layout`, nothing allocated yet.
    pub fn new(layout: &Layout) -> Self {
        SharedArena { next: layout.shared_arena.start, end: layout.shared_arena.end }
    }

    /// Reserves `size` bytes aligned to 64; returns their guest address.
    pub fn alloc(&mut self, size: u64) -> Result<u64> {
        let at = crate::layout::align_up(self.next, 64);
        let end = at.checked_add(size).filter(|e| *e <= self.end).ok_or_else(|| {
            Error::Memory(format!("shared arena exhausted: {size} bytes wanted, {} left", self.end.saturating_sub(at)))
        })?;
        self.next = end;
        Ok(at)
    }
}

/// One ucall transport.
pub(crate) trait Transport: Send + Sync {
    /// What the guest's doorbell routine does.
    fn doorbell(&self) -> Doorbell;
    /// Where vCPU `id` builds its messages.
    fn message_buffer(&self, layout: &Layout, id: usize, arena: &mut SharedArena) -> Result<u64>;
    /// If `exit` is this transport's doorbell: the message's guest address, or
    /// why the doorbell itself is malformed. `buffer` is the vCPU's own buffer.
    fn decode(&self, exit: &VcpuExit<'_>, buffer: u64) -> Option<Result<u64, String>>;
    /// Whether the VM must not have an in-kernel irqchip (HLT must exit).
    fn forbids_irqchip(&self) -> bool {
        false
    }
}

/// Fixed-capacity arguments of a SYNC, without allocation.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct UcallArgs {
    len: u8,
    vals: [u64; UCALL_MAX_ARGS],
}

impl UcallArgs {
    /// The first [`UCALL_MAX_ARGS`] of `vals`.
    pub fn new(vals: &[u64]) -> Self {
        let mut a = UcallArgs::default();
        let n = vals.len().min(UCALL_MAX_ARGS);
        a.vals[..n].copy_from_slice(&vals[..n]);
        a.len = n as u8;
        a
    }
}

impl std::ops::Deref for UcallArgs {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        &self.vals[..self.len as usize]
    }
}

impl fmt::Debug for UcallArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|v| format!("{v:#x}"))).finish()
    }
}

/// A message from the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ucall {
    /// GUEST_SYNC(stage, args...).
    Sync {
        /// The stage, the ucall's first argument.
        stage: u64,
        /// The values after the stage.
        args: UcallArgs,
    },
    /// GUEST_DONE.
    Done,
    /// A failed guest assertion.
    Abort(GuestAssert),
    /// A line of guest output.
    Printf(String),
}

impl Ucall {
    /// The failure to report when a test did not expect this ucall here.
    /// An ABORT becomes the guest's own assertion failure.
    pub fn into_failure(self, vcpu: usize) -> Error {
        match self {
            Ucall::Abort(a) => Error::GuestAssert(Box::new(a)),
            other => Error::UnexpectedUcall { vcpu, ucall: format!("{other:?}") },
        }
    }
}

/// A decoded message: a ucall, or an exception report from the firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Ucall(Ucall),
    Exception([u64; UCALL_MAX_ARGS]),
}

/// The message header as vm-memory reads it.
#[derive(Clone, Copy, Default)]
#[repr(transparent)]
struct Header(UcallHeader);

// SAFETY: UcallHeader is repr(C), made only of integers, without padding
// (its size is checked in kvmtest_abi), so every bit pattern is a valid value.
unsafe impl ByteValued for Header {}

/// Guest text as a `String`: valid UTF-8 is kept, any other byte is shown
/// as `\xNN` so a garbled message still tells what the guest wrote.
fn guest_text(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Reads and validates the message at `addr`. Every length and address comes
/// from the guest and is checked before use. A SYNC or DONE costs one
/// lookup of the guest region, a 72-byte copy and a 4-byte store (the magic
/// is cleared so that a doorbell rung again without a new message is caught).
pub(crate) fn read_message(mem: &GuestMemoryMmap, addr: u64, vcpu: usize) -> Result<Message> {
    let bad = |why: String| Error::BadUcall { vcpu, addr, why };
    let head = mem
        .get_slice(GuestAddress(addr), UCALL_HEADER_SIZE)
        .map_err(|e| bad(format!("the {UCALL_HEADER_SIZE}-byte message header is not inside guest memory ({e})")))?;
    let Header(h) = head.read_obj(0).map_err(|e| bad(format!("reading the message header: {e}")))?;
    if h.magic != UCALL_MAGIC {
        return Err(bad(format!(
            "no message here: magic is {:#010x}, not {UCALL_MAGIC:#010x} (doorbell rung without writing a message, or the message was overwritten)",
            h.magic
        )));
    }
    let cmd = UcallCmd::from_raw(h.cmd).ok_or_else(|| bad(format!("unknown ucall command {}", h.cmd)))?;
    let (line, nargs, file_len, msg_len) = (h.line, h.nargs as usize, h.file_len as usize, h.msg_len as usize);
    if nargs > UCALL_MAX_ARGS {
        return Err(bad(format!("{nargs} arguments, at most {UCALL_MAX_ARGS}")));
    }
    let mut args = h.args;
    // Values past `nargs` are stale from earlier messages: not the guest's to send.
    args.iter_mut().skip(nargs).for_each(|a| *a = 0);
    // Consume the message so a doorbell rung again without a new one is caught.
    head.write_obj(0u32, 0).map_err(|e| bad(format!("clearing the magic: {e}")))?;

    // Only PRINTF and ABORT carry text; SYNC and DONE leave `line` and the
    // text lengths unwritten (fewer guest instructions per ucall).
    let read_text = || -> Result<(String, String)> {
        if file_len.saturating_add(msg_len) > UCALL_TEXT_MAX {
            return Err(bad(format!("text of {file_len}+{msg_len} bytes, at most {UCALL_TEXT_MAX}")));
        }
        let mut text = vec![0u8; file_len + msg_len];
        mem.read_slice(&mut text, GuestAddress(addr + UCALL_HEADER_SIZE as u64))
            .map_err(|e| bad(format!("the {}-byte text is not inside guest memory ({e})", text.len())))?;
        let (file, msg) = text.split_at(file_len);
        Ok((guest_text(file), guest_text(msg)))
    };
    let ucall = match cmd {
        UcallCmd::Sync => {
            if nargs == 0 {
                return Err(bad("SYNC without a stage argument".into()));
            }
            Ucall::Sync { stage: args[0], args: UcallArgs::new(&args[1..nargs]) }
        }
        UcallCmd::Done => Ucall::Done,
        UcallCmd::Printf => Ucall::Printf(read_text()?.1),
        UcallCmd::Abort => {
            let (file, msg) = read_text()?;
            Ucall::Abort(GuestAssert { vcpu, file, line, msg, values: args[..nargs].to_vec() })
        }
        UcallCmd::Exception => {
            if nargs <= ExceptionArgs::SP {
                return Err(bad(format!("EXCEPTION report with {nargs} values")));
            }
            return Ok(Message::Exception(args));
        }
    };
    Ok(Message::Ucall(ucall))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    const MEM: usize = 0x10000;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM)]).unwrap()
    }

    fn put(m: &GuestMemoryMmap, at: u64, cmd: u32, line: u32, args: &[u64], file: &str, msg: &str) {
        let mut h = vec![];
        for w in [UCALL_MAGIC, cmd, line, args.len() as u32, file.len() as u32, msg.len() as u32] {
            h.extend_from_slice(&w.to_le_bytes());
        }
        for i in 0..UCALL_MAX_ARGS {
            h.extend_from_slice(&args.get(i).copied().unwrap_or(0).to_le_bytes());
        }
        h.extend_from_slice(file.as_bytes());
        h.extend_from_slice(msg.as_bytes());
        m.write_slice(&h, GuestAddress(at)).unwrap();
    }

    #[test]
    fn decodes_every_kind() {
        let m = mem();
        put(&m, 0x100, 1, 0, &[7, 8, 9], "", "");
        assert_eq!(
            read_message(&m, 0x100, 0).unwrap(),
            Message::Ucall(Ucall::Sync { stage: 7, args: UcallArgs::new(&[8, 9]) })
        );
        put(&m, 0x100, 2, 0, &[], "", "");
        assert_eq!(read_message(&m, 0x100, 0).unwrap(), Message::Ucall(Ucall::Done));
        put(&m, 0x100, 4, 0, &[], "", "hello");
        assert_eq!(read_message(&m, 0x100, 0).unwrap(), Message::Ucall(Ucall::Printf("hello".into())));
        put(&m, 0x100, 3, 42, &[1, 2], "guest.rs", "a == b");
        let Message::Ucall(Ucall::Abort(a)) = read_message(&m, 0x100, 3).unwrap() else { panic!() };
        assert_eq!(
            (a.file.as_str(), a.line, a.msg.as_str(), a.values.as_slice(), a.vcpu),
            ("guest.rs", 42, "a == b", &[1u64, 2][..], 3)
        );
        put(&m, 0x100, 5, 0, &[14, 2, 0x20_0000, 0xdead, 0x1000, 0], "", "");
        assert!(matches!(
            read_message(&m, 0x100, 0).unwrap(),
            Message::Exception([14, 2, 0x20_0000, 0xdead, 0x1000, 0])
        ));
    }

    #[test]
    fn a_message_is_consumed_once() {
        let m = mem();
        put(&m, 0x100, 2, 0, &[], "", "");
        read_message(&m, 0x100, 0).unwrap();
        let e = read_message(&m, 0x100, 0).unwrap_err().to_string();
        assert!(e.contains("no message here"), "{e}");
    }

    #[test]
    fn rejects_hostile_messages() {
        let m = mem();
        let err = |at| read_message(&m, at, 0).unwrap_err().to_string();
        assert!(err(MEM as u64 + 0x1000).contains("not inside guest memory"));
        assert!(err(MEM as u64 - 8).contains("not inside guest memory"), "straddling the end");
        assert!(err(u64::MAX - 4).contains("not inside guest memory"));
        put(&m, 0x100, 99, 0, &[], "", "");
        assert!(err(0x100).contains("unknown ucall command 99"));
        put(&m, 0x100, 1, 0, &[], "", "");
        assert!(err(0x100).contains("SYNC without a stage"));
        let mut h = [0u8; UCALL_HEADER_SIZE];
        h[0..4].copy_from_slice(&UCALL_MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&4u32.to_le_bytes());
        h[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        m.write_slice(&h, GuestAddress(0x100)).unwrap();
        assert!(err(0x100).contains("at most 1024"));
        h[12..16].copy_from_slice(&7u32.to_le_bytes());
        m.write_slice(&h, GuestAddress(0x100)).unwrap();
        assert!(err(0x100).contains("7 arguments"));
        // A PRINTF whose text runs past the end of memory.
        put(&m, MEM as u64 - UCALL_HEADER_SIZE as u64, 4, 0, &[], "", "");
        m.write_obj(1000u32, GuestAddress(MEM as u64 - UCALL_HEADER_SIZE as u64 + 20)).unwrap();
        assert!(err(MEM as u64 - UCALL_HEADER_SIZE as u64).contains("text is not inside guest memory"));
    }

    #[test]
    fn non_utf8_text_is_escaped_not_rejected() {
        let m = mem();
        put(&m, 0x100, 4, 0, &[], "", "ok: \u{e9}..");
        m.write_slice(&[0xff, 0xfe], GuestAddress(0x100 + UCALL_HEADER_SIZE as u64 + 6)).unwrap();
        assert_eq!(read_message(&m, 0x100, 0).unwrap(), Message::Ucall(Ucall::Printf("ok: \u{e9}\\xff\\xfe".into())));
    }

    /// The `why` of a BadUcall, with the vCPU and address it names checked.
    fn bad_ucall(m: &GuestMemoryMmap, at: u64, vcpu: usize) -> String {
        match read_message(m, at, vcpu) {
            Err(Error::BadUcall { vcpu: v, addr, why }) if v == vcpu && addr == at => why,
            other => panic!("expected BadUcall from vCPU {vcpu} at {at:#x}, got {other:?}"),
        }
    }

    #[test]
    fn text_of_exactly_the_maximum_is_read_one_more_byte_is_refused() {
        let m = mem();
        let msg = "m".repeat(UCALL_TEXT_MAX - 10);
        put(&m, 0x100, 3, 7, &[], "0123456789", &msg);
        let Message::Ucall(Ucall::Abort(a)) = read_message(&m, 0x100, 0).unwrap() else { panic!("not an ABORT") };
        assert_eq!((a.file.as_str(), a.msg.len()), ("0123456789", UCALL_TEXT_MAX - 10));
        put(&m, 0x100, 4, 0, &[], "", &"p".repeat(UCALL_TEXT_MAX));
        assert_eq!(read_message(&m, 0x100, 0).unwrap(), Message::Ucall(Ucall::Printf("p".repeat(UCALL_TEXT_MAX))));
        put(&m, 0x100, 3, 7, &[], "0123456789", &format!("{msg}!"));
        assert_eq!(bad_ucall(&m, 0x100, 2), "text of 10+1015 bytes, at most 1024");
        put(&m, 0x100, 4, 0, &[], "", &"p".repeat(UCALL_TEXT_MAX + 1));
        assert_eq!(bad_ucall(&m, 0x100, 0), "text of 0+1025 bytes, at most 1024");
        // Lengths whose sum wraps a u32 (and would not a usize) are still refused.
        put(&m, 0x100, 4, 0, &[], "", "");
        m.write_obj(u32::MAX, GuestAddress(0x100 + 16)).unwrap();
        m.write_obj(2u32, GuestAddress(0x100 + 20)).unwrap();
        assert_eq!(bad_ucall(&m, 0x100, 0), "text of 4294967295+2 bytes, at most 1024");
    }

    #[test]
    fn a_message_ending_exactly_at_the_end_of_memory_is_read() {
        let m = mem();
        let header_at = MEM as u64 - UCALL_HEADER_SIZE as u64;
        put(&m, header_at, 2, 0, &[], "", "");
        assert_eq!(read_message(&m, header_at, 0).unwrap(), Message::Ucall(Ucall::Done));
        let why = bad_ucall(&m, header_at + 1, 0);
        assert!(why.starts_with("the 72-byte message header is not inside guest memory"), "{why}");
        // Text running to the last byte of memory, then one byte past it.
        let text_at = MEM as u64 - UCALL_HEADER_SIZE as u64 - 5;
        put(&m, text_at, 4, 0, &[], "", "hello");
        assert_eq!(read_message(&m, text_at, 0).unwrap(), Message::Ucall(Ucall::Printf("hello".into())));
        put(&m, text_at, 4, 0, &[], "", "hello");
        m.write_obj(6u32, GuestAddress(text_at + 20)).unwrap();
        let why = bad_ucall(&m, text_at, 0);
        assert!(why.starts_with("the 6-byte text is not inside guest memory"), "{why}");
    }

    #[test]
    fn argument_counts_at_each_limit() {
        let m = mem();
        let six = [1, 2, 3, 4, 5, 6];
        put(&m, 0x100, 1, 0, &six, "", "");
        assert_eq!(
            read_message(&m, 0x100, 0).unwrap(),
            Message::Ucall(Ucall::Sync { stage: 1, args: UcallArgs::new(&[2, 3, 4, 5, 6]) })
        );
        put(&m, 0x100, 1, 0, &[9], "", "");
        assert_eq!(
            read_message(&m, 0x100, 0).unwrap(),
            Message::Ucall(Ucall::Sync { stage: 9, args: UcallArgs::new(&[]) }),
            "a stage alone"
        );
        put(&m, 0x100, 1, 0, &six, "", "");
        m.write_obj(UCALL_MAX_ARGS as u32 + 1, GuestAddress(0x100 + 12)).unwrap();
        assert_eq!(bad_ucall(&m, 0x100, 1), "7 arguments, at most 6");
        put(&m, 0x100, 1, 0, &[], "", "");
        assert_eq!(bad_ucall(&m, 0x100, 0), "SYNC without a stage argument");
        // Values past nargs are stale: an ABORT reports only its own.
        put(&m, 0x100, 3, 1, &six, "f", "m");
        m.write_obj(2u32, GuestAddress(0x100 + 12)).unwrap();
        let Message::Ucall(Ucall::Abort(a)) = read_message(&m, 0x100, 0).unwrap() else { panic!("not an ABORT") };
        assert_eq!(a.values, [1, 2]);
        // An EXCEPTION report needs every value up to SP; the ones past nargs read as 0.
        put(&m, 0x100, 5, 0, &six[..ExceptionArgs::SP + 1], "", "");
        assert_eq!(read_message(&m, 0x100, 0).unwrap(), Message::Exception([1, 2, 3, 4, 5, 0]));
        put(&m, 0x100, 5, 0, &six, "", "");
        m.write_obj(ExceptionArgs::SP as u32, GuestAddress(0x100 + 12)).unwrap();
        assert_eq!(bad_ucall(&m, 0x100, 0), format!("EXCEPTION report with {} values", ExceptionArgs::SP));
    }

    #[test]
    fn the_error_names_the_magic_and_the_command() {
        let m = mem();
        let why = bad_ucall(&m, 0x100, 0);
        assert!(why.starts_with("no message here: magic is 0x00000000, not 0x4c414355"), "{why}");
        put(&m, 0x100, 0, 0, &[], "", "");
        assert_eq!(bad_ucall(&m, 0x100, 0), "unknown ucall command 0");
        put(&m, 0x100, 6, 0, &[], "", "");
        assert_eq!(bad_ucall(&m, 0x100, 0), "unknown ucall command 6");
        let e = read_message(&m, 0x100, 4).unwrap_err().to_string();
        assert_eq!(e, "malformed ucall from vCPU 4 (message at guest address 0x100): unknown ucall command 6");
    }

    #[test]
    fn sync_arguments_never_exceed_the_capacity() {
        let a = UcallArgs::new(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&*a, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(&*UcallArgs::new(&[]), &[] as &[u64]);
        assert_eq!(format!("{:?}", UcallArgs::new(&[1, 0xff])), "[\"0x1\", \"0xff\"]");
    }

    #[test]
    fn an_unexpected_ucall_is_reported_as_such_and_an_abort_as_the_guest_assertion() {
        let sync = Ucall::Sync { stage: 3, args: UcallArgs::new(&[0x10]) };
        let e = sync.into_failure(2);
        assert!(matches!(&e, Error::UnexpectedUcall { vcpu: 2, .. }), "{e:?}");
        assert_eq!(e.to_string(), "unexpected ucall from vCPU 2: Sync { stage: 3, args: [\"0x10\"] }");
        let a = GuestAssert { vcpu: 1, file: "g.rs".into(), line: 5, msg: "x".into(), values: vec![] };
        assert!(matches!(Ucall::Abort(a.clone()).into_failure(1), Error::GuestAssert(b) if *b == a));
    }

    #[test]
    fn the_shared_arena_hands_out_aligned_buffers_to_its_last_byte() {
        let mut layout = Layout::of_host(64 << 20).unwrap();
        layout.shared_arena = 0x1000..0x1100;
        let mut arena = SharedArena::new(&layout);
        assert_eq!(arena.alloc(0x10).unwrap(), 0x1000);
        assert_eq!(arena.alloc(0x40).unwrap(), 0x1040, "aligned to 64");
        assert_eq!(arena.alloc(0x80).unwrap(), 0x1080, "exactly to the end");
        match arena.alloc(1) {
            Err(Error::Memory(why)) => assert_eq!(why, "shared arena exhausted: 1 bytes wanted, 0 left"),
            other => panic!("{other:?}"),
        }
        let mut arena = SharedArena::new(&layout);
        match arena.alloc(0x101) {
            Err(Error::Memory(why)) => assert_eq!(why, "shared arena exhausted: 257 bytes wanted, 256 left"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(arena.alloc(u64::MAX), Err(Error::Memory(_))), "no wrap-around");
        assert_eq!(arena.alloc(0x100).unwrap(), 0x1000, "a refused request takes nothing");
    }

    #[test]
    fn only_this_arch_transports_exist() {
        assert_eq!(TransportKind::all(), <crate::arch::HostArch as crate::arch::Arch>::TRANSPORTS);
        assert!(TransportKind::all().contains(&TransportKind::Mmio), "MMIO exists on both arches");
        let layout = Layout::of_host(64 << 20).unwrap();
        for kind in
            [TransportKind::Pio, TransportKind::Mmio, TransportKind::Halt, TransportKind::Shared, TransportKind::Hvc]
        {
            match kind.instantiate(&layout) {
                Ok(_) => assert!(TransportKind::all().contains(&kind), "{kind}"),
                Err(Error::Unsupported(why)) => {
                    assert!(!TransportKind::all().contains(&kind), "{kind}");
                    assert_eq!(why, format!("the {kind} ucall transport does not exist on {}", crate::arch_name()));
                }
                Err(e) => panic!("{kind}: {e}"),
            }
        }
    }
}
