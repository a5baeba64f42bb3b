//! This process's own memory as a physical address space: a physical address is a host
//! virtual address, as it is for a user-space driver's buffers under iommufd.

use std::sync::atomic::AtomicU64;

use crate::arena::RamArena;
use crate::error::{MemError, Result};
use crate::space::AddressSpace;

/// Bytes a copy or fill moves per system call when it cannot go through the table arena.
const CHUNK: usize = 64 << 10;

/// Ranges up to this many pages are checked by touching each page; longer ones by asking the
/// kernel whether the whole range is mapped.
const PROBE_PAGES: u64 = 16;

/// The host page size this backend assumes for [`HostMemory::check_mapped`].
pub const HOST_PAGE: u64 = 4096;

/// This process's memory, addressed by host virtual address.
///
/// Two parts make it up:
/// - a private arena for the IOMMU's own tables and queues, reserved by this backend, whose
///   physical addresses are its host addresses; entries there are read and written in place,
///   atomically where the trait asks for it;
/// - everything else the process maps: the user's buffers. Accesses to them go through
///   a copy that turns a fault into an error, so an address the user has unmapped
///   (or never mapped) is an error, never a crash of the process.
///
/// Slices of atomic words ([`AddressSpace::words`]) are lent from the arena only. Single
/// words of the user's memory — a guest's own tables that a nested walk reads, and whose
/// Accessed and Dirty bits it sets — are one access each, atomic against the process's own
/// threads as hardware's are against the CPUs (a locked compare-exchange on x86-64), and a
/// fault on them is an error too.
///
/// ```
/// use softiommu_mem::{AddressSpace, HostMemory};
///
/// let mem = HostMemory::new(1 << 20)?;
/// let buf = vec![7u8; 64];
/// let mut back = [0u8; 4];
/// mem.read(buf.as_ptr() as u64, &mut back)?;
/// assert_eq!(back, [7; 4]);
/// // Page 0 is never mapped: an error, not a crash.
/// assert!(mem.read(0x10, &mut back).is_err());
/// # Ok::<(), softiommu_mem::MemError>(())
/// ```
#[derive(Debug)]
pub struct HostMemory {
    tables: RamArena,
}

impl HostMemory {
    /// This process's memory, with a private arena of `table_bytes` (4 KiB aligned) for tables.
    pub fn new(table_bytes: u64) -> Result<HostMemory> {
        Ok(HostMemory {
            tables: RamArena::at_host_address(table_bytes)?,
        })
    }

    /// The private table arena: `(base, size)`, base being a host address.
    pub fn table_range(&self) -> (u64, u64) {
        (self.tables.base(), self.tables.size())
    }

    /// Whether `[addr, addr + len)` touches the private table arena.
    pub fn is_private(&self, addr: u64, len: u64) -> bool {
        let (base, size) = self.table_range();
        let end = addr.saturating_add(len);
        addr < base + size && end > base
    }

    /// Checks that every page of `[addr, addr + len)` is mapped in this process (what pinning
    /// a user buffer needs), and that none of it is the private table arena.
    pub fn check_mapped(&self, addr: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let fault = MemError::OutOfRange { addr, len };
        let end = addr.checked_add(len).ok_or(fault)?;
        if self.is_private(addr, len) {
            return Err(fault);
        }
        let start = addr & !(HOST_PAGE - 1);
        let end = end.checked_next_multiple_of(HOST_PAGE).ok_or(fault)?;
        let pages = (end - start) / HOST_PAGE;
        if pages <= PROBE_PAGES {
            // Touch a byte of each page, as pinning faults each page in.
            let mut b = [0u8; 1];
            for p in 0..pages {
                self.transfer(start + p * HOST_PAGE, b.as_mut_ptr(), 1, false)?;
            }
            return Ok(());
        }
        let bytes = usize::try_from(end - start).map_err(|_| fault)?;
        // SAFETY: msync with MS_ASYNC only checks that the range is mapped (ENOMEM where it
        // is not) and schedules nothing for anonymous memory; the address is page aligned.
        let rc = unsafe { libc::msync(start as *mut libc::c_void, bytes, libc::MS_ASYNC) };
        if rc == 0 { Ok(()) } else { Err(fault) }
    }

