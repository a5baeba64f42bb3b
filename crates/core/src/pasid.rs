//! The global PASID space: 1 .. 2^20 - 1, shared by SVA, users and kernel drivers, each
//! PASID with one owner.

use std::collections::HashMap;

use crate::ids::{DeviceId, PASID_LIMIT, PASID_MIN, Pasid};

/// Who took a PASID: only its owner gives it back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PasidOwner {
    /// A user of [`Iommu::alloc_pasid`](crate::Iommu::alloc_pasid), by the token it gave.
    User(u64),
    /// The process address space with this ID, for its SVA bindings.
    Sva(u32),
    /// A kernel driver of this device (a private PASID).
    Private(DeviceId),
}

/// Why a PASID was not given back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FreeError {
    /// It is not taken.
    NotTaken,
    /// Another owner has it.
    NotOwner(PasidOwner),
}

/// Which PASIDs are taken, one bit each, and by whom.
pub(crate) struct PasidSpace {
    bits: Vec<u64>,
    owners: HashMap<Pasid, PasidOwner>,
    next: Pasid,
    used: u32,
}

impl PasidSpace {
    pub(crate) fn new() -> PasidSpace {
        PasidSpace {
            bits: vec![0; (PASID_LIMIT / 64) as usize],
            owners: HashMap::new(),
            next: PASID_MIN,
            used: 0,
        }
    }

    fn test(&self, p: Pasid) -> bool {
        self.bits[(p / 64) as usize] & (1 << (p % 64)) != 0
    }

    /// Takes a free PASID below `limit` (next-fit) for `owner`, or `None` when all are taken.
    pub(crate) fn alloc(&mut self, limit: Pasid, owner: PasidOwner) -> Option<Pasid> {
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
                self.owners.insert(p, owner);
                self.next = p + 1;
                self.used += 1;
                return Some(p);
            }
        }
        None
    }

    /// Gives `p` back for `owner`; refused if it is not taken, or taken by another owner.
    pub(crate) fn free(&mut self, p: Pasid, owner: PasidOwner) -> Result<(), FreeError> {
        match self.owner(p) {
            None => Err(FreeError::NotTaken),
            Some(o) if o != owner => Err(FreeError::NotOwner(o)),
            Some(_) => {
                self.bits[(p / 64) as usize] &= !(1 << (p % 64));
                self.owners.remove(&p);
                self.used -= 1;
                Ok(())
            }
        }
    }

    /// Who has `p`, if it is taken.
    pub(crate) fn owner(&self, p: Pasid) -> Option<PasidOwner> {
        if !(PASID_MIN..PASID_LIMIT).contains(&p) || !self.test(p) {
            return None;
        }
        self.owners.get(&p).copied()
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

    const ME: PasidOwner = PasidOwner::User(1);

    #[test]
    fn allocates_every_pasid_once_then_reuses_freed_ones() {
        let mut s = PasidSpace::new();
        let a = s.alloc(PASID_LIMIT, ME).unwrap();
        assert_eq!(a, 1);
        assert!(s.taken(1));
        assert_eq!(s.free(0, ME), Err(FreeError::NotTaken));
        assert_eq!(s.free(1, ME), Ok(()));
        assert_eq!(s.free(1, ME), Err(FreeError::NotTaken));
        // A small limit: exactly limit - 1 PASIDs, then none.
        let mut s = PasidSpace::new();
        let got: Vec<Pasid> = (0..15).filter_map(|_| s.alloc(16, ME)).collect();
        assert_eq!(got, (1..16).collect::<Vec<_>>());
        assert_eq!(s.alloc(16, ME), None);
        s.free(7, ME).unwrap();
        assert_eq!(s.alloc(16, ME), Some(7));
        assert_eq!(s.used(), 15);
    }

    #[test]
    fn only_the_owner_gives_a_pasid_back() {
        let mut s = PasidSpace::new();
        let owners = [
            ME,
            PasidOwner::User(2),
            PasidOwner::Sva(1),
            PasidOwner::Private(DeviceId(0)),
        ];
        let got: Vec<Pasid> = owners
            .iter()
            .map(|&o| s.alloc(PASID_LIMIT, o).unwrap())
            .collect();
        for (&p, &o) in got.iter().zip(&owners) {
            assert_eq!(s.owner(p), Some(o));
            for &other in owners.iter().filter(|&&x| x != o) {
                assert_eq!(s.free(p, other), Err(FreeError::NotOwner(o)));
            }
        }
        assert_eq!(s.used(), 4);
        for (&p, &o) in got.iter().zip(&owners) {
            assert_eq!(s.free(p, o), Ok(()));
            assert_eq!(s.owner(p), None);
        }
        assert_eq!(s.used(), 0);
    }
}
