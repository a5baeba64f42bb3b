//! What Linux's arm-smmu-v3 driver writes, built the way it builds it: its field positions
//! (`arm-smmu-v3.h`: `STRTAB_STE_*`, `CTXDESC_CD_*`, `CMDQ_*`) put together with a
//! `FIELD_PREP` of their own, following `arm_smmu_make_*_ste`, `arm_smmu_make_s1_cd`,
//! `arm_smmu_make_sva_cd`, `arm_smmu_make_nested_domain_ste`, `arm_smmu_cmdq_build_cmd`,
//! `__arm_smmu_tlb_inv_range`, `arm_smmu_atc_inv_to_cmd` and io-pgtable-arm's TCR, VTCR and MAIR.
//! Nothing here goes through this crate's bitfield types: a test that compares the two compares
//! two independent readings of the specification.

#![allow(dead_code)]

/// Bits `h` down to `l` (GENMASK_ULL).
pub const fn genmask(h: u32, l: u32) -> u64 {
    (!0u64 >> (63 - h)) & (!0u64 << l)
}

/// `v` placed in the field `mask` (FIELD_PREP).
pub const fn prep(mask: u64, v: u64) -> u64 {
    (v << mask.trailing_zeros()) & mask
}

/// The field `mask` of `w` (FIELD_GET).
pub const fn get(mask: u64, w: u64) -> u64 {
    (w & mask) >> mask.trailing_zeros()
}

const fn bit(n: u32) -> u64 {
    1 << n
}

// Stream table.
pub const STRTAB_SPLIT: u64 = 8;
pub const STRTAB_L1_DESC_SPAN: u64 = genmask(4, 0);
pub const STRTAB_L1_DESC_L2PTR_MASK: u64 = genmask(51, 6);
pub const STRTAB_STE_0_V: u64 = bit(0);
pub const STRTAB_STE_0_CFG: u64 = genmask(3, 1);
pub const STRTAB_STE_0_CFG_ABORT: u64 = 0;
pub const STRTAB_STE_0_CFG_BYPASS: u64 = 4;
pub const STRTAB_STE_0_CFG_S1_TRANS: u64 = 5;
pub const STRTAB_STE_0_CFG_S2_TRANS: u64 = 6;
pub const STRTAB_STE_0_CFG_NESTED: u64 = 7;
pub const STRTAB_STE_0_S1FMT: u64 = genmask(5, 4);
pub const STRTAB_STE_0_S1FMT_LINEAR: u64 = 0;
pub const STRTAB_STE_0_S1FMT_64K_L2: u64 = 2;
pub const STRTAB_STE_0_S1CTXPTR_MASK: u64 = genmask(51, 6);
pub const STRTAB_STE_0_S1CDMAX: u64 = genmask(63, 59);
pub const STRTAB_STE_1_S1DSS: u64 = genmask(1, 0);
pub const STRTAB_STE_1_S1DSS_TERMINATE: u64 = 0;
pub const STRTAB_STE_1_S1DSS_BYPASS: u64 = 1;
pub const STRTAB_STE_1_S1DSS_SSID0: u64 = 2;
pub const STRTAB_STE_1_S1C_CACHE_WBRA: u64 = 1;
pub const STRTAB_STE_1_S1CIR: u64 = genmask(3, 2);
pub const STRTAB_STE_1_S1COR: u64 = genmask(5, 4);
pub const STRTAB_STE_1_S1CSH: u64 = genmask(7, 6);
pub const STRTAB_STE_1_MEV: u64 = bit(19);
pub const STRTAB_STE_1_S2FWB: u64 = bit(25);
pub const STRTAB_STE_1_S1STALLD: u64 = bit(27);
pub const STRTAB_STE_1_EATS: u64 = genmask(29, 28);
pub const STRTAB_STE_1_EATS_ABT: u64 = 0;
pub const STRTAB_STE_1_EATS_TRANS: u64 = 1;
pub const STRTAB_STE_1_STRW: u64 = genmask(31, 30);
pub const STRTAB_STE_1_STRW_NSEL1: u64 = 0;
pub const STRTAB_STE_1_STRW_EL2: u64 = 2;
pub const STRTAB_STE_1_SHCFG: u64 = genmask(45, 44);
pub const STRTAB_STE_1_SHCFG_INCOMING: u64 = 1;
pub const STRTAB_STE_2_S2VMID: u64 = genmask(15, 0);
pub const STRTAB_STE_2_VTCR: u64 = genmask(50, 32);
pub const STRTAB_STE_2_VTCR_S2T0SZ: u64 = genmask(5, 0);
pub const STRTAB_STE_2_VTCR_S2SL0: u64 = genmask(7, 6);
pub const STRTAB_STE_2_VTCR_S2IR0: u64 = genmask(9, 8);
pub const STRTAB_STE_2_VTCR_S2OR0: u64 = genmask(11, 10);
pub const STRTAB_STE_2_VTCR_S2SH0: u64 = genmask(13, 12);
pub const STRTAB_STE_2_VTCR_S2TG: u64 = genmask(15, 14);
pub const STRTAB_STE_2_VTCR_S2PS: u64 = genmask(18, 16);
pub const STRTAB_STE_2_S2AA64: u64 = bit(51);
pub const STRTAB_STE_2_S2ENDI: u64 = bit(52);
pub const STRTAB_STE_2_S2PTW: u64 = bit(54);
pub const STRTAB_STE_2_S2S: u64 = bit(57);
pub const STRTAB_STE_2_S2R: u64 = bit(58);
pub const STRTAB_STE_3_S2TTB_MASK: u64 = genmask(51, 4);
/// The vSTE bits a user may set (STRTAB_STE_0/1_NESTING_ALLOWED).
pub const STRTAB_STE_0_NESTING_ALLOWED: u64 = STRTAB_STE_0_V
    | STRTAB_STE_0_CFG
    | STRTAB_STE_0_S1FMT
    | STRTAB_STE_0_S1CTXPTR_MASK
    | STRTAB_STE_0_S1CDMAX;
