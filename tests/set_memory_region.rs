//! set_memory_region: upstream set_memory_region_test.c. A memslot moved
//! and deleted under a vCPU that spins on it (reads while no slot is there
//! are MMIO, answered with MMIO_VAL), the primary slot deleted under it (x86:
//! KVM_EXIT_SHUTDOWN or INTERNAL_ERROR), KVM_RUN without any memslot,
//! invalid flags of KVM_SET_USER_MEMORY_REGION{,2}, and KVM_CAP_NR_MEMSLOTS
//! slots added with one more refused. Upstream runs move and delete on x86
//! only and ten times each; here they run on both arches, once each (the
//! loop repeats the same checks; under TCG ten would take minutes).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use kvmtest::abi::memslots::set_memory_region::*;
use kvmtest::arch::{Arch, HostArch};
use kvmtest::bare_vm::BareVm;
use kvmtest::kvm_bindings::{KVM_CAP_DISABLE_QUIRKS2, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_SHUTDOWN, KVM_MEM_GUEST_MEMFD};
use kvmtest::kvm_ioctls::VcpuExit;
use kvmtest::layout::RegionKind;
use kvmtest::memslot::{kvm_userspace_memory_region2, Memslots, SlotMemory, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY};
use kvmtest::series::Feature;
use kvmtest::{bail, ensure, runner, ExitAction, Payload, Ucall, Vcpu, Vm};
use kvmtest_tests::payloads;

/// One large page: the x86 MOVE/DELETE tests need a 2 MiB sized and aligned region.
const MEM_REGION_SIZE: u64 = 0x20_0000;
/// Somewhat arbitrary slot, intended to not overlap anything.
const MEM_REGION_SLOT: u32 = 10;
/// How long wait_for_vcpu() waits for the guest's next SYNC: upstream's 2 s
/// is a liveness bound, raised for the emulated machines (TCG is ~100x slower).
const VCPU_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The watchdog of one run between two ucalls: the guest spins through the
/// host's moves and sleeps, which on a loaded emulated machine take seconds.
const VCPU_TIMEOUT: Duration = Duration::from_secs(60);
/// Upstream's usleep(100000) after each SYNC, to let the vCPU re-enter the guest.
const REENTER_DELAY: Duration = Duration::from_millis(100);
/// KVM_CAP_MEMORY_ATTRIBUTES and KVM_MEMORY_ATTRIBUTE_PRIVATE (include/uapi/linux/kvm.h, 6.12).
const KVM_CAP_MEMORY_ATTRIBUTES: u64 = 233;
const KVM_MEMORY_ATTRIBUTE_PRIVATE: i32 = 1 << 3;
/// KVM_CAP_GUEST_MEMFD and KVM_CAP_VM_TYPES (include/uapi/linux/kvm.h, 6.12:936-937).
const KVM_CAP_GUEST_MEMFD: u64 = 234;
const KVM_CAP_VM_TYPES: u64 = 235;
/// Upstream's MEM_REGION_GPA for the private-memory checks, in VMs that never run.
const PRIVATE_REGION_GPA: u64 = 0xc000_0000;

/// MEM_REGION_GPA: upstream's 0xc0000000 is wherever the harness maps
/// nothing; here the second 2 MiB of the spare range, so the misaligned move
/// to MEM_REGION_GPA - 4096 stays inside it too.
fn mem_region_gpa(vm: &Vm) -> u64 {
    vm.layout().spare.start + MEM_REGION_SIZE
}

/// What the vCPU thread tells the host.
enum Event {
    /// GUEST_SYNC(0): the vCPU is in the guest (again).
    Spun,
    /// The delete guest's last spin is the code [start, end).
    FinalSpin(u64, u64),
}

/// How the vCPU thread ended.
#[derive(Debug, PartialEq)]
enum End {
    Done,
    /// The delete guest left its last spin with this value.
    LeftFinalSpin(u64),
    /// KVM_EXIT_SHUTDOWN or KVM_EXIT_INTERNAL_ERROR, and the vCPU's PC then.
    Exit {
        reason: u32,
        pc: u64,
    },
}

