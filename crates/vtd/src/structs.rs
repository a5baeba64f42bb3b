//! The in-memory structures a VT-d unit walks to find a request's translation: root entries,
//! context entries, PASID directory entries and PASID-table entries (rev 5.10 layouts, accepting
//! the bits rev 3.x drivers still write).
//!
//! ```text
//!   RTADDR ──> root table (256 × 16 B, one per bus)
//!                │ scalable: LCTP for devfn 0–127, UCTP for devfn 128–255
//!                v
//!              context table (128 × 32 B scalable, 256 × 16 B legacy)
//!                │ PASIDDIRPTR, PDTS                    │ legacy: SSPTPTR, AW, DID
//!                v
//!              PASID directory (2^(PDTS+7) × 8 B), indexed by PASID[19:6]
//!                │ SMPTBLPTR
//!                v
//!              PASID table (64 × 64 B), indexed by PASID[5:0]: PGTT, FSPTPTR, SSPTPTR, DID
//! ```
//!
//! Every structure is a struct of `bitfield` words with `from_words`/`to_words`, `read` and
//! `write` over an [`AddressSpace`], and a `check` against the unit's capabilities
//! ([`StructCaps`]) that returns the exact fault reason the hardware records.

mod context;
mod pasid;
mod root;

pub use context::{
    ContextEntry, ContextQw0, ContextQw1, LegacyContextEntry, LegacyContextQw0, LegacyContextQw1,
    TranslationType,
};
pub use pasid::{
    Fspm, PASID_DIR_ENTRY_SIZE, PASID_ENTRY_SIZE, PasidDirEntry, PasidEntry, PasidQw0, PasidQw1,
    PasidQw2, PasidQw4, PasidQw5, Pgtt, pasid_dir_entries, pasid_dir_index, pasid_entry_address,
    pasid_table_index,
};
pub use root::{
    LegacyRootEntry, LegacyRootQw0, ROOT_ENTRY_SIZE, ScalableRootEntry, ScalableRootQw0,
    ScalableRootQw1, root_entry_address,
};

use softiommu_mem::AddressSpace;
use softiommu_mem::MemError;

/// The capabilities that decide which bits of a structure are fields and which field values are
/// valid: a unit's CAP and ECAP fields (and its host address width), as the register model
/// reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructCaps {
    /// Host address width in bits (from the platform, not CAP): pointer bits at and above it are
    /// reserved.
    pub haw: u8,
    /// Maximum guest address width in bits (CAP.MGAW + 1).
    pub mgaw: u8,
    /// CAP.SAGAW: bit 1 = 39-bit (3-level), bit 2 = 48-bit (4-level), bit 3 = 57-bit (5-level)
    /// second-stage tables.
    pub sagaw: u8,
    /// CAP.FS5LP: 5-level first-stage paging.
    pub fs5lp: bool,
    /// ECAP.FSTS: first-stage translation (PGTT 001b).
    pub fsts: bool,
    /// ECAP.SSTS: second-stage translation (PGTT 010b).
    pub ssts: bool,
    /// ECAP.NEST: nested translation (PGTT 011b).
    pub nest: bool,
    /// ECAP.PT: pass-through (PGTT 100b; legacy TT 10b).
    pub pt: bool,
    /// ECAP.SRS: supervisor requests (PASID-entry SRE).
    pub srs: bool,
    /// ECAP.SC: snoop control (PASID-entry PGSNP).
    pub sc: bool,
    /// ECAP.MTS: memory types (PASID-entry CD, EMTE, PAT).
    pub mts: bool,
    /// ECAP.EAFS: extended-accessed flag (PASID-entry EAFE).
    pub eafs: bool,
    /// ECAP.SMPWCS: scalable-mode page-walk coherency (PASID-entry PWSNP).
    pub smpwcs: bool,
    /// ECAP.SSADS: second-stage accessed/dirty bits (PASID-entry SSADE).
    pub ssads: bool,
    /// ECAP.RPS: context-entry RID_PASID.
    pub rps: bool,
    /// ECAP.RPRIVS: context-entry RID_PRIV.
    pub rprivs: bool,
    /// ECAP.PSS: PASID width minus one (19 for 20-bit PASIDs).
    pub pss: u8,
    /// ECAP.HPTS: host permission tables (context HPTE, PASID-entry HPT fields).
    pub hpts: bool,
    /// ECAP.PTRS: translated requests with PASID (context EPTR).
    pub ptrs: bool,
    /// ECAP.DT: device-TLBs (context DTE; legacy TT 01b).
    pub dt: bool,
    /// ECAP.PRS: page requests (context PRE).
    pub prs: bool,
    /// ECAP.PASID: requests-with-PASID (context PASIDE).
    pub pasid: bool,
}

impl StructCaps {
    /// Whether `aw` (the 3-bit AW encoding: 1 = 39-bit, 2 = 48-bit, 3 = 57-bit) is a
    /// second-stage width SAGAW reports.
    pub const fn aw_supported(&self, aw: u8) -> bool {
        matches!(aw, 1..=3) && self.sagaw & (1 << aw) != 0
    }

    /// Whether `pasid` fits the PASID width PSS reports.
    pub const fn pasid_in_range(&self, pasid: u32) -> bool {
        let width = self.pss as u32 + 1;
        width >= 32 || pasid >> width == 0
    }
}

/// Bytes in a 4 KiB page: the unit of every table pointer.
const PAGE_SIZE: u64 = 4096;

