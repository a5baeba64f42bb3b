//! Routing behind bridges: peer-to-peer with and without ACS, Source Validation, Translation
//! Blocking, Upstream Forwarding, and the requester ID a PCI Express to PCI bridge puts on
//! its functions' requests.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, MemError, RamArena};

use super::*;
use crate::membuf::MemoryBuffer;
use crate::pci::caps::AcsFlags;

const RAM: u64 = 0x10_0000;
/// Where the peer's BAR sits, outside RAM.
const BAR: u64 = 0x8000_0000;
const BAR_SIZE: u64 = 0x2000;
/// Requester IDs: a function below port A (bus 3), a peer below port B (bus 4).
const F: u16 = 0x0300;
const OTHER_BUS: u16 = 0x0500;

/// What the IOMMU stand-in saw.
#[derive(Default)]
struct Seen {
    /// Runs translated: requester, address, length, address type.
    dma: Vec<(u16, u64, u64, AddressType)>,
    ats: Vec<u16>,
    page_requests: Vec<PageRequest>,
    msis: Vec<u16>,
}

/// An IOMMU stand-in over RAM: 4 KiB pages mapped with [`Root::map`], everything else refused
/// with Unsupported Request (its "fault"); translated requests pass as they are.
struct Root {
    mem: RamArena,
    pages: Mutex<HashMap<u64, u64>>,
    seen: Mutex<Seen>,
    endpoints: Mutex<HashMap<u16, Arc<dyn Endpoint>>>,
}

impl Root {
    fn new() -> Arc<Root> {
        Arc::new(Root {
            mem: RamArena::new(0, RAM).expect("arena"),
            pages: Mutex::new(HashMap::new()),
            seen: Mutex::new(Seen::default()),
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    fn map(&self, iova: u64, pa: u64) {
        self.pages.lock().insert(iova >> 12, pa & !0xfff);
    }

    fn dma(&self) -> Vec<(u16, u64, u64, AddressType)> {
        self.seen.lock().dma.clone()
    }
}

impl Upstream for Root {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        self.seen
            .lock()
            .dma
            .push((req.rid, req.addr, req.len, req.at));
        let to_page_end = 0x1000 - (req.addr & 0xfff);
        let pa = match req.at {
            AddressType::Translated => req.addr,
            AddressType::Untranslated => {
                let page = self.pages.lock().get(&(req.addr >> 12)).copied();
                page.ok_or(DmaFault::UnsupportedRequest)? | (req.addr & 0xfff)
            }
        };
        Ok(Translation {
            addr: pa,
            len: to_page_end.min(req.len),
            rights: Rights::READ_WRITE,
        })
    }

    fn memory(&self) -> &dyn AddressSpace {
        &self.mem
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        self.seen.lock().ats.push(req.rid);
        Ok(AtsTranslation::no_access(req.addr))
    }

    fn page_request(&self, req: &PageRequest) {
        self.seen.lock().page_requests.push(*req);
    }

    fn msi(&self, rid: u16, _msg: MsiMessage) -> Result<(), DmaFault> {
        self.seen.lock().msis.push(rid);
        Ok(())
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.endpoints.lock().insert(rid, endpoint);
    }

    fn detach(&self, rid: u16) {
        self.endpoints.lock().remove(&rid);
    }
}

/// A function's log of the messages that reached it.
#[derive(Default)]
struct Log {
    invalidations: Mutex<Vec<AtcInvalidation>>,
    responses: Mutex<Vec<PageResponse>>,
}

impl Endpoint for Log {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        self.invalidations.lock().push(*inv);
        AtcInvalidationStatus::Completed
    }

    fn page_response(&self, resp: &PageResponse) {
        self.responses.lock().push(*resp);
    }
}

/// A memory buffer of `size` bytes with its BAR at `base`.
fn buffer(base: u64, size: u64) -> Arc<MemoryBuffer> {
    let m = Arc::new(MemoryBuffer::new(0x1234, 0x0001, size).expect("buffer"));
    m.enable(base);
    m
}

/// A switch over `root` with port A (bus 3, function `F` below it) with `acs` both
/// implemented and enabled, and port B (bus 4) with the peer's BAR at [`BAR`].
fn switch(root: &Arc<Root>, acs: AcsFlags) -> (Arc<DownstreamPort>, Arc<MemoryBuffer>) {
    let sw = Switch::new(root.clone());
    let a = sw
        .add_port(PortConfig::new(0x0200, 3, 3).with_acs(ACS_MODELLED, acs))
        .expect("port A");
    let b = sw.add_port(PortConfig::new(0x0208, 4, 4)).expect("port B");
    let peer = buffer(BAR, BAR_SIZE);
    b.add_window(BAR..BAR + BAR_SIZE, peer.clone())
        .expect("window");
    (a, peer)
}

fn contents(m: &MemoryBuffer, offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    assert!(m.read(offset, &mut out));
    out
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + 5) as u8).collect()
}

