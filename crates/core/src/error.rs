//! The errors of the core's calls.

use softiommu_mem::MemError;
use softiommu_pgtable::PgError;
use thiserror::Error;

use crate::ids::{DeviceId, DomainId, GroupId, InstanceId, Pasid};

/// Why a call to the core was refused. A refused call changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// No such instance.
    #[error("{0} does not exist")]
    NoInstance(InstanceId),
    /// No such device.
    #[error("{0} does not exist")]
    NoDevice(DeviceId),
    /// No such group.
    #[error("{0} does not exist")]
    NoGroup(GroupId),
    /// No such domain.
    #[error("{0} does not exist")]
    NoDomain(DomainId),
    /// The device or instance lacks a capability the call needs.
    #[error("not supported: {0}")]
    NotSupported(&'static str),
    /// The argument is not acceptable (a PASID outside the device's width, a bad topology...).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// The instance cannot use this domain (another family, format or width).
    #[error("{instance} cannot use {domain}: {why}")]
    Incompatible {
        /// The instance that refused.
        instance: InstanceId,
        /// The domain it refused.
        domain: DomainId,
        /// What does not fit.
        why: &'static str,
    },
    /// The target is in use: already attached, owned by another user, or claimed by a nested
    /// domain.
    #[error("busy: {0}")]
    Busy(&'static str),
    /// Nothing is attached there.
    #[error("{device} has nothing attached at {pasid:?}")]
    NotAttached {
        /// The device.
        device: DeviceId,
        /// The PASID, or `None` for the RID.
        pasid: Option<Pasid>,
    },
    /// The PASID space (or a device's) is exhausted.
    #[error("no free PASID")]
    NoPasid,
    /// An instance ran out of a resource the call needs (domain IDs...).
    #[error("exhausted: {0}")]
    Exhausted(&'static str),
    /// A page-table operation was refused.
    #[error(transparent)]
    Table(#[from] PgError),
    /// Memory for a table could not be had.
    #[error(transparent)]
    Mem(#[from] MemError),
    /// The driver refused the operation (its hardware said no).
    #[error("driver: {0}")]
    Driver(String),
    /// The hardware misbehaved: it did not finish something within the driver's bound, or
    /// reported a value no conforming unit reports.
    #[error("hardware: {0}")]
    Hardware(HwError),
}

/// How hardware failed a driver.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HwError {
    /// `what` (a completion, an acknowledgement, an error bit clearing) did not happen within
    /// `polls` reads of the register or memory word that reports it.
    #[error("{what} did not happen within {polls} polls")]
    Timeout {
        /// What the driver waited for.
        what: &'static str,
        /// How many times it looked.
        polls: u32,
    },
    /// Register `register` read `value`, which the specification does not allow (a reserved
    /// encoding, a value out of range, or one contradicting another register).
    #[error("{register} reads {value:#x}: {why}")]
    BadRegister {
        /// The register's name.
        register: &'static str,
        /// What was read.
        value: u64,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl CoreError {
    /// The errno Linux would return.
    pub fn errno(&self) -> i32 {
        match self {
            CoreError::NoInstance(_)
            | CoreError::NoDevice(_)
            | CoreError::NoGroup(_)
            | CoreError::NoDomain(_) => libc::ENODEV,
            CoreError::NotSupported(_) => libc::EOPNOTSUPP,
            CoreError::Invalid(_) | CoreError::Incompatible { .. } => libc::EINVAL,
            CoreError::Busy(_) => libc::EBUSY,
            CoreError::NotAttached { .. } => libc::ENOENT,
            CoreError::NoPasid | CoreError::Exhausted(_) => libc::ENOSPC,
            CoreError::Table(e) => e.errno(),
            CoreError::Mem(e) => e.errno(),
            CoreError::Driver(_) => libc::EIO,
            CoreError::Hardware(HwError::Timeout { .. }) => libc::ETIMEDOUT,
            CoreError::Hardware(HwError::BadRegister { .. }) => libc::ENXIO,
        }
    }
}

/// Result of a core call.
pub type Result<T> = std::result::Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_errors_have_linux_errnos_and_say_what_failed() {
        let t = CoreError::Hardware(HwError::Timeout {
            what: "CMD_SYNC completion",
            polls: 7,
        });
        assert_eq!(t.errno(), libc::ETIMEDOUT);
        assert_eq!(
            t.to_string(),
            "hardware: CMD_SYNC completion did not happen within 7 polls"
        );
        let b = CoreError::Hardware(HwError::BadRegister {
            register: "CAP",
            value: 7,
            why: "ND 7 is reserved",
        });
        assert_eq!(b.errno(), libc::ENXIO);
        assert_eq!(b.to_string(), "hardware: CAP reads 0x7: ND 7 is reserved");
    }
}
