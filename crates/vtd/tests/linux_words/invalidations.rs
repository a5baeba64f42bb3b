//! What Linux's invalidations do in the unit: each one, sent through the invalidation queue
//! of a unit whose caches hold entries, removes what Linux meant to remove and keeps the
//! rest; device-TLB invalidations reach the device with the range Linux meant.

use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::desc::ResponseCode;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::DeviceMessage;
use softiommu_vtd::regs::{FSTS_REG, GSTS_REG, IQA_REG, IQH_REG, IQT_REG, VtdParams};

use crate::linux::{ALL_ADDRESSES, QI_DONE, context, pasid, qi};
use crate::rig::{Rig, SID, dma};

/// GCMD/GSTS.QIE.
const QIE: u32 = 1 << 26;
/// Domain IDs of the tests.
const DID_A: u16 = 5;
const DID_B: u16 = 6;

/// A rig with Linux's context entry for [`SID`] and the invalidation queue enabled as Linux
/// enables it (256-bit descriptors).
pub fn rig() -> Rig {
    let rig = Rig::new(VtdParams::default());
    let ctx = context::sm_entry(&context::Device {
        dir: rig.dir,
        max_pasid: 1 << 15,
        ats: true,
        pasid: true,
        pri: true,
        rid_priv: false,
    });
    for (k, w) in ctx.iter().enumerate() {
        rig.store(
            rig.ctx_table + u64::from(SID as u8 & 0x7f) * 32 + 8 * k as u64,
            *w,
        );
    }
    // Linux's PASID directory entry for PASIDs 0-63.
    rig.store(rig.dir, context::dir_entry(rig.pasid_table));
    let iq = rig.page();
    rig.unit.mmio_write(IQT_REG, 8, 0);
    rig.unit.mmio_write(IQA_REG, 8, iq | 1 << 11);
    rig.gcmd(QIE, true);
    assert_ne!(rig.unit.mmio_read(GSTS_REG, 4) as u32 & QIE, 0);
    rig.unit.set_stats(true);
    rig
}

impl Rig {
    /// Writes a PASID-table entry (PASID below 64) from Linux's words.
    pub fn put_pasid(&self, p: u32, e: &pasid::Entry) {
        for (k, w) in e.iter().enumerate() {
            self.store(self.pasid_table + u64::from(p) * 64 + 8 * k as u64, *w);
        }
    }

    /// Sends `words` through the queue: the unit must take it without a queue error.
    fn send(&self, words: [u64; 4]) {
        let iqa = self.unit.mmio_read(IQA_REG, 8) & !0xfff;
        let tail = self.unit.mmio_read(IQT_REG, 8);
        for (k, w) in words.iter().enumerate() {
            self.store(iqa + tail + 8 * k as u64, *w);
        }
        let tail = (tail + 32) % 4096;
        self.unit.mmio_write(IQT_REG, 8, tail);
        assert_eq!(
            self.unit.mmio_read(FSTS_REG, 4) & 1 << 4,
            0,
            "IQE for {words:#x?}"
        );
        assert_eq!(
            self.unit.mmio_read(IQH_REG, 8),
            tail,
            "{words:#x?} not consumed"
        );
    }

    /// Whether a read of `addr` at `pasid` walked the tables (rather than hit the IOTLB);
    /// the read must translate.
    fn walks(&self, pasid: Option<u32>, addr: u64) -> bool {
        let before = self.unit.stats().walks;
        self.translate(dma(SID, pasid, addr, Access::READ)).unwrap();
        self.unit.stats().walks > before
    }
}

/// Second-stage tables mapping 64 pages at `iova` to `pa`.
fn ss_tables(rig: &Rig, iova: u64, pa: u64) -> u64 {
    let mut t = rig.ss_table(false);
    t.map(iova, pa, 64 << 12, Prot::RW).unwrap();
    let root = t.root();
    std::mem::forget(t);
    root
}

/// First-stage tables mapping 64 pages at `va` to `pa`.
fn fs_tables(rig: &Rig, va: u64, pa: u64) -> u64 {
    let mut t = rig.fs_table();
    t.map(va, pa, 64 << 12, Prot::RW).unwrap();
    let root = t.root();
    std::mem::forget(t);
    root
}