    /// Copies between the caller's slice and this process's memory at `addr`, through the
    /// kernel, so that an unmapped address is an error.
    fn transfer(&self, addr: u64, local: *mut u8, len: usize, write: bool) -> Result<()> {
        let fault = MemError::OutOfRange {
            addr,
            len: len as u64,
        };
        if len == 0 {
            return Ok(());
        }
        if addr.checked_add(len as u64).is_none() {
            return Err(fault);
        }
        let (dst, src) = if write {
            (addr, local as u64)
        } else {
            (local as u64, addr)
        };
        // SAFETY: a fault on either side ends the copy with the bytes left; `local` is a live
        // buffer of `len` bytes of the caller's, and no reference to the destination is held
        // across the call.
        let left = unsafe { crate::user::copy(dst, src, len) };
        if left == 0 { Ok(()) } else { Err(fault) }
    }

    fn in_tables(&self, addr: u64, len: u64) -> bool {
        let (base, size) = self.table_range();
        addr >= base && addr.checked_add(len).is_some_and(|e| e <= base + size)
    }
}

impl HostMemory {
    /// Checks a word of user memory: aligned, and not the private arena.
    fn user_word(&self, pa: u64) -> Result<()> {
        if !pa.is_multiple_of(8) {
            return Err(MemError::Unaligned { addr: pa, align: 8 });
        }
        if self.is_private(pa, 8) {
            return Err(MemError::OutOfRange { addr: pa, len: 8 });
        }
        Ok(())
    }
}

