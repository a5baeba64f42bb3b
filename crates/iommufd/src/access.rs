//! Accesses: how an emulated or mediated device that copies by IOVA in software reaches an
//! IOAS. An access pins pages by IOVA (their host addresses are what it gets), reads and
//! writes by IOVA through the areas, and is told synchronously when an area it pinned is
//! about to be unmapped, so that it unpins first.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Prot;

use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::host::{Host, PAGE_SIZE};
use crate::ioas::Ioas;
use crate::iopt::IoPt;
use crate::pages::Pages;

/// The access pins pages (the kernel's `needs_pin_pages`): the IOAS's alignment becomes at
/// least [`PAGE_SIZE`] while it is there.
pub const ACCESS_NEEDS_PIN_PAGES: u32 = 1 << 0;

/// How many times an unmap tells the accesses and looks again before it gives up with
/// `EDEADLK`.
const UNMAP_TRIES: u32 = 100;

/// Ids the IOASes know their accesses by, unique in the process.
static NEXT_ACCESS: AtomicU32 = AtomicU32::new(1);

/// What the owner of an access is told.
pub trait AccessOps: Send + Sync {
    /// `[iova, iova + length)` is about to be unmapped from the access's IOAS: the owner
    /// must unpin, through `access`, everything it pinned there before returning. Called
    /// with no lock of the IOAS held; it must not map or unmap in the IOAS.
    fn unmap(&self, access: &Access, iova: u64, length: u64);
}

/// One pin made through an access: `length` bytes from `iova`, and the pages behind them.
struct Pinned {
    iova: u64,
    length: u64,
    runs: Vec<(Arc<Pages>, Range<u64>)>,
}

/// An access to an IOAS by software that copies by IOVA (`struct iommufd_access`).
pub struct Access {
    id: u32,
    host: Arc<Host>,
    pin_capable: bool,
    ops: Arc<dyn AccessOps>,
    ioas: Mutex<Option<Arc<Ioas>>>,
    pins: Mutex<Vec<Pinned>>,
}

impl Context {
    /// Creates an access to IOAS `ioas` (what `iommufd_access_create` does for an emulated
    /// device); `flags` is [`ACCESS_NEEDS_PIN_PAGES`] or 0 (others: `EOPNOTSUPP`). A
    /// pin-capable access raises the IOAS's alignment to [`PAGE_SIZE`] (`EADDRINUSE` if a
    /// mapping does not keep it). The access keeps the IOAS busy until it is destroyed.
    pub fn access_create(
        &self,
        ioas: u32,
        flags: u32,
        ops: Arc<dyn AccessOps>,
    ) -> Result<Arc<Access>> {
        if flags & !ACCESS_NEEDS_PIN_PAGES != 0 {
            return err(libc::EOPNOTSUPP, "unknown access flags");
        }
        let ioas = self.ioas(ioas)?;
        self.host().faults().check("allocating an access")?;
        let access = Arc::new(Access {
            id: NEXT_ACCESS.fetch_add(1, Ordering::Relaxed),
            host: self.host().clone(),
            pin_capable: flags & ACCESS_NEEDS_PIN_PAGES != 0,
            ops,
            ioas: Mutex::new(None),
            pins: Mutex::new(Vec::new()),
        });
        access.join(&ioas)?;
        *access.ioas.lock() = Some(ioas);
        Ok(access)
    }

    /// Moves `access` to IOAS `ioas` (`iommufd_access_replace`): the owner is told to unpin
    /// everything first (an unmap of the whole IOVA space); `EBUSY` if it keeps pins, and
    /// the alignment errors of [`access_create`](Context::access_create). On an error the
    /// access stays where it was.
    pub fn access_replace_ioas(&self, access: &Arc<Access>, ioas: u32) -> Result<()> {
        let new = self.ioas(ioas)?;
        let old = access.current()?;
        if Arc::ptr_eq(&old, &new) {
            return Ok(());
        }
        access.join(&new)?;
        if !access.pins.lock().is_empty() {
            access.ops.unmap(access, 0, u64::MAX);
        }
        if !access.pins.lock().is_empty() {
            access.leave(&new);
            return err(libc::EBUSY, "the access still holds pins");
        }
        *access.ioas.lock() = Some(new);
        access.leave(&old);
        Ok(())
    }
}

impl Access {
    /// Whether the access pins pages.
    pub fn pin_capable(&self) -> bool {
        self.pin_capable
    }

