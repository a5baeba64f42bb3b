//! Control, bypass, interrupt, global error and stream table registers (spec 6.3.9–6.3.25).

use bitfield_struct::bitfield;

use crate::queue::address_field;

/// `SMMU_CR0` (0x020) and `SMMU_CR0ACK` (0x024): enables. CR0ACK reflects each field once the
/// change written to CR0 has taken effect; reserved fields read 0 in both.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Cr0 {
    /// SMMUEN: translation through the SMMU; when 0, streams follow `SMMU_GBPA`.
    pub smmuen: bool,
    /// PRIQEN: writes to the PRI queue (effective only while SMMUEN = 1).
    pub priqen: bool,
    /// EVENTQEN: writes to the event queue.
    pub eventqen: bool,
    /// CMDQEN: command processing.
    pub cmdqen: bool,
    /// ATSCHK: ATS Translated traffic is checked against STE.EATS (with IDR0.ATS).
    pub atschk: bool,
    #[bits(1)]
    __: u8,
    /// VMW: VMID wildcard for TLB invalidation (with IDR0.VMW).
    #[bits(3)]
    pub vmw: u8,
    #[bits(23)]
    __: u32,
}

/// `SMMU_CR1` (0x028): memory attributes of table and queue accesses. The TABLE fields change
/// only while SMMUEN = 0, the QUEUE fields only while every queue is disabled.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Cr1 {
    /// QUEUE_IC: inner cacheability of queue accesses (0 NC, 1 WB, 2 WT).
    #[bits(2)]
    pub queue_ic: u8,
    /// QUEUE_OC: outer cacheability of queue accesses.
    #[bits(2)]
    pub queue_oc: u8,
    /// QUEUE_SH: shareability of queue accesses (0 NSH, 2 OSH, 3 ISH).
    #[bits(2)]
    pub queue_sh: u8,
    /// TABLE_IC: inner cacheability of stream table (and CD) accesses.
    #[bits(2)]
    pub table_ic: u8,
    /// TABLE_OC: outer cacheability of stream table accesses.
    #[bits(2)]
    pub table_oc: u8,
    /// TABLE_SH: shareability of stream table accesses.
    #[bits(2)]
    pub table_sh: u8,
    #[bits(20)]
    __: u32,
}

/// `SMMU_CR2` (0x02C): stream world and recording controls; read-only while SMMUEN = 1.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Cr2 {
    /// E2H: the EL2 stream world is EL2-E2H, with ASIDs (with IDR0.Hyp).
    pub e2h: bool,
    /// RECINVSID: C_BAD_STREAMID events are recorded for out-of-range StreamIDs.
    pub recinvsid: bool,
    /// PTM: private TLB maintenance (with IDR0.BTM).
    pub ptm: bool,
    /// REC_CFG_ATS: extra configuration errors for ATS and PRI (with IDR0.ATSRECERR).
    pub rec_cfg_ats: bool,
    #[bits(28)]
    __: u32,
}

/// `SMMU_GBPA` (0x044): what streams get while SMMUEN = 0. Written with UPDATE = 1 in a single
/// 32-bit write; the SMMU clears UPDATE when the new attributes are in use. A write without
/// UPDATE is ignored.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Gbpa {
    /// MemAttr: memory type override (STE.MemAttr encoding).
    #[bits(4)]
    pub mem_attr: u8,
    /// MTCFG: override the incoming memory type with MemAttr.
    pub mtcfg: bool,
    #[bits(3)]
    __: u8,
    /// ALLOCCFG: allocation and transient hint override (0b1RWT) or use incoming (0b0xxx).
    #[bits(4)]
    pub alloccfg: u8,
    /// SHCFG: shareability (0 NSH, 1 use incoming, 2 OSH, 3 ISH).
    #[bits(2)]
    pub shcfg: u8,
    #[bits(2)]
    __: u8,
    /// PRIVCFG: privilege (0 use incoming, 2 unprivileged, 3 privileged).
    #[bits(2)]
    pub privcfg: u8,
    /// INSTCFG: instruction/data (0 use incoming, 2 data, 3 instruction).
    #[bits(2)]
    pub instcfg: u8,
    /// ABORT: abort every incoming transaction instead of bypassing.
    pub abort: bool,
    #[bits(10)]
    __: u16,
    /// UPDATE: an update of the other fields is in progress.
    pub update: bool,
}

