//! The one walker: software look-ups, the hardware's checked walk, and a level-by-level trace.
//!
//! The functions take any table in memory by its format and root, as hardware finds it:
//!
//! ```
//! use std::sync::Arc;
//! use softiommu_mem::{PageAlloc, RamArena};
//! use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
//! use softiommu_pgtable::{Access, FaultKind, PageTable, Prot, walk};
//!
//! let ram = RamArena::new(0, 1 << 30)?;
//! let pages = Arc::new(PageAlloc::new(ram, 0, 16 << 20)?);
//! let fmt = VtdSs::new(VtdSsConfig::default())?;
//! let mut table = PageTable::new(fmt.clone(), pages)?;
//! table.map(0x1000, 0x9000, 4096, Prot::READ)?;
//! let (mem, root) = (table.mem(), table.root());
//!
//! // A read passes; a write faults at the leaf, level 3 counted from the root at 0.
//! let t = walk::translate(&fmt, mem, root, 0x1010, Access::READ).expect("readable");
//! assert_eq!((t.pa, t.page_size), (0x9010, 4096));
//! let f = walk::translate(&fmt, mem, root, 0x1010, Access::WRITE).expect_err("read-only");
//! assert_eq!((f.kind, f.level), (FaultKind::Permission, 3));
//!
//! // Every entry the walk reads, root first.
//! assert_eq!(walk::trace(&fmt, mem, root, 0x1010).len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
    let (pte, level, pa, size) = find_leaf(fmt, mem, root, iova)?;
    Some(Mapping {
        iova: iova & !(size - 1),
        pa,
        size,
        prot: fmt.leaf_prot(pte, level),
        pte,
        level,
    })
}

/// The output address of `iova` in the table at `root`, or `None` when it is not mapped.
#[inline]
pub fn iova_to_phys<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
) -> Option<u64> {
    let (_, _, pa, size) = find_leaf(fmt, mem, root, iova)?;
    Some(pa | (iova & (size - 1)))
}

/// The leaf that maps `iova` in the table at `root`, as (entry, level, output address of the
/// page or block, its size); `None` where the walk finds no valid leaf.
#[inline(always)]
fn find_leaf<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
) -> Option<(u64, usize, u64, u64)> {
    let va = fmt.input(iova)?;
    let mut table = root;
    for (i, lv) in fmt.geometry().levels().iter().enumerate() {
        let pte = mem.load_u64(table + lv.index(va) as u64 * 8).ok()?;
        match fmt.decode(pte, i) {
            Pte::Table { next, .. } => table = next,
            Pte::Leaf { pa, .. } => return Some((pte, i, pa, lv.span())),
            Pte::Invalid | Pte::Reserved => return None,
        }
    }
    None
}

/// A walk fault of `kind` at level `level` (an index into `levels`), at entry `entry`.
#[cold]
#[inline(never)]
fn walk_fault(levels: &[crate::Level], kind: FaultKind, level: usize, entry: u64) -> WalkFault {
    WalkFault {
        kind,
        level,
        number: levels.get(level).map_or(0, |l| l.number),
        entry,
    }
}

/// Replaces the entry at `at`, `current`, with `new` (an Accessed/Dirty update): `Ok(Ok(()))`
/// when it was replaced, `Ok(Err(found))` when someone changed it first.
#[cold]
#[inline(never)]
fn update_entry<M: AddressSpace + ?Sized>(
    mem: &M,
    at: u64,
    current: u64,
    new: u64,
) -> Result<Result<(), u64>, MemError> {
    Ok(mem.cmpxchg_u64(at, current, new)?.map(|_| ()))
}

/// What one level of a walk found.
enum Found {
    /// A table at `.0` whose entry leaves the rights `.1`.
    Table(u64, Perm),
    /// A page at `.0` with the rights `.1` of the whole walk.
    Leaf(u64, Perm),
}

