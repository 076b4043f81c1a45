//! The `userspace_io` payload's contract (upstream userspace_io_test.c):
//! the port its REP INSB reads, the buffer size, and the byte the host
//! writes into kvm_run's I/O data on each KVM_EXIT_IO.

/// The port of the string I/O (upstream: "d"(0x80)).
pub const PORT: u16 = 0x80;
/// Bytes of the guest's buffer, and the largest REP count it uses.
pub const BUFFER_SIZE: usize = 8192;
/// What the host memsets kvm_run's I/O data to.
pub const FILL_BYTE: u8 = 0xaa;
/// The REP count the host lowers to [`STUFFED_SHORT`] on the exit.
pub const COUNT_SHORT: u64 = 2;
/// COUNT_SHORT after the host's rewrite of RCX.
pub const STUFFED_SHORT: u64 = 1;
/// The REP count the host raises to [`STUFFED_LONG`] on the exit.
pub const COUNT_LONG: u64 = 3;
/// COUNT_LONG after the host's rewrite of RCX.
pub const STUFFED_LONG: u64 = BUFFER_SIZE as u64;
