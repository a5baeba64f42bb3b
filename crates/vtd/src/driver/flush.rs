//! The invalidations that follow a change of a domain's page table: page-selective where the
//! range is small enough, PASID- or domain-selective otherwise, then the device-TLBs.

use softiommu_core::{Domain, DomainKind};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::formats::any::AnyFormat;

use crate::desc::{
    IotlbGranularity, IotlbInv, IotlbInvQw0, IotlbInvQw1, PIotlbGranularity, PIotlbInv,
    PIotlbInvQw0,
};

use super::hw::Hw;
use super::{State, VtdDriver};

/// Page-selective invalidations beyond this many chunks become domain-selective.
const MAX_PSI_CHUNKS: usize = 16;

/// `[start, end)` as naturally aligned power-of-two runs of 4 KiB pages, each at most
/// 2^`max_am` pages: (address, AM) pairs.
#[cfg(test)]
pub(super) fn psi_chunks(start: u64, end: u64, max_am: u8) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    psi_chunks_each(start, end, max_am, |c| {
        out.push(c);
        true
    });
    out
}

/// Hands the chunks of `[start, end)` (as `psi_chunks` lists them) to `f` in order, while it returns `true`.
fn psi_chunks_each(start: u64, end: u64, max_am: u8, mut f: impl FnMut((u64, u8)) -> bool) {
    let mut s = start & !0xfff;
    let e = end.saturating_add(0xfff) & !0xfff;
    while s < e {
        let mut am = 0u8;
        while am < max_am
            && am < 51
            && s & ((0x2000u64 << am) - 1) == 0
            && s.saturating_add(0x2000u64 << am) <= e
        {
            am += 1;
        }
        if !f((s, am)) {
            return;
        }
        s = s.saturating_add(0x1000u64 << am);
        if s == u64::MAX {
            break;
        }
    }
}

/// The page-selective chunks of a range when there are at most [`MAX_PSI_CHUNKS`] of them, held
/// without allocating.
struct Chunks {
    list: [(u64, u8); MAX_PSI_CHUNKS],
    len: usize,
}

impl Chunks {
    const EMPTY: Chunks = Chunks {
        list: [(0, 0); MAX_PSI_CHUNKS],
        len: 0,
    };

    /// Fills `self` (empty) with the chunks of `[start, end)`; `false` when there are more
    /// than it holds.
    fn fill(&mut self, start: u64, end: u64, max_am: u8) -> bool {
        let mut over = false;
        psi_chunks_each(start, end, max_am, |chunk| {
            if self.len == MAX_PSI_CHUNKS {
                over = true;
                return false;
            }
            self.list[self.len] = chunk;
            self.len += 1;
            true
        });
        !over
    }

    fn iter(&self) -> impl Iterator<Item = &(u64, u8)> {
        self.list[..self.len].iter()
    }
}

/// A p_iotlb_inv_dsc for `pasid` of `did`: page-selective for `page` = (address, AM),
/// PASID-selective for `None`.
pub(super) fn p_iotlb(did: u16, pasid: u32, page: Option<(u64, u8)>, ih: bool) -> [u64; 4] {
    let qw0 = PIotlbInvQw0::new().with_did(did).with_pasid(pasid);
    match page {
        Some((addr, am)) => PIotlbInv {
            qw0: qw0.with_g(PIotlbGranularity::Page),
            qw1: IotlbInvQw1::new()
                .with_am(am)
                .with_ih(ih)
                .with_addr(addr >> 12),
        },
        None => PIotlbInv {
            qw0: qw0.with_g(PIotlbGranularity::Pasid),
            qw1: IotlbInvQw1::new(),
        },
    }
    .to_words()
}

/// An iotlb_inv_dsc for `did`: page-selective for `page` = (address, AM), domain-selective
/// for `None`; global with [`iotlb_global`]. DR and DW are set when the unit reports CAP.DRD
/// and CAP.DWD, as Linux sets them.
pub(super) fn iotlb(hw: &Hw, did: u16, page: Option<(u64, u8)>, ih: bool) -> [u64; 4] {
    let qw0 = iotlb_qw0(hw).with_did(did);
    match page {
        Some((addr, am)) => IotlbInv {
            qw0: qw0.with_g(IotlbGranularity::Page),
            qw1: IotlbInvQw1::new()
                .with_am(am)
                .with_ih(ih)
                .with_addr(addr >> 12),
        },
        None => IotlbInv {
            qw0: qw0.with_g(IotlbGranularity::Domain),
            qw1: IotlbInvQw1::new(),
        },
    }
    .to_words()
}

/// A global iotlb_inv_dsc, with DR and DW as in [`iotlb`].
pub(super) fn iotlb_global(hw: &Hw) -> [u64; 4] {
    IotlbInv {
        qw0: iotlb_qw0(hw).with_g(IotlbGranularity::Global),
        qw1: IotlbInvQw1::new(),
    }
    .to_words()
}

/// QW0 of every iotlb_inv_dsc: the drain bits the unit reports.
fn iotlb_qw0(hw: &Hw) -> IotlbInvQw0 {
    IotlbInvQw0::new()
        .with_dr(hw.cap.drd())
        .with_dw(hw.cap.dwd())
}