#[test]
fn without_acs_a_peer_write_goes_straight_to_the_peer() {
    let root = Root::new();
    let (a, peer) = switch(&root, AcsFlags::new());
    let data = pattern(300);
    a.dma_write(&DmaRequest::write(F, BAR + 0x10, 0), &data)
        .expect("reaches the peer");
    assert_eq!(contents(&peer, 0x10, 300), data);
    let mut back = vec![0; 300];
    a.dma_read(&DmaRequest::read(F, BAR + 0x10, 0), &mut back)
        .expect("reads the peer");
    assert_eq!(back, data);
    assert!(root.dma().is_empty(), "the IOMMU saw nothing");
    assert_eq!(a.stats().peer_direct, 2);
}

#[test]
fn with_request_redirect_a_peer_write_goes_up_through_the_iommu() {
    let root = Root::new();
    let (a, peer) = switch(&root, ACS_ISOLATION);
    let data = pattern(64);
    // The IOMMU maps nothing there: it refuses the write, and the peer is untouched.
    let e = a
        .dma_write(&DmaRequest::write(F, BAR + 0x100, 0), &data)
        .expect_err("unmapped");
    assert_eq!(
        (e.fault, e.done, e.addr),
        (DmaFault::UnsupportedRequest, 0, BAR + 0x100)
    );
    assert_eq!(
        root.dma(),
        [(F, BAR + 0x100, 64, AddressType::Untranslated)]
    );
    assert_eq!(contents(&peer, 0x100, 64), vec![0; 64]);
    // Mapped to the BAR: translated, then routed back down to the peer.
    root.map(BAR, BAR);
    root.map(0x4000, BAR + 0x1000);
    a.dma_write(&DmaRequest::write(F, BAR + 0x100, 0), &data)
        .expect("through the IOMMU");
    a.dma_write(&DmaRequest::write(F, 0x4020, 0), &data)
        .expect("another address mapped to the BAR");
    assert_eq!(contents(&peer, 0x100, 64), data);
    assert_eq!(contents(&peer, 0x1020, 64), data);
    assert_eq!(root.dma().len(), 3);
    let s = a.stats();
    assert_eq!((s.redirected, s.peer_direct), (2, 0));
}

#[test]
fn a_request_is_split_where_a_peer_window_starts() {
    let root = Root::new();
    let (a, peer) = switch(&root, AcsFlags::new());
    root.map(BAR - 0x1000, 0x5000);
    let data = pattern(0x1100);
    a.dma_write(&DmaRequest::write(F, BAR - 0x1000, 0), &data)
        .expect("both parts");
    let mut ram = vec![0; 0x1000];
    root.mem.read(0x5000, &mut ram).expect("RAM");
    assert_eq!(ram, data[..0x1000]);
    assert_eq!(contents(&peer, 0, 0x100), data[0x1000..]);
    assert_eq!(
        root.dma(),
        [(F, BAR - 0x1000, 0x1000, AddressType::Untranslated)],
        "only the part before the window went up"
    );
}

