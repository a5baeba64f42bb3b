#![allow(clippy::unwrap_used)]
//! A state-machine test of the core's object model.
//!
//! The platform: one [`Iommu`] over a RAM arena, three reference instances — the private
//! table format, the VT-d second-stage format, and a private one with a narrow aperture and a
//! 2-bit PASID width — eight PASID-capable devices in singleton groups, the blocked and
//! identity domains and two paging domains made on each instance.
//!
//! Random sequences of attach / replace / detach at the RID and at PASIDs 1..=4, and of map
//! and unmap (each flushed with `sync`), run against the core and against a plain model of
//! what every (device, RID or PASID) is attached to and of each domain's mappings. Every
//! result, and every refusal, must be the one the model predicts; after every step, a DMA
//! request of every device at its RID and at each PASID, at probe addresses mapped and
//! unmapped, must reach exactly what the model says: the right physical address, or the
//! right fault.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use softiommu_core::reference::{RefConfig, RefIommu};
use softiommu_core::{
    CoreError, DeviceCaps, DeviceDesc, DeviceId, DmaFault, DmaFaultKind, DmaTranslation, Domain,
    DomainId, Gather, InstanceId, Iommu, Mem, PagingRequest, Pasid, Rid, TableAlloc, Topology,
};
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::{Access, PgError, Prot};

const PAGE: u64 = 4096;
const ARENA: u64 = 32 << 20;

/// Instances: 0 private format, 1 VT-d second stage, 2 private format with an aperture of
/// 2^39, 40 output bits and 2 PASID bits.
const NINST: usize = 3;
const INST_PASID_BITS: [u8; NINST] = [20, 20, 2];
/// The input range of the paging domains each instance makes.
const APERTURE_END: [u64; NINST] = [1 << 48, 1 << 48, 1 << 39];
/// Whether a paging domain made on instance `[i]` can be attached on instance `[j]`:
/// 0's domains are too wide for 2; 1's map 2 MiB and 1 GiB pages, which only 1 walks; 2's
/// fit everywhere.
const COMPAT: [[bool; NINST]; NINST] = [
    [true, true, false],
    [false, true, false],
    [true, true, true],
];

const NDEV: usize = 8;
/// The instance each device sits behind, and its own PASID width.
const DEV_INST: [usize; NDEV] = [0, 0, 0, 1, 1, 1, 2, 2];
const DEV_PASID_BITS: [u8; NDEV] = [20, 20, 20, 20, 20, 2, 20, 1];

/// Domains: 0 blocked, 1 identity, then paging domains made on `PAGING_INST[i - 2]`.
const BLOCKED: usize = 0;
const IDENTITY: usize = 1;
const PAGING_INST: [usize; 6] = [0, 0, 1, 1, 2, 2];
const NDOM: usize = 2 + PAGING_INST.len();

const NPASID: usize = 4;

/// Where maps and unmaps go: a run of small pages, a 2 MiB-aligned block (a 2 MiB leaf in
/// the VT-d format, split by partial unmaps), and a range above instance 2's aperture.
const LOW: u64 = 0x4000_0000;
const HUGE: u64 = 0x8000_0000;
const HUGE_SIZE: u64 = 2 << 20;
const HIGH: u64 = (1 << 39) + 0x20_0000;
/// Output addresses: each map takes the next 2 MiB, so that no two maps share one.
const PA_BASE: u64 = 0x1_0000_0000;

const PROBES: [u64; 12] = [
    LOW,
    LOW + PAGE + 0x123,
    LOW + 3 * PAGE + 0xfff,
    LOW + 6 * PAGE + 8,
    LOW + 10 * PAGE,
    LOW + 15 * PAGE + 0x800,
    LOW + 18 * PAGE + 0x10,
    HUGE,
    HUGE + 256 * PAGE + 0x10,
    HUGE + 511 * PAGE + 0xff8,
    HIGH,
    HIGH + PAGE + 4,
];

fn dom_inst(dom: usize) -> Option<usize> {
    dom.checked_sub(2).map(|i| PAGING_INST[i])
}

/// A range of input addresses a map or unmap covers.
#[derive(Clone, Copy, Debug)]
enum Span {
    Low { first: u64, pages: u64 },
    Huge,
    HugePart { page: u64, pages: u64 },
    High { first: u64, pages: u64 },
}

