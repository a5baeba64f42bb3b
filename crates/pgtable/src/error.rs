//! Errors of page-table operations.

use softiommu_mem::MemError;
use thiserror::Error;

use crate::prot::Prot;

/// Why a page-table operation was refused. A refused operation changes nothing, except
/// [`PgError::Corrupt`], found part-way through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PgError {
    /// The format configuration is not one the hardware allows.
    #[error("bad page-table configuration: {0}")]
    BadConfig(&'static str),
    /// An address or size is not a multiple of the smallest page.
    #[error("{}", unaligned_message(*iova, *pa, *size, *granule))]
    Unaligned {
        /// Input address given.
        iova: u64,
        /// Output address given (0 for unmap).
        pa: u64,
        /// Size given.
        size: u64,
        /// The smallest page of the format.
        granule: u64,
    },
    /// The input range is empty or reaches beyond what the format translates.
    #[error("iova range {iova:#x}+{size:#x} is outside [0, {limit:#x})")]
    IovaOutOfRange {
        /// Input address given.
        iova: u64,
        /// Size given.
        size: u64,
        /// End of the format's input range.
        limit: u64,
    },
    /// The output range reaches beyond the format's output-address width.
    #[error("pa range {pa:#x}+{size:#x} is beyond the {oa_bits}-bit output width")]
    PaOutOfRange {
        /// Output address given.
        pa: u64,
        /// Size given.
        size: u64,
        /// Output-address width.
        oa_bits: u8,
    },
    /// The permissions grant neither read nor write.
    #[error("permissions {0} grant neither read nor write")]
    BadProt(Prot),
    /// Part of the range is mapped already.
    #[error("iova {iova:#x} is already mapped")]
    AlreadyMapped {
        /// First mapped address found.
        iova: u64,
    },
    /// Nothing in the range is mapped.
    #[error("nothing is mapped in {iova:#x}+{size:#x}")]
    NotMapped {
        /// Input address given.
        iova: u64,
        /// Size given.
        size: u64,
    },
    /// The format does not record Dirty state in this configuration.
    #[error("this page-table configuration does not track dirty pages")]
    DirtyUnsupported,
    /// A dirty bitmap does not cover the range asked for.
    #[error("dirty bitmap does not cover {iova:#x}+{size:#x}")]
    BitmapRange {
        /// Input address given.
        iova: u64,
        /// Size given.
        size: u64,
    },
    /// A block kept changing under a split (hardware updating it without pause).
    #[error("a level-{level} block kept changing while it was being split")]
    Contended {
        /// Level of the block, counted from the root.
        level: usize,
    },
    /// The table's memory holds what the table did not write there (something else wrote
    /// an entry: a stray DMA, a misprogrammed unit): the operation stopped at the entry or
    /// table where it found that, leaving every page it did not make untouched.
    #[error("table memory at {addr:#x} was changed by something other than the table")]
    Corrupt {
        /// The entry or table found changed.
        addr: u64,
    },
    /// Table memory could not be read, written or allocated.
    #[error("table memory: {0}")]
    Mem(#[from] MemError),
}

impl PgError {
    /// The errno Linux's IOMMU API would return for this error.
    pub fn errno(&self) -> i32 {
        match self {
            PgError::BadConfig(_)
            | PgError::Unaligned { .. }
            | PgError::BadProt(_)
            | PgError::BitmapRange { .. } => libc::EINVAL,
            PgError::IovaOutOfRange { .. } | PgError::PaOutOfRange { .. } => libc::ERANGE,
            PgError::AlreadyMapped { .. } => libc::EEXIST,
            PgError::NotMapped { .. } => libc::ENOENT,
            PgError::DirtyUnsupported => libc::EOPNOTSUPP,
            PgError::Contended { .. } => libc::EBUSY,
            PgError::Corrupt { .. } => libc::EIO,
            PgError::Mem(e) => e.errno(),
        }
    }
}

/// The message of [`PgError::Unaligned`]: it names only the values that are not multiples of
/// the granule (an unmap's `pa` is 0, so it is never named).
fn unaligned_message(iova: u64, pa: u64, size: u64, granule: u64) -> String {
    let bad: Vec<String> = [("iova", iova), ("pa", pa), ("size", size)]
        .into_iter()
        .filter(|&(_, v)| granule != 0 && !v.is_multiple_of(granule))
        .map(|(name, v)| format!("{name} {v:#x}"))
        .collect();
    format!(
        "{} not aligned to the {granule:#x}-byte granule",
        match bad.as_slice() {
            [] => "an address or size".to_string(),
            [one] => format!("{one} is"),
            many => format!("{} are", many.join(", ")),
        }
    )
}

#[cfg(test)]
mod message_tests {
    use super::PgError;

    #[test]
    fn unaligned_names_only_what_is_unaligned() {
        let e = |iova, pa, size| {
            PgError::Unaligned {
                iova,
                pa,
                size,
                granule: 0x1000,
            }
            .to_string()
        };
        // An unmap: no output address, and an aligned one is never named.
        assert_eq!(
            e(0x1800, 0, 0x1000),
            "iova 0x1800 is not aligned to the 0x1000-byte granule"
        );
        assert_eq!(
            e(0x1000, 0x2800, 0x800),
            "pa 0x2800, size 0x800 are not aligned to the 0x1000-byte granule"
        );
    }
}
