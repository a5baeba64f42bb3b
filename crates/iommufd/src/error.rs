//! Errors as the kernel returns them: an errno, and what failed.

use std::fmt;

/// A Linux errno value, as an ioctl on `/dev/iommu` returns it (positive).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The errno's symbolic name (`"ENOENT"`), or `"E?"` for one this crate never returns.
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::EIO => "EIO",
            libc::E2BIG => "E2BIG",
            libc::EBADF => "EBADF",
            libc::ENOMEM => "ENOMEM",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EEXIST => "EEXIST",
            libc::ENODEV => "ENODEV",
            libc::EINVAL => "EINVAL",
            libc::ENOSPC => "ENOSPC",
            libc::ENOTTY => "ENOTTY",
            libc::ERANGE => "ERANGE",
            libc::EDEADLK => "EDEADLK",
            libc::EOVERFLOW => "EOVERFLOW",
            libc::EMSGSIZE => "EMSGSIZE",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::EADDRINUSE => "EADDRINUSE",
            libc::ETIMEDOUT => "ETIMEDOUT",
            libc::ENXIO => "ENXIO",
            libc::EBADE => "EBADE",
            libc::EBADFD => "EBADFD",
            libc::EMFILE => "EMFILE",
            _ => "E?",
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refused call: the errno the kernel would return, and which rule refused it.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {why}")]
pub struct Error {
    /// The errno of the call.
    pub errno: Errno,
    /// Which rule refused the call, for a person reading the error.
    pub why: &'static str,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.errno, self.why)
    }
}

impl Error {
    /// An error with `errno` (a `libc::E*` constant) because of `why`.
    pub const fn new(errno: i32, why: &'static str) -> Error {
        Error {
            errno: Errno(errno),
            why,
        }
    }

    /// The errno as an `i32`, as `ioctl(2)` would set it.
    pub fn errno(&self) -> i32 {
        self.errno.0
    }
}

impl From<softiommu_core::CoreError> for Error {
    fn from(e: softiommu_core::CoreError) -> Error {
        Error::new(e.errno(), "the IOMMU core refused the operation")
    }
}

/// The result of an iommufd call.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an `Err` with `errno` and `why`.
pub(crate) fn err<T>(errno: i32, why: &'static str) -> Result<T> {
    Err(Error::new(errno, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_errno_and_rule() {
        let e = Error::new(libc::ENOENT, "no such object");
        assert_eq!(e.errno(), 2);
        assert_eq!(e.to_string(), "ENOENT: no such object");
        assert_eq!(format!("{e:?}"), "ENOENT(2): no such object");
        assert_eq!(Errno(libc::EADDRINUSE).name(), "EADDRINUSE");
    }
}
