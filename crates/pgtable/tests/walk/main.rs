//! The hardware walk, `walk::translate`, for every format: x86-64 4/5-level, VT-d second stage
//! 3/4/5-level, Arm stage 1 (4K/16K/64K) and Arm stage 2 (4K concatenated, 16K, 64K).
//!
//! Each test shows one behaviour of the specification (`reference/hw-formats.md` A.9 and Part C):
//! where a walk ends, which fault it takes and at which level, and what it writes back.
//! Malformed entries are written by hand into the table's memory.

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod access;
mod address_size;
mod permission;
mod reserved;
mod translate;

use common::fixture::*;
use softiommu_mem::{AddressSpace, MemError, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::ArmS1Config;
use softiommu_pgtable::formats::arm_s2::ArmS2Config;
use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
use softiommu_pgtable::formats::x86::X86Config;
use softiommu_pgtable::{Access, FaultKind, Format, Prot, Translation, WalkFault, walk};

const K4: u64 = 1 << 12;
const K16: u64 = 1 << 14;
const K64: u64 = 1 << 16;
const M2: u64 = 1 << 21;
const M32: u64 = 1 << 25;
const M512: u64 = 1 << 29;
const G1: u64 = 1 << 30;

const READ: Access = Access::READ;
const WRITE: Access = Access::WRITE;
/// An unprivileged instruction fetch.
const FETCH: Access = Access {
    write: false,
    exec: true,
    privileged: false,
};

/// Page and block sizes of each configuration with the level number that maps them.
const X86_SIZES: &[(u64, u8)] = &[(K4, 1), (M2, 2), (G1, 3)];
const ARM_4K_SIZES: &[(u64, u8)] = &[(K4, 3), (M2, 2), (G1, 1)];
const ARM_16K_SIZES: &[(u64, u8)] = &[(K16, 3), (M32, 2)];
const ARM_64K_SIZES: &[(u64, u8)] = &[(K64, 3), (M512, 2)];

/// The format, its depth and granule, for failure messages.
fn name<F: Format>(t: &Table<F>) -> String {
    let geo = t.format().geometry();
    let (depth, granule) = (geo.depth(), geo.granule() >> 10);
    format!("{} {depth}-level {granule}K", t.format().name())
}

/// The walk's result for an access that must succeed.
fn ok<F: Format>(t: &Table<F>, iova: u64, access: Access) -> Translation {
    t.translate(iova, access)
        .unwrap_or_else(|f| panic!("{}: {iova:#x} {access:?} faulted: {f:?}", name(t)))
}

/// The walk's fault for an access that must fault.
fn fault<F: Format>(t: &Table<F>, iova: u64, access: Access) -> WalkFault {
    match t.translate(iova, access) {
        Ok(tr) => panic!("{}: {iova:#x} {access:?} translated: {tr:?}", name(t)),
        Err(f) => f,
    }
}

/// Asserts that `access` to `iova` faults with `kind` at `level` of `shape`, on the entry at
/// `entry`.
fn assert_fault<F: Format>(
    t: &Table<F>,
    shape: &Shape,
    iova: u64,
    access: Access,
    kind: FaultKind,
    level: usize,
    entry: u64,
) {
    let f = fault(t, iova, access);
    let want = WalkFault {
        kind,
        level,
        number: shape.numbers[level],
        entry,
    };
    assert_eq!(f, want, "{}: {iova:#x} {access:?}", name(t));
}

/// Stores `value` at `pa`, runs `check`, and puts the old value back.
fn with_entry<F: Format>(t: &Table<F>, pa: u64, value: u64, check: impl FnOnce()) {
    let old = load(t, pa);
    store(t, pa, value);
    check();
    store(t, pa, old);
}

/// The raw entries at `entries` (e.g. a walk's [`path`]), in order.
fn loads<F: Format>(t: &Table<F>, entries: &[u64]) -> Vec<u64> {
    entries.iter().map(|&e| load(t, e)).collect()
}

/// The table at `level` on the walk of `iova` (the entry's address less index × 8).
fn table_at<F: Format>(t: &Table<F>, shape: &Shape, level: usize, iova: u64) -> u64 {
    path(t, iova)[level] - shape.index(level, iova) * 8
}