impl Span {
    fn range(self) -> (u64, u64) {
        match self {
            Span::Low { first, pages } => (LOW + first * PAGE, pages * PAGE),
            Span::Huge => (HUGE, HUGE_SIZE),
            Span::HugePart { page, pages } => (
                HUGE + page * PAGE,
                pages.min(HUGE_SIZE / PAGE - page) * PAGE,
            ),
            Span::High { first, pages } => (HIGH + first * PAGE, pages * PAGE),
        }
    }
}

/// A range to unmap: a fixed one, or part of a mapping the domain has (the `pick`th), less
/// `head` pages at its start and `tail` at its end, or running one page past it with `over`.
#[derive(Clone, Copy, Debug)]
enum Unmap {
    At(Span),
    Mapped {
        pick: Index,
        head: u64,
        tail: u64,
        over: bool,
    },
}

/// Operations. A `pick` makes the operation choose among what exists — attached RIDs,
/// attached PASIDs, domains that are attached or have mappings — when there is any, instead
/// of its own random choice, so that detaches, replaces and unmaps often meet something.
#[derive(Clone, Debug)]
enum Op {
    Attach {
        dev: usize,
        dom: usize,
    },
    Replace {
        dev: usize,
        dom: usize,
    },
    Detach {
        dev: usize,
        pick: Option<Index>,
    },
    AttachPasid {
        dev: usize,
        pasid: Pasid,
        dom: usize,
        pick: Option<Index>,
    },
    ReplacePasid {
        dev: usize,
        pasid: Pasid,
        dom: usize,
        pick: Option<Index>,
    },
    DetachPasid {
        dev: usize,
        pasid: Pasid,
        pick: Option<Index>,
    },
    Map {
        dom: usize,
        pick: Option<Index>,
        span: Span,
        ro: bool,
    },
    /// Unmaps into one gather, then syncs once.
    Unmap {
        dom: usize,
        pick: Option<Index>,
        ranges: Vec<Unmap>,
    },
}

fn span() -> impl Strategy<Value = Span> {
    prop_oneof![
        6 => (0..16u64, 1..=4u64).prop_map(|(first, pages)| Span::Low { first, pages }),
        1 => Just(Span::Huge),
        2 => (prop::sample::select(vec![0u64, 1, 255, 256, 511]), 1..=3u64)
            .prop_map(|(page, pages)| Span::HugePart { page, pages }),
        1 => (0..2u64, 1..=2u64).prop_map(|(first, pages)| Span::High { first, pages }),
    ]
}

fn unmap_range() -> impl Strategy<Value = Unmap> {
    prop_oneof![
        1 => span().prop_map(Unmap::At),
        2 => (any::<Index>(), 0..3u64, 0..3u64, prop::bool::weighted(0.2))
            .prop_map(|(pick, head, tail, over)| Unmap::Mapped { pick, head, tail, over }),
    ]
}

fn pick(p: f64) -> impl Strategy<Value = Option<Index>> {
    prop::option::weighted(p, any::<Index>())
}

fn op() -> impl Strategy<Value = Op> {
    let dev = 0..NDEV;
    // Attachments go mostly to paging domains too.
    let dom = prop_oneof![1 => 0..2usize, 4 => 2..NDOM];
    let pasid = 1..=NPASID as Pasid;
    // Maps and unmaps go mostly to paging domains.
    let mdom = prop_oneof![1 => 0..2usize, 9 => 2..NDOM];
    prop_oneof![
        3 => (dev.clone(), dom.clone()).prop_map(|(dev, dom)| Op::Attach { dev, dom }),
        2 => (dev.clone(), dom.clone()).prop_map(|(dev, dom)| Op::Replace { dev, dom }),
        2 => (dev.clone(), pick(0.7)).prop_map(|(dev, pick)| Op::Detach { dev, pick }),
        4 => (dev.clone(), pasid.clone(), dom.clone(), pick(0.15))
            .prop_map(|(dev, pasid, dom, pick)| Op::AttachPasid { dev, pasid, dom, pick }),
        2 => (dev.clone(), pasid.clone(), dom, pick(0.7))
            .prop_map(|(dev, pasid, dom, pick)| Op::ReplacePasid { dev, pasid, dom, pick }),
        2 => (dev, pasid, pick(0.7))
            .prop_map(|(dev, pasid, pick)| Op::DetachPasid { dev, pasid, pick }),
        5 => (mdom.clone(), pick(0.5), span(), prop::bool::weighted(0.25))
            .prop_map(|(dom, pick, span, ro)| Op::Map { dom, pick, span, ro }),
        4 => (mdom, pick(0.7), prop::collection::vec(unmap_range(), 1..=2))
            .prop_map(|(dom, pick, ranges)| Op::Unmap { dom, pick, ranges }),
    ]
}

