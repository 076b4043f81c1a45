//! dirty_log: upstream dirty_log_test.c. A guest writes the iteration
//! number into random pages of a dirty-logged memslot, without pause; each
//! host iteration collects the dirty log while it runs, stops the vCPU at its
//! next GUEST_SYNC and checks every page: a page reported dirty holds this
//! iteration's or the last one's number (nothing is reported that was not
//! written since the last collection), a page not reported holds no newer
//! number, and one written just now must be reported by the next collection
//! (no write is lost). One trial per log mode upstream has: KVM_GET_DIRTY_LOG
//! alone, with KVM_CLEAR_DIRTY_LOG (manual protect), and the dirty ring.
//! Sized for emulated machines: 1027 pages (not a multiple of 64, as
//! upstream's 1 GiB + 3 pages) instead of 1 GiB, 8 iterations instead of 32.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

use kvmtest::abi::memslots::dirty_log::*;
use kvmtest::arch::{Arch, HostArch};
use kvmtest::kvm_bindings::KVM_EXIT_DIRTY_RING_FULL;
use kvmtest::kvm_bindings::{
    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_DIRTY_LOG_INITIALLY_SET, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
};
use kvmtest::kvm_ioctls::VcpuExit;
use kvmtest::layout::{align_up, RegionKind};
use kvmtest::memslot::{
    DirtyBitmap, DirtyRing, Memslots, SlotMemory, DIRTY_GFN_SIZE, KVM_MEM_LOG_DIRTY_PAGES, PAGE_SIZE,
};
use kvmtest::vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use kvmtest::{bail, ensure, runner, ExitAction, Payload, Ucall, Vcpu, Vm};
use kvmtest_tests::payloads;

/// The memory slot index to track dirty pages.
const TEST_MEM_SLOT_INDEX: u32 = 1;
/// Pages of the test memory: upstream's (1 << 30 >> 12) + 3, scaled down.
const GUEST_NUM_PAGES: u64 = 1024 + 3;
/// How many pages to dirty for each guest loop (upstream: 1024).
const TEST_PAGES_PER_LOOP: u64 = 64;
/// The watchdog of one run between two ucalls: the first pass over every
/// page takes seconds on a loaded emulated machine.
const VCPU_TIMEOUT: Duration = Duration::from_secs(60);
/// How many host loops to run, one collection each (upstream: 32; must be > 2).
const TEST_HOST_LOOP_N: u64 = 8;
/// Interval of each host loop (upstream's 10 ms).
const TEST_HOST_LOOP_INTERVAL: Duration = Duration::from_millis(10);

/// The log modes of upstream's log_modes[].
#[derive(Debug, Clone, Copy, PartialEq)]
enum LogMode {
    /// Only KVM_GET_DIRTY_LOG.
    DirtyLog,
    /// KVM_GET_DIRTY_LOG then KVM_CLEAR_DIRTY_LOG of the same bits.
    ClearLog,
    /// The per-vCPU dirty ring and KVM_RESET_DIRTY_RINGS.
    DirtyRing,
}

/// TEST_DIRTY_RING_COUNT: upstream's ring size before it is capped to the
/// largest power of two not above the test pages (so the ring fills up).
const TEST_DIRTY_RING_COUNT: u32 = 65536;

/// dirty_ring_create_vm_done()'s ring size: a power of two, at most the pages.
fn dirty_ring_count() -> u32 {
    let limit = 1u32 << (63 - GUEST_NUM_PAGES.leading_zeros());
    TEST_DIRTY_RING_COUNT.min(limit)
}

/// How long the host waits for the vCPU to stop at its next GUEST_SYNC: a
/// liveness bound (upstream's sem_wait has none), for emulated machines.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// vcpu_worker(): runs the guest; after each GUEST_SYNC, stops if the host
/// asked (vcpu_handle_sync_stop: `stop_requested`, then `stopped` and a wait
/// for `cont`, upstream's semaphores), until the host says quit. In the
/// dirty-ring mode a KVM_EXIT_DIRTY_RING_FULL stops it too
/// (dirty_ring_after_vcpu_run), which `stopped` says (true).
fn vcpu_worker(
    vcpu: &mut Vcpu,
    mode: LogMode,
    stop_requested: &AtomicBool,
    quit: &AtomicBool,
    stopped: Sender<bool>,
    cont: Receiver<()>,
) -> kvmtest::Result<u64> {
    let mut pages_count = 0;
    while !quit.load(Ordering::SeqCst) {
        pages_count += TEST_PAGES_PER_LOOP;
        let mut ring_full = false;
        let run = vcpu.run_with(|exit| match exit {
            VcpuExit::Unsupported(KVM_EXIT_DIRTY_RING_FULL) if mode == LogMode::DirtyRing => {
                ring_full = true;
                ExitAction::Stop
            }
            _ => ExitAction::Unhandled,
        });
        match run {
            Ok(Ucall::Sync { stage: SYNC_LOOP, .. }) => {}
            Err(kvmtest::Error::ExitStopped { .. }) if ring_full => {}
            Ok(other) => bail!("Invalid guest sync status: expected SYNC({SYNC_LOOP}), got {other:?}"),
            Err(e) => return Err(e),
        }
        if stop_requested.swap(false, Ordering::SeqCst) || ring_full {
            stopped.send(ring_full).ok();
            if cont.recv().is_err() {
                break;
            }
        }
    }
    Ok(pages_count)
}

