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
//!
//! Linux is the yardstick on both sides: `tests/linux_words.rs` builds the STEs, CDs, level-1
//! descriptors and commands Linux's arm-smmu-v3 writes from Linux's own field positions and
//! checks that the model accepts each and gives it Linux's meaning; `tests/linux_diff.rs`
//! compares what the driver writes for each configuration with what Linux would, field by
//! field, with every intended difference listed and explained.
//!
//! # Bring-up
//!
//! An SMMU in its reset state, brought up by the driver through its registers and put under
//! the core as one instance:
//!
//! ```
//! use std::sync::Arc;
//! use softiommu_core::{Family, Iommu, Mem, TableAlloc};
//! use softiommu_mem::{PageAlloc, RamArena};
//! use softiommu_smmuv3::driver::SmmuDriver;
//! use softiommu_smmuv3::model::SmmuUnit;
//! use softiommu_smmuv3::regs::{Cr0, SMMU_CR0ACK, SmmuParams};
//!
//! let ram: Mem = Arc::new(RamArena::new(0, 64 << 20)?);
//! let tables: TableAlloc = Arc::new(PageAlloc::new(ram.clone(), 8 << 20, 56 << 20)?);
//! let unit = Arc::new(SmmuUnit::new(SmmuParams::full(), ram.clone(), Arc::new(|_| {}))?);
//! assert!(!Cr0::from_bits(unit.mmio_read(SMMU_CR0ACK, 4) as u32).smmuen());
//!
//! let driver = Arc::new(SmmuDriver::new(unit.clone(), ram.clone(), tables.clone())?);
//! assert!(Cr0::from_bits(unit.mmio_read(SMMU_CR0ACK, 4) as u32).smmuen(), "SMMU enabled");
//!
//! let iommu = Iommu::new(ram, tables);
//! let instance = iommu.add_instance(driver);
//! assert_eq!(iommu.family(instance)?, Family::Smmuv3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `crates/smmuv3/examples/smmu_dma.rs` goes on from there: a device, a paging domain, its
//! DMA translated by the SMMU, and a translation fault in the event queue. The crate's place
//! among the others, and the behaviours its driver is tested for (`tests/behaviours.rs`), are
//! in `docs/design.md` at the root of the repository.

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
