//! The trait each page-table format implements: its entries as data, its hardware rules.

use crate::geometry::Geometry;
use crate::prot::{Access, Perm, Prot};

/// An entry, decoded by its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pte {
    /// Not present: the walk ends with a translation fault.
    Invalid,
    /// Present but malformed (reserved bits, a leaf where none may be): a walk faults.
    Reserved,
    /// Points to the next-level table.
    Table {
        /// Physical address of the next table.
        next: u64,
        /// Rights this entry leaves to what is below it.
        perm: Perm,
    },
    /// Maps a page or block.
    Leaf {
        /// Physical address of the page or block (aligned to its size).
        pa: u64,
        /// Rights this entry grants.
        perm: Perm,
    },
}

/// One page-table format: how its entries are encoded and how hardware walks them.
///
/// A format is a small value (its configuration) and a set of pure functions over 64-bit
/// entries; the one walker and the one table editor in this crate do the rest. Levels are
/// counted from the root (index 0).
pub trait Format: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Short name of the format, as the command line spells it.
    fn name(&self) -> &'static str;

    /// Levels, granule and widths of this configuration.
    fn geometry(&self) -> &Geometry;

    /// Whether `pte` is present (decodes to anything but [`Pte::Invalid`]).
    fn is_valid(&self, pte: u64) -> bool;

    /// Decodes an entry found at `level`.
    fn decode(&self, pte: u64, level: usize) -> Pte;

    /// For an entry the table editor wrote itself: the next table's address when `pte` at
    /// `level` points to one. Unlike [`decode`](Format::decode) it does not validate reserved
    /// bits, so it must not be used on tables someone else wrote.
    #[inline(always)]
    fn next_table(&self, pte: u64, level: usize) -> Option<u64> {
        match self.decode(pte, level) {
            Pte::Table { next, .. } => Some(next),
            _ => None,
        }
    }

    /// The bits of an entry that alone decide [`is_valid`](Format::is_valid) and whether
    /// [`next_table`](Format::next_table) finds a table, at every level: for any entry `pte`,
    /// `pte & kind_bits()` gives the same answers as `pte`. When they all lie in the low byte,
    /// the table editor sorts long runs of entries through a 256-entry table of its own.
    /// Every bit by default (no such promise).
    fn kind_bits(&self) -> u64 {
        u64::MAX
    }

    /// The entry at `level` that points to the table at `next`.
    fn table(&self, next: u64, level: usize) -> u64;

    /// The leaf at `level` that maps `pa` with `prot`.
    fn leaf(&self, pa: u64, level: usize, prot: Prot) -> u64;

    /// What a leaf found at `level` allows, in the terms `map` was given.
    fn leaf_prot(&self, pte: u64, level: usize) -> Prot;

    /// The part of `prot` this format can express (what `leaf_prot` gives back after `map`).
    fn effective(&self, prot: Prot) -> Prot;

    /// The first of the entries at `level + 1` that map what the block `pte` at `level` maps;
    /// entry `k` is this value plus `k` times the child span.
    fn demote(&self, pte: u64, level: usize) -> u64;

    /// The input address the walk indexes, or `None` when `iova` is outside the format's input
    /// range (beyond its width, or not canonical).
    fn input(&self, iova: u64) -> Option<u64> {
        let ia = self.geometry().ia_bits();
        (ia >= 64 || iova >> ia == 0).then_some(iova)
    }

    /// Whether a walk that reaches leaf `pte` takes an Access-flag fault before permissions are
    /// checked (Arm with AF clear and hardware AF updates off).
    fn access_flag_fault(&self, _pte: u64, _level: usize) -> bool {
        false
    }

    /// The value `pte` must have after an allowed `access` walked through it (Accessed and
    /// Dirty set as the hardware sets them); `pte` itself when nothing changes.
    fn hw_update(&self, pte: u64, _level: usize, _leaf: bool, _access: Access) -> u64 {
        pte
    }

    /// Whether this configuration records Dirty state that `read_and_clear_dirty` can read.
    fn tracks_dirty(&self) -> bool {
        false
    }

    /// Whether leaf `pte` has been written since its Dirty state was last cleared.
    fn is_dirty(&self, _pte: u64, _level: usize) -> bool {
        false
    }

    /// Leaf `pte` with its Dirty state cleared.
    fn clear_dirty(&self, pte: u64, _level: usize) -> u64 {
        pte
    }

    /// The fields of `pte` at `level`, spelled out for a person.
    fn describe(&self, pte: u64, level: usize) -> String;
}