/// vcpu_worker(): re-enters the guest on every MMIO exit, which happens when
/// the guest reads the region while it is deleted or being moved, and
/// answers it with MMIO_VAL (0 once `release` is set, to end a last spin).
fn vcpu_worker(vcpu: &mut Vcpu, gpa: u64, release: &AtomicBool, events: Sender<Event>) -> kvmtest::Result<End> {
    loop {
        let mut bad = None;
        let mut exit_reason = None;
        let ucall = vcpu.run_with(|exit| match exit {
            VcpuExit::MmioRead(addr, data) => {
                if *addr != gpa || data.len() != 8 {
                    bad = Some(format!(
                        "Unexpected exit mmio: expected an 8-byte read of {gpa:#x}, got {} bytes at {:#x}",
                        data.len(),
                        addr
                    ));
                    return ExitAction::Stop;
                }
                let val = if release.load(Ordering::SeqCst) { 0 } else { MMIO_VAL };
                data.copy_from_slice(&val.to_le_bytes());
                ExitAction::Resume
            }
            VcpuExit::MmioWrite(addr, _) => {
                bad = Some(format!("Unexpected exit mmio write to {addr:#x}: expected reads only"));
                ExitAction::Stop
            }
            VcpuExit::Shutdown => {
                exit_reason = Some(KVM_EXIT_SHUTDOWN);
                ExitAction::Stop
            }
            VcpuExit::InternalError => {
                exit_reason = Some(KVM_EXIT_INTERNAL_ERROR);
                ExitAction::Stop
            }
            _ => ExitAction::Unhandled,
        });
        if let Some(why) = bad {
            bail!("{why}");
        }
        if let Some(reason) = exit_reason {
            let pc = HostArch::pc(vcpu.fd())?;
            return Ok(End::Exit { reason, pc });
        }
        match ucall? {
            Ucall::Sync { stage: SYNC_SPUN, .. } => {
                events.send(Event::Spun).ok();
            }
            Ucall::Sync { stage: SYNC_FINAL_SPIN, args } => {
                events.send(Event::FinalSpin(args[0], args[1])).ok();
            }
            Ucall::Sync { stage: SYNC_LEFT_FINAL_SPIN, args } => return Ok(End::LeftFinalSpin(args[0])),
            Ucall::Done => return Ok(End::Done),
            other => return Err(other.into_failure(vcpu.id())),
        }
    }
}

/// The host's side: wait_for_vcpu() and what it learnt on the way.
struct Host {
    events: Receiver<Event>,
    final_spin: Option<(u64, u64)>,
}