pub const STRTAB_STE_1_NESTING_ALLOWED: u64 = STRTAB_STE_1_S1DSS
    | STRTAB_STE_1_S1CIR
    | STRTAB_STE_1_S1COR
    | STRTAB_STE_1_S1CSH
    | STRTAB_STE_1_S1STALLD
    | STRTAB_STE_1_EATS;

// Context descriptors.
pub const CTXDESC_L2_ENTRIES: u64 = 1024;
pub const CTXDESC_L1_DESC_V: u64 = bit(0);
pub const CTXDESC_L1_DESC_L2PTR_MASK: u64 = genmask(51, 12);
pub const CTXDESC_CD_0_TCR_T0SZ: u64 = genmask(5, 0);
pub const CTXDESC_CD_0_TCR_TG0: u64 = genmask(7, 6);
pub const CTXDESC_CD_0_TCR_IRGN0: u64 = genmask(9, 8);
pub const CTXDESC_CD_0_TCR_ORGN0: u64 = genmask(11, 10);
pub const CTXDESC_CD_0_TCR_SH0: u64 = genmask(13, 12);
pub const CTXDESC_CD_0_TCR_EPD0: u64 = bit(14);
pub const CTXDESC_CD_0_ENDI: u64 = bit(15);
pub const CTXDESC_CD_0_TCR_EPD1: u64 = bit(30);
pub const CTXDESC_CD_0_V: u64 = bit(31);
pub const CTXDESC_CD_0_TCR_IPS: u64 = genmask(34, 32);
pub const CTXDESC_CD_0_TCR_TBI0: u64 = bit(38);
pub const CTXDESC_CD_0_AA64: u64 = bit(41);
pub const CTXDESC_CD_0_TCR_HD: u64 = bit(42);
pub const CTXDESC_CD_0_TCR_HA: u64 = bit(43);
pub const CTXDESC_CD_0_S: u64 = bit(44);
pub const CTXDESC_CD_0_R: u64 = bit(45);
pub const CTXDESC_CD_0_A: u64 = bit(46);
pub const CTXDESC_CD_0_ASET: u64 = bit(47);
pub const CTXDESC_CD_0_ASID: u64 = genmask(63, 48);
pub const CTXDESC_CD_1_TTB0_MASK: u64 = genmask(51, 4);

// io-pgtable-arm.
pub const ARM_LPAE_TCR_TG0_4K: u64 = 0;
pub const ARM_LPAE_TCR_TG0_64K: u64 = 1;
pub const ARM_LPAE_TCR_TG0_16K: u64 = 2;
pub const ARM_LPAE_TCR_RGN_NC: u64 = 0;
pub const ARM_LPAE_TCR_RGN_WBWA: u64 = 1;
pub const ARM_LPAE_TCR_SH_OS: u64 = 2;
pub const ARM_LPAE_TCR_SH_IS: u64 = 3;
/// io-pgtable-arm's MAIR: Normal-NC (0x44) at AttrIndx 0, write-back (0xff) at 1,
/// Device-nGnRE (0x04) at 2, inner-NC outer-write-back (0xf4) at 3.
pub const ARM_LPAE_MAIR: u64 = 0xf4 << 24 | 0x04 << 16 | 0xff << 8 | 0x44;
/// MAIR_EL1 of an arm64 kernel: Device-nGnRnE, Device-nGnRE, Normal-NC, Normal, Normal-tagged.
pub const ARM64_MAIR_EL1: u64 = 0xf0 << 32 | 0xff << 24 | 0x44 << 16 | 0x04 << 8;

