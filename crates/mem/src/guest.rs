//! An adapter that makes a VMM's rust-vmm guest memory a physical address space.

use std::sync::atomic::AtomicU64;

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryError};

use crate::error::{MemError, Result};
use crate::space::AddressSpace;

/// A rust-vmm [`GuestMemoryBackend`] (for example `GuestMemoryMmap`) seen as physical memory:
/// guest-physical addresses are this address space's physical addresses.
///
/// The backing regions must be host mappings that stay in place while the adapter lives, as
/// `GuestMemoryMmap`'s do; 64-bit atomics then act directly on the guest's RAM.
#[derive(Debug, Clone)]
pub struct GuestRam<M> {
    mem: M,
}

impl<M: GuestMemoryBackend> GuestRam<M> {
    /// Wraps `mem`.
    pub fn new(mem: M) -> Self {
        Self { mem }
    }

    /// The wrapped guest memory.
    pub fn inner(&self) -> &M {
        &self.mem
    }

    /// Fails unless all of `[pa, pa + len)` is backed (one region or adjacent ones).
    fn whole(&self, pa: u64, len: u64) -> Result<()> {
        let whole = MemError::OutOfRange { addr: pa, len };
        let n = usize::try_from(len).map_err(|_| whole)?;
        if pa.checked_add(len).is_some() && self.mem.check_range(GuestAddress(pa), n) {
            Ok(())
        } else {
            Err(whole)
        }
    }

    /// An empty access succeeds where a one-byte access would, as on every address space
    /// (vm-memory itself accepts an empty access anywhere).
    fn backed(&self, pa: u64) -> Result<()> {
        if self.mem.address_in_range(GuestAddress(pa)) {
            Ok(())
        } else {
            Err(MemError::OutOfRange { addr: pa, len: 0 })
        }
    }
}

fn range_error(pa: u64, len: usize) -> impl Fn(GuestMemoryError) -> MemError {
    move |_| MemError::OutOfRange {
        addr: pa,
        len: len as u64,
    }
}

impl<M> AddressSpace for GuestRam<M>
where
    M: GuestMemoryBackend + Send + Sync,
{
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
        if !pa.is_multiple_of(8) {
            return Err(MemError::Unaligned { addr: pa, align: 8 });
        }
        let len = count.checked_mul(8).ok_or(MemError::OutOfRange {
            addr: pa,
            len: u64::MAX,
        })?;
        let slice = self
            .mem
            .get_slice(GuestAddress(pa), len)
            .map_err(range_error(pa, len))?;
        if slice.len() != len {
            return Err(MemError::OutOfRange {
                addr: pa,
                len: len as u64,
            });
        }
        let host = slice.ptr_guard().as_ptr();
        if !(host as usize).is_multiple_of(8) {
            return Err(MemError::Unaligned { addr: pa, align: 8 });
        }
        // SAFETY: `get_slice` returned `len` bytes of one region's host mapping, which lives as
        // long as `self.mem` (regions are immutable while the backend lives); the pointer is
        // 8-byte aligned (checked) and AtomicU64 accepts every bit pattern.
        Ok(unsafe { std::slice::from_raw_parts(host.cast::<AtomicU64>(), count) })
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        if len == 0 {
            return self.backed(pa);
        }
        self.mem
            .read_slice(buf, GuestAddress(pa))
            .map_err(range_error(pa, len))
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
        if buf.is_empty() {
            return self.backed(pa);
        }
        // vm-memory writes what fits before it reports a hole: a write that fails must change
        // nothing, so the whole range is checked first.
        self.whole(pa, buf.len() as u64)?;
        self.mem
            .write_slice(buf, GuestAddress(pa))
            .map_err(range_error(pa, buf.len()))
    }

    fn fill(&self, pa: u64, len: u64, byte: u8) -> Result<()> {
        if len == 0 {
            return self.backed(pa);
        }
        self.whole(pa, len)?;
        let block = [byte; 4096];
        let mut at = pa;
        let end = pa + len;
        while at < end {
            let n = (end - at).min(block.len() as u64) as usize;
            self.write(at, &block[..n])?;
            at += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    fn two_regions() -> GuestRam<GuestMemoryMmap<()>> {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(0), 0x10000),
            (GuestAddress(0x100000), 0x10000),
        ])
        .unwrap();
        GuestRam::new(mem)
    }

    #[test]
    fn words_and_bytes_reach_guest_ram() {
        let ram = two_regions();
        ram.store_u64(0x100008, 0x1122_3344_5566_7788).unwrap();
        let mut b = [0u8; 8];
        ram.read(0x100008, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x1122_3344_5566_7788);
        assert_eq!(
            ram.cmpxchg_u64(0x100008, 0x1122_3344_5566_7788, 7).unwrap(),
            Ok(0x1122_3344_5566_7788)
        );
        assert_eq!(ram.load_u64(0x100008).unwrap(), 7);
        // The value reached the guest memory itself.
        let v: u64 = ram.inner().read_obj(GuestAddress(0x100008)).unwrap();
        assert_eq!(v, 7);
    }

    #[test]
    fn holes_and_misalignment_are_errors() {
        let ram = two_regions();
        assert!(matches!(
            ram.load_u64(0x20000),
            Err(MemError::OutOfRange { .. })
        ));
        assert!(matches!(ram.load_u64(0x4), Err(MemError::Unaligned { .. })));
        // A run that would cross out of the region is refused.
        assert!(ram.words(0xfff8, 2).is_err());
        let mut buf = [0u8; 32];
        assert!(ram.read(0xfff0, &mut buf).is_err());
        assert!(ram.write(0x50000, &buf).is_err());
        ram.fill(0x100, 0x40, 0x5a).unwrap();
        ram.read(0x100, &mut buf).unwrap();
        assert_eq!(buf, [0x5a; 32]);
    }

    #[test]
    fn a_write_or_fill_past_a_region_changes_nothing() {
        let ram = two_regions();
        // From the last 16 bytes of the first region into the hole after it.
        assert!(matches!(
            ram.write(0xfff0, &[0xee; 0x40]),
            Err(MemError::OutOfRange {
                addr: 0xfff0,
                len: 0x40
            })
        ));
        assert!(matches!(
            ram.fill(0xfff0, 0x40, 0xee),
            Err(MemError::OutOfRange {
                addr: 0xfff0,
                len: 0x40
            })
        ));
        // A fill longer than one chunk whose end runs out of the region.
        assert!(ram.fill(0x100000, 0x20000, 0xee).is_err());
        let mut b = [1u8; 16];
        ram.read(0xfff0, &mut b).unwrap();
        assert_eq!(b, [0; 16], "the end of the first region");
        ram.read(0x100000, &mut b).unwrap();
        assert_eq!(b, [0; 16], "the start of the second region");
    }
}
