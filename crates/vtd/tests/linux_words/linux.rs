//! The words Linux's intel-iommu writes, built here the way it builds them: from the field
//! positions of its queued-invalidation macros (`QI_*` in iommu.h), its scalable-mode
//! context-entry setters (iommu.h, pasid.c) and its PASID-entry setters (pasid.h, pasid.c),
//! as plain shifts and masks. Nothing here uses this crate's bitfield types: these are the
//! references the model and the driver are held to.

/// The page-address mask of Linux's `VTD_PAGE_MASK`.
pub const PAGE_MASK: u64 = !0xfff;
/// The domain ID Linux gives pass-through and SVA entries (`FLPT_DEFAULT_DID`).
pub const FLPT_DEFAULT_DID: u16 = 1;
/// The size order Linux uses for "every address" (`MAX_AGAW_PFN_WIDTH`).
pub const ALL_ADDRESSES: u32 = 52;
/// Status data of Linux's invalidation waits (`QI_DONE`).
pub const QI_DONE: u32 = 2;

/// Queued-invalidation descriptors, as four words each.
pub mod qi {
    use super::PAGE_MASK;

    /// Descriptor types (`QI_*_TYPE`).
    pub const CC: u64 = 0x1;
    /// See [`CC`].
    pub const IOTLB: u64 = 0x2;
    /// See [`CC`].
    pub const DIOTLB: u64 = 0x3;
    /// See [`CC`].
    pub const IEC: u64 = 0x4;
    /// See [`CC`].
    pub const IWD: u64 = 0x5;
    /// See [`CC`].
    pub const EIOTLB: u64 = 0x6;
    /// See [`CC`].
    pub const PC: u64 = 0x7;
    /// See [`CC`].
    pub const DEIOTLB: u64 = 0x8;
    /// See [`CC`].
    pub const PGRP_RESP: u64 = 0x9;

    /// Context-cache granularities as Linux hands them over (`DMA_CCMD_*_INVL`, bits 62:61
    /// of the register form), before `QI_CC_GRAN` moves them to bits 5:4.
    pub const CCMD_GLOBAL: u64 = 1 << 61;
    /// See [`CCMD_GLOBAL`].
    pub const CCMD_DOMAIN: u64 = 2 << 61;
    /// See [`CCMD_GLOBAL`].
    pub const CCMD_DEVICE: u64 = 3 << 61;
    /// IOTLB granularities (`DMA_TLB_*_FLUSH`, bits 61:60), before `QI_IOTLB_GRAN`.
    pub const TLB_GLOBAL: u64 = 1 << 60;
    /// See [`TLB_GLOBAL`].
    pub const TLB_DSI: u64 = 2 << 60;
    /// See [`TLB_GLOBAL`].
    pub const TLB_PSI: u64 = 3 << 60;
    /// PASID-cache granularities (`QI_PC_*`).
    pub const PC_ALL_PASIDS: u64 = 0;
    /// See [`PC_ALL_PASIDS`].
    pub const PC_PASID_SEL: u64 = 1;
    /// See [`PC_ALL_PASIDS`].
    pub const PC_GLOBAL: u64 = 3;
    /// PASID-based IOTLB granularities (`QI_GRAN_*_PASID`).
    pub const GRAN_NONG_PASID: u64 = 2;
    /// See [`GRAN_NONG_PASID`].
    pub const GRAN_PSI_PASID: u64 = 3;
    /// Linux writes 0 for an ATS queue depth of 32 or more (`QI_DEV_IOTLB_MAX_INVS`).
    pub const MAX_INVS: u16 = 32;

    /// `qi_flush_context`: DID 31:16, SID 47:32, FM 49:48, granularity 5:4.
    pub fn context(did: u16, sid: u16, fm: u8, ccmd_gran: u64) -> [u64; 4] {
        let qw0 = u64::from(did) << 16
            | u64::from(sid) << 32
            | u64::from(fm) << 48
            | ccmd_gran >> (61 - 4)
            | CC;
        [qw0, 0, 0, 0]
    }

