//! Shadowing a guest's VT-d translations for an assigned device.
//!
//! The guest's vIOMMU runs in caching mode, so its driver invalidates the IOTLB after it
//! maps as well as after it unmaps. The VMM traps the unit's registers: each write of the
//! invalidation queue's tail is passed to the unit, and then each IOTLB invalidation the
//! guest queued is answered by walking the guest's tables (through the unit's translation
//! engine, which records no fault for it) over the invalidated range and mirroring what it
//! finds into a host IOAS: guest IOVA to the host memory behind the guest-physical page.
//! The assigned device, attached to a HWPT over that IOAS, then reaches what the guest
//! mapped for it. Its page requests for a page the IOAS lacks come to
//! [`serve`](super::PageServer::serve): the page is walked through the unit as the
//! device's request, mirrored when the guest maps it, and otherwise the unit records the
//! fault in the guest's fault recording registers as it records any of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{Mem, Rid};
use softiommu_iommufd::Context;
use softiommu_pgtable::Access;
use softiommu_vtd::driver::VtdMmio;
use softiommu_vtd::model::{Request, VtdUnit};
use softiommu_vtd::regs::{CAP_REG, Cap, IQT_REG, VtdParams};

use super::PageServer;
use crate::viommu::VtdViommu;
use crate::viommu::vtd::{IQT_MASK, queued_descriptors};
use crate::{Error, Guest, Result};

const PAGE: u64 = 4096;
/// iotlb_inv_dsc's type.
const IOTLB_INV: u64 = 0x2;

/// What the shadow has done, for the VMM to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowStats {
    /// Guest IOTLB invalidations seen.
    pub guest_invalidations: u64,
    /// Host IOAS map calls made.
    pub host_maps: u64,
    /// Host IOAS unmap calls made.
    pub host_unmaps: u64,
    /// Host calls that failed (the last failure is kept in [`Shadow::last_error`]).
    pub errors: u64,
    /// Page requests of the device for a page the guest maps, mirrored on demand (the
    /// shadow was behind the guest's tables).
    pub on_demand: u64,
    /// Page requests of the device for a page the guest does not map (or not for the
    /// access), reported to the guest's vIOMMU as faults.
    pub reported: u64,
}

#[derive(Debug, Default)]
struct State {
    /// The queue's tail as the guest last wrote it.
    tail: u64,
    /// Mirrored pages: guest IOVA -> (guest-physical page, writable).
    pages: BTreeMap<u64, (u64, bool)>,
    stats: ShadowStats,
    last_error: Option<String>,
}

/// The VMM's trap of a VT-d vIOMMU's registers, keeping a host IOAS in step with the
/// guest's mappings for one assigned device.
pub struct Shadow {
    unit: Arc<VtdUnit<Mem>>,
    guest: Guest,
    ctx: Arc<Context>,
    ioas: u32,
    sid: u16,
    state: Mutex<State>,
}

impl std::fmt::Debug for Shadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shadow")
            .field("ioas", &self.ioas)
            .field("sid", &self.sid)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Shadow {
    /// A VT-d vIOMMU in caching mode over `guest` (its driver's tables in guest-physical
    /// `tables`), whose guest mappings for the function `rid` are mirrored into IOAS
    /// `ioas` of the host context `ctx`.
    pub fn vtd(
        guest: &Guest,
        mut params: VtdParams,
        tables: (u64, u64),
        (ctx, ioas): (Arc<Context>, u32),
        rid: Rid,
    ) -> Result<(VtdViommu, Arc<Shadow>)> {
        params.caching_mode = true;
        let mut made = None;
        let v = VtdViommu::with_mmio(guest, params, tables, |unit| {
            let s = Arc::new(Shadow {
                unit: unit.clone(),
                guest: guest.clone(),
                ctx,
                ioas,
                sid: rid.source_id(),
                state: Mutex::new(State::default()),
            });
            made = Some(s.clone());
            s
        })?;
        let s = made.ok_or_else(|| Error::Viommu("no register path".into()))?;
        Ok((v, s))
    }

    /// The counts so far.
    pub fn stats(&self) -> ShadowStats {
        self.state.lock().stats
    }

    /// The last host call that failed, if any.
    pub fn last_error(&self) -> Option<String> {
        self.state.lock().last_error.clone()
    }

    /// The guest IOVA pages mirrored now, with the guest-physical page each maps.
    pub fn mirrored(&self) -> Vec<(u64, u64)> {
        let st = self.state.lock();
        st.pages.iter().map(|(&i, &(g, _))| (i, g)).collect()
    }

    /// The IOVA ranges the descriptors queued between the old tail and `new` invalidate;
    /// `None` for one that invalidates a whole domain or everything.
    fn queued(&self, old: u64, new: u64) -> Vec<Option<(u64, u64)>> {
        let mamv = u64::from(Cap::from_bits(self.unit.mmio_read(CAP_REG, 8)).mamv());
        queued_descriptors(&self.unit, &*self.guest.space(), old, new)
            .into_iter()
            .filter(|d| d[0] & 0xf == IOTLB_INV)
            .map(|d| iotlb_range(d[0], d[1], mamv))
            .collect()
    }

    /// Mirrors the guest's mappings over `[start, end)` into the host IOAS.
    fn sync(&self, st: &mut State, start: u64, end: u64) {
        let mut iova = start & !(PAGE - 1);
        while iova < end {
            let want = self.walk(iova);
            let have = st.pages.get(&iova).copied();
            if want != have {
                if have.is_some() {
                    st.pages.remove(&iova);
                    let r = self.ctx.ioas_unmap(self.ioas, iova, PAGE);
                    st.stats.host_unmaps += 1;
                    note(st, r.map(|_| ()).map_err(Error::from));
                }
                if let Some((gpa, w)) = want {
                    let r = self.map(iova, gpa, w);
                    st.stats.host_maps += 1;
                    if r.is_ok() {
                        st.pages.insert(iova, (gpa, w));
                    }
                    note(st, r);
                }
            }
            match iova.checked_add(PAGE) {
                Some(next) => iova = next,
                None => break,
            }
        }
    }

    /// The guest's mapping of page `iova` for the device: (guest-physical page, writable).
    fn walk(&self, iova: u64) -> Option<(u64, bool)> {
        let req = |access| Request {
            sid: self.sid,
            pasid: None,
            addr: iova,
            access,
        };
        let engine = self.unit.engine();
        let t = engine.translate(req(Access::READ)).ok()?;
        let w = engine.translate(req(Access::WRITE)).is_ok();
        Some((t.pa & !(PAGE - 1), w))
    }

    fn map(&self, iova: u64, gpa: u64, write: bool) -> Result<()> {
        self.guest.map_page(&self.ctx, self.ioas, iova, gpa, write)
    }
}