// Commands.
pub const CMDQ_0_OP: u64 = genmask(7, 0);
pub const CMDQ_0_SSV: u64 = bit(11);
pub const CMDQ_PREFETCH_0_SID: u64 = genmask(63, 32);
pub const CMDQ_CFGI_0_SSID: u64 = genmask(31, 12);
pub const CMDQ_CFGI_0_SID: u64 = genmask(63, 32);
pub const CMDQ_CFGI_1_LEAF: u64 = bit(0);
pub const CMDQ_CFGI_1_RANGE: u64 = genmask(4, 0);
pub const CMDQ_TLBI_0_NUM: u64 = genmask(16, 12);
pub const CMDQ_TLBI_RANGE_NUM_MAX: u64 = 31;
pub const CMDQ_TLBI_0_SCALE: u64 = genmask(24, 20);
pub const CMDQ_TLBI_0_VMID: u64 = genmask(47, 32);
pub const CMDQ_TLBI_0_ASID: u64 = genmask(63, 48);
pub const CMDQ_TLBI_1_LEAF: u64 = bit(0);
pub const CMDQ_TLBI_1_TTL: u64 = genmask(9, 8);
pub const CMDQ_TLBI_1_TG: u64 = genmask(11, 10);
pub const CMDQ_TLBI_1_VA_MASK: u64 = genmask(63, 12);
pub const CMDQ_TLBI_1_IPA_MASK: u64 = genmask(51, 12);
pub const CMDQ_ATC_0_SSID: u64 = genmask(31, 12);
pub const CMDQ_ATC_0_SID: u64 = genmask(63, 32);
pub const CMDQ_ATC_0_GLOBAL: u64 = bit(9);
pub const CMDQ_ATC_1_SIZE: u64 = genmask(5, 0);
pub const CMDQ_ATC_1_ADDR_MASK: u64 = genmask(63, 12);
pub const CMDQ_PRI_0_SSID: u64 = genmask(31, 12);
pub const CMDQ_PRI_0_SID: u64 = genmask(63, 32);
pub const CMDQ_PRI_1_GRPID: u64 = genmask(8, 0);
pub const CMDQ_PRI_1_RESP: u64 = genmask(13, 12);
pub const CMDQ_RESUME_0_RESP_TERM: u64 = 0;
pub const CMDQ_RESUME_0_RESP_RETRY: u64 = 1;
pub const CMDQ_RESUME_0_RESP_ABORT: u64 = 2;
pub const CMDQ_RESUME_0_RESP: u64 = genmask(13, 12);
pub const CMDQ_RESUME_0_SID: u64 = genmask(63, 32);
pub const CMDQ_RESUME_1_STAG: u64 = genmask(15, 0);
pub const CMDQ_SYNC_0_CS: u64 = genmask(13, 12);
pub const CMDQ_SYNC_0_CS_NONE: u64 = 0;
pub const CMDQ_SYNC_0_CS_IRQ: u64 = 1;
pub const CMDQ_SYNC_0_CS_SEV: u64 = 2;
pub const CMDQ_SYNC_0_MSH: u64 = genmask(23, 22);
pub const CMDQ_SYNC_0_MSIATTR: u64 = genmask(27, 24);
pub const CMDQ_SYNC_1_MSIADDR_MASK: u64 = genmask(51, 2);
pub const ARM_SMMU_SH_ISH: u64 = 3;
pub const ARM_SMMU_MEMATTR_OIWB: u64 = 0xf;
pub const ATC_INV_SIZE_ALL: u64 = 52;
pub const PRI_RESP_DENY: u64 = 0;
pub const PRI_RESP_FAIL: u64 = 1;
pub const PRI_RESP_SUCC: u64 = 2;

pub const CMDQ_OP_PREFETCH_CFG: u64 = 0x1;
pub const CMDQ_OP_CFGI_STE: u64 = 0x3;
pub const CMDQ_OP_CFGI_ALL: u64 = 0x4;
pub const CMDQ_OP_CFGI_CD: u64 = 0x5;
pub const CMDQ_OP_CFGI_CD_ALL: u64 = 0x6;
pub const CMDQ_OP_TLBI_NH_ALL: u64 = 0x10;
pub const CMDQ_OP_TLBI_NH_ASID: u64 = 0x11;
pub const CMDQ_OP_TLBI_NH_VA: u64 = 0x12;
pub const CMDQ_OP_TLBI_NH_VAA: u64 = 0x13;
pub const CMDQ_OP_TLBI_EL2_ALL: u64 = 0x20;
pub const CMDQ_OP_TLBI_EL2_ASID: u64 = 0x21;
pub const CMDQ_OP_TLBI_EL2_VA: u64 = 0x22;
pub const CMDQ_OP_TLBI_S12_VMALL: u64 = 0x28;
pub const CMDQ_OP_TLBI_S2_IPA: u64 = 0x2a;
pub const CMDQ_OP_TLBI_NSNH_ALL: u64 = 0x30;
pub const CMDQ_OP_ATC_INV: u64 = 0x40;
pub const CMDQ_OP_PRI_RESP: u64 = 0x41;
pub const CMDQ_OP_RESUME: u64 = 0x44;
pub const CMDQ_OP_CMD_SYNC: u64 = 0x46;

/// An STE or a CD: eight 64-bit words.
pub type Entry = [u64; 8];
/// A command: two 64-bit words.
pub type Cmd = [u64; 2];

/// The SMMU features the builders look at (`smmu->features`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Features {
    /// ARM_SMMU_FEAT_STALLS: IDR0.STALL_MODEL is 00 or 10.
    pub stalls: bool,
    /// ARM_SMMU_FEAT_ATTR_TYPES_OVR (IDR1.ATTR_TYPES_OVR).
    pub attr_types_ovr: bool,
    /// ARM_SMMU_FEAT_E2H: a VHE host with IDR0.Hyp.
    pub e2h: bool,
    /// ARM_SMMU_FEAT_HA / HD (SVA CDs).
    pub ha: bool,
    /// ARM_SMMU_FEAT_HD.
    pub hd: bool,
}

