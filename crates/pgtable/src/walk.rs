//! The one walker: software look-ups, the hardware's checked walk, and a level-by-level trace.

use softiommu_mem::{AddressSpace, MemError};

use crate::format::{Format, Pte};
use crate::prot::{Access, Perm, Prot};

/// How many times a walk retries an Accessed/Dirty update that lost a race before it faults.
const UPDATE_TRIES: usize = 16;

/// A mapped page, as software sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Input address of the first byte of the page or block.
    pub iova: u64,
    /// Output address of the first byte.
    pub pa: u64,
    /// Size of the page or block.
    pub size: u64,
    /// What the leaf allows.
    pub prot: Prot,
    /// The leaf entry.
    pub pte: u64,
    /// Level of the leaf, counted from the root.
    pub level: usize,
}

/// The result of a walk the hardware made for one access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Output address of the byte asked for.
    pub pa: u64,
    /// Size of the page or block that maps it.
    pub page_size: u64,
    /// The rights of the whole walk (every level ANDed).
    pub perm: Perm,
    /// The leaf entry as it stands after the walk's Accessed/Dirty update.
    pub pte: u64,
    /// Level of the leaf, counted from the root.
    pub level: usize,
}

/// Why a hardware walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The input address is outside the format's input range (too wide or not canonical).
    Input,
    /// An entry is not present.
    Translation,
    /// An entry has reserved bits set, or a leaf where the format allows none.
    Reserved,
    /// The leaf's Access flag is clear and the hardware does not set it.
    AccessFlag,
    /// The access is not allowed by the rights of the walk.
    Permission,
    /// A table or output address is beyond the output-address width.
    AddressSize,
    /// Reading an entry failed: the table is not in backed memory.
    Fetch(MemError),
    /// An Accessed/Dirty update could not be made atomically.
    Update,
}

/// A walk fault: what happened, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkFault {
    /// What went wrong.
    pub kind: FaultKind,
    /// Level of the entry at fault, counted from the root.
    pub level: usize,
    /// The format's own number for that level.
    pub number: u8,
    /// Physical address of the entry at fault (for a fetch fault, the entry that could not be
    /// read).
    pub entry: u64,
}

/// One step of a trace: an entry the walk read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Level, counted from the root.
    pub level: usize,
    /// The format's own number for the level.
    pub number: u8,
    /// Physical address of the entry.
    pub entry_pa: u64,
    /// The entry's raw value.
    pub raw: u64,
    /// The entry decoded.
    pub pte: Pte,
    /// The entry's fields, spelled out.
    pub fields: String,
}

/// The mapping of `iova` in the table at `root`, with no permission check and no update.
#[inline]
pub fn lookup<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
) -> Option<Mapping> {
    let va = fmt.input(iova)?;
    let mut table = root;
    for (i, lv) in fmt.geometry().levels().iter().enumerate() {
        let pte = mem.load_u64(table + lv.index(va) as u64 * 8).ok()?;
        match fmt.decode(pte, i) {
            Pte::Table { next, .. } => table = next,
            Pte::Leaf { pa, .. } => {
                let size = lv.span();
                return Some(Mapping {
                    iova: iova & !(size - 1),
                    pa,
                    size,
                    prot: fmt.leaf_prot(pte, i),
                    pte,
                    level: i,
                });
            }
            Pte::Invalid | Pte::Reserved => return None,
        }
    }
    None
}

/// The output address of `iova` in the table at `root`, or `None` when it is not mapped.
#[inline]
pub fn iova_to_phys<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
) -> Option<u64> {
    let va = fmt.input(iova)?;
    let mut table = root;
    for (i, lv) in fmt.geometry().levels().iter().enumerate() {
        let pte = mem.load_u64(table + lv.index(va) as u64 * 8).ok()?;
        match fmt.decode(pte, i) {
            Pte::Table { next, .. } => table = next,
            Pte::Leaf { pa, .. } => return Some(pa | (va & (lv.span() - 1))),
            Pte::Invalid | Pte::Reserved => return None,
        }
    }
    None
}

