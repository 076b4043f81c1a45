//! kvm_binary_stats: upstream kvm_binary_stats_test.c. The binary stats file
//! (KVM_GET_STATS_FD) of several VMs and of each of their vCPUs: header, id
//! string, descriptors and data, through dup'd and second fds, and again
//! after the VM is gone (each stats fd holds its own reference to the VM).
//! One trial per VM, `kvm_binary_stats::vm<i>`, as upstream reports them.

use std::sync::Mutex;

use kvmtest::asm::AsmGuest;
use kvmtest::kvm_bindings::{
    kvm_stats_header, KVM_CAP_BINARY_STATS_FD, KVM_STATS_BASE_MASK, KVM_STATS_BASE_MAX, KVM_STATS_TYPE_LINEAR_HIST,
    KVM_STATS_TYPE_MASK, KVM_STATS_TYPE_MAX, KVM_STATS_UNIT_BOOLEAN, KVM_STATS_UNIT_BYTES, KVM_STATS_UNIT_CYCLES,
    KVM_STATS_UNIT_MASK, KVM_STATS_UNIT_MAX, KVM_STATS_UNIT_NONE, KVM_STATS_UNIT_SECONDS,
};
use kvmtest::series::Feature;
use kvmtest::stats::{StatsFd, STATS_HEADER_SIZE};
use kvmtest::{bail, ensure, runner, Vm};

/// DEFAULT_NUM_VM and DEFAULT_NUM_VCPU of the C test.
const NUM_VM: usize = 4;
const NUM_VCPU: usize = 4;