/// `arm_smmu_make_abort_ste`.
pub fn abort_ste() -> Entry {
    let mut t = [0; 8];
    t[0] = STRTAB_STE_0_V | prep(STRTAB_STE_0_CFG, STRTAB_STE_0_CFG_ABORT);
    t
}

/// `arm_smmu_make_bypass_ste`.
pub fn bypass_ste(f: &Features) -> Entry {
    let mut t = [0; 8];
    t[0] = STRTAB_STE_0_V | prep(STRTAB_STE_0_CFG, STRTAB_STE_0_CFG_BYPASS);
    if f.attr_types_ovr {
        t[1] = prep(STRTAB_STE_1_SHCFG, STRTAB_STE_1_SHCFG_INCOMING);
    }
    t
}

/// A master's CD table as `arm_smmu_alloc_cd_tables` records it.
#[derive(Debug, Clone, Copy)]
pub struct CdTable {
    /// `cdtab_dma`.
    pub dma: u64,
    /// `s1fmt`.
    pub s1fmt: u64,
    /// `s1cdmax`.
    pub s1cdmax: u64,
}

/// `arm_smmu_make_cdtable_ste`.
pub fn cdtable_ste(f: &Features, t: &CdTable, stall_enabled: bool, ats: bool, s1dss: u64) -> Entry {
    let mut e = [0; 8];
    e[0] = STRTAB_STE_0_V
        | prep(STRTAB_STE_0_CFG, STRTAB_STE_0_CFG_S1_TRANS)
        | prep(STRTAB_STE_0_S1FMT, t.s1fmt)
        | (t.dma & STRTAB_STE_0_S1CTXPTR_MASK)
        | prep(STRTAB_STE_0_S1CDMAX, t.s1cdmax);
    e[1] = prep(STRTAB_STE_1_S1DSS, s1dss)
        | prep(STRTAB_STE_1_S1CIR, STRTAB_STE_1_S1C_CACHE_WBRA)
        | prep(STRTAB_STE_1_S1COR, STRTAB_STE_1_S1C_CACHE_WBRA)
        | prep(STRTAB_STE_1_S1CSH, ARM_SMMU_SH_ISH)
        | if f.stalls && !stall_enabled {
            STRTAB_STE_1_S1STALLD
        } else {
            0
        }
        | prep(
            STRTAB_STE_1_EATS,
            if ats { STRTAB_STE_1_EATS_TRANS } else { 0 },
        );
    if f.attr_types_ovr && s1dss == STRTAB_STE_1_S1DSS_BYPASS {
        e[1] |= prep(STRTAB_STE_1_SHCFG, STRTAB_STE_1_SHCFG_INCOMING);
    }
    if f.e2h {
        e[1] |= prep(STRTAB_STE_1_STRW, STRTAB_STE_1_STRW_EL2);
    } else {
        e[1] |= prep(STRTAB_STE_1_STRW, STRTAB_STE_1_STRW_NSEL1);
        e[2] = prep(STRTAB_STE_2_S2VMID, 0);
    }
    e
}

/// io-pgtable-arm's `arm_lpae_s2_cfg.vtcr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vtcr {
    pub tsz: u64,
    pub sl: u64,
    pub irgn: u64,
    pub orgn: u64,
    pub sh: u64,
    pub tg: u64,
    pub ps: u64,
}

/// The TCR/VTCR PS or IPS encoding of an output width (`arm_lpae_*_cfg`).
pub fn ps_of(oas: u8) -> u64 {
    match oas {
        32 => 0,
        36 => 1,
        40 => 2,
        42 => 3,
        44 => 4,
        48 => 5,
        _ => 6,
    }
}

/// TG0 of a granule of 2^`shift` bytes.
pub fn tg0_of(shift: u32) -> u64 {
    match shift {
        12 => ARM_LPAE_TCR_TG0_4K,
        14 => ARM_LPAE_TCR_TG0_16K,
        _ => ARM_LPAE_TCR_TG0_64K,
    }
}

/// Walk attributes io-pgtable-arm gives a coherent or non-coherent walk: (irgn, orgn, sh).
pub fn walk_attrs(coherent: bool) -> (u64, u64, u64) {
    if coherent {
        (
            ARM_LPAE_TCR_RGN_WBWA,
            ARM_LPAE_TCR_RGN_WBWA,
            ARM_LPAE_TCR_SH_IS,
        )
    } else {
        (ARM_LPAE_TCR_RGN_NC, ARM_LPAE_TCR_RGN_NC, ARM_LPAE_TCR_SH_OS)
    }
}

/// `arm_64_lpae_alloc_pgtable_s2`'s VTCR for a table of 2^`shift`-byte granules over `ias`
/// input bits, walked from `start_level`, with `oas` output bits.
pub fn s2_vtcr(shift: u32, ias: u8, start_level: u8, oas: u8, coherent: bool) -> Vtcr {
    let (irgn, orgn, sh) = walk_attrs(coherent);
    let mut sl = u64::from(start_level);
    if shift == 12 {
        // The SL0 encoding differs for the 4K granule.
        sl += 1;
    }
    Vtcr {
        tsz: 64 - u64::from(ias),
        sl: !sl & 3,
        irgn,
        orgn,
        sh,
        tg: tg0_of(shift),
        ps: ps_of(oas),
    }
}

