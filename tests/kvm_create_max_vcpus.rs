//! kvm_create_max_vcpus: upstream kvm_create_max_vcpus.c. KVM_CAP_MAX_VCPU_ID
//! is at least KVM_CAP_MAX_VCPUS (a kernel without MAX_VCPU_ID means "the
//! same as MAX_VCPUS", api.rst), and a VM takes vCPUs across the id range
//! `0..MAX_VCPUS` and, where the id space is larger, across
//! `MAX_VCPU_ID - MAX_VCPUS..MAX_VCPU_ID`.
//!
//! Bound: upstream creates all MAX_VCPUS vCPUs of each range (1024 and more
//! on x86, 512 on arm64 with GICv3), which the emulated machines (TCG, ~100x
//! slower) cannot do in their per-binary budget. Each range here is a
//! sparse set of SPARSE_IDS ids: its first ids, evenly spaced ids through
//! it and its last id, so both ends of each range are created, the highest
//! id KVM takes (MAX_VCPU_ID - 1) among them; what the count limit would
//! add is one id past the id range, which kvmtest checks is refused with
//! EINVAL (kvm_main.c kvm_vm_ioctl_create_vcpu: `id >= KVM_MAX_VCPU_IDS`).
//! One trial for upstream's main() (`creation`), one for the refusal
//! (`past_max_id`).

use kvmtest::kvm_bindings::{KVM_CAP_MAX_VCPUS, KVM_CAP_MAX_VCPU_ID};
use kvmtest::{ensure, runner, Error, Result};

/// How many ids each range creates (upstream: all of them).
const SPARSE_IDS: u64 = 64;

/// KVM_CAP_MAX_VCPU_ID and KVM_CAP_MAX_VCPUS of /dev/kvm, with upstream's
/// fallback for kernels before 4.8 and its consistency check.
fn limits() -> Result<(u64, u64)> {
    let kvm_max_vcpu_id = kvmtest::kvm::check_cap_raw(KVM_CAP_MAX_VCPU_ID.into())?;
    let kvm_max_vcpus = kvmtest::kvm::check_cap_raw(KVM_CAP_MAX_VCPUS.into())?;
    ensure!(kvm_max_vcpus > 0, "KVM_CAP_MAX_VCPUS: expected a positive count, got {kvm_max_vcpus}");
    // Upstream KVM prior to 4.8 does not support KVM_CAP_MAX_VCPU_ID: the
    // maximum id is then KVM_CAP_MAX_VCPUS.
    let kvm_max_vcpu_id = if kvm_max_vcpu_id == 0 { kvm_max_vcpus } else { kvm_max_vcpu_id };
    ensure!(
        kvm_max_vcpu_id >= kvm_max_vcpus,
        "KVM_MAX_VCPU_IDS ({kvm_max_vcpu_id}) must be at least as large as KVM_MAX_VCPUS ({kvm_max_vcpus})."
    );
    Ok((kvm_max_vcpu_id as u64, kvm_max_vcpus as u64))
}

/// The ids of `first..first + num` this test creates: all of them when
/// there are at most SPARSE_IDS, else the first SPARSE_IDS / 2, then
/// evenly spaced ones ending with the last.
fn sparse_ids(first: u64, num: u64) -> Vec<u64> {
    if num <= SPARSE_IDS {
        return (first..first + num).collect();
    }
    let head = SPARSE_IDS / 2;
    let tail = SPARSE_IDS - head;
    let mut ids: Vec<u64> = (first..first + head).collect();
    let rest = num - head;
    ids.extend((1..=tail).map(|k| first + head - 1 + rest * k / tail));
    ids
}

/// test_vcpu_creation(): a barebones VM takes vCPUs with the ids `ids`.
fn test_vcpu_creation(first_vcpu_id: u64, num_vcpus: u64) -> Result<()> {
    let kvm = kvmtest::kvm::open_kvm()?;
    let vm = kvmtest::kvm::create_default_vm(&kvm)?;
    let ids = sparse_ids(first_vcpu_id, num_vcpus);
    let mut vcpus = Vec::with_capacity(ids.len());
    for id in ids {
        let vcpu = vm.create_vcpu(id).map_err(|e| {
            Error::Check(format!(
                "KVM_CREATE_VCPU({id}) of the ids {first_vcpu_id}..={}: expected a vCPU, got errno {}",
                first_vcpu_id + num_vcpus - 1,
                e.errno()
            ))
        })?;
        vcpus.push(vcpu);
    }
    Ok(())
}

/// main()'s RLIMIT_NOFILE check: room for `nr_fds_wanted` descriptors,
/// raising the soft (and if need be the hard) limit; a hard limit this
/// process may not raise is a skip, as upstream.
fn ensure_fd_limit(nr_fds_wanted: u64) -> Result<()> {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit, `rl`.
    ensure!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0, "getrlimit() failed!");
    if rl.rlim_cur >= nr_fds_wanted {
        return Ok(());
    }
    let old_rlim_max = rl.rlim_max;
    rl.rlim_cur = nr_fds_wanted;
    rl.rlim_max = rl.rlim_max.max(nr_fds_wanted);
    // SAFETY: setrlimit reads one rlimit, `rl`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        if old_rlim_max < nr_fds_wanted {
            return Err(Error::Skip(format!(
                "RLIMIT_NOFILE hard limit is too low ({old_rlim_max}, wanted {nr_fds_wanted})"
            )));
        }
        kvmtest::bail!("setrlimit() failed!");
    }
    Ok(())
}

/// main() of the C test: the range from id 0, then, when the id space is
/// larger than the count, the range ending at the highest id.
fn creation() -> Result<()> {
    let (kvm_max_vcpu_id, kvm_max_vcpus) = limits()?;
    // vCPU fds of one range plus "an arbitrary number for everything else".
    ensure_fd_limit(sparse_ids(0, kvm_max_vcpus).len() as u64 + 100)?;
    test_vcpu_creation(0, kvm_max_vcpus)?;
    if kvm_max_vcpu_id > kvm_max_vcpus {
        test_vcpu_creation(kvm_max_vcpu_id - kvm_max_vcpus, kvm_max_vcpus)?;
    }
    Ok(())
}

/// kvmtest adds: the id KVM_CAP_MAX_VCPU_ID itself is refused with EINVAL.
fn past_max_id() -> Result<()> {
    let (kvm_max_vcpu_id, _) = limits()?;
    let kvm = kvmtest::kvm::open_kvm()?;
    let vm = kvmtest::kvm::create_default_vm(&kvm)?;
    match vm.create_vcpu(kvm_max_vcpu_id) {
        Err(e) if e.errno() == libc::EINVAL => Ok(()),
        Err(e) => Err(Error::Check(format!(
            "KVM_CREATE_VCPU({kvm_max_vcpu_id}) = KVM_CAP_MAX_VCPU_ID: expected EINVAL, got errno {}",
            e.errno()
        ))),
        Ok(_) => Err(Error::Check(format!(
            "KVM_CREATE_VCPU({kvm_max_vcpu_id}) = KVM_CAP_MAX_VCPU_ID: expected EINVAL, got a vCPU"
        ))),
    }
}

fn main() -> std::process::ExitCode {
    runner::main(vec![
        runner::test("kvm_create_max_vcpus::creation", creation),
        runner::test("kvm_create_max_vcpus::past_max_id", past_max_id),
    ])
}
