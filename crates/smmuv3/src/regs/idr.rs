//! The identification registers: `SMMU_IDR0`–`SMMU_IDR5`, `SMMU_IIDR` and `SMMU_AIDR`
//! (spec 6.3.1–6.3.8). All read-only; their values come from [`SmmuParams`](super::SmmuParams).

use bitfield_struct::bitfield;

/// `SMMU_IDR0.STALL_MODEL`: which fault models the SMMU offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StallModel {
    /// 0b00: both the stall and the terminate model.
    StallAndTerminate,
    /// 0b01: terminate only; STE.S2S and CD.S must be 0, `CMD_RESUME` and `CMD_STALL_TERM`
    /// are illegal.
    TerminateOnly,
    /// 0b10: stall forced; STE.S2S and CD.S must be 1.
    StallForced,
    /// 0b11: reserved.
    Reserved,
}

impl StallModel {
    /// The model a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> StallModel {
        match bits & 3 {
            0 => StallModel::StallAndTerminate,
            1 => StallModel::TerminateOnly,
            2 => StallModel::StallForced,
            _ => StallModel::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            StallModel::StallAndTerminate => 0,
            StallModel::TerminateOnly => 1,
            StallModel::StallForced => 2,
            StallModel::Reserved => 3,
        }
    }

    /// Whether stalling faults exist (and so `CMD_RESUME` and `CMD_STALL_TERM`).
    pub const fn stalls(self) -> bool {
        matches!(
            self,
            StallModel::StallAndTerminate | StallModel::StallForced
        )
    }
}

/// `SMMU_IDR0.HTTU`: hardware updates of the translation tables' Access flag and dirty state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Httu {
    /// 0b00: no hardware updates.
    None,
    /// 0b01: the Access flag.
    Access,
    /// 0b10: the Access flag and the dirty state.
    AccessDirty,
    /// 0b11: as 0b10, and the Access flag of table descriptors.
    AccessDirtyTable,
}

impl Httu {
    /// The level a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> Httu {
        match bits & 3 {
            0 => Httu::None,
            1 => Httu::Access,
            2 => Httu::AccessDirty,
            _ => Httu::AccessDirtyTable,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            Httu::None => 0,
            Httu::Access => 1,
            Httu::AccessDirty => 2,
            Httu::AccessDirtyTable => 3,
        }
    }
}

/// `SMMU_IDR0` (0x000): the features of the Non-secure programming interface.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idr0 {
    /// S2P: stage 2 translation.
    pub s2p: bool,
    /// S1P: stage 1 translation.
    pub s1p: bool,
    /// TTF: translation table formats, bit 0 AArch32 (LPAE), bit 1 AArch64.
    #[bits(2)]
    pub ttf: u8,
    /// COHACC: coherent access to tables, queues and MSIs.
    pub cohacc: bool,
    /// BTM: broadcast TLB maintenance.
    pub btm: bool,
    /// HTTU: hardware Access flag and dirty state updates.
    #[bits(2)]
    pub httu: Httu,
    /// DORMHINT: the dormant hint (`SMMU_STATUSR.DORMANT`).
    pub dormhint: bool,
    /// Hyp: hypervisor (EL2) stage 1 contexts (STE.STRW = EL2).
    pub hyp: bool,
    /// ATS: PCIe ATS.
    pub ats: bool,
    /// NS1ATS: split-stage (STE.EATS = 0b10) ATS is not supported.
    pub ns1ats: bool,
    /// ASID16: 16-bit ASIDs.
    pub asid16: bool,
    /// MSI: message-signalled interrupts.
    pub msi: bool,
    /// SEV: WFE wake-up events to the PEs.
    pub sev: bool,
    /// ATOS: address translation operations.
    pub atos: bool,
    /// PRI: the page request interface.
    pub pri: bool,
    /// VMW: VMID wildcards for TLB invalidation.
    pub vmw: bool,
    /// VMID16: 16-bit VMIDs.
    pub vmid16: bool,
    /// CD2L: two-level context descriptor tables.
    pub cd2l: bool,
    /// VATOS: the virtual ATOS page.
    pub vatos: bool,
    /// TTENDIAN: table walk endianness, 0b00 mixed, 0b10 little, 0b11 big.
    #[bits(2)]
    pub ttendian: u8,
    /// ATSRECERR: extra configuration errors recorded for ATS and PRI.
    pub atsrecerr: bool,
    /// STALL_MODEL: the fault models offered.
    #[bits(2)]
    pub stall_model: StallModel,
    /// TERM_MODEL: 1 = a terminated transaction is always aborted (CD.A must be 1).
    pub term_model: bool,
    /// ST_LEVEL: 0b00 linear stream tables only, 0b01 two-level ones too.
    #[bits(2)]
    pub st_level: u8,
    #[bits(1)]
    __: u8,
    /// RME_IMPL: the Realm Management Extension.
    pub rme_impl: bool,
    #[bits(1)]
    __: u8,
}

/// `SMMU_IDR0.TTF` value for AArch64 (VMSAv8-64) tables only.
pub const TTF_AARCH64: u8 = 0b10;
/// `SMMU_IDR0.TTENDIAN` value for little-endian table walks only.
pub const TTENDIAN_LITTLE: u8 = 0b10;
/// `SMMU_IDR0.ST_LEVEL` value for two-level stream tables (and linear ones).
pub const ST_LEVEL_TWO: u8 = 0b01;

