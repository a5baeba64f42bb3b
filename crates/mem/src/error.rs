//! The error every address-space access can return.

use thiserror::Error;

/// Why an access to a physical address space failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MemError {
    /// Part of `[addr, addr + len)` is not backed by the address space.
    #[error("physical range {addr:#x}+{len:#x} is outside the backed address space")]
    OutOfRange {
        /// First byte of the access.
        addr: u64,
        /// Length of the access in bytes.
        len: u64,
    },
    /// An access that must be naturally aligned was not.
    #[error("physical address {addr:#x} is not aligned to {align} bytes")]
    Unaligned {
        /// Address of the access.
        addr: u64,
        /// Alignment the access needed.
        align: u64,
    },
    /// The allocator has no free block of the requested size.
    #[error("page allocator exhausted: no free block of {size:#x} bytes")]
    Exhausted {
        /// Size of the block that was asked for.
        size: u64,
    },
    /// The allocator was given a size it does not hand out.
    #[error("page allocator cannot hand out blocks of {size:#x} bytes")]
    BadSize {
        /// The size that was asked for.
        size: u64,
    },
    /// A block given back to the allocator was not one it had handed out.
    #[error("block {addr:#x} of {size:#x} bytes was not allocated by this allocator")]
    NotAllocated {
        /// Address of the block.
        addr: u64,
        /// Size the caller gave for it.
        size: u64,
    },
    /// The host refused to reserve memory for an arena.
    #[error("host mapping of {size:#x} bytes failed: errno {errno}")]
    HostMap {
        /// Size of the reservation.
        size: u64,
        /// The host's errno.
        errno: i32,
    },
}

impl MemError {
    /// The errno a system call would return for this error.
    pub fn errno(&self) -> i32 {
        match self {
            MemError::OutOfRange { .. } => libc::EFAULT,
            MemError::Unaligned { .. } | MemError::BadSize { .. } => libc::EINVAL,
            MemError::NotAllocated { .. } => libc::EINVAL,
            MemError::Exhausted { .. } | MemError::HostMap { .. } => libc::ENOMEM,
        }
    }
}

/// Result of an address-space access.
pub type Result<T> = std::result::Result<T, MemError>;
