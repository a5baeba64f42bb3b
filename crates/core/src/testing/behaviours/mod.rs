//! The behaviours of `docs/design.md` (S2–S9, S11, groups, atomic replace), and random
//! sequences of attaches, maps, unmaps and DMA checked against a model, shown through the
//! core's public API on every driver: each test is a function of a
//! [`Harness`](crate::testing::harness::Harness), run once per harness by
//! [`behaviour_tests!`](crate::behaviour_tests). Each shows the behaviour and the refusal of
//! the wrong case with its exact error.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use super::harness::Platform;
use crate::{CoreError, DeviceId, Domain, DomainId, InstanceId, PagingRequest, Pasid};
use softiommu_pgtable::Prot;

/// An IOVA the tests map (below every harness's smallest input range).
pub(super) const IOVA: u64 = 0x100_0000;

/// Asserts that `$call` returned `Err` matching the pattern.
macro_rules! refused {
    ($call:expr, $($pat:tt)+) => {{
        let r = $call;
        assert!(
            matches!(r, Err($($pat)+)),
            "{}: expected Err({}), got {:?}",
            stringify!($call),
            stringify!($($pat)+),
            r
        );
    }};
}

/// The instance and domain of an `Incompatible` refusal; panics on anything else.
#[track_caller]
pub(super) fn incompatible<T: std::fmt::Debug>(r: crate::Result<T>) -> (InstanceId, DomainId) {
    match r {
        Err(CoreError::Incompatible {
            instance, domain, ..
        }) => (instance, domain),
        other => panic!("expected Err(Incompatible), got {other:?}"),
    }
}

/// A new paging domain for `dev` with `[iova, iova + size)` mapped read-write to fresh RAM;
/// returns the domain and the RAM's address.
pub(super) fn mapped(
    p: &Platform,
    dev: DeviceId,
    req: PagingRequest,
    iova: u64,
    size: u64,
) -> (Arc<Domain>, u64) {
    let d = p.iommu.new_paging(dev, req).unwrap();
    let pa = p.alloc(size);
    d.map_sync(iova, pa, size, Prot::RW).unwrap();
    (d, pa)
}

pub(super) const PASID_REQ: PagingRequest = PagingRequest {
    pasid: true,
    nest_parent: false,
    dirty_tracking: false,
};

/// A paging domain to nest others over.
pub(super) const NEST_PARENT: PagingRequest = PagingRequest {
    pasid: false,
    nest_parent: true,
    dirty_tracking: false,
};

/// Where a domain is attached, as (device, PASID) pairs.
pub(super) fn places(d: &Domain) -> BTreeSet<(DeviceId, Option<Pasid>)> {
    d.attachments()
        .iter()
        .map(|a| (a.device, a.pasid))
        .collect()
}

// ------------------------------------------------------------------------------------------

mod attach;
mod nested_sva;
mod pasids;
mod random;
mod teardown;

pub use attach::*;
pub use nested_sva::*;
pub use pasids::*;
pub use random::*;
pub use teardown::*;
