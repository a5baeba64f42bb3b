//! Random sequences of attaches, detaches, maps, unmaps and DMA on two instances, each DMA
//! answer checked against a model of what is attached where and what each domain maps: the
//! drivers' tables, caches and invalidations seen only through what devices get.

#![allow(clippy::unwrap_used)]

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{IOVA, PASID_REQ};
use crate::testing::harness::{DEV, Harness, InstSpec, PAGE};
use crate::{DeviceId, DmaFaultKind, Domain};
use softiommu_pgtable::{Access, Prot};

/// Devices, domains, PASIDs and pages the sequences use.
const DEVICES: usize = 2;
const DOMAINS: usize = 2;
const PASIDS: u32 = 1;
const PAGES: u64 = 3;

/// One step of a sequence.
#[derive(Debug, Clone)]
enum Op {
    /// Attach (or replace) domain `dom` at device `dev`'s RID, or at its PASID. At a RID,
    /// `dom` = [`DOMAINS`] is the identity domain and [`DOMAINS`] + 1 the blocked one.
    Attach {
        dev: usize,
        pasid: Option<u32>,
        dom: usize,
    },
    /// Detach whatever is at the RID or the PASID.
    Detach { dev: usize, pasid: Option<u32> },
    /// Map page `page` of domain `dom` to RAM page `to`, writable or not.
    Map {
        dom: usize,
        page: u64,
        to: u64,
        write: bool,
    },
    /// Unmap page `page` of domain `dom`, flushed at once.
    Unmap { dom: usize, page: u64 },
    /// A device's DMA to byte `offset` of page `page`.
    Dma {
        dev: usize,
        pasid: Option<u32>,
        page: u64,
        offset: u64,
        write: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let dev = 0..DEVICES;
    let pasid = prop::option::of(1..=PASIDS);
    prop_oneof![
        2 => (dev.clone(), pasid.clone(), 0..DOMAINS)
            .prop_map(|(dev, pasid, dom)| Op::Attach { dev, pasid, dom }),
        1 => (dev.clone(), DOMAINS..DOMAINS + 2)
            .prop_map(|(dev, dom)| Op::Attach { dev, pasid: None, dom }),
        1 => (dev.clone(), pasid.clone()).prop_map(|(dev, pasid)| Op::Detach { dev, pasid }),
        3 => (0..DOMAINS, 0..PAGES, 0..PAGES, any::<bool>())
            .prop_map(|(dom, page, to, write)| Op::Map { dom, page, to, write }),
        2 => (0..DOMAINS, 0..PAGES).prop_map(|(dom, page)| Op::Unmap { dom, page }),
        // Mostly the first bytes of a mapping, so that DMA meets what earlier DMA left in
        // the caches.
        5 => (dev, pasid, 0..PAGES, prop_oneof![4 => 0..0x100u64, 1 => 0..PAGE], any::<bool>())
            .prop_map(|(dev, pasid, page, offset, write)| Op::Dma { dev, pasid, page, offset, write }),
    ]
}

/// What the sequence has done, as a user of the core sees it.
#[derive(Default)]
struct Model {
    /// The domain at each (device, PASID), as an index into the paging domains with the
    /// identity and blocked ones last; a device starts blocked.
    attached: HashMap<(usize, Option<u32>), usize>,
    /// Each domain's pages: RAM page and whether writable.
    maps: [BTreeMap<u64, (u64, bool)>; DOMAINS],
}

/// Runs `ops` on a fresh platform of `h`, checking every DMA against the model.
fn run(h: &dyn Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    // One device on each of two instances: a domain used on both is flushed on both.
    let p = h.platform(&[InstSpec::full(), InstSpec::full()]);
    let devs: [DeviceId; DEVICES] = p.devices([(0, DEV), (1, DEV)]);
    let mut doms: Vec<Arc<Domain>> = (0..DOMAINS)
        .map(|_| p.iommu.new_paging(devs[0], PASID_REQ).unwrap())
        .collect();
    doms.push(p.iommu.identity_domain());
    doms.push(p.iommu.blocked_domain());
    let ram = p.alloc(PAGES * PAGE);
    let mut m = Model::default();
    for op in ops {
        match *op {
            Op::Attach { dev, pasid, dom } => {
                let (d, domain) = (devs[dev], &doms[dom]);
                let r = match (pasid, m.attached.contains_key(&(dev, pasid))) {
                    (None, false) => p.iommu.attach(d, domain),
                    (None, true) => p.iommu.replace(d, domain),
                    (Some(s), false) => p.iommu.attach_pasid(d, s, domain),
                    (Some(s), true) => p.iommu.replace_pasid(d, s, domain),
                };
                prop_assert!(r.is_ok(), "{op:?}: {r:?}");
                m.attached.insert((dev, pasid), dom);
            }
            Op::Detach { dev, pasid } => {
                if m.attached.remove(&(dev, pasid)).is_some() {
                    let r = match pasid {
                        None => p.iommu.detach(devs[dev]),
                        Some(s) => p.iommu.detach_pasid(devs[dev], s),
                    };
                    prop_assert!(r.is_ok(), "{op:?}: {r:?}");
                }
            }
            Op::Map {
                dom,
                page,
                to,
                write,
            } => {
                let prot = if write { Prot::RW } else { Prot::READ };
                let r = doms[dom].map_sync(IOVA + page * PAGE, ram + to * PAGE, PAGE, prot);
                if let Entry::Vacant(e) = m.maps[dom].entry(page) {
                    prop_assert!(r.is_ok(), "{op:?}: {r:?}");
                    e.insert((to, write));
                } else {
                    prop_assert!(r.is_err(), "{op:?}: mapped twice");
                }
            }
            Op::Unmap { dom, page } => {
                let r = doms[dom].unmap_sync(IOVA + page * PAGE, PAGE);
                let was = m.maps[dom].remove(&page).map_or(0, |_| PAGE);
                prop_assert_eq!(r.unwrap_or(0), was, "{:?}", op);
            }
            Op::Dma {
                dev,
                pasid,
                page,
                offset,
                write,
            } => {
                let access = if write { Access::WRITE } else { Access::READ };
                let got = p.dma(devs[dev], pasid, IOVA + page * PAGE + offset, access);
                let dom = match m.attached.get(&(dev, pasid)) {
                    Some(&d) if d < DOMAINS => d,
                    Some(&d) if d == DOMAINS => {
                        let iova = IOVA + page * PAGE + offset;
                        prop_assert_eq!(got.map(|t| t.pa), Ok(iova), "{:?}: identity", op);
                        continue;
                    }
                    _ => {
                        prop_assert!(got.is_err(), "{op:?}: blocked, got {got:?}");
                        continue;
                    }
                };
                match m.maps[dom].get(&page) {
                    None => prop_assert_eq!(
                        got.map_err(|f| f.kind),
                        Err(DmaFaultKind::NotPresent),
                        "{:?}",
                        op
                    ),
                    Some(&(_, false)) if write => prop_assert_eq!(
                        got.map_err(|f| f.kind),
                        Err(DmaFaultKind::Permission),
                        "{:?}",
                        op
                    ),
                    Some(&(to, _)) => {
                        prop_assert_eq!(got.map(|t| t.pa), Ok(ram + to * PAGE + offset), "{:?}", op)
                    }
                }
            }
        }
    }
    Ok(())
}

/// Random sequences of attaches and detaches at RIDs and PASIDs, maps, unmaps and DMA: every
/// DMA gets what the attachments and mappings made so far say — the page's RAM, a
/// not-present or permission fault, or a refusal where nothing is attached — so no stale
/// translation outlives an unmap, a detach or a replace.
pub fn random_operations_agree_with_a_model(h: &dyn Harness) {
    let config = Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ops = prop::collection::vec(op(), 1..64);
    if let Err(e) = runner.run(&ops, |ops| run(h, &ops)) {
        panic!("{e}");
    }
}