/// The trials run one at a time: `stats_test` checks a closed fd number is
/// gone, which another trial's thread opening a file could make untrue.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The id the kernel gives the stats of a VM or vCPU this thread created:
/// `"kvm-%d"` / `"kvm-%d/vcpu-%d"` of task_pid_nr(current), the thread id
/// (virt/kvm/kvm_main.c kvm_create_vm, kvm_vcpu_init).
fn thread_id() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// stats_test() of the C test: every check on one stats fd, then closes it.
fn stats_test(stats: StatsFd, expected_id: &str) -> kvmtest::Result<()> {
    let header: kvm_stats_header = stats.header()?;
    let size_desc = StatsFd::descriptor_size(&header);

    // The id string: upstream reads it right after the header and checks it
    // starts with "kvm" and is NUL-terminated within name_size.
    ensure!(
        header.id_offset as usize == STATS_HEADER_SIZE,
        "{expected_id}: id_offset {} is not right after the {STATS_HEADER_SIZE}-byte header",
        header.id_offset
    );
    let id = stats.id_at(&header, STATS_HEADER_SIZE as u64)?;
    ensure!(id.starts_with("kvm") && id.len() < header.name_size as usize, "Invalid KVM stats type, id: {id:?}");
    ensure!(id == expected_id, "stats id: expected {expected_id:?}, got {id:?}");
    ensure!(header.flags == 0, "{id}: header flags: expected 0 (api.rst: always read as 0), got {:#x}", header.flags);

    // Upstream prints "No KVM stats defined!" and stops; every series defines
    // the generic VM and vCPU stats (KVM_GENERIC_VM_STATS, _VCPU_STATS).
    ensure!(header.num_desc > 0, "{id}: no KVM stats defined");

    // The descriptor and data offsets must be valid, must not overlap the
    // header, and the descriptor and data blocks must not overlap each other.
    let (desc_offset, data_offset) = (header.desc_offset as usize, header.data_offset as usize);
    ensure!(
        desc_offset != 0 && desc_offset >= STATS_HEADER_SIZE && data_offset != 0 && data_offset >= STATS_HEADER_SIZE,
        "{id}: Invalid offset fields in header: desc_offset {desc_offset}, data_offset {data_offset}"
    );
    let desc_end = desc_offset + size_desc * header.num_desc as usize;
    ensure!(
        desc_offset > data_offset || desc_end <= data_offset,
        "{id}: Descriptor block [{desc_offset}, {desc_end}) is overlapped with data block at {data_offset}"
    );
    // (kvmtest adds) api.rst: all blocks are 64-bit aligned; the id block
    // [id_offset, id_offset + name_size) overlaps neither of the others.
    for (what, offset) in [("id", header.id_offset as usize), ("desc", desc_offset), ("data", data_offset)] {
        ensure!(offset % 8 == 0, "{id}: {what}_offset {offset} is not 64-bit aligned");
    }
    let id_end = STATS_HEADER_SIZE + header.name_size as usize;
    ensure!(
        id_end <= desc_offset && id_end <= data_offset,
        "{id}: id block [{STATS_HEADER_SIZE}, {id_end}) overlaps the descriptors at {desc_offset} or data at {data_offset}"
    );

    let descs = stats.descriptors(&header)?;
    let mut size_data = 0usize;
    let mut size_sum = 0usize;
    let mut ranges = Vec::new();
    for (i, d) in descs.iter().enumerate() {
        let name = &d.name;
        let (ty, unit, base) =
            (d.flags & KVM_STATS_TYPE_MASK, d.flags & KVM_STATS_UNIT_MASK, d.flags & KVM_STATS_BASE_MASK);
        // The name is NUL-terminated within name_size (the library refuses a
        // name without a NUL; this is the C test's strlen check).
        ensure!(name.len() < header.name_size as usize, "{id}: KVM stats name (index: {i}) too long");
        ensure!(!name.is_empty(), "{id}: KVM stats (index: {i}) has an empty name");
        ensure!(ty <= KVM_STATS_TYPE_MAX, "{id}: Unknown KVM stats ({name}) type: {ty}");
        ensure!(unit <= KVM_STATS_UNIT_MAX, "{id}: Unknown KVM stats ({name}) unit: {unit}");
        ensure!(base <= KVM_STATS_BASE_MAX, "{id}: Unknown KVM stats ({name}) base: {base}");
        // (kvmtest adds) no flag bits beyond type, unit and base.
        let rest = d.flags & !(KVM_STATS_TYPE_MASK | KVM_STATS_UNIT_MASK | KVM_STATS_BASE_MASK);
        ensure!(rest == 0, "{id}: KVM stats ({name}) flags {:#x}: unknown bits {rest:#x}", d.flags);

        // The exponent: >= 0 for counters, bytes and cycles; <= 0 for
        // seconds; 0 for booleans.
        let exponent_ok = match unit {
            KVM_STATS_UNIT_NONE | KVM_STATS_UNIT_BYTES | KVM_STATS_UNIT_CYCLES => d.exponent >= 0,
            KVM_STATS_UNIT_SECONDS => d.exponent <= 0,
            KVM_STATS_UNIT_BOOLEAN => d.exponent == 0,
            _ => true,
        };
        ensure!(exponent_ok, "{id}: Unsupported KVM stats ({name}) exponent: {} (unit {unit:#x})", d.exponent);

        ensure!(d.size != 0, "{id}: KVM descriptor({name}) with size of 0");
        if ty == KVM_STATS_TYPE_LINEAR_HIST {
            ensure!(d.bucket_size != 0, "{id}: Bucket size of Linear Histogram stats ({name}) is zero");
        } else {
            ensure!(d.bucket_size == 0, "{id}: Bucket size of stats ({name}) is not zero: {}", d.bucket_size);
        }
        let end = d.offset as usize + usize::from(d.size) * 8;
        size_data = size_data.max(end);
        size_sum += usize::from(d.size) * 8;
        ranges.push((d.offset as usize, end, name));
    }

    // (kvmtest adds) names are unique, and no two stats share data.
    let mut names: Vec<&str> = descs.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!("{id}: two KVM stats are named {:?}", w[0]);
    }
    ranges.sort();
    if let Some(w) = ranges.windows(2).find(|w| w[0].1 > w[1].0) {
        bail!("{id}: the data of {} [{}, {}) overlaps that of {} at {}", w[0].2, w[0].0, w[0].1, w[1].2, w[1].0);
    }

    // Now that the size of the data block is known, check it does not
    // overlap the descriptor block.
    ensure!(
        data_offset >= desc_offset || data_offset + size_data <= desc_offset,
        "{id}: Data block [{data_offset}, {}) is overlapped with Descriptor block at {desc_offset}",
        data_offset + size_data
    );
    ensure!(
        size_data >= header.num_desc as usize * 8,
        "{id}: Data size is not correct: {size_data} bytes for {} stats",
        header.num_desc
    );
    // 6.1's form: data size the sum of the stats' sizes, every offset inside it.
    for d in &descs {
        ensure!((d.offset as usize) < size_sum, "{id}: Invalid offset ({}) for stats: {}", d.offset, d.name);
    }

    // The data as a bulk, then one stat at a time.
    let bulk = stats.read_data_block(&header, size_data)?;
    ensure!(bulk.len() * 8 == size_data, "{id}: Read KVM stats data");
    for d in &descs {
        let values = stats.read_data(&header, d)?;
        ensure!(values.len() == usize::from(d.size), "{id}: pread() on stat '{}' read {} values", d.name, values.len());
    }

    // Closing the fd frees it.
    let raw = stats.raw_fd();
    stats.close()?;
    // SAFETY: F_GETFD on an fd number only reads its flags; -1/EBADF is the expected answer.
    let ret = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    ensure!(ret == -1, "{id}: Stats fd {raw} not freed");
    Ok(())
}

