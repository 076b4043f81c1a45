//! The guest's ucall client: fills this vCPU's message buffer (given by the
//! harness in the boot info) and rings the doorbell. A SYNC is a few stores
//! and a call; text is only formatted for PRINTF and ABORT.

use core::fmt::{self, Write};
use core::ptr::{addr_of_mut, write_volatile};

use kvmtest_abi::{UcallCmd, UCALL_MAGIC, UCALL_MAX_ARGS, UCALL_TEXT_MAX};

use crate::arch;

/// Values a ucall can carry: integers, bools and pointers, as `u64`.
pub trait UcallArg {
    fn to_ucall_arg(&self) -> u64;
}

macro_rules! unsigned_arg {
    ($($t:ty),*) => { $(impl UcallArg for $t { fn to_ucall_arg(&self) -> u64 { *self as u64 } })* };
}
macro_rules! signed_arg {
    ($($t:ty),*) => { $(impl UcallArg for $t { fn to_ucall_arg(&self) -> u64 { *self as i64 as u64 } })* };
}
unsigned_arg!(u8, u16, u32, u64, usize);
signed_arg!(i8, i16, i32, i64, isize);
impl UcallArg for bool {
    fn to_ucall_arg(&self) -> u64 {
        *self as u64
    }
}
impl<T: UcallArg + ?Sized> UcallArg for &T {
    fn to_ucall_arg(&self) -> u64 {
        (**self).to_ucall_arg()
    }
}
impl<T> UcallArg for *const T {
    fn to_ucall_arg(&self) -> u64 {
        *self as u64
    }
}

struct Text {
    buf: *mut u8,
    len: usize,
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Truncate at the buffer's end rather than fail: a long message is
        // still worth its first kilobyte.
        let n = s.len().min(UCALL_TEXT_MAX - self.len);
        // SAFETY: `buf` is the text array of this vCPU's message buffer and
        // `len + n <= UCALL_TEXT_MAX`.
        unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), n) };
        self.len += n;
        Ok(())
    }
}

/// Sends one ucall with text and returns when the host resumes the vCPU.
/// PRINTF and ABORT come here; SYNC and DONE take the short path below.
pub fn send(cmd: UcallCmd, line: u32, file: &str, args: &[u64], msg: Option<fmt::Arguments<'_>>) {
    let m = arch::ucall_buffer();
    let nargs = args.len().min(UCALL_MAX_ARGS);
    // SAFETY: `m` is this vCPU's message buffer, a whole UcallMsg in guest
    // memory reserved by the harness; only this vCPU writes it.
    unsafe {
        let h = addr_of_mut!((*m).header);
        let mut text = Text { buf: addr_of_mut!((*m).text) as *mut u8, len: 0 };
        if !file.is_empty() {
            let _ = text.write_str(file);
        }
        let file_len = text.len;
        if let Some(a) = msg {
            let _ = text.write_fmt(a);
        }
        write_volatile(addr_of_mut!((*h).magic), UCALL_MAGIC);
        write_volatile(addr_of_mut!((*h).cmd), cmd as u32);
        write_volatile(addr_of_mut!((*h).line), line);
        write_volatile(addr_of_mut!((*h).nargs), nargs as u32);
        write_volatile(addr_of_mut!((*h).file_len), file_len as u32);
        write_volatile(addr_of_mut!((*h).msg_len), (text.len - file_len) as u32);
        for (i, a) in args.iter().take(nargs).enumerate() {
            write_volatile(addr_of_mut!((*h).args[i]), *a);
        }
    }
    arch::doorbell(m);
}

/// A ucall without text (SYNC, DONE): magic, command, argument count and
/// arguments, then the doorbell. Inlined at every call site so a SYNC with
/// constant values is a handful of stores: each guest instruction after an
/// exit can cost a microsecond on an emulating backend (PVM). The host does
/// not read `line` or the text lengths of these commands.
#[inline(always)]
fn send_short<const N: usize>(cmd: UcallCmd, args: &[u64; N]) {
    const { assert!(N <= UCALL_MAX_ARGS, "a ucall carries at most UCALL_MAX_ARGS values") };
    let m = arch::ucall_buffer();
    // SAFETY: as in `send`.
    unsafe {
        let h = addr_of_mut!((*m).header);
        write_volatile(addr_of_mut!((*h).magic), UCALL_MAGIC);
        write_volatile(addr_of_mut!((*h).cmd), cmd as u32);
        write_volatile(addr_of_mut!((*h).nargs), N as u32);
        let mut i = 0;
        while i < N {
            write_volatile(addr_of_mut!((*h).args[i]), args[i]);
            i += 1;
        }
    }
    arch::doorbell(m);
}

/// GUEST_SYNC: `args[0]` is the stage.
#[inline(always)]
pub fn sync<const N: usize>(args: &[u64; N]) {
    send_short(UcallCmd::Sync, args);
}

/// GUEST_PRINTF.
pub fn printf(msg: fmt::Arguments<'_>) {
    send(UcallCmd::Printf, 0, "", &[], Some(msg));
}

/// GUEST_DONE. Says DONE again if the host resumes the guest anyway.
pub fn done() -> ! {
    loop {
        send_short(UcallCmd::Done, &[]);
    }
}

/// A failed assertion: file, line, values and message. Never returns.
pub fn abort(file: &str, line: u32, values: &[u64], msg: fmt::Arguments<'_>) -> ! {
    loop {
        send(UcallCmd::Abort, line, file, values, Some(msg));
    }
}
