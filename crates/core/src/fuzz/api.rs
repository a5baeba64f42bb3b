//! The API sequence: attachments at RIDs and PASIDs, maps, unmaps, PASID allocation, SVA
//! binding, address-space changes, page requests and DMA.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use softiommu_pgtable::{Access, Prot};

use super::model::{At, Model};
use crate::testing::{DEV, Harness, InstSpec, PAGE, Platform};
use crate::{
    DeviceId, DmaFaultKind, DmaTranslation, Domain, Mm, PASID_LIMIT, PageRequest, PagingRequest,
    Pasid,
};

/// Devices (one on each of two instances), paging domains, and pages the calls use.
const DEVICES: usize = 2;
const DOMAINS: usize = 3;
const PAGES: u64 = 4;
/// Where domains map and address spaces are mapped (below every harness's input range).
const IOVA: u64 = 0x100_0000;
/// The PASIDs a sequence names besides the ones the core hands out.
const SMALL_PASIDS: u32 = 3;

const PASID_REQ: PagingRequest = PagingRequest {
    pasid: true,
    nest_parent: false,
    dirty_tracking: false,
};

/// What a sequence works with.
struct World {
    p: Platform,
    devs: [DeviceId; DEVICES],
    doms: Vec<Arc<Domain>>,
    mms: Vec<Arc<Mm>>,
    ram: u64,
    m: Model,
}

/// Runs the calls the bytes describe on a fresh platform of `h` with two instances. Every call
/// must succeed or fail as the model allows, and every DMA must get what the calls made so
/// far say: the mapped RAM, the identity address, the address space's page, or a fault.
pub fn api(h: &dyn Harness, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let p = h.platform(&[InstSpec::full(), InstSpec::full()]);
    let devs = p.devices([(0, DEV), (1, DEV)]);
    let doms: Vec<Arc<Domain>> = (0..DOMAINS)
        .filter_map(|_| p.iommu.new_paging(devs[0], PASID_REQ).ok())
        .collect();
    assert_eq!(doms.len(), DOMAINS, "paging domains for a full instance");
    let mms: Vec<Arc<Mm>> = (0..2)
        .filter_map(|_| p.iommu.new_mm(p.stage1.clone()).ok())
        .collect();
    for mm in &mms {
        let _ = mm.mmap(IOVA, PAGES * PAGE, Prot::RW);
    }
    let ram = p.alloc(PAGES * PAGE);
    let mut w = World {
        p,
        devs,
        doms,
        mms,
        ram,
        m: Model {
            maps: vec![Default::default(); DOMAINS],
            ..Model::default()
        },
    };
    while !u.is_empty() {
        if step(&mut w, &mut u).is_err() {
            break;
        }
    }
}

/// A PASID to name: none (the RID), a small one, one the core handed out, or anything.
fn pasid(w: &World, u: &mut Unstructured<'_>) -> Result<Option<Pasid>> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 | 1 => None,
        2 | 3 => Some(u.int_in_range(1..=SMALL_PASIDS)?),
        4 => {
            let known: Vec<Pasid> =
                w.m.global
                    .keys()
                    .chain(w.m.private.keys())
                    .chain(w.m.sva.values().map(|(p, _)| p))
                    .copied()
                    .collect();
            match known.is_empty() {
                true => Some(u.arbitrary()?),
                false => Some(*u.choose(&known)?),
            }
        }
        _ => Some(u.arbitrary()?),
    })
}