/// The host's record across iterations (upstream's host_bmap_track and counters).
struct Verifier {
    /// Pages that must be reported dirty by the next collection.
    track: DirtyBitmap,
    dirty_count: u64,
    clear_count: u64,
    track_next_count: u64,
    /// Dirty ring: the last page collected (dirty_ring_last_page), whose
    /// write may not have happened yet when the ring filled.
    ring_last_page: Option<u64>,
    /// Dirty ring: the iteration-2 exception is taken once per iteration.
    min_iter: u64,
}

impl Verifier {
    /// vm_dirty_log_verify().
    fn verify(
        &mut self,
        mode: LogMode,
        mem: &SlotMemory,
        bmap: &mut DirtyBitmap,
        iteration: u64,
    ) -> kvmtest::Result<()> {
        ensure!(!bmap.has_bits_past_end(), "the dirty bitmap has bits set past its {} pages", bmap.pages());
        for page in 0..GUEST_NUM_PAGES {
            let value = mem.load_u64(page * PAGE_SIZE)?;

            // If this is a special page that we were tracking...
            if self.track.test_and_clear(page) {
                self.track_next_count += 1;
                ensure!(
                    bmap.test(page),
                    "Page {page} should have its dirty bit set in this iteration but it is missing \
                     (iteration {iteration}, value {value})"
                );
            }

            if bmap.test_and_clear(page) {
                self.dirty_count += 1;
                // If the bit is set, the value written onto the page should
                // be either the previous iteration number or the current one.
                let matched = value == iteration || value == iteration - 1;
                if mode == LogMode::DirtyRing && !matched {
                    if iteration >= 2 && value == iteration - 2 && self.min_iter <= iteration - 2 {
                        // The last page before a ring full in iteration N-2,
                        // written with a number the vCPU still held in a
                        // register (upstream's long answer): once per iteration.
                        self.min_iter = iteration - 1;
                        continue;
                    } else if Some(page) == self.ring_last_page {
                        // Collected when the ring filled, before the write
                        // itself happened.
                        continue;
                    }
                }
                ensure!(
                    value == iteration || value == iteration - 1,
                    "Set page {page} value {value} incorrect (iteration={iteration}): expected {} or {iteration}",
                    iteration - 1
                );
            } else {
                self.clear_count += 1;
                // If cleared, the value can be any number up to the
                // iteration (iteration - 1 when written just before the last
                // collection, whose bitmap had it).
                ensure!(
                    value <= iteration,
                    "Clear page {page} value {value} incorrect (iteration={iteration}): expected at most {iteration}"
                );
                if value == iteration {
                    // Just modified: the next collection must report it.
                    self.track.set(page);
                }
            }
        }
        Ok(())
    }
}

fn collect_dirty_pages(mode: LogMode, slots: Memslots<'_>) -> kvmtest::Result<DirtyBitmap> {
    let bitmap = slots.get_dirty_log(TEST_MEM_SLOT_INDEX)?;
    if mode == LogMode::ClearLog {
        slots.clear_dirty_log(TEST_MEM_SLOT_INDEX, 0, GUEST_NUM_PAGES as u32, &bitmap)?;
    }
    Ok(bitmap)
}

/// The vCPU side of the dirty-ring collection: the host waits for the vCPU
/// to stop (upstream kicks it with a signal; here it stops at its next
/// GUEST_SYNC, or earlier when the ring fills), and lets it continue.
struct VcpuStops<'a> {
    stop_requested: &'a AtomicBool,
    stopped: &'a Receiver<bool>,
    cont: &'a Sender<()>,
}

