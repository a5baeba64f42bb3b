//! Peer-to-peer DMA behind a switch, with and without ACS, and the requester ID a PCI Express
//! to PCI bridge gives its functions' requests (S2 of `docs/design.md`).
//!
//! The copy engine sits below one downstream port of a switch, a memory buffer function (the
//! peer) below another; the topology declared to the core has one bridge whose `acs` matches
//! the ports' ACS controls, so the core's groups agree with what the switch lets through.

use std::sync::Arc;

use super::scenarios::{CR, DST, GUARD, SRC, ram, recorded};
use super::{Engine, pattern, platform};
use crate::testing::harness::{DEV, Harness, PAGE, Platform};
use crate::{Bridge, DeviceCaps, DeviceDesc, Domain, PagingRequest, Rid, Topology};
use softiommu_devices::bus::{
    ACS_ISOLATION, ACS_MODELLED, DownstreamPort, PciBridge, PortConfig, Switch, Upstream,
};
use softiommu_devices::dsa::Status;
use softiommu_devices::membuf::MemoryBuffer;
use softiommu_devices::pci::caps::AcsFlags;
use softiommu_pgtable::Prot;

/// The peer's BAR: above the platform's RAM, one mapping in size.
const BAR: u64 = 1 << 32;
/// An I/O virtual address the IOMMU maps to the peer's BAR.
const TO_PEER: u64 = 0x500_0000;
/// The engine, below port A (bus 3), and the peer, below port B (bus 4).
const ENGINE: Rid = Rid::new(0, 3, 0, 0);
const PEER: Rid = Rid::new(0, 4, 0, 0);
/// Where the move starts in the source, and in the peer's BAR, and how long it is.
const AT: u64 = 300;
const LEN: usize = 5000;

/// An engine and a peer below two ports of one switch, with a paging domain attached to the
/// engine's group that maps the source and the completion record only.
struct Rig {
    p: Platform,
    e: Engine,
    port: Arc<DownstreamPort>,
    peer: Arc<MemoryBuffer>,
    d: Arc<Domain>,
    data: Vec<u8>,
    cr_pa: u64,
}

impl Rig {
    /// Both ports with ACS implemented and `control` enabled; the topology's bridge has ACS
    /// when that redirects peer-to-peer requests.
    fn new(p: Platform, control: AcsFlags) -> Rig {
        let acs = control.request_redirect();
        let up: Arc<dyn Upstream> = p.upstream(0).expect("a model with a bus");
        let sw = Switch::new(up);
        let port = |rid: Rid, bus: u8| {
            let cfg = PortConfig::new(rid.source_id(), bus, bus).with_acs(ACS_MODELLED, control);
            sw.add_port(cfg).unwrap()
        };
        let (a, b) = (port(Rid::new(0, 2, 0, 0), 3), port(Rid::new(0, 2, 1, 0), 4));
        let peer = Arc::new(MemoryBuffer::new(0x1234, 0x0001, PAGE).unwrap());
        peer.enable(BAR);
        b.add_window(peer.bar().unwrap(), peer.clone()).unwrap();

        let desc = |rid, caps| DeviceDesc {
            rid,
            instance: p.inst[0],
            caps,
            bridge: Some(0),
            alias: None,
        };
        let topo = Topology {
            bridges: vec![Bridge { acs }],
            devices: vec![desc(ENGINE, DEV), desc(PEER, DeviceCaps::default())],
        };
        let ids = p.add_topology(&topo).unwrap();
        let groups = [ids[0], ids[1]].map(|d| p.iommu.group_of(d).unwrap());
        assert_eq!(
            groups[0] == groups[1],
            !acs,
            "one group exactly without ACS"
        );

        let e = Engine::on(a.clone(), ENGINE.source_id(), ids[0]);
        e.bring_up(&[None]);
        let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
        p.iommu.attach_group(groups[0], &d).unwrap();
        let data = pattern(LEN + AT as usize, 11);
        let src_pa = ram(&p, 1, 0);
        p.mem().write(src_pa, &data).unwrap();
        let cr_pa = ram(&p, 1, 0);
        d.map_sync(SRC, src_pa, PAGE, Prot::RW).unwrap();
        d.map_sync(CR, cr_pa, PAGE, Prot::RW).unwrap();
        assert_eq!(d.iova_to_phys(BAR), None, "the domain does not map the BAR");
        Rig {
            p,
            e,
            port: a,
            peer,
            d,
            data,
            cr_pa,
        }
    }

