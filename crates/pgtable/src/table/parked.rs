//! Zeroed table pages taken out of a table, kept by the place they had there (see
//! `State::parked`): a map that costs a few dozen instructions per page kept or reused, so
//! that freeing the tables an unmap empties stays a small part of the unmap.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

/// A place in the tree: a table's level and the input bits above the span of the entry that
/// links it, packed in one word ([`place`]).
pub(super) type Place = u64;

/// The place of a table at `level` whose linking entry spans the inputs `bits` (an input
/// address shifted right by at least 12, so three bits are free for the level).
#[inline(always)]
pub(super) fn place(level: usize, bits: u64) -> Place {
    (bits << 3) | (level as u64 & 7)
}

/// Pages by place. A place rarely holds more than one page, so the first page of each sits
/// alone in one map of single words; further pages of a place go to a second map, looked at
/// only when it is not empty.
#[derive(Default)]
pub(super) struct Parked {
    first: HashMap<Place, u64, BuildHasherDefault<PlaceHasher>>,
    more: HashMap<Place, Vec<u64>, BuildHasherDefault<PlaceHasher>>,
}

impl Parked {
    /// Keeps `page` for reuse at `place`.
    #[inline]
    pub(super) fn push(&mut self, place: Place, page: u64) {
        match self.first.entry(place) {
            Entry::Vacant(v) => {
                v.insert(page);
            }
            Entry::Occupied(_) => self.more.entry(place).or_default().push(page),
        }
    }

    /// A page kept at `place`, if any.
    #[inline]
    pub(super) fn pop(&mut self, place: Place) -> Option<u64> {
        if self.first.is_empty() {
            return None;
        }
        if !self.more.is_empty()
            && let Some(pages) = self.more.get_mut(&place)
        {
            let page = pages.pop();
            if pages.is_empty() {
                self.more.remove(&place);
            }
            if page.is_some() {
                return page;
            }
        }
        self.first.remove(&place)
    }

    /// Takes every page out.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        let more = self.more.drain().flat_map(|(_, pages)| pages);
        self.first.drain().map(|(_, page)| page).chain(more)
    }

    /// Whether no page is kept (without walking the maps, which draining an empty one does).
    pub(super) fn is_empty(&self) -> bool {
        self.first.is_empty() && self.more.is_empty()
    }

    /// Pages kept.
    pub(super) fn len(&self) -> usize {
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
    }
}

/// A multiply-and-fold hash of a place's two words. Places come from the table's own
/// addresses, not from a peer that could choose colliding keys at scale, so no seeded hash is
/// needed.
#[derive(Default)]
pub(super) struct PlaceHasher(u64);

impl Hasher for PlaceHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(23) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}
