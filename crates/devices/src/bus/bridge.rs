//! A PCI Express to PCI bridge: the functions on its conventional secondary bus reach the
//! bridge's upstream under the bridge's requester ID.
//!
//! A conventional PCI transaction carries no requester ID, so the bridge takes ownership of
//! every request it forwards upstream: the requester ID becomes the bridge's secondary bus
//! number with device and function 0 ([`PciBridge::alias`]), the ID an operating system
//! programs into the IOMMU for every function behind such a bridge. The secondary bus is
//! shared: a request whose address falls in a window registered with the bridge (a BAR of
//! another function on that bus) reaches it directly, and the IOMMU never sees it; there is
//! no ACS on a conventional bus.
//!
//! ATS translation requests, page requests and MSIs go upstream under the alias too. The
//! IOMMU's messages for the alias come back down: an ATC invalidation to every function
//! attached below (they share the alias's translations), a page group response to the
//! function that sent the page request group of that PASID and index (with its own requester
//! ID), and a stalled request's outcome to every function below.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use softiommu_mem::AddressSpace;

use super::map::{MemoryMap, MemoryTarget, UpstreamMemory, WindowError};
use super::route::{direct, upward};
use super::{
    AtcInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest, AtsTranslation, DmaFault,
    DmaRequest, Endpoint, MsiMessage, PageRequest, PageResponse, StallOutcome, Translation,
    Upstream,
};

/// The functions below a bridge, as the IOMMU's messages for the alias reach them.
struct Below {
    alias: u16,
    endpoints: RwLock<HashMap<u16, Arc<dyn Endpoint>>>,
    /// The requester of each outstanding page request group, by PASID and group index.
    groups: Mutex<HashMap<(Option<u32>, u16), u16>>,
}

impl Below {
    fn endpoints(&self) -> Vec<(u16, Arc<dyn Endpoint>)> {
        let eps = self.endpoints.read();
        eps.iter().map(|(&rid, ep)| (rid, ep.clone())).collect()
    }
}

impl Endpoint for Below {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        let mut status = AtcInvalidationStatus::Completed;
        for (rid, ep) in self.endpoints() {
            let mine = AtcInvalidation { rid, ..*inv };
            if ep.invalidate_atc(&mine) == AtcInvalidationStatus::TimedOut {
                status = AtcInvalidationStatus::TimedOut;
            }
        }
        status
    }

    fn page_response(&self, resp: &PageResponse) {
        let Some(rid) = self.groups.lock().remove(&(resp.pasid, resp.prgi)) else {
            return;
        };
        let ep = self.endpoints.read().get(&rid).cloned();
        if let Some(ep) = ep {
            ep.page_response(&PageResponse { rid, ..*resp });
        }
    }

    fn resume(&self, _rid: u16, tag: u16, outcome: StallOutcome) {
        for (rid, ep) in self.endpoints() {
            ep.resume(rid, tag, outcome);
        }
    }
}

/// A PCI Express to PCI bridge whose upstream is `up` and whose secondary bus holds the
/// functions using it as their [`Upstream`].
pub struct PciBridge {
    up: Arc<dyn Upstream>,
    map: MemoryMap<UpstreamMemory>,
    below: Arc<Below>,
}

impl std::fmt::Debug for PciBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PciBridge")
            .field("alias", &self.below.alias)
            .field("map", &self.map)
            .finish_non_exhaustive()
    }
}

impl PciBridge {
    /// A bridge leading to `up` whose secondary bus is `secondary`.
    pub fn new(up: Arc<dyn Upstream>, secondary: u8) -> PciBridge {
        PciBridge {
            map: MemoryMap::new(UpstreamMemory(up.clone())),
            up,
            below: Arc::new(Below {
                alias: u16::from(secondary) << 8,
                endpoints: RwLock::new(HashMap::new()),
                groups: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The requester ID every request from below carries upstream: secondary bus, device 0,
    /// function 0.
    pub fn alias(&self) -> u16 {
        self.below.alias
    }

    /// Routes `range` to `target`, a function on the secondary bus (one of its memory BARs).
    /// Refused when the range is empty or overlaps another window.
    pub fn add_window(
        &self,
        range: Range<u64>,
        target: Arc<dyn MemoryTarget>,
    ) -> Result<(), WindowError> {
        self.map.add_window(range, target)
    }

    /// Removes the window starting at `start`; whether there was one.
    pub fn remove_window(&self, start: u64) -> bool {
        self.map.remove_window(start)
    }
}

impl Upstream for PciBridge {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        match self.map.window(req.addr) {
            Some(w) => Ok(direct(req, w.end)),
            None => self.up.translate(&upward(req, self.alias(), &self.map)),
        }
    }

    fn memory(&self) -> &dyn AddressSpace {
        &self.map
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        self.up.ats_translate(&AtsRequest {
            rid: self.alias(),
            ..*req
        })
    }

    fn page_request(&self, req: &PageRequest) {
        if !req.is_stop_marker() {
            let key = (req.pasid.map(|p| p.pasid), req.prgi);
            self.below.groups.lock().insert(key, req.rid);
        }
        self.up.page_request(&PageRequest {
            rid: self.alias(),
            ..*req
        });
    }

    fn msi(&self, _rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.up.msi(self.alias(), msg)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.below.endpoints.write().insert(rid, endpoint);
        self.up.attach(self.alias(), self.below.clone());
    }

    fn detach(&self, rid: u16) {
        let empty = {
            let mut eps = self.below.endpoints.write();
            eps.remove(&rid);
            eps.is_empty()
        };
        if empty {
            self.up.detach(self.alias());
        }
    }
}
