//! The SMMU's MMIO registers (spec chapter 6): their layouts, the capabilities an instance
//! reports, and the register file the model sits behind.
//!
//! The register file decodes software's accesses to both 64 KiB register pages and keeps the
//! registers' state; what an access sets in motion (an enable, a new command queue producer,
//! an acknowledged error, a bypass update) comes back as [`Action`]s for the model to carry
//! out. The model reports back what it did — commands consumed or refused, events and page
//! requests written or lost, global errors — and gets the [`Interrupt`]s to signal.
//!
//! Register frame ([`SMMU_FRAME_SIZE`] bytes; the Secure bank at 0x8000 is not implemented
//! and reads as zero):
//!
//! | offset | registers |
//! |---|---|
//! | 0x000–0x01C | IDR0–IDR5, IIDR, AIDR (read-only) |
//! | 0x020–0x02C | CR0, CR0ACK, CR1, CR2 |
//! | 0x040–0x054 | STATUSR (reads 0), GBPA, AGBPA (RAZ/WI), IRQ_CTRL, IRQ_CTRLACK |
//! | 0x060–0x074 | GERROR, GERRORN, GERROR_IRQ_CFG0 (64-bit), GERROR_IRQ_CFG1/2 |
//! | 0x080–0x088 | STRTAB_BASE (64-bit), STRTAB_BASE_CFG |
//! | 0x090–0x09C | CMDQ_BASE (64-bit), CMDQ_PROD, CMDQ_CONS |
//! | 0x0A0–0x0BC | EVENTQ_BASE (64-bit), page-0 aliases of EVENTQ_PROD/CONS, EVENTQ_IRQ_CFG0 (64-bit), EVENTQ_IRQ_CFG1/2 |
//! | 0x0C0–0x0DC | PRIQ_BASE (64-bit), page-0 aliases of PRIQ_PROD/CONS, PRIQ_IRQ_CFG0 (64-bit), PRIQ_IRQ_CFG1/2 (with IDR0.PRI) |
//! | 0x100A8, 0x100AC | EVENTQ_PROD, EVENTQ_CONS (page 1) |
//! | 0x100C8, 0x100CC | PRIQ_PROD, PRIQ_CONS (page 1, with IDR0.PRI) |
//!
//! The `*_IRQ_CFG` registers exist with IDR0.MSI (PRIQ_IRQ_CFG2.LO with IDR0.PRI alone).
//! Where the specification leaves a choice (writes to a guarded register, a write to GBPA
//! without UPDATE, page-0 offsets of page-1 registers, 64-bit accesses to a pair of 32-bit
//! registers), the register file takes the behaviour SMMUv3.2 requires or, where none is
//! required, the most useful one: the write is ignored, the page-0 offsets alias page 1, and
//! the pair is accessed as two words.

mod control;
mod file;
mod idr;
mod params;

#[cfg(test)]
mod tests;

pub use control::{
    Cr0, Cr1, Cr2, GBPA_RESET, Gbpa, Gerror, Gerrorn, IrqCfg0, IrqCfg2, IrqCtrl,
    STRTAB_FMT_TWO_LEVEL, StreamTableConfig, StrtabBase, StrtabBaseCfg,
};
pub use file::{Action, Interrupt, Irq, IrqCfg, MsiWrite, OutputSlot, RegisterFile};
pub use idr::{
    AIDR, Aidr, Httu, IIDR, Idr0, Idr1, Idr2, Idr3, Idr5, Iidr, ST_LEVEL_TWO, StallModel,
    TTENDIAN_LITTLE, TTF_AARCH64,
};
pub use params::{ParamsError, SmmuParams};