/// A stage-2 domain as the STE builders read it.
#[derive(Debug, Clone, Copy)]
pub struct S2Domain {
    pub vmid: u64,
    pub vtcr: Vtcr,
    pub vttbr: u64,
    /// IO_PGTABLE_QUIRK_ARM_S2FWB.
    pub s2fwb: bool,
}

/// `arm_smmu_make_s2_domain_ste`.
pub fn s2_domain_ste(f: &Features, d: &S2Domain, stall_enabled: bool, ats: bool) -> Entry {
    let mut e = [0; 8];
    e[0] = STRTAB_STE_0_V | prep(STRTAB_STE_0_CFG, STRTAB_STE_0_CFG_S2_TRANS);
    e[1] = prep(
        STRTAB_STE_1_EATS,
        if ats { STRTAB_STE_1_EATS_TRANS } else { 0 },
    );
    if d.s2fwb {
        e[1] |= STRTAB_STE_1_S2FWB;
    }
    if f.attr_types_ovr {
        e[1] |= prep(STRTAB_STE_1_SHCFG, STRTAB_STE_1_SHCFG_INCOMING);
    }
    let v = &d.vtcr;
    let vtcr = prep(STRTAB_STE_2_VTCR_S2T0SZ, v.tsz)
        | prep(STRTAB_STE_2_VTCR_S2SL0, v.sl)
        | prep(STRTAB_STE_2_VTCR_S2IR0, v.irgn)
        | prep(STRTAB_STE_2_VTCR_S2OR0, v.orgn)
        | prep(STRTAB_STE_2_VTCR_S2SH0, v.sh)
        | prep(STRTAB_STE_2_VTCR_S2TG, v.tg)
        | prep(STRTAB_STE_2_VTCR_S2PS, v.ps);
    e[2] = prep(STRTAB_STE_2_S2VMID, d.vmid)
        | prep(STRTAB_STE_2_VTCR, vtcr)
        | STRTAB_STE_2_S2AA64
        | STRTAB_STE_2_S2PTW
        | if stall_enabled { STRTAB_STE_2_S2S } else { 0 }
        | STRTAB_STE_2_S2R;
    e[3] = d.vttbr & STRTAB_STE_3_S2TTB_MASK;
    e
}

/// `arm_vsmmu_alloc_domain_nested`'s check of a user's vSTE: the vSTE kept (EATS taken out)
/// and whether it asks for ATS; `None` where Linux answers EIO.
pub fn validate_vste(mut ste: [u64; 2]) -> Option<([u64; 2], bool)> {
    if ste[0] & STRTAB_STE_0_V == 0 {
        return Some(([0, 0], false));
    }
    if ste[0] & !STRTAB_STE_0_NESTING_ALLOWED != 0 || ste[1] & !STRTAB_STE_1_NESTING_ALLOWED != 0 {
        return None;
    }
    let cfg = get(STRTAB_STE_0_CFG, ste[0]);
    if ![
        STRTAB_STE_0_CFG_ABORT,
        STRTAB_STE_0_CFG_BYPASS,
        STRTAB_STE_0_CFG_S1_TRANS,
    ]
    .contains(&cfg)
    {
        return None;
    }
    let eats = get(STRTAB_STE_1_EATS, ste[1]);
    ste[1] &= !STRTAB_STE_1_EATS;
    if eats != STRTAB_STE_1_EATS_ABT && eats != STRTAB_STE_1_EATS_TRANS {
        return None;
    }
    Some((
        ste,
        cfg == STRTAB_STE_0_CFG_S1_TRANS && eats == STRTAB_STE_1_EATS_TRANS,
    ))
}

/// `arm_smmu_make_nested_domain_ste` for a vSTE that passed [`validate_vste`].
pub fn nested_ste(f: &Features, parent: &S2Domain, vste: [u64; 2], ats: bool) -> Entry {
    let cfg = if vste[0] & STRTAB_STE_0_V == 0 {
        STRTAB_STE_0_CFG_ABORT
    } else {
        get(STRTAB_STE_0_CFG, vste[0])
    };
    match cfg {
        STRTAB_STE_0_CFG_S1_TRANS => {
            let mut e = s2_domain_ste(f, parent, false, ats);
            e[0] = STRTAB_STE_0_V | prep(STRTAB_STE_0_CFG, STRTAB_STE_0_CFG_NESTED);
            e[0] |= vste[0] & !STRTAB_STE_0_CFG;
            e[1] |= vste[1];
            e[1] |= STRTAB_STE_1_MEV;
            e
        }
        STRTAB_STE_0_CFG_BYPASS => s2_domain_ste(f, parent, false, ats),
        _ => abort_ste(),
    }
}

/// io-pgtable-arm's `arm_lpae_s1_cfg.tcr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcr {
    pub tsz: u64,
    pub tg: u64,
    pub irgn: u64,
    pub orgn: u64,
    pub sh: u64,
    pub ips: u64,
}

