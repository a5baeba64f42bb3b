//! The words Linux's intel-iommu writes, held against this crate: every descriptor type,
//! context entry and PASID entry Linux writes, for the configurations it uses and with the
//! argument ranges it passes, built in `linux` from Linux's own field positions. Each row is
//! accepted by the unit model and means there what it means to Linux — the structure decodes
//! to the fields Linux set, a DMA through it translates as Linux intended, an invalidation
//! removes what it should and keeps the rest. Where an older kernel wrote something the
//! specification now reserves, the row says what the model answers, and why.
//!
//! `differential` holds the driver to the same words: every context and PASID entry it
//! writes while the core's behaviour suite runs is compared, field by field, with Linux's
//! for the same configuration, and the differences it keeps on purpose are listed there
//! with their reasons.

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

mod descriptors;
mod differential;
mod invalidations;
mod linux;
#[allow(dead_code)]
#[path = "../fault_reasons/rig.rs"]
mod rig;
mod structures;
