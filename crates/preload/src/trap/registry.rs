//! The trapped windows: address ranges of this process and the handler behind each.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use softiommu_iommufd::quiesce::enter;

use super::MmioHandler;

/// Read and write: what a window allows until the program asks otherwise.
const READ_WRITE: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// The granule of the program's protection.
const PAGE: u64 = 4096;

/// One window: where it ends, who serves it, and the protection the program asked for on
/// each of its pages (`PROT_*`; the pages stay inaccessible whatever it is).
struct Entry {
    len: u64,
    handler: Arc<dyn MmioHandler>,
    prot: Vec<i32>,
}

impl Entry {
    /// The protection of the pages holding bytes `lo..hi` of the window.
    fn prot_of(&self, lo: u64, hi: u64) -> Vec<i32> {
        let (a, b) = ((lo / PAGE) as usize, hi.div_ceil(PAGE) as usize);
        self.prot
            .get(a..b.min(self.prot.len()))
            .map_or_else(Vec::new, <[i32]>::to_vec)
    }
}

/// The handler of a window seen from `skip` bytes further in.
fn from(handler: &Arc<dyn MmioHandler>, skip: u64) -> Arc<dyn MmioHandler> {
    if skip == 0 {
        handler.clone()
    } else {
        Arc::new(Rest {
            inner: handler.clone(),
            skip,
        })
    }
}

/// Windows by start address; read by the fault handler, written only by (un)registration.
static WINDOWS: RwLock<BTreeMap<u64, Entry>> = RwLock::new(BTreeMap::new());
/// Windows in `WINDOWS`: while 0, [`unregister_range`] costs one load.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Serves the `len` bytes at `base` (already mapped inaccessible by the caller) with
/// `handler`, for loads and stores, installing the fault handlers if they are not yet:
/// `EINVAL` for an empty or wrapping range, `EEXIST` when it overlaps a window.
pub fn register(base: u64, len: u64, handler: Arc<dyn MmioHandler>) -> io::Result<()> {
    register_with(base, len, handler, READ_WRITE)
}

