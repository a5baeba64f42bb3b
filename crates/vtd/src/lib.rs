//! Intel VT-d in scalable mode, as hardware: registers, in-memory structures walked from
//! physical memory, caches, queues and faults, bit-exact to the specification (rev 5.x,
//! accepting what rev 3.x drivers still write); and the driver that programs it for the
//! softiommu core.
//!
//! The hardware side never calls the core; the driver module is the only code that knows
//! both.

pub mod desc;
pub mod fault;
pub mod model;
pub mod regs;
pub mod structs;
pub mod tlb;