    /// `qi_desc_iotlb`: DID 31:16, DR 7, DW 6, granularity 5:4; ADDR 63:12, IH 6 (Linux
    /// passes it in bit 0 of `addr`), AM 5:0.
    pub fn iotlb(
        did: u16,
        addr: u64,
        size_order: u32,
        tlb_gran: u64,
        dr: bool,
        dw: bool,
    ) -> [u64; 4] {
        let ih = addr & 1;
        let qw0 = u64::from(did) << 16
            | u64::from(dr) << 7
            | u64::from(dw) << 6
            | tlb_gran >> (60 - 4)
            | IOTLB;
        let qw1 = (addr & PAGE_MASK) | ih << 6 | u64::from(size_order as u8 & 0x3f);
        [qw0, qw1, 0, 0]
    }

    /// `qi_desc_dev_iotlb`: SID 47:32, QDEP 20:16, PFSID 15:12 and 63:52; for `mask` > 0 the
    /// address bits below the size are set and S (bit 0) marks the size.
    pub fn dev_iotlb(sid: u16, pfsid: u16, qdep: u16, addr: u64, mask: u32) -> [u64; 4] {
        let qw1 = if mask > 0 {
            ((addr | ((1u64 << (12 + mask - 1)) - 1)) & PAGE_MASK) | 1
        } else {
            addr & PAGE_MASK
        };
        let qdep = if qdep >= MAX_INVS { 0 } else { qdep };
        let qw0 =
            u64::from(sid) << 32 | (u64::from(qdep) & 0x1f) << 16 | DIOTLB | pfsid_bits(pfsid);
        [qw0, qw1, 0, 0]
    }

    /// `QI_DEV_IOTLB_PFSID`: PFSID\[3:0\] at 15:12, PFSID\[15:4\] at 63:52.
    fn pfsid_bits(pfsid: u16) -> u64 {
        u64::from(pfsid & 0xf) << 12 | u64::from(pfsid >> 4 & 0xfff) << 52
    }

    /// `qi_desc_piotlb`: `npages` None is Linux's -1 (every non-global entry of the
    /// PASID); otherwise page-selective with AM = log2 of `npages` rounded up to a power of
    /// two, ADDR aligned down to it.
    pub fn piotlb(did: u16, pasid: u32, addr: u64, npages: Option<u64>, ih: bool) -> [u64; 4] {
        let head = u64::from(pasid) << 32 | u64::from(did) << 16 | EIOTLB;
        match npages {
            None => [head | GRAN_NONG_PASID << 4, 0, 0, 0],
            Some(n) => {
                let mask = n.next_power_of_two().trailing_zeros();
                let addr = addr & !((1u64 << (12 + mask)) - 1);
                let qw1 = (addr & PAGE_MASK) | u64::from(ih) << 6 | u64::from(mask) & 0x3f;
                [head | GRAN_PSI_PASID << 4, qw1, 0, 0]
            }
        }
    }

    /// `qi_desc_dev_iotlb_pasid`: PASID 51:32, SID 31:16, QDEP 8:4, PFSID 15:12 and 63:52;
    /// for `size_order` > 0 the address bits below the size are set, the one at the size
    /// cleared, and S (bit 11) set.
    pub fn dev_iotlb_pasid(
        sid: u16,
        pfsid: u16,
        pasid: u32,
        qdep: u16,
        addr: u64,
        size_order: u32,
    ) -> [u64; 4] {
        let qdep = if qdep >= MAX_INVS { 0 } else { qdep };
        let qw0 = u64::from(pasid & 0xfffff) << 32
            | u64::from(sid) << 16
            | (u64::from(qdep) & 0x1f) << 4
            | DEIOTLB
            | pfsid_bits(pfsid);
        let mut qw1 = addr & PAGE_MASK;
        if size_order > 0 {
            let top = 12 + size_order - 1;
            qw1 |= (((1u64 << top) - 1) | (1u64 << top)) & PAGE_MASK;
            qw1 &= !(1u64 << top);
            qw1 |= 1 << 11;
        }
        [qw0, qw1, 0, 0]
    }

