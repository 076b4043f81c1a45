//! dirty_log: upstream dirty_log_test.c. A guest writes the iteration
//! number into random pages of a dirty-logged memslot, without pause; each
//! host iteration collects the dirty log while it runs, stops the vCPU at its
//! next GUEST_SYNC and checks every page: a page reported dirty holds this
//! iteration's or the last one's number (nothing is reported that was not
//! written since the last collection), a page not reported holds no newer
//! number, and one written just now must be reported by the next collection
//! (no write is lost). One trial per log mode upstream has: KVM_GET_DIRTY_LOG
//! alone, with KVM_CLEAR_DIRTY_LOG (manual protect), and the dirty ring.
//! Sized for emulated machines: 4099 pages (not a multiple of 64, as
//! upstream's 1 GiB + 3 pages) instead of 1 GiB, 12 iterations instead of 32.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

use kvmtest::abi::memslots::dirty_log::*;
use kvmtest::kvm_bindings::{
    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_DIRTY_LOG_INITIALLY_SET, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
};
use kvmtest::layout::{align_up, RegionKind};
use kvmtest::memslot::{DirtyBitmap, Memslots, SlotMemory, KVM_MEM_LOG_DIRTY_PAGES, PAGE_SIZE};
use kvmtest::vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use kvmtest::{bail, ensure, runner, Payload, Ucall, Vcpu, Vm};
use kvmtest_tests::payloads;

/// The memory slot index to track dirty pages.
const TEST_MEM_SLOT_INDEX: u32 = 1;
/// Pages of the test memory: upstream's (1 << 30 >> 12) + 3, scaled down.
const GUEST_NUM_PAGES: u64 = 4096 + 3;
/// How many pages to dirty for each guest loop (upstream: 1024).
const TEST_PAGES_PER_LOOP: u64 = 256;
/// How many host loops to run, one collection each (upstream: 32; must be > 2).
const TEST_HOST_LOOP_N: u64 = 12;
/// Interval of each host loop (upstream's 10 ms).
const TEST_HOST_LOOP_INTERVAL: Duration = Duration::from_millis(10);

/// The log modes of upstream's log_modes[].
#[derive(Debug, Clone, Copy, PartialEq)]
enum LogMode {
    /// Only KVM_GET_DIRTY_LOG.
    DirtyLog,
    /// KVM_GET_DIRTY_LOG then KVM_CLEAR_DIRTY_LOG of the same bits.
    ClearLog,
}

/// How long the host waits for the vCPU to stop at its next GUEST_SYNC: a
/// liveness bound (upstream's sem_wait has none), for emulated machines.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// vcpu_worker(): runs the guest; after each GUEST_SYNC, stops if the host
/// asked (vcpu_handle_sync_stop: `stop_requested`, then `stopped` and a wait
/// for `cont`, upstream's semaphores), until the host says quit.
fn vcpu_worker(
    vcpu: &mut Vcpu,
    stop_requested: &AtomicBool,
    quit: &AtomicBool,
    stopped: Sender<()>,
    cont: Receiver<()>,
) -> kvmtest::Result<u64> {
    let mut pages_count = 0;
    while !quit.load(Ordering::SeqCst) {
        pages_count += TEST_PAGES_PER_LOOP;
        match vcpu.run_until_ucall()? {
            Ucall::Sync { stage: SYNC_LOOP, .. } => {}
            other => bail!("Invalid guest sync status: expected SYNC({SYNC_LOOP}), got {other:?}"),
        }
        if stop_requested.swap(false, Ordering::SeqCst) {
            stopped.send(()).ok();
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
}

impl Verifier {
    /// vm_dirty_log_verify().
    fn verify(&mut self, mem: &SlotMemory, bmap: &mut DirtyBitmap, iteration: u64) -> kvmtest::Result<()> {
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

fn write_iteration(mem: &GuestMemoryMmap, at: u64, iteration: u64) -> kvmtest::Result<()> {
    mem.write_obj(iteration, GuestAddress(at)).map_err(|e| kvmtest::Error::Memory(format!("writing iteration: {e}")))
}

/// run_test() for one log mode.
fn run_test(mode: LogMode) -> kvmtest::Result<()> {
    let mut builder = Vm::builder().payload(Payload::elf(payloads::DIRTY_LOG));
    if mode == LogMode::ClearLog {
        // clear_log_create_vm_done(): manual protect, bits initially set.
        let kvm = kvmtest::kvm::open_kvm()?;
        let manual_caps = kvm.check_extension_raw(u64::from(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)) as u64;
        ensure!(manual_caps != 0, "MANUAL_CAPS is zero!");
        let manual_caps =
            manual_caps & u64::from(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
        builder = builder.vm_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, &[manual_caps]);
    }
    let mut vm = builder.build()?;

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
    let mut verifier =
        Verifier { track: DirtyBitmap::new(GUEST_NUM_PAGES), dirty_count: 0, clear_count: 0, track_next_count: 0 };
    let (stop_requested, quit) = (AtomicBool::new(false), AtomicBool::new(false));
    let (stopped_tx, stopped) = channel();
    let (cont, cont_rx) = channel();

    let (vcpus, slots, guest_mem) = vm.vcpus_and_memslots();
    let vcpu = &mut vcpus[0];
    std::thread::scope(|s| {
        let worker = s.spawn(|| vcpu_worker(vcpu, &stop_requested, &quit, stopped_tx, cont_rx));
        let hosted = (|| -> kvmtest::Result<()> {
            while iteration < TEST_HOST_LOOP_N {
                // Give the vCPU thread some time to dirty some pages.
                std::thread::sleep(TEST_HOST_LOOP_INTERVAL);
                let mut bmap = collect_dirty_pages(mode, slots)?;
                // Stop the vCPU at its next GUEST_SYNC, the only place where
                // the dirty bits and the data written are known to match.
                stop_requested.store(true, Ordering::SeqCst);
                stopped.recv_timeout(STOP_TIMEOUT).map_err(|e| {
                    kvmtest::Error::Check(format!("the vCPU did not stop at a GUEST_SYNC within {STOP_TIMEOUT:?}: {e}"))
                })?;
                verifier.verify(&mem, &mut bmap, iteration)?;
                // Quit before the vCPU continues in the last iteration, so it
                // does not enter the guest again.
                iteration += 1;
                if iteration == TEST_HOST_LOOP_N {
                    quit.store(true, Ordering::SeqCst);
                }
                cont.send(()).ok();
                write_iteration(guest_mem, iteration_at, iteration)?;
            }
            Ok(())
        })();
        // On a failure, end the vCPU thread at its next GUEST_SYNC.
        quit.store(true, Ordering::SeqCst);
        drop(cont);
        let pages = worker.join().unwrap_or_else(|_| Err(kvmtest::Error::Check("the vCPU thread panicked".into())));
        hosted?;
        pages?;
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
    ])
}