/// A refusal, as precisely as the model predicts it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum E {
    Busy,
    NotAttached(DeviceId, Option<Pasid>),
    Incompatible(InstanceId, DomainId),
    Invalid,
    AlreadyMapped,
    NotMapped,
    OutOfRange,
    Other(String),
}

fn classify(e: &CoreError) -> E {
    match e {
        CoreError::Busy(_) => E::Busy,
        CoreError::NotAttached { device, pasid } => E::NotAttached(*device, *pasid),
        CoreError::Incompatible {
            instance, domain, ..
        } => E::Incompatible(*instance, *domain),
        CoreError::Invalid(_) => E::Invalid,
        CoreError::Table(PgError::AlreadyMapped { .. }) => E::AlreadyMapped,
        CoreError::Table(PgError::NotMapped { .. }) => E::NotMapped,
        CoreError::Table(PgError::IovaOutOfRange { .. }) => E::OutOfRange,
        other => E::Other(format!("{other:?}")),
    }
}

fn got<T>(r: softiommu_core::Result<T>) -> Result<T, E> {
    r.map_err(|e| classify(&e))
}

struct Platform {
    iommu: Iommu,
    insts: Vec<InstanceId>,
    devs: Vec<DeviceId>,
    doms: Vec<Arc<Domain>>,
}

fn platform() -> Platform {
    let mem: Mem = Arc::new(RamArena::new(0, ARENA).unwrap());
    let tables: TableAlloc = Arc::new(PageAlloc::new(mem.clone(), 0, ARENA).unwrap());
    let iommu = Iommu::new(mem.clone(), tables);
    let vtd = VtdSs::new(VtdSsConfig::default()).unwrap();
    let cfgs = [
        RefConfig::default(),
        RefConfig {
            format: Some(AnyFormat::VtdSs(vtd)),
            ..RefConfig::default()
        },
        RefConfig {
            aperture: 0..APERTURE_END[2],
            oa_bits: 40,
            pasid_bits: INST_PASID_BITS[2],
            ..RefConfig::default()
        },
    ];
    let insts: Vec<InstanceId> = cfgs
        .into_iter()
        .map(|c| iommu.add_instance(RefIommu::new(c, mem.clone()).unwrap()))
        .collect();
    let topo = Topology {
        bridges: Vec::new(),
        devices: (0..NDEV)
            .map(|i| DeviceDesc {
                rid: Rid::new(0, 1, i as u8, 0),
                instance: insts[DEV_INST[i]],
                caps: DeviceCaps {
                    pasid_bits: DEV_PASID_BITS[i],
                    ats: false,
                    pri: false,
                },
                bridge: None,
                alias: None,
            })
            .collect(),
    };
    let devs = iommu.add_devices(&topo).unwrap();
    for (i, &dev) in devs.iter().enumerate() {
        let caps = iommu.device_caps(dev).unwrap();
        let bits = INST_PASID_BITS[DEV_INST[i]].min(DEV_PASID_BITS[i]);
        assert_eq!(caps.pasid_bits, bits, "PASID width of device {i}");
    }
    let mut doms = vec![iommu.blocked_domain(), iommu.identity_domain()];
    for &inst in &PAGING_INST {
        let dev = (0..NDEV).find(|&d| DEV_INST[d] == inst).unwrap();
        doms.push(
            iommu
                .new_paging(devs[dev], PagingRequest::default())
                .unwrap(),
        );
    }
    Platform {
        iommu,
        insts,
        devs,
        doms,
    }
}

/// What the core should hold.
#[derive(Default)]
struct Model {
    /// The domain at each device's RID.
    rid: [Option<usize>; NDEV],
    /// The domain at each device's PASIDs 1..=4.
    pasid: [[Option<usize>; NPASID]; NDEV],
    /// Each domain's mappings: start -> (end, output address of start, read-only).
    maps: [BTreeMap<u64, (u64, u64, bool)>; NDOM],
    /// Maps made so far (each gets its own output range).
    maps_made: u64,
}

impl Model {
    fn compatible(dev: usize, dom: usize) -> bool {
        dom_inst(dom).is_none_or(|i| COMPAT[i][DEV_INST[dev]])
    }

    fn pasid_ok(dev: usize, pasid: Pasid) -> bool {
        let bits = INST_PASID_BITS[DEV_INST[dev]].min(DEV_PASID_BITS[dev]);
        pasid >= 1 && u64::from(pasid) < 1u64 << bits
    }

