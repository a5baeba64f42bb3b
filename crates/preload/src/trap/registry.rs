//! The trapped windows: address ranges of this process and the handler behind each.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::MmioHandler;

/// One window: where it ends and who serves it.
struct Entry {
    len: u64,
    handler: Arc<dyn MmioHandler>,
}

/// Windows by start address; read by the fault handler, written only by (un)registration.
static WINDOWS: RwLock<BTreeMap<u64, Entry>> = RwLock::new(BTreeMap::new());
/// Windows in `WINDOWS`: while 0, [`unregister_range`] costs one load.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Serves the `len` bytes at `base` (already mapped inaccessible by the caller) with
/// `handler`, installing the fault handlers if they are not yet: `EINVAL` for an empty or
/// wrapping range, `EEXIST` when it overlaps a window.
pub fn register(base: u64, len: u64, handler: Arc<dyn MmioHandler>) -> io::Result<()> {
    let end = base
        .checked_add(len)
        .filter(|_| len != 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    super::signal::install();
    let mut w = WINDOWS.write().unwrap_or_else(PoisonError::into_inner);
    let below = w.range(..end).next_back();
    if below.is_some_and(|(&b, e)| b + e.len > base) {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    w.insert(base, Entry { len, handler });
    COUNT.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// Stops serving the window that starts at `base`; returns its handler (`None`: no window
/// starts there). Faults there afterwards are no longer this module's.
pub fn unregister(base: u64) -> Option<Arc<dyn MmioHandler>> {
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
            let handler: Arc<dyn MmioHandler> = if skip == 0 {
                e.handler.clone()
            } else {
                Arc::new(Rest {
                    inner: e.handler.clone(),
                    skip,
                })
            };
            w.insert(b, Entry { len: l, handler });
            COUNT.fetch_add(1, Ordering::AcqRel);
        }
    }
    hit.len()
}

/// The parts of windows inside the `len` bytes at `addr`, as (start, length), in order.
pub fn windows_in(addr: u64, len: u64) -> Vec<(u64, u64)> {
    if COUNT.load(Ordering::Acquire) == 0 || len == 0 {
        return Vec::new();
    }
    let end = addr.saturating_add(len);
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
    let (base, wlen, inner) =
        window_at(from).ok_or_else(|| io::Error::from_raw_os_error(libc::EFAULT))?;
    if from + len > base + wlen || len == 0 {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    let skip = from - base;
    let handler: Arc<dyn MmioHandler> = if skip == 0 {
        inner
    } else {
        Arc::new(Rest { inner, skip })
    };
    unregister_range(from, len);
    // The destination's old pages were replaced by the move.
    unregister_range(to, len);
    register(to, len, handler)
}

/// The window holding `addr`: its start, length and handler.
pub fn window_at(addr: u64) -> Option<(u64, u64, Arc<dyn MmioHandler>)> {
    let w = WINDOWS.read().unwrap_or_else(PoisonError::into_inner);
    let (&base, e) = w.range(..=addr).next_back()?;
    (addr - base < e.len).then(|| (base, e.len, e.handler.clone()))
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