/// The walk the hardware makes for one `access` to `iova`: every level's rights are ANDed,
/// faults are reported as the format's rules say, and Accessed/Dirty bits are set atomically
/// where the format enables them.
#[inline]
pub fn translate<F: Format, M: AddressSpace + ?Sized>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
    access: Access,
) -> Result<Translation, WalkFault> {
    // The usual depths get a walk whose level loop the compiler unrolls.
    match fmt.geometry().depth() {
        4 => translate_levels::<F, M, 4>(fmt, mem, root, iova, access),
        3 => translate_levels::<F, M, 3>(fmt, mem, root, iova, access),
        5 => translate_levels::<F, M, 5>(fmt, mem, root, iova, access),
        _ => translate_levels::<F, M, 0>(fmt, mem, root, iova, access),
    }
}

/// [`translate`] over `N` levels (`N` = 0: as many as the geometry has).
#[inline]
fn translate_levels<F: Format, M: AddressSpace + ?Sized, const N: usize>(
    fmt: &F,
    mem: &M,
    root: u64,
    iova: u64,
    access: Access,
) -> Result<Translation, WalkFault> {
    let geo = fmt.geometry();
    let levels = geo.levels();
    let Some(va) = fmt.input(iova) else {
        return Err(walk_fault(levels, FaultKind::Input, 0, root));
    };
    let oa_limit = 1u64 << geo.oa_bits();
    let depth = if N == 0 { levels.len() } else { N };
    let mut table = root;
    let mut perm = Perm::ALL;
    for i in 0..depth {
        let lv = geo.level(i);
        let entry = table + geo.index(i, va) as u64 * 8;
        let mut pte = match mem.load_u64(entry) {
            Ok(pte) => pte,
            Err(e) => return Err(walk_fault(levels, FaultKind::Fetch(e), i, entry)),
        };
        let mut tries = 0;
        let (pte, found) = loop {
            let found = match fmt.decode(pte, i) {
                Pte::Invalid => return Err(walk_fault(levels, FaultKind::Translation, i, entry)),
                Pte::Reserved => return Err(walk_fault(levels, FaultKind::Reserved, i, entry)),
                Pte::Table { next, perm: p } => {
                    if next >= oa_limit {
                        return Err(walk_fault(levels, FaultKind::AddressSize, i, entry));
                    }
                    Found::Table(next, p)
                }
                Pte::Leaf { pa, perm: p } => {
                    if fmt.access_flag_fault(pte, i) {
                        return Err(walk_fault(levels, FaultKind::AccessFlag, i, entry));
                    }
                    let all = perm & p;
                    if !all.allows(access) {
                        return Err(walk_fault(levels, FaultKind::Permission, i, entry));
                    }
                    if pa >= oa_limit {
                        return Err(walk_fault(levels, FaultKind::AddressSize, i, entry));
                    }
                    Found::Leaf(pa, all)
                }
            };
            let new = fmt.hw_update(pte, i, matches!(found, Found::Leaf(..)), access);
            if new == pte {
                break (pte, found);
            }
            match update_entry(mem, entry, pte, new) {
                Ok(Ok(())) => break (new, found),
                Ok(Err(now)) => {
                    tries += 1;
                    if tries >= UPDATE_TRIES {
                        return Err(walk_fault(levels, FaultKind::Update, i, entry));
                    }
                    // Someone changed the entry: look at it again.
                    pte = now;
                }
                Err(e) => return Err(walk_fault(levels, FaultKind::Fetch(e), i, entry)),
            }
        };
        match found {
            Found::Leaf(pa, all) => {
                let span = lv.span();
                return Ok(Translation {
                    pa: pa | (va & (span - 1)),
                    page_size: span,
                    perm: all,
                    pte,
                    level: i,
                });
            }
            Found::Table(next, p) => {
                perm = perm & p;
                table = next;
            }
        }
    }
    // The last level of every format decodes to a leaf or a fault; a table there is malformed.
    Err(walk_fault(
        levels,
        FaultKind::Reserved,
        depth.saturating_sub(1),
        table,
    ))
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