#[test]
fn source_validation_refuses_requesters_from_other_buses() {
    let root = Root::new();
    let sv = AcsFlags::new().with_source_validation(true);
    let (a, _) = switch(&root, sv);
    root.map(0x1000, 0x1000);
    let e = a
        .dma_write(&DmaRequest::write(OTHER_BUS, 0x1000, 0), &[1; 8])
        .expect_err("foreign bus");
    assert_eq!(e.fault, DmaFault::CompleterAbort);
    let ats = AtsRequest {
        rid: OTHER_BUS,
        pasid: None,
        addr: 0x1000,
        no_write: false,
    };
    assert_eq!(a.ats_translate(&ats), Err(AtsFailure::CompleterAbort));
    let pr = PageRequest::for_access(OTHER_BUS, None, 0x1000, true, 1, true);
    a.page_request(&pr);
    let msg = MsiMessage {
        addr: 0xfee0_0000,
        data: 1,
    };
    assert_eq!(a.msi(OTHER_BUS, msg), Err(DmaFault::CompleterAbort));
    assert_eq!(a.stats().acs_violations, 4);
    {
        let seen = root.seen.lock();
        assert!(seen.dma.is_empty() && seen.ats.is_empty());
        assert!(seen.page_requests.is_empty() && seen.msis.is_empty());
    }
    // From the port's own bus, everything passes, with its requester ID.
    a.dma_write(&DmaRequest::write(F, 0x1000, 0), &[1; 8])
        .expect("own bus");
    a.ats_translate(&AtsRequest { rid: F, ..ats }).expect("ATS");
    a.page_request(&PageRequest { rid: F, ..pr });
    a.msi(F, msg).expect("MSI");
    {
        let seen = root.seen.lock();
        assert_eq!(
            (seen.dma[0].0, &seen.ats[..], &seen.msis[..]),
            (F, &[F][..], &[F][..])
        );
        assert_eq!(seen.page_requests[0].rid, F);
    }
    // With Source Validation disabled, the foreign bus passes too.
    a.set_acs_control(AcsFlags::new());
    a.dma_write(&DmaRequest::write(OTHER_BUS, 0x1000, 0), &[1; 8])
        .expect("not validated");
    assert_eq!(a.stats().acs_violations, 4);
}

#[test]
fn translation_blocking_and_direct_translated_p2p() {
    let root = Root::new();
    let rr = AcsFlags::new().with_request_redirect(true);
    let (a, peer) = switch(&root, rr.with_translation_blocking(true));
    let translated = DmaRequest::write(F, 0x2000, 0).translated();
    let e = a.dma_write(&translated, &[1; 8]).expect_err("blocked");
    assert_eq!(e.fault, DmaFault::CompleterAbort);
    let ats = AtsRequest {
        rid: F,
        pasid: None,
        addr: 0x2000,
        no_write: false,
    };
    assert_eq!(a.ats_translate(&ats), Err(AtsFailure::CompleterAbort));
    assert!(root.dma().is_empty());

    // Redirect without Direct Translated P2P: a translated peer request goes up too.
    a.set_acs_control(rr);
    let to_peer = DmaRequest::write(F, BAR, 0).translated();
    a.dma_write(&to_peer, &[2; 8]).expect("up and back down");
    assert_eq!(root.dma(), [(F, BAR, 8, AddressType::Translated)]);
    // With it, the translated request goes straight to the peer; an untranslated one still up.
    a.set_acs_control(rr.with_direct_translated(true));
    a.dma_write(
        &DmaRequest {
            addr: BAR + 8,
            ..to_peer
        },
        &[3; 8],
    )
    .expect("direct");
    assert_eq!(
        root.dma().len(),
        1,
        "the IOMMU did not see the translated one"
    );
    let e = a
        .dma_write(&DmaRequest::write(F, BAR + 16, 0), &[4; 8])
        .expect_err("untranslated goes up, unmapped");
    assert_eq!(e.fault, DmaFault::UnsupportedRequest);
    assert_eq!(root.dma().len(), 2);
    let mut want = vec![2; 8];
    want.extend([3; 8]);
    want.extend([0; 8]);
    assert_eq!(contents(&peer, 0, 24), want);
}

#[test]
fn upstream_forwarding_decides_requests_for_the_ports_own_windows() {
    const MINE: u64 = 0x9000_0000;
    let root = Root::new();
    let (a, _) = switch(&root, AcsFlags::new());
    let sibling = buffer(MINE, 0x1000);
    a.add_window(MINE..MINE + 0x1000, sibling.clone())
        .expect("window");
    let e = a
        .dma_write(&DmaRequest::write(F, MINE, 0), &[5; 4])
        .expect_err("not routed back out of its port");
    assert_eq!(e.fault, DmaFault::UnsupportedRequest);
    assert!(root.dma().is_empty());
    a.set_acs_control(AcsFlags::new().with_upstream_forwarding(true));
    root.map(MINE, MINE);
    a.dma_write(&DmaRequest::write(F, MINE, 0), &[5; 4])
        .expect("forwarded upstream, routed back down");
    assert_eq!(root.dma(), [(F, MINE, 4, AddressType::Untranslated)]);
    assert_eq!(contents(&sibling, 0, 4), [5; 4]);
    assert_eq!(a.stats().redirected, 1);
}

