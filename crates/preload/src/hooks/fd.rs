//! Descriptor bookkeeping: `close` forgets a descriptor (its object goes with its last
//! one), the `dup` family and `fcntl`'s `F_DUPFD` give the copy the same object.

use std::ffi::{c_int, c_uint};

use crate::real;
use crate::state::{forget, forget_range, insert, lookup};

/// After a successful duplication of `old` onto `new`: `new` names what `old` names.
fn copied(old: c_int, new: c_int) {
    if new < 0 || old == new {
        return;
    }
    let before = match lookup(old) {
        Some(obj) => insert(new, obj),
        None => forget(new),
    };
    drop(before);
}

/// `close`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    // Forgotten before the number can be given out again; dropped after the real close.
    let obj = forget(fd);
    // SAFETY: the caller's descriptor, passed on.
    let r = unsafe { real::close()(fd) };
    drop(obj);
    r
}

/// `close_range`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(lo: c_uint, hi: c_uint, flags: c_int) -> c_int {
    let hi_fd = c_int::try_from(hi).unwrap_or(c_int::MAX);
    // With CLOSE_RANGE_CLOEXEC nothing is closed now.
    let gone = if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
        forget_range(c_int::try_from(lo).unwrap_or(c_int::MAX), hi_fd)
    } else {
        Vec::new()
    };
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::close_range()(lo, hi, flags) };
    drop(gone);
    r
}

/// `dup`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(old: c_int) -> c_int {
    // SAFETY: the caller's descriptor, passed on.
    let r = unsafe { real::dup()(old) };
    copied(old, r);
    r
}

/// `dup2`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: the caller's descriptors, passed on.
    let r = unsafe { real::dup2()(old, new) };
    copied(old, r);
    r
}

/// `dup3`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::dup3()(old, new, flags) };
    copied(old, r);
    r
}

/// `fcntl`: `F_DUPFD` and `F_DUPFD_CLOEXEC` copy the object; the rest is the real call.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::fcntl()(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        copied(fd, r);
    }
    r
}

/// `fcntl64`, the same.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::fcntl64()(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        copied(fd, r);
    }
    r
}
