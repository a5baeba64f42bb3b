//! The hardware walk of a stage-1 table with its level loop specialised to this format: the
//! descriptors decode through the format's per-level rules, and the rights the table
//! descriptors leave are gathered as bits and turned into rights once, at the leaf.

use softiommu_mem::AddressSpace;

use super::ArmS1;
use crate::format::Format;
use crate::formats::arm::Desc;
use crate::prot::Access;
use crate::walk::{FaultKind, Translation, WalkFault};

/// How many times a walk retries an Access flag or dirty-state update that lost a race
/// before it faults (as the shared walker does).
const UPDATE_TRIES: usize = 16;

/// What a walk needs at every level: the input, the access and its rules.
#[derive(Clone, Copy)]
struct Walk {
    va: u64,
    access: Access,
    affd: bool,
    oa_limit: u64,
}

impl ArmS1 {
    /// The walk the hardware makes for one `access` to `iova` in the table at `root`: the
    /// same faults, rights, Access flag and dirty-state updates and result as
    /// [`walk::translate`](crate::walk::translate) over this format, with Access flag
    /// faults disabled when `affd` (CD.AFFD: a leaf with AF = 0 then reads as AF = 1).
    #[inline]
    pub fn translate<M: AddressSpace + ?Sized>(
        &self,
        mem: &M,
        root: u64,
        iova: u64,
        access: Access,
        affd: bool,
    ) -> Result<Translation, WalkFault> {
        let Some(va) = self.input(iova) else {
            return Err(self.walk_fault(FaultKind::Input, 0, root));
        };
        let w = Walk {
            va,
            access,
            affd,
            oa_limit: 1u64 << self.geo.oa_bits(),
        };
        match self.geo.depth() {
            4 => self.descend::<M, 4>(mem, &w, root, 0, 0),
            3 => self.descend::<M, 3>(mem, &w, root, 0, 0),
            _ => self.descend::<M, 0>(mem, &w, root, 0, 0),
        }
    }

    /// A fault of `kind` at `level` (counted from the root), at entry `entry`.
    #[cold]
    #[inline(never)]
    fn walk_fault(&self, kind: FaultKind, level: usize, entry: u64) -> WalkFault {
        WalkFault {
            kind,
            level,
            number: self.geo.levels().get(level).map_or(0, |l| l.number),
            entry,
        }
    }

    /// The walk from the table at `table`, read at level `from`, over `N` levels in all
    /// (`N` = 0: as many as the geometry has). `above` is the table descriptors' APTable,
    /// UXNTable and PXNTable bits met so far, ORed: each only takes rights away, so their
    /// union limits the leaf as every level's rights ANDed would.
    #[inline(always)]
    fn descend<M: AddressSpace + ?Sized, const N: usize>(
        &self,
        mem: &M,
        w: &Walk,
        mut table: u64,
        from: usize,
        mut above: u64,
    ) -> Result<Translation, WalkFault> {
        let depth = if N == 0 { self.geo.depth() } else { N };
        for i in from..depth.min(crate::MAX_LEVELS) {
            let entry = table + self.geo.index(i, w.va) as u64 * 8;
            let pte = match mem.load_u64(entry) {
                Ok(pte) => pte,
                Err(e) => return Err(self.walk_fault(FaultKind::Fetch(e), i, entry)),
            };
            match self.rule(i).classify(pte) {
                Desc::Invalid => return Err(self.walk_fault(FaultKind::Translation, i, entry)),
                Desc::Reserved => return Err(self.walk_fault(FaultKind::Reserved, i, entry)),
                Desc::Table(next) => {
                    if next >= w.oa_limit {
                        return Err(self.walk_fault(FaultKind::AddressSize, i, entry));
                    }
                    // A table descriptor is never updated.
                    above |= pte;
                    table = next;
                }
                Desc::Leaf(pa) => return self.leaf(mem, w, i, entry, pte, pa, above),
            }
        }
        // The last level decodes to a leaf or a fault; a table there is malformed.
        Err(self.walk_fault(FaultKind::Reserved, depth.saturating_sub(1), table))
    }

    /// The leaf `pte` at `level`, at `entry`, mapping `pa`: the Access flag, rights and
    /// address checks, then the Access flag or dirty-state update, looked at again when
    /// someone changes the entry first.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn leaf<M: AddressSpace + ?Sized>(
        &self,
        mem: &M,
        w: &Walk,
        level: usize,
        entry: u64,
        mut pte: u64,
        mut pa: u64,
        above: u64,
    ) -> Result<Translation, WalkFault> {
        let fault = |kind| Err(self.walk_fault(kind, level, entry));
        let mut tries = 0;
        loop {
            if !w.affd && self.access_flag_fault(pte, level) {
                return fault(FaultKind::AccessFlag);
            }
            let all = self.walk_perm(above, pte);
            if !all.allows(w.access) {
                return fault(FaultKind::Permission);
            }
            if pa >= w.oa_limit {
                return fault(FaultKind::AddressSize);
            }
            let new = self.hw_update(pte, level, true, w.access);
            let now = if new == pte {
                pte
            } else {
                match mem.cmpxchg_u64(entry, pte, new) {
                    Ok(Ok(_)) => new,
                    Ok(Err(now)) => {
                        tries += 1;
                        if tries >= UPDATE_TRIES {
                            return fault(FaultKind::Update);
                        }
                        // Someone changed the entry: look at it again.
                        pte = now;
                        match self.rule(level).classify(now) {
                            Desc::Leaf(p) => {
                                pa = p;
                                continue;
                            }
                            Desc::Table(_) | Desc::Invalid | Desc::Reserved => {
                                return self.raced(mem, w, level, entry, now, above);
                            }
                        }
                    }
                    Err(e) => return fault(FaultKind::Fetch(e)),
                }
            };
            let span = self.geo.levels().get(level).map_or(0, |l| l.span());
            return Ok(Translation {
                pa: pa | (w.va & span.wrapping_sub(1)),
                page_size: span,
                perm: all,
                pte: now,
                level,
            });
        }
    }

    /// A leaf that someone replaced, while the walk updated it, by `now`, which is no leaf:
    /// a table to walk on from, or a fault.
    #[cold]
    #[inline(never)]
    fn raced<M: AddressSpace + ?Sized>(
        &self,
        mem: &M,
        w: &Walk,
        level: usize,
        entry: u64,
        now: u64,
        above: u64,
    ) -> Result<Translation, WalkFault> {
        match self.rule(level).classify(now) {
            Desc::Table(next) if next >= w.oa_limit => {
                Err(self.walk_fault(FaultKind::AddressSize, level, entry))
            }
            Desc::Table(next) => self.descend::<M, 0>(mem, w, next, level + 1, above | now),
            Desc::Invalid => Err(self.walk_fault(FaultKind::Translation, level, entry)),
            Desc::Reserved | Desc::Leaf(_) => {
                Err(self.walk_fault(FaultKind::Reserved, level, entry))
            }
        }
    }
}

#[cfg(test)]
mod tests;
