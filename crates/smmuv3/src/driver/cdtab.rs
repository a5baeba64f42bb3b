//! A device's CD table (S6 of `docs/design.md`: it belongs to the device, not to a domain):
//! one CD, a linear table, or a two-level table with 64 KiB leaves allocated as SubstreamIDs
//! are used, sized by the SubstreamID bits the device and the SMMU share — as Linux's
//! `arm_smmu_alloc_cd_tables` lays it out.

use std::collections::HashMap;

use softiommu_core::{CoreError, Mem, Result, TableAlloc};
use softiommu_pgtable::formats::arm_s1::ArmS1;

use crate::cd::{CD_SIZE, Cd, L1CD_SIZE, L1Cd};
use crate::ste::S1Fmt;

/// SubstreamID bits a level-2 CD table resolves (1024 CDs: S1Fmt 64K_L2).
const CD_SPLIT: u8 = 10;
/// Bytes of a level-2 CD table.
const L2_BYTES: u64 = CD_SIZE << CD_SPLIT;

/// One device's CD table.
#[derive(Debug)]
pub(super) struct CdTable {
    /// The CD, the linear table or the level-1 table.
    pub(super) base: u64,
    /// Bytes at `base`.
    pub(super) bytes: u64,
    /// STE.S1CDMax: log2 of the number of CDs.
    pub(super) s1cdmax: u8,
    /// STE.S1Fmt.
    pub(super) fmt: S1Fmt,
    /// Level-2 tables by level-1 index.
    l2: HashMap<u32, u64>,
    /// The CDs as written, by SubstreamID.
    pub(super) cds: HashMap<u32, Cd>,
}

impl CdTable {
    /// A table for `ssid_bits`-bit SubstreamIDs (0: one CD), two-level when the SMMU has
    /// CD2L and the table would be larger than one leaf.
    pub(super) fn new(alloc: &TableAlloc, ssid_bits: u8, cd2l: bool) -> Result<CdTable> {
        let two_level = cd2l && ssid_bits > CD_SPLIT;
        let (bytes, fmt) = if two_level {
            (L1CD_SIZE << (ssid_bits - CD_SPLIT), S1Fmt::TwoLevel64K)
        } else {
            (CD_SIZE << ssid_bits, S1Fmt::Linear)
        };
        let bytes = bytes.max(4096);
        Ok(CdTable {
            base: alloc.alloc(bytes)?,
            bytes,
            s1cdmax: ssid_bits,
            fmt,
            l2: HashMap::new(),
            cds: HashMap::new(),
        })
    }

    /// Where CD `ssid` is, allocating its level-2 table (and publishing its L1CD, which was
    /// invalid and so not cached) when `alloc_leaf`; `None` when its leaf is not there.
    pub(super) fn cd_at(
        &mut self,
        mem: &Mem,
        alloc: &TableAlloc,
        ssid: u32,
        alloc_leaf: bool,
    ) -> Result<Option<u64>> {
        if u64::from(ssid) >> self.s1cdmax != 0 {
            return Err(CoreError::Invalid(
                "SubstreamID beyond the device's CD table",
            ));
        }
        if self.fmt == S1Fmt::Linear {
            return Ok(Some(self.base + u64::from(ssid) * CD_SIZE));
        }
        let l1 = ssid >> CD_SPLIT;
        let l2 = match self.l2.get(&l1) {
            Some(&t) => t,
            None if !alloc_leaf => return Ok(None),
            None => {
                let t = alloc.alloc(L2_BYTES)?;
                let desc = L1Cd::for_table(t);
                if let Err(e) = desc.write(&**mem, self.base + u64::from(l1) * L1CD_SIZE) {
                    let _ = alloc.free(t, L2_BYTES);
                    return Err(e.into());
                }
                self.l2.insert(l1, t);
                t
            }
        };
        Ok(Some(l2 + u64::from(ssid & ((1 << CD_SPLIT) - 1)) * CD_SIZE))
    }

    /// Frees the table's pages (nothing walks them any more).
    pub(super) fn free(&self, alloc: &TableAlloc) {
        for &t in self.l2.values() {
            let _ = alloc.free(t, L2_BYTES);
        }
        let _ = alloc.free(self.base, self.bytes);
    }
}

/// The CD Linux writes for a stage-1 table of format `f` at `root` tagged `asid`
/// (`arm_smmu_make_s1_cd`, `arm_smmu_make_sva_cd`), valid: TTB0 only (EPD1), the format's
/// granule, size, output width and HA/HD, write-back inner-shareable walks, the format's MAIR,
/// faults recorded, terminated transactions aborted; ASET as `aset` says (Linux sets it for
/// every CD it makes: no ASID it hands out is shared with a CPU's broadcast invalidations).
pub fn stage1_cd(f: &ArmS1, root: u64, asid: u16, aset: bool) -> Cd {
    let mut cd = Cd::for_table(f, root, asid);
    cd.dw0 = cd.dw0.with_aset(aset);
    cd
}