/// `arm_64_lpae_alloc_pgtable_s1`'s TCR for a table of 2^`shift`-byte granules over `ias`
/// input bits with `oas` output bits.
pub fn s1_tcr(shift: u32, ias: u8, oas: u8, coherent: bool) -> Tcr {
    let (irgn, orgn, sh) = walk_attrs(coherent);
    Tcr {
        tsz: 64 - u64::from(ias),
        tg: tg0_of(shift),
        irgn,
        orgn,
        sh,
        ips: ps_of(oas),
    }
}

/// A stage-1 domain as `arm_smmu_make_s1_cd` reads it.
#[derive(Debug, Clone, Copy)]
pub struct S1Domain {
    pub asid: u64,
    pub tcr: Tcr,
    pub ttbr: u64,
    pub mair: u64,
    /// IO_PGTABLE_QUIRK_ARM_HD (a domain made for dirty tracking).
    pub dirty: bool,
}

/// `arm_smmu_make_s1_cd`.
pub fn s1_cd(d: &S1Domain, stall_enabled: bool) -> Entry {
    let t = &d.tcr;
    let mut e = [0; 8];
    e[0] = prep(CTXDESC_CD_0_TCR_T0SZ, t.tsz)
        | prep(CTXDESC_CD_0_TCR_TG0, t.tg)
        | prep(CTXDESC_CD_0_TCR_IRGN0, t.irgn)
        | prep(CTXDESC_CD_0_TCR_ORGN0, t.orgn)
        | prep(CTXDESC_CD_0_TCR_SH0, t.sh)
        | CTXDESC_CD_0_TCR_EPD1
        | CTXDESC_CD_0_V
        | prep(CTXDESC_CD_0_TCR_IPS, t.ips)
        | CTXDESC_CD_0_AA64
        | if stall_enabled { CTXDESC_CD_0_S } else { 0 }
        | CTXDESC_CD_0_R
        | CTXDESC_CD_0_A
        | CTXDESC_CD_0_ASET
        | prep(CTXDESC_CD_0_ASID, d.asid);
    if d.dirty {
        e[0] |= CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD;
    }
    e[1] = d.ttbr & CTXDESC_CD_1_TTB0_MASK;
    e[3] = d.mair;
    e
}

/// A process address space as `arm_smmu_make_sva_cd` reads it (from the CPU).
#[derive(Debug, Clone, Copy)]
pub struct Mm {
    /// `vabits_actual`.
    pub vabits: u8,
    /// log2 of PAGE_SIZE.
    pub page_shift: u32,
    /// ID_AA64MMFR0_EL1.PARange.
    pub parange: u64,
    /// MAIR_EL1.
    pub mair: u64,
    /// `virt_to_phys(mm->pgd)`.
    pub pgd: u64,
}

/// `arm_smmu_make_sva_cd` (the 6.10+ form: ASET set, no ASID shared with the CPU).
pub fn sva_cd(f: &Features, mm: &Mm, asid: u64, stall_enabled: bool) -> Entry {
    let mut e = [0; 8];
    e[0] = CTXDESC_CD_0_TCR_EPD1
        | CTXDESC_CD_0_V
        | prep(CTXDESC_CD_0_TCR_IPS, mm.parange)
        | CTXDESC_CD_0_AA64
        | if stall_enabled { CTXDESC_CD_0_S } else { 0 }
        | CTXDESC_CD_0_R
        | CTXDESC_CD_0_A
        | CTXDESC_CD_0_ASET
        | prep(CTXDESC_CD_0_ASID, asid);
    e[0] |= prep(CTXDESC_CD_0_TCR_T0SZ, 64 - u64::from(mm.vabits))
        | prep(CTXDESC_CD_0_TCR_TG0, tg0_of(mm.page_shift))
        | prep(CTXDESC_CD_0_TCR_IRGN0, ARM_LPAE_TCR_RGN_WBWA)
        | prep(CTXDESC_CD_0_TCR_ORGN0, ARM_LPAE_TCR_RGN_WBWA)
        | prep(CTXDESC_CD_0_TCR_SH0, ARM_LPAE_TCR_SH_IS);
    if f.ha {
        e[0] |= CTXDESC_CD_0_TCR_HA;
    }
    if f.hd {
        e[0] |= CTXDESC_CD_0_TCR_HD;
    }
    e[1] = mm.pgd & CTXDESC_CD_1_TTB0_MASK;
    e[3] = mm.mair;
    e
}

/// `arm_smmu_write_strtab_l1_desc`.
pub fn l1_std(l2: u64) -> u64 {
    prep(STRTAB_L1_DESC_SPAN, STRTAB_SPLIT + 1) | (l2 & STRTAB_L1_DESC_L2PTR_MASK)
}

/// `arm_smmu_write_cd_l1_desc`.
pub fn l1_cd(l2: u64) -> u64 {
    (l2 & CTXDESC_L1_DESC_L2PTR_MASK) | CTXDESC_L1_DESC_V
}

/// `CMD_PREFETCH_CONFIG` (after every STE write, unless ARM_SMMU_OPT_SKIP_PREFETCH).
pub fn prefetch_cfg(sid: u32) -> Cmd {
    [
        CMDQ_OP_PREFETCH_CFG | prep(CMDQ_PREFETCH_0_SID, u64::from(sid)),
        0,
    ]
}

