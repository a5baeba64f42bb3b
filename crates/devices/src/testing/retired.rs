//! Physical memory that a translation no longer leads to, watched for writes: once the
//! invalidation that removed the translation has completed, no device may write there, so
//! the memory is filled with a guard byte then and must keep it.

use parking_lot::Mutex;
use softiommu_mem::AddressSpace;

/// A byte of retired memory that no longer holds the guard: something wrote it after its
/// translation's invalidation completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrayWrite {
    /// Its physical address.
    pub addr: u64,
    /// What it holds.
    pub byte: u8,
}

/// Ranges of physical memory retired from a translation, each filled with the guard byte
/// when retired.
#[derive(Debug)]
pub struct Retired {
    guard: u8,
    ranges: Mutex<Vec<(u64, u64)>>,
}

impl Retired {
    /// Nothing retired yet; retired memory will hold `guard`.
    pub fn new(guard: u8) -> Retired {
        Retired {
            guard,
            ranges: Mutex::new(Vec::new()),
        }
    }

    /// Retires the `len` bytes at `pa` of `mem` (call it once the invalidation that removed
    /// their translation has completed): they are filled with the guard byte.
    pub fn retire(&self, mem: &dyn AddressSpace, pa: u64, len: u64) {
        mem.fill(pa, len, self.guard)
            .expect("retired memory is RAM");
        self.ranges.lock().push((pa, len));
    }

    /// Checks that every retired range still holds the guard byte; the first byte that does
    /// not, if any.
    pub fn check(&self, mem: &dyn AddressSpace) -> Result<(), StrayWrite> {
        let ranges = self.ranges.lock().clone();
        ranges
            .iter()
            .try_for_each(|&(pa, len)| self.check_range(mem, pa, len))
    }

    /// Checks the retired range that starts at `pa` and forgets it, so that a translation
    /// may lead there again; nothing is checked when no range starts there.
    pub fn reuse(&self, mem: &dyn AddressSpace, pa: u64) -> Result<(), StrayWrite> {
        let found = {
            let mut r = self.ranges.lock();
            let at = r.iter().position(|&(start, _)| start == pa);
            at.map(|i| r.swap_remove(i))
        };
        match found {
            Some((pa, len)) => self.check_range(mem, pa, len),
            None => Ok(()),
        }
    }

    /// Bytes retired and not reused.
    pub fn bytes(&self) -> u64 {
        self.ranges.lock().iter().map(|&(_, len)| len).sum()
    }

    fn check_range(&self, mem: &dyn AddressSpace, pa: u64, len: u64) -> Result<(), StrayWrite> {
        let mut buf = vec![0u8; len as usize];
        mem.read(pa, &mut buf).expect("retired memory is RAM");
        match buf.iter().position(|&b| b != self.guard) {
            Some(i) => Err(StrayWrite {
                addr: pa + i as u64,
                byte: buf[i],
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softiommu_mem::RamArena;

    #[test]
    fn a_write_after_retirement_is_found_until_the_range_is_reused() {
        let mem = RamArena::new(0, 1 << 16).expect("arena");
        let r = Retired::new(0xee);
        r.retire(&mem, 0x1000, 0x1000);
        r.retire(&mem, 0x3000, 0x100);
        assert_eq!(r.bytes(), 0x1100);
        assert_eq!(r.check(&mem), Ok(()));
        mem.write(0x30ff, &[7]).expect("RAM");
        assert_eq!(
            r.check(&mem),
            Err(StrayWrite {
                addr: 0x30ff,
                byte: 7
            })
        );
        assert_eq!(r.reuse(&mem, 0x1000), Ok(()));
        assert_eq!(r.reuse(&mem, 0x3000).map_err(|e| e.addr), Err(0x30ff));
        assert_eq!(r.check(&mem), Ok(()), "nothing retired any more");
        assert_eq!(r.reuse(&mem, 0x5000), Ok(()));
        assert_eq!(r.bytes(), 0);
    }
}
