//! What accesses ask of an IO page table: their alignment, and which areas an unmap would
//! take away before it takes them.

use super::{IoPt, intersects};
use crate::error::{Result, err};

impl IoPt {
    /// Sets the alignment access `id` needs (1: none) and raises the table's to it:
    /// `EADDRINUSE` if a mapping does not keep it, and nothing changes.
    pub(crate) fn set_access_align(&mut self, id: u32, align: u64) -> Result<()> {
        let old = self.access_align.insert(id, align);
        if let Err(e) = self.update_alignment() {
            match old {
                Some(a) => self.access_align.insert(id, a),
                None => self.access_align.remove(&id),
            };
            return Err(e);
        }
        Ok(())
    }

    /// Forgets what access `id` needed; the alignment falls back to what is left.
    pub(crate) fn remove_access_align(&mut self, id: u32) {
        self.access_align.remove(&id);
        // Lowering the alignment never fails.
        let _ = self.update_alignment();
    }

    /// The areas, as `(first, last)`, that an unmap of `[start, last]` would remove: an area
    /// only partly inside is `ENOENT`, and so is a range holding no area.
    pub(crate) fn areas_in(&self, start: u64, last: u64) -> Result<Vec<(u64, u64)>> {
        let mut found = Vec::new();
        self.each_area_in(start, last, |s, l| found.push((s, l)))?;
        Ok(found)
    }

    /// Hands the areas of [`areas_in`](Self::areas_in) to `f` in order, without gathering
    /// them; the errors are those of `areas_in`, and `f` has seen areas before a split one.
    pub(crate) fn each_area_in(
        &self,
        start: u64,
        last: u64,
        mut f: impl FnMut(u64, u64),
    ) -> Result<()> {
        let mut any = false;
        let mut at = start;
        while let Some((s, l)) = intersects(&self.areas, at, last) {
            if s < start || l > last {
                return err(libc::ENOENT, "the range would split a mapping");
            }
            any = true;
            f(s, l);
            match l.checked_add(1) {
                Some(n) if n <= last => at = n,
                _ => break,
            }
        }
        if !any {
            return err(libc::ENOENT, "no mapping in the range");
        }
        Ok(())
    }
}
