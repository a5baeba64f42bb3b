//! Arm SMMUv3 as hardware, bit-exact to the specification, and the driver that programs it.
//!
//! The model answers MMIO on both register pages, walks stream tables, context descriptors and
//! Arm VMSAv8-64 stage-1/stage-2 tables from physical memory, caches what it walked until the
//! driver's commands invalidate it, and writes events and page requests to queues in memory.
//! The driver is the only code that knows both the model and the IOMMU core.
//!
//! The hardware side so far:
//!
//! - [`ste`]: the Stream Table Entry and the stream table (linear, or two-level through
//!   L1STDs), with the checks that give C_BAD_STREAMID and C_BAD_STE; [`cd`]: the Context
//!   Descriptor and CD tables (linear, or two-level through L1CDs), S1DSS, and the checks that
//!   give C_BAD_SUBSTREAMID, F_STREAM_DISABLED and C_BAD_CD; [`event`]: every event record,
//!   encoded and decoded (the table of triggers and event numbers is there).
//! - [`model`]: the translation engine — bypass, stage 1, stage 2 and nested translation
//!   through the shared Arm table formats, the configuration caches and the TLB (one look-up
//!   per hit, entries tagged by VMID, ASID, address and level) with the reach of each
//!   invalidation command, and a checking mode that reports a TLB hit a fresh walk
//!   contradicts. [`model::ModelCaps`] holds the ID-register parameters it obeys.

pub mod cd;
pub mod event;
pub mod model;
pub mod ste;