impl VcpuStops<'_> {
    /// Asks the vCPU to stop; returns whether it stopped because the ring was full.
    fn wait_vcpu(&self) -> kvmtest::Result<bool> {
        self.stop_requested.store(true, Ordering::SeqCst);
        self.stopped
            .recv_timeout(STOP_TIMEOUT)
            .map_err(|e| kvmtest::Error::Check(format!("the vCPU did not stop within {STOP_TIMEOUT:?}: {e}")))
    }
    fn continue_vcpu(&self) {
        self.cont.send(()).ok();
    }
}

/// dirty_ring_collect_dirty_pages().
fn dirty_ring_collect_dirty_pages(
    ring: &mut DirtyRing,
    slots: Memslots<'_>,
    stops: &VcpuStops<'_>,
    verifier: &mut Verifier,
) -> kvmtest::Result<DirtyBitmap> {
    let ring_full = stops.wait_vcpu()?;
    // Not a ring-full event: the vCPU may continue at once.
    let continued_vcpu = !ring_full;
    if continued_vcpu {
        stops.continue_vcpu();
    }
    // dirty_ring_collect_one(): only one vCPU.
    let mut bitmap = DirtyBitmap::new(GUEST_NUM_PAGES);
    let collected = ring.collect()?;
    for &(slot, offset) in &collected {
        ensure!(slot == TEST_MEM_SLOT_INDEX, "Slot number didn't match: {slot} != {TEST_MEM_SLOT_INDEX}");
        ensure!(offset < GUEST_NUM_PAGES, "Offset overflow: {offset:#x} >= {GUEST_NUM_PAGES:#x}");
        bitmap.set(offset);
        verifier.ring_last_page = Some(offset);
    }
    let cleared = slots.reset_dirty_rings()?;
    // KVM clears exactly the entries that were harvested.
    ensure!(
        cleared as usize == collected.len(),
        "Reset dirty pages ({cleared}) mismatch with collected ({})",
        collected.len()
    );
    if !continued_vcpu {
        ensure!(ring_full, "Didn't continue vcpu even without ring full");
        stops.continue_vcpu();
    }
    Ok(bitmap)
}

fn write_iteration(mem: &GuestMemoryMmap, at: u64, iteration: u64) -> kvmtest::Result<()> {
    mem.write_obj(iteration, GuestAddress(at)).map_err(|e| kvmtest::Error::Memory(format!("writing iteration: {e}")))
}

