//! Arm SMMUv3 as hardware, bit-exact to the specification, and the driver that programs it.
//!
//! The model answers MMIO on both register pages, walks stream tables, context descriptors and
//! Arm VMSAv8-64 stage-1/stage-2 tables from physical memory, caches what it walked until the
//! driver's commands invalidate it, and writes events and page requests to queues in memory.
//! The driver is the only code that knows both the model and the IOMMU core.
//!
//! What is here:
//!
//! - [`regs`]: the register file on both register pages — IDR0–IDR5 from
//!   [`regs::SmmuParams`], CR0/CR0ACK, CR1, CR2, GBPA, the interrupt controls and MSI
//!   configuration, GERROR/GERRORN, the stream table and the three queues' registers — with MMIO
//!   reads and writes that return the actions the model must take, and the model's reports
//!   (commands consumed or refused, records written or lost) that return the interrupts to
//!   signal.
//! - [`cmd`]: every command as `bitfield-struct` words, decoded with the CERROR an illegal one
//!   raises (the opcode table is there); [`pri`]: the PRI queue entry and the `CMD_PRI_RESP`
//!   responses; [`queue`]: the index arithmetic the command, event and PRI queues share.
//! - [`ste`]: the Stream Table Entry and the stream table (linear, or two-level through
//!   L1STDs), with the checks that give C_BAD_STREAMID and C_BAD_STE; [`cd`]: the Context
//!   Descriptor and CD tables (linear, or two-level through L1CDs), S1DSS, and the checks that
//!   give C_BAD_SUBSTREAMID, F_STREAM_DISABLED and C_BAD_CD; [`event`]: every event record,
//!   encoded and decoded (the table of triggers and event numbers is there).
//! - [`model`]: the translation engine — bypass, stage 1, stage 2 and nested translation
//!   through the shared Arm table formats, the configuration caches and the TLB (one look-up
//!   per hit, entries tagged by VMID, ASID, address and level) with the reach of each
//!   invalidation command, and a checking mode that reports a TLB hit a fresh walk (one that
//!   sets no Access flag or dirty state) contradicts. [`model::ModelCaps`] holds the ID-register parameters it obeys.
//!   [`model::SmmuUnit`], the SMMU as a whole: MMIO on both register pages, commands consumed
//!   from memory and carried out, events and page requests written to their queues,
//!   interrupts and MSI writes, and the messages to devices (ATC invalidations, PRI
//!   responses, resumed stalls).
//! - [`driver`]: the OS side — [`driver::SmmuDriver`] puts one SMMU under the softiommu core
//!   through its registers, stream and CD tables and command queue, as Linux's arm-smmu-v3
//!   does.

pub mod cd;
pub mod cmd;
pub mod driver;
pub mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
#[cfg(feature = "testing")]
pub mod harness;
pub mod model;
pub mod pri;
pub mod queue;
pub mod regs;
pub mod ste;
