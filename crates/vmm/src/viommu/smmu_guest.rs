//! The guest kernel's side of a device behind an SMMUv3 vIOMMU, shared by the ways its
//! translations reach the host: the device in the guest's IOMMU core, the paging domain
//! its DMA API maps into (at the RID, or at a SubstreamID of the device's CD table), the
//! completion records the guest's engine driver reads, and the events its SMMU driver
//! finds in the vIOMMU's event queue.

use std::sync::Arc;

use softiommu_core::{DeviceCaps, DeviceId, Domain, PagingRequest, Rid};
use softiommu_devices::dsa::CompletionRecord;
use softiommu_iommufd::vfio::VfioDevice;
use softiommu_pgtable::Prot;

use super::SmmuViommu;
use crate::assign::GuestFault;
use crate::{Error, Guest, GuestDriver, Result};

/// SubstreamID bits the guest's device gets when it uses PASIDs: one 4 KiB leaf of CDs.
const SSID_BITS: u8 = 4;

/// One device of the guest behind its SMMUv3 vIOMMU.
pub(crate) struct SmmuGuestDevice {
    pub(crate) guest: Guest,
    pub(crate) viommu: SmmuViommu,
    pub(crate) pasid: Option<u32>,
    domain: Arc<Domain>,
    dev: DeviceId,
    /// The guest's engine driver, holding the device file until [`close`](Self::close).
    driver: Option<GuestDriver>,
    /// Events of the guest's driver already reported.
    seen: usize,
}

impl SmmuGuestDevice {
    /// The guest kernel adds function `rid` behind `viommu` and attaches a paging domain
    /// to it: at the RID, or at SubstreamID `pasid` of its CD table; then the guest's
    /// driver of the engine behind device file `file` brings its WQ up for it.
    pub(crate) fn attach(
        guest: &Guest,
        viommu: SmmuViommu,
        (rid, pasid): (Rid, Option<u32>),
        file: VfioDevice,
    ) -> Result<Self> {
        let caps = DeviceCaps {
            pasid_bits: if pasid.is_some() { SSID_BITS } else { 0 },
            ats: false,
            pri: false,
        };
        let os = viommu.os();
        let dev = os.add_device(rid, caps)?;
        let domain = os.core().new_paging(dev, PagingRequest::default())?;
        match pasid {
            Some(p) => os.core().attach_pasid(dev, p, &domain)?,
            None => os.core().attach(dev, &domain)?,
        }
        let mut driver = GuestDriver::new(file);
        driver.bring_up(pasid)?;
        Ok(SmmuGuestDevice {
            driver: Some(driver),
            guest: guest.clone(),
            viommu,
            pasid,
            domain,
            dev,
            seen: 0,
        })
    }

    /// The device as the guest kernel's IOMMU core knows it.
    pub(crate) fn device(&self) -> DeviceId {
        self.dev
    }

    /// The guest kernel's paging domain of the device.
    pub(crate) fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// The guest's DMA API maps `[iova, iova + len)` to `gpa`.
    pub(crate) fn map(&self, iova: u64, gpa: u64, len: u64, write: bool) -> Result<()> {
        let prot = if write { Prot::RW } else { Prot::READ };
        self.domain.map_sync(iova, gpa, len, prot)?;
        Ok(())
    }

    /// The guest's DMA API unmaps `[iova, iova + len)`, with its invalidations.
    pub(crate) fn unmap(&self, iova: u64, len: u64) -> Result<()> {
        self.domain.unmap_sync(iova, len)?;
        Ok(())
    }

    /// The guest-physical address the guest kernel mapped device address `iova` to.
    fn gpa_of(&self, iova: u64) -> Result<u64> {
        self.domain
            .iova_to_phys(iova)
            .ok_or_else(|| Error::Device(format!("device address {iova:#x} is not mapped")))
    }

    /// The guest's engine driver: a move through WQ 0, its completion record at device
    /// address `cr`, waited for.
    pub(crate) fn memmove(
        &self,
        (src, dst, len): (u64, u64, u32),
        cr: u64,
    ) -> Result<CompletionRecord> {
        let cr_gpa = self.gpa_of(cr)?;
        let driver = self
            .driver
            .as_ref()
            .ok_or_else(|| Error::Device("the device file is closed".into()))?;
        driver.memmove(&self.guest, (src, dst, len), (cr, cr_gpa))
    }

    /// Closes the device file (the guest is going away).
    pub(crate) fn close(&mut self) {
        self.driver = None;
    }

    /// The events the guest's SMMU driver has found in its event queue since the last call.
    pub(crate) fn faults(&mut self) -> Vec<GuestFault> {
        let (events, _) = self.viommu.driver().events();
        let new = events.get(self.seen..).unwrap_or(&[]);
        let out = new
            .iter()
            .map(|e| GuestFault {
                addr: e.addr,
                pasid: e.ssid,
                reason: e.id.name().to_string(),
            })
            .collect();
        self.seen = events.len();
        out
    }
}
