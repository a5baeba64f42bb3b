//! `sigaction` and `signal`: once the trap's fault handlers are installed, a program's own
//! `SIGSEGV`/`SIGILL` handler is kept behind them (faults not on a trapped window reach it
//! as before); every other call is the real one.

use std::ffi::c_int;

use super::guarded;
use crate::real;
use crate::trap::program_sigaction;

/// `sigaction`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    // SAFETY: the caller's pointers are null or valid structures, per the C contract.
    let (a, o) = unsafe { (act.as_ref(), old.as_mut()) };
    if guarded(false, || program_sigaction(sig, a, o)) {
        return 0;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::sigaction()(sig, act, old) }
}

/// `signal`, with glibc's semantics (the handler stays installed, interrupted calls restart).
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    let done = guarded(None, || {
        // SAFETY: sigaction is plain data; zeroes are an empty mask and no flags.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = handler;
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: the mask is this function's own.
        unsafe {
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaddset(&mut act.sa_mask, sig);
        }
        // SAFETY: as for `act`.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        program_sigaction(sig, Some(&act), Some(&mut old)).then_some(old.sa_sigaction)
    });
    match done {
        Some(prev) => prev,
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::signal()(sig, handler) },
    }
}
