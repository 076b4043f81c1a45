//! Cold start: from nothing to the first ucall of an ELF payload — open
//! /dev/kvm, create the VM, map memory, write page tables, create the vCPU,
//! load the ELF, KVM_RUN until its first SYNC — against the same steps done
//! by hand on a [`RawVm`]. Teardown is not timed. Also the resident memory a
//! VM costs after its first ucall.

use std::time::Instant;

use kvmtest::{Payload, Ucall, Vm};

use crate::exits::{raw_check, STAGE};
use crate::raw::{Host, RawArch, RawVm, Result};
use crate::report::{Row, Target, Unit};
use crate::stats::{best_ratio, summarize, Summary};

pub(crate) fn harness_start(elf: &'static [u8], mem: u64) -> Result<Vm> {
    let mut vm = harness_build(elf, mem)?;
    harness_first_sync(&mut vm)?;
    Ok(vm)
}

/// The harness's VM for `elf` with `mem` bytes of RAM, built (no KVM_RUN yet).
pub(crate) fn harness_build(elf: &'static [u8], mem: u64) -> Result<Vm> {
    Vm::builder()
        .transport(Host::ELF_TRANSPORT)
        .mem_size(mem)
        .payload(Payload::elf(elf))
        .build()
        .map_err(|e| e.to_string())
}

/// Runs `vm` to its first ucall, which must be the bench payload's SYNC.
pub(crate) fn harness_first_sync(vm: &mut Vm) -> Result<()> {
    match vm.vcpu(0).run_until_ucall().map_err(|e| e.to_string())? {
        Ucall::Sync { stage: STAGE, .. } => Ok(()),
        other => Err(format!("harness start: first ucall {other:?}, expected SYNC({STAGE})")),
    }
}

fn raw_start(elf: &[u8], mem: u64) -> Result<RawVm> {
    let t = Host::ELF_TRANSPORT;
    let mut vm = RawVm::new(mem as usize, t)?;
    vm.load_elf(elf)?;
    vm.run_exits(Host::exit(t), 1, |vm, _| raw_check(vm, t, true).map_err(|e| format!("raw start: {e}")))?;
    Ok(vm)
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// `runs` cold starts of each kind with `mem` bytes of guest RAM, interleaved.
pub fn measure(elf: &'static [u8], mem: u64, runs: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut h, mut r) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for side in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
            let t = Instant::now();
            if side == 0 {
                let vm = harness_start(elf, mem)?;
                h.push(ms_since(t));
                drop(vm);
            } else {
                let vm = raw_start(elf, mem)?;
                r.push(ms_since(t));
                drop(vm);
            }
        }
    }
    Ok((h, r))
}

/// The cold-start row for a `mem`-byte guest, from harness (`h`) and raw (`r`) samples.
pub fn row(mem: u64, h: &[f64], r: &[f64]) -> Row {
    Row {
        name: format!("cold start to first ucall, {} guest", size_name(mem)),
        unit: Unit::Millis,
        harness: summarize(h),
        baseline_name: "raw minimal VM start, same ELF",
        baseline: summarize(r),
        ratio: best_ratio(h, r),
        target: Target::MaxRatio(1.5),
        skip: None,
        note: String::new(),
    }
}

/// The start must not grow with guest memory. The kernel's own memslot
/// set-up may grow (its per-page arrays are sized by the slot) and does so in
/// the raw start too; so the row compares kvmtest's overhead over the raw
/// start at the big size with the same overhead at the small size: a
/// harness step that grew with memory would raise the first.
pub fn growth_row(small: u64, big: u64, h: (&[f64], &[f64]), r: (&[f64], &[f64])) -> Row {
    let (hs, hb, rs, rb) = (summarize(h.0), summarize(h.1), summarize(r.0), summarize(r.1));
    let (over_small, over_big) = (hs.min / rs.min, hb.min / rb.min);
    Row {
        name: format!("cold start overhead, {} vs {} guest", size_name(big), size_name(small)),
        unit: Unit::Millis,
        harness: hb,
        baseline_name: "kvmtest start, small guest",
        baseline: hs,
        ratio: over_big / over_small,
        target: Target::MaxRatio(1.25),
        skip: None,
        note: format!(
            "fastest starts: kvmtest {:.2} -> {:.2} ms, raw {:.2} -> {:.2} ms; the ratio is \
             (kvmtest/raw at {}) / (kvmtest/raw at {})",
            hs.min,
            hb.min,
            rs.min,
            rb.min,
            size_name(big),
            size_name(small)
        ),
    }
}

/// `bytes` as "4 MiB" or "1 GiB".
pub fn size_name(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// Resident set of this process in MiB (/proc/self/statm).
fn rss_mib() -> Result<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|e| format!("/proc/self/statm: {e}"))?;
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).ok_or("statm format")?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    Ok(pages * page / f64::from(1 << 20))
}

/// The system's transparent huge page mode (`always`, `madvise`, `never`).
fn thp_mode() -> String {
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let chosen = mode.split_whitespace().find(|m| m.starts_with('['));
    chosen.map_or_else(|| "unknown".into(), |m| m.trim_matches(['[', ']']).to_string())
}

/// Sets or clears PR_SET_THP_DISABLE for this process.
fn set_thp_disabled(off: bool) -> Result<()> {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, libc::c_ulong::from(off), 0, 0, 0) };
    if rc != 0 {
        return Err(format!("prctl(PR_SET_THP_DISABLE): {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Resident memory added by one VM with `mem` bytes of RAM after its first ucall, harness and raw.
fn resident(elf: &'static [u8], mem: u64, runs: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut h, mut r) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let before = rss_mib()?;
        let vm = harness_start(elf, mem)?;
        h.push(rss_mib()? - before);
        drop(vm);
        let before = rss_mib()?;
        let vm = raw_start(elf, mem)?;
        r.push(rss_mib()? - before);
        drop(vm);
    }
    Ok((h, r))
}

/// Resident memory added by one VM with `mem` bytes of RAM, after its first
/// ucall, harness against raw; each the median of `runs`. Counted in the
/// pages touched: with transparent huge pages the kernel would fill a whole
/// 2 MiB page on the first touch of each 2 MiB region, for the raw VM alike
/// (`always` is Debian's default: any VM that writes its low tables and a
/// payload at 2 MiB is then 4 MiB resident). Both VMs now ask for 4 KiB
/// pages (MADV_NOHUGEPAGE); the row still runs with THP off for this
/// process, and the note gives the figures under the system's mode.
pub fn memory_row(elf: &'static [u8], mem: u64, runs: usize) -> Result<Row> {
    let mode = thp_mode();
    let (h_sys, r_sys) = resident(elf, mem, runs)?;
    set_thp_disabled(true)?;
    let touched = resident(elf, mem, runs);
    set_thp_disabled(false)?;
    let (h, r) = touched?;
    let (hs, rs): (Summary, Summary) = (summarize(&h), summarize(&r));
    Ok(Row {
        name: format!("resident memory after first ucall, {} guest", size_name(mem)),
        unit: Unit::MiB,
        harness: hs,
        baseline_name: "raw minimal VM, same ELF",
        baseline: rs,
        ratio: hs.median / rs.median.max(1.0 / 256.0),
        target: Target::MaxValue(4.0),
        skip: None,
        note: format!(
            "pages touched (THP off for the row); under the system's THP mode `{mode}`: kvmtest {:.2} MiB, raw {:.2} MiB (medians)",
            summarize(&h_sys).median,
            summarize(&r_sys).median
        ),
    })
}