/// The one naturally aligned run of 4 KiB pages that covers `[start, end)` (`start < end`),
/// as (address, AM): the smallest 2^AM-page block holding both the first and the last page.
/// Linux covers a newly mapped range with one such page-selective invalidation.
pub(super) fn psi_cover(start: u64, end: u64) -> (u64, u8) {
    let first = start >> 12;
    let last = (end.max(start + 1) - 1) >> 12;
    let pages = last - first + 1;
    let mut am = pages.next_power_of_two().trailing_zeros();
    while am < 52 && first >> am != last >> am {
        am += 1;
    }
    let am = am.min(52);
    ((first >> am << am) << 12, am as u8)
}

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// Appends to `descs` the descriptors that invalidate what the unit and the devices
    /// cache of `domain` for `range` (all of it with `None`); none when the domain has no ID
    /// here.
    pub(super) fn flush_descs(
        &self,
        st: &State,
        domain: &Domain,
        range: Option<(u64, u64)>,
        tables_freed: bool,
        descs: &mut Vec<[u64; 4]>,
    ) {
        let Some(u) = st.dids.get(&domain.id()) else {
            return;
        };
        let did = u.did;
        let ih = !tables_freed;
        let first_stage = first_stage(domain);
        let nested = matches!(domain.kind(), DomainKind::Nested(_));
        let mut list = Chunks::EMPTY;
        let chunks = match range {
            Some((s, e)) if !nested && s < e && (first_stage || self.hw.cap.psi()) => {
                let max_am = if first_stage { 51 } else { self.hw.cap.mamv() };
                list.fill(s, e, max_am).then_some(&list)
            }
            _ => None,
        };
        match (chunks, first_stage) {
            (Some(c), true) => {
                for &(_, pasid) in &u.users {
                    descs.extend(c.iter().map(|&page| p_iotlb(did, pasid, Some(page), ih)));
                }
            }
            (None, true) => {
                descs.extend(
                    u.users
                        .iter()
                        .map(|&(_, pasid)| p_iotlb(did, pasid, None, ih)),
                );
            }
            (Some(c), false) => {
                descs.extend(c.iter().map(|&page| iotlb(&self.hw, did, Some(page), ih)))
            }
            (None, false) => descs.push(iotlb(&self.hw, did, None, ih)),
        }
        for &(dev, pasid) in &u.users {
            if let Some(d) = st.devices.get(&dev)
                && d.ats
            {
                descs.push(Self::dev_tlb_all(d, pasid));
            }
        }
    }

    /// The descriptors owed for `[start, end)` newly mapped in `domain`, as Linux sends
    /// them: nothing unless the unit is in caching mode (CAP.CM), where it may cache
    /// not-present entries; then, for a domain walked at the second stage, one
    /// iotlb_inv_dsc covering the range (page-selective, or domain-selective without
    /// CAP.PSI or when the covering AM is above MAMV). A first-stage domain gets none, as
    /// in Linux, and neither do device-TLBs: a device caches no not-present entry.
    pub(super) fn flush_map_descs(
        &self,
        st: &State,
        domain: &Domain,
        (start, end): (u64, u64),
    ) -> Vec<[u64; 4]> {
        if !self.hw.cap.cm() || start >= end || first_stage(domain) {
            return Vec::new();
        }
        let Some(u) = st.dids.get(&domain.id()) else {
            return Vec::new();
        };
        let (addr, am) = psi_cover(start, end);
        let page = (self.hw.cap.psi() && am <= self.hw.cap.mamv()).then_some((addr, am));
        vec![iotlb(&self.hw, u.did, page, false)]
    }
}

/// Whether the unit walks `domain` at the first stage (a paging domain in the x86-64
/// format, or an SVA domain).
fn first_stage(domain: &Domain) -> bool {
    match domain.kind() {
        DomainKind::Paging(_) => domain
            .with_table(|t| matches!(t.format(), Some(AnyFormat::X86(_))))
            .unwrap_or(false),
        DomainKind::Sva(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{psi_chunks, psi_cover};

    #[test]
    fn psi_chunks_are_aligned_powers_of_two() {
        assert_eq!(psi_chunks(0x1000, 0x2000, 9), vec![(0x1000, 0)]);
        assert_eq!(psi_chunks(0, 0x4000, 9), vec![(0, 2)]);
        assert_eq!(
            psi_chunks(0x1000, 0x5000, 9),
            vec![(0x1000, 0), (0x2000, 1), (0x4000, 0)]
        );
        assert_eq!(
            psi_chunks(0, 0x10000, 2),
            vec![(0, 2), (0x4000, 2), (0x8000, 2), (0xc000, 2)]
        );
    }

    #[test]
    fn psi_cover_is_the_smallest_aligned_block_holding_the_range() {
        assert_eq!(psi_cover(0x1000, 0x2000), (0x1000, 0));
        assert_eq!(psi_cover(0, 0x4000), (0, 2));
        // Pages 1-4 straddle the 4-page boundary: the 8-page block at 0 covers them.
        assert_eq!(psi_cover(0x1000, 0x5000), (0, 3));
        // Pages 7 and 8 differ up to bit 3: a 16-page block.
        assert_eq!(psi_cover(0x7000, 0x9000), (0, 4));
        assert_eq!(psi_cover(0x20_0000, 0x40_0000), (0x20_0000, 9));
        assert_eq!(psi_cover(0, u64::MAX), (0, 52));
    }
}
