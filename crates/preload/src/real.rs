//! The real libc's functions, found with `dlsym(RTLD_NEXT, name)` on first use: what every
//! call that is not softiommu's goes to.

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{DIR, dirent, dirent64, off_t, size_t, ssize_t};

/// The address of the next definition of `name` (NUL-terminated) after this library.
fn resolve(name: &'static str, slot: &AtomicUsize) -> usize {
    let p = slot.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: `name` is a NUL-terminated literal; dlsym has no other precondition.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
    if p == 0 {
        // Only reached for a function the program itself called, so its libc has it.
        let msg = format!(
            "softiommu: the C library has no {}\n",
            name.trim_end_matches('\0')
        );
        // SAFETY: the raw system call writes a valid buffer to standard error (not through
        // `write`, which may be the very function missing); then the process ends.
        unsafe {
            libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len());
            libc::abort();
        }
    }
    slot.store(p, Ordering::Relaxed);
    p
}

/// One accessor per real function, returning the pointer with the C prototype.
macro_rules! real_fns {
    ($($name:ident: fn($($a:ty),*) -> $r:ty;)*) => {$(
        #[doc = concat!("The real `", stringify!($name), "`.")]
        pub(crate) fn $name() -> unsafe extern "C" fn($($a),*) -> $r {
            static SLOT: AtomicUsize = AtomicUsize::new(0);
            let p = resolve(concat!(stringify!($name), "\0"), &SLOT);
            // SAFETY: `p` is the C library's function of this name, whose prototype this is.
            unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($a),*) -> $r>(p) }
        }
    )*};
}

/// The same for the variadic ones (`open`, `ioctl`, `fcntl`): called with every argument.
macro_rules! real_variadic {
    ($($name:ident: fn($($a:ty),*) -> $r:ty;)*) => {$(
        #[doc = concat!("The real `", stringify!($name), "`.")]
        pub(crate) fn $name() -> unsafe extern "C" fn($($a),*, ...) -> $r {
            static SLOT: AtomicUsize = AtomicUsize::new(0);
            let p = resolve(concat!(stringify!($name), "\0"), &SLOT);
            // SAFETY: `p` is the C library's function of this name, whose prototype this is.
            unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($a),*, ...) -> $r>(p) }
        }
    )*};
}

real_variadic! {
    open: fn(*const c_char, c_int) -> c_int;
    open64: fn(*const c_char, c_int) -> c_int;
    openat: fn(c_int, *const c_char, c_int) -> c_int;
    openat64: fn(c_int, *const c_char, c_int) -> c_int;
    ioctl: fn(c_int, c_ulong) -> c_int;
    fcntl: fn(c_int, c_int) -> c_int;
    fcntl64: fn(c_int, c_int) -> c_int;
    mremap: fn(*mut c_void, size_t, size_t, c_int) -> *mut c_void;
}