/// main() of the C test, for VM `i`: the VMs and vCPUs are made first, all
/// of them, then VM `i`'s stats are checked through every kind of fd.
fn vm_trial(i: usize) -> kvmtest::Result<()> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Feature::BinaryStatsFd.require()?;
    ensure!(
        kvmtest::kvm::check_cap_raw(KVM_CAP_BINARY_STATS_FD.into())? > 0,
        "KVM_CAP_BINARY_STATS_FD: missing, but Linux {} has it",
        Feature::BinaryStatsFd.row().since
    );
    let tid = thread_id();
    let mut vms = Vec::with_capacity(NUM_VM);
    for _ in 0..NUM_VM {
        let mut g = AsmGuest::new();
        g.done();
        vms.push(Vm::builder().vcpus(NUM_VCPU).payload(g.finish()?).build()?);
    }
    let vm = vms.swap_remove(i);
    let vm_id = format!("kvm-{tid}");
    let vcpu_id = |j: usize| format!("kvm-{tid}/vcpu-{j}");

    // Several userspace references to one stats file work.
    let vm_stats = vm.stats_fd()?;
    stats_test(vm_stats.try_clone()?, &vm_id)?;
    // Userspace can open several stats files of one VM.
    stats_test(vm.stats_fd()?, &vm_id)?;

    let mut vcpu_stats = Vec::with_capacity(NUM_VCPU);
    let mut vm = vm;
    for j in 0..NUM_VCPU {
        let fd = vm.vcpu(j).stats_fd()?;
        stats_test(fd.try_clone()?, &vcpu_id(j))?;
        stats_test(vm.vcpu(j).stats_fd()?, &vcpu_id(j))?;
        vcpu_stats.push(fd);
    }

    // Close the VM fd (and its vCPUs') and redo the tests: each stats fd
    // holds a reference to the VM, so the stats stay readable.
    drop(vm);
    stats_test(vm_stats, &vm_id)?;
    for (j, fd) in vcpu_stats.into_iter().enumerate() {
        stats_test(fd, &vcpu_id(j))?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let trials = (0..NUM_VM).map(|i| runner::test(format!("kvm_binary_stats::vm{i}"), move || vm_trial(i))).collect();
    runner::main(trials)
}