#[test]
fn completion_redirect_only_changes_the_path_of_completions() {
    let root = Root::new();
    let (a, peer) = switch(&root, AcsFlags::new().with_completion_redirect(true));
    assert!(peer.write(0x40, &[9; 16]));
    let mut buf = [0u8; 16];
    a.dma_read(&DmaRequest::read(F, BAR + 0x40, 0), &mut buf)
        .expect("read from the peer");
    assert_eq!(buf, [9; 16]);
    a.dma_write(&DmaRequest::write(F, BAR, 0), &[1])
        .expect("write");
    assert!(root.dma().is_empty());
    let s = a.stats();
    assert_eq!((s.peer_direct, s.completions_redirected), (2, 1));
}

#[test]
fn acs_control_keeps_only_what_the_port_implements() {
    let root = Root::new();
    let sw = Switch::new(root.clone());
    let cap = AcsFlags::new()
        .with_source_validation(true)
        .with_request_redirect(true)
        .with_egress_control(true);
    let all = AcsFlags::from_bits(0x7f);
    let p = sw
        .add_port(PortConfig::new(0x0200, 3, 3).with_acs(cap, all))
        .expect("port");
    // Egress control is not modelled: the capability drops it.
    assert_eq!(p.acs_capability().into_bits(), 0b101);
    assert_eq!(p.acs_control().into_bits(), 0b101);
    p.set_acs_control(AcsFlags::new().with_completion_redirect(true));
    assert_eq!(p.acs_control().into_bits(), 0);
}

#[test]
fn ports_refuse_overlapping_buses_and_windows() {
    let root = Root::new();
    let sw = Switch::new(root.clone());
    let a = sw.add_port(PortConfig::new(0x0200, 3, 5)).expect("A");
    assert_eq!(
        sw.add_port(PortConfig::new(0x0208, 5, 6)).err(),
        Some(PortError::BusOverlap(5..=6))
    );
    assert!(matches!(
        sw.add_port(PortConfig::new(0x0208, 7, 6)),
        Err(PortError::EmptyBusRange { .. })
    ));
    let b = sw.add_port(PortConfig::new(0x0208, 6, 6)).expect("B");
    let m = buffer(BAR, 0x1000);
    a.add_window(BAR..BAR + 0x1000, m.clone()).expect("window");
    assert!(matches!(
        b.add_window(BAR + 0x800..BAR + 0x1800, m.clone()),
        Err(WindowError::Overlap { .. })
    ));
    assert!(!b.remove_window(BAR), "not B's window");
    assert!(a.remove_window(BAR));
    b.add_window(BAR..BAR + 0x1000, m).expect("free again");
}

#[test]
fn a_switch_port_passes_messages_with_their_requester_id() {
    let root = Root::new();
    let (a, _) = switch(&root, ACS_ISOLATION);
    let log = Arc::new(Log::default());
    a.attach(F, log.clone());
    let ep = root.endpoints.lock().get(&F).cloned().expect("attached");
    let inv = AtcInvalidation {
        rid: F,
        pasid: None,
        global: false,
        addr: 0x1000,
        size_log2: 12,
    };
    ep.invalidate_atc(&inv);
    assert_eq!(log.invalidations.lock()[..], [inv]);
    a.detach(F);
    assert!(root.endpoints.lock().is_empty());
}

#[test]
fn a_pcie_to_pci_bridge_takes_ownership_of_requests() {
    let root = Root::new();
    let bridge = PciBridge::new(root.clone(), 5);
    let alias = 0x0500;
    assert_eq!(bridge.alias(), alias);
    root.map(0x3000, 0x7000);
    bridge
        .dma_write(&DmaRequest::write(0x0508, 0x3000, 0), &[1; 8])
        .expect("mapped");
    let ats = AtsRequest {
        rid: 0x0510,
        pasid: None,
        addr: 0x3000,
        no_write: true,
    };
    bridge.ats_translate(&ats).expect("ATS");
    bridge.page_request(&PageRequest::for_access(
        0x0510, None, 0x3000, false, 2, true,
    ));
    bridge
        .msi(
            0x0508,
            MsiMessage {
                addr: 0xfee0_0000,
                data: 0,
            },
        )
        .expect("MSI");
    let seen = root.seen.lock();
    assert_eq!(seen.dma, [(alias, 0x3000, 8, AddressType::Untranslated)]);
    assert_eq!(
        (&seen.ats[..], &seen.msis[..]),
        (&[alias][..], &[alias][..])
    );
    assert_eq!(seen.page_requests[0].rid, alias);
}

