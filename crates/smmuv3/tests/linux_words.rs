//! Acceptance of what Linux's arm-smmu-v3 driver writes: STEs, CDs, level-1 descriptors and
//! commands built in [`linux`] from Linux's own field positions (not through this crate's
//! bitfield types), for the configurations Linux uses, each run through the unit model and
//! checked to be accepted and to mean what Linux means by it. Where an older kernel wrote
//! something the specification now reserves, the test says what the model answers and why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "linux_words/commands.rs"]
mod commands;
#[path = "linux_words/linux.rs"]
mod linux;
#[path = "linux_words/rig.rs"]
mod rig;
#[path = "linux_words/structures.rs"]
mod structures;
