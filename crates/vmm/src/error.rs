//! The errors of the VMM layer.

/// Why a VMM-side operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The guest's RAM could not be made (bad ranges, or the host refused the memory).
    #[error("guest RAM: {0}")]
    Ram(String),
    /// The iommufd layer refused a call.
    #[error("iommufd: {0}")]
    Iommufd(#[from] softiommu_iommufd::Error),
    /// The IOMMU core (the guest kernel's) refused a call.
    #[error("guest IOMMU core: {0}")]
    Core(#[from] softiommu_core::CoreError),
    /// A physical-memory access failed.
    #[error("memory: {0}")]
    Mem(#[from] softiommu_mem::MemError),
    /// A vIOMMU unit could not be made or brought up.
    #[error("vIOMMU: {0}")]
    Viommu(String),
    /// The host could not be built (its IOMMU, devices or drivers).
    #[error("host: {0}")]
    Host(String),
    /// The assigned device did not do what its driver asked.
    #[error("device: {0}")]
    Device(String),
    /// The seed's matrix has no such cell and mechanism.
    #[error("not in the matrix: {0}")]
    NotInMatrix(String),
}

impl Error {
    /// The errno Linux would return for the same refusal.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Iommufd(e) => e.errno(),
            Error::Core(e) => e.errno(),
            Error::Ram(_) | Error::Mem(_) => libc::EINVAL,
            Error::Viommu(_) | Error::Host(_) => libc::ENODEV,
            Error::Device(_) => libc::EIO,
            Error::NotInMatrix(_) => libc::EINVAL,
        }
    }
}

/// The result of a VMM-side operation.
pub type Result<T> = std::result::Result<T, Error>;
