//! The peer rows: kvmtest against the kernel's own KVM selftest library.
//! `bench/upstream/ucall_bench.c` (built by `cargo xtask bench` on the lib of
//! a Linux source tree, embedded here by build.rs) times GUEST_SYNC round
//! trips, vm_create_with_one_vcpu, and its start to the first ucall; runs of
//! it alternate with the same measurements of kvmtest, and each row is
//! kvmtest's best over upstream's.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use kvmtest::{Payload, Vm};

use crate::exits::harness_batch;
use crate::raw::{Host, RawArch, Result};
use crate::report::{Row, Target, Unit};
use crate::start::size_name;
use crate::stats::{best_ratio, summarize};

/// The static upstream program, or empty when it was not built.
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ucall_bench"));
/// Why [`PROGRAM`] is empty.
const NOT_BUILT: &str = env!("KVMTEST_BENCH_UPSTREAM_SKIP");
/// kvmtest's guest memory in the cold starts (upstream's VM is smaller).
const MEM: u64 = 64 << 20;
/// kselftest's exit status for a skipped test (`TEST_REQUIRE` failed).
const KSFT_SKIP: i32 = 4;

const UCALL_ROW: &str = "ucall round trip vs upstream selftest lib";
const CREATE_ROW: &str = "VM creation (1 vCPU, ELF loaded) vs upstream vm_create_with_one_vcpu";
const FIRST_ROW: &str = "cold start to first ucall vs upstream create + first vcpu_run";

/// What one run of the upstream program printed.
#[derive(Debug, Default, PartialEq)]
pub struct Samples {
    /// Each `vm_create_with_one_vcpu`'s time, in microseconds.
    pub create_us: Vec<f64>,
    /// Each start to the first ucall (the same call, then vcpu_run and
    /// get_ucall == SYNC(1)), in microseconds.
    pub first_us: Vec<f64>,
    /// Each batch's time per GUEST_SYNC round trip, in microseconds.
    pub ucall_us: Vec<f64>,
    /// The round trips it made (`done N`).
    pub round_trips: u64,
}

/// Parses the program's `create_us X`, `first_us X`, `ucall_us X` and `done N` lines; other
/// lines (the selftest lib's own, e.g. "Random seed") are ignored.
pub fn parse(out: &str) -> Result<Samples> {
    let mut s = Samples::default();
    for line in out.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        let number = || value.trim().parse::<f64>().map_err(|_| format!("upstream program: bad line `{line}`"));
        match key {
            "create_us" => s.create_us.push(number()?),
            "first_us" => s.first_us.push(number()?),
            "ucall_us" => s.ucall_us.push(number()?),
            "done" => s.round_trips = number()? as u64,
            _ => {}
        }
    }
    Ok(s)
}

/// The program written out to a temporary file (it loads its own ELF as the
/// guest, by path), removed on drop.
struct Program(PathBuf);