    /// Moves the source to `dst` and returns (status, bytes completed, fault address).
    fn move_to(&self, dst: u64) -> (u8, u32, u64) {
        let r = self
            .e
            .memmove(&self.p, 0, (SRC + AT, dst, LEN as u32), (CR, self.cr_pa));
        (r.status, r.bytes_completed, r.fault_addr)
    }

    /// The whole BAR as the peer holds it.
    fn bar(&self) -> Vec<u8> {
        let mut out = vec![0; PAGE as usize];
        assert!(self.peer.read(0, &mut out));
        out
    }

    /// The BAR holding the moved bytes at `offset`, zeros elsewhere.
    fn moved_to(&self, offset: u64) -> Vec<u8> {
        let mut want = vec![0; PAGE as usize];
        want[offset as usize..offset as usize + LEN].copy_from_slice(&self.data[AT as usize..]);
        want
    }
}

/// Without ACS, a move whose destination is the peer's BAR goes from the switch straight to
/// the peer: every byte lands in the BAR, and the IOMMU records nothing although the domain
/// does not map the address.
pub fn peer_to_peer_without_acs_goes_straight_to_the_peer(h: &dyn Harness) {
    let r = Rig::new(platform(h), AcsFlags::new());
    let got = r.move_to(BAR + AT);
    assert_eq!(got, (Status::Success as u8, 0, 0), "{got:?}");
    assert!(r.bar() == r.moved_to(AT), "the peer holds the source");
    assert!(r.p.recorded_faults(0).is_empty(), "the IOMMU saw nothing");
    assert!(r.port.stats().peer_direct > 0);
}

/// With ACS, the same move goes up to the IOMMU: the unmapped destination faults there (a
/// recorded write fault, a page-fault completion record) and the peer is untouched; once the
/// domain maps an address to the BAR, the move through it lands in the peer, and so does one
/// to the BAR's own address once that is mapped to it.
pub fn peer_to_peer_with_acs_goes_through_the_iommu(h: &dyn Harness) {
    let r = Rig::new(platform(h), ACS_ISOLATION);
    let got = r.move_to(BAR + AT);
    assert_eq!(
        got,
        (Status::PageFaultNoBof as u8, 0, BAR + AT),
        "the IOMMU refused it: {got:?}"
    );
    assert!(recorded(&r.p, ENGINE.source_id(), None, BAR + AT, true));
    assert!(r.bar().iter().all(|&b| b == 0), "the peer is untouched");
    assert!(r.port.stats().redirected > 0);

    r.d.map_sync(TO_PEER, BAR, PAGE, Prot::RW).unwrap();
    let got = r.move_to(TO_PEER + AT);
    assert_eq!(got, (Status::Success as u8, 0, 0), "{got:?}");
    assert!(r.bar() == r.moved_to(AT), "through the IOMMU to the peer");

    r.d.map_sync(BAR, BAR, PAGE, Prot::RW).unwrap();
    assert!(r.peer.write(0, &vec![0; PAGE as usize]));
    let got = r.move_to(BAR + 2 * AT);
    assert_eq!(got, (Status::Success as u8, 0, 0), "{got:?}");
    assert!(
        r.bar() == r.moved_to(2 * AT),
        "the BAR's address, translated"
    );
    assert_eq!(r.port.stats().peer_direct, 0, "nothing went straight");
}

