//! soak: the harness under load.
//! - `soak::ucall_storm::<transport>`: 32 vCPUs, each on its own thread,
//!   ucall at once, many times; every message must reach the host for the
//!   vCPU that sent it, in order, none lost (the guest sends its vCPU id and
//!   a sequence number). In the default run: it takes about a second.
//! - `soak::vm_lifecycle` (ignored: run with `cargo xtask soak`): create,
//!   run and drop 10,000 VMs (each transport in turn); open file
//!   descriptors, threads and resident memory must not grow once warmed up.
//!   Here: about 630 VMs/s, fds 6 -> 6, threads 3 -> 3, RSS +16 KiB.

use std::sync::RwLock;
use std::time::Instant;

use kvmtest::{ensure, runner, Error, Payload, TransportKind, Vm};
use kvmtest_tests::payloads;

/// The lifecycle soak measures the whole process: nothing else may run
/// beside it (storms share the lock, the soak takes it alone).
static PROCESS: RwLock<()> = RwLock::new(());

const STORM_VCPUS: usize = 32;
const STORM_ROUNDS: u64 = 100;
/// The storm payload's SYNC stage.
const STORM_STAGE: u64 = 1;

fn ucall_storm(transport: TransportKind) -> kvmtest::Result<()> {
    let _shared = PROCESS.read().unwrap_or_else(|e| e.into_inner());
    let mut vm = Vm::builder()
        .transport(transport)
        .vcpus(STORM_VCPUS)
        .payload(Payload::elf(payloads::UCALL_STORM))
        .arg(0, STORM_ROUNDS)
        .build()?;
    std::thread::scope(|s| {
        let threads: Vec<_> = vm
            .vcpus_mut()
            .iter_mut()
            .map(|vcpu| {
                s.spawn(move || -> kvmtest::Result<()> {
                    let id = vcpu.id() as u64;
                    for seq in 0..STORM_ROUNDS {
                        let args = vcpu.expect_sync(STORM_STAGE)?;
                        ensure!(
                            *args == [id, seq],
                            "vCPU {id}: message #{seq}: expected [vcpu {id}, seq {seq}], got {args:?}"
                        );
                    }
                    vcpu.expect_done()
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| Error::Check("a vCPU thread panicked".into()))??;
        }
        Ok(())
    })
}

/// VMs measured, after `WARMUP` VMs that let one-time costs settle (the
/// watchdog thread, lazily loaded code, the allocator's arenas).
const VMS: usize = 10_000;
const WARMUP: usize = 500;
/// Allowed growth of resident memory. A leak of one 4 KiB page per VM would
/// add 40 MiB over 10,000 VMs and a leak of 420 bytes per VM 4 MiB, so this
/// still catches any per-VM leak of guest memory, kvm_run pages or
/// descriptors, while leaving room for allocator caches and lazily faulted
/// pages of the binary, which move by a few hundred KiB after warm-up.
const RSS_TOLERANCE_KIB: u64 = 4096;

/// What a leak would grow.
#[derive(Debug, Clone, Copy)]
struct Usage {
    fds: usize,
    threads: usize,
    rss_kib: u64,
}

impl Usage {
    fn now() -> kvmtest::Result<Usage> {
        let io = |what: &str, e: std::io::Error| Error::Check(format!("reading {what}: {e}"));
        let count = |dir: &str| std::fs::read_dir(dir).map(|d| d.count()).map_err(|e| io(dir, e));
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| io("/proc/self/status", e))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| Error::Check("no VmRSS line in /proc/self/status".into()))?;
        Ok(Usage { fds: count("/proc/self/fd")?, threads: count("/proc/self/task")?, rss_kib })
    }
}

/// The life of VM number `i`: build (ELF payload loaded), run to DONE,
/// drop. The VMs take each transport in turn.
fn one_vm(i: usize) -> kvmtest::Result<()> {
    const DONE: u64 = 3; // the ucall payload's DONE mode
    let transports = TransportKind::all();
    let transport = transports[i % transports.len()];
    let mut vm = Vm::builder().transport(transport).payload(Payload::elf(payloads::UCALL)).arg(0, DONE).build()?;
    vm.vcpu(0).expect_done().map_err(|e| Error::Check(format!("VM #{i} ({transport}): {e}")))
}

fn vm_lifecycle() -> kvmtest::Result<()> {
    let _alone = PROCESS.write().unwrap_or_else(|e| e.into_inner());
    for i in 0..WARMUP {
        one_vm(i)?;
    }
    let before = Usage::now()?;
    let start = Instant::now();
    for i in 0..VMS {
        one_vm(WARMUP + i)?;
    }
    let took = start.elapsed();
    let after = Usage::now()?;
    // stderr: stdout may be KTAP for kernel CI.
    eprintln!(
        "soak: {VMS} VMs created, run and dropped in {:.1} s ({:.0} VMs/s); \
         fds {} -> {}, threads {} -> {}, RSS {} KiB -> {} KiB",
        took.as_secs_f64(),
        VMS as f64 / took.as_secs_f64(),
        before.fds,
        after.fds,
        before.threads,
        after.threads,
        before.rss_kib,
        after.rss_kib
    );
    ensure!(after.fds <= before.fds, "file descriptors leaked: {} before {VMS} VMs, {} after", before.fds, after.fds);
    ensure!(after.threads <= before.threads, "threads leaked: {} before, {} after", before.threads, after.threads);
    ensure!(
        after.rss_kib <= before.rss_kib + RSS_TOLERANCE_KIB,
        "resident memory grew by {} KiB over {VMS} VMs ({} -> {} KiB), more than the {RSS_TOLERANCE_KIB} KiB allowed",
        after.rss_kib.saturating_sub(before.rss_kib),
        before.rss_kib,
        after.rss_kib
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut trials: Vec<_> = TransportKind::all()
        .iter()
        .map(|&t| runner::test(format!("soak::ucall_storm::{t}"), move || ucall_storm(t)))
        .collect();
    trials.push(runner::ignored("soak::vm_lifecycle", "slow: cargo xtask soak", vm_lifecycle));
    runner::main(trials)
}
