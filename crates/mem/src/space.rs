//! The physical-address-space trait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{MemError, Result};

/// A physical address space: what an IOMMU walks and a device's DMA reaches.
///
/// Every access names a physical address and fails with a [`MemError`] when any part of it is
/// not backed (an empty access: when its address is not backed); no access panics. The 64-bit
/// operations are real atomics on the backing memory, so a hardware model can set
/// Accessed/Dirty bits while software edits the same entries.
pub trait AddressSpace: Send + Sync {
    /// The aligned 64-bit words `[pa, pa + 8 * count)`, as one contiguous run of host memory.
    ///
    /// Fails with [`MemError::Unaligned`] unless `pa` is 8-byte aligned, and with
    /// [`MemError::OutOfRange`] when the run is not backed in one piece.
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]>;

    /// Copies `buf.len()` bytes starting at `pa` into `buf`.
    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()>;

    /// Copies `buf` into the address space starting at `pa`.
    fn write(&self, pa: u64, buf: &[u8]) -> Result<()>;

    /// Sets `len` bytes starting at `pa` to `byte`.
    fn fill(&self, pa: u64, len: u64, byte: u8) -> Result<()> {
        const CHUNK: usize = 4096;
        let block = [byte; CHUNK];
        if len == 0 {
            return self.write(pa, &[]);
        }
        let whole = MemError::OutOfRange { addr: pa, len };
        let end = pa.checked_add(len).ok_or(whole)?;
        let mut at = pa;
        while at < end {
            let n = (end - at).min(CHUNK as u64) as usize;
            // An error names the whole fill, as the error of any other access does.
            self.write(at, &block[..n]).map_err(|e| match e {
                MemError::OutOfRange { .. } => whole,
                e => e,
            })?;
            at += n as u64;
        }
        Ok(())
    }

    /// Copies `len` bytes from `src` to `dst` within this space, as a read of the source then a
    /// write of the destination would (the two ranges must not overlap).
    ///
    /// Fails when either range is not backed; on failure some of the destination may have
    /// been written.
    fn copy(&self, src: u64, dst: u64, len: u64) -> Result<()> {
        const CHUNK: usize = 4096;
        let mut bounce = [0u8; CHUNK];
        if len == 0 {
            self.read(src, &mut [])?;
            return self.write(dst, &[]);
        }
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            let at = |a: u64| {
                a.checked_add(done)
                    .ok_or(MemError::OutOfRange { addr: a, len })
            };
            self.read(at(src)?, &mut bounce[..n])?;
            self.write(at(dst)?, &bounce[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    /// Atomically loads the aligned 64-bit word at `pa` (acquire).
    #[inline]
    fn load_u64(&self, pa: u64) -> Result<u64> {
        Ok(self.words(pa, 1)?[0].load(Ordering::Acquire))
    }

    /// Atomically stores `value` to the aligned 64-bit word at `pa` (release).
    #[inline]
    fn store_u64(&self, pa: u64, value: u64) -> Result<()> {
        self.words(pa, 1)?[0].store(value, Ordering::Release);
        Ok(())
    }

    /// Atomically replaces the word at `pa` with `new` if it holds `current`.
    ///
    /// Returns `Ok(Ok(current))` when the exchange happened and `Ok(Err(found))` with the value
    /// found when it did not.
    #[inline]
    fn cmpxchg_u64(
        &self,
        pa: u64,
        current: u64,
        new: u64,
    ) -> Result<std::result::Result<u64, u64>> {
        Ok(self.words(pa, 1)?[0].compare_exchange(
            current,
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ))
    }
}

/// Implements [`AddressSpace`] for a pointer type by forwarding every method to the space it
/// points at.
macro_rules! forward_address_space {
    ($($ptr:ty),*) => {$(
        impl<T: AddressSpace + ?Sized> AddressSpace for $ptr {
            #[inline]
            fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
                (**self).words(pa, count)
            }
            #[inline]
            fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
                (**self).read(pa, buf)
            }
            #[inline]
            fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
                (**self).write(pa, buf)
            }
            #[inline]
            fn fill(&self, pa: u64, len: u64, byte: u8) -> Result<()> {
                (**self).fill(pa, len, byte)
            }
            #[inline]
            fn copy(&self, src: u64, dst: u64, len: u64) -> Result<()> {
                (**self).copy(src, dst, len)
            }
            #[inline]
            fn load_u64(&self, pa: u64) -> Result<u64> {
                (**self).load_u64(pa)
            }
            #[inline]
            fn store_u64(&self, pa: u64, value: u64) -> Result<()> {
                (**self).store_u64(pa, value)
            }
            #[inline]
            fn cmpxchg_u64(
                &self,
                pa: u64,
                current: u64,
                new: u64,
            ) -> Result<std::result::Result<u64, u64>> {
                (**self).cmpxchg_u64(pa, current, new)
            }
        }
    )*};
}

// Every method is forwarded: a default would act on the pointed-at space's words directly,
// past what the space itself does for that method (a dry run's writes, a view's refusals).
forward_address_space!(Arc<T>, Box<T>, &T);
