//! Arm SMMUv3 as hardware, bit-exact to the specification, and the driver that programs it.
//!
//! The model answers MMIO on both register pages, walks stream tables, context descriptors and
//! Arm VMSAv8-64 stage-1/stage-2 tables from physical memory, caches what it walked until the
//! driver's commands invalidate it, and writes events and page requests to queues in memory.
//! The driver is the only code that knows both the model and the IOMMU core.
//!
//! What is here:
//!
//! - [`pri`]: the PRI queue entry and the `CMD_PRI_RESP` responses; [`queue`]: the index
//!   arithmetic the command, event and PRI queues share.

pub mod pri;
pub mod queue;