/// The walk the hardware makes for one `access` to `iova`: every level's rights are ANDed,
/// faults are reported as the format's rules say, and Accessed/Dirty bits are set atomically
/// where the format enables them.
pub fn translate<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
    access: Access,
) -> Result<Translation, WalkFault> {
    let geo = fmt.geometry();
    let levels = geo.levels();
    let fault = |kind, level: usize, entry| WalkFault {
        kind,
        level,
        number: levels[level].number,
        entry,
    };
    let va = fmt
        .input(iova)
        .ok_or_else(|| fault(FaultKind::Input, 0, root))?;
    let oa_limit = 1u64 << geo.oa_bits();
    let mut table = root;
    let mut perm = Perm::ALL;
    for (i, lv) in levels.iter().enumerate() {
        let entry = table + lv.index(va) as u64 * 8;
        let mut tries = 0;
        loop {
            let pte = mem
                .load_u64(entry)
                .map_err(|e| fault(FaultKind::Fetch(e), i, entry))?;
            let (next, table_perm, leaf) = match fmt.decode(pte, i) {
                Pte::Invalid => return Err(fault(FaultKind::Translation, i, entry)),
                Pte::Reserved => return Err(fault(FaultKind::Reserved, i, entry)),
                Pte::Table { next, perm: p } => {
                    if next >= oa_limit {
                        return Err(fault(FaultKind::AddressSize, i, entry));
                    }
                    (next, p, None)
                }
                Pte::Leaf { pa, perm: p } => {
                    if fmt.access_flag_fault(pte, i) {
                        return Err(fault(FaultKind::AccessFlag, i, entry));
                    }
                    let all = perm & p;
                    if !all.allows(access) {
                        return Err(fault(FaultKind::Permission, i, entry));
                    }
                    if pa >= oa_limit {
                        return Err(fault(FaultKind::AddressSize, i, entry));
                    }
                    (0, Perm::ALL, Some((pa, all)))
                }
            };
            let new = fmt.hw_update(pte, i, leaf.is_some(), access);
            if new != pte {
                match mem.cmpxchg_u64(entry, pte, new) {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => {
                        tries += 1;
                        if tries >= UPDATE_TRIES {
                            return Err(fault(FaultKind::Update, i, entry));
                        }
                        // Someone changed the entry: look at it again.
                        continue;
                    }
                    Err(e) => return Err(fault(FaultKind::Fetch(e), i, entry)),
                }
            }
            match leaf {
                Some((pa, all)) => {
                    let span = lv.span();
                    return Ok(Translation {
                        pa: pa | (va & (span - 1)),
                        page_size: span,
                        perm: all,
                        pte: new,
                        level: i,
                    });
                }
                None => {
                    perm = perm & table_perm;
                    table = next;
                    break;
                }
            }
        }
    }
    // The last level of every format decodes to a leaf or a fault; a table there is malformed.
    let last = levels.len() - 1;
    Err(fault(FaultKind::Reserved, last, table))
}

/// Every entry a walk for `iova` reads, level by level, until a leaf or a fault.
pub fn trace<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let Some(va) = fmt.input(iova) else {
        return steps;
    };
    let mut table = root;
    for (i, lv) in fmt.geometry().levels().iter().enumerate() {
        let entry_pa = table + lv.index(va) as u64 * 8;
        let Ok(raw) = mem.load_u64(entry_pa) else {
            break;
        };
        let pte = fmt.decode(raw, i);
        steps.push(Step {
            level: i,
            number: lv.number,
            entry_pa,
            raw,
            pte,
            fields: fmt.describe(raw, i),
        });
        match pte {
            Pte::Table { next, .. } => table = next,
            _ => break,
        }
    }
    steps
}
