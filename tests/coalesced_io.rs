//! coalesced_io: upstream coalesced_io_test.c (6.12; 6.1 has no such file,
//! but every feature it uses: KVM_CAP_COALESCED_MMIO since 2.6.x,
//! KVM_CAP_COALESCED_PIO since 4.19). The guest fills the coalesced ring
//! with MMIO writes (on x86 alternating with port writes); the write that
//! finds the ring full (one entry always free) exits, the ring holds the
//! others in order; a ucall is never coalesced; after unregistering, every
//! write exits. Upstream starts the ring at every index; here at a quarter
//! of them (`ring_starts`).
//! How many writes the ring takes is the running series' rule
//! (`kvmtest::series::CoalescedRingRoom`): from 6.11 on always all but one
//! entry, as upstream expects; 6.1's coalesced_mmio_has_room() computes the
//! room in wrapping u32 arithmetic and takes 85 of 170 (4 KiB pages) from
//! starts 0-84, 169 from 85 on. Upstream's checks are made with that number
//! in place of ring_size - 1.

use kvmtest::abi::memslots::coalesced_io::*;
use kvmtest::coalesced::{CoalescedRing, Zone};
use kvmtest::kvm_ioctls::VcpuExit;
use kvmtest::layout::RegionKind;
use kvmtest::series::{CoalescedRingRoom, Series};
use kvmtest::{bail, ensure, runner, Error, ExitAction, Payload, TransportKind, Ucall, Vcpu, Vm};
use kvmtest_tests::payloads;

/// Upstream's kvm_coalesced_io: the ring and where the guest writes.
struct CoalescedIo {
    ring: CoalescedRing,
    ring_size: u32,
    /// The running series' rule for when the ring has room.
    room: CoalescedRingRoom,
    mmio_gpa: u64,
    /// x86-only, but defined for all arches as upstream does.
    pio_port: u64,
    has_pio: bool,
}

/// The exit a run ended with.
#[derive(Debug)]
enum IoExit {
    Mmio { addr: u64, write: bool, data: Vec<u8> },
    Pio { port: u16, out: bool, data: Vec<u8> },
    Ucall(Ucall),
}

fn run(vcpu: &mut Vcpu) -> kvmtest::Result<IoExit> {
    let mut seen = None;
    let r = vcpu.run_with(|exit| {
        seen = match exit {
            VcpuExit::MmioWrite(addr, data) => Some(IoExit::Mmio { addr: *addr, write: true, data: data.to_vec() }),
            VcpuExit::MmioRead(addr, data) => Some(IoExit::Mmio { addr: *addr, write: false, data: data.to_vec() }),
            VcpuExit::IoOut(port, data) => Some(IoExit::Pio { port: *port, out: true, data: data.to_vec() }),
            VcpuExit::IoIn(port, data) => Some(IoExit::Pio { port: *port, out: false, data: data.to_vec() }),
            _ => return ExitAction::Unhandled,
        };
        ExitAction::Stop
    });
    match (r, seen) {
        (Ok(ucall), _) => Ok(IoExit::Ucall(ucall)),
        (Err(Error::ExitStopped { .. }), Some(exit)) => Ok(exit),
        (Err(e), _) => Err(e),
    }
}