    fn incompatible(p: &Platform, dev: usize, dom: usize) -> E {
        E::Incompatible(p.insts[DEV_INST[dev]], p.doms[dom].id())
    }

    fn attach(&mut self, p: &Platform, dev: usize, dom: usize, replace: bool) -> Result<(), E> {
        if !replace && self.rid[dev].is_some() {
            return Err(E::Busy);
        }
        if !Self::compatible(dev, dom) {
            return Err(Self::incompatible(p, dev, dom));
        }
        self.rid[dev] = Some(dom);
        Ok(())
    }

    fn detach(&mut self, p: &Platform, dev: usize) -> Result<(), E> {
        if self.rid[dev].take().is_none() {
            return Err(E::NotAttached(p.devs[dev], None));
        }
        Ok(())
    }

    fn attach_pasid(
        &mut self,
        p: &Platform,
        dev: usize,
        pasid: Pasid,
        dom: usize,
        replace: bool,
    ) -> Result<(), E> {
        let slot = &mut self.pasid[dev][pasid as usize - 1];
        match (slot.is_some(), replace) {
            (true, false) => return Err(E::Busy),
            (false, true) => return Err(E::NotAttached(p.devs[dev], Some(pasid))),
            _ => {}
        }
        if !Self::pasid_ok(dev, pasid) || dom == BLOCKED {
            return Err(E::Invalid);
        }
        if !Self::compatible(dev, dom) {
            return Err(Self::incompatible(p, dev, dom));
        }
        *slot = Some(dom);
        Ok(())
    }

    fn detach_pasid(&mut self, p: &Platform, dev: usize, pasid: Pasid) -> Result<(), E> {
        if self.pasid[dev][pasid as usize - 1].take().is_none() {
            return Err(E::NotAttached(p.devs[dev], Some(pasid)));
        }
        Ok(())
    }

    fn overlaps(&self, dom: usize, iova: u64, end: u64) -> Vec<u64> {
        self.maps[dom]
            .range(..end)
            .filter(|(_, v)| v.0 > iova)
            .map(|(&k, _)| k)
            .collect()
    }

    fn check_range(dom: usize, iova: u64, size: u64) -> Result<u64, E> {
        let inst = dom_inst(dom).ok_or(E::Invalid)?;
        if iova + size > APERTURE_END[inst] {
            return Err(E::OutOfRange);
        }
        Ok(iova + size)
    }

    fn map(&mut self, dom: usize, iova: u64, size: u64, pa: u64, ro: bool) -> Result<(), E> {
        let end = Self::check_range(dom, iova, size)?;
        if !self.overlaps(dom, iova, end).is_empty() {
            return Err(E::AlreadyMapped);
        }
        self.maps[dom].insert(iova, (end, pa, ro));
        Ok(())
    }

    fn unmap(&mut self, dom: usize, iova: u64, size: u64) -> Result<u64, E> {
        let end = Self::check_range(dom, iova, size)?;
        let hits = self.overlaps(dom, iova, end);
        if hits.is_empty() {
            return Err(E::NotMapped);
        }
        let m = &mut self.maps[dom];
        let mut done = 0;
        for k in hits {
            let (e, pa, ro) = m.remove(&k).unwrap();
            let (lo, hi) = (k.max(iova), e.min(end));
            done += hi - lo;
            if k < lo {
                m.insert(k, (lo, pa, ro));
            }
            if hi < e {
                m.insert(hi, (e, pa + (hi - k), ro));
            }
        }
        Ok(done)
    }

    /// The devices whose RID is attached.
    fn attached_rids(&self) -> Vec<usize> {
        (0..NDEV).filter(|&d| self.rid[d].is_some()).collect()
    }

    /// The (device, PASID) pairs attached.
    fn attached_pasids(&self) -> Vec<(usize, Pasid)> {
        (0..NDEV)
            .flat_map(|d| (1..=NPASID as Pasid).map(move |p| (d, p)))
            .filter(|&(d, p)| self.pasid[d][p as usize - 1].is_some())
            .collect()
    }

    /// The paging domains attached somewhere.
    fn attached_paging(&self) -> Vec<usize> {
        (2..NDOM)
            .filter(|&x| {
                self.rid.contains(&Some(x)) || self.pasid.iter().any(|p| p.contains(&Some(x)))
            })
            .collect()
    }

    /// The domains with mappings.
    fn mapped_domains(&self) -> Vec<usize> {
        (2..NDOM).filter(|&x| !self.maps[x].is_empty()).collect()
    }