/// `SMMU_GBPA` after reset: bypass, SHCFG = use incoming, everything else 0.
pub const GBPA_RESET: Gbpa = Gbpa::new().with_shcfg(1);

/// `SMMU_IRQ_CTRL` (0x050) and `SMMU_IRQ_CTRLACK` (0x054): interrupt enables.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct IrqCtrl {
    /// GERROR_IRQEN: global error interrupts.
    pub gerror_irqen: bool,
    /// PRIQ_IRQEN: PRI queue interrupts (with IDR0.PRI).
    pub priq_irqen: bool,
    /// EVENTQ_IRQEN: event queue interrupts.
    pub eventq_irqen: bool,
    #[bits(29)]
    __: u32,
}

/// `SMMU_GERROR` (0x060) and `SMMU_GERRORN` (0x064): global errors. An error is active while
/// its GERROR and GERRORN bits differ; the SMMU toggles GERROR to activate one, software
/// toggles GERRORN to acknowledge it.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct Gerror {
    /// CMDQ_ERR: a command could not be processed (`SMMU_CMDQ_CONS.ERR` says why); command
    /// processing stops while it is active.
    pub cmdq_err: bool,
    #[bits(1)]
    __: u8,
    /// EVENTQ_ABT_ERR: an event queue access was aborted; records may have been lost.
    pub eventq_abt_err: bool,
    /// PRIQ_ABT_ERR: a PRI queue access was aborted (with IDR0.PRI).
    pub priq_abt_err: bool,
    /// MSI_CMDQ_ABT_ERR: a `CMD_SYNC` MSI write was aborted (with IDR0.MSI).
    pub msi_cmdq_abt_err: bool,
    /// MSI_EVENTQ_ABT_ERR: an event queue MSI was aborted (with IDR0.MSI).
    pub msi_eventq_abt_err: bool,
    /// MSI_PRIQ_ABT_ERR: a PRI queue MSI was aborted (with IDR0.MSI and IDR0.PRI).
    pub msi_priq_abt_err: bool,
    /// MSI_GERROR_ABT_ERR: a global error MSI was aborted (with IDR0.MSI).
    pub msi_gerror_abt_err: bool,
    /// SFM_ERR: the SMMU entered service failure mode.
    pub sfm_err: bool,
    #[bits(23)]
    __: u32,
}

/// `SMMU_GERRORN`: the same fields as `SMMU_GERROR`.
pub type Gerrorn = Gerror;

/// `SMMU_GERROR_IRQ_CFG0`, `SMMU_EVENTQ_IRQ_CFG0`, `SMMU_PRIQ_IRQ_CFG0`: the MSI address.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct IrqCfg0 {
    #[bits(2)]
    __: u8,
    /// ADDR: bits 55:2 of the MSI target; 0 = send no MSI (a wired interrupt instead).
    #[bits(54)]
    pub addr: u64,
    #[bits(8)]
    __: u8,
}

address_field!(IrqCfg0, "MSI target address (0 when no MSI is sent)");

