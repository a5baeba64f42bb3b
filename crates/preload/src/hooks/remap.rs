//! `mprotect` and `mremap` of mapped BARs. A BAR's window must stay inaccessible for its
//! accesses to reach the device, so a protection change leaves its pages as they are (the
//! window keeps serving loads and stores) and changes the rest of the range. `mremap` does
//! what the kernel does to a `VM_IO | VM_PFNMAP` mapping: growing it is `EFAULT`, as is a
//! range that is not inside one mapping; shrinking it stops serving the tail; moving it
//! serves the new address at the same device offsets.

use std::ffi::{c_int, c_void};

use super::guarded;
use crate::real::{self, set_errno};
use crate::trap;

const PAGE: u64 = 4096;

/// `len` rounded up to whole pages (the largest page multiple for a length past it).
fn pages(len: usize) -> u64 {
    (len as u64)
        .checked_next_multiple_of(PAGE)
        .unwrap_or(u64::MAX - (PAGE - 1))
}

/// The real `mprotect` on the parts of `[a, a + len)` outside `windows`; the first failure's
/// result.
fn protect_around(a: u64, len: u64, windows: &[(u64, u64)], prot: c_int) -> c_int {
    let end = a.saturating_add(len);
    let mut at = a;
    let mut gaps = Vec::new();
    for &(b, l) in windows {
        gaps.push((at, b - at));
        at = b + l;
    }
    gaps.push((at, end.saturating_sub(at)));
    for (b, l) in gaps.into_iter().filter(|(_, l)| *l > 0) {
        // SAFETY: a part of the caller's range, with the caller's protection.
        let r = unsafe { real::mprotect()(b as *mut c_void, l as usize, prot) };
        if r != 0 {
            return r;
        }
    }
    0
}

/// `mprotect`: windows keep their inaccessible pages and go on being served; the rest of
/// the range is the real call.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mprotect(a: *mut c_void, len: usize, prot: c_int) -> c_int {
    let start = a as u64;
    let windows = if start.is_multiple_of(PAGE) {
        guarded(Vec::new(), || trap::windows_in(start, pages(len)))
    } else {
        Vec::new()
    };
    if windows.is_empty() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::mprotect()(a, len, prot) };
    }
    protect_around(start, pages(len), &windows, prot)
}

/// What `mremap` answers for a range holding a window: the new address, or the errno.
fn remap_window(
    old: u64,
    old_len: usize,
    new_len: usize,
    flags: c_int,
    new: *mut c_void,
    windows: &[(u64, u64)],
) -> Result<*mut c_void, c_int> {
    let (olen, nlen) = (pages(old_len), pages(new_len));
    if flags & libc::MREMAP_DONTUNMAP != 0 || old_len == 0 || new_len == 0 {
        return Err(libc::EINVAL);
    }
    // One mapping: one window holding the whole range.
    let whole = matches!(windows, [(b, l)] if *b == old && *l == olen);
    if !whole || nlen > olen {
        return Err(libc::EFAULT);
    }
    if flags & libc::MREMAP_FIXED == 0 {
        if nlen < olen {
            // SAFETY: shrinks the window's own pages in place.
            let at = unsafe { real::mremap()(old as *mut c_void, olen as usize, nlen as usize, 0) };
            if at == libc::MAP_FAILED {
                return Err(errno());
            }
            trap::unregister_range(old + nlen, olen - nlen);
        }
        return Ok(old as *mut c_void);
    }
    // SAFETY: moves the window's own pages where the caller asked, as the real call would.
    let at =
        unsafe { real::mremap()(old as *mut c_void, olen as usize, nlen as usize, flags, new) };
    if at == libc::MAP_FAILED {
        return Err(errno());
    }
    let served = trap::relocate(old, nlen, at as u64);
    trap::unregister_range(old, olen);
    if served.is_err() {
        // SAFETY: the pages just moved, which nothing serves.
        unsafe { real::munmap()(at, nlen as usize) };
        return Err(libc::ENOMEM);
    }
    Ok(at)
}

fn errno() -> c_int {
    // SAFETY: glibc's errno location is always valid.
    unsafe { *libc::__errno_location() }
}

/// `mremap` (its optional fifth argument taken as a fixed one: it travels in the same
/// register).
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_len: usize,
    new_len: usize,
    flags: c_int,
    new: *mut c_void,
) -> *mut c_void {
    let start = old as u64;
    let windows = if start.is_multiple_of(PAGE) {
        guarded(Vec::new(), || {
            trap::windows_in(start, pages(old_len).max(PAGE))
        })
    } else {
        Vec::new()
    };
    if windows.is_empty() {
        // SAFETY: the caller's arguments, passed on.
        let at = unsafe { real::mremap()(old, old_len, new_len, flags, new) };
        if at != libc::MAP_FAILED && flags & libc::MREMAP_FIXED != 0 {
            // The destination's old pages, windows included, were replaced.
            guarded((), || {
                trap::unregister_range(at as u64, pages(new_len));
            });
        }
        return at;
    }
    guarded(Err(libc::EIO), || {
        remap_window(start, old_len, new_len, flags, new, &windows)
    })
    .unwrap_or_else(|e| {
        set_errno(e);
        libc::MAP_FAILED
    })
}