    /// `qi_flush_pasid_cache` / `pasid_cache_invalidation_with_pasid`: DID 31:16, PASID
    /// 51:32, granularity 5:4.
    pub fn pasid_cache(did: u16, gran: u64, pasid: u32) -> [u64; 4] {
        [
            u64::from(did) << 16 | gran << 4 | u64::from(pasid) << 32 | PC,
            0,
            0,
            0,
        ]
    }

    /// `qi_global_iec` (None) and `qi_flush_iec` (index-selective: IIDX 47:32, IM 31:27,
    /// G at bit 4).
    pub fn iec(index: Option<(u16, u8)>) -> [u64; 4] {
        let qw0 = match index {
            None => IEC,
            Some((idx, im)) => IEC | 1 << 4 | u64::from(idx) << 32 | u64::from(im & 0x1f) << 27,
        };
        [qw0, 0, 0, 0]
    }

    /// An invalidation wait as `qi_submit_sync` and the page-request drain build it: status
    /// data 63:32, SW 5, FN 6, PD 7; the status address in QW1.
    pub fn wait(
        data: u32,
        status_write: bool,
        fence: bool,
        prq_drain: bool,
        addr: u64,
    ) -> [u64; 4] {
        let qw0 = u64::from(data) << 32
            | u64::from(status_write) << 5
            | u64::from(fence) << 6
            | u64::from(prq_drain) << 7
            | IWD;
        [qw0, addr, 0, 0]
    }

    /// `intel_iommu_page_response`: PASID 51:32, RID 31:16, PP 4, RC 15:12; PRGI 11:3 and
    /// LPIG 2 in QW1. `pdp` is bit 5, which kernels before 6.x set when the request carried
    /// private data.
    pub fn page_response(
        rid: u16,
        pasid: Option<u32>,
        code: u64,
        prgi: u16,
        last: bool,
        pdp: bool,
    ) -> [u64; 4] {
        let qw0 = u64::from(pasid.unwrap_or(0)) << 32
            | u64::from(rid) << 16
            | u64::from(pasid.is_some()) << 4
            | u64::from(pdp) << 5
            | code << 12
            | PGRP_RESP;
        let qw1 = u64::from(prgi) << 3 | u64::from(last) << 2;
        [qw0, qw1, 0, 0]
    }
}

/// Scalable-mode context entries (`context_entry_set_pasid_table` and its setters).
pub mod context {
    /// PDTS for a PASID table of `max_pasid` PASIDs (`context_get_sm_pds`): log2 of its
    /// directory entries, less 7, 0 below.
    pub fn pdts(max_pasid: u32) -> u64 {
        let dir_entries = max_pasid >> 6;
        u64::from(dir_entries.trailing_zeros().saturating_sub(7))
    }

    /// What Linux knows of the device when it writes the entry.
    #[derive(Debug, Clone, Copy)]
    pub struct Device {
        /// The PASID directory.
        pub dir: u64,
        /// PASIDs the table covers (a power of two).
        pub max_pasid: u32,
        /// ATS supported: DTE (bit 2).
        pub ats: bool,
        /// PASID supported: PASIDE (bit 3).
        pub pasid: bool,
        /// PRI supported: PRE (bit 4).
        pub pri: bool,
        /// Kernels that set RID_PRIV (bit 84) with RID_PASID.
        pub rid_priv: bool,
    }

    /// The entry: directory pointer and PDTS (11:9), RID_PASID 0 (83:64), DTE, PASIDE and
    /// PRE as supported, fault reporting on (FPD, bit 1, clear), present (bit 0).
    pub fn sm_entry(d: &Device) -> [u64; 4] {
        let mut lo = (d.dir & super::PAGE_MASK) | (pdts(d.max_pasid) & 7) << 9;
        let mut hi = 0u64; // RID_PASID = IOMMU_NO_PASID = 0.
        if d.rid_priv {
            hi |= 1 << 20;
        }
        if d.ats {
            lo |= 1 << 2;
        }
        if d.pasid {
            lo |= 1 << 3;
        }
        if d.pri {
            lo |= 1 << 4;
        }
        lo &= !(1 << 1);
        lo |= 1;
        [lo, hi, 0, 0]
    }

