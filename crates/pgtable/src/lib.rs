//! I/O page-table formats for softiommu.
//!
//! One walker ([`walk`]) and one table editor ([`PageTable`]) serve every format; a format is
//! a small configuration value plus pure functions over 64-bit entries (the [`Format`] trait):
//!
//! | format | module | levels | pages |
//! |---|---|---|---|
//! | x86-64 paging (VT-d first stage, SVA process tables) | [`formats::x86`] | 4 or 5 | 4K, 2M, 1G |
//!
//! A [`PageTable`] maps with the largest pages that alignment allows, splits a block when part
//! of it is unmapped, and takes out tables that become empty (their pages are reused only at
//! the same place, so that a concurrent walk never reads a page that now maps other
//! addresses); it refuses bad input (unaligned, out of range, overlapping, nothing to unmap)
//! with a [`PgError`] and changes nothing.
//! The walk functions serve the hardware models: [`walk::translate`] checks one access, level
//! by level, and sets Accessed/Dirty bits atomically where the format enables them.

mod dirty;
mod error;
mod format;
pub mod formats;
mod geometry;
mod prot;
mod table;
pub mod walk;

pub use dirty::DirtyBitmap;
pub use error::PgError;
pub use format::{Format, Pte};
pub use geometry::{Geometry, Level, MAX_LEVELS};
pub use prot::{Access, Perm, Prot};
pub use table::{PageTable, TableStats};
pub use walk::{FaultKind, Mapping, Translation, WalkFault};
