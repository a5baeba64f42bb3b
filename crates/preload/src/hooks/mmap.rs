//! `mmap` of softiommu's descriptors. Mapping a BAR needs MMIO trap-and-emulate, which is
//! not here yet: such a mapping is refused with a message, never a silent mapping of an
//! empty file.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::real::{self, set_errno};
use crate::state::{Obj, lookup};

static SAID: AtomicBool = AtomicBool::new(false);

/// The refusal: `ENODEV`, as the kernel answers a file without `mmap`.
fn refuse(obj: &Obj) -> *mut c_void {
    if matches!(obj, Obj::Device(_)) && !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "softiommu: mmap of a VFIO device's BAR is not served (MMIO trap-and-emulate is not built); use pread/pwrite of the region"
        );
    }
    set_errno(libc::ENODEV);
    libc::MAP_FAILED
}

/// `mmap`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mmap(
    a: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    match lookup(fd) {
        Some(obj) => refuse(&obj),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::mmap()(a, len, prot, flags, fd, off) },
    }
}

/// `mmap64`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mmap64(
    a: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    match lookup(fd) {
        Some(obj) => refuse(&obj),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::mmap64()(a, len, prot, flags, fd, off) },
    }
}
