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
    /// Boot argument: guest address of the u64 `iteration` the host updates.
    pub const ARG_ITERATION: usize = 2;
    /// Boot argument: pages written between SYNCs (TEST_PAGES_PER_LOOP).
    pub const ARG_PAGES_PER_LOOP: usize = 3;
    /// Boot argument: seed of the guest's random page choice.
    pub const ARG_SEED: usize = 4;
    /// SYNC(1): one loop of writes done.
    pub const SYNC_LOOP: u64 = 1;
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
