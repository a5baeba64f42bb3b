//! Moves through paging domains: byte for byte, a fault at an unmapped page, and PASIDs
//! isolated by their domains (S5 of `docs/design.md`).

use super::{Engine, pattern, platform};
use crate::testing::harness::{Harness, PAGE, Platform, RecordedFault};
use crate::{PagingRequest, Pasid};
use softiommu_devices::dsa::Status;
use softiommu_pgtable::Prot;

/// Where the source, the destination and the completion records sit, in every domain.
pub(super) const SRC: u64 = 0x100_0000;
pub(super) const DST: u64 = 0x200_0000;
pub(super) const CR: u64 = 0x300_0000;
/// What guard bytes hold.
pub(super) const GUARD: u8 = 0x5a;

/// `pages` pages of fresh RAM filled with `byte`.
pub(super) fn ram(p: &Platform, pages: u64, byte: u8) -> u64 {
    let pa = p.alloc(pages * PAGE);
    p.mem().fill(pa, pages * PAGE, byte).unwrap();
    pa
}

/// Whether instance 0 recorded a fault of requester `rid` (and `pasid`) at the page of
/// `addr`, writing or not.
pub(super) fn recorded(
    p: &Platform,
    rid: u16,
    pasid: Option<Pasid>,
    addr: u64,
    write: bool,
) -> bool {
    let want = RecordedFault {
        rid,
        pasid,
        addr: addr & !0xfff,
        write,
    };
    let got = p.recorded_faults(0);
    got.iter().any(|f| {
        RecordedFault {
            addr: f.addr & !0xfff,
            ..*f
        } == want
    })
}

/// A move of two pages less 1000 bytes, across a page boundary, into two destination pages
/// mapped to physical pages in the reverse order between guard pages: every byte lands where
/// the tables say and nothing else changes.
pub fn a_move_through_a_paging_domain(h: &dyn Harness) {
    let p = platform(h);
    let e = Engine::new(&p, 0);
    e.bring_up(&[None]);
    let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
    p.iommu.attach(e.dev, &d).unwrap();

    let len = 2 * PAGE as usize - 1000;
    let data = pattern(len + 100, 7);
    let src_pa = ram(&p, 2, 0);
    p.mem().write(src_pa, &data).unwrap();
    // [guard][IOVA page 1][IOVA page 0][guard]
    let dst_pa = ram(&p, 4, GUARD);
    let cr_pa = ram(&p, 1, 0);
    d.map_sync(SRC, src_pa, 2 * PAGE, Prot::RW).unwrap();
    d.map_sync(DST, dst_pa + 2 * PAGE, PAGE, Prot::RW).unwrap();
    d.map_sync(DST + PAGE, dst_pa + PAGE, PAGE, Prot::RW)
        .unwrap();
    d.map_sync(CR, cr_pa, PAGE, Prot::RW).unwrap();

    let r = e.memmove(&p, 0, (SRC + 100, DST + 300, len as u32), (CR, cr_pa));
    assert_eq!(
        (r.status, r.bytes_completed),
        (Status::Success as u8, 0),
        "{r:?}"
    );
    let mut want = vec![GUARD; 4 * PAGE as usize];
    for (i, &b) in data[100..].iter().enumerate() {
        let off = 300 + i as u64;
        let page = if off < PAGE { 2 } else { 1 };
        want[(page * PAGE + off % PAGE) as usize] = b;
    }
    assert!(
        p.read(dst_pa, 4 * PAGE as usize) == want,
        "the destination is the source, through the tables, and nothing else moved"
    );
    assert!(p.recorded_faults(0).is_empty());
}