    /// The range an [`Unmap`] means in `dom` now.
    fn unmap_range(&self, dom: usize, u: Unmap) -> (u64, u64) {
        let fallback = Span::Low { first: 0, pages: 1 }.range();
        match u {
            Unmap::At(s) => s.range(),
            Unmap::Mapped {
                pick,
                head,
                tail,
                over,
            } => {
                let Some(m) = self.maps.get(dom).filter(|m| !m.is_empty()) else {
                    return fallback;
                };
                let (&s, &(e, _, _)) = m.iter().nth(pick.index(m.len())).unwrap();
                let pages = (e - s) / PAGE;
                let head = head.min(pages - 1);
                let tail = tail.min(pages - 1 - head);
                let size = (pages - head - tail + u64::from(over)) * PAGE;
                (s + head * PAGE, size)
            }
        }
    }

    fn target(&self, dev: usize, pasid: Option<Pasid>) -> Option<usize> {
        match pasid {
            None => self.rid[dev],
            Some(p) => self.pasid[dev][p as usize - 1],
        }
    }

    /// What a DMA request of `dev` must get.
    fn dma(
        &self,
        dev: usize,
        pasid: Option<Pasid>,
        iova: u64,
        write: bool,
    ) -> Result<DmaTranslation, DmaFault> {
        let fault = |kind| {
            Err(DmaFault {
                kind,
                recoverable: false,
            })
        };
        let ok = |pa| {
            Ok(DmaTranslation {
                pa,
                len: PAGE - (iova & (PAGE - 1)),
            })
        };
        let dom = match self.target(dev, pasid) {
            None | Some(BLOCKED) => return fault(DmaFaultKind::Blocked),
            Some(IDENTITY) => return ok(iova),
            Some(d) => d,
        };
        let inst = dom_inst(dom).unwrap();
        if iova >= APERTURE_END[inst] {
            return fault(DmaFaultKind::AddressSize);
        }
        match self.maps[dom].range(..=iova).next_back() {
            Some((&s, &(e, pa, ro))) if iova < e => {
                if ro && write {
                    fault(DmaFaultKind::Permission)
                } else {
                    ok(pa + (iova - s))
                }
            }
            _ => fault(DmaFaultKind::NotPresent),
        }
    }
}

/// `pick` of `among` if both are there, else `own`.
fn choose<T: Copy>(own: T, pick: Option<Index>, among: &[T]) -> T {
    match pick {
        Some(i) if !among.is_empty() => among[i.index(among.len())],
        _ => own,
    }
}

fn step(p: &Platform, m: &mut Model, op: &Op) {
    let d = |i: usize| p.devs[i];
    match *op {
        Op::Attach { dev, dom } => {
            let want = m.attach(p, dev, dom, false);
            assert_eq!(got(p.iommu.attach(d(dev), &p.doms[dom])), want);
        }
        Op::Replace { dev, dom } => {
            let want = m.attach(p, dev, dom, true);
            assert_eq!(got(p.iommu.replace(d(dev), &p.doms[dom])), want);
        }
        Op::Detach { dev, pick } => {
            let dev = choose(dev, pick, &m.attached_rids());
            let want = m.detach(p, dev);
            assert_eq!(got(p.iommu.detach(d(dev))), want, "detach device {dev}");
        }
        Op::AttachPasid {
            dev,
            pasid,
            dom,
            pick,
        } => {
            let (dev, pasid) = choose((dev, pasid), pick, &m.attached_pasids());
            let want = m.attach_pasid(p, dev, pasid, dom, false);
            assert_eq!(
                got(p.iommu.attach_pasid(d(dev), pasid, &p.doms[dom])),
                want,
                "attach device {dev} PASID {pasid}"
            );
        }
        Op::ReplacePasid {
            dev,
            pasid,
            dom,
            pick,
        } => {
            let (dev, pasid) = choose((dev, pasid), pick, &m.attached_pasids());
            let want = m.attach_pasid(p, dev, pasid, dom, true);
            assert_eq!(
                got(p.iommu.replace_pasid(d(dev), pasid, &p.doms[dom])),
                want,
                "replace device {dev} PASID {pasid}"
            );
        }
        Op::DetachPasid { dev, pasid, pick } => {
            let (dev, pasid) = choose((dev, pasid), pick, &m.attached_pasids());
            let want = m.detach_pasid(p, dev, pasid);
            assert_eq!(
                got(p.iommu.detach_pasid(d(dev), pasid)),
                want,
                "detach device {dev} PASID {pasid}"
            );
        }
        Op::Map {
            dom,
            pick,
            span,
            ro,
        } => {
            let dom = choose(dom, pick, &m.attached_paging());
            let (iova, size) = span.range();
            let pa = PA_BASE + m.maps_made * HUGE_SIZE;
            m.maps_made += 1;
            let want = m.map(dom, iova, size, pa, ro);
            let prot = if ro { Prot::READ } else { Prot::RW };
            let mut g = Gather::new();
            let r = got(p.doms[dom].map(iova, pa, size, prot, &mut g));
            p.doms[dom].sync(&mut g);
            assert_eq!(
                r, want,
                "map {iova:#x}+{size:#x} -> {pa:#x} in domain {dom}"
            );
        }
        Op::Unmap {
            dom,
            pick,
            ref ranges,
        } => {
            let dom = choose(dom, pick, &m.mapped_domains());
            let mut g = Gather::new();
            for &u in ranges {
                let (iova, size) = m.unmap_range(dom, u);
                let want = m.unmap(dom, iova, size);
                let r = got(p.doms[dom].unmap(iova, size, &mut g));
                assert_eq!(r, want, "unmap {iova:#x}+{size:#x} in domain {dom}");
            }
            p.doms[dom].sync(&mut g);
            assert!(g.is_empty());
        }
    }
}

