//! I/O page-table formats for softiommu.
//!
//! One walker ([`walk`]) and one table editor ([`PageTable`]) serve every format; a format is
//! a small configuration value plus pure functions over 64-bit entries (the [`Format`] trait),
//! bit-exact to the specifications:
//!
//! | format | module | levels | leaves |
//! |---|---|---|---|
//! | x86-64 paging (VT-d first stage, SVA process tables) | [`formats::x86`] | 4 or 5 | 4K, 2M, 1G |
//! | VT-d second stage | [`formats::vtd_ss`] | 3, 4 or 5 | 4K, 2M, 1G (per SSLPS) |
//! | Arm VMSAv8-64 stage 1 | [`formats::arm_s1`] | from T0SZ and granule | 4K/2M/1G, 16K/32M, 64K/512M |
//! | Arm VMSAv8-64 stage 2 | [`formats::arm_s2`] | from S2SL0, concatenated starts | as stage 1 |
//!
//! ```text
//!   PageTable<F: Format, M: AddressSpace>          walk::{translate, lookup, trace}
//!   map / unmap / read_and_clear_dirty             (hardware side: any table in memory,
//!        |  edits entries it wrote itself           full validation, faults, atomic A/D)
//!        v                                                   |
//!   PageAlloc<M>  -- table pages, per-page counts --> M: AddressSpace (RAM arena, guest RAM)
//! ```
//!
//! A [`PageTable`] maps with the largest pages that alignment allows, splits a block when part
//! of it is unmapped, and takes out tables that become empty (a single-page unmap detaches
//! the emptied tables at once and keeps them, still linked, for a map under the same leaf
//! table). A page taken out is reused only at the same place in the tree, so that a walk
//! racing with the unmap never reads entries for other addresses; it goes back to the
//! allocator when the owner says the invalidation that followed is complete
//! ([`PageTable::release_freed`]) or when the table is dropped. It refuses bad input (unaligned,
//! out of range, overlapping, nothing to unmap, no access) with a [`PgError`] and changes
//! nothing. The walk functions serve the hardware models: [`walk::translate`] checks one
//! access level by level, reports a [`WalkFault`] the model turns into its own fault record,
//! and sets Accessed/Dirty bits atomically where the format enables them.

pub mod counters;
mod dirty;
mod error;
mod format;
pub mod formats;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod geometry;
mod prot;
pub mod stale;
mod table;
pub mod tlb;
pub mod walk;

pub use dirty::DirtyBitmap;
pub use error::PgError;
pub use format::{Format, Pte};
pub use geometry::{Geometry, Level, MAX_LEVELS};
pub use prot::{Access, Perm, Prot};
pub use table::{PageTable, TableStats};
pub use walk::{FaultKind, Mapping, Translation, WalkFault};
