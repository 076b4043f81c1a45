//! A vCPU and its run loop: KVM_RUN until a ucall arrives, with exits
//! decoded by the VM's transport and everything else reported with the
//! guest's registers. The loop makes no syscall besides KVM_RUN.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kvm_ioctls::{VcpuExit, VcpuFd};
use kvmtest_abi::ExceptionArgs;
use vm_memory::GuestMemoryMmap;

use crate::arch::{Arch, HostArch};
use crate::error::GuestException;
use crate::ucall::{read_message, Message, Transport, Ucall};
use crate::watchdog::{self, WatchEntry};
use crate::{Error, Result};

/// What a test's exit handler did with an exit that is not a ucall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitAction {
    /// The handler dealt with it: enter the guest again.
    Resume,
    /// Not an exit this test expects: fail with the exit's details.
    Unhandled,
    /// An exit the test expects and handles itself after KVM_RUN returned
    /// (e.g. set x0 of a forwarded SMCCC call, or see a PSCI SYSTEM_OFF):
    /// `run_with` returns [`Error::ExitStopped`]; the next `run_*` resumes the guest.
    Stop,
}

/// One vCPU of a [`crate::Vm`].
pub struct Vcpu {
    fd: VcpuFd,
    id: usize,
    shared: Arc<VmShared>,
    /// Where this vCPU's messages are built (halt/shared transports read it).
    msg_buf: u64,
    watch: Arc<WatchEntry>,
    timeout: Duration,
}

impl Vcpu {
    pub(crate) fn new(mut fd: VcpuFd, id: usize, shared: Arc<VmShared>, msg_buf: u64, timeout: Duration) -> Self {
        let run = fd.get_kvm_run();
        let watch = watchdog::register(std::ptr::addr_of_mut!(run.immediate_exit));
        Vcpu { fd, id, shared, msg_buf, watch, timeout }
    }

    /// Index of this vCPU.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The kvm-ioctls vCPU, for ioctls the harness does not wrap.
    pub fn fd(&self) -> &VcpuFd {
        &self.fd
    }

    /// This vCPU's binary stats file (KVM_GET_STATS_FD on the vCPU fd).
    pub fn stats_fd(&self) -> Result<crate::stats::StatsFd> {
        crate::stats::get_stats_fd(&self.fd, "KVM_GET_STATS_FD (vCPU)")
    }

    /// Guest address where this vCPU builds its ucall messages.
    pub fn ucall_buffer(&self) -> u64 {
        self.msg_buf
    }