/// Everything the core says must agree with the model.
fn check(p: &Platform, m: &Model) {
    let mut users: Vec<BTreeSet<(DeviceId, Option<Pasid>)>> = vec![BTreeSet::new(); NDOM];
    for dev in 0..NDEV {
        let id = p.devs[dev];
        let rid = p.iommu.rid_domain(id).unwrap().map(|x| x.id());
        assert_eq!(
            rid,
            m.rid[dev].map(|x| p.doms[x].id()),
            "RID of device {dev}"
        );
        if let Some(x) = m.rid[dev] {
            users[x].insert((id, None));
        }
        for pasid in 1..=NPASID as Pasid {
            let at = p.iommu.pasid_domain(id, pasid).unwrap().map(|x| x.id());
            let want = m.target(dev, Some(pasid));
            assert_eq!(
                at,
                want.map(|x| p.doms[x].id()),
                "device {dev} PASID {pasid}"
            );
            if let Some(x) = want {
                users[x].insert((id, Some(pasid)));
            }
        }
        for target in [None, Some(1), Some(2), Some(3), Some(4)] {
            for &iova in &PROBES {
                let want = m.dma(dev, target, iova, false);
                assert_eq!(
                    p.iommu.dma(id, target, iova, Access::READ),
                    want,
                    "device {dev} PASID {target:?} read {iova:#x}"
                );
                // A write differs from a read only where something translates.
                if want.is_ok() {
                    assert_eq!(
                        p.iommu.dma(id, target, iova, Access::WRITE),
                        m.dma(dev, target, iova, true),
                        "device {dev} PASID {target:?} write {iova:#x}"
                    );
                }
            }
        }
    }
    for (x, want) in users.iter().enumerate() {
        let have: BTreeSet<_> = p.doms[x]
            .attachments()
            .iter()
            .map(|a| (a.device, a.pasid))
            .collect();
        assert_eq!(&have, want, "attachments of domain {x}");
    }
}

fn run(ops: &[Op]) {
    let p = platform();
    let mut m = Model::default();
    check(&p, &m);
    for op in ops {
        step(&p, &mut m, op);
        check(&p, &m);
    }
}

proptest! {
    // 50 cases of 40 to 60 steps: at least 2,000 steps per run.
    #![proptest_config(ProptestConfig { cases: 50, ..ProptestConfig::default() })]

    #[test]
    fn core_matches_the_model(ops in prop::collection::vec(op(), 40..=60)) {
        run(&ops);
    }
}

/// The case that shows a TLB the driver kept for a domain it no longer used: the domain
/// comes back after an unmap that could flush nothing.
#[test]
fn unmap_while_detached_then_attach_again() {
    let ops = [
        Op::Attach { dev: 0, dom: 2 },
        Op::Map {
            dom: 2,
            pick: None,
            span: Span::Low { first: 0, pages: 1 },
            ro: false,
        },
        Op::Detach { dev: 0, pick: None },
        Op::Unmap {
            dom: 2,
            pick: None,
            ranges: vec![Unmap::At(Span::Low { first: 0, pages: 1 })],
        },
        Op::Attach { dev: 0, dom: 2 },
    ];
    run(&ops);
}