#[test]
fn messages_for_a_bridges_alias_reach_the_right_functions() {
    let root = Root::new();
    let bridge = PciBridge::new(root.clone(), 5);
    let (f0, f1) = (Arc::new(Log::default()), Arc::new(Log::default()));
    bridge.attach(0x0508, f0.clone());
    bridge.attach(0x0510, f1.clone());
    let ep = root
        .endpoints
        .lock()
        .get(&0x0500)
        .cloned()
        .expect("alias attached");
    bridge.page_request(&PageRequest::for_access(
        0x0510, None, 0x3000, true, 7, true,
    ));
    let resp = PageResponse {
        rid: 0x0500,
        pasid: None,
        prgi: 7,
        code: PageResponseCode::Success,
    };
    ep.page_response(&resp);
    assert!(f0.responses.lock().is_empty());
    assert_eq!(
        f1.responses.lock()[..],
        [PageResponse {
            rid: 0x0510,
            ..resp
        }]
    );
    // A response for no outstanding group reaches no one.
    ep.page_response(&resp);
    assert_eq!(f1.responses.lock().len(), 1);
    // An invalidation of the alias reaches every function below, each with its own ID.
    let inv = AtcInvalidation {
        rid: 0x0500,
        pasid: Some(3),
        global: false,
        addr: 0,
        size_log2: 12,
    };
    assert_eq!(ep.invalidate_atc(&inv), AtcInvalidationStatus::Completed);
    assert_eq!(f0.invalidations.lock()[0].rid, 0x0508);
    assert_eq!(f1.invalidations.lock()[0].rid, 0x0510);
    bridge.detach(0x0508);
    assert!(root.endpoints.lock().contains_key(&0x0500));
    bridge.detach(0x0510);
    assert!(root.endpoints.lock().is_empty(), "the last one gone");
}

#[test]
fn functions_on_a_conventional_bus_reach_each_other_directly() {
    let root = Root::new();
    let bridge = PciBridge::new(root.clone(), 5);
    let peer = buffer(BAR, 0x1000);
    bridge
        .add_window(BAR..BAR + 0x1000, peer.clone())
        .expect("window");
    bridge
        .dma_write(&DmaRequest::write(0x0508, BAR + 4, 0), &[6; 4])
        .expect("direct");
    assert_eq!(contents(&peer, 4, 4), [6; 4]);
    assert!(root.dma().is_empty());
}

#[test]
fn a_memory_map_splits_accesses_at_window_edges() {
    let map = MemoryMap::new(RamArena::new(0, RAM).expect("arena"));
    let buf = buffer(0x2000, 0x1000);
    map.add_window(0x2000..0x3000, buf.clone()).expect("window");
    let data = pattern(0x2000);
    map.write(0x1800, &data).expect("write across");
    assert_eq!(contents(&buf, 0, 0x1000), data[0x800..0x1800]);
    let mut ram = vec![0; 0x800];
    map.base().read(0x1800, &mut ram).expect("RAM");
    assert_eq!(ram, data[..0x800]);
    map.base().read(0x3000, &mut ram).expect("RAM");
    assert_eq!(ram, data[0x1800..]);
    let mut back = vec![0; 0x2000];
    map.read(0x1800, &mut back).expect("read across");
    assert_eq!(back, data);
    // Word access reaches RAM only.
    assert!(map.load_u64(0x1ff8).is_ok());
    assert_eq!(
        map.load_u64(0x2000),
        Err(MemError::OutOfRange {
            addr: 0x2000,
            len: 8
        })
    );
    // A refusal of the target (memory space disabled) fails the whole access.
    buf.config_write(0x04, crate::pci::AccessSize::Word, 0);
    assert_eq!(
        map.write(0x1ff0, &[1; 0x20]),
        Err(MemError::OutOfRange {
            addr: 0x1ff0,
            len: 0x20
        })
    );
    assert!(map.read(0x2000, &mut [0; 4]).is_err());
    assert!(matches!(
        map.add_window(0x2800..0x2900, buf.clone()),
        Err(WindowError::Overlap { .. })
    ));
    assert!(matches!(
        map.add_window(0x5000..0x5000, buf.clone()),
        Err(WindowError::Empty(_))
    ));
    assert_eq!(map.window(0x2fff), Some(0x2000..0x3000));
    assert_eq!(map.next_window(0x100), Some(0x2000));
    assert!(map.remove_window(0x2000));
    assert_eq!(map.window(0x2000), None);
}
