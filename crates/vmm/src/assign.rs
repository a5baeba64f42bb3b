//! One device assigned to a guest, whichever way the guest's I/O addresses reach the host:
//! the calls the guest kernel and its device driver make, and what the VMM counts of them.
//! Each cell of the assignment matrix (a VF or an mdev, on VT-d or SMMUv3, under a guest
//! with no vIOMMU, a vIOMMU without PASIDs or one with PASIDs) is one implementation of
//! [`Assigned`] per mechanism.

mod direct;
mod vtd_shadow;

use softiommu_devices::dsa::CompletionRecord;

use crate::{Guest, Result};

pub use direct::Direct;
pub use vtd_shadow::VtdShadow;

/// What is assigned: the whole function, or one work queue of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A whole PCI function (a VF): its own requester ID, its own DMA space.
    Vf,
    /// A mediated device: one work queue of a parent function, reached at a PASID of the
    /// parent (or copied in software where the parent has no PASIDs).
    Mdev,
}

/// What the guest sees of an IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// No vIOMMU: device addresses are guest-physical addresses.
    NoViommu,
    /// A vIOMMU whose DMA remapping the guest uses without PASIDs.
    Viommu,
    /// A vIOMMU with PASIDs: the guest gives the device a PASID of its own.
    ViommuPasid,
}

/// How the guest's translations reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// No translation of the guest's: its RAM is mapped into the host IOAS at IOVA = GPA.
    Direct,
    /// The VMM walks the guest's tables on its invalidations and mirrors them into a host
    /// IOAS (guest IOVA to host memory).
    Shadow,
    /// The guest's first-stage table (VT-d) or CD table (SMMUv3) is given to the host as a
    /// nested HWPT over the guest-RAM second stage; the guest's invalidations are
    /// forwarded.
    Nest,
    /// [`Shadow`](Self::Shadow), with the guest's PASIDs allocated by the host through a
    /// paravirtual call.
    ShadowPv,
    /// [`Nest`](Self::Nest), with the guest's PASIDs allocated by the host (VT-d's virtual
    /// command interface).
    NestPv,
}

/// A fault as the guest's own IOMMU driver finds it in its vIOMMU's fault or event queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFault {
    /// The faulting device address.
    pub addr: u64,
    /// The PASID (SubstreamID) of the request, if it had one.
    pub pasid: Option<u32>,
    /// The fault reason or event, as the guest's queue names it.
    pub reason: String,
}

/// Invalidation counts: the guest's, and the host calls made for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Invalidations the guest issued to its vIOMMU (descriptors or commands).
    pub guest_invalidations: u64,
    /// Host calls made for them: IOAS maps and unmaps when shadowing, HWPT or vIOMMU
    /// invalidations when nesting.
    pub host_invalidations: u64,
}

/// A device assigned to a guest, driven as the guest kernel and its driver drive it.
pub trait Assigned: Send {
    /// The mechanism that carries the guest's translations to the host.
    fn mechanism(&self) -> Mechanism;

    /// The guest whose device this is.
    fn guest(&self) -> &Guest;

    /// The PASID the guest's driver tags the device's requests with, if any.
    fn pasid(&self) -> Option<u32>;

    /// The guest kernel maps `[iova, iova + len)` of the device's address space to
    /// guest-physical `gpa` (through its vIOMMU driver, with the invalidations that
    /// takes). Without a vIOMMU the guest's RAM is mapped at boot and `iova` must equal
    /// `gpa`.
    fn map(&mut self, iova: u64, gpa: u64, len: u64, write: bool) -> Result<()>;

    /// The guest kernel unmaps `[iova, iova + len)` and invalidates it.
    fn unmap(&mut self, iova: u64, len: u64) -> Result<()>;

    /// The guest's device driver submits a move of `len` bytes from device address `src`
    /// to `dst`, its completion record at device address `cr`, waits for it to complete and
    /// returns the record.
    fn memmove(&mut self, src: u64, dst: u64, len: u32, cr: u64) -> Result<CompletionRecord>;

    /// The faults the guest's IOMMU driver has found in its own queue since the last call.
    fn faults(&mut self) -> Vec<GuestFault>;

    /// The invalidation counts so far.
    fn counts(&self) -> Counts;

    /// Why faults of the device's DMA cannot reach the guest's own IOMMU queue under this
    /// mechanism, if they cannot (the guest then sees them only in its completion records);
    /// `None` when they reach it.
    fn undelivered_faults(&self) -> Option<&str> {
        None
    }
}