    /// A PASID directory entry: the table's address and present.
    pub fn dir_entry(table: u64) -> u64 {
        (table & super::PAGE_MASK) | 1
    }
}

/// Scalable-mode PASID-table entries, through Linux's setters on `val[0..8]`.
pub mod pasid {
    use super::PAGE_MASK;

    /// PGTT values (`PASID_ENTRY_PGTT_*`).
    pub const PGTT_FL_ONLY: u64 = 1;
    /// See [`PGTT_FL_ONLY`].
    pub const PGTT_SL_ONLY: u64 = 2;
    /// See [`PGTT_FL_ONLY`].
    pub const PGTT_NESTED: u64 = 3;
    /// See [`PGTT_FL_ONLY`].
    pub const PGTT_PT: u64 = 4;

    /// An entry being set up.
    pub type Entry = [u64; 8];

    fn set(e: &mut Entry, word: usize, mask: u64, bits: u64) {
        e[word] = (e[word] & !mask) | bits;
    }

    /// `pasid_set_domain_id`: bits 79:64.
    pub fn set_domain_id(e: &mut Entry, did: u16) {
        set(e, 1, 0xffff, u64::from(did));
    }
    /// `pasid_set_slptr`: bits 63:12.
    pub fn set_slptr(e: &mut Entry, pa: u64) {
        set(e, 0, PAGE_MASK, pa);
    }
    /// `pasid_set_address_width`: bits 4:2.
    pub fn set_address_width(e: &mut Entry, aw: u64) {
        set(e, 0, 0b111 << 2, aw << 2);
    }
    /// `pasid_set_translation_type`: bits 8:6.
    pub fn set_translation_type(e: &mut Entry, pgtt: u64) {
        set(e, 0, 0b111 << 6, pgtt << 6);
    }
    /// `pasid_set_fault_enable`: bit 1 cleared.
    pub fn set_fault_enable(e: &mut Entry) {
        set(e, 0, 1 << 1, 0);
    }
    /// `pasid_set_ssade`: bit 9.
    pub fn set_ssade(e: &mut Entry) {
        set(e, 0, 1 << 9, 1 << 9);
    }
    /// `pasid_set_sre`: bit 128.
    pub fn set_sre(e: &mut Entry) {
        set(e, 2, 1, 1);
    }
    /// `pasid_set_wpe`: bit 132.
    pub fn set_wpe(e: &mut Entry) {
        set(e, 2, 1 << 4, 1 << 4);
    }
    /// `pasid_set_nxe` of kernels before 6.x: bit 133.
    pub fn set_nxe(e: &mut Entry) {
        set(e, 2, 1 << 5, 1 << 5);
    }
    /// `pasid_set_eafe`: bit 135.
    pub fn set_eafe(e: &mut Entry) {
        set(e, 2, 1 << 7, 1 << 7);
    }
    /// `pasid_set_present`: bit 0.
    pub fn set_present(e: &mut Entry) {
        set(e, 0, 1, 1);
    }
    /// `pasid_set_page_snoop` (PWSNP): bit 87.
    pub fn set_page_snoop(e: &mut Entry, on: bool) {
        set(e, 1, 1 << 23, u64::from(on) << 23);
    }
    /// `pasid_set_pgsnp`: bit 88.
    pub fn set_pgsnp(e: &mut Entry) {
        set(e, 1, 1 << 24, 1 << 24);
    }
    /// `pasid_set_flptr`: bits 191:140.
    pub fn set_flptr(e: &mut Entry, pa: u64) {
        set(e, 2, PAGE_MASK, pa);
    }
    /// `pasid_set_flpm`: bits 131:130.
    pub fn set_flpm(e: &mut Entry, mode: u64) {
        set(e, 2, 0b11 << 2, mode << 2);
    }

    /// `pasid_pte_config_second_level`: tables at `pgd` of `agaw`, domain `did`; PWSNP from
    /// SMPWCS, SSADE for dirty tracking.
    pub fn second_level(pgd: u64, agaw: u64, did: u16, smpwc: bool, dirty: bool) -> Entry {
        let mut e = [0; 8];
        set_domain_id(&mut e, did);
        set_slptr(&mut e, pgd);
        set_address_width(&mut e, agaw);
        set_translation_type(&mut e, PGTT_SL_ONLY);
        set_fault_enable(&mut e);
        set_page_snoop(&mut e, smpwc);
        if dirty {
            set_ssade(&mut e);
        }
        set_present(&mut e);
        e
    }

