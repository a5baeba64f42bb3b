//! Zeroed table pages taken out of a table, kept by the place they had there (see
//! `State::parked`): a map that costs a few dozen instructions per page kept or reused, so
//! that freeing the tables an unmap empties stays a small part of the unmap.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A place in the tree: a table's level and the input bits above the span of the entry that
/// links it.
pub(super) type Place = (usize, u64);

/// Pages by place. The first page of a place is kept inline: a place rarely holds more than
/// one, and keeping one then allocates nothing beside the map's own slot.
#[derive(Default)]
pub(super) struct Parked {
    map: HashMap<Place, Pages, BuildHasherDefault<PlaceHasher>>,
}

#[derive(Default)]
struct Pages {
    first: Option<u64>,
    more: Vec<u64>,
}

impl Parked {
    /// Keeps `page` for reuse at `place`.
    #[inline]
    pub(super) fn push(&mut self, place: Place, page: u64) {
        let pages = self.map.entry(place).or_default();
        if pages.first.is_none() {
            pages.first = Some(page);
        } else {
            pages.more.push(page);
        }
    }

    /// A page kept at `place`, if any.
    #[inline]
    pub(super) fn pop(&mut self, place: Place) -> Option<u64> {
        if self.map.is_empty() {
            return None;
        }
        let pages = self.map.get_mut(&place)?;
        if let Some(page) = pages.more.pop() {
            return Some(page);
        }
        let page = pages.first.take();
        self.map.remove(&place);
        page
    }

    /// Takes every page out.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        self.map
            .drain()
            .flat_map(|(_, pages)| pages.first.into_iter().chain(pages.more))
    }

    /// Pages kept.
    pub(super) fn len(&self) -> usize {
        self.map
            .values()
            .map(|pages| usize::from(pages.first.is_some()) + pages.more.len())
            .sum()
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
