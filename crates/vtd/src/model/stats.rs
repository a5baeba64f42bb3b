//! What a unit has done: IOTLB hits and table walks, invalidation descriptors by type, and
//! the other invalidations it made.
//!
//! Hits and walks are counted only while counting is on ([`VtdUnit::set_stats`]), and then
//! per thread: each thread adds to its own cache-line-sized shard and [`UnitStats`] sums the
//! shards. With counting off (the default) an IOTLB hit reads one flag that nothing writes
//! while DMA runs, and writes no memory at all; with it on, threads that translate at once
//! still write different cache lines (up to [`SHARDS`] threads; beyond that two threads may
//! share a shard, which stays correct but may contend). A switch and shards both: a single
//! shared counter would be written by every hit of every device thread and bounce its cache
//! line between them, and even a per-thread atomic add costs a hit more than the rest of it
//! when nobody reads the figures.
//!
//! Invalidations are counted always: the unit carries them out with its registers locked,
//! off the translation path.
//!
//! [`VtdUnit::set_stats`]: super::VtdUnit::set_stats

use softiommu_mem::AddressSpace;
pub(crate) use softiommu_pgtable::counters::HitCounters;
pub use softiommu_pgtable::counters::SHARDS;

use super::TranslationUnit;

impl<M: AddressSpace> TranslationUnit<M> {
    /// Turns the counting of IOTLB hits and walks on or off (off when the engine is made).
    pub fn set_stats(&self, on: bool) {
        self.counters.set_enabled(on);
        self.set_mode(super::translate::COUNTING, on);
    }

    /// The IOTLB hits and the walks counted so far: (hits, walks).
    pub fn hit_counts(&self) -> (u64, u64) {
        self.counters.totals()
    }
}

/// Invalidation-queue descriptors the unit carried out, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DescriptorCounts {
    /// cc_inv_dsc (1h).
    pub context_cache: u64,
    /// iotlb_inv_dsc (2h), of every granularity.
    pub iotlb: u64,
    /// dev_tlb_inv_dsc (3h).
    pub dev_tlb: u64,
    /// iec_inv_dsc (4h).
    pub iec: u64,
    /// inv_wait_dsc (5h).
    pub wait: u64,
    /// p_iotlb_inv_dsc (6h), of every granularity.
    pub pasid_iotlb: u64,
    /// pc_inv_dsc (7h).
    pub pasid_cache: u64,
    /// p_dev_tlb_inv_dsc (8h).
    pub pasid_dev_tlb: u64,
    /// page_grp_resp_dsc (9h).
    pub page_response: u64,
    /// hpt_inv_dsc (Ah).
    pub hpt: u64,
}

/// The unit's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitStats {
    /// Requests answered from the IOTLB (while counting was on).
    pub iotlb_hits: u64,
    /// Requests that missed the IOTLB and walked the tables, faulting or not (while counting
    /// was on).
    pub walks: u64,
    /// Invalidation-queue descriptors carried out, by type.
    pub descriptors: DescriptorCounts,
    /// Invalidation batches that flushed the IOTLB: waits (inv_wait_dsc) that completed
    /// after at least one iotlb_inv_dsc or p_iotlb_inv_dsc since the wait before.
    pub iotlb_batches: u64,
    /// Register-based invalidations (IOTLB_REG and CCMD_REG commands).
    pub register_invalidations: u64,
    /// Implicit IOTLB invalidations made before a page request was queued (spec Table 27).
    pub implicit_invalidations: u64,
}

/// The invalidation counts the unit keeps with its registers.
#[derive(Debug, Default)]
pub(crate) struct InvalidationTally {
    /// Descriptors by type.
    pub descriptors: DescriptorCounts,
    /// An IOTLB-type descriptor was carried out since the last wait.
    pub iotlb_pending: bool,
    /// [`UnitStats::iotlb_batches`].
    pub iotlb_batches: u64,
    /// [`UnitStats::register_invalidations`].
    pub register: u64,
    /// [`UnitStats::implicit_invalidations`].
    pub implicit: u64,
}