const IOVA: u64 = 0x10_0000;

#[test]
fn iotlb_invalidations_remove_what_linux_names() {
    let r = rig();
    let smpwc = true;
    r.put_pasid(
        0,
        &pasid::second_level(ss_tables(&r, IOVA, 0x100_0000), 2, DID_A, smpwc, false),
    );
    r.put_pasid(
        7,
        &pasid::second_level(ss_tables(&r, IOVA, 0x180_0000), 2, DID_B, smpwc, false),
    );
    let page = |i: u64| IOVA + (i << 12);
    for i in 0..64 {
        assert!(r.walks(None, page(i)));
        assert!(r.walks(Some(7), page(i)));
    }
    // Page-selective, AM 3 at page 8, with the drain bits Linux sets: pages 8-15 of DID_A.
    r.send(qi::iotlb(DID_A, page(8), 3, qi::TLB_PSI, true, true));
    for i in 0..64 {
        assert_eq!(r.walks(None, page(i)), (8..16).contains(&i), "page {i}");
        assert!(!r.walks(Some(7), page(i)), "DID_B kept, page {i}");
    }
    // With IH=1 (leaf entries only): the leaf translations of the range still go.
    r.send(qi::iotlb(DID_A, page(32) | 1, 1, qi::TLB_PSI, true, true));
    assert!(r.walks(None, page(32)) && r.walks(None, page(33)));
    assert!(!r.walks(None, page(34)));
    // Domain-selective: all of DID_A, none of DID_B.
    r.send(qi::iotlb(DID_A, 0, 0, qi::TLB_DSI, true, true));
    assert!((0..64).all(|i| r.walks(None, page(i))));
    assert!((0..64).all(|i| !r.walks(Some(7), page(i))));
    // Global: everything.
    r.send(qi::iotlb(0, 0, 0, qi::TLB_GLOBAL, true, true));
    assert!((0..64).all(|i| r.walks(Some(7), page(i))));
}

#[test]
fn pasid_based_iotlb_invalidations_remove_what_linux_names() {
    let r = rig();
    let flags = pasid::FlFlags {
        pwsnp: true,
        ..pasid::FlFlags::default()
    };
    r.put_pasid(
        9,
        &pasid::first_level(fs_tables(&r, IOVA, 0x100_0000), DID_A, 2, flags),
    );
    r.put_pasid(
        10,
        &pasid::first_level(fs_tables(&r, IOVA, 0x180_0000), DID_A, 2, flags),
    );
    let page = |i: u64| IOVA + (i << 12);
    for i in 0..64 {
        assert!(r.walks(Some(9), page(i)));
        assert!(r.walks(Some(10), page(i)));
    }
    // Three pages from page 5: Linux rounds to four, aligned down to page 4.
    r.send(qi::piotlb(DID_A, 9, page(5), Some(3), false));
    for i in 0..64 {
        assert_eq!(r.walks(Some(9), page(i)), (4..8).contains(&i), "page {i}");
        assert!(!r.walks(Some(10), page(i)), "PASID 10 kept, page {i}");
    }
    // Every non-global entry of PASID 9 (Linux's npages = -1).
    r.send(qi::piotlb(DID_A, 9, 0, None, false));
    assert!((0..64).all(|i| r.walks(Some(9), page(i))));
    assert!((0..64).all(|i| !r.walks(Some(10), page(i))));
}