/// The byte address of the 4 KiB page a pointer field (address bits 63:12) names.
const fn page_address(pfn: u64) -> u64 {
    pfn.wrapping_mul(PAGE_SIZE)
}

/// Whether a pointer field (address bits 63:12) has any address bit at or above `width`.
const fn beyond_width(pfn: u64, width: u8) -> bool {
    if width >= 64 {
        return false;
    }
    let width = if width < 12 { 12 } else { width };
    pfn >> (width - 12) != 0
}

/// Loads `N` consecutive 64-bit words at `pa`.
fn read_words<M: AddressSpace + ?Sized, const N: usize>(
    mem: &M,
    pa: u64,
) -> Result<[u64; N], MemError> {
    let mut words = [0u64; N];
    for (i, w) in words.iter_mut().enumerate() {
        *w = mem.load_u64(pa.wrapping_add(8 * i as u64))?;
    }
    Ok(words)
}

/// Stores `words` at `pa`, last word first, so that word 0 (which holds the present bit of
/// every structure) becomes visible last.
fn write_words<M: AddressSpace + ?Sized, const N: usize>(
    mem: &M,
    pa: u64,
    words: [u64; N],
) -> Result<(), MemError> {
    for (i, &w) in words.iter().enumerate().rev() {
        mem.store_u64(pa.wrapping_add(8 * i as u64), w)?;
    }
    Ok(())
}

/// Adds `read` and `write` over an address space to a structure with `from_words`/`to_words`.
macro_rules! memory_access {
    ($ty:ty, $n:literal) => {
        impl $ty {
            /// Reads the structure at `pa`, one aligned 64-bit load per word; fails with the
            /// memory error when a word cannot be fetched.
            pub fn read<M: softiommu_mem::AddressSpace + ?Sized>(
                mem: &M,
                pa: u64,
            ) -> Result<Self, softiommu_mem::MemError> {
                Ok(Self::from_words(super::read_words::<M, $n>(mem, pa)?))
            }

            /// Writes the structure at `pa`, last word first, so that word 0 (with the present
            /// bit) becomes visible last.
            pub fn write<M: softiommu_mem::AddressSpace + ?Sized>(
                &self,
                mem: &M,
                pa: u64,
            ) -> Result<(), softiommu_mem::MemError> {
                super::write_words::<M, $n>(mem, pa, self.to_words())
            }
        }
    };
}
use memory_access;

/// Capabilities and memory shared by the structure tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::{PasidEntry, StructCaps};
    use softiommu_mem::RamArena;

    /// Takes one capability away.
    pub(crate) type TakeCap = fn(&mut StructCaps);

    /// A unit that supports everything: HAW and MGAW 48, 3-, 4- and 5-level second stage,
    /// 20-bit PASIDs.
    pub(crate) fn full_caps() -> StructCaps {
        StructCaps {
            haw: 48,
            mgaw: 48,
            sagaw: 0b0_1110,
            fs5lp: true,
            fsts: true,
            ssts: true,
            nest: true,
            pt: true,
            srs: true,
            sc: true,
            mts: true,
            eafs: true,
            smpwcs: true,
            ssads: true,
            rps: true,
            rprivs: true,
            pss: 19,
            hpts: true,
            ptrs: true,
            dt: true,
            prs: true,
            pasid: true,
        }
    }

    /// A unit that supports no optional feature: 4-level second stage only, HAW and MGAW 39.
    pub(crate) fn bare_caps() -> StructCaps {
        StructCaps {
            haw: 39,
            mgaw: 39,
            sagaw: 0b0_0100,
            fs5lp: false,
            fsts: false,
            ssts: false,
            nest: false,
            pt: false,
            srs: false,
            sc: false,
            mts: false,
            eafs: false,
            smpwcs: false,
            ssads: false,
            rps: false,
            rprivs: false,
            pss: 19,
            hpts: false,
            ptrs: false,
            dt: false,
            prs: false,
            pasid: false,
        }
    }

    /// 16 MiB of RAM at physical address 0.
    pub(crate) fn arena() -> RamArena {
        RamArena::new(0, 1 << 24).unwrap()
    }

    /// A second-stage-only PASID entry: 4-level tables (AW 2) at `root`, domain `did`.
    pub(crate) fn ss_entry(root: u64, did: u16) -> PasidEntry {
        PasidEntry::second_stage(root, 2, did)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_helpers() {
        assert!(!beyond_width(0xF_FFFF_FFFF, 48));
        assert!(beyond_width(0x10_0000_0000, 48));
        assert!(!beyond_width(u64::MAX >> 12, 64));
        assert!(beyond_width(1, 12));
        let caps = StructCaps {
            haw: 48,
            mgaw: 48,
            sagaw: 0b0110,
            fs5lp: false,
            fsts: true,
            ssts: true,
            nest: false,
            pt: true,
            srs: false,
            sc: false,
            mts: false,
            eafs: false,
            smpwcs: false,
            ssads: false,
            rps: false,
            rprivs: false,
            pss: 19,
            hpts: false,
            ptrs: false,
            dt: false,
            prs: false,
            pasid: true,
        };
        assert!(caps.aw_supported(1) && caps.aw_supported(2));
        assert!(!caps.aw_supported(3) && !caps.aw_supported(0) && !caps.aw_supported(4));
        assert!(caps.pasid_in_range(0xF_FFFF));
        assert!(!caps.pasid_in_range(0x10_0000));
        let narrow = StructCaps { pss: 7, ..caps };
        assert!(narrow.pasid_in_range(0xFF) && !narrow.pasid_in_range(0x100));
    }
}