    /// KVM_ENABLE_CAP on this vCPU: `vcpu.enable_cap(KVM_CAP_X, &[1])?`.
    /// (A raw ioctl: kvm-ioctls offers the vCPU form on x86_64 only.)
    pub fn enable_cap(&self, cap: u32, args: &[u64]) -> Result<()> {
        vmm_sys_util::ioctl_iow_nr!(KVM_ENABLE_CAP, kvm_bindings::KVMIO, 0xa3, kvm_bindings::kvm_enable_cap);
        let arg = enable_cap_arg(cap, args)?;
        // SAFETY: KVM_ENABLE_CAP reads one kvm_enable_cap, which `arg` is,
        // and keeps no reference to it.
        let ret = unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&self.fd, KVM_ENABLE_CAP(), &arg) };
        if ret != 0 {
            return Err(Error::Kvm { op: "KVM_ENABLE_CAP (vCPU)", source: kvm_ioctls::Error::last() });
        }
        Ok(())
    }

    /// This vCPU's kvm_run mapping, for exits kvm-ioctls does not decode
    /// (e.g. KVM_EXIT_XEN). Valid as long as the vCPU; read it only between
    /// KVM_RUNs.
    pub fn kvm_run_ptr(&mut self) -> *mut kvm_bindings::kvm_run {
        self.fd.get_kvm_run()
    }

    /// This vCPU's kvm_run page, borrowed with the vCPU, so only between
    /// KVM_RUNs (e.g. KVM_CAP_SYNC_REGS's `kvm_valid_regs`/`kvm_dirty_regs`).
    pub fn kvm_run(&mut self) -> &mut kvm_bindings::kvm_run {
        self.fd.get_kvm_run()
    }

    /// Completes a pending I/O or MMIO exit without entering the guest:
    /// KVM_RUN with `immediate_exit` set, which KVM ends with EINTR after
    /// finishing the instruction (Documentation/virt/kvm/api.rst, KVM_RUN:
    /// the vCPU's state is consistent only after userspace re-entered
    /// KVM_RUN; selftests' vcpu_run_complete_io()).
    pub fn complete_io(&mut self) -> Result<()> {
        self.fd.get_kvm_run().immediate_exit = 1;
        let ret = self.fd.run().map(|exit| describe_exit(&exit).text);
        self.fd.get_kvm_run().immediate_exit = 0;
        match ret {
            Err(e) if e.errno() == libc::EINTR => Ok(()),
            Err(e) => Err(Error::Kvm { op: "KVM_RUN (immediate_exit, completing I/O)", source: e }),
            Ok(exit) => Err(Error::UnexpectedExit {
                vcpu: self.id,
                exit: format!("{exit} from KVM_RUN with immediate_exit set (expected EINTR)"),
                pc: HostArch::pc(&self.fd).unwrap_or(u64::MAX),
                hint: String::new(),
                regs: Box::new(HostArch::dump_regs(&self.fd)),
            }),
        }
    }

    /// Changes the watchdog timeout of this vCPU.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs the guest until its next ucall. Any other exit is an error.
    pub fn run_until_ucall(&mut self) -> Result<Ucall> {
        self.run_with(|_| ExitAction::Unhandled)
    }

    /// Runs until the next ucall, printing PRINTF lines on the way; fails on
    /// ABORT or any ucall other than SYNC and DONE.
    ///
    /// PRINTF is not progress: a guest that prints for longer than the
    /// watchdog timeout without a SYNC or DONE fails with `PrintfFlood`.
    pub fn next_event(&mut self) -> Result<Ucall> {
        let start = Instant::now();
        let mut lines = 0u64;
        loop {
            match self.run_until_ucall()? {
                Ucall::Printf(line) => {
                    crate::runner::guest_output(self.id, &line);
                    lines += 1;
                    if start.elapsed() > self.timeout {
                        let timeout_ms = self.timeout.as_millis() as u64;
                        return Err(Error::PrintfFlood { vcpu: self.id, lines, timeout_ms, last: line });
                    }
                }
                u @ (Ucall::Sync { .. } | Ucall::Done) => return Ok(u),
                other => return Err(other.into_failure(self.id)),
            }
        }
    }

    /// Expects GUEST_SYNC(`stage`, ...) next and returns its values.
    pub fn expect_sync(&mut self, stage: u64) -> Result<crate::UcallArgs> {
        match self.next_event()? {
            Ucall::Sync { stage: s, args } if s == stage => Ok(args),
            other => Err(Error::UnexpectedUcall { vcpu: self.id, ucall: format!("{other:?}, expected SYNC({stage})") }),
        }
    }

    /// A handle another thread may use to kick this vCPU out of KVM_RUN
    /// at once: its run then ends with [`Error::Kicked`]. For a vCPU the
    /// guest put to sleep inside KVM_RUN (arm64 PSCI CPU_OFF), which only a
    /// signal ends, without waiting out the watchdog.
    pub fn kicker(&self) -> Kicker {
        Kicker(Arc::clone(&self.watch))
    }

    /// Expects GUEST_DONE next.
    pub fn expect_done(&mut self) -> Result<()> {
        match self.next_event()? {
            Ucall::Done => Ok(()),
            other => Err(Error::UnexpectedUcall { vcpu: self.id, ucall: format!("{other:?}, expected DONE") }),
        }
    }

    /// Runs until the next ucall; `on_exit` sees every other exit first and
    /// may handle it (e.g. answer a KVM_EXIT_HYPERCALL) and resume.
    pub fn run_with(&mut self, mut on_exit: impl FnMut(&mut VcpuExit<'_>) -> ExitAction) -> Result<Ucall> {
        crate::progress::entering_kvm_run(self.id);
        self.watch.arm(self.timeout);
        let mut result = self.run_loop(&mut on_exit);
        if self.watch.disarm() {
            let kicked = self.watch.take_kicked();
            if let Err(Error::Kvm { source, .. }) = &result {
                if source.errno() == libc::EINTR {
                    result = Err(if kicked {
                        Error::Kicked { vcpu: self.id, pc: HostArch::pc(&self.fd).unwrap_or(u64::MAX) }
                    } else {
                        self.watchdog_error()
                    });
                }
            }
        }
        crate::progress::left_kvm_run(self.id, &result);
        result
    }

    fn run_loop(&mut self, on_exit: &mut dyn FnMut(&mut VcpuExit<'_>) -> ExitAction) -> Result<Ucall> {
        // The fields are borrowed one by one (no Arc clone, no call through
        // `self` while the exit borrows the kvm_run page): the loop is KVM_RUN,
        // the transport's decode and, for a ucall, one header read.
        let addr = loop {
            match self.fd.run() {
                Ok(mut exit) => match self.shared.transport.decode(&exit, self.msg_buf) {
                    Some(Ok(addr)) => break addr,
                    Some(Err(why)) => {
                        let pc = HostArch::pc(&self.fd).unwrap_or(u64::MAX);
                        return Err(Error::BadDoorbell { vcpu: self.id, pc, why });
                    }
                    None => match on_exit(&mut exit) {
                        ExitAction::Resume => continue,
                        ExitAction::Stop => {
                            let exit = describe_exit(&exit).text;
                            return Err(Error::ExitStopped { vcpu: self.id, exit });
                        }
                        ExitAction::Unhandled => {
                            let what = describe_exit(&exit);
                            return Err(self.unexpected_exit(what));
                        }
                    },
                },
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                    if self.watch.fired() {
                        return Err(Error::Kvm { op: "KVM_RUN", source: e });
                    }
                }
                Err(e) => return Err(Error::Kvm { op: "KVM_RUN", source: e }),
            }
        };
        match read_message(&self.shared.mem, addr, self.id)? {
            Message::Ucall(u) => Ok(u),
            Message::Exception(args) => Err(self.exception_error(&args)),
        }
    }

    fn exception_error(&self, a: &[u64]) -> Error {
        let (vector, error_code) = (a[ExceptionArgs::VECTOR], a[ExceptionArgs::ERROR_CODE]);
        Error::GuestException {
            exception: Box::new(GuestException {
                vcpu: self.id,
                name: HostArch::exception_name(vector, error_code),
                kind: HostArch::exception_kind(vector, error_code),
                vector,
                error_code,
                pc: a[ExceptionArgs::PC],
                fault_addr: a[ExceptionArgs::FAULT_ADDR],
                sp: a[ExceptionArgs::SP],
            }),
            regs: Box::new(HostArch::dump_regs(&self.fd)),
        }
    }

    fn watchdog_error(&self) -> Error {
        let pc = HostArch::pc(&self.fd).unwrap_or(u64::MAX);
        Error::Watchdog {
            vcpu: self.id,
            timeout_ms: self.timeout.as_millis() as u64,
            pc,
            hint: HostArch::stuck_hint(&self.fd, pc).map(|h| format!(" ({h})")).unwrap_or_default(),
            regs: Box::new(HostArch::dump_regs(&self.fd)),
        }
    }

    fn unexpected_exit(&mut self, what: ExitDescription) -> Error {
        let mut exit = what.text;
        if what.internal_error {
            let run = self.fd.get_kvm_run();
            // SAFETY: exit_reason is KVM_EXIT_INTERNAL_ERROR, so `internal` is the active union member.
            let internal = unsafe { run.__bindgen_anon_1.internal };
            let n = (internal.ndata as usize).min(internal.data.len());
            exit = format!(
                "KVM_EXIT_INTERNAL_ERROR suberror {} ({}), data {:x?}",
                internal.suberror,
                internal_error_name(internal.suberror),
                &internal.data[..n]
            );
        }
        let pc = HostArch::pc(&self.fd).unwrap_or(u64::MAX);
        let backend = crate::kvm::backend().ok();
        let mut hint = match (what.internal_error, backend) {
            (true, Some(b)) if b.is_pvm() => format!(
                " [backend {b}: PVM's emulator ends the run on SSE or INT3 met after an exit; this is a backend limit]"
            ),
            (_, Some(b)) => format!(" [backend {b}]"),
            _ => String::new(),
        };
        let flagged = self.shared.firmware_fault_flag.is_some_and(|at| {
            vm_memory::Bytes::read_obj::<u32>(&self.shared.mem, vm_memory::GuestAddress(at)).ok()
                == Some(crate::layout::FIRMWARE_FAULT_MAGIC)
        });
        if flagged || self.shared.firmware.contains(&pc) {
            let detail = HostArch::handler_fault(&self.fd).map(|d| format!("; {d}")).unwrap_or_default();
            hint.insert_str(
                0,
                &format!(
                    " (in the harness's exception handler, which faulted itself: the guest broke what it relies on, \
                     such as the per-vCPU base register, the exception table, the stack or the page tables{detail})"
                ),
            );
        }
        Error::UnexpectedExit { vcpu: self.id, exit, pc, hint, regs: Box::new(HostArch::dump_regs(&self.fd)) }
    }
}