fn step(w: &mut World, u: &mut Unstructured<'_>) -> Result<()> {
    let dev = u.int_in_range(0..=DEVICES - 1)?;
    let d = w.devs[dev];
    match u.int_in_range(0u8..=15)? {
        0 | 1 => {
            let pasid = pasid(w, u)?;
            let target = match u.int_in_range(0..=DOMAINS + 1)? {
                i if i < DOMAINS => At::Paging(i),
                i if i == DOMAINS => At::Identity,
                _ => At::Blocked,
            };
            attach(w, dev, pasid, target);
        }
        2 => {
            let pasid = pasid(w, u)?;
            let r = match pasid {
                None => w.p.iommu.detach(d),
                Some(s) => w.p.iommu.detach_pasid(d, s),
            };
            let was = w.m.attached.get(&(dev, pasid)).copied();
            match (&r, was) {
                (Ok(()), Some(At::Sva(mm))) => {
                    panic!("detach of the SVA binding of {mm} at {pasid:?} of device {dev}")
                }
                (Ok(()), _) => {}
                (Err(e), Some(At::Paging(_) | At::Identity | At::Blocked)) => {
                    panic!("detach {pasid:?} of device {dev}: {e}")
                }
                (Err(_), _) => {}
            }
            if r.is_ok() {
                w.m.attached.remove(&(dev, pasid));
            }
        }
        3 | 4 => {
            let (dom, page, to) = (
                u.int_in_range(0..=DOMAINS - 1)?,
                u.int_in_range(0..=PAGES - 1)?,
                u.int_in_range(0..=PAGES - 1)?,
            );
            let write = u.arbitrary()?;
            let prot = if write { Prot::RW } else { Prot::READ };
            let r = w.doms[dom].map_sync(IOVA + page * PAGE, w.ram + to * PAGE, PAGE, prot);
            match w.m.maps[dom].entry(page) {
                Entry::Occupied(_) => {
                    assert!(r.is_err(), "page {page} of domain {dom} mapped twice")
                }
                Entry::Vacant(e) => {
                    assert!(r.is_ok(), "map page {page} of domain {dom}: {r:?}");
                    e.insert((to, write));
                }
            }
        }
        5 => {
            let (dom, page) = (
                u.int_in_range(0..=DOMAINS - 1)?,
                u.int_in_range(0..=PAGES - 1)?,
            );
            let r = w.doms[dom].unmap_sync(IOVA + page * PAGE, PAGE);
            let was = w.m.maps[dom].remove(&page).map_or(0, |_| PAGE);
            assert_eq!(r.unwrap_or(0), was, "unmap page {page} of domain {dom}");
        }
        6..=8 => {
            let pasid = pasid(w, u)?;
            let (page, offset) = (u.int_in_range(0..=PAGES - 1)?, u.arbitrary::<u16>()?);
            let iova = IOVA + page * PAGE + u64::from(offset) % PAGE;
            let access = if u.arbitrary()? {
                Access::WRITE
            } else {
                Access::READ
            };
            let got = if u.ratio(1u8, 4u8)? {
                w.p.dma_with_page_request(d, pasid, iova, access)
            } else {
                w.p.dma(d, pasid, iova, access)
            };
            check_dma(w, dev, pasid, iova, access, got);
        }
        // The user allocating and freeing global PASIDs is the device's index.
        9 => match w.p.iommu.alloc_pasid(dev as u64) {
            Ok(p) => {
                assert!(
                    (1..PASID_LIMIT).contains(&p) && !w.m.taken(p),
                    "alloc_pasid gave {p}, taken or out of range"
                );
                w.m.global.insert(p, dev as u64);
            }
            Err(e) => assert!(w.m.global.len() > 1000, "alloc_pasid: {e}"),
        },
        10 => {
            let Some(p) = pasid(w, u)? else {
                return Ok(());
            };
            let r = w.p.iommu.free_pasid(p, dev as u64);
            let mine = w.m.global.get(&p) == Some(&(dev as u64));
            assert_eq!(r.is_ok(), mine, "free_pasid({p}) by {dev}: {r:?}");
            if mine {
                w.m.global.remove(&p);
            }
        }
        11 => {
            if u.arbitrary()? {
                if let Ok(p) = w.p.iommu.alloc_private_pasid(d) {
                    assert!(!w.m.taken(p), "private PASID {p} is taken");
                    w.m.private.insert(p, dev);
                }
            } else {
                let Some(p) = pasid(w, u)? else {
                    return Ok(());
                };
                let r = w.p.iommu.free_private_pasid(d, p);
                let mine = w.m.private.get(&p) == Some(&dev);
                assert_eq!(r.is_ok(), mine, "free_private_pasid({p}) of {dev}: {r:?}");
                if mine {
                    w.m.private.remove(&p);
                    w.m.attached.remove(&(dev, Some(p)));
                }
            }
        }
        12 | 13 => {
            let mm = u.int_in_range(0..=w.mms.len().saturating_sub(1))?;
            if mm < w.mms.len() {
                sva(w, u, dev, mm)?;
            }
        }
        14 => {
            let req = PageRequest {
                device: d,
                pasid: if u.arbitrary()? {
                    Some(u.arbitrary()?)
                } else {
                    pasid(w, u)?
                },
                addr: if u.arbitrary()? {
                    u.arbitrary()?
                } else {
                    IOVA + u64::from(u.arbitrary::<u32>()?) % (PAGES * PAGE)
                },
                access: Access {
                    write: u.arbitrary()?,
                    exec: u.arbitrary()?,
                    privileged: u.arbitrary()?,
                },
                group: u.arbitrary()?,
                last: u.arbitrary()?,
            };
            let _ = w.p.iommu.page_request(req);
        }
        _ => {
            let inst = w.p.inst[dev];
            let _ = w.p.iommu.page_request_event(inst);
        }
    }
    Ok(())
}

