//! Descriptor bookkeeping, which keeps the table authoritative: `close`, `close_range`,
//! `closefrom` and `fclose` forget a descriptor (its object goes with its last one), the
//! `dup` family and `fcntl`'s `F_DUPFD` give the copy the same object, and the functions
//! that make descriptors clear whatever the table held on the numbers they answer.

use std::ffi::{c_char, c_int, c_uint};

use crate::real;
use crate::state::{forget, forget_range, fresh, insert, lookup};

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

/// `closefrom`: the C library closes the descriptors itself, past `close`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(lo: c_int) {
    let gone = forget_range(lo.max(0), c_int::MAX);
    // SAFETY: the caller's argument, passed on.
    unsafe { real::closefrom()(lo) };
    drop(gone);
}

/// `fclose`: a stream opened with `fdopen` on one of softiommu's descriptors closes it
/// inside the C library, past `close`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fclose(stream: *mut libc::FILE) -> c_int {
    let fd = if stream.is_null() {
        -1
    } else {
        // SAFETY: a stream the caller still owns; fileno only reads it.
        unsafe { libc::fileno(stream) }
    };
    let obj = forget(fd);
    // SAFETY: the caller's stream, passed on.
    let r = unsafe { real::fclose()(stream) };
    drop(obj);
    r
}

/// Functions that make descriptors: the numbers they answer are not softiommu's objects
/// (this catches a close the table never saw, made by a raw system call, when its number
/// comes back).
macro_rules! making {
    ($($name:ident($($a:ident: $t:ty),*);)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: the real call; its new descriptor is an ordinary one.")]
        ///
        /// # Safety
        /// The C function's contract.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($a: $t),*) -> c_int {
            // SAFETY: the caller's arguments, passed on.
            let r = unsafe { real::$name()($($a),*) };
            fresh(r);
            r
        }
    )*};
}

making! {
    eventfd(initval: c_uint, flags: c_int);
    socket(domain: c_int, ty: c_int, protocol: c_int);
    accept(fd: c_int, addr: *mut libc::sockaddr, len: *mut libc::socklen_t);
    accept4(fd: c_int, addr: *mut libc::sockaddr, len: *mut libc::socklen_t, flags: c_int);
    epoll_create1(flags: c_int);
    epoll_create(size: c_int);
    memfd_create(name: *const c_char, flags: c_uint);
    timerfd_create(clock: c_int, flags: c_int);
    signalfd(fd: c_int, mask: *const libc::sigset_t, flags: c_int);
    inotify_init1(flags: c_int);
}

/// After a successful `pipe`, `pipe2` or `socketpair`: both ends are ordinary descriptors.
///
/// # Safety
/// `fds` points to two descriptors the real call wrote.
unsafe fn fresh_pair(r: c_int, fds: *const c_int) {
    if r == 0 && !fds.is_null() {
        // SAFETY: per this function's contract.
        let (a, b) = unsafe { (*fds, *fds.add(1)) };
        fresh(a);
        fresh(b);
    }
}

/// `pipe`: the real call; both ends are ordinary descriptors.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: the caller's array, passed on; read back only on success.
    unsafe {
        let r = real::pipe()(fds);
        fresh_pair(r, fds);
        r
    }
}

/// `pipe2`: the same.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's array, passed on; read back only on success.
    unsafe {
        let r = real::pipe2()(fds, flags);
        fresh_pair(r, fds);
        r
    }
}

/// `socketpair`: the same.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    // SAFETY: the caller's array, passed on; read back only on success.
    unsafe {
        let r = real::socketpair()(domain, ty, protocol, sv);
        fresh_pair(r, sv);
        r
    }
}
