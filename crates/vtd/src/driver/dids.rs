//! Domain IDs: one per (domain, unit), from the 2^(4 + 2·CAP.ND) the unit tags its caches
//! with, allocated on a domain's first attachment and freed with its last.

use softiommu_core::{CoreError, DeviceId, DomainId, Result};
use softiommu_mem::AddressSpace;

use super::{DidUse, State, VtdDriver};

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// A domain ID for `domain`: the one it has here, or a free one (not yet recorded).
    /// Fails with [`CoreError::Exhausted`] when every ID the unit has is in use.
    pub(super) fn did_for(&self, st: &State, domain: DomainId) -> Result<u16> {
        if let Some(u) = st.dids.get(&domain) {
            return Ok(u.did);
        }
        if let Some(&d) = st.free_dids.last() {
            return Ok(d);
        }
        let limit = 1u32 << self.hw.did_bits;
        match u16::try_from(st.next_did) {
            Ok(d) if st.next_did < limit => Ok(d),
            _ => Err(CoreError::Exhausted("domain IDs (CAP.ND)")),
        }
    }

    /// Records `user` (a device and PASID) of `domain` under `did`, which
    /// [`did_for`](Self::did_for) gave.
    pub(super) fn did_take(st: &mut State, domain: DomainId, did: u16, user: (DeviceId, u32)) {
        if let Some(u) = st.dids.get_mut(&domain) {
            u.users.push(user);
            return;
        }
        if st.free_dids.last() == Some(&did) {
            st.free_dids.pop();
        } else if st.next_did == u32::from(did) {
            st.next_did += 1;
        }
        st.dids.insert(
            domain,
            DidUse {
                did,
                users: vec![user],
            },
        );
    }

    /// Forgets `user` of `domain`; its ID is freed with the last user.
    pub(super) fn did_drop(st: &mut State, domain: DomainId, user: (DeviceId, u32)) {
        if let Some(u) = st.dids.get_mut(&domain) {
            u.users.retain(|x| *x != user);
            if u.users.is_empty() {
                let did = u.did;
                st.dids.remove(&domain);
                st.free_dids.push(did);
            }
        }
    }
}