fn le(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = data.len().min(8);
    b[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(b)
}

impl CoalescedIo {
    /// How many writes the series' KVM coalesces from `ring_start` (upstream's
    /// ring_size - 1), told to the guest before it runs.
    fn fill(&self, vm: &Vm, ring_start: u32) -> kvmtest::Result<u32> {
        let fill = self.room.fill_from(ring_start, self.ring_size);
        vm.set_arg(ARG_FILL, u64::from(fill))?;
        Ok(fill)
    }
}

/// vcpu_run_and_verify_io_exit(): the run ends with the write that was not
/// coalesced, the round's write number `fill`.
fn vcpu_run_and_verify_io_exit(
    vcpu: &mut Vcpu,
    io: &CoalescedIo,
    ring_start: u32,
    fill: u32,
    want_pio: bool,
) -> kvmtest::Result<()> {
    io.ring.reset_to(ring_start)?;
    let exit = run(vcpu)?;
    let last = u64::from(fill);
    let ok = match &exit {
        IoExit::Mmio { addr, write: true, data } if !want_pio => {
            *addr == io.mmio_gpa && data.len() == 8 && le(data) == io.mmio_gpa + last
        }
        IoExit::Pio { port, out: true, data } if want_pio => {
            u64::from(*port) == io.pio_port && data.len() == 4 && le(data) == io.pio_port + last
        }
        _ => false,
    };
    ensure!(
        ok,
        "For start = {ring_start}, expected exit on {}-byte {} write {:#x} = {:#x}, got {exit:x?}",
        if want_pio { 4 } else { 8 },
        if want_pio { "PIO" } else { "MMIO" },
        if want_pio { io.pio_port } else { io.mmio_gpa },
        if want_pio { io.pio_port } else { io.mmio_gpa } + last
    );
    Ok(())
}

/// vcpu_run_and_verify_coalesced_io(): the exit, then a full ring (minus
/// one; on 6.1 as full as its room rule lets it be) holding the writes
/// before it, in order.
fn vcpu_run_and_verify_coalesced_io(
    vcpu: &mut Vcpu,
    io: &CoalescedIo,
    ring_start: u32,
    fill: u32,
    want_pio: bool,
) -> kvmtest::Result<()> {
    vcpu_run_and_verify_io_exit(vcpu, io, ring_start, fill, want_pio)?;
    let (first, last) = (io.ring.first()?, io.ring.last()?);
    // From 6.11 on `fill` is ring_size - 1 and this is upstream's
    // (last + 1) % ring_size == first; KVM never moves `first`.
    ensure!(
        first == ring_start && last == (ring_start + fill) % io.ring_size,
        "Expected ring to hold {fill} entries{}, first = {first}, last = {last}, max = {}, start = {ring_start}: \
         expected first = {ring_start}, last = {}",
        if fill == io.ring_size - 1 { " (full minus 1)" } else { "" },
        io.ring_size,
        (ring_start + fill) % io.ring_size
    );
    for i in 0..fill {
        let entry = io.ring.entry((first + i) % io.ring_size)?;
        if io.has_pio && i & 1 == 1 {
            ensure!(
                entry.phys_addr == io.pio_port
                    && entry.len == 4
                    && entry.pio
                    && entry.value() == io.pio_port + u64::from(i),
                "Wanted 4-byte port I/O {:#x} = {:#x} in entry {i}, got {}-byte {} {:#x} = {:#x}",
                io.pio_port,
                io.pio_port + u64::from(i),
                entry.len,
                if entry.pio { "PIO" } else { "MMIO" },
                entry.phys_addr,
                entry.value()
            );
        } else {
            // (kvmtest adds the data: upstream prints it but checks only address, size and kind.)
            ensure!(
                entry.phys_addr == io.mmio_gpa
                    && entry.len == 8
                    && !entry.pio
                    && entry.value() == io.mmio_gpa + u64::from(i),
                "Wanted 8-byte MMIO to {:#x} = {:#x} in entry {i}, got {}-byte {} {:#x} = {:#x}",
                io.mmio_gpa,
                io.mmio_gpa + u64::from(i),
                entry.len,
                if entry.pio { "PIO" } else { "MMIO" },
                entry.phys_addr,
                entry.value()
            );
        }
    }
    Ok(())
}

/// test_coalesced_io() for one ring start.
fn test_coalesced_io(vm: &mut Vm, io: &CoalescedIo, ring_start: u32) -> kvmtest::Result<()> {
    vm.register_coalesced(Zone::Mmio(io.mmio_gpa), 8)?;
    if io.has_pio {
        vm.register_coalesced(Zone::Pio(io.pio_port), 8)?;
    }
    let fill = io.fill(vm, ring_start)?;

    vcpu_run_and_verify_coalesced_io(vm.vcpu(0), io, ring_start, fill, false)?;
    if io.has_pio {
        vcpu_run_and_verify_coalesced_io(vm.vcpu(0), io, ring_start, fill, true)?;
    }

    // A ucall, which may use non-coalesced MMIO or PIO, exits at once.
    io.ring.reset_to(ring_start)?;
    match run(vm.vcpu(0))? {
        IoExit::Ucall(Ucall::Sync { stage: SYNC_ROUND, .. }) => {}
        other => bail!("For start = {ring_start}, expected the ucall SYNC({SYNC_ROUND}), got {other:x?}"),
    }
    let (first, last) = (io.ring.first()?, io.ring.last()?);
    ensure!(
        first == ring_start && last == ring_start,
        "after the ucall: expected ring first = last = {ring_start}, got first = {first}, last = {last}"
    );

    // Non-coalesced MMIO/PIO exits to userspace.
    vm.unregister_coalesced(Zone::Mmio(io.mmio_gpa), 8)?;
    vcpu_run_and_verify_io_exit(vm.vcpu(0), io, ring_start, fill, false)?;
    if io.has_pio {
        vm.unregister_coalesced(Zone::Pio(io.pio_port), 8)?;
        vcpu_run_and_verify_io_exit(vm.vcpu(0), io, ring_start, fill, true)?;
    }
    Ok(())
}

/// Upstream starts the ring at every index; all 170 take 6-8 s under TCG,
/// so a quarter of them, spread to cover every residue mod 4 (0, 5, 10, 15,
/// 16, 21, ...), plus both ends and the starts either side of each one
/// where the series' fill count changes (6.1: from 85 at start 84 to 169 at 85).
fn ring_starts(io: &CoalescedIo) -> Vec<u32> {
    let n = io.ring_size;
    let mut starts: Vec<u32> = (0..n).filter(|s| s % 4 == (s / 4) % 4).collect();
    starts.extend([0, 1, n / 2, n - 2, n - 1]);
    for s in 1..n {
        if io.room.fill_from(s, n) != io.room.fill_from(s - 1, n) {
            starts.extend(s.saturating_sub(2)..(s + 2).min(n));
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

fn coalesced_io() -> kvmtest::Result<()> {
    // How full the ring gets before a write exits is the series' rule.
    let room = CoalescedRingRoom::of(Series::running()?);
    // Every series has both (virt/kvm/kvm_main.c, kvm_vm_ioctl_check_extension_generic
    // under CONFIG_KVM_MMIO, which x86 and arm64 select): missing is a failure.
    let offset = kvmtest::check_cap(kvmtest::Cap::CoalescedMmio)?;
    ensure!(offset > 0, "KVM_CAP_COALESCED_MMIO: expected the ring's page offset (since 2.6.27), got {offset}");
    let has_pio = TransportKind::all().contains(&TransportKind::Pio);
    if has_pio {
        let pio = kvmtest::check_cap(kvmtest::Cap::CoalescedPio)?;
        ensure!(pio > 0, "KVM_CAP_COALESCED_PIO: expected it (since 4.19), got {pio}");
    }
    let mut vm = Vm::builder().payload(Payload::elf(payloads::COALESCED_IO)).build()?;
    // Arbitrary address (MMIO mustn't overlap memslots) and port, with the
    // MMIO address identity mapped in the guest.
    let mmio_gpa = vm.layout().spare.start;
    vm.map_region(mmio_gpa..mmio_gpa + (2 << 20), RegionKind::Mmio)?;
    // The ring is a kernel-allocated page beside each vCPU's run page; its
    // size depends on the kernel's PAGE_SIZE.
    let ring = CoalescedRing::map(vm.vcpu(0))?;
    let io = CoalescedIo { ring_size: ring.entries(), ring, room, mmio_gpa, pio_port: 0x80, has_pio };
    vm.set_arg(ARG_MMIO_GPA, io.mmio_gpa)?;
    vm.set_arg(ARG_PIO_PORT, io.pio_port)?;

    for ring_start in ring_starts(&io) {
        test_coalesced_io(&mut vm, &io, ring_start)?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    runner::main(vec![runner::test("coalesced_io::coalesced_io", coalesced_io)])
}
