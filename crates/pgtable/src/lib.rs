//! I/O page-table formats for softiommu.
//!
//! One walker and one table editor serve every format; a format is data plus a few pure
//! functions over 64-bit entries (the [`Format`] trait).

mod error;
mod format;
pub mod formats;
mod geometry;
mod prot;

pub use error::PgError;
pub use format::{Format, Pte};
pub use geometry::{Geometry, Level, MAX_LEVELS};
pub use prot::{Access, Perm, Prot};
