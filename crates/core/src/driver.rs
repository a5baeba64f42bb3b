//! The trait a driver implements to put its IOMMU instance under the core, and what the core
//! hands it.

use std::sync::Arc;

use softiommu_pgtable::Access;

use crate::caps::{DeviceCaps, IommuCaps};
use crate::domain::Domain;
use crate::error::Result;
use crate::ids::{DeviceId, InstanceId, Pasid, Rid};
use crate::iopf::{PageRequest, PageRequestBatch, PageResponse};
use crate::table::{IoPageTable, TableAlloc};

/// A device as its driver sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceInfo {
    /// The core's handle.
    pub id: DeviceId,
    /// Its requester ID.
    pub rid: Rid,
    /// What the device supports.
    pub caps: DeviceCaps,
    /// The instance it sits behind.
    pub instance: InstanceId,
}

/// What a range of IOVA a device may not map is kept for, as the IOMMU driver reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReservedKind {
    /// The hardware's interrupt window: writes there are interrupts, never DMA (VT-d's
    /// 0xfee00000–0xfeefffff).
    Msi,
    /// A window the OS maps its MSI doorbells into (the SMMUv3's software MSI region).
    SoftwareMsi,
}

/// An IOVA range a device's domains must leave unmapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReservedRegion {
    /// First IOVA.
    pub start: u64,
    /// Last IOVA (inclusive).
    pub last: u64,
    /// What it is kept for.
    pub kind: ReservedKind,
}

/// The identification registers of the hardware behind an instance, as they are read: what
/// a user-space model of the same IOMMU (a VMM's vIOMMU) needs to describe it to a guest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HwInfo {
    /// An instance with no hardware registers (the reference driver).
    None,
    /// Intel VT-d: the Capability and Extended Capability registers.
    Vtd {
        /// `CAP_REG` (offset 0x08).
        cap: u64,
        /// `ECAP_REG` (offset 0x10).
        ecap: u64,
    },
    /// Arm SMMUv3: the identification registers of the Non-secure programming interface.
    Smmuv3 {
        /// `SMMU_IDR0` to `SMMU_IDR5`.
        idr: [u32; 6],
        /// `SMMU_IIDR`.
        iidr: u32,
        /// `SMMU_AIDR`.
        aidr: u32,
    },
}

/// What a new paging domain is for, so that the driver can choose its format.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PagingRequest {
    /// The domain will be the parent (second stage) of nested domains.
    pub nest_parent: bool,
    /// The domain must track dirty pages.
    pub dirty_tracking: bool,
    /// The domain must be usable at PASID granularity (a first-stage format where the
    /// hardware only allows those per PASID).
    pub pasid: bool,
}

/// What a RID or a (RID, PASID) is to translate through, as the core asks a driver to
/// program it.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// No DMA at all.
    Blocked,
    /// Output address = input address.
    Identity,
    /// A domain: paging, SVA or nested.
    Domain(&'a Arc<Domain>),
}

impl Target<'_> {
    /// The domain, if the target is one.
    pub fn domain(&self) -> Option<&Arc<Domain>> {
        match self {
            Target::Domain(d) => Some(d),
            _ => None,
        }
    }
}

/// Why a DMA request was not translated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DmaFaultKind {
    /// The RID or PASID is blocked, or nothing is attached there.
    Blocked,
    /// The address is not mapped.
    NotPresent,
    /// The mapping does not allow the access.
    Permission,
    /// The address is outside what the domain translates, or the output is beyond the width.
    AddressSize,
    /// The translation structures are malformed.
    BadConfig,
}

/// A DMA request the IOMMU refused (the hardware records it as its fault or event).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DmaFault {
    /// What went wrong.
    pub kind: DmaFaultKind,
    /// A page request could resolve it (a not-present or write-protect fault in an address
    /// space with a fault handler, for a device with page requests).
    pub recoverable: bool,
}

impl DmaFault {
    /// The fault of a request from a blocked RID or PASID, or one where nothing is attached.
    pub const BLOCKED: DmaFault = DmaFault {
        kind: DmaFaultKind::Blocked,
        recoverable: false,
    };

    /// A fault of `kind`, recoverable when a page request could resolve it: `kind` is
    /// not-present or permission, and `can_request` (asked only then) says the address space
    /// has a fault handler and the device sends page requests.
    pub fn new(kind: DmaFaultKind, can_request: impl FnOnce() -> bool) -> DmaFault {
        let recoverable =
            matches!(kind, DmaFaultKind::NotPresent | DmaFaultKind::Permission) && can_request();
        DmaFault { kind, recoverable }
    }
}

/// A DMA request the IOMMU translated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DmaTranslation {
    /// Output address of the byte asked for.
    pub pa: u64,
    /// Bytes from `pa` that the same translation covers (to the end of its page).
    pub len: u64,
}

