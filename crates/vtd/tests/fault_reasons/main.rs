//! The VT-d unit's faults end to end, as a driver sees them: each test builds the tables and
//! entries in memory, programs the unit through MMIO, issues one request through
//! [`VtdUnit`](softiommu_vtd::model::VtdUnit) and reads the fault back from the fault
//! recording registers and FSTS. One test per fault reason the model raises, named after it
//! (the table in `fault.rs` says which those are, and `recording` checks the two agree); then
//! fault processing disable, the overflow of the records, and page requests.

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

mod ats;
mod page_requests;
mod paging;
mod recording;
mod rig;
mod structures;
