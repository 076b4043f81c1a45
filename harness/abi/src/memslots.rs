//! The contract of the memslot scenarios' payloads (set_memory_region,
//! dirty_log, coalesced_io): which boot argument holds what, the guest's
//! modes and SYNC stages, and the values both sides compare.

/// set_memory_region.c's guests (payload `set_memory_region`).
pub mod set_memory_region {
    /// Boot argument: which guest, [`MODE_MOVE`] or [`MODE_DELETE`].
    pub const ARG_MODE: usize = 0;
    /// Boot argument: MEM_REGION_GPA, the address the guest spins on.
    pub const ARG_GPA: usize = 1;
    /// guest_code_move_memory_region.
    pub const MODE_MOVE: u64 = 0;
    /// guest_code_delete_memory_region.
    pub const MODE_DELETE: u64 = 1;
    /// What the host answers an MMIO read of the (moved or deleted) region with.
    pub const MMIO_VAL: u64 = 0xbeef;
    /// SYNC(0): the guest is running (and, after a spin, saw the value change).
    pub const SYNC_SPUN: u64 = 0;
    /// SYNC(1, start, end): the delete guest enters its last spin, whose code is [start, end).
    pub const SYNC_FINAL_SPIN: u64 = 1;
    /// SYNC(2, value): the delete guest left its last spin (the host ended it).
    pub const SYNC_LEFT_FINAL_SPIN: u64 = 2;
}

/// dirty_log_test.c's guest (payload `dirty_log`).
pub mod dirty_log {
    /// Boot argument: guest address of the dirty-logged test memory.
    pub const ARG_TEST_MEM: usize = 0;
    /// Boot argument: pages of test memory.
    pub const ARG_NUM_PAGES: usize = 1;
    /// Boot argument: guest address of the [`Shared`] block.
    pub const ARG_SHARED: usize = 2;
    /// Boot argument: seed of the guest's random page choice.
    pub const ARG_SEED: usize = 3;
    /// SYNC(1): the guest saw `vcpu_stop` and stopped writing.
    pub const SYNC_STOPPED: u64 = 1;

    /// The variables upstream shares through its ELF's globals
    /// (`iteration`, `nr_writes`, `vcpu_stop`), in guest RAM at
    /// [`ARG_SHARED`]. Each field is one naturally aligned u64 that either
    /// side reads and writes whole (READ_ONCE/WRITE_ONCE).
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Shared {
        /// The host's iteration: the value the guest writes into each page.
        /// The host changes it only while the vCPU is stopped.
        pub iteration: u64,
        /// Writes the guest made since the host zeroed it (at each
        /// iteration's start, the vCPU stopped).
        pub nr_writes: u64,
        /// Non-zero: the host asks the guest to stop writing and GUEST_SYNC.
        pub vcpu_stop: u64,
    }

    /// Byte offset of [`Shared::iteration`].
    pub const SHARED_ITERATION: u64 = core::mem::offset_of!(Shared, iteration) as u64;
    /// Byte offset of [`Shared::nr_writes`].
    pub const SHARED_NR_WRITES: u64 = core::mem::offset_of!(Shared, nr_writes) as u64;
    /// Byte offset of [`Shared::vcpu_stop`].
    pub const SHARED_VCPU_STOP: u64 = core::mem::offset_of!(Shared, vcpu_stop) as u64;
    /// Bytes of [`Shared`].
    pub const SHARED_SIZE: u64 = core::mem::size_of::<Shared>() as u64;
}

/// coalesced_io_test.c's guest (payload `coalesced_io`).
pub mod coalesced_io {
    /// Boot argument: how many writes of a round KVM coalesces before the one
    /// that exits (ring size - 1 from 6.11 on; 6.1's depends on the ring start).
    pub const ARG_FILL: usize = 0;
    /// Boot argument: the coalesced MMIO address.
    pub const ARG_MMIO_GPA: usize = 1;
    /// Boot argument: the coalesced port (x86).
    pub const ARG_PIO_PORT: usize = 2;
    /// SYNC(0): both rings' worth of writes done.
    pub const SYNC_ROUND: u64 = 0;
}
