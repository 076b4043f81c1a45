//! A report for fatal signals in a test process (SIGSEGV, SIGBUS, SIGILL,
//! SIGFPE): the signal, its code, the faulting address, the host PC and
//! the thread, written with write(2) alone. The previous handler is then put
//! back and the faulting instruction runs again under it, so Rust's own
//! stack-overflow report and the default action (the process dies by the
//! signal, as a runner expects) are unchanged: a crash of the harness, or of
//! the kernel under it, says where instead of only "signal 11".

use std::sync::OnceLock;

use crate::arch::{Arch, HostArch};

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers in place before ours, by index in [`SIGNALS`].
static PREVIOUS: OnceLock<[libc::sigaction; 4]> = OnceLock::new();

/// Installs the report once per process.
pub(super) fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: a zeroed sigaction is a valid "no handler" value; the
        // handler only formats into a stack buffer, calls write(2),
        // prctl(PR_GET_NAME) and sigaction, all async-signal-safe.
        unsafe {
            let mut previous: [libc::sigaction; 4] = std::mem::zeroed();
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fatal_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            for (sig, old) in SIGNALS.iter().zip(previous.iter_mut()) {
                libc::sigaction(*sig, &sa, old);
            }
            previous
        }
    });
}

extern "C" fn on_fatal_signal(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let mut out = Line::default();
    out.push(b"kvmtest: fatal signal ");
    out.push(match sig {
        libc::SIGSEGV => b"SIGSEGV" as &[u8],
        libc::SIGBUS => b"SIGBUS",
        libc::SIGILL => b"SIGILL",
        _ => b"SIGFPE",
    });
    // SAFETY: the kernel passes a valid siginfo_t and ucontext_t to an
    // SA_SIGINFO handler; null is checked anyway.
    unsafe {
        if let Some(info) = info.as_ref() {
            out.push(b" (si_code ");
            out.dec(info.si_code as i64);
            out.push(b", address ");
            out.hex(info.si_addr() as u64);
            out.push(b")");
        }
        if let Some(uc) = (context as *const libc::ucontext_t).as_ref() {
            out.push(b" at host pc ");
            out.hex(HostArch::host_pc(uc));
        }
    }
    // Where the binary was loaded: addr2line takes pc - this + its link address.
    out.push(b"; kvmtest::runner::main is at ");
    out.hex(super::main as *const () as usize as u64);
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included.
    if unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) } == 0 {
        out.push(b", thread ");
        out.push(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]);
    }
    if let Some(note) = HostArch::host_crash_note() {
        out.push(b"; ");
        out.push(note.as_bytes());
    }
    out.push(b"\n");
    // SAFETY: write(2) of our own buffer to stderr; sigaction with the saved
    // previous action, which then handles the fault when it happens again.
    // A signal sent rather than caused (kill, raise: si_code <= 0) does not
    // happen again by itself: it is sent again.
    unsafe {
        libc::write(2, out.buf.as_ptr().cast(), out.len);
        if let (Some(previous), Some(i)) = (PREVIOUS.get(), SIGNALS.iter().position(|&s| s == sig)) {
            libc::sigaction(sig, &previous[i], std::ptr::null_mut());
        } else {
            libc::signal(sig, libc::SIG_DFL);
        }
        if info.as_ref().is_none_or(|i| i.si_code <= 0) {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// A line formatted without allocating (a signal handler may not).
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line { buf: [0; 512], len: 0 }
    }
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn hex(&mut self, v: u64) {
        let mut digits = [0u8; 18];
        digits[..2].copy_from_slice(b"0x");
        for i in 0..16 {
            digits[2 + i] = b"0123456789abcdef"[((v >> (60 - 4 * i)) & 0xf) as usize];
        }
        self.push(&digits);
    }

    fn dec(&mut self, v: i64) {
        if v < 0 {
            self.push(b"-");
        }
        let mut digits = [0u8; 20];
        let mut n = v.unsigned_abs();
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_allocating() {
        let mut l = Line::default();
        l.push(b"a ");
        l.hex(0x1f);
        l.push(b" ");
        l.dec(-42);
        l.push(b" ");
        l.dec(0);
        assert_eq!(&l.buf[..l.len], b"a 0x000000000000001f -42 0");
        let mut full = Line::default();
        for _ in 0..100 {
            full.push(b"0123456789");
        }
        assert_eq!(full.len, 512);
    }
}
