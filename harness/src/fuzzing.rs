//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`):
//! the host code that reads what a guest controls, run without a VM. The
//! ELF loader needs none (`payload::elf::parse` and `load` are public).

use kvm_ioctls::VcpuExit;
use vm_memory::GuestMemoryMmap;

use crate::arch::{Arch, HostArch};
use crate::layout::Layout;
use crate::ucall::{read_message, Message, SharedArena, Transport, TransportKind, Ucall};
use crate::vm::DEFAULT_MEM_SIZE;
use crate::{Error, Result};

/// What a doorbell's message decoded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Ucall(Ucall),
    /// An EXCEPTION report's values (see `kvmtest_abi::ExceptionArgs`).
    Exception([u64; kvmtest_abi::UCALL_MAX_ARGS]),
}

/// The host end of one transport for a VM of `DEFAULT_MEM_SIZE` bytes,
/// with each vCPU's message buffer placed as `Vm::builder().build()` does.
pub struct UcallHost {
    layout: Layout,
    transport: Box<dyn Transport>,
    buffers: Vec<u64>,
}

impl UcallHost {
    pub fn new(kind: TransportKind, vcpus: usize) -> Result<Self> {
        let layout = HostArch::layout(DEFAULT_MEM_SIZE)?;
        let transport = kind.instantiate(&layout)?;
        let mut arena = SharedArena::new(&layout);
        let buffers = (0..vcpus).map(|id| transport.message_buffer(&layout, id, &mut arena)).collect::<Result<_>>()?;
        Ok(UcallHost { layout, transport, buffers })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// vCPU `vcpu`'s message buffer.
    pub fn buffer(&self, vcpu: usize) -> u64 {
        self.buffers[vcpu]
    }

    /// What `Vcpu::run_until_ucall` does with `exit` from vCPU `vcpu`:
    /// `None` if it is not this transport's doorbell, else the message's
    /// address (when the doorbell gave one) and the message read from `mem`.
    pub fn handle_exit(
        &self,
        exit: &VcpuExit<'_>,
        mem: &GuestMemoryMmap,
        vcpu: usize,
    ) -> Option<(Option<u64>, Result<Decoded>)> {
        let addr = match self.transport.decode(exit, self.buffers[vcpu])? {
            Ok(addr) => addr,
            Err(why) => return Some((None, Err(Error::BadDoorbell { vcpu, pc: 0, why }))),
        };
        Some((Some(addr), read(mem, addr, vcpu)))
    }
}

/// Reads the message at `addr` as the host does after a doorbell.
pub fn read(mem: &GuestMemoryMmap, addr: u64, vcpu: usize) -> Result<Decoded> {
    Ok(match read_message(mem, addr, vcpu)? {
        Message::Ucall(u) => Decoded::Ucall(u),
        Message::Exception(args) => Decoded::Exception(args),
    })
}
