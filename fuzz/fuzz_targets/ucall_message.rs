//! The host's ucall decoding over arbitrary exits and guest memory: a
//! doorbell exit of any shape for any transport, with a message image of
//! any content at the address it names (or straddling the end of memory).
//! It must answer a ucall or a typed error, never panic or read outside
//! guest memory, and consume each message it accepts.
//!
//! Input: transport, exit kind, vCPU, doorbell width, exit address/port
//! (8 bytes, or the transport's own doorbell when the kind's top bit is
//! set), doorbell value (8 bytes), then the message image.
#![no_main]

use std::sync::OnceLock;

use kvm_ioctls::VcpuExit;
use kvmtest::abi::UCALL_TEXT_MAX;
use kvmtest::fuzzing::{self, Decoded, UcallHost};
use kvmtest::{Error, TransportKind, Ucall};
use libfuzzer_sys::fuzz_target;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Guest memory ends just after the shared arena, so every transport's
/// buffers are inside it and the end is near enough to straddle.
const MEM_END: u64 = 0x8_0000;
const VCPUS: usize = 2;
const HEADER: usize = 20;

struct World {
    mem: GuestMemoryMmap,
    hosts: Vec<(TransportKind, UcallHost)>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| World {
        mem: GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_END as usize)]).expect("guest memory"),
        hosts: TransportKind::all()
            .iter()
            .map(|&k| (k, UcallHost::new(k, VCPUS).expect("every transport of this arch")))
            .collect(),
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let w = world();
    let (kind, host) = &w.hosts[data[0] as usize % w.hosts.len()];
    let vcpu = data[2] as usize % VCPUS;
    let width = data[3] as usize % 9;
    let own_doorbell = data[1] & 0x80 != 0;
    let raw_where = u64::from_le_bytes(data[4..12].try_into().unwrap());
    let value = data[12..20].try_into().map(u64::from_le_bytes).unwrap();
    let image = &data[HEADER..];
    let value_bytes = value.to_le_bytes();
    let doorbell_data = &value_bytes[..width];

    let layout = host.layout();
    let (port, addr) = match (own_doorbell, kind) {
        (true, TransportKind::Mmio) => (0, layout.mmio.ucall),
        (true, TransportKind::Shared) => (0, layout.mmio.shared_doorbell),
        (true, _) => (0x1000, 0),
        (false, _) => (raw_where as u16, raw_where),
    };
    let mut scratch = [0u8; 8];
    let exit = match data[1] & 0x7f {
        0..=31 => VcpuExit::IoOut(port, doorbell_data),
        32..=63 => VcpuExit::MmioWrite(addr, doorbell_data),
        64..=95 => VcpuExit::Hlt,
        96..=111 => VcpuExit::IoIn(port, &mut scratch[..width]),
        _ => VcpuExit::MmioRead(addr, &mut scratch[..width]),
    };

    // The message image goes where the doorbell value points if that is
    // guest memory (PIO, MMIO), else in the vCPU's own buffer (halt, shared).
    let pointer = value & if width >= 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let at = if pointer < MEM_END { pointer } else { host.buffer(vcpu) };
    let len = image.len().min((MEM_END - at) as usize);
    w.mem.write_slice(&image[..len], GuestAddress(at)).expect("inside guest memory");

    if let Some((msg_addr, result)) = host.handle_exit(&exit, &w.mem, vcpu) {
        match result {
            Ok(decoded) => {
                let msg_addr = msg_addr.expect("a message was read, so the doorbell gave its address");
                if let Decoded::Ucall(Ucall::Printf(text)) = &decoded {
                    assert!(text.len() <= 4 * UCALL_TEXT_MAX, "{}-byte PRINTF", text.len());
                }
                if let Decoded::Ucall(Ucall::Abort(a)) = &decoded {
                    assert!(a.file.len() + a.msg.len() <= 4 * UCALL_TEXT_MAX, "ABORT text");
                    assert!(a.values.len() <= kvmtest::abi::UCALL_MAX_ARGS);
                }
                let again = fuzzing::read(&w.mem, msg_addr, vcpu);
                assert!(
                    matches!(&again, Err(Error::BadUcall { why, .. }) if why.starts_with("no message here")),
                    "a message must be consumed once read: {again:?}"
                );
            }
            Err(Error::BadUcall { addr: bad, vcpu: v, why }) => {
                assert_eq!(Some(bad), msg_addr, "BadUcall names the message address");
                assert_eq!(v, vcpu);
                assert!(!why.is_empty());
            }
            Err(Error::BadDoorbell { vcpu: v, why, .. }) => {
                assert!(msg_addr.is_none() && v == vcpu && !why.is_empty());
            }
            Err(other) => panic!("unexpected error kind: {other}"),
        }
    }
    // Leave memory as it was for the next input.
    w.mem.write_slice(&vec![0u8; len], GuestAddress(at)).expect("inside guest memory");
});
