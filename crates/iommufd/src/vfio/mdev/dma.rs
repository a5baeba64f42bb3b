//! The DMA of an mdev's virtual engine: tagged with the mdev's PASID on the parent's port,
//! or, for a parent without PASID, copied in software through the access of the mdev's
//! binding, with the pages it touched kept pinned until an unmap asks for them back.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_devices::dsa::{BusPort, DmaFault, DmaPort, DmaReq};
use softiommu_mem::AddressSpace;

use crate::access::{Access, AccessOps};
use crate::host::{Host, PAGE_SIZE};

/// The parent's port, every request tagged with the mdev's PASID.
pub(crate) struct PasidPort {
    pub(crate) inner: Arc<BusPort>,
    pub(crate) pasid: u32,
}

impl PasidPort {
    fn tag(&self, req: DmaReq) -> DmaReq {
        DmaReq {
            pasid: Some(self.pasid),
            privileged: false,
            ..req
        }
    }
}

impl DmaPort for PasidPort {
    fn read(&self, req: DmaReq, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.inner.read(self.tag(req), addr, buf)
    }

    fn write(&self, req: DmaReq, addr: u64, buf: &[u8]) -> Result<(), DmaFault> {
        self.inner.write(self.tag(req), addr, buf)
    }
}

/// Pages kept pinned at most: the oldest goes when another is needed.
const PINNED_PAGES: usize = 64;

/// A page pinned through the access: its host address, and whether it was pinned for write.
#[derive(Clone, Copy)]
struct Pinned {
    addr: u64,
    writable: bool,
}

#[derive(Default)]
struct SoftState {
    access: Option<Arc<Access>>,
    pages: BTreeMap<u64, Pinned>,
    order: VecDeque<u64>,
}

/// The software path of an mdev without PASID: the access its binding attached, and the
/// pages pinned through it.
pub(crate) struct SoftLink {
    host: Arc<Host>,
    state: Mutex<SoftState>,
}

impl SoftLink {
    pub(crate) fn new(host: Arc<Host>) -> Arc<SoftLink> {
        Arc::new(SoftLink {
            host,
            state: Mutex::new(SoftState::default()),
        })
    }

    /// Sets the access DMA goes through (`None`: every access faults), dropping the pins
    /// made through the old one.
    pub(crate) fn set_access(&self, access: Option<Arc<Access>>) {
        let mut st = self.state.lock();
        evict(&mut st, 0, u64::MAX);
        st.access = access;
    }

    /// How many pages are pinned for the mdev.
    pub(crate) fn pinned_pages(&self) -> usize {
        self.state.lock().pages.len()
    }

    /// The host address of the page holding `iova`, pinned (for write if `write`).
    fn page(&self, iova: u64, write: bool) -> Option<u64> {
        let page = iova & !(PAGE_SIZE - 1);
        let mut st = self.state.lock();
        if let Some(p) = st.pages.get(&page).copied() {
            if p.writable || !write {
                return Some(p.addr);
            }
            evict(&mut st, page, page + PAGE_SIZE - 1);
        }
        let access = st.access.clone()?;
        if st.pages.len() >= PINNED_PAGES
            && let Some(old) = st.order.front().copied()
        {
            evict(&mut st, old, old);
        }
        let addr = *access.pin_pages(page, PAGE_SIZE, write).ok()?.first()?;
        st.pages.insert(
            page,
            Pinned {
                addr,
                writable: write,
            },
        );
        st.order.push_back(page);
        Some(addr)
    }
}

/// Unpins the pages in `[start, last]`.
fn evict(st: &mut SoftState, start: u64, last: u64) {
    let gone: Vec<u64> = st.pages.range(start..=last).map(|(&p, _)| p).collect();
    for page in gone {
        st.pages.remove(&page);
        st.order.retain(|&p| p != page);
        if let Some(a) = &st.access {
            // Each page was pinned alone, so the unpin matches.
            let _ = a.unpin_pages(page, PAGE_SIZE);
        }
    }
}

impl AccessOps for SoftLink {
    fn unmap(&self, _access: &Access, iova: u64, length: u64) {
        let mut st = self.state.lock();
        evict(&mut st, iova, iova.saturating_add(length.saturating_sub(1)));
    }
}

/// The virtual engine's port of a software mdev.
pub(crate) struct SoftPort(pub(crate) Arc<SoftLink>);

impl SoftPort {
    fn fault(addr: u64) -> DmaFault {
        DmaFault {
            addr,
            recoverable: false,
        }
    }

    /// The host address of `len` bytes at IOVA `addr` (one page at most: the engine never
    /// crosses a page in one access), for a write if `write`; a fault if unmapped or in
    /// private memory.
    fn host_addr(&self, addr: u64, len: usize, write: bool) -> Result<u64, DmaFault> {
        let host = self.0.page(addr, write).ok_or(Self::fault(addr))?;
        let at = host + (addr & (PAGE_SIZE - 1));
        if self.0.host.mem().is_private(at, len as u64) {
            return Err(Self::fault(addr));
        }
        Ok(at)
    }
}

impl DmaPort for SoftPort {
    fn read(&self, _req: DmaReq, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let at = self.host_addr(addr, buf.len(), false)?;
        self.0
            .host
            .mem()
            .read(at, buf)
            .map_err(|_| Self::fault(addr))
    }

    fn write(&self, _req: DmaReq, addr: u64, buf: &[u8]) -> Result<(), DmaFault> {
        let at = self.host_addr(addr, buf.len(), true)?;
        self.0
            .host
            .mem()
            .write(at, buf)
            .map_err(|_| Self::fault(addr))
    }
}
