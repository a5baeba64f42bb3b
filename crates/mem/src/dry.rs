//! An address space that is read but never changed: what a walk would write, without the
//! writes. The checking modes of the hardware models walk through it, so that comparing a
//! cached translation with the tables leaves the tables (their Accessed and Dirty flags) as
//! they were.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Result;
use crate::space::AddressSpace;

/// `mem` for reading; every write to it is checked against `mem` (an address that is not
/// backed fails as it would there), recorded, and not made.
///
/// [`AddressSpace::words`] hands out `mem`'s own words for reading: a store through them
/// would reach `mem`. Every other write — `write`, `fill`, `store_u64`, `cmpxchg_u64` — only
/// sets [`DryRun::wrote`].
pub struct DryRun<'a, M: ?Sized> {
    mem: &'a M,
    wrote: AtomicBool,
}

impl<'a, M: AddressSpace + ?Sized> DryRun<'a, M> {
    /// A dry run over `mem`, with nothing written yet.
    pub fn new(mem: &'a M) -> Self {
        DryRun {
            mem,
            wrote: AtomicBool::new(false),
        }
    }

    /// Whether anything would have been written (a compare-and-exchange only when it would
    /// have succeeded).
    pub fn wrote(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }

    fn record(&self) {
        self.wrote.store(true, Ordering::Release);
    }
}

impl<M: AddressSpace + ?Sized> AddressSpace for DryRun<'_, M> {
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
        self.mem.words(pa, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
        self.mem.read(pa, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
        let mut scratch = vec![0u8; buf.len()];
        self.mem.read(pa, &mut scratch)?;
        self.record();
        Ok(())
    }

    fn load_u64(&self, pa: u64) -> Result<u64> {
        self.mem.load_u64(pa)
    }

    fn store_u64(&self, pa: u64, _value: u64) -> Result<()> {
        self.mem.load_u64(pa)?;
        self.record();
        Ok(())
    }

    fn cmpxchg_u64(
        &self,
        pa: u64,
        current: u64,
        _new: u64,
    ) -> Result<std::result::Result<u64, u64>> {
        let found = self.mem.load_u64(pa)?;
        if found != current {
            return Ok(Err(found));
        }
        self.record();
        Ok(Ok(current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemError, RamArena};

    #[test]
    fn reads_pass_writes_are_recorded_not_made() {
        let mem = RamArena::new(0, 0x2000).unwrap();
        mem.store_u64(0x100, 5).unwrap();
        let dry = DryRun::new(&mem);
        assert_eq!(dry.load_u64(0x100).unwrap(), 5);
        assert!(!dry.wrote());
        // A compare-and-exchange that would fail changes nothing and is not a write.
        assert_eq!(dry.cmpxchg_u64(0x100, 4, 9).unwrap(), Err(5));
        assert!(!dry.wrote());
        assert_eq!(dry.cmpxchg_u64(0x100, 5, 9).unwrap(), Ok(5));
        assert!(dry.wrote());
        assert_eq!(mem.load_u64(0x100).unwrap(), 5);

        let dry = DryRun::new(&mem);
        dry.store_u64(0x108, 1).unwrap();
        dry.write(0x200, &[1, 2, 3]).unwrap();
        dry.fill(0x300, 64, 0xff).unwrap();
        assert!(dry.wrote());
        let mut b = [9u8; 3];
        mem.read(0x200, &mut b).unwrap();
        assert_eq!((mem.load_u64(0x108).unwrap(), b), (0, [0; 3]));
        assert_eq!(mem.load_u64(0x300).unwrap(), 0);
    }

    #[test]
    fn writes_to_unbacked_addresses_fail_as_on_the_memory() {
        let mem = RamArena::new(0, 0x1000).unwrap();
        let dry = DryRun::new(&mem);
        assert!(matches!(
            dry.store_u64(0x2000, 1),
            Err(MemError::OutOfRange { .. })
        ));
        assert!(dry.cmpxchg_u64(0x1000, 0, 1).is_err());
        assert!(dry.write(0xffe, &[0; 4]).is_err());
        assert!(dry.store_u64(0x4, 1).is_err(), "unaligned");
        assert!(!dry.wrote());
    }
}
