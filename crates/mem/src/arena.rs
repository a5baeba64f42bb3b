//! A RAM arena: a large reservation of anonymous host memory, populated lazily.

use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use crate::error::{MemError, Result};
use crate::space::AddressSpace;

/// Physical RAM backed by one anonymous host mapping.
///
/// The arena covers `[base, base + size)`. The host reserves the range without committing it, so
/// a 64 GiB arena costs only the pages that are touched; untouched memory reads as zero.
///
/// ```
/// use softiommu_mem::{AddressSpace, MemError, RamArena};
///
/// // 64 GiB of RAM from physical address 4 GiB.
/// let ram = RamArena::new(4 << 30, 64 << 30)?;
/// ram.write(0x1_2345_6000, b"dma")?;
/// let mut buf = [0; 3];
/// ram.read(0x1_2345_6000, &mut buf)?;
/// assert_eq!(&buf, b"dma");
///
/// // 64-bit entries are read and written atomically; untouched memory reads as zero.
/// ram.store_u64(0x1_0000_0008, 0x8000_0003)?;
/// assert_eq!(ram.load_u64(0x1_0000_0008)?, 0x8000_0003);
/// assert_eq!(ram.load_u64(0x2_0000_0000)?, 0);
///
/// // An address outside the arena is an error, never a panic.
/// assert!(matches!(ram.load_u64(0x1000), Err(MemError::OutOfRange { .. })));
/// # Ok::<(), MemError>(())
/// ```
#[derive(Debug)]
pub struct RamArena {
    base: u64,
    size: u64,
    host: NonNull<u8>,
}

// SAFETY: the arena owns its mapping for its whole life and only hands out shared views whose
// concurrent use goes through atomics or byte copies, like DMA into RAM.
unsafe impl Send for RamArena {}
// SAFETY: as above; no method takes interior state other than the mapping itself.
unsafe impl Sync for RamArena {}

impl RamArena {
    /// Reserves an arena of `size` bytes whose first byte has physical address `base`.
    ///
    /// `base` and `size` must be 4 KiB aligned, and `size` must not be zero.
    pub fn new(base: u64, size: u64) -> Result<Self> {
        if !base.is_multiple_of(4096) || !size.is_multiple_of(4096) {
            return Err(MemError::Unaligned {
                addr: base | size,
                align: 4096,
            });
        }
        if size == 0 || base.checked_add(size).is_none() || usize::try_from(size).is_err() {
            return Err(MemError::OutOfRange {
                addr: base,
                len: size,
            });
        }
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing; no
        // existing memory is touched. The result is checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(MemError::HostMap { size, errno });
        }
        let host = NonNull::new(ptr.cast::<u8>()).ok_or(MemError::HostMap { size, errno: 0 })?;
        Ok(Self { base, size, host })
    }

    /// Reserves an arena of `size` bytes whose physical addresses are its own host virtual
    /// addresses: the table memory of an address space where a physical address is a host
    /// address ([`HostMemory`](crate::HostMemory)).
    pub fn at_host_address(size: u64) -> Result<Self> {
        let mut arena = Self::new(0, size)?;
        arena.base = arena.host.as_ptr() as u64;
        Ok(arena)
    }

    /// Asks the host to back the arena with transparent huge pages where it can: fewer TLB
    /// misses for walks and DMA over large memory, at the cost of populating 2 MiB at a time.
    pub fn advise_huge_pages(&self) -> Result<()> {
        // SAFETY: the range is exactly this arena's own mapping; advice does not change its
        // contents or validity.
        let rc = unsafe {
            libc::madvise(
                self.host.as_ptr().cast(),
                self.size as usize,
                libc::MADV_HUGEPAGE,
            )
        };
        if rc != 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(MemError::HostMap {
                size: self.size,
                errno,
            });
        }
        Ok(())
    }

    /// Physical address of the first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Offset of `[pa, pa + len)` inside the arena, or the error naming the range.
    #[inline(always)]
    fn offset(&self, pa: u64, len: u64) -> Result<usize> {
        let off = pa.wrapping_sub(self.base);
        if off < self.size && len <= self.size - off {
            Ok(off as usize)
        } else {
            Err(MemError::OutOfRange { addr: pa, len })
        }
    }
}

impl Drop for RamArena {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with this pointer and size, and no view of it
        // can outlive `self`.
        unsafe {
            libc::munmap(self.host.as_ptr().cast(), self.size as usize);
        }
    }
}

