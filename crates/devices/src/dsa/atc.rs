//! The function's address translation cache: ATS translation completions kept per PASID and
//! 4 KiB page, and the invalidations that remove them once no access still uses them.

use std::collections::HashMap;

use parking_lot::{Condvar, Mutex};

use crate::bus::{AtcInvalidation, AtsTranslation};

/// Bytes of one ATC page.
const PAGE: u64 = 4096;

/// One cached translation of one page.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Translated address of the page.
    translated: u64,
    /// The completion granted reads.
    read: bool,
    /// The completion granted writes.
    write: bool,
    /// The completion was made for a privileged request.
    privileged: bool,
    /// Names the entry among the entries in use.
    id: u64,
}

#[derive(Default)]
struct State {
    /// Cached translations by PASID and page number.
    entries: HashMap<(Option<u32>, u64), Entry>,
    /// Accesses in flight per entry id (present while the count is above zero).
    in_use: HashMap<u64, usize>,
    /// Next entry id.
    next_id: u64,
    /// Invalidations so far: a fill started before one is not trusted.
    epoch: u64,
}

/// An address translation cache keyed by PASID and 4 KiB page.
#[derive(Default)]
pub(crate) struct Atc {
    state: Mutex<State>,
    /// Signalled when an entry's last in-flight access ends.
    released: Condvar,
}

impl std::fmt::Debug for Atc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Atc")
            .field("entries", &s.entries.len())
            .field("in_use", &s.in_use.len())
            .finish()
    }
}

/// One access using a cached translation: while it lives, an invalidation of its entry waits.
#[derive(Debug)]
pub(crate) struct AtcUse<'a> {
    atc: &'a Atc,
    id: u64,
    /// Translated address of the page.
    pub page_pa: u64,
}

impl Drop for AtcUse<'_> {
    fn drop(&mut self) {
        let mut s = self.atc.state.lock();
        if let Some(n) = s.in_use.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                s.in_use.remove(&self.id);
                self.atc.released.notify_all();
            }
        }
    }
}

fn take_use<'a>(atc: &'a Atc, s: &mut State, e: &Entry) -> AtcUse<'a> {
    *s.in_use.entry(e.id).or_insert(0) += 1;
    AtcUse {
        atc,
        id: e.id,
        page_pa: e.translated,
    }
}

impl Atc {
    /// The cached translation of the page holding `addr` for `pasid`, when it grants the
    /// access (write or read, at the privilege asked), marked in use.
    pub fn lookup(
        &self,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
        write: bool,
    ) -> Option<AtcUse<'_>> {
        let mut s = self.state.lock();
        let e = *s.entries.get(&(pasid, addr / PAGE))?;
        let allowed = if write { e.write } else { e.read };
        (allowed && e.privileged == privileged).then(|| take_use(self, &mut s, &e))
    }

    /// The invalidation count, read before a translation request is sent.
    pub fn epoch(&self) -> u64 {
        self.state.lock().epoch
    }

    /// Caches completion `t` for the page holding `addr` of `pasid` and marks it in use;
    /// `None` (nothing cached) when an invalidation arrived since `epoch`, or when `t` does
    /// not cover the page.
    pub fn fill(
        &self,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
        t: &AtsTranslation,
        epoch: u64,
    ) -> Option<AtcUse<'_>> {
        let page = addr & !(PAGE - 1);
        let translated = t.translate(page)?;
        let mut s = self.state.lock();
        if s.epoch != epoch {
            return None;
        }
        let e = Entry {
            translated: translated & !(PAGE - 1),
            read: t.rights.read,
            write: t.rights.write,
            privileged,
            id: s.next_id,
        };
        s.next_id += 1;
        s.entries.insert((pasid, page / PAGE), e);
        Some(take_use(self, &mut s, &e))
    }

    /// Removes the entries `inv` covers and returns once no access uses any of them; the
    /// number removed.
    pub fn invalidate(&self, inv: &AtcInvalidation) -> usize {
        let mut s = self.state.lock();
        s.epoch += 1;
        let mut gone = Vec::new();
        s.entries.retain(|&(pasid, page), e| {
            let hit = inv.applies_to(pasid) && inv.overlaps(page * PAGE, PAGE);
            if hit {
                gone.push(e.id);
            }
            !hit
        });
        while gone.iter().any(|id| s.in_use.contains_key(id)) {
            self.released.wait(&mut s);
        }
        gone.len()
    }

    /// Entries cached.
    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Rights;

    fn completion(addr: u64, pa: u64) -> AtsTranslation {
        AtsTranslation {
            untranslated: addr,
            translated: pa,
            size_log2: 12,
            rights: Rights::READ_WRITE,
            global: false,
            untranslated_only: false,
        }
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let atc = Atc::default();
        let epoch = atc.epoch();
        let inv = AtcInvalidation {
            rid: 0,
            pasid: None,
            global: false,
            addr: 0x1000,
            size_log2: 12,
        };
        atc.invalidate(&inv);
        assert!(
            atc.fill(None, false, 0x1000, &completion(0x1000, 0x9000), epoch)
                .is_none()
        );
        assert_eq!(atc.len(), 0);
        let epoch = atc.epoch();
        let u = atc.fill(None, false, 0x1234, &completion(0x1000, 0x9000), epoch);
        assert_eq!(u.map(|u| u.page_pa), Some(0x9000));
        // A larger completion is cached for the page asked about.
        let big = AtsTranslation {
            size_log2: 21,
            ..completion(0x20_0000, 0x4000_0000)
        };
        let u = atc.fill(Some(3), false, 0x20_5000, &big, epoch);
        assert_eq!(u.map(|u| u.page_pa), Some(0x4000_5000));
        assert!(atc.lookup(Some(3), false, 0x20_5fff, true).is_some());
        assert!(atc.lookup(Some(3), false, 0x20_6000, false).is_none());
        assert!(
            atc.lookup(Some(3), true, 0x20_5000, false).is_none(),
            "other privilege"
        );
        assert!(
            atc.lookup(None, false, 0x20_5000, false).is_none(),
            "other PASID"
        );
    }

    #[test]
    fn an_invalidation_waits_for_the_access_using_the_entry() {
        let atc = std::sync::Arc::new(Atc::default());
        let epoch = atc.epoch();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let using = atc.fill(None, false, 0, &completion(0, 0x5000), epoch);
        assert!(using.is_some());
        let (a, d) = (atc.clone(), done.clone());
        let t = std::thread::spawn(move || {
            let inv = AtcInvalidation {
                rid: 0,
                pasid: Some(1),
                global: false,
                addr: 0,
                size_log2: 64,
            };
            // Another PASID's invalidation does not wait.
            a.invalidate(&inv);
            a.invalidate(&AtcInvalidation { pasid: None, ..inv });
            d.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!done.load(std::sync::atomic::Ordering::SeqCst));
        drop(using);
        t.join().expect("invalidation ends once the access ends");
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }
}