/// `SMMU_GERROR_IRQ_CFG2`, `SMMU_EVENTQ_IRQ_CFG2`, `SMMU_PRIQ_IRQ_CFG2`: the MSI write's
/// attributes (the data word is `*_IRQ_CFG1`, all 32 bits).
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct IrqCfg2 {
    /// MemAttr: memory type of the MSI write (STE.MemAttr encoding).
    #[bits(4)]
    pub mem_attr: u8,
    /// SH: shareability of the MSI write (0 NSH, 2 OSH, 3 ISH).
    #[bits(2)]
    pub sh: u8,
    #[bits(25)]
    __: u32,
    /// LO (`SMMU_PRIQ_IRQ_CFG2` only): interrupt only for page requests with Last = 1
    /// (otherwise when the queue becomes non-empty).
    pub lo: bool,
}

/// `SMMU_STRTAB_BASE` (0x080): where the stream table is. Read-only while SMMUEN = 1.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct StrtabBase {
    #[bits(6)]
    __: u8,
    /// ADDR: bits 55:6 of the stream table's (or its level-1 table's) physical base.
    #[bits(50)]
    pub addr: u64,
    #[bits(6)]
    __: u8,
    /// RA: read-allocate hint for stream table accesses.
    pub ra: bool,
    #[bits(1)]
    __: u8,
}

address_field!(
    StrtabBase,
    "stream table base as written, before alignment to the table"
);

/// `SMMU_STRTAB_BASE_CFG` (0x088): the stream table's shape. Read-only while SMMUEN = 1.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct StrtabBaseCfg {
    /// LOG2SIZE: the table covers StreamIDs below 2^LOG2SIZE (capped by IDR1.SIDSIZE).
    #[bits(6)]
    pub log2size: u8,
    /// SPLIT: StreamID bits resolved by a level-2 table: 6, 8 or 10 (others behave as 6).
    #[bits(5)]
    pub split: u8,
    #[bits(5)]
    __: u8,
    /// FMT: 0b00 linear, 0b01 two-level (others behave as linear).
    #[bits(2)]
    pub fmt: u8,
    #[bits(14)]
    __: u16,
}

/// `STRTAB_BASE_CFG.FMT` value of a two-level stream table.
pub const STRTAB_FMT_TWO_LEVEL: u8 = 0b01;

/// The stream table as the SMMU uses it: the registers' values with reserved encodings
/// resolved, the size capped and the base aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamTableConfig {
    /// Physical base of the linear table or of the level-1 table.
    pub base: u64,
    /// Two-level (level-1 descriptors, then level-2 tables of STEs) rather than linear.
    pub two_level: bool,
    /// StreamIDs at or above 2^`log2size` are out of range: min(LOG2SIZE, IDR1.SIDSIZE).
    pub log2size: u8,
    /// StreamID bits a level-2 table resolves (6, 8 or 10; meaningful when `two_level`).
    pub split: u8,
}

impl StreamTableConfig {
    /// The stream table `base` and `cfg` describe on an SMMU with `sid_bits`-bit StreamIDs
    /// that may (`two_level_ok`) or may not use two-level tables.
    ///
    /// A linear table's base is aligned to its size (64 bytes per STE, by the literal
    /// LOG2SIZE); a two-level table's to the larger of 64 bytes and its level-1 table
    /// (8 bytes per descriptor).
    pub fn new(
        base: StrtabBase,
        cfg: StrtabBaseCfg,
        sid_bits: u8,
        two_level_ok: bool,
    ) -> StreamTableConfig {
        let two_level = two_level_ok && cfg.fmt() == STRTAB_FMT_TWO_LEVEL;
        let split = match cfg.split() {
            8 => 8,
            10 => 10,
            _ => 6,
        };
        let literal = u32::from(cfg.log2size());
        let align_bits = if two_level {
            (literal.saturating_sub(u32::from(split)) + 3).max(6)
        } else {
            literal + 6
        };
        StreamTableConfig {
            base: base.address() & !low_bits(align_bits),
            two_level,
            log2size: cfg.log2size().min(sid_bits),
            split,
        }
    }
}

/// The `n` lowest bits (all 64 for `n` ≥ 64).
pub(crate) const fn low_bits(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1 << n) - 1 }
}