/// [`register`] with the protection the program asked for (`PROT_*`): loads are served
/// with `PROT_READ`, stores with `PROT_WRITE`, and other accesses are the program's faults.
pub fn register_with(
    base: u64,
    len: u64,
    handler: Arc<dyn MmioHandler>,
    prot: i32,
) -> io::Result<()> {
    let end = base
        .checked_add(len)
        .filter(|_| len != 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    super::signal::install();
    let _inside = enter();
    let mut w = WINDOWS.write().unwrap_or_else(PoisonError::into_inner);
    let below = w.range(..end).next_back();
    if below.is_some_and(|(&b, e)| b + e.len > base) {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    let prot = vec![prot; len.div_ceil(PAGE) as usize];
    w.insert(base, Entry { len, handler, prot });
    COUNT.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// Stops serving the window that starts at `base`; returns its handler (`None`: no window
/// starts there). Faults there afterwards are no longer this module's.
pub fn unregister(base: u64) -> Option<Arc<dyn MmioHandler>> {
    let _inside = enter();
    let mut w = WINDOWS.write().unwrap_or_else(PoisonError::into_inner);
    let gone = w.remove(&base).map(|e| e.handler);
    if gone.is_some() {
        COUNT.fetch_sub(1, Ordering::AcqRel);
    }
    gone
}

/// The part of a window left after a cut: its handler, seen from `skip` bytes further in.
struct Rest {
    inner: Arc<dyn MmioHandler>,
    skip: u64,
}

impl MmioHandler for Rest {
    fn read(&self, offset: u64, size: usize) -> u64 {
        self.inner.read(self.skip + offset, size)
    }

    fn write(&self, offset: u64, size: usize, value: u64) {
        self.inner.write(self.skip + offset, size, value)
    }

    fn portal(
        &self,
        offset: u64,
        data: &[u8; 64],
        how: super::PortalWrite,
    ) -> Option<super::PortalStatus> {
        self.inner.portal(self.skip + offset, data, how)
    }
}

/// Stops serving the `len` bytes at `addr` (as `munmap` of that range does to a mapping):
/// windows inside it are unregistered, and a window it covers in part keeps serving the part
/// outside it, at the same device offsets. Returns how many windows were touched.
pub fn unregister_range(addr: u64, len: u64) -> usize {
    if COUNT.load(Ordering::Acquire) == 0 || len == 0 {
        return 0;
    }
    let end = addr.saturating_add(len);
    let overlaps = |w: &BTreeMap<u64, Entry>| {
        w.range(..end)
            .next_back()
            .is_some_and(|(b, e)| *b + e.len > addr)
    };
    let _inside = enter();
    // Most unmappings are of the program's own memory: a shared look first.
    if !overlaps(&WINDOWS.read().unwrap_or_else(PoisonError::into_inner)) {
        return 0;
    }
    let mut w = WINDOWS.write().unwrap_or_else(PoisonError::into_inner);
    let hit: Vec<u64> = w
        .range(..end)
        .rev()
        .take_while(|(b, e)| **b + e.len > addr)
        .map(|(b, _)| *b)
        .collect();
    for base in &hit {
        let Some(e) = w.remove(base) else { continue };
        let wend = base + e.len;
        let mut keep = Vec::new();
        if *base < addr {
            keep.push((*base, addr - base, 0));
        }
        if wend > end {
            keep.push((end, wend - end, end - base));
        }
        COUNT.fetch_sub(1, Ordering::AcqRel);
        for (b, l, skip) in keep {
            let handler = from(&e.handler, skip);
            let prot = e.prot_of(skip, skip + l);
            w.insert(
                b,
                Entry {
                    len: l,
                    handler,
                    prot,
                },
            );
            COUNT.fetch_add(1, Ordering::AcqRel);
        }
    }
    hit.len()
}

/// Sets the protection the program asked for (`PROT_*`) on the pages of windows inside
/// the `len` bytes at `addr` (as `mprotect` of that range does). Returns how many windows
/// were touched.
pub fn protect(addr: u64, len: u64, prot: i32) -> usize {
    if COUNT.load(Ordering::Acquire) == 0 || len == 0 {
        return 0;
    }
    let end = addr.saturating_add(len);
    let _inside = enter();
    let mut w = WINDOWS.write().unwrap_or_else(PoisonError::into_inner);
    let mut touched = 0;
    for (base, e) in w.range_mut(..end).rev() {
        if *base + e.len <= addr {
            break;
        }
        let lo = (addr.max(*base) - base) / PAGE;
        let hi = (end.min(*base + e.len) - base).div_ceil(PAGE);
        for p in e.prot.iter_mut().take(hi as usize).skip(lo as usize) {
            *p = prot;
        }
        touched += 1;
    }
    touched
}

/// The parts of windows inside the `len` bytes at `addr`, as (start, length), in order.
pub fn windows_in(addr: u64, len: u64) -> Vec<(u64, u64)> {
    if COUNT.load(Ordering::Acquire) == 0 || len == 0 {
        return Vec::new();
    }
    let end = addr.saturating_add(len);
    let _inside = enter();
    let w = WINDOWS.read().unwrap_or_else(PoisonError::into_inner);
    let mut out: Vec<(u64, u64)> = w
        .range(..end)
        .rev()
        .take_while(|(b, e)| **b + e.len > addr)
        .map(|(b, e)| {
            let lo = (*b).max(addr);
            (lo, (b + e.len).min(end) - lo)
        })
        .collect();
    out.reverse();
    out
}

/// Moves the service of the `len` bytes at `from`, all inside one window, to `to` (where
/// the caller has just moved the pages), at the same device offsets: `EFAULT` when the range
/// is not inside one window, `EEXIST` when `to` overlaps another.
pub fn relocate(from: u64, len: u64, to: u64) -> io::Result<()> {
    let (base, wlen, inner, _) =
        window_and_prot(from).ok_or_else(|| io::Error::from_raw_os_error(libc::EFAULT))?;
    if from + len > base + wlen || len == 0 {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    let prot = {
        let _inside = enter();
        let w = WINDOWS.read().unwrap_or_else(PoisonError::into_inner);
        w.get(&base)
            .map_or_else(Vec::new, |e| e.prot_of(from - base, from - base + len))
    };
    let handler = self::from(&inner, from - base);
    unregister_range(from, len);
    // The destination's old pages were replaced by the move.
    unregister_range(to, len);
    register(to, len, handler)?;
    for (i, p) in prot.iter().enumerate() {
        protect(to + i as u64 * PAGE, PAGE, *p);
    }
    Ok(())
}

/// The window holding `addr`: its start, length and handler.
pub fn window_at(addr: u64) -> Option<(u64, u64, Arc<dyn MmioHandler>)> {
    window_and_prot(addr).map(|(b, l, h, _)| (b, l, h))
}

/// The window holding `addr`: its start, length, handler and the protection the program
/// asked for on the page of `addr`.
pub fn window_and_prot(addr: u64) -> Option<(u64, u64, Arc<dyn MmioHandler>, i32)> {
    let _inside = enter();
    let w = WINDOWS.read().unwrap_or_else(PoisonError::into_inner);
    let (&base, e) = w.range(..=addr).next_back()?;
    let page = ((addr - base) / PAGE) as usize;
    (addr - base < e.len).then(|| {
        let prot = e.prot.get(page).copied().unwrap_or(READ_WRITE);
        (base, e.len, e.handler.clone(), prot)
    })
}

/// A window this module mapped itself: fresh inaccessible pages served by a handler,
/// unregistered and unmapped when dropped.
pub struct TrapWindow {
    base: u64,
    len: u64,
}

impl TrapWindow {
    /// Maps `len` bytes (rounded up to pages) inaccessible and serves them with `handler`.
    pub fn map(len: usize, handler: Arc<dyn MmioHandler>) -> io::Result<TrapWindow> {
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let len = len.div_ceil(4096) * 4096;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks; no memory of
        // ours is affected.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = at as u64;
        if let Err(e) = register(base, len as u64, handler) {
            // SAFETY: the mapping made above, referenced nowhere else.
            unsafe { libc::munmap(at, len) };
            return Err(e);
        }
        Ok(TrapWindow {
            base,
            len: len as u64,
        })
    }

    /// The window's first address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The window's first address as a pointer, for the program's loads and stores.
    pub fn ptr<T>(&self) -> *mut T {
        self.base as *mut T
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never true: a window has at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for TrapWindow {
    fn drop(&mut self) {
        unregister(self.base);
        // SAFETY: the mapping this window made; nothing of the program's can be there.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len as usize) };
    }
}
