//! A bus without an IOMMU: requests reach physical memory as they are.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use softiommu_mem::AddressSpace;

use super::{
    AtsFailure, AtsRequest, AtsTranslation, DmaFault, DmaRequest, Endpoint, MsiMessage,
    PageRequest, Rights, Translation, Upstream,
};

/// A bus with no IOMMU on it: every DMA request reaches the physical address it names, ATS
/// translation requests and page requests have no one to answer them (Unsupported Request),
/// and an MSI is a 32-bit write to memory.
pub struct Direct<M: AddressSpace> {
    mem: M,
    endpoints: RwLock<HashMap<u16, Arc<dyn Endpoint>>>,
}

impl<M: AddressSpace> std::fmt::Debug for Direct<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("endpoints", &self.endpoints.read().len())
            .finish_non_exhaustive()
    }
}

impl<M: AddressSpace> Direct<M> {
    /// A bus whose requests reach `mem`.
    pub fn new(mem: M) -> Self {
        Direct {
            mem,
            endpoints: RwLock::new(HashMap::new()),
        }
    }

    /// Whether an endpoint is attached for `rid`.
    pub fn is_attached(&self, rid: u16) -> bool {
        self.endpoints.read().contains_key(&rid)
    }
}

impl<M: AddressSpace> Upstream for Direct<M> {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        if req.pasid.is_some_and(|p| !p.is_valid()) {
            return Err(DmaFault::UnsupportedRequest);
        }
        let to_end = u64::MAX - req.addr;
        Ok(Translation {
            addr: req.addr,
            len: req.len.max(1).min(to_end.saturating_add(1)),
            rights: Rights {
                read: true,
                write: true,
                execute: true,
                privileged: true,
            },
        })
    }

    fn memory(&self) -> &dyn AddressSpace {
        &self.mem
    }

    fn ats_translate(&self, _req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        Err(AtsFailure::UnsupportedRequest)
    }

    fn page_request(&self, _req: &PageRequest) {}

    fn msi(&self, _rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.mem
            .write(msg.addr, &msg.data.to_le_bytes())
            .map_err(|_| DmaFault::CompleterAbort)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.endpoints.write().insert(rid, endpoint);
    }

    fn detach(&self, rid: u16) {
        self.endpoints.write().remove(&rid);
    }
}
