//! What a user of the core expects after the calls made so far.

use std::collections::{BTreeMap, HashMap};

use crate::Pasid;

/// What is attached at one RID or PASID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// Paging domain `.0`.
    Paging(usize),
    /// The identity domain.
    Identity,
    /// The blocked domain.
    Blocked,
    /// The SVA domain of address space `.0`.
    Sva(usize),
}

/// The model: attachments, mappings, PASIDs handed out and SVA bindings.
#[derive(Default, Debug)]
pub(super) struct Model {
    /// What is attached at each (device, PASID); a device starts blocked at its RID.
    pub(super) attached: HashMap<(usize, Option<Pasid>), At>,
    /// Each paging domain's pages: RAM page and whether writable.
    pub(super) maps: Vec<BTreeMap<u64, (u64, bool)>>,
    /// PASIDs from `alloc_pasid`, not freed, with the owner token they were taken with.
    pub(super) global: BTreeMap<Pasid, u64>,
    /// Private PASIDs of each device.
    pub(super) private: BTreeMap<Pasid, usize>,
    /// The PASID of each address space, once bound; and how many bindings each device holds
    /// on it (every bind counts one, every unbind drops one).
    pub(super) sva: HashMap<usize, (Pasid, BTreeMap<usize, u32>)>,
}

impl Model {
    /// Whether `pasid` is taken: handed out, private, or an address space's.
    pub(super) fn taken(&self, pasid: Pasid) -> bool {
        self.global.contains_key(&pasid)
            || self.private.contains_key(&pasid)
            || self.sva.values().any(|(p, _)| *p == pasid)
    }

    /// Whether `pasid` is an address space's: its SVA bindings alone attach and detach it.
    pub(super) fn sva_pasid(&self, pasid: Pasid) -> bool {
        self.sva.values().any(|(p, _)| *p == pasid)
    }
}