/// `SMMU_IDR0` (32-bit, read-only).
pub const SMMU_IDR0: u64 = 0x000;
/// `SMMU_IDR1` (32-bit, read-only).
pub const SMMU_IDR1: u64 = 0x004;
/// `SMMU_IDR2` (32-bit, read-only).
pub const SMMU_IDR2: u64 = 0x008;
/// `SMMU_IDR3` (32-bit, read-only).
pub const SMMU_IDR3: u64 = 0x00c;
/// `SMMU_IDR4` (32-bit, read-only; implementation defined, reads 0).
pub const SMMU_IDR4: u64 = 0x010;
/// `SMMU_IDR5` (32-bit, read-only).
pub const SMMU_IDR5: u64 = 0x014;
/// `SMMU_IIDR` (32-bit, read-only).
pub const SMMU_IIDR: u64 = 0x018;
/// `SMMU_AIDR` (32-bit, read-only).
pub const SMMU_AIDR: u64 = 0x01c;
/// `SMMU_CR0` (32-bit).
pub const SMMU_CR0: u64 = 0x020;
/// `SMMU_CR0ACK` (32-bit, read-only).
pub const SMMU_CR0ACK: u64 = 0x024;
/// `SMMU_CR1` (32-bit).
pub const SMMU_CR1: u64 = 0x028;
/// `SMMU_CR2` (32-bit).
pub const SMMU_CR2: u64 = 0x02c;
/// `SMMU_STATUSR` (32-bit, read-only; reads 0 without IDR0.DORMHINT).
pub const SMMU_STATUSR: u64 = 0x040;
/// `SMMU_GBPA` (32-bit).
pub const SMMU_GBPA: u64 = 0x044;
/// `SMMU_AGBPA` (32-bit; implementation defined, RAZ/WI here).
pub const SMMU_AGBPA: u64 = 0x048;
/// `SMMU_IRQ_CTRL` (32-bit).
pub const SMMU_IRQ_CTRL: u64 = 0x050;
/// `SMMU_IRQ_CTRLACK` (32-bit, read-only).
pub const SMMU_IRQ_CTRLACK: u64 = 0x054;
/// `SMMU_GERROR` (32-bit, read-only).
pub const SMMU_GERROR: u64 = 0x060;
/// `SMMU_GERRORN` (32-bit).
pub const SMMU_GERRORN: u64 = 0x064;
/// `SMMU_GERROR_IRQ_CFG0` (64-bit; with IDR0.MSI).
pub const SMMU_GERROR_IRQ_CFG0: u64 = 0x068;
/// `SMMU_GERROR_IRQ_CFG1` (32-bit; with IDR0.MSI).
pub const SMMU_GERROR_IRQ_CFG1: u64 = 0x070;
/// `SMMU_GERROR_IRQ_CFG2` (32-bit; with IDR0.MSI).
pub const SMMU_GERROR_IRQ_CFG2: u64 = 0x074;
/// `SMMU_STRTAB_BASE` (64-bit).
pub const SMMU_STRTAB_BASE: u64 = 0x080;
/// `SMMU_STRTAB_BASE_CFG` (32-bit).
pub const SMMU_STRTAB_BASE_CFG: u64 = 0x088;
/// `SMMU_CMDQ_BASE` (64-bit).
pub const SMMU_CMDQ_BASE: u64 = 0x090;
/// `SMMU_CMDQ_PROD` (32-bit).
pub const SMMU_CMDQ_PROD: u64 = 0x098;
/// `SMMU_CMDQ_CONS` (32-bit).
pub const SMMU_CMDQ_CONS: u64 = 0x09c;
/// `SMMU_EVENTQ_BASE` (64-bit).
pub const SMMU_EVENTQ_BASE: u64 = 0x0a0;
/// Page-0 alias of `SMMU_EVENTQ_PROD`.
pub const SMMU_EVENTQ_PROD_PAGE0: u64 = 0x0a8;
/// Page-0 alias of `SMMU_EVENTQ_CONS`.
pub const SMMU_EVENTQ_CONS_PAGE0: u64 = 0x0ac;
/// `SMMU_EVENTQ_IRQ_CFG0` (64-bit; with IDR0.MSI).
pub const SMMU_EVENTQ_IRQ_CFG0: u64 = 0x0b0;
/// `SMMU_EVENTQ_IRQ_CFG1` (32-bit; with IDR0.MSI).
pub const SMMU_EVENTQ_IRQ_CFG1: u64 = 0x0b8;
/// `SMMU_EVENTQ_IRQ_CFG2` (32-bit; with IDR0.MSI).
pub const SMMU_EVENTQ_IRQ_CFG2: u64 = 0x0bc;
/// `SMMU_PRIQ_BASE` (64-bit; with IDR0.PRI).
pub const SMMU_PRIQ_BASE: u64 = 0x0c0;
/// Page-0 alias of `SMMU_PRIQ_PROD`.
pub const SMMU_PRIQ_PROD_PAGE0: u64 = 0x0c8;
/// Page-0 alias of `SMMU_PRIQ_CONS`.
pub const SMMU_PRIQ_CONS_PAGE0: u64 = 0x0cc;
/// `SMMU_PRIQ_IRQ_CFG0` (64-bit; with IDR0.MSI and IDR0.PRI).
pub const SMMU_PRIQ_IRQ_CFG0: u64 = 0x0d0;
/// `SMMU_PRIQ_IRQ_CFG1` (32-bit; with IDR0.MSI and IDR0.PRI).
pub const SMMU_PRIQ_IRQ_CFG1: u64 = 0x0d8;
/// `SMMU_PRIQ_IRQ_CFG2` (32-bit; with IDR0.PRI).
pub const SMMU_PRIQ_IRQ_CFG2: u64 = 0x0dc;
/// Offset of register page 1.
pub const SMMU_PAGE1: u64 = 0x1_0000;
/// `SMMU_EVENTQ_PROD` (32-bit, page 1).
pub const SMMU_EVENTQ_PROD: u64 = SMMU_PAGE1 + SMMU_EVENTQ_PROD_PAGE0;
/// `SMMU_EVENTQ_CONS` (32-bit, page 1).
pub const SMMU_EVENTQ_CONS: u64 = SMMU_PAGE1 + SMMU_EVENTQ_CONS_PAGE0;
/// `SMMU_PRIQ_PROD` (32-bit, page 1; with IDR0.PRI).
pub const SMMU_PRIQ_PROD: u64 = SMMU_PAGE1 + SMMU_PRIQ_PROD_PAGE0;
/// `SMMU_PRIQ_CONS` (32-bit, page 1; with IDR0.PRI).
pub const SMMU_PRIQ_CONS: u64 = SMMU_PAGE1 + SMMU_PRIQ_CONS_PAGE0;
/// Size of the register frame: two 64 KiB pages.
pub const SMMU_FRAME_SIZE: u64 = 0x2_0000;