    /// The pins held, as `(iova, length)`.
    pub fn pinned(&self) -> Vec<(u64, u64)> {
        self.pins
            .lock()
            .iter()
            .map(|p| (p.iova, p.length))
            .collect()
    }

    fn current(&self) -> Result<Arc<Ioas>> {
        match &*self.ioas.lock() {
            Some(a) => Ok(a.clone()),
            None => err(libc::ENOENT, "the access is destroyed"),
        }
    }

    /// Registers with `ioas`: its alignment, and a place in its list of accesses.
    fn join(self: &Arc<Self>, ioas: &Arc<Ioas>) -> Result<()> {
        let align = if self.pin_capable { PAGE_SIZE } else { 1 };
        ioas.iopt.lock().set_access_align(self.id, align)?;
        let mut list = ioas.accesses.lock();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(self));
        Ok(())
    }

    fn leave(&self, ioas: &Ioas) {
        ioas.accesses.lock().retain(|w| match w.upgrade() {
            Some(a) => a.id != self.id,
            None => false,
        });
        ioas.iopt.lock().remove_access_align(self.id);
    }

    /// Pins `length` bytes from `iova` (`iommufd_access_pin_pages`); `write` asks for pages
    /// a device may write. Returns the host address of each page, from the page holding
    /// `iova`. `EOPNOTSUPP` for an access made without [`ACCESS_NEEDS_PIN_PAGES`], `EINVAL`
    /// for no bytes, `ENOENT` where no area maps the range wholly, `EPERM` for a write to a
    /// read-only area, `EFAULT` if the memory is gone, `ENOMEM` over the locked-memory
    /// limit. A page is pinned once however many domains and accesses pin it.
    pub fn pin_pages(&self, iova: u64, length: u64, write: bool) -> Result<Vec<u64>> {
        if !self.pin_capable {
            return err(libc::EOPNOTSUPP, "the access does not pin pages");
        }
        let last = last_of(iova, length)?;
        let ioas = self.current()?;
        let iopt = ioas.iopt.lock();
        let pieces = pieces(&iopt, iova, last, write)?;
        let mut runs: Vec<(Arc<Pages>, Range<u64>)> = Vec::with_capacity(pieces.len());
        let mut addrs = Vec::new();
        for (pages, first_byte, last_byte) in pieces {
            let range = first_byte / PAGE_SIZE..last_byte / PAGE_SIZE + 1;
            if let Err(e) = pages.pin(range.clone()) {
                for (p, r) in runs {
                    p.unpin(r);
                }
                return Err(e);
            }
            addrs.extend(range.clone().map(|i| pages.addr(i * PAGE_SIZE)));
            runs.push((pages, range));
        }
        drop(iopt);
        self.pins.lock().push(Pinned { iova, length, runs });
        Ok(addrs)
    }

    /// Drops the pin made by [`pin_pages`](Access::pin_pages) of exactly `iova` and
    /// `length` (`iommufd_access_unpin_pages`); `EINVAL` if there is none.
    pub fn unpin_pages(&self, iova: u64, length: u64) -> Result<()> {
        let pinned = {
            let mut pins = self.pins.lock();
            match pins
                .iter()
                .position(|p| p.iova == iova && p.length == length)
            {
                Some(i) => pins.swap_remove(i),
                None => return err(libc::EINVAL, "nothing pinned at that range"),
            }
        };
        for (p, r) in pinned.runs {
            p.unpin(r);
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `iova` by CPU copy through the areas
    /// (`iommufd_access_rw`): `EINVAL` for no bytes, `ENOENT` where no area maps them,
    /// `EFAULT` where the user has unmapped the memory.
    pub fn read(&self, iova: u64, buf: &mut [u8]) -> Result<()> {
        let last = last_of(iova, buf.len() as u64)?;
        let ioas = self.current()?;
        let iopt = ioas.iopt.lock();
        let mut done = 0usize;
        for (pages, first, last) in pieces(&iopt, iova, last, false)? {
            let n = (last - first + 1) as usize;
            self.check_user(pages.addr(first), n)?;
            self.host
                .mem()
                .read(pages.addr(first), &mut buf[done..done + n])
                .map_err(|_| Error::new(libc::EFAULT, "the memory is not mapped"))?;
            done += n;
        }
        Ok(())
    }

    /// Writes `data` at `iova` by CPU copy through the areas: the errors of
    /// [`read`](Access::read), and `EPERM` for an area mapped without write.
    pub fn write(&self, iova: u64, data: &[u8]) -> Result<()> {
        let last = last_of(iova, data.len() as u64)?;
        let ioas = self.current()?;
        let iopt = ioas.iopt.lock();
        let mut done = 0usize;
        for (pages, first, last) in pieces(&iopt, iova, last, true)? {
            let n = (last - first + 1) as usize;
            self.check_user(pages.addr(first), n)?;
            self.host
                .mem()
                .write(pages.addr(first), &data[done..done + n])
                .map_err(|_| Error::new(libc::EFAULT, "the memory is not mapped"))?;
            done += n;
        }
        Ok(())
    }

    /// Destroys the access (`iommufd_access_destroy`): its pins are dropped and the IOAS is
    /// free of it. Later calls on it are `ENOENT`.
    pub fn destroy(&self) {
        let pins = std::mem::take(&mut *self.pins.lock());
        for p in pins {
            for (pages, r) in p.runs {
                pages.unpin(r);
            }
        }
        let ioas = self.ioas.lock().take();
        if let Some(ioas) = ioas {
            self.leave(&ioas);
        }
    }

    /// `EFAULT` for memory that is not the user's (the tables' own arena).
    fn check_user(&self, addr: u64, n: usize) -> Result<()> {
        if self.host.mem().is_private(addr, n as u64) {
            return err(libc::EFAULT, "not the user's memory");
        }
        Ok(())
    }

    /// Whether a pin of the access meets `[start, last]`.
    fn pins_within(&self, start: u64, last: u64) -> bool {
        self.pins
            .lock()
            .iter()
            .any(|p| p.iova <= last && p.iova.saturating_add(p.length - 1) >= start)
    }
}

impl Drop for Access {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// The last byte of `length` bytes from `iova`.
fn last_of(iova: u64, length: u64) -> Result<u64> {
    if length == 0 {
        return err(libc::EINVAL, "zero length");
    }
    iova.checked_add(length - 1)
        .ok_or(Error::new(libc::EOVERFLOW, "IOVA plus length overflows"))
}

/// The pages behind `[iova, last]` as `(pages, first byte, last byte)` runs, one per area:
/// `ENOENT` if areas do not cover it wholly, `EPERM` if `write` meets a read-only area.
fn pieces(iopt: &IoPt, iova: u64, last: u64, write: bool) -> Result<Vec<(Arc<Pages>, u64, u64)>> {
    let mut out = Vec::new();
    let mut at = iova;
    loop {
        let Some((s, area)) = iopt.area_at(at) else {
            return err(libc::ENOENT, "no mapping at the IOVA");
        };
        if write && !area.prot.contains(Prot::WRITE) {
            return err(libc::EPERM, "the mapping is read-only");
        }
        let end = area.last.min(last);
        let first = area.start_byte + (at - s);
        out.push((area.pages.clone(), first, first + (end - at)));
        if end == last {
            return Ok(out);
        }
        at = end + 1;
    }
}

impl Ioas {
    /// Unmaps the areas inside `[start, last]` (`all`: every area, none being no error),
    /// telling the accesses that pinned any of them first and looking again until none
    /// holds a pin there; `EDEADLK` when they still do after 100 rounds.
    pub(crate) fn unmap_range(&self, start: u64, last: u64, all: bool) -> Result<u64> {
        for _ in 0..UNMAP_TRIES {
            let mut iopt = self.iopt.lock();
            if self.accesses.lock().is_empty() {
                // No access to tell: the unmap checks the range itself.
                return match iopt.unmap(start, last) {
                    Err(_) if all => Ok(0),
                    r => r,
                };
            }
            let areas = match iopt.areas_in(start, last) {
                Ok(a) => a,
                Err(_) if all => return Ok(0),
                Err(e) => return Err(e),
            };
            let accesses: Vec<Arc<Access>> = self
                .accesses
                .lock()
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            let mut busy = Vec::new();
            for a in &accesses {
                for &(s, l) in &areas {
                    if a.pins_within(s, l) {
                        busy.push((a.clone(), s, l));
                    }
                }
            }
            if busy.is_empty() {
                return iopt.unmap(start, last);
            }
            drop(iopt);
            for (a, s, l) in busy {
                a.ops.unmap(&a, s, l - s + 1);
            }
        }
        err(libc::EDEADLK, "an access keeps pins in the range")
    }
}
