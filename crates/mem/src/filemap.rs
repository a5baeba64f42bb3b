//! A shared mapping of part of a file (a memfd), owned by this process: memory that stays
//! valid for DMA whatever the user later does with its own mappings of the file.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::error::{MemError, Result};

/// `[offset, offset + len)` of a file mapped shared into this process, page aligned, with a
/// duplicate of the file descriptor kept so the file lives as long as the mapping.
#[derive(Debug)]
pub struct FileMapping {
    addr: u64,
    len: u64,
    file: OwnedFd,
}

impl FileMapping {
    /// Maps `len` bytes of `fd` from `offset` (both multiples of 4 KiB), readable and, when
    /// `writable`, writable. Fails with the host's errno in [`MemError::HostMap`].
    pub fn new(fd: BorrowedFd<'_>, offset: u64, len: u64, writable: bool) -> Result<FileMapping> {
        let bad = MemError::OutOfRange { addr: offset, len };
        if len == 0 || !offset.is_multiple_of(4096) || !len.is_multiple_of(4096) {
            return Err(bad);
        }
        let size = usize::try_from(len).map_err(|_| bad)?;
        let off = libc::off_t::try_from(offset).map_err(|_| bad)?;
        let file = fd.try_clone_to_owned().map_err(|e| MemError::HostMap {
            size: len,
            errno: e.raw_os_error().unwrap_or(0),
        })?;
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        // SAFETY: a new shared mapping at an address of the kernel's choosing; no existing
        // memory is touched. The result is checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(MemError::HostMap { size: len, errno });
        }
        Ok(FileMapping {
            addr: ptr as u64,
            len,
            file,
        })
    }

    /// The host address of the first byte mapped.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// The bytes mapped.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is mapped (never: a mapping has at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's current size in bytes: pages of the mapping past it cannot be used.
    pub fn file_size(&self) -> Result<u64> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: fstat writes one `struct stat` into the buffer, which has room for it.
        let rc = unsafe { libc::fstat(self.file.as_raw_fd(), st.as_mut_ptr()) };
        if rc != 0 {
            return Err(MemError::OutOfRange { addr: 0, len: 0 });
        }
        // SAFETY: fstat succeeded, so it filled the whole structure.
        let st = unsafe { st.assume_init() };
        Ok(u64::try_from(st.st_size).unwrap_or(0))
    }
}

impl Drop for FileMapping {
    fn drop(&mut self) {
        // SAFETY: the range is exactly the mapping made in `new`, which nothing else owns.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.len as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AddressSpace, HostMemory};
    use std::os::fd::{AsFd, FromRawFd};

    fn memfd(len: i64) -> OwnedFd {
        // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
        let fd = unsafe { libc::memfd_create(c"filemap-test".as_ptr(), 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` is a new descriptor this test owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate on a descriptor we own.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }, 0);
        fd
    }

    #[test]
    fn a_file_mapping_outlives_the_descriptor_it_came_from() {
        let fd = memfd(16384);
        let m = FileMapping::new(fd.as_fd(), 4096, 8192, true).unwrap();
        drop(fd);
        let mem = HostMemory::new(1 << 16).unwrap();
        mem.write(m.addr() + 10, b"abc").unwrap();
        let mut b = [0u8; 3];
        mem.read(m.addr() + 10, &mut b).unwrap();
        assert_eq!(&b, b"abc");
        assert_eq!(m.file_size().unwrap(), 16384);
        assert_eq!(m.len(), 8192);
    }

    #[test]
    fn misaligned_or_empty_ranges_are_refused() {
        let fd = memfd(8192);
        assert!(FileMapping::new(fd.as_fd(), 1, 4096, false).is_err());
        assert!(FileMapping::new(fd.as_fd(), 0, 0, false).is_err());
        assert!(FileMapping::new(fd.as_fd(), 0, 100, false).is_err());
    }
}