/// A move whose destination runs into an unmapped page stops exactly there: the IOMMU
/// records the write fault, the completion record names the address and the bytes done, and
/// nothing past the fault is written; a read fault in the source likewise.
pub fn a_move_into_an_unmapped_page_faults_and_stops_there(h: &dyn Harness) {
    let p = platform(h);
    let e = Engine::new(&p, 0);
    e.bring_up(&[None]);
    let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
    p.iommu.attach(e.dev, &d).unwrap();

    let data = pattern(PAGE as usize, 3);
    let src_pa = ram(&p, 1, 0);
    p.mem().write(src_pa, &data).unwrap();
    // Two destination pages, only the first mapped.
    let dst_pa = ram(&p, 2, GUARD);
    let cr_pa = ram(&p, 1, 0);
    d.map_sync(SRC, src_pa, PAGE, Prot::RW).unwrap();
    d.map_sync(DST, dst_pa, PAGE, Prot::RW).unwrap();
    d.map_sync(CR, cr_pa, PAGE, Prot::RW).unwrap();

    // A write fault 1000 bytes in.
    let r = e.memmove(&p, 0, (SRC, DST + PAGE - 1000, 5000), (CR, cr_pa));
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr, r.fault_info & 1),
        (Status::PageFaultNoBof as u8, 1000, DST + PAGE, 1),
        "{r:?}"
    );
    let mut want = vec![GUARD; 2 * PAGE as usize];
    want[PAGE as usize - 1000..PAGE as usize].copy_from_slice(&data[..1000]);
    assert!(
        p.read(dst_pa, 2 * PAGE as usize) == want,
        "nothing past the fault"
    );
    assert!(
        recorded(&p, e.rid, None, DST + PAGE, true),
        "the IOMMU recorded the write fault"
    );

    // A read fault 10 bytes in.
    let r = e.memmove(&p, 0, (SRC + PAGE - 10, DST, 64), (CR, cr_pa));
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr, r.fault_info & 1),
        (Status::PageFaultNoBof as u8, 10, SRC + PAGE, 0),
        "{r:?}"
    );
    want[..10].copy_from_slice(&data[PAGE as usize - 10..]);
    assert!(
        p.read(dst_pa, 2 * PAGE as usize) == want,
        "only the bytes read"
    );
    assert!(
        recorded(&p, e.rid, None, SRC + PAGE, false),
        "the IOMMU recorded the read fault"
    );
}

/// Two dedicated WQs of one engine, on PASIDs 5 and 9 attached to two domains that map the
/// same addresses to different RAM: each WQ's moves land in its own domain's RAM, and an
/// address only the other domain maps faults (S5).
pub fn two_wqs_on_two_pasids_move_only_within_their_domains(h: &dyn Harness) {
    const OTHER: u64 = 0x400_0000;
    let p = platform(h);
    let e = Engine::new(&p, 0);
    e.bring_up(&[Some(5), Some(9)]);
    let req = PagingRequest {
        pasid: true,
        ..PagingRequest::default()
    };
    // Per domain: source, destination, completion record.
    let mut places = Vec::new();
    for (pasid, seed) in [(5, 1u8), (9, 2)] {
        let d = p.iommu.new_paging(e.dev, req).unwrap();
        p.iommu.attach_pasid(e.dev, pasid, &d).unwrap();
        let data = pattern(PAGE as usize, seed);
        let [src, dst, cr] = [0, 0, 0].map(|b| ram(&p, 1, b));
        p.mem().write(src, &data).unwrap();
        d.map_sync(SRC, src, PAGE, Prot::RW).unwrap();
        d.map_sync(DST, dst, PAGE, Prot::RW).unwrap();
        d.map_sync(CR, cr, PAGE, Prot::RW).unwrap();
        places.push((d, data, dst, cr));
    }
    let other = ram(&p, 1, GUARD);
    places[1].0.map_sync(OTHER, other, PAGE, Prot::RW).unwrap();

    for wq in [1, 0] {
        let (_, _, _, cr) = places[wq];
        let r = e.memmove(&p, wq as u32, (SRC, DST, PAGE as u32), (CR, cr));
        assert_eq!(r.status, Status::Success as u8, "WQ {wq}: {r:?}");
    }
    for (_, data, dst, _) in &places {
        assert!(
            &p.read(*dst, PAGE as usize) == data,
            "each in its own domain"
        );
    }
    // PASID 5 cannot reach what only PASID 9's domain maps.
    let r = e.memmove(&p, 0, (SRC, OTHER, 64), (CR, places[0].3));
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr),
        (Status::PageFaultNoBof as u8, 0, OTHER),
        "{r:?}"
    );
    assert!(p.read(other, PAGE as usize).iter().all(|&b| b == GUARD));
    assert!(recorded(&p, e.rid, Some(5), OTHER, true));
}