/// A driver of one IOMMU instance: the OS side of the hardware. Everything the core asks of
/// the hardware goes through these calls; a driver for a hardware model implements them by
/// writing the model's registers and in-memory structures.
///
/// Calls that change state must either complete or change nothing, so that a failed replace
/// leaves the old target working.
pub trait IommuDriver: Send + Sync {
    /// The instance's capabilities.
    fn caps(&self) -> IommuCaps;

    /// The hardware's identification registers. The default, for an instance without
    /// hardware registers, is [`HwInfo::None`].
    fn hw_info(&self) -> HwInfo {
        HwInfo::None
    }

    /// The IOVA ranges `dev`'s domains must leave unmapped. The default is none.
    fn reserved_regions(&self, dev: &DeviceInfo) -> Vec<ReservedRegion> {
        let _ = dev;
        Vec::new()
    }

    /// Takes a device behind this instance under the driver.
    fn probe(&self, dev: &DeviceInfo) -> Result<()>;

    /// Lets a device go; nothing is attached to it any more.
    fn release(&self, dev: &DeviceInfo);

    /// A new, empty table for a paging domain, in the format this instance chooses for `req`,
    /// with pages from `alloc`.
    fn alloc_table(&self, req: &PagingRequest, alloc: &TableAlloc) -> Result<Box<dyn IoPageTable>>;

    /// Whether this instance can use `domain` (made by an instance of the same family); the
    /// reason when it cannot.
    fn check_domain(&self, domain: &Domain) -> std::result::Result<(), &'static str>;

    /// Points the device's requests without PASID at `new` (replacing `old`).
    fn set_rid(&self, dev: &DeviceInfo, new: Target<'_>, old: Target<'_>) -> Result<()>;

    /// Points the device's requests with `pasid` at `new` (replacing `old`); `Blocked` removes
    /// the PASID's translation.
    fn set_pasid(
        &self,
        dev: &DeviceInfo,
        pasid: Pasid,
        new: Target<'_>,
        old: Target<'_>,
    ) -> Result<()>;

    /// Invalidates what this instance caches of `domain` for `[start, end)` (all of it with
    /// `None`), and waits until that is done. `tables_freed` says page-table pages were freed,
    /// so cached non-leaf entries must go too.
    fn flush(&self, domain: &Domain, range: Option<(u64, u64)>, tables_freed: bool);

    /// Makes `[start, end)`, newly mapped in `domain` where nothing was mapped, visible to
    /// this instance. Only hardware that caches not-present entries (VT-d caching mode) owes
    /// anything here; the default sends nothing, as for hardware that caches translations only.
    fn flush_map(&self, domain: &Domain, range: (u64, u64)) {
        let _ = (domain, range);
    }

    /// Sends the answer to a page-request group to the device.
    fn page_response(&self, dev: &DeviceInfo, resp: &PageResponse);

    /// The device side: `dev` sends page request `req` to this instance, and the instance's
    /// page-request event is handled before the device waits for its answer. Returns what
    /// the driver collected in that handling, for the core to route: a driver over hardware
    /// with a page request queue hands `req` to the hardware and drains the queue (which may
    /// hold earlier requests too, or lack `req` if the hardware dropped it). The default, an
    /// instance with no queue, returns `req` itself.
    fn send_page_request(&self, dev: &DeviceInfo, req: &PageRequest) -> PageRequestBatch {
        let _ = dev;
        PageRequestBatch {
            requests: vec![*req],
            overflowed: false,
        }
    }

    /// The driver's handling of its page-request event (the interrupt of a hardware page
    /// request queue): the requests the hardware queued since the last handling, oldest
    /// first. The default, an instance with no queue, has none.
    fn take_page_requests(&self) -> PageRequestBatch {
        PageRequestBatch::default()
    }

    /// The device side: how this instance answers one DMA request of `dev` (for a hardware
    /// model, the model's translation entry point).
    fn dma(
        &self,
        dev: &DeviceInfo,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_present_and_permission_faults_are_recoverable() {
        for kind in [DmaFaultKind::NotPresent, DmaFaultKind::Permission] {
            assert!(DmaFault::new(kind, || true).recoverable);
            assert!(!DmaFault::new(kind, || false).recoverable);
        }
        for kind in [
            DmaFaultKind::Blocked,
            DmaFaultKind::AddressSize,
            DmaFaultKind::BadConfig,
        ] {
            let f = DmaFault::new(kind, || {
                panic!("asked for a fault no page request resolves")
            });
            assert_eq!(
                f,
                DmaFault {
                    kind,
                    recoverable: false
                }
            );
        }
    }
}