fn note(st: &mut State, r: Result<()>) {
    if let Err(e) = r {
        st.stats.errors += 1;
        st.last_error = Some(e.to_string());
    }
}

/// The largest address mask walked page by page: 1 GiB.
const MAX_AM: u64 = 18;

/// The range a page-selective iotlb_inv_dsc covers (G = 3: ADDR and AM, AM at most
/// `mamv` and [`MAX_AM`]); `None` for a global or domain-selective one, or a larger one.
fn iotlb_range(q0: u64, q1: u64, mamv: u64) -> Option<(u64, u64)> {
    let am = q1 & 0x3f;
    if q0 >> 4 & 3 != 3 || am > mamv.min(MAX_AM) {
        return None;
    }
    let len = PAGE << am;
    let start = q1 & !0xfff & !(len - 1);
    Some((start, start.saturating_add(len)))
}

impl PageServer for Shadow {
    /// The device's request walked through the guest's vIOMMU as the device's DMA would be:
    /// a translation mirrors the page; a fault is recorded by the unit (unless the guest's
    /// tables ask it not to be) and refused.
    fn serve(&self, addr: u64, write: bool) -> bool {
        let access = if write { Access::WRITE } else { Access::READ };
        let req = Request {
            sid: self.sid,
            pasid: None,
            addr,
            access,
        };
        let mapped = self.unit.translate(req).is_ok();
        let mut st = self.state.lock();
        if !mapped {
            st.stats.reported += 1;
            return false;
        }
        st.stats.on_demand += 1;
        let page = addr & !(PAGE - 1);
        self.sync(&mut st, page, page.saturating_add(PAGE));
        true
    }
}

impl VtdMmio for Shadow {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.unit.mmio_read(offset, size)
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        if offset != IQT_REG {
            return self.unit.mmio_write(offset, size, value);
        }
        let mut st = self.state.lock();
        let new = value & IQT_MASK;
        let ranges = self.queued(st.tail, new);
        st.tail = new;
        self.unit.mmio_write(offset, size, value);
        for r in ranges {
            st.stats.guest_invalidations += 1;
            match r {
                Some((start, end)) => self.sync(&mut st, start, end),
                None => {
                    // A whole domain: what is mirrored is checked again.
                    let held: Vec<u64> = st.pages.keys().copied().collect();
                    for iova in held {
                        self.sync(&mut st, iova, iova.saturating_add(PAGE));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::iotlb_range;

    #[test]
    fn an_invalidation_covers_its_aligned_range_and_nothing_unbounded() {
        let psi = 3 << 4 | 2;
        assert_eq!(
            iotlb_range(psi, 0x7000_3000 | 2, 18),
            Some((0x7000_0000, 0x7000_4000))
        );
        // Domain-selective and global ones name no range.
        assert_eq!(iotlb_range(2 << 4 | 2, 0x7000_0000, 18), None);
        assert_eq!(iotlb_range(1 << 4 | 2, 0, 18), None);
        // An address mask beyond the unit's MAMV (or any size) is not walked.
        assert_eq!(iotlb_range(psi, 19, 18), None);
        assert_eq!(iotlb_range(psi, 0x3f, 63), None);
        assert_eq!(iotlb_range(psi, 19, 63), None);
        assert_eq!(
            iotlb_range(psi, !0x3f | 18, 63),
            Some((!0x3fff_ffff, u64::MAX))
        );
    }
}
