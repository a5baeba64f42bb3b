//! The formats: one module each, every one a [`Format`](crate::Format), and [`any::AnyFormat`]
//! for a format chosen at run time.

pub mod any;
pub mod arm;
pub mod arm_s1;
pub mod arm_s2;
pub mod vtd_ss;
pub mod x86;

/// The Accessed and Dirty bits of an x86-style entry (x86-64 paging, VT-d second stage): a walk
/// sets Accessed in every entry it uses and Dirty in a leaf it writes through.
#[derive(Clone, Copy)]
pub(crate) struct AccessedDirty {
    /// The Accessed bit.
    pub accessed: u64,
    /// The Dirty bit (leaves only).
    pub dirty: u64,
}

impl AccessedDirty {
    /// `pte` after an allowed access walked it (`leaf` when it maps the page).
    #[inline(always)]
    pub(crate) fn hw_update(self, pte: u64, leaf: bool, write: bool) -> u64 {
        let mut v = pte | self.accessed;
        if leaf && write {
            v |= self.dirty;
        }
        v
    }

    /// Whether leaf `pte` has been written through.
    pub(crate) fn is_dirty(self, pte: u64) -> bool {
        pte & self.dirty != 0
    }

    /// Leaf `pte` made clean again.
    pub(crate) fn clean(self, pte: u64) -> u64 {
        pte & !self.dirty
    }
}