/// With ACS and Direct Translated P2P, an engine using ATS moves into the peer's BAR through
/// the address the domain maps to it: the IOMMU answers the translation requests, and the
/// translated write goes from the switch straight to the peer (S2: peer-to-peer under ACS
/// needs ATS).
pub fn peer_to_peer_with_ats_goes_straight_under_direct_translated_p2p(h: &dyn Harness) {
    let r = Rig::new(platform(h), ACS_ISOLATION.with_direct_translated(true));
    r.e.function.port().set_ats(true, 0);
    r.d.map_sync(TO_PEER, BAR, PAGE, Prot::RW).unwrap();
    let got = r.move_to(TO_PEER + AT);
    assert_eq!(got, (Status::Success as u8, 0, 0), "{got:?}");
    assert!(r.bar() == r.moved_to(AT), "the peer holds the source");
    assert!(r.e.function.port().atc_len() > 0, "the engine used its ATC");
    let s = r.port.stats();
    assert!(
        s.peer_direct > 0 && s.redirected == 0,
        "translated, the write went straight: {s:?}"
    );
    assert!(r.p.recorded_faults(0).is_empty());
}

/// An engine on the conventional bus behind a PCI Express to PCI bridge (secondary bus 5) is
/// seen by the IOMMU with the bridge's requester ID (bus 5, device 0, function 0): declared
/// with that alias, it shares a group with it; its moves translate through the domain
/// attached there, and its fault is recorded under the bridge's ID, never its own.
pub fn a_function_behind_a_pcie_to_pci_bridge_is_seen_with_the_bridges_rid(h: &dyn Harness) {
    let p = platform(h);
    let up: Arc<dyn Upstream> = p.upstream(0).expect("a model with a bus");
    let bridge = Arc::new(PciBridge::new(up, 5));
    let alias = Rid::new(0, 5, 0, 0);
    assert_eq!(bridge.alias(), alias.source_id());
    let own = Rid::new(0, 5, 1, 0);
    let desc = |rid, alias| DeviceDesc {
        rid,
        instance: p.inst[0],
        caps: DeviceCaps::default(),
        bridge: None,
        alias,
    };
    let topo = Topology {
        bridges: Vec::new(),
        devices: vec![desc(alias, None), desc(own, Some(alias))],
    };
    let ids = p.add_topology(&topo).unwrap();
    let group = p.iommu.group_of(ids[0]).unwrap();
    assert_eq!(p.iommu.group_of(ids[1]).unwrap(), group, "one group");

    let e = Engine::on(bridge, own.source_id(), ids[1]);
    e.bring_up(&[None]);
    let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
    p.iommu.attach_group(group, &d).unwrap();
    let data = pattern(LEN, 5);
    let [src_pa, dst_pa, cr_pa] = [0, GUARD, 0].map(|b| ram(&p, 1, b));
    p.mem().write(src_pa, &data).unwrap();
    d.map_sync(SRC, src_pa, PAGE, Prot::RW).unwrap();
    d.map_sync(DST, dst_pa, PAGE, Prot::RW).unwrap();
    d.map_sync(CR, cr_pa, PAGE, Prot::RW).unwrap();

    let r = e.memmove(&p, 0, (SRC, DST, LEN as u32), (CR, cr_pa));
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert!(p.read(dst_pa, LEN) == data, "translated through the domain");

    let unmapped = DST + PAGE;
    let r = e.memmove(&p, 0, (SRC, unmapped, 64), (CR, cr_pa));
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, unmapped),
        "{r:?}"
    );
    assert!(recorded(&p, alias.source_id(), None, unmapped, true));
    let faults = p.recorded_faults(0);
    assert!(
        faults.iter().all(|f| f.rid == alias.source_id()),
        "the IOMMU never saw the function's own ID: {faults:?}"
    );
}