#[test]
fn context_and_pasid_cache_invalidations_remove_what_linux_names() {
    let r = rig();
    r.put_pasid(
        0,
        &pasid::second_level(ss_tables(&r, IOVA, 0x100_0000), 2, DID_A, true, false),
    );
    let page = |i: u64| IOVA + (i << 12);
    assert!(r.walks(None, page(0)));

    // The PASID entry is cleared in memory: the unit keeps using its cached copy until
    // Linux's PASID-selective PASID-cache invalidation of that DID and PASID.
    r.put_pasid(0, &[0; 8]);
    assert!(
        r.walks(None, page(1)),
        "the cached PASID entry still translates"
    );
    r.send(qi::pasid_cache(DID_A, qi::PC_PASID_SEL, 1));
    r.send(qi::pasid_cache(DID_B, qi::PC_PASID_SEL, 0));
    assert!(r.walks(None, page(2)), "other PASID, other DID: kept");
    r.send(qi::pasid_cache(DID_A, qi::PC_PASID_SEL, 0));
    let f = r
        .translate(dma(SID, None, page(3), Access::READ))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Spt2);

    // The context entry is cleared in memory: kept until the device-selective context-cache
    // invalidation of this SID.
    r.put_pasid(
        0,
        &pasid::second_level(ss_tables(&r, IOVA, 0x100_0000), 2, DID_A, true, false),
    );
    r.send(qi::pasid_cache(0, qi::PC_GLOBAL, 0));
    assert!(r.walks(None, page(4)));
    for k in 0..4 {
        r.store(r.ctx_table + u64::from(SID as u8 & 0x7f) * 32 + 8 * k, 0);
    }
    assert!(
        r.walks(None, page(5)),
        "the cached context entry still translates"
    );
    r.send(qi::context(DID_A, SID + 1, 0, qi::CCMD_DEVICE));
    assert!(
        r.walks(None, page(6)),
        "another function's invalidation keeps it"
    );
    r.send(qi::context(DID_A, SID, 0, qi::CCMD_DEVICE));
    let f = r
        .translate(dma(SID, None, page(7), Access::READ))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Sct2);
}

#[test]
fn device_tlb_invalidations_reach_the_device_with_linuxs_range() {
    let r = rig();
    let atc = |r: &Rig| {
        r.dev
            .lock()
            .iter()
            .rev()
            .find_map(|m| match *m {
                DeviceMessage::InvalidateAtc {
                    sid,
                    pasid,
                    addr,
                    pages,
                } => Some((sid, pasid, addr, pages)),
                DeviceMessage::PageResponse { .. } => None,
            })
            .unwrap()
    };
    for qdep in [1u16, 17, 31, 32] {
        // One page; 2 MiB; everything (Linux's global form, MAX_AGAW_PFN_WIDTH).
        for (addr, mask) in [(0x1234_5000u64, 0u32), (0x20_0000, 9), (0, ALL_ADDRESSES)] {
            r.send(qi::dev_iotlb(SID, 0, qdep, addr, mask));
            assert_eq!(atc(&r), (SID, None, addr, 1 << mask));
            r.send(qi::dev_iotlb_pasid(SID, 0, 9, qdep, addr, mask));
            assert_eq!(atc(&r), (SID, Some(9), addr, 1 << mask));
        }
    }
}

#[test]
fn waits_write_their_status_and_responses_reach_the_device() {
    let r = rig();
    let status = r.page();
    // qi_submit_sync's wait, with and without the page-request drain, and the drain's
    // fenced wait without status write.
    r.send(qi::wait(QI_DONE, true, false, false, status));
    assert_eq!(r.mem.load_u64(status).unwrap() as u32, QI_DONE);
    r.store(status, 0);
    r.send(qi::wait(0, false, true, false, 0));
    r.send(qi::wait(QI_DONE, true, false, true, status + 4));
    assert_eq!(r.mem.load_u64(status).unwrap() >> 32, u64::from(QI_DONE));
    // The interrupt-entry cache is not modelled: Linux's IEC invalidations are accepted and
    // change nothing.
    r.send(qi::iec(None));
    r.send(qi::iec(Some((0x40, 2))));
    // Page group responses, LPIG copied into bit 66 as Linux does.
    for (code, rc) in [
        (0u64, ResponseCode::Success),
        (1, ResponseCode::InvalidRequest),
        (0xf, ResponseCode::Failure),
    ] {
        r.send(qi::page_response(SID, Some(9), code, 0x1a5, true, false));
        assert_eq!(
            r.dev.lock().last(),
            Some(&DeviceMessage::PageResponse {
                sid: SID,
                pasid: Some(9),
                prgi: 0x1a5,
                code: rc
            })
        );
    }
    r.send(qi::page_response(SID, None, 0, 3, true, false));
    assert_eq!(
        r.dev.lock().last(),
        Some(&DeviceMessage::PageResponse {
            sid: SID,
            pasid: None,
            prgi: 3,
            code: ResponseCode::Success
        })
    );
}