/// `SMMU_IDR1` (0x004): sizes of IDs and queues.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idr1 {
    /// SIDSIZE: StreamID width in bits (0 to 32).
    #[bits(6)]
    pub sidsize: u8,
    /// SSIDSIZE: SubstreamID width in bits (0 to 20; 0 = no substreams).
    #[bits(5)]
    pub ssidsize: u8,
    /// PRIQS: log2 of the largest PRI queue (at most 19).
    #[bits(5)]
    pub priqs: u8,
    /// EVENTQS: log2 of the largest event queue (at most 19).
    #[bits(5)]
    pub eventqs: u8,
    /// CMDQS: log2 of the largest command queue (at most 19).
    #[bits(5)]
    pub cmdqs: u8,
    /// ATTR_PERMS_OVR: incoming instruction/data, privilege and NS attributes can be
    /// overridden.
    pub attr_perms_ovr: bool,
    /// ATTR_TYPES_OVR: incoming memory type, shareability and allocation hints can be
    /// overridden.
    pub attr_types_ovr: bool,
    /// REL: preset base registers hold offsets from page 0.
    pub rel: bool,
    /// QUEUES_PRESET: the queue base registers are fixed.
    pub queues_preset: bool,
    /// TABLES_PRESET: the stream table base registers are fixed.
    pub tables_preset: bool,
    /// ECMDQ: enhanced command queues.
    pub ecmdq: bool,
}

/// `SMMU_IDR2` (0x008): the virtual ATOS page's offset.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idr2 {
    /// BA_VATOS: offset of the VATOS page, in 64 KiB units above the register frame.
    #[bits(10)]
    pub ba_vatos: u16,
    #[bits(22)]
    __: u32,
}

/// `SMMU_IDR3` (0x00C): further features.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idr3 {
    #[bits(2)]
    __: u8,
    /// HAD: CD.HAD0/HAD1 control hierarchical attribute disables.
    pub had: bool,
    /// PBHA: page-based hardware attributes.
    pub pbha: bool,
    /// XNX: EL0/EL1 execute-never distinction at stage 2.
    pub xnx: bool,
    /// PPS: a PRI auto-response always carries the request's PASID.
    pub pps: bool,
    #[bits(1)]
    __: u8,
    /// MPAM: memory partitioning and monitoring.
    pub mpam: bool,
    /// FWB: stage 2 control of memory types (STE.S2FWB).
    pub fwb: bool,
    /// STT: small translation tables.
    pub stt: bool,
    /// RIL: range-based TLB invalidation and the level hint.
    pub ril: bool,
    /// BBML: break-before-make level.
    #[bits(2)]
    pub bbml: u8,
    /// E0PD: the E0PD mechanism.
    pub e0pd: bool,
    /// PTWNNC: stage 1 walks mapped as Device are treated as Normal Non-cacheable.
    pub ptwnnc: bool,
    /// DPT: the device permission table.
    pub dpt: bool,
    #[bits(16)]
    __: u16,
}

/// `SMMU_IDR5` (0x014): address sizes, granules and stall limit.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idr5 {
    /// OAS: output address size (0b000 32 … 0b101 48, 0b110 52 bits).
    #[bits(3)]
    pub oas: u8,
    #[bits(1)]
    __: u8,
    /// GRAN4K: 4 KiB translation granule.
    pub gran4k: bool,
    /// GRAN16K: 16 KiB translation granule.
    pub gran16k: bool,
    /// GRAN64K: 64 KiB translation granule.
    pub gran64k: bool,
    /// DS: 52-bit addresses with 4K and 16K granules.
    pub ds: bool,
    /// D128: 128-bit descriptors.
    pub d128: bool,
    #[bits(1)]
    __: u8,
    /// VAX: 0b00 48-bit, 0b01 52-bit virtual addresses per TTBx.
    #[bits(2)]
    pub vax: u8,
    #[bits(4)]
    __: u8,
    /// STALL_MAX: most stalled transactions outstanding at once (0 without stalls).
    pub stall_max: u16,
}

/// `SMMU_IIDR` (0x018): implementation identification.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Iidr {
    /// Implementer: JEP106 code of the implementer.
    #[bits(12)]
    pub implementer: u16,
    /// Revision: minor revision of the product.
    #[bits(4)]
    pub revision: u8,
    /// Variant: major revision of the product.
    #[bits(4)]
    pub variant: u8,
    /// ProductID: the implementer's product number.
    #[bits(12)]
    pub product_id: u16,
}

/// `SMMU_AIDR` (0x01C): architecture revision.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Aidr {
    /// ArchMinorRev: 0 = SMMUv3.0, 1 = v3.1, 2 = v3.2, 3 = v3.3.
    #[bits(4)]
    pub minor: u8,
    /// ArchMajorRev: 0 = SMMUv3.
    #[bits(4)]
    pub major: u8,
    #[bits(24)]
    __: u32,
}

/// The implementation identification this model reports: no JEP106 implementer, product 0.
pub const IIDR: Iidr = Iidr::new();

/// The architecture revision this model reports: SMMUv3.1.
///
/// The identification registers describe what the model does rather than everything v3.1
/// mandates: IDR3.HAD and IDR3.XNX read 0 (the walker honours table-descriptor attribute
/// limits and uses stage 2's single XN bit), and IDR3.RIL (a v3.2 feature) follows
/// [`SmmuParams::range_invalidation`](super::SmmuParams::range_invalidation).
pub const AIDR: Aidr = Aidr::new().with_major(0).with_minor(1);