/// run_test() for one log mode.
fn run_test(mode: LogMode) -> kvmtest::Result<()> {
    let mut builder = Vm::builder().payload(Payload::elf(payloads::DIRTY_LOG)).timeout(VCPU_TIMEOUT);
    if mode == LogMode::ClearLog {
        // clear_log_create_vm_done(): manual protect, bits initially set.
        let kvm = kvmtest::kvm::open_kvm()?;
        let manual_caps = kvm.check_extension_raw(u64::from(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)) as u64;
        ensure!(manual_caps != 0, "MANUAL_CAPS is zero!");
        let manual_caps = manual_caps & u64::from(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
        builder = builder.vm_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, &[manual_caps]);
    }
    let ring_count = dirty_ring_count();
    if mode == LogMode::DirtyRing {
        HostArch::DIRTY_LOG_RING.require()?;
        if kvmtest::backend()?.is_pvm() {
            // Seen on this project's PVM hosts (Linux 6.18): the vCPU is not
            // stopped at the ring's soft limit, KVM pushes past the end (the
            // host logs WARNING at virt/kvm/dirty_ring.c kvm_dirty_ring_push)
            // and the first harvested entry is the page after the ring's size:
            // earlier pages are lost. Real KVM (SVM, arm64) passes.
            return Err(kvmtest::Error::Skip(
                "kvm_pvm: the dirty ring overflows instead of exiting with KVM_EXIT_DIRTY_RING_FULL at its soft \
                 limit (host WARNING in kvm_dirty_ring_push); a backend defect"
                    .into(),
            ));
        }
        let Some(cap) = kvmtest::memslot::dirty_ring_cap()? else {
            bail!("KVM_CAP_DIRTY_LOG_RING(_ACQ_REL): expected this series to offer the dirty ring, KVM offers neither")
        };
        // Before any vCPU exists.
        builder = builder.vm_cap(cap, &[u64::from(ring_count * DIRTY_GFN_SIZE)]);
    }
    let mut vm = builder.build()?;
    let mut ring = match mode {
        LogMode::DirtyRing => Some(DirtyRing::map(vm.vcpu(0), ring_count)?),
        _ => None,
    };

    // The test memory at the start of the spare range; `iteration` in the
    // shared arena of guest RAM.
    let test_mem = vm.layout().spare.start;
    let size = GUEST_NUM_PAGES * PAGE_SIZE;
    let mem = vm.memslots().add(TEST_MEM_SLOT_INDEX, test_mem, size, KVM_MEM_LOG_DIRTY_PAGES)?;
    vm.map_region(test_mem..test_mem + align_up(size, 2 << 20), RegionKind::Ram)?;
    let iteration_at = vm.shared_alloc(8)?;
    for (i, v) in [
        (ARG_TEST_MEM, test_mem),
        (ARG_NUM_PAGES, GUEST_NUM_PAGES),
        (ARG_ITERATION, iteration_at),
        (ARG_PAGES_PER_LOOP, TEST_PAGES_PER_LOOP),
        (ARG_SEED, 0x9e37_79b9_7f4a_7c15),
    ] {
        vm.set_arg(i, v)?;
    }

    let mut iteration = 1;
    write_iteration(vm.mem(), iteration_at, iteration)?;
    let mut verifier = Verifier {
        track: DirtyBitmap::new(GUEST_NUM_PAGES),
        dirty_count: 0,
        clear_count: 0,
        track_next_count: 0,
        ring_last_page: None,
        min_iter: 0,
    };
    let (stop_requested, quit) = (AtomicBool::new(false), AtomicBool::new(false));
    let (stopped_tx, stopped) = channel();
    let (cont, cont_rx) = channel();

    let (vcpus, slots, guest_mem) = vm.vcpus_and_memslots();
    let vcpu = &mut vcpus[0];
    std::thread::scope(|s| {
        let worker = s.spawn(|| vcpu_worker(vcpu, mode, &stop_requested, &quit, stopped_tx, cont_rx));
        let hosted = (|| -> kvmtest::Result<()> {
            let stops = VcpuStops { stop_requested: &stop_requested, stopped: &stopped, cont: &cont };
            while iteration < TEST_HOST_LOOP_N {
                // Give the vCPU thread some time to dirty some pages.
                std::thread::sleep(TEST_HOST_LOOP_INTERVAL);
                let mut bmap = match ring.as_mut() {
                    Some(ring) => dirty_ring_collect_dirty_pages(ring, slots, &stops, &mut verifier)?,
                    None => collect_dirty_pages(mode, slots)?,
                };
                // Stop the vCPU at its next GUEST_SYNC, the only place where
                // the dirty bits and the data written are known to match (in
                // the dirty-ring mode it may stop at a ring full instead:
                // only the last page's write is missing then, which the
                // verification allows).
                stops.wait_vcpu()?;
                verifier.verify(mode, &mem, &mut bmap, iteration)?;
                // Quit before the vCPU continues in the last iteration, so it
                // does not enter the guest again.
                iteration += 1;
                if iteration == TEST_HOST_LOOP_N {
                    quit.store(true, Ordering::SeqCst);
                }
                // The new number before the vCPU continues, as upstream's
                // sync_global_to_guest() before sem_post(): written after,
                // the guest could read the old one, take a write fault on a
                // page the next collection protects again and store that
                // number an iteration late (seen: "Set page 77 value 1
                // incorrect (iteration=3)" on arm64).
                write_iteration(guest_mem, iteration_at, iteration)?;
                stops.continue_vcpu();
            }
            Ok(())
        })();
        // On a failure, end the vCPU thread at its next GUEST_SYNC.
        quit.store(true, Ordering::SeqCst);
        drop(cont);
        let pages = worker.join().unwrap_or_else(|_| Err(kvmtest::Error::Check("the vCPU thread panicked".into())));
        // The vCPU thread's failure is the cause of the host's, if both failed.
        pages?;
        hosted?;
        // Every page was checked once per iteration.
        let checked = verifier.dirty_count + verifier.clear_count;
        ensure!(
            checked == (TEST_HOST_LOOP_N - 1) * GUEST_NUM_PAGES,
            "checked {checked} pages: expected {} iterations of {GUEST_NUM_PAGES}",
            TEST_HOST_LOOP_N - 1
        );
        ensure!(verifier.dirty_count > 0, "no page was ever reported dirty in {TEST_HOST_LOOP_N} iterations");
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    runner::main(vec![
        runner::test("dirty_log::dirty-log", || run_test(LogMode::DirtyLog)),
        runner::test("dirty_log::clear-log", || run_test(LogMode::ClearLog)),
        runner::test("dirty_log::dirty-ring", || run_test(LogMode::DirtyRing)),
    ])
}