impl AddressSpace for HostMemory {
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
        self.tables.words(pa, count)
    }

    fn load_u64(&self, pa: u64) -> Result<u64> {
        if self.in_tables(pa, 8) {
            return self.tables.load_u64(pa);
        }
        self.user_word(pa)?;
        // SAFETY: an aligned word; a fault is an error.
        unsafe { crate::user::load(pa) }.ok_or(MemError::OutOfRange { addr: pa, len: 8 })
    }

    fn store_u64(&self, pa: u64, value: u64) -> Result<()> {
        if self.in_tables(pa, 8) {
            return self.tables.store_u64(pa, value);
        }
        self.user_word(pa)?;
        // SAFETY: an aligned word no reference of ours covers; a fault is an error.
        if unsafe { crate::user::store(pa, value) } {
            Ok(())
        } else {
            Err(MemError::OutOfRange { addr: pa, len: 8 })
        }
    }

    fn cmpxchg_u64(
        &self,
        pa: u64,
        current: u64,
        new: u64,
    ) -> Result<std::result::Result<u64, u64>> {
        if self.in_tables(pa, 8) {
            return self.tables.cmpxchg_u64(pa, current, new);
        }
        self.user_word(pa)?;
        // SAFETY: as for a store.
        unsafe { crate::user::cmpxchg(pa, current, new) }
            .ok_or(MemError::OutOfRange { addr: pa, len: 8 })
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
        if self.in_tables(pa, buf.len() as u64) {
            return self.tables.read(pa, buf);
        }
        self.transfer(pa, buf.as_mut_ptr(), buf.len(), false)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
        if self.in_tables(pa, buf.len() as u64) {
            return self.tables.write(pa, buf);
        }
        // The kernel only reads `buf` for a write.
        self.transfer(pa, buf.as_ptr().cast_mut(), buf.len(), true)
    }

    fn fill(&self, pa: u64, len: u64, byte: u8) -> Result<()> {
        if self.in_tables(pa, len) {
            return self.tables.fill(pa, len, byte);
        }
        let chunk = vec![byte; CHUNK.min(len as usize)];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            self.write(pa + done, &chunk[..n])
                .map_err(|_| MemError::OutOfRange { addr: pa, len })?;
            done += n as u64;
        }
        Ok(())
    }

    fn copy(&self, src: u64, dst: u64, len: u64) -> Result<()> {
        if self.in_tables(src, len) && self.in_tables(dst, len) {
            return self.tables.copy(src, dst, len);
        }
        let mut bounce = vec![0u8; CHUNK.min(len as usize)];
        let mut done = 0u64;
        // Chunks in the direction that keeps an overlapping copy correct.
        let backwards = dst > src && dst < src.saturating_add(len);
        while done < len {
            let n = (len - done).min(CHUNK as u64);
            let off = if backwards { len - done - n } else { done };
            let buf = &mut bounce[..n as usize];
            self.read(src + off, buf)?;
            self.write(dst + off, buf)?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_memory_reads_and_writes_in_place() {
        let mem = HostMemory::new(1 << 20).unwrap();
        let mut buf = vec![0u8; 10000];
        let at = buf.as_mut_ptr() as u64;
        mem.write(at + 5, b"hello").unwrap();
        mem.fill(at + 100, 9000, 0xab).unwrap();
        mem.copy(at + 5, at + 9500, 5).unwrap();
        assert_eq!(&buf[5..10], b"hello");
        assert!(buf[100..9100].iter().all(|&b| b == 0xab));
        assert_eq!(&buf[9500..9505], b"hello");
    }

    #[test]
    fn overlapping_copies_move_like_memmove() {
        let mem = HostMemory::new(1 << 20).unwrap();
        let mut buf: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let want: Vec<u8> = buf[..150_000].to_vec();
        let at = buf.as_mut_ptr() as u64;
        mem.copy(at, at + 50_000, 150_000).unwrap();
        assert_eq!(&buf[50_000..], &want[..]);
    }

    #[test]
    fn unmapped_memory_is_an_error_not_a_crash() {
        let mem = HostMemory::new(1 << 20).unwrap();
        let mut b = [0u8; 8];
        assert!(mem.read(0, &mut b).is_err());
        assert!(mem.write(0x1000, &b).is_err());
        assert!(mem.read(u64::MAX - 3, &mut b).is_err());
        assert!(mem.check_mapped(0x1000, 0x1000).is_err());
        assert!(
            mem.words(b.as_ptr() as u64 & !7, 1).is_err(),
            "atomic runs: tables only"
        );
        let v = vec![0u8; 8192];
        assert!(mem.check_mapped(v.as_ptr() as u64, 8192).is_ok());
    }

    #[test]
    fn single_words_of_user_memory_load_store_and_compare_exchange() {
        let mem = HostMemory::new(1 << 20).unwrap();
        let mut buf = vec![0u64; 4];
        let at = buf.as_mut_ptr() as u64 + 8;
        mem.store_u64(at, 0x1234).unwrap();
        assert_eq!(mem.load_u64(at).unwrap(), 0x1234);
        assert_eq!(mem.cmpxchg_u64(at, 1, 2).unwrap(), Err(0x1234));
        assert_eq!(mem.cmpxchg_u64(at, 0x1234, 7).unwrap(), Ok(0x1234));
        assert_eq!(mem.load_u64(at).unwrap(), 7);
        assert!(mem.load_u64(at + 1).is_err());
        assert!(
            mem.words(at, 1).is_err(),
            "no atomic runs outside the arena"
        );
        assert!(mem.load_u64(0x10).is_err());
        drop(buf);
    }

    #[test]
    fn the_table_arena_is_atomic_and_not_user_memory() {
        let mem = HostMemory::new(1 << 20).unwrap();
        let (base, size) = mem.table_range();
        assert_eq!(size, 1 << 20);
        mem.store_u64(base + 8, 0x1234).unwrap();
        assert_eq!(mem.load_u64(base + 8).unwrap(), 0x1234);
        let mut b = [0u8; 2];
        mem.read(base + 8, &mut b).unwrap();
        assert_eq!(b, [0x34, 0x12]);
        assert!(mem.is_private(base + size - 1, 4));
        assert!(mem.check_mapped(base, 4096).is_err());
    }
}