/// `CMD_CFGI_STE`.
pub fn cfgi_ste(sid: u32, leaf: bool) -> Cmd {
    [
        CMDQ_OP_CFGI_STE | prep(CMDQ_CFGI_0_SID, u64::from(sid)),
        prep(CMDQ_CFGI_1_LEAF, u64::from(leaf)),
    ]
}

/// `CMD_CFGI_ALL`: opcode 04h, Range 31.
pub fn cfgi_all() -> Cmd {
    [CMDQ_OP_CFGI_ALL, prep(CMDQ_CFGI_1_RANGE, 31)]
}

/// `CMD_CFGI_STE_RANGE`: opcode 04h with another Range (older kernels' form of
/// `arm_smmu_sync_ste_for_sid` over a bus).
pub fn cfgi_ste_range(sid: u32, range: u64) -> Cmd {
    [
        CMDQ_OP_CFGI_ALL | prep(CMDQ_CFGI_0_SID, u64::from(sid)),
        prep(CMDQ_CFGI_1_RANGE, range),
    ]
}

/// `CMD_CFGI_CD` (`arm_smmu_sync_cd`; not leaf after a new L1CD).
pub fn cfgi_cd(sid: u32, ssid: u32, leaf: bool) -> Cmd {
    [
        CMDQ_OP_CFGI_CD
            | prep(CMDQ_CFGI_0_SSID, u64::from(ssid))
            | prep(CMDQ_CFGI_0_SID, u64::from(sid)),
        prep(CMDQ_CFGI_1_LEAF, u64::from(leaf)),
    ]
}

/// `CMD_CFGI_CD_ALL`.
pub fn cfgi_cd_all(sid: u32) -> Cmd {
    [
        CMDQ_OP_CFGI_CD_ALL | prep(CMDQ_CFGI_0_SID, u64::from(sid)),
        0,
    ]
}

/// `arm_smmu_cmdq_ent.tlbi`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tlbi {
    pub num: u64,
    pub scale: u64,
    pub asid: u64,
    pub vmid: u64,
    pub leaf: bool,
    pub ttl: u64,
    pub tg: u64,
    pub addr: u64,
}

/// A TLB invalidation of opcode `op`, as `arm_smmu_cmdq_build_cmd` encodes it.
pub fn tlbi(op: u64, t: &Tlbi) -> Cmd {
    let mut c = [op, 0];
    match op {
        CMDQ_OP_TLBI_EL2_ALL | CMDQ_OP_TLBI_NSNH_ALL => {}
        CMDQ_OP_TLBI_NH_VA | CMDQ_OP_TLBI_EL2_VA => {
            if op == CMDQ_OP_TLBI_NH_VA {
                c[0] |= prep(CMDQ_TLBI_0_VMID, t.vmid);
            }
            c[0] |= prep(CMDQ_TLBI_0_NUM, t.num)
                | prep(CMDQ_TLBI_0_SCALE, t.scale)
                | prep(CMDQ_TLBI_0_ASID, t.asid);
            c[1] |= prep(CMDQ_TLBI_1_LEAF, u64::from(t.leaf))
                | prep(CMDQ_TLBI_1_TTL, t.ttl)
                | prep(CMDQ_TLBI_1_TG, t.tg)
                | (t.addr & CMDQ_TLBI_1_VA_MASK);
        }
        CMDQ_OP_TLBI_S2_IPA => {
            c[0] |= prep(CMDQ_TLBI_0_NUM, t.num)
                | prep(CMDQ_TLBI_0_SCALE, t.scale)
                | prep(CMDQ_TLBI_0_VMID, t.vmid);
            c[1] |= prep(CMDQ_TLBI_1_LEAF, u64::from(t.leaf))
                | prep(CMDQ_TLBI_1_TTL, t.ttl)
                | prep(CMDQ_TLBI_1_TG, t.tg)
                | (t.addr & CMDQ_TLBI_1_IPA_MASK);
        }
        CMDQ_OP_TLBI_NH_ASID => {
            c[0] |= prep(CMDQ_TLBI_0_ASID, t.asid) | prep(CMDQ_TLBI_0_VMID, t.vmid);
        }
        CMDQ_OP_TLBI_NH_ALL | CMDQ_OP_TLBI_S12_VMALL => {
            c[0] |= prep(CMDQ_TLBI_0_VMID, t.vmid);
        }
        CMDQ_OP_TLBI_EL2_ASID => c[0] |= prep(CMDQ_TLBI_0_ASID, t.asid),
        // CMD_TLBI_NH_VAA arrives from a user through iommufd, with the VMID forced.
        CMDQ_OP_TLBI_NH_VAA => {
            c[0] |= prep(CMDQ_TLBI_0_VMID, t.vmid)
                | prep(CMDQ_TLBI_0_NUM, t.num)
                | prep(CMDQ_TLBI_0_SCALE, t.scale);
            c[1] |= prep(CMDQ_TLBI_1_LEAF, u64::from(t.leaf))
                | prep(CMDQ_TLBI_1_TTL, t.ttl)
                | prep(CMDQ_TLBI_1_TG, t.tg)
                | (t.addr & CMDQ_TLBI_1_VA_MASK);
        }
        _ => unreachable!("not a TLB invalidation"),
    }
    c
}