/// State the vCPUs share with their VM.
pub(crate) struct VmShared {
    pub mem: GuestMemoryMmap,
    pub transport: Box<dyn Transport>,
    /// The harness's exception and doorbell code, to say so when a guest dies in it.
    pub firmware: std::ops::Range<u64>,
    pub firmware_fault_flag: Option<u64>,
}

/// The kvm_enable_cap of `cap` with up to four arguments.
pub(crate) fn enable_cap_arg(cap: u32, args: &[u64]) -> Result<kvm_bindings::kvm_enable_cap> {
    let mut c = kvm_bindings::kvm_enable_cap { cap, ..Default::default() };
    if args.len() > c.args.len() {
        return Err(Error::Config(format!("KVM_ENABLE_CAP {cap} takes at most 4 arguments, got {}", args.len())));
    }
    c.args[..args.len()].copy_from_slice(args);
    Ok(c)
}

/// Kicks one vCPU out of KVM_RUN from any thread ([`Vcpu::kicker`]).
#[derive(Clone)]
pub struct Kicker(Arc<WatchEntry>);

impl Kicker {
    /// Kicks the vCPU if its thread is running it (`run_until_ucall`,
    /// `run_with`, ...): KVM_RUN returns now, or at once if the thread is
    /// about to enter it, and the run ends with [`Error::Kicked`]. Returns
    /// false, doing nothing, when the vCPU is not being run or was already
    /// kicked in this run.
    pub fn kick(&self) -> bool {
        self.0.kick()
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        // The kvm_run mapping goes away with `fd`: make sure the watchdog can
        // no longer touch it.
        self.watch.disarm();
    }
}

