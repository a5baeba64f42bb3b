//! The SMMUv3 driver over the unit model, beyond the core's behaviour tests: S3 between SMMUs
//! of different capabilities, nested translation with a guest CD table, release, ASID and
//! VMID exhaustion, and command errors. (S3 and the other ids: `docs/design.md`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "driver/concurrency.rs"]
mod concurrency;
#[path = "driver/dirty.rs"]
mod dirty;
#[path = "driver/lifecycle.rs"]
mod lifecycle;
#[path = "driver/nested.rs"]
mod nested;
#[path = "driver/pri.rs"]
mod pri;
#[path = "driver/spans.rs"]
mod spans;
#[path = "driver/tables.rs"]
mod tables;