impl Host {
    /// wait_for_vcpu(): the guest's next SYNC(0), then time to re-enter the guest.
    fn wait_for_vcpu(&mut self) -> kvmtest::Result<()> {
        loop {
            match self.events.recv_timeout(VCPU_READY_TIMEOUT) {
                Ok(Event::Spun) => break,
                Ok(Event::FinalSpin(start, end)) => self.final_spin = Some((start, end)),
                Err(RecvTimeoutError::Timeout) => {
                    bail!("wait_for_vcpu: no GUEST_SYNC within {VCPU_READY_TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => bail!("wait_for_vcpu: the vCPU thread ended"),
            }
        }
        std::thread::sleep(REENTER_DELAY);
        Ok(())
    }
}

/// spawn_vm() and the test body, with the vCPU on a thread of its own; the
/// vCPU thread's failure is reported before the host's (it is the cause).
fn with_spinning_vcpu(
    mode: u64,
    disable_slot_zap_quirk: bool,
    host: impl FnOnce(&mut Host, Memslots<'_>, &SlotMemory, &AtomicBool) -> kvmtest::Result<()> + Send,
) -> kvmtest::Result<End> {
    let quirk = match (disable_slot_zap_quirk, HostArch::SLOT_ZAP_ALL_QUIRK) {
        (false, _) => None,
        (true, None) => {
            return Err(kvmtest::Error::Skip("x86_64 only: KVM_X86_QUIRK_SLOT_ZAP_ALL is an x86 quirk".into()))
        }
        (true, Some(q)) => {
            Feature::SlotZapAllQuirk.require()?;
            Some(q)
        }
    };
    let mut vm = Vm::builder()
        .payload(Payload::elf(payloads::SET_MEMORY_REGION))
        .arg(ARG_MODE, mode)
        .timeout(VCPU_TIMEOUT)
        .build()?;
    let gpa = mem_region_gpa(&vm);
    vm.set_arg(ARG_GPA, gpa)?;
    if let Some(quirk) = quirk {
        vm.enable_cap(KVM_CAP_DISABLE_QUIRKS2, &[quirk])?;
    }
    let region = vm.memslots().add(MEM_REGION_SLOT, gpa, MEM_REGION_SIZE, 0)?;
    // Map the region so that the GPA the guest reads stays mapped across
    // the move; zero its first two pages, as upstream does.
    vm.map_region(gpa..gpa + MEM_REGION_SIZE, RegionKind::Ram)?;
    region.zero(0, 2 * 4096)?;

    let release = AtomicBool::new(false);
    let (tx, rx) = channel();
    let (vcpus, memslots, _) = vm.vcpus_and_memslots();
    let vcpu = &mut vcpus[0];
    std::thread::scope(|s| {
        let worker = s.spawn(|| vcpu_worker(vcpu, gpa, &release, tx));
        let mut h = Host { events: rx, final_spin: None };
        let hosted = h.wait_for_vcpu().and_then(|()| host(&mut h, memslots, &region, &release));
        // A host failure leaves the guest spinning: let it go.
        release.store(true, Ordering::SeqCst);
        let ended = worker.join().unwrap_or_else(|_| Err(kvmtest::Error::Check("the vCPU thread panicked".into())));
        // The vCPU thread's failure is the cause of the host's, if both failed.
        let ended = ended?;
        hosted?;
        if let (End::Exit { reason: KVM_EXIT_INTERNAL_ERROR, pc }, Some((start, end))) = (&ended, h.final_spin) {
            // On AMD, after KVM_EXIT_SHUTDOWN the VMCB has been reinitialised
            // already, so only an internal error's PC is checked.
            ensure!(
                (start..end).contains(pc),
                "Bad rip, expected {start:#x} - {end:#x}, got {pc:#x} (KVM_EXIT_INTERNAL_ERROR)"
            );
        }
        Ok(ended)
    })
}

/// test_move_memory_region().
fn test_move_memory_region(disable_slot_zap_quirk: bool) -> kvmtest::Result<()> {
    let end = with_spinning_vcpu(MODE_MOVE, disable_slot_zap_quirk, |h, slots, hva, _| {
        let gpa = slots.gpa(MEM_REGION_SLOT)?;
        // Shift the region's base GPA. The guest should not see "2" as the
        // hva->gpa translation is misaligned, i.e. the guest is accessing a
        // different host pfn.
        slots.move_to(MEM_REGION_SLOT, gpa - 4096)?;
        hva.store_u64(0, 2)?;
        // The guest _might_ see an invalid memslot and trigger MMIO, but it's
        // a tiny window. Spin and defer the sync until the memslot is
        // restored and guest behavior is once again deterministic.
        std::thread::sleep(REENTER_DELAY);
        // The value in memory changes *before* the memslot is restored, else
        // the guest could race the update and see "2".
        hva.store_u64(0, 1)?;
        // Restore the original base, the guest should see "1".
        slots.move_to(MEM_REGION_SLOT, gpa)?;
        h.wait_for_vcpu()?;
        // Deferred sync from when the memslot was misaligned (above).
        h.wait_for_vcpu()
    })?;
    ensure!(end == End::Done, "the move guest: expected GUEST_DONE, got {end:?}");
    Ok(())
}

/// test_delete_memory_region(): slot 10 deleted, recreated and deleted under
/// the spinning guest; then, where KVM gives an exit for it, slot 0.
fn test_delete_memory_region(disable_slot_zap_quirk: bool, delete_primary: bool) -> kvmtest::Result<()> {
    if delete_primary {
        if let Some(why) = HostArch::NO_EXIT_WITHOUT_MEMORY {
            return Err(kvmtest::Error::Skip(why.into()));
        }
    }
    let end = with_spinning_vcpu(MODE_DELETE, disable_slot_zap_quirk, |h, slots, _, release| {
        let gpa = slots.gpa(MEM_REGION_SLOT)?;
        // Delete the memory region, the guest should not die.
        slots.delete(MEM_REGION_SLOT)?;
        h.wait_for_vcpu()?;
        // Recreate the memory region. The guest should see "0".
        slots.add(MEM_REGION_SLOT, gpa, MEM_REGION_SIZE, 0)?;
        h.wait_for_vcpu()?;
        // Delete the region again so that there's only one memslot left.
        slots.delete(MEM_REGION_SLOT)?;
        h.wait_for_vcpu()?;
        if delete_primary {
            // Delete the primary memslot. This should cause an emulation
            // error or shutdown due to the page tables getting nuked.
            slots.delete(0)
        } else {
            release.store(true, Ordering::SeqCst);
            Ok(())
        }
    })?;
    match end {
        End::Exit { reason: KVM_EXIT_SHUTDOWN | KVM_EXIT_INTERNAL_ERROR, .. } if delete_primary => Ok(()),
        End::LeftFinalSpin(0) if !delete_primary => Ok(()),
        other if delete_primary => {
            bail!("Unexpected exit reason: expected KVM_EXIT_SHUTDOWN or KVM_EXIT_INTERNAL_ERROR, got {other:?}")
        }
        other => bail!("the delete guest: expected to leave its last spin with 0, got {other:?}"),
    }
}

/// test_zero_memory_regions(): KVM_RUN with zero added memory regions.
fn test_zero_memory_regions() -> kvmtest::Result<()> {
    let reason = BareVm::run_without_memslots()?;
    ensure!(
        reason == KVM_EXIT_INTERNAL_ERROR,
        "KVM_RUN without memslots: expected exit reason {KVM_EXIT_INTERNAL_ERROR} (KVM_EXIT_INTERNAL_ERROR), got {reason}"
    );
    Ok(())
}

fn expect_einval(r: kvmtest::Result<()>, what: impl FnOnce() -> String) -> kvmtest::Result<()> {
    match r {
        Err(e) if e.errno() == Some(libc::EINVAL) => Ok(()),
        Err(e) => bail!("{}: expected EINVAL, got {e}", what()),
        Ok(()) => bail!("{}: expected EINVAL, got success", what()),
    }
}

/// test_invalid_memory_region_flags(): every flag KVM does not support is
/// EINVAL for both ioctls; KVM_MEM_GUEST_MEMFD is EINVAL for the first;
/// with guest_memfd, dirty logging and read-only are EINVAL beside it.
fn test_invalid_memory_region_flags() -> kvmtest::Result<()> {
    // Both arches have read-only memory (__KVM_HAVE_READONLY_MEM).
    let mut supported_flags = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;
    let v2_only_flags = KVM_MEM_GUEST_MEMFD;
    let vm = BareVm::new()?;
    let has_v2 = Feature::UserMemory2.require().is_ok();
    // Private memory is a build option (CONFIG_KVM_PRIVATE_MEM), as upstream
    // asks the kernel: KVM_CHECK_EXTENSION on /dev/kvm.
    let kvm = kvmtest::kvm::open_kvm()?;
    if kvm.check_extension_raw(KVM_CAP_MEMORY_ATTRIBUTES) & KVM_MEMORY_ATTRIBUTE_PRIVATE != 0 {
        supported_flags |= KVM_MEM_GUEST_MEMFD;
    }

    for i in 0..32 {
        let bit = 1u32 << i;
        if supported_flags & bit != 0 && v2_only_flags & bit == 0 {
            continue;
        }
        expect_einval(vm.set_user_memory_region(0, bit, 0, MEM_REGION_SIZE, 0), || {
            format!("KVM_SET_USER_MEMORY_REGION should have failed on v2 only flag {bit:#x}")
        })?;
        if supported_flags & bit != 0 || !has_v2 {
            continue;
        }
        expect_einval(vm.set_user_memory_region2(region2(0, bit, 0, MEM_REGION_SIZE, 0, 0)), || {
            format!("KVM_SET_USER_MEMORY_REGION2 should have failed on unsupported flag {bit:#x}")
        })?;
    }

    if supported_flags & KVM_MEM_GUEST_MEMFD != 0 {
        let gmem = kvmtest::kvm_bindings::kvm_create_guest_memfd { size: MEM_REGION_SIZE, ..Default::default() };
        let fd = vm.fd().create_guest_memfd(gmem).map_err(kvmtest::Error::kvm("KVM_CREATE_GUEST_MEMFD"))?;
        // SAFETY: KVM_CREATE_GUEST_MEMFD returned a new fd that nothing else owns.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
        expect_einval(
            vm.set_user_memory_region2(region2(
                0,
                KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_GUEST_MEMFD,
                0,
                MEM_REGION_SIZE,
                raw,
                0,
            )),
            || "KVM_SET_USER_MEMORY_REGION2 should have failed, dirty logging private memory is unsupported".into(),
        )?;
        expect_einval(
            vm.set_user_memory_region2(region2(0, KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD, 0, MEM_REGION_SIZE, raw, 0)),
            || "KVM_SET_USER_MEMORY_REGION2 should have failed, read-only GUEST_MEMFD memslots are unsupported".into(),
        )?;
    }
    Ok(())
}

/// test_add_max_memory_regions(): slots up to KVM_CAP_NR_MEMSLOTS can be
/// added, one more is refused with EINVAL. KVM's limit is on the slot id
/// (virt/kvm/kvm_main.c, `(u16)mem->slot >= KVM_USER_MEM_SLOTS` is EINVAL,
/// 6.12:2159, 6.1:2057; KVM_CAP_NR_MEMSLOTS returns KVM_USER_MEM_SLOTS,
/// 6.12:4975, 6.1:4535): upstream adds all 32764, which takes minutes under
/// TCG (two SRCU grace periods each); here the ids at both ends of the range
/// and every 256th between, all held at once.
fn test_add_max_memory_regions() -> kvmtest::Result<()> {
    let kvm = kvmtest::kvm::open_kvm()?;
    let max_mem_slots = kvm.check_extension_int(kvmtest::Cap::NrMemslots);
    ensure!(max_mem_slots > 0, "KVM_CAP_NR_MEMSLOTS should be greater than 0, got {max_mem_slots}");
    let max_mem_slots = max_mem_slots as u32;
    let edge = max_mem_slots.min(64);
    let mut slots: Vec<u32> = (0..edge).chain((edge..max_mem_slots).step_by(256)).collect();
    slots.extend(max_mem_slots.saturating_sub(64).max(edge)..max_mem_slots);
    slots.dedup();

    // One mapping for all slots (MAP_NORESERVE: nothing is touched), each
    // slot at slot * MEM_REGION_SIZE as upstream; it outlives the VM.
    let mem = SlotMemory::new(u64::from(max_mem_slots) * MEM_REGION_SIZE)?;
    let mem_extra = SlotMemory::new(MEM_REGION_SIZE)?;
    let vm = BareVm::new()?;
    for &slot in &slots {
        let at = u64::from(slot) * MEM_REGION_SIZE;
        vm.set_user_memory_region(slot, 0, at, MEM_REGION_SIZE, mem.host_addr() + at).map_err(|e| {
            kvmtest::Error::Check(format!(
                "adding slot {slot} of the {max_mem_slots} allowed: expected success, got {e}"
            ))
        })?;
    }
    let at = u64::from(max_mem_slots) * MEM_REGION_SIZE;
    expect_einval(vm.set_user_memory_region(max_mem_slots, 0, at, MEM_REGION_SIZE, mem_extra.host_addr()), || {
        format!("Adding one more memory slot (slot {max_mem_slots}) should fail with EINVAL")
    })
}

/// A KVM_SET_USER_MEMORY_REGION2 region without host memory (`userspace_addr` 0).
fn region2(slot: u32, flags: u32, gpa: u64, size: u64, guest_memfd: u32, offset: u64) -> kvm_userspace_memory_region2 {
    kvm_userspace_memory_region2 {
        slot,
        flags,
        guest_phys_addr: gpa,
        memory_size: size,
        guest_memfd,
        guest_memfd_offset: offset,
        ..Default::default()
    }
}

/// The private-memory checks' VM type, or why they cannot run: x86 only,
/// KVM_SET_USER_MEMORY_REGION2 (6.8+), and the KVM_X86_SW_PROTECTED_VM type,
/// which only kernels built with CONFIG_KVM_SW_PROTECTED_VM (a debug option)
/// offer: asked of KVM as upstream's main() does.
fn sw_protected_vm_type() -> kvmtest::Result<u64> {
    let Some(vm_type) = HostArch::SW_PROTECTED_VM_TYPE else {
        return Err(kvmtest::Error::Skip("x86_64 only: KVM_X86_SW_PROTECTED_VM is an x86 VM type".into()));
    };
    Feature::UserMemory2.require()?;
    let guest_memfd = kvmtest::kvm::check_cap_raw(KVM_CAP_GUEST_MEMFD)?;
    let vm_types = kvmtest::kvm::check_cap_raw(KVM_CAP_VM_TYPES)?;
    if guest_memfd == 0 || vm_types & (1 << vm_type) == 0 {
        return Err(kvmtest::Error::Skip(format!(
            "requires KVM_CAP_GUEST_MEMFD and the KVM_X86_SW_PROTECTED_VM type (CONFIG_KVM_SW_PROTECTED_VM); \
             KVM says KVM_CAP_GUEST_MEMFD {guest_memfd}, KVM_CAP_VM_TYPES {vm_types:#x}"
        )));
    }
    Ok(vm_type)
}

/// A guest_memfd of `size` bytes of `vm`, owned.
fn guest_memfd(vm: &BareVm, size: u64) -> kvmtest::Result<OwnedFd> {
    let gmem = kvmtest::kvm_bindings::kvm_create_guest_memfd { size, ..Default::default() };
    let fd = vm.fd().create_guest_memfd(gmem).map_err(kvmtest::Error::kvm("KVM_CREATE_GUEST_MEMFD"))?;
    // SAFETY: KVM_CREATE_GUEST_MEMFD returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// test_invalid_guest_memfd(): KVM_MEM_GUEST_MEMFD with `memfd` at `offset` is EINVAL.
fn test_invalid_guest_memfd(vm: &BareVm, memfd: i32, offset: u64, msg: &str) -> kvmtest::Result<()> {
    let r = vm.set_user_memory_region2(region2(
        MEM_REGION_SLOT,
        KVM_MEM_GUEST_MEMFD,
        PRIVATE_REGION_GPA,
        MEM_REGION_SIZE,
        memfd as u32,
        offset,
    ));
    expect_einval(r, || format!("{msg} (guest_memfd offset {offset})"))
}

/// test_add_private_memory_region().
fn test_add_private_memory_region() -> kvmtest::Result<()> {
    let vm_type = sw_protected_vm_type()?;
    let vm = BareVm::with_type(vm_type)?;
    test_invalid_guest_memfd(&vm, vm.kvm().as_raw_fd(), 0, "KVM fd should fail")?;
    test_invalid_guest_memfd(&vm, vm.fd().as_raw_fd(), 0, "VM's fd should fail")?;

    // SAFETY: memfd_create takes a NUL-terminated name and flags; the fd it
    // returns is new and owned here.
    let memfd = unsafe { libc::memfd_create(c"kvm_selftest".as_ptr(), 0) };
    ensure!(memfd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd nothing else owns.
    let memfd = unsafe { OwnedFd::from_raw_fd(memfd) };
    // SAFETY: ftruncate on an fd this function owns.
    ensure!(unsafe { libc::ftruncate(memfd.as_raw_fd(), MEM_REGION_SIZE as i64) } == 0, "ftruncate of the memfd");
    test_invalid_guest_memfd(&vm, memfd.as_raw_fd(), 0, "Regular memfd() should fail")?;
    drop(memfd);

    let vm2 = BareVm::with_type(vm_type)?;
    let memfd = guest_memfd(&vm2, MEM_REGION_SIZE)?;
    test_invalid_guest_memfd(&vm, memfd.as_raw_fd(), 0, "Other VM's guest_memfd() should fail")?;
    vm2.set_user_memory_region2(region2(
        MEM_REGION_SLOT,
        KVM_MEM_GUEST_MEMFD,
        PRIVATE_REGION_GPA,
        MEM_REGION_SIZE,
        memfd.as_raw_fd() as u32,
        0,
    ))?;
    drop((memfd, vm2));

    let memfd = guest_memfd(&vm, MEM_REGION_SIZE)?;
    for offset in 1..4096 {
        test_invalid_guest_memfd(&vm, memfd.as_raw_fd(), offset, "Unaligned offset should fail")?;
    }
    vm.set_user_memory_region2(region2(
        MEM_REGION_SLOT,
        KVM_MEM_GUEST_MEMFD,
        PRIVATE_REGION_GPA,
        MEM_REGION_SIZE,
        memfd.as_raw_fd() as u32,
        0,
    ))
}

/// test_add_overlapping_private_memory_regions(): guest_memfd bindings
/// that overlap another slot's are EEXIST.
fn test_add_overlapping_private_memory_regions() -> kvmtest::Result<()> {
    let vm = BareVm::with_type(sw_protected_vm_type()?)?;
    let memfd = guest_memfd(&vm, MEM_REGION_SIZE * 4)?;
    let fd = memfd.as_raw_fd() as u32;
    let gpa = PRIVATE_REGION_GPA;
    vm.set_user_memory_region2(region2(MEM_REGION_SLOT, KVM_MEM_GUEST_MEMFD, gpa, MEM_REGION_SIZE * 2, fd, 0))?;
    vm.set_user_memory_region2(region2(
        MEM_REGION_SLOT + 1,
        KVM_MEM_GUEST_MEMFD,
        gpa * 2,
        MEM_REGION_SIZE * 2,
        fd,
        MEM_REGION_SIZE * 2,
    ))?;
    // Delete the first memslot, and then attempt to recreate it except with
    // a "bad" offset that results in overlap in the guest_memfd().
    vm.set_user_memory_region2(region2(MEM_REGION_SLOT, KVM_MEM_GUEST_MEMFD, gpa, 0, u32::MAX, 0))?;
    for (at, half) in [(gpa * 2 - MEM_REGION_SIZE, "front"), (gpa * 2 + MEM_REGION_SIZE, "back")] {
        match vm.set_user_memory_region2(region2(MEM_REGION_SLOT, KVM_MEM_GUEST_MEMFD, at, MEM_REGION_SIZE * 2, fd, 0)) {
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            other => bail!(
                "Overlapping guest_memfd() bindings should fail with EEXIST ({half} half of the other slot), got {other:?}"
            ),
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut trials = vec![
        runner::test("set_memory_region::zero_memory_regions", test_zero_memory_regions),
        runner::test("set_memory_region::invalid_memory_region_flags", test_invalid_memory_region_flags),
        runner::test("set_memory_region::add_max_memory_regions", test_add_max_memory_regions),
        runner::test("set_memory_region::add_private_memory_region", test_add_private_memory_region),
        runner::test(
            "set_memory_region::add_overlapping_private_memory_regions",
            test_add_overlapping_private_memory_regions,
        ),
    ];
    for (quirk, suffix) in [(false, "slot_zap_quirk_enabled"), (true, "slot_zap_quirk_disabled")] {
        trials.push(runner::test(format!("set_memory_region::move_memory_region::{suffix}"), move || {
            test_move_memory_region(quirk)
        }));
        trials.push(runner::test(format!("set_memory_region::delete_memory_region::{suffix}"), move || {
            test_delete_memory_region(quirk, false)
        }));
        trials.push(runner::test(
            format!("set_memory_region::delete_memory_region::primary_slot::{suffix}"),
            move || test_delete_memory_region(quirk, true),
        ));
    }
    runner::main(trials)
}