impl Program {
    fn install() -> Result<Program> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(format!("kvmtest-ucall-bench-{}", std::process::id()));
        std::fs::write(&path, PROGRAM).map_err(|e| format!("writing {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        Ok(Program(path))
    }

    /// One run; `Ok(Err(why))` when the program skipped itself.
    fn run(&self, creates: usize, batches: usize, batch: u64) -> Result<std::result::Result<Samples, String>> {
        let out = Command::new(&self.0)
            .args([creates.to_string(), batches.to_string(), batch.to_string()])
            .output()
            .map_err(|e| format!("running {}: {e}", self.0.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(KSFT_SKIP) {
            return Ok(Err(format!("upstream program skipped: {}", text.trim().replace('\n', " / "))));
        }
        if !out.status.success() {
            return Err(format!("upstream program failed ({}):\n{text}", out.status));
        }
        let s = parse(&text)?;
        let want = batches as u64 * batch;
        if s.create_us.len() != creates
            || s.first_us.len() != creates
            || s.ucall_us.len() != batches
            || s.round_trips != want
        {
            return Err(format!(
                "upstream program: expected {creates} creates and first ucalls, {batches} batches, \
                 {want} round trips:\n{text}"
            ));
        }
        Ok(Ok(s))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One kvmtest cold start of `elf` with `mem` bytes of RAM, timed as the
/// upstream program times its own: at the end of `build()` (VM, memory,
/// tables, firmware, ELF loaded, one vCPU set up; no KVM_RUN yet) and at the
/// first ucall, checked to be SYNC(1). In milliseconds; teardown untimed.
fn harness_start_split(elf: &'static [u8], mem: u64) -> Result<(f64, f64)> {
    let t = Instant::now();
    let mut vm = crate::start::harness_build(elf, mem)?;
    let created = t.elapsed();
    crate::start::harness_first_sync(&mut vm)?;
    let first = t.elapsed();
    drop(vm);
    Ok((created.as_secs_f64() * 1e3, first.as_secs_f64() * 1e3))
}

/// The three rows, skipped (with the reason) when the program is missing or
/// skipped itself. `rounds` alternations, each one upstream run of `creates`
/// cold starts and `batches` batches of `batch` round trips, and the same on
/// kvmtest's side (cold starts of `elf`, each timed at creation and at its
/// first ucall, and SYNC round trips of `elf` on the ELF transport, which is
/// upstream's too: PIO on x86_64, MMIO on arm64).
///
/// Creation is compared with creation (target 0.5x) and the start to the
/// first ucall with the same (no target: on nested SVM under TCG the first
/// KVM_RUN, the kernel's cost, is most of both).
pub fn rows(elf: &'static [u8], rounds: usize, creates: usize, batches: usize, batch: u64) -> Result<Vec<Row>> {
    let skipped = |why: String| {
        let ucall = Row { target: Target::MaxRatio(0.7), ..Row::skipped(UCALL_ROW.into(), why.clone()) };
        let create = Row { target: Target::MaxRatio(0.5), ..Row::skipped(CREATE_ROW.into(), why.clone()) };
        let first = Row { target: Target::None, ..Row::skipped(FIRST_ROW.into(), why) };
        Ok(vec![ucall, create, first])
    };
    if PROGRAM.is_empty() {
        return skipped(NOT_BUILT.into());
    }
    let program = Program::install()?;
    let (mut up, mut h_ucall, mut h_create, mut h_first) = (Samples::default(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let s = match program.run(creates, batches, batch)? {
                    Ok(s) => s,
                    Err(why) => return skipped(why),
                };
                up.create_us.extend(s.create_us);
                up.first_us.extend(s.first_us);
                up.ucall_us.extend(s.ucall_us);
                up.round_trips += s.round_trips;
                continue;
            }
            // No other VM of this process lives while its starts are timed,
            // as in upstream's program: on x86 a live vCPU without an
            // in-kernel LAPIC holds KVM's kvm_has_noapic_vcpu static key
            // (lapic.c, kvm_create_lapic/kvm_free_lapic), which spares each
            // start the text patching that enabling the key costs.
            for _ in 0..creates {
                let (created, first) = harness_start_split(elf, MEM)?;
                h_create.push(created);
                h_first.push(first);
            }
            let mut vm = Vm::builder()
                .transport(Host::ELF_TRANSPORT)
                .mem_size(MEM)
                .payload(Payload::elf(elf))
                .build()
                .map_err(|e| e.to_string())?;
            // One untimed warm-up batch, as upstream's.
            harness_batch(&mut vm, batch)?;
            for _ in 0..batches {
                let t = Instant::now();
                harness_batch(&mut vm, batch)?;
                h_ucall.push(t.elapsed().as_secs_f64() * 1e6 / batch as f64);
            }
        }
    }
    let ms = |us: &[f64]| us.iter().map(|us| us / 1e3).collect::<Vec<f64>>();
    let (up_create_ms, up_first_ms) = (ms(&up.create_us), ms(&up.first_us));
    let trips = rounds as u64 * batches as u64 * batch;
    let ucall = Row {
        name: UCALL_ROW.into(),
        unit: Unit::Micros,
        harness: summarize(&h_ucall),
        baseline_name: "upstream GUEST_SYNC: vcpu_run + get_ucall",
        baseline: summarize(&up.ucall_us),
        ratio: best_ratio(&h_ucall, &up.ucall_us),
        target: Target::MaxRatio(0.7),
        skip: None,
        note: format!(
            "{trips} round trips each (upstream made {}); kvmtest: Rust guest, {} transport",
            up.round_trips,
            Host::ELF_TRANSPORT
        ),
    };
    let create = Row {
        name: CREATE_ROW.into(),
        unit: Unit::Millis,
        harness: summarize(&h_create),
        baseline_name: "upstream vm_create_with_one_vcpu",
        baseline: summarize(&up_create_ms),
        ratio: best_ratio(&h_create, &up_create_ms),
        target: Target::MaxRatio(0.5),
        skip: None,
        note: format!(
            "both up to the first KVM_RUN, which neither includes; kvmtest: `Vm::builder()...build()` \
             (/dev/kvm opened once per process, by its first VM), {} guest, the bench ELF loaded; upstream: \
             its ELF (this program) loaded",
            size_name(MEM)
        ),
    };
    let first = Row {
        name: FIRST_ROW.into(),
        unit: Unit::Millis,
        harness: summarize(&h_first),
        baseline_name: "upstream vm_create_with_one_vcpu + vcpu_run + get_ucall",
        baseline: summarize(&up_first_ms),
        ratio: best_ratio(&h_first, &up_first_ms),
        target: Target::None,
        skip: None,
        note: "the same starts as the creation row, timed on to the first SYNC(1) (kvmtest: run_until_ucall)".into(),
    };
    Ok(vec![ucall, create, first])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_output_is_parsed() {
        let out =
            "Random seed: 0x6b8b4567\ncreate_us 1500.5\nfirst_us 1700.25\nucall_us 60.25\nucall_us 59.75\ndone 50\n";
        let s = parse(out).unwrap();
        let want =
            Samples { create_us: vec![1500.5], first_us: vec![1700.25], ucall_us: vec![60.25, 59.75], round_trips: 50 };
        assert_eq!(s, want);
        assert!(parse("ucall_us fast\n").is_err());
    }
}