    /// The flags of `pasid_pte_config_first_level` (`PASID_FLAG_*`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct FlFlags {
        /// FL5LP: 5-level tables.
        pub fl5lp: bool,
        /// PAGE_SNOOP: PGSNP.
        pub page_snoop: bool,
        /// PWSNP: the walk snoops.
        pub pwsnp: bool,
    }

    /// `pasid_pte_config_first_level`: tables at `fsptptr`, domain `did`, AW = the unit's
    /// AGAW.
    pub fn first_level(fsptptr: u64, did: u16, agaw: u64, flags: FlFlags) -> Entry {
        let mut e = [0; 8];
        set_flptr(&mut e, fsptptr);
        if flags.fl5lp {
            set_flpm(&mut e, 1);
        }
        if flags.page_snoop {
            set_pgsnp(&mut e);
        }
        set_domain_id(&mut e, did);
        set_address_width(&mut e, agaw);
        set_page_snoop(&mut e, flags.pwsnp);
        set_translation_type(&mut e, PGTT_FL_ONLY);
        set_present(&mut e);
        e
    }

    /// What SVA binds (`intel_svm_set_dev_pasid`): the process's tables, the default DID,
    /// PWSNP always, 5-level with LA57.
    pub fn sva(pgd: u64, agaw: u64, la57: bool) -> Entry {
        first_level(
            pgd,
            super::FLPT_DEFAULT_DID,
            agaw,
            FlFlags {
                fl5lp: la57,
                page_snoop: false,
                pwsnp: true,
            },
        )
    }

    /// `pasid_pte_config_pass_through`: the default DID, AW = the unit's AGAW, PWSNP from
    /// SMPWCS.
    pub fn pass_through(agaw: u64, smpwc: bool) -> Entry {
        let mut e = [0; 8];
        set_domain_id(&mut e, super::FLPT_DEFAULT_DID);
        set_address_width(&mut e, agaw);
        set_translation_type(&mut e, PGTT_PT);
        set_fault_enable(&mut e);
        set_page_snoop(&mut e, smpwc);
        set_present(&mut e);
        e
    }

    /// The stage-1 half of a nested entry, from user space (`iommu_hwpt_vtd_s1`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct S1 {
        /// The first-stage table (a guest-physical address).
        pub pgtbl: u64,
        /// 57-bit (5-level) rather than 48-bit.
        pub five_level: bool,
        /// IOMMU_VTD_S1_SRE.
        pub sre: bool,
        /// IOMMU_VTD_S1_WPE (with SRE).
        pub wpe: bool,
        /// IOMMU_VTD_S1_EAFE.
        pub eafe: bool,
    }

    /// `pasid_pte_config_nestd`: the stage-1 table over the parent's second stage at `pgd`
    /// of `agaw`, domain `did`.
    pub fn nested(
        s1: S1,
        pgd: u64,
        agaw: u64,
        did: u16,
        smpwc: bool,
        force_snoop: bool,
        dirty: bool,
    ) -> Entry {
        let mut e = [0; 8];
        if s1.five_level {
            set_flpm(&mut e, 1);
        }
        set_flptr(&mut e, s1.pgtbl);
        if s1.sre {
            set_sre(&mut e);
            if s1.wpe {
                set_wpe(&mut e);
            }
        }
        if s1.eafe {
            set_eafe(&mut e);
        }
        if force_snoop {
            set_pgsnp(&mut e);
        }
        set_slptr(&mut e, pgd);
        set_fault_enable(&mut e);
        set_domain_id(&mut e, did);
        set_address_width(&mut e, agaw);
        set_page_snoop(&mut e, smpwc);
        if dirty {
            set_ssade(&mut e);
        }
        set_translation_type(&mut e, PGTT_NESTED);
        set_present(&mut e);
        e
    }
}
