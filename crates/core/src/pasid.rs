//! The global PASID space: 1 .. 2^20 - 1, shared by SVA, users and kernel drivers.

use crate::ids::{PASID_LIMIT, PASID_MIN, Pasid};

/// Which PASIDs are taken, one bit each.
pub(crate) struct PasidSpace {
    bits: Vec<u64>,
    next: Pasid,
    used: u32,
}

impl PasidSpace {
    pub(crate) fn new() -> PasidSpace {
        PasidSpace {
            bits: vec![0; (PASID_LIMIT / 64) as usize],
            next: PASID_MIN,
            used: 0,
        }
    }

    fn test(&self, p: Pasid) -> bool {
        self.bits[(p / 64) as usize] & (1 << (p % 64)) != 0
    }

    /// Takes a free PASID below `limit` (next-fit), or `None` when all are taken.
    pub(crate) fn alloc(&mut self, limit: Pasid) -> Option<Pasid> {
        let limit = limit.min(PASID_LIMIT);
        if limit <= PASID_MIN {
            return None;
        }
        let span = limit - PASID_MIN;
        let start = if self.next < limit {
            self.next
        } else {
            PASID_MIN
        };
        for k in 0..span {
            let p = PASID_MIN + (start - PASID_MIN + k) % span;
            if !self.test(p) {
                self.bits[(p / 64) as usize] |= 1 << (p % 64);
                self.next = p + 1;
                self.used += 1;
                return Some(p);
            }
        }
        None
    }

    /// Gives `p` back; false if it was not taken.
    pub(crate) fn free(&mut self, p: Pasid) -> bool {
        if !(PASID_MIN..PASID_LIMIT).contains(&p) || !self.test(p) {
            return false;
        }
        self.bits[(p / 64) as usize] &= !(1 << (p % 64));
        self.used -= 1;
        true
    }

    /// Whether `p` is taken.
    #[cfg(test)]
    pub(crate) fn taken(&self, p: Pasid) -> bool {
        (PASID_MIN..PASID_LIMIT).contains(&p) && self.test(p)
    }

    /// How many are taken.
    pub(crate) fn used(&self) -> u32 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_every_pasid_once_then_reuses_freed_ones() {
        let mut s = PasidSpace::new();
        let a = s.alloc(PASID_LIMIT).unwrap();
        assert_eq!(a, 1);
        assert!(s.taken(1));
        assert!(!s.free(0));
        assert!(s.free(1));
        assert!(!s.free(1));
        // A small limit: exactly limit - 1 PASIDs, then none.
        let mut s = PasidSpace::new();
        let got: Vec<Pasid> = (0..15).filter_map(|_| s.alloc(16)).collect();
        assert_eq!(got, (1..16).collect::<Vec<_>>());
        assert_eq!(s.alloc(16), None);
        s.free(7);
        assert_eq!(s.alloc(16), Some(7));
        assert_eq!(s.used(), 15);
    }
}