/// Attaches (or replaces) `target` at `dev`'s RID or PASID.
fn attach(w: &mut World, dev: usize, pasid: Option<Pasid>, target: At) {
    let d = w.devs[dev];
    let domain = match target {
        At::Paging(i) => w.doms[i].clone(),
        At::Identity => w.p.iommu.identity_domain(),
        _ => w.p.iommu.blocked_domain(),
    };
    let r = match (pasid, w.m.attached.contains_key(&(dev, pasid))) {
        (None, false) => w.p.iommu.attach(d, &domain),
        (None, true) => w.p.iommu.replace(d, &domain),
        (Some(s), false) => w.p.iommu.attach_pasid(d, s, &domain),
        (Some(s), true) => w.p.iommu.replace_pasid(d, s, &domain),
    };
    match pasid {
        None => assert!(r.is_ok(), "attach {target:?} at the RID of {dev}: {r:?}"),
        Some(s) if w.m.sva_pasid(s) => {
            assert!(
                r.is_err(),
                "{target:?} attached at {s}, an address space's PASID"
            )
        }
        Some(s) if w.m.private.get(&s).is_some_and(|&o| o != dev) => {
            assert!(
                r.is_err(),
                "{target:?} attached at {s}, another device's private PASID"
            )
        }
        Some(s) if s >= PASID_LIMIT => assert!(r.is_err(), "attach at PASID {s:#x}"),
        Some(s)
            if (1..=SMALL_PASIDS).contains(&s)
                && !w.m.taken(s)
                && matches!(target, At::Paging(_)) =>
        {
            assert!(r.is_ok(), "attach {target:?} at PASID {s} of {dev}: {r:?}")
        }
        Some(_) => {}
    }
    if r.is_ok() {
        w.m.attached.insert((dev, pasid), target);
    }
}

/// Binds, unbinds or changes address space `mm`.
fn sva(w: &mut World, u: &mut Unstructured<'_>, dev: usize, mm: usize) -> Result<()> {
    let d = w.devs[dev];
    let space = &w.mms[mm];
    match u.int_in_range(0u8..=4)? {
        0 | 1 => {
            if let Ok(p) = w.p.iommu.sva_bind(d, space) {
                match w.m.sva.get(&mm) {
                    Some((q, _)) => assert_eq!(p, *q, "a second PASID for one address space"),
                    None => assert!(!w.m.taken(p), "SVA PASID {p} is taken"),
                }
                *w.m.sva
                    .entry(mm)
                    .or_insert((p, BTreeMap::new()))
                    .1
                    .entry(dev)
                    .or_default() += 1;
                w.m.attached.insert((dev, Some(p)), At::Sva(mm));
            }
        }
        2 => {
            let r = w.p.iommu.sva_unbind(d, space);
            let bound =
                w.m.sva
                    .get(&mm)
                    .is_some_and(|(_, devs)| devs.contains_key(&dev));
            assert_eq!(r.is_ok(), bound, "unbind of {mm} from {dev}: {r:?}");
            if let Some((p, devs)) = w.m.sva.get_mut(&mm) {
                // The last binding of the device detaches the PASID.
                if let Entry::Occupied(mut n) = devs.entry(dev) {
                    *n.get_mut() -= 1;
                    if *n.get() == 0 {
                        n.remove();
                        w.m.attached.remove(&(dev, Some(*p)));
                    }
                }
                if devs.is_empty() && space.pasid().is_none() {
                    w.m.sva.remove(&mm);
                }
            }
        }
        3 => {
            let page = u.int_in_range(0..=PAGES - 1)?;
            let pages = u.int_in_range(1..=PAGES - page)?;
            let _ = space.munmap(IOVA + page * PAGE, pages * PAGE);
        }
        _ => {
            let page = u.int_in_range(0..=PAGES - 1)?;
            let pages = u.int_in_range(1..=PAGES - page)?;
            let (at, len) = (IOVA + page * PAGE, pages * PAGE);
            if u.arbitrary()? {
                let _ = space.mmap(at, len, Prot::RW);
            } else {
                let _ = space.populate(at, len);
            }
        }
    }
    Ok(())
}

/// Checks one DMA answer against the model.
fn check_dma(
    w: &World,
    dev: usize,
    pasid: Option<Pasid>,
    iova: u64,
    access: Access,
    got: std::result::Result<DmaTranslation, crate::DmaFault>,
) {
    let what = format!("DMA of {dev} at {pasid:?} {iova:#x} {access:?}");
    match w.m.attached.get(&(dev, pasid)) {
        Some(At::Paging(dom)) => {
            let page = (iova - IOVA) / PAGE;
            match w.m.maps[*dom].get(&page) {
                None => assert_eq!(
                    got.map_err(|f| f.kind),
                    Err(DmaFaultKind::NotPresent),
                    "{what}"
                ),
                Some(&(_, false)) if access.write => assert_eq!(
                    got.map_err(|f| f.kind),
                    Err(DmaFaultKind::Permission),
                    "{what}"
                ),
                Some(&(to, _)) => assert_eq!(
                    got.map(|t| t.pa),
                    Ok(w.ram + to * PAGE + (iova - IOVA) % PAGE),
                    "{what}"
                ),
            }
        }
        Some(At::Identity) => assert_eq!(got.map(|t| t.pa), Ok(iova), "{what}: identity"),
        Some(At::Sva(mm)) => {
            if let Ok(t) = got {
                assert_eq!(Some(t.pa), w.mms[*mm].lookup(iova), "{what}: SVA");
            }
        }
        Some(At::Blocked) | None => assert!(got.is_err(), "{what}: blocked, got {got:?}"),
    }
}
