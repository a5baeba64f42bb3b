//! The interposed C library functions. Each is exported under the C library's own name, so
//! the dynamic linker binds the program's calls to it ahead of the C library's; each answers
//! softiommu's paths and descriptors and hands every other call to the real function.
//!
//! The variadic ones (`open`, `openat`, `ioctl`, `fcntl`) are defined with their optional
//! argument as a fixed one: on x86-64 and AArch64 Linux a variadic integer argument travels
//! where the same fixed one would, and it is used only when the call has it. `poll`,
//! `ppoll`, `select` and `epoll` need nothing: the descriptors are real ones, which answer
//! readable and writable as the kernel's iommufd and VFIO files do.

mod dir;
mod fd;
mod fs;
mod io;
mod mmap;
mod open;
mod remap;
mod signal;

use std::ffi::{CStr, c_char, c_int};

use crate::real::set_errno;
use crate::state::{State, state};
use crate::vfs::{Node, candidate, normalize};

/// Runs `f`; if it panics (a bug in softiommu), answers `fail` with `EIO` rather than
/// unwinding into C.
fn guarded<T>(fail: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        set_errno(libc::EIO);
        fail
    })
}

/// The node `path` names, if it is one of softiommu's files (`follow`: through a final
/// link); `None` sends the call to the real function. Only absolute paths are looked at.
///
/// # Safety
/// `path` is null or a NUL-terminated string, as the C function's caller promises.
unsafe fn node(
    path: *const c_char,
    follow: bool,
) -> Option<(&'static State, String, &'static Node)> {
    if path.is_null() {
        return None;
    }
    // SAFETY: the caller's C string, per this function's contract.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    let p = normalize(bytes)?;
    if !candidate(&p) {
        return None;
    }
    let s = state()?;
    let (found, n) = s.vfs.get(&p, follow)?;
    Some((s, found, n))
}

/// Copies `bytes` to the caller's memory at `addr`: `EFAULT` where it is not mapped.
fn copy_out(s: &State, addr: u64, bytes: &[u8]) -> Result<(), c_int> {
    use softiommu_mem::AddressSpace;
    let mem = s.platform.host.mem();
    if mem.is_private(addr, bytes.len() as u64) || mem.write(addr, bytes).is_err() {
        return Err(libc::EFAULT);
    }
    Ok(())
}

/// Reads the caller's memory at `addr`: `EFAULT` where it is not mapped.
fn copy_in(s: &State, addr: u64, buf: &mut [u8]) -> Result<(), c_int> {
    use softiommu_mem::AddressSpace;
    let mem = s.platform.host.mem();
    if mem.is_private(addr, buf.len() as u64) || mem.read(addr, buf).is_err() {
        return Err(libc::EFAULT);
    }
    Ok(())
}

/// What a C function returns for `r`: the value, or -1 with errno set.
fn ret(r: Result<c_int, c_int>) -> c_int {
    r.unwrap_or_else(|e| {
        set_errno(e);
        -1
    })
}

/// The same for the functions returning `ssize_t`.
fn ret_size(r: Result<isize, c_int>) -> isize {
    r.unwrap_or_else(|e| {
        set_errno(e);
        -1
    })
}
