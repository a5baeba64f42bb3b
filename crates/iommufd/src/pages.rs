//! The memory behind areas: a range of user memory or of a file, pinned page by page as
//! domains and accesses need it, and charged to whoever created it.

use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_mem::FileMapping;

use crate::error::{Result, err};
use crate::host::{Host, PAGE_SIZE, Payer};
use crate::spans::{Edges, SpanCounts};

/// Where the bytes are.
enum Backing {
    /// The user's own memory, at the user's address.
    User,
    /// A file, through a mapping of this crate's own that the user cannot take away.
    File(FileMapping),
}

/// A page-aligned run of memory that areas map slices of. Shared by every area that maps
/// it (an IOAS copy shares it), so a page is pinned once however many domains use it.
pub(crate) struct Pages {
    host: Arc<Host>,
    /// Host address of page 0.
    base: u64,
    /// What the user knows page 0 by: its address, or the file offset.
    origin: u64,
    npages: u64,
    writable: bool,
    backing: Backing,
    payer: Payer,
    /// Which of its pages are pinned, and by how many users (domains' areas, accesses).
    pinned: Mutex<SpanCounts>,
}

/// Checks a range of memory to make pages of; returns its end.
fn check_range(host: &Host, start: u64, length: u64) -> Result<u64> {
    if length == 0 {
        return err(libc::EINVAL, "zero length");
    }
    let Some(end) = start.checked_add(length) else {
        return err(libc::EOVERFLOW, "address plus length overflows");
    };
    host.faults().check("allocating pages")?;
    Ok(end)
}

impl Pages {
    /// `length` bytes of user memory at `uptr`; returns the pages and the byte offset of
    /// `uptr` in them.
    pub(crate) fn user(
        host: &Arc<Host>,
        uptr: u64,
        length: u64,
        writable: bool,
        payer: Payer,
    ) -> Result<(Arc<Pages>, u64)> {
        let end = check_range(host, uptr, length)?;
        let base = uptr & !(PAGE_SIZE - 1);
        let npages = end.div_ceil(PAGE_SIZE) - base / PAGE_SIZE;
        let pages = Pages::new(host, (base, base), npages, writable, Backing::User, payer);
        Ok((pages, uptr - base))
    }

    /// `length` bytes of file `fd` from byte `start`; returns the pages and the byte offset
    /// of `start` in them.
    pub(crate) fn file(
        host: &Arc<Host>,
        fd: BorrowedFd<'_>,
        start: u64,
        length: u64,
        writable: bool,
        payer: Payer,
    ) -> Result<(Arc<Pages>, u64)> {
        let end = check_range(host, start, length)?;
        let first = start & !(PAGE_SIZE - 1);
        let Some(last) = end.checked_next_multiple_of(PAGE_SIZE) else {
            return err(libc::EOVERFLOW, "file offset plus length overflows");
        };
        let map = FileMapping::new(fd, first, last - first, writable).map_err(|e| match e {
            softiommu_mem::MemError::HostMap { errno, .. }
                if errno == libc::EACCES || errno == libc::EPERM =>
            {
                crate::error::Error::new(libc::EPERM, "the file is not open for that access")
            }
            _ => crate::error::Error::new(libc::EBADF, "the file cannot be mapped"),
        })?;
        let base = map.addr();
        let npages = (last - first) / PAGE_SIZE;
        let pages = Pages::new(
            host,
            (base, first),
            npages,
            writable,
            Backing::File(map),
            payer,
        );
        Ok((pages, start - first))
    }

    fn new(
        host: &Arc<Host>,
        (base, origin): (u64, u64),
        npages: u64,
        writable: bool,
        backing: Backing,
        payer: Payer,
    ) -> Arc<Pages> {
        Arc::new(Pages {
            host: host.clone(),
            base,
            origin,
            npages,
            writable,
            backing,
            payer,
            pinned: Mutex::new(SpanCounts::new()),
        })
    }

    /// Whether the memory may be written by a device.
    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    /// The host (physical) address of byte `byte`.
    pub(crate) fn addr(&self, byte: u64) -> u64 {
        self.base + byte
    }

    /// What the user knows byte `byte` by (its address, or its file offset): the hint for
    /// an automatic IOVA.
    pub(crate) fn origin(&self, byte: u64) -> u64 {
        self.origin + byte
    }

    /// Pins pages `pages` (indices) for one more user: the first pin of a page checks that
    /// the memory is there (`EFAULT`) and charges it (`ENOMEM` over the limit).
    pub(crate) fn pin(&self, pages: Range<u64>) -> Result<()> {
        if pages.end > self.npages || pages.start >= pages.end {
            return err(libc::EINVAL, "pages outside the mapped range");
        }
        self.host.faults().check("pinning pages")?;
        let mut pinned = self.pinned.lock();
        let new = pinned.add(pages.clone());
        let count = new.pages();
        let present = new.iter().try_for_each(|r| self.check_present(r.clone()));
        let charged = present.and_then(|()| self.host.charge(&self.payer, count));
        if let Err(e) = charged {
            pinned.remove(pages);
            return Err(e);
        }
        for r in new {
            self.host.pin_pages(self.host_pages(r));
        }
        Ok(())
    }

    /// Drops one user's pin on pages `pages`; the last unpin of a page gives its charge back.
    pub(crate) fn unpin(&self, pages: Range<u64>) {
        let gone = self.pinned.lock().remove(pages);
        self.release(gone);
    }

    fn release(&self, gone: Edges) {
        if gone.is_empty() {
            return;
        }
        let count = gone.pages();
        for r in gone {
            self.host.unpin_pages(self.host_pages(r));
        }
        self.host.uncharge(&self.payer, count);
    }

    fn host_pages(&self, r: Range<u64>) -> Range<u64> {
        let first = self.base / PAGE_SIZE;
        first + r.start..first + r.end
    }

    fn check_present(&self, r: Range<u64>) -> Result<()> {
        let fault = crate::error::Error::new(libc::EFAULT, "the memory is not mapped");
        match &self.backing {
            Backing::User => self
                .host
                .mem()
                .check_mapped(
                    self.base + r.start * PAGE_SIZE,
                    (r.end - r.start) * PAGE_SIZE,
                )
                .map_err(|_| fault),
            Backing::File(map) => {
                let size = map.file_size().map_err(|_| fault)?;
                let offset_end = (map.addr() - self.base) + r.end * PAGE_SIZE;
                // Pages wholly or partly past the end of the file cannot be used.
                if size.div_ceil(PAGE_SIZE) * PAGE_SIZE >= offset_end {
                    Ok(())
                } else {
                    Err(fault)
                }
            }
        }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        let pinned = self.pinned.get_mut();
        if pinned.is_empty() {
            return;
        }
        let gone: Edges = pinned.runs().map(|(r, _)| r).collect();
        *pinned = SpanCounts::new();
        self.release(gone);
    }
}
