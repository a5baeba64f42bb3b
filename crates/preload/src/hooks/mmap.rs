//! `mmap` and `munmap`. A shared mapping of a VFIO device file at a BAR's offset is
//! inaccessible memory served by the [trap](crate::trap): each load or store there is one
//! access of the BAR. `munmap` of such a range (or a part of it) stops serving what it
//! unmaps; `mmap` of softiommu's other descriptors is the kernel's `ENODEV`.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use super::guarded;
use crate::real::{self, set_errno};
use crate::state::{Obj, lookup};
use crate::trap::{self, VfioBar};

const PAGE: u64 = 4096;

/// The mapping of `len` bytes of device `dev` at file offset `off`, at `a` if the flags
/// say so: the kernel's checks (`EINVAL` for a private mapping or a range outside a
/// mappable BAR), then fresh inaccessible pages registered as a trapped window.
fn map_bar(
    dev: &softiommu_iommufd::vfio::VfioDevice,
    a: *mut c_void,
    len: usize,
    flags: c_int,
    off: i64,
) -> Result<*mut c_void, c_int> {
    let kind = flags & libc::MAP_TYPE;
    if kind != libc::MAP_SHARED && kind != libc::MAP_SHARED_VALIDATE {
        return Err(libc::EINVAL);
    }
    let len = (len as u64).div_ceil(PAGE) * PAGE;
    let off = u64::try_from(off).map_err(|_| libc::EINVAL)?;
    let bar = VfioBar::new(dev, off, len).map_err(|e| e.errno())?;
    let keep = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE);
    let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | keep;
    // SAFETY: an anonymous inaccessible mapping where the caller asked (replacing its own
    // pages only if it said MAP_FIXED, as the real call would).
    let at = unsafe { real::mmap()(a, len as usize, libc::PROT_NONE, anon, -1, 0) };
    if at == libc::MAP_FAILED {
        // SAFETY: glibc's errno location is always valid.
        return Err(unsafe { *libc::__errno_location() });
    }
    // A fixed mapping replaced whatever was there, windows included.
    trap::unregister_range(at as u64, len);
    if let Err(e) = trap::register(at as u64, len, Arc::new(bar)) {
        // SAFETY: the mapping made above, which nothing else refers to.
        unsafe { real::munmap()(at, len as usize) };
        return Err(e.raw_os_error().unwrap_or(libc::ENOMEM));
    }
    Ok(at)
}

/// The mapping for `fd` if it is softiommu's; `None` for the real call.
fn ours(a: *mut c_void, len: usize, flags: c_int, fd: c_int, off: i64) -> Option<*mut c_void> {
    let obj = lookup(fd)?;
    let r = match &obj {
        Obj::Device(dev) => map_bar(dev, a, len, flags, off),
        _ => Err(libc::ENODEV),
    };
    if crate::trace::on() {
        let (region, at) = (off >> 40, off & ((1 << 40) - 1));
        let res = crate::trace::result(&r.map(|p| format!("{p:?}")));
        crate::trace::line(format_args!(
            "mmap({fd}, region {region}+{at:#x}, {len:#x}, flags {flags:#x}) = {res}"
        ));
    }
    Some(r.unwrap_or_else(|e| {
        set_errno(e);
        libc::MAP_FAILED
    }))
}

/// After a real mapping: a fixed one replaced any window it covers.
fn replaced(at: *mut c_void, len: usize, flags: c_int) {
    if at != libc::MAP_FAILED && flags & libc::MAP_FIXED != 0 {
        trap::unregister_range(at as u64, len as u64);
    }
}

/// The C library's `mmap` or `mmap64`.
type RealMap = unsafe extern "C" fn(
    *mut c_void,
    libc::size_t,
    c_int,
    c_int,
    c_int,
    libc::off_t,
) -> *mut c_void;

/// A mapping: softiommu's if the descriptor is one of its own, else the real call `real`
/// gives, after which a fixed mapping replaces any window it covers.
///
/// # Safety
/// The C function's contract.
unsafe fn map_with(
    real: fn() -> RealMap,
    a: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    if let Some(r) = guarded(Some(libc::MAP_FAILED), || ours(a, len, flags, fd, off)) {
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    let at = unsafe { real()(a, len, prot, flags, fd, off) };
    replaced(at, len, flags);
    at
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
    // SAFETY: the caller's arguments, passed on.
    unsafe { map_with(real::mmap, a, len, prot, flags, fd, off) }
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
    // SAFETY: the caller's arguments, passed on.
    unsafe { map_with(real::mmap64, a, len, prot, flags, fd, off) }
}

/// `munmap`: the real call, then the windows in the range stop being served (the parts of
/// a window outside it stay).
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn munmap(a: *mut c_void, len: usize) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::munmap()(a, len) };
    if r == 0 {
        let len = (len as u64).div_ceil(PAGE) * PAGE;
        guarded((), || {
            trap::unregister_range(a as u64, len);
        });
    }
    r
}
