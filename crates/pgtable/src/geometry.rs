//! The shape of a page table: levels, index bits, where leaves may sit.

use crate::error::PgError;

/// Most levels any supported format has (x86-64 and VT-d 5-level).
pub const MAX_LEVELS: usize = 5;

/// One level of a table, counted from the root (index 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    /// log2 of the span one entry of this level maps.
    pub shift: u8,
    /// Index bits of a table at this level (the root may have more or fewer than the rest).
    pub bits: u8,
    /// Whether a leaf (page or block) entry is allowed here.
    pub leaf: bool,
    /// The format's own number for this level (x86: 4 = PML4 … 1 = PT; Arm: 0 … 3).
    pub number: u8,
}

impl Level {
    /// Bytes one entry of this level maps.
    pub const fn span(&self) -> u64 {
        1u64 << self.shift
    }

    /// Entries in one table of this level.
    pub const fn entries(&self) -> usize {
        1usize << self.bits
    }

    /// Index of `iova` in a table of this level.
    #[inline(always)]
    pub const fn index(&self, iova: u64) -> usize {
        ((iova >> self.shift) & ((1u64 << self.bits) - 1)) as usize
    }
}

/// Levels, sizes and address widths of one page-table configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    levels: [Level; MAX_LEVELS],
    masks: [u64; MAX_LEVELS],
    count: u8,
    granule_shift: u8,
    ia_bits: u8,
    oa_bits: u8,
    map_limit: u64,
}

impl Geometry {
    /// A geometry from its levels (root first), the granule (table page and smallest page
    /// size), the input bits the walk indexes, the output-address width, and the end of the
    /// input range `map` accepts.
    pub fn new(
        levels: &[Level],
        granule_shift: u8,
        ia_bits: u8,
        oa_bits: u8,
        map_limit: u64,
    ) -> Result<Geometry, PgError> {
        let bad = |why: &'static str| Err(PgError::BadConfig(why));
        if levels.is_empty() || levels.len() > MAX_LEVELS {
            return bad("a table has 1 to 5 levels");
        }
        if !(12..=16).contains(&granule_shift) || oa_bits > 52 || oa_bits < granule_shift {
            return bad("granule or output width out of range");
        }
        let last = levels[levels.len() - 1];
        if last.shift != granule_shift || !last.leaf {
            return bad("the last level must map granule-sized pages");
        }
        for w in levels.windows(2) {
            if w[0].shift != w[1].shift + w[1].bits {
                return bad("levels must tile the input address");
            }
        }
        let top = levels[0];
        if u32::from(top.shift) + u32::from(top.bits) != u32::from(ia_bits) || ia_bits > 64 {
            return bad("the root must cover the input width");
        }
        if map_limit == 0 || (ia_bits < 64 && map_limit > 1u64 << ia_bits) {
            return bad("map limit beyond the input width");
        }
        let mut l = [Level::default(); MAX_LEVELS];
        l[..levels.len()].copy_from_slice(levels);
        let mut masks = [0u64; MAX_LEVELS];
        for (m, lv) in masks.iter_mut().zip(levels) {
            *m = (1u64 << lv.bits) - 1;
        }
        Ok(Geometry {
            levels: l,
            masks,
            count: levels.len() as u8,
            granule_shift,
            ia_bits,
            oa_bits,
            map_limit,
        })
    }

    /// The levels, root first.
    #[inline(always)]
    pub fn levels(&self) -> &[Level] {
        &self.levels[..self.count as usize]
    }

    /// Level `i` (counted from the root; `i` below [`MAX_LEVELS`]).
    #[inline(always)]
    pub(crate) fn level(&self, i: usize) -> &Level {
        &self.levels[i]
    }

    /// Index of `iova` in a table at level `i` (counted from the root).
    #[inline(always)]
    pub fn index(&self, i: usize, iova: u64) -> usize {
        ((iova >> self.levels[i].shift) & self.masks[i]) as usize
    }

    /// Number of levels.
    #[inline(always)]
    pub fn depth(&self) -> usize {
        self.count as usize
    }

    /// The smallest page size and the size of a non-root table.
    #[inline(always)]
    pub fn granule(&self) -> u64 {
        1u64 << self.granule_shift
    }

    /// Input bits the walk indexes.
    pub fn ia_bits(&self) -> u8 {
        self.ia_bits
    }

    /// Output-address width.
    pub fn oa_bits(&self) -> u8 {
        self.oa_bits
    }

    /// `map` accepts input addresses in `[0, map_limit)`.
    pub fn map_limit(&self) -> u64 {
        self.map_limit
    }

    /// Bytes to allocate for the root table: its entries, at least one granule, a power of two
    /// (several granules when stage-2 tables are concatenated).
    pub fn root_bytes(&self) -> u64 {
        let bytes = (self.levels[0].entries() as u64) * 8;
        bytes.max(self.granule()).next_power_of_two()
    }

    /// Bytes of a table at level `i` (root bytes for the root).
    pub fn table_bytes(&self, i: usize) -> u64 {
        if i == 0 {
            self.root_bytes()
        } else {
            self.granule()
        }
    }

    /// Page sizes a leaf can map, largest first.
    pub fn page_sizes(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels().iter().filter(|l| l.leaf).map(|l| l.span())
    }
}