/// `__arm_smmu_tlb_inv_range`: the commands invalidating `[iova, iova + size)` of a domain
/// whose smallest page is 2^`pg_shift` bytes, for leaves of `granule` bytes (`leaf`) or
/// for tables (not `leaf`), from the template `t` of opcode `op`; range commands with `ril`.
pub fn tlb_inv_range(
    op: u64,
    t: Tlbi,
    iova: u64,
    size: u64,
    granule: u64,
    pg_shift: u32,
    ril: bool,
) -> Vec<Cmd> {
    let mut cmd = t;
    let end = iova + size;
    let mut num_pages = 0u64;
    let mut inv_range = granule;
    let mut out = Vec::new();
    if size == 0 {
        return out;
    }
    if ril {
        num_pages = size >> pg_shift;
        cmd.tg = u64::from(pg_shift - 10) / 2;
        if cmd.leaf {
            cmd.ttl = 4 - u64::from((granule.ilog2() - 3) / (pg_shift - 3));
        } else if num_pages & CMDQ_TLBI_RANGE_NUM_MAX == 1 {
            num_pages += 1;
        }
    }
    let mut iova = iova;
    while iova < end {
        if ril {
            let scale = num_pages.trailing_zeros();
            cmd.scale = u64::from(scale);
            let num = (num_pages >> scale) & CMDQ_TLBI_RANGE_NUM_MAX;
            cmd.num = num - 1;
            inv_range = num << (scale + pg_shift);
            num_pages -= num << scale;
        }
        cmd.addr = iova;
        out.push(tlbi(op, &cmd));
        iova += inv_range;
    }
    out
}

/// `arm_smmu_atc_inv_to_cmd` then `arm_smmu_cmdq_build_cmd`: the ATC invalidation of
/// `[iova, iova + size)` (everything when `size` is 0) of `sid` at `ssid` (0: no PASID).
pub fn atc_inv(sid: u32, ssid: u32, iova: u64, size: u64) -> Cmd {
    let (addr, log2) = if size == 0 {
        (0, ATC_INV_SIZE_ALL)
    } else {
        let start = iova >> 12;
        let end = (iova + size - 1) >> 12;
        let log2_span = u64::from(64 - (start ^ end).leading_zeros());
        let start = start & !((1u64 << log2_span) - 1);
        (start << 12, log2_span)
    };
    [
        CMDQ_OP_ATC_INV
            | prep(CMDQ_0_SSV, u64::from(ssid != 0))
            | prep(CMDQ_ATC_0_SSID, u64::from(ssid))
            | prep(CMDQ_ATC_0_SID, u64::from(sid)),
        prep(CMDQ_ATC_1_SIZE, log2) | (addr & CMDQ_ATC_1_ADDR_MASK),
    ]
}

/// `CMD_PRI_RESP` (`arm_smmu_page_response`, and the DENY of `arm_smmu_handle_ppr`).
pub fn pri_resp(sid: u32, ssid: Option<u32>, grpid: u16, resp: u64) -> Cmd {
    [
        CMDQ_OP_PRI_RESP
            | prep(CMDQ_0_SSV, u64::from(ssid.is_some()))
            | prep(CMDQ_PRI_0_SSID, u64::from(ssid.unwrap_or(0)))
            | prep(CMDQ_PRI_0_SID, u64::from(sid)),
        prep(CMDQ_PRI_1_GRPID, u64::from(grpid)) | prep(CMDQ_PRI_1_RESP, resp),
    ]
}

/// `CMD_RESUME` (`arm_smmu_page_response` for a stalled transaction).
pub fn resume(sid: u32, stag: u16, resp: u64) -> Cmd {
    [
        CMDQ_OP_RESUME | prep(CMDQ_RESUME_0_SID, u64::from(sid)) | prep(CMDQ_RESUME_0_RESP, resp),
        prep(CMDQ_RESUME_1_STAG, u64::from(stag)),
    ]
}

/// `arm_smmu_cmdq_build_sync_cmd`: completion by an MSI write of 0 to the command itself
/// (ARM_SMMU_OPT_MSIPOLL), else by SEV; CS = NONE where a secondary queue needs busy polling.
pub fn cmd_sync(msiaddr: Option<u64>, busy_polling: bool) -> Cmd {
    let mut c = [CMDQ_OP_CMD_SYNC, 0];
    match msiaddr {
        Some(a) => {
            c[0] |= prep(CMDQ_SYNC_0_CS, CMDQ_SYNC_0_CS_IRQ);
            c[1] |= a & CMDQ_SYNC_1_MSIADDR_MASK;
        }
        None => c[0] |= prep(CMDQ_SYNC_0_CS, CMDQ_SYNC_0_CS_SEV),
    }
    c[0] |=
        prep(CMDQ_SYNC_0_MSH, ARM_SMMU_SH_ISH) | prep(CMDQ_SYNC_0_MSIATTR, ARM_SMMU_MEMATTR_OIWB);
    if busy_polling {
        c[0] = (c[0] & !CMDQ_SYNC_0_CS) | prep(CMDQ_SYNC_0_CS, CMDQ_SYNC_0_CS_NONE);
    }
    c
}