struct ExitDescription {
    text: String,
    internal_error: bool,
}

fn internal_error_name(suberror: u32) -> &'static str {
    match suberror {
        1 => "emulation failure",
        2 => "simultaneous exceptions",
        3 => "delivery event via the guest's IDT failed",
        4 => "unexpected VM-exit",
        _ => "unknown",
    }
}

fn describe_exit(exit: &VcpuExit<'_>) -> ExitDescription {
    let text = match exit {
        VcpuExit::IoOut(port, data) => {
            format!("KVM_EXIT_IO out to port {port:#x} ({} bytes: {data:x?}), not a ucall port", data.len())
        }
        VcpuExit::IoIn(port, data) => format!("KVM_EXIT_IO in from port {port:#x} ({} bytes)", data.len()),
        VcpuExit::MmioWrite(addr, data) => {
            format!("KVM_EXIT_MMIO write of {data:x?} to {addr:#x}, not a ucall address")
        }
        VcpuExit::MmioRead(addr, data) => format!("KVM_EXIT_MMIO read of {} bytes from {addr:#x}", data.len()),
        VcpuExit::Hlt => "KVM_EXIT_HLT (the guest halted outside a ucall)".into(),
        VcpuExit::Shutdown => "KVM_EXIT_SHUTDOWN (triple fault: an exception while delivering #DF)".into(),
        VcpuExit::FailEntry(reason, cpu) => {
            format!("KVM_EXIT_FAIL_ENTRY, hardware entry failure reason {reason:#x} on CPU {cpu}")
        }
        VcpuExit::InternalError => "KVM_EXIT_INTERNAL_ERROR".into(),
        VcpuExit::SystemEvent(kind, data) => format!("KVM_EXIT_SYSTEM_EVENT type {kind} data {data:x?}"),
        VcpuExit::Hypercall(h) => format!("KVM_EXIT_HYPERCALL nr {:#x} args {:x?}", h.nr, h.args),
        VcpuExit::Debug(_) => "KVM_EXIT_DEBUG".into(),
        VcpuExit::Exception => "KVM_EXIT_EXCEPTION".into(),
        VcpuExit::X86Rdmsr(m) => format!("KVM_EXIT_X86_RDMSR of MSR {:#x}", m.index),
        VcpuExit::X86Wrmsr(m) => format!("KVM_EXIT_X86_WRMSR of {:#x} to MSR {:#x}", m.data, m.index),
        VcpuExit::Unsupported(reason) => format!("exit reason {reason} (not decoded by kvm-ioctls)"),
        other => format!("{other:?}"),
    };
    ExitDescription { text, internal_error: matches!(exit, VcpuExit::InternalError) }
}