real_fns! {
    __open_2: fn(*const c_char, c_int) -> c_int;
    __open64_2: fn(*const c_char, c_int) -> c_int;
    __openat_2: fn(c_int, *const c_char, c_int) -> c_int;
    __openat64_2: fn(c_int, *const c_char, c_int) -> c_int;
    close: fn(c_int) -> c_int;
    close_range: fn(c_uint, c_uint, c_int) -> c_int;
    dup: fn(c_int) -> c_int;
    dup2: fn(c_int, c_int) -> c_int;
    dup3: fn(c_int, c_int, c_int) -> c_int;
    read: fn(c_int, *mut c_void, size_t) -> ssize_t;
    write: fn(c_int, *const c_void, size_t) -> ssize_t;
    pread: fn(c_int, *mut c_void, size_t, off_t) -> ssize_t;
    pread64: fn(c_int, *mut c_void, size_t, off_t) -> ssize_t;
    pwrite: fn(c_int, *const c_void, size_t, off_t) -> ssize_t;
    pwrite64: fn(c_int, *const c_void, size_t, off_t) -> ssize_t;
    lseek: fn(c_int, off_t, c_int) -> off_t;
    mmap: fn(*mut c_void, size_t, c_int, c_int, c_int, off_t) -> *mut c_void;
    mmap64: fn(*mut c_void, size_t, c_int, c_int, c_int, off_t) -> *mut c_void;
    munmap: fn(*mut c_void, size_t) -> c_int;
    mprotect: fn(*mut c_void, size_t, c_int) -> c_int;
    sigaction: fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
    signal: fn(c_int, libc::sighandler_t) -> libc::sighandler_t;
    readlink: fn(*const c_char, *mut c_char, size_t) -> ssize_t;
    readlinkat: fn(c_int, *const c_char, *mut c_char, size_t) -> ssize_t;
    access: fn(*const c_char, c_int) -> c_int;
    faccessat: fn(c_int, *const c_char, c_int, c_int) -> c_int;
    stat: fn(*const c_char, *mut libc::stat) -> c_int;
    stat64: fn(*const c_char, *mut libc::stat) -> c_int;
    lstat: fn(*const c_char, *mut libc::stat) -> c_int;
    lstat64: fn(*const c_char, *mut libc::stat) -> c_int;
    fstatat: fn(c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
    fstatat64: fn(c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
    statx: fn(c_int, *const c_char, c_int, c_uint, *mut libc::statx) -> c_int;
    opendir: fn(*const c_char) -> *mut DIR;
    readdir: fn(*mut DIR) -> *mut dirent;
    readdir64: fn(*mut DIR) -> *mut dirent64;
    closedir: fn(*mut DIR) -> c_int;
    dirfd: fn(*mut DIR) -> c_int;
    rewinddir: fn(*mut DIR) -> ();
    telldir: fn(*mut DIR) -> c_long;
    seekdir: fn(*mut DIR, c_long) -> ();
}

// The functions that close descriptors without `close` or make new ones, whose numbers the
// descriptor table follows.
real_fns! {
    closefrom: fn(c_int) -> ();
    fclose: fn(*mut libc::FILE) -> c_int;
    eventfd: fn(c_uint, c_int) -> c_int;
    pipe: fn(*mut c_int) -> c_int;
    pipe2: fn(*mut c_int, c_int) -> c_int;
    socket: fn(c_int, c_int, c_int) -> c_int;
    accept: fn(c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> c_int;
    accept4: fn(c_int, *mut libc::sockaddr, *mut libc::socklen_t, c_int) -> c_int;
    epoll_create1: fn(c_int) -> c_int;
    epoll_create: fn(c_int) -> c_int;
    memfd_create: fn(*const c_char, c_uint) -> c_int;
    timerfd_create: fn(c_int, c_int) -> c_int;
    signalfd: fn(c_int, *const libc::sigset_t, c_int) -> c_int;
    inotify_init1: fn(c_int) -> c_int;
    socketpair: fn(c_int, c_int, c_int, *mut c_int) -> c_int;
}

/// Sets `errno`.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: glibc's thread-local errno location is always valid.
    unsafe { *libc::__errno_location() = e };
}

/// Makes a real descriptor named `name` (an empty memory file) for one of softiommu's
/// objects, close-on-exec if `flags` asks for it (`O_CLOEXEC`), non-blocking if
/// `O_NONBLOCK`. The errno on failure.
pub(crate) fn new_fd(name: &std::ffi::CStr, flags: c_int) -> Result<c_int, c_int> {
    let mfd = if flags & libc::O_CLOEXEC != 0 {
        libc::MFD_CLOEXEC
    } else {
        0
    };
    // SAFETY: `name` is NUL-terminated; memfd_create takes no other pointer.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), mfd) };
    if fd < 0 {
        // SAFETY: as in `set_errno`.
        return Err(unsafe { *libc::__errno_location() });
    }
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: fcntl on the descriptor just made; no pointer is passed.
        unsafe { fcntl()(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    }
    Ok(fd)
}
