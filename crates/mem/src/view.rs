//! An address space seen through a translation: what a nested walk reads its stage-1 tables
//! through.

use std::sync::atomic::AtomicU64;

use crate::error::{MemError, Result};
use crate::space::AddressSpace;

/// `mem` seen through `map`: every access's address, with its length and whether it writes,
/// goes through `map`, which gives the address in `mem` or refuses the access. The access
/// must stay inside what one call of `map` answers for (an access `map` cannot serve in one
/// piece is refused by it).
pub struct MappedSpace<'a, M: ?Sized, F> {
    mem: &'a M,
    map: F,
}

impl<'a, M: AddressSpace + ?Sized, F> MappedSpace<'a, M, F>
where
    F: Fn(u64, u64, bool) -> Result<u64> + Send + Sync,
{
    /// `mem` seen through `map(address, length, write)`.
    pub fn new(mem: &'a M, map: F) -> Self {
        MappedSpace { mem, map }
    }
}

impl<M: AddressSpace + ?Sized, F> AddressSpace for MappedSpace<'_, M, F>
where
    F: Fn(u64, u64, bool) -> Result<u64> + Send + Sync,
{
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
        let len = (count as u64).checked_mul(8).ok_or(MemError::OutOfRange {
            addr: pa,
            len: u64::MAX,
        })?;
        self.mem.words((self.map)(pa, len, false)?, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
        self.mem.read((self.map)(pa, buf.len() as u64, false)?, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
        self.mem.write((self.map)(pa, buf.len() as u64, true)?, buf)
    }

    fn fill(&self, pa: u64, len: u64, byte: u8) -> Result<()> {
        // The whole range in one call of `map`, as every other access: a fill the map cannot
        // serve in one piece changes nothing.
        self.mem.fill((self.map)(pa, len, true)?, len, byte)
    }

    fn load_u64(&self, pa: u64) -> Result<u64> {
        self.mem.load_u64((self.map)(pa, 8, false)?)
    }

    fn store_u64(&self, pa: u64, value: u64) -> Result<()> {
        self.mem.store_u64((self.map)(pa, 8, true)?, value)
    }

    fn cmpxchg_u64(
        &self,
        pa: u64,
        current: u64,
        new: u64,
    ) -> Result<std::result::Result<u64, u64>> {
        self.mem.cmpxchg_u64((self.map)(pa, 8, true)?, current, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RamArena;

    #[test]
    fn accesses_go_through_the_map_with_their_direction() {
        let mem = RamArena::new(0, 0x4000).unwrap();
        // Pages 0..2 map to 2..4; page 1 is read-only.
        let view = MappedSpace::new(&mem, |a: u64, len: u64, write: bool| {
            let page = a >> 12;
            if page >= 2 || (a & 0xfff) + len > 0x1000 || (write && page == 1) {
                return Err(MemError::OutOfRange { addr: a, len });
            }
            Ok(a + 0x2000)
        });
        view.store_u64(0x10, 7).unwrap();
        assert_eq!(mem.load_u64(0x2010).unwrap(), 7);
        assert_eq!(view.load_u64(0x10).unwrap(), 7);
        mem.store_u64(0x3008, 9).unwrap();
        assert_eq!(view.load_u64(0x1008).unwrap(), 9);
        assert!(view.store_u64(0x1008, 1).is_err());
        assert!(view.cmpxchg_u64(0x1008, 9, 1).is_err());
        assert_eq!(view.cmpxchg_u64(0x10, 7, 8).unwrap(), Ok(7));
        assert!(view.load_u64(0x2000).is_err());
        assert!(view.words(0xff8, 2).is_err());
        let mut b = [0u8; 4];
        assert!(view.read(0xffe, &mut b).is_err());
    }

    #[test]
    fn a_fill_the_map_cannot_serve_whole_changes_nothing() {
        let mem = RamArena::new(0, 0x4000).unwrap();
        // A 0x1800-byte window at 0x10000, seen in memory at 0x1000.
        let view = MappedSpace::new(&mem, |a: u64, len: u64, _write: bool| {
            match a.checked_sub(0x10000) {
                Some(off) if off < 0x1800 && len <= 0x1800 - off => Ok(0x1000 + off),
                _ => Err(MemError::OutOfRange { addr: a, len }),
            }
        });
        // Longer than one chunk of the default fill, and running past the window.
        assert!(view.fill(0x10000, 0x2000, 0xee).is_err());
        let mut b = [1u8; 16];
        mem.read(0x1000, &mut b).unwrap();
        assert_eq!(b, [0; 16], "the window's first bytes");
        view.fill(0x10100, 0x1000, 0x5a).unwrap();
        mem.read(0x1100, &mut b).unwrap();
        assert_eq!(b, [0x5a; 16]);
    }
}