impl AddressSpace for RamArena {
    #[inline(always)]
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
        if !pa.is_multiple_of(8) {
            return Err(MemError::Unaligned { addr: pa, align: 8 });
        }
        let len = (count as u64).checked_mul(8).ok_or(MemError::OutOfRange {
            addr: pa,
            len: u64::MAX,
        })?;
        let off = self.offset(pa, len)?;
        // SAFETY: the range is inside the live mapping (checked above), 8-byte aligned (the
        // mapping is page aligned and `pa` is checked), and AtomicU64 accepts any bit pattern.
        Ok(unsafe {
            std::slice::from_raw_parts(self.host.as_ptr().add(off).cast::<AtomicU64>(), count)
        })
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
        let off = self.offset(pa, buf.len() as u64)?;
        // SAFETY: the source range is inside the mapping; `buf` is a distinct Rust allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(self.host.as_ptr().add(off), buf.as_mut_ptr(), buf.len());
        }
        Ok(())
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
        let off = self.offset(pa, buf.len() as u64)?;
        // SAFETY: the destination range is inside the mapping; `buf` is a distinct allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(buf.as_ptr(), self.host.as_ptr().add(off), buf.len());
        }
        Ok(())
    }

    fn copy(&self, src: u64, dst: u64, len: u64) -> Result<()> {
        let from = self.offset(src, len)?;
        let to = self.offset(dst, len)?;
        // SAFETY: both ranges are inside the mapping (checked above); `copy` allows overlap.
        unsafe {
            let host = self.host.as_ptr();
            std::ptr::copy(host.add(from), host.add(to), len as usize);
        }
        Ok(())
    }

    fn fill(&self, pa: u64, len: u64, byte: u8) -> Result<()> {
        let off = self.offset(pa, len)?;
        // SAFETY: the range is inside the mapping (checked above).
        unsafe {
            std::ptr::write_bytes(self.host.as_ptr().add(off), byte, len as usize);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_reservation_is_lazy_and_reads_zero() {
        let arena = RamArena::new(0x1_0000_0000, 64 << 30).expect("64 GiB reservation");
        assert_eq!(arena.load_u64(0x1_0000_0000 + (63 << 30)).unwrap(), 0);
        arena.store_u64(0x1_0000_0008, 0xdead_beef).unwrap();
        assert_eq!(arena.load_u64(0x1_0000_0008).unwrap(), 0xdead_beef);
    }

    #[test]
    fn huge_page_advice_keeps_contents() {
        let arena = RamArena::new(0, 8 << 20).unwrap();
        arena.store_u64(0x20_0008, 42).unwrap();
        // Hosts without transparent huge pages refuse the advice; that is not an error here.
        let _ = arena.advise_huge_pages();
        assert_eq!(arena.load_u64(0x20_0008).unwrap(), 42);
    }

    #[test]
    fn accesses_outside_or_misaligned_fail() {
        let arena = RamArena::new(0x10000, 0x10000).unwrap();
        assert_eq!(
            arena.load_u64(0x0),
            Err(MemError::OutOfRange { addr: 0, len: 8 })
        );
        assert_eq!(
            arena.load_u64(0x20000),
            Err(MemError::OutOfRange {
                addr: 0x20000,
                len: 8
            })
        );
        assert_eq!(
            arena.load_u64(0x10004),
            Err(MemError::Unaligned {
                addr: 0x10004,
                align: 8
            })
        );
        let mut buf = [0u8; 16];
        assert!(arena.read(0x1fff8, &mut buf).is_err());
        assert!(arena.write(u64::MAX - 3, &buf).is_err());
        assert!(arena.words(0x10000, usize::MAX / 4).is_err());
        assert!(RamArena::new(0x123, 0x1000).is_err());
        assert!(RamArena::new(0, 0).is_err());
    }

    #[test]
    fn copy_moves_bytes_and_refuses_ranges_outside() {
        let a = RamArena::new(0x1000, 0x3000).unwrap();
        let data: Vec<u8> = (0..0x1800u32).map(|i| (i * 7) as u8).collect();
        a.write(0x1100, &data).unwrap();
        a.copy(0x1100, 0x2800, 0x1800).unwrap();
        let mut back = vec![0u8; 0x1800];
        a.read(0x2800, &mut back).unwrap();
        assert_eq!(back, data);
        assert!(a.copy(0x1000, 0x3800, 0x1000).is_err());
        assert!(a.copy(0x3800, 0x1000, 0x1000).is_err());
        let mut head = [0u8; 16];
        a.read(0x1000, &mut head).unwrap();
        assert_eq!(head, [0u8; 16], "a refused copy writes nothing");
    }

    #[test]
    fn bytes_and_words_agree_little_endian() {
        let arena = RamArena::new(0, 0x2000).unwrap();
        arena
            .write(0x100, &0x0102_0304_0506_0708u64.to_le_bytes())
            .unwrap();
        assert_eq!(arena.load_u64(0x100).unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(
            arena.cmpxchg_u64(0x100, 1, 2).unwrap(),
            Err(0x0102_0304_0506_0708)
        );
        assert_eq!(
            arena.cmpxchg_u64(0x100, 0x0102_0304_0506_0708, 2).unwrap(),
            Ok(0x0102_0304_0506_0708)
        );
        arena.fill(0x1000, 0x1000, 0xab).unwrap();
        let mut b = [0u8; 4];
        arena.read(0x1ffc, &mut b).unwrap();
        assert_eq!(b, [0xab; 4]);
    }

    #[test]
    fn concurrent_cmpxchg_is_atomic() {
        let arena = RamArena::new(0, 0x1000).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        loop {
                            let v = arena.load_u64(0x40).unwrap();
                            if arena.cmpxchg_u64(0x40, v, v + 1).unwrap().is_ok() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(arena.load_u64(0x40).unwrap(), 40_000);
    }
}
