//! ATS: the engine's ATC fills from translation requests, hits without them, sends
//! translated requests, and never uses a translation after its invalidation completed.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use softiommu_devices::bus::{AtcInvalidation, AtcInvalidationStatus};
use softiommu_devices::dsa::{Descriptor, DsaConfig, Status};
use softiommu_mem::AddressSpace;

use crate::harness::{RID, Rig, WqSetup};
use crate::iommu::{Iommu, Prs};

/// I/O virtual addresses the tests use, and where they land.
pub const SRC: u64 = 0x1000_0000;
pub const DST: u64 = 0x2000_0000;
pub const CR: u64 = 0x3000_0000;
pub const SRC_PA: u64 = 0x1_0000;
pub const DST_PA: u64 = 0x2_0000;
pub const CR_PA: u64 = 0x3_0000;

/// An engine behind the test IOMMU with ATS enabled and SRC, DST and CR mapped for `pasid`.
pub fn rig(cfg: DsaConfig, prs: Prs, pasid: Option<u32>) -> (Rig, Arc<Iommu>) {
    let mut iommu = None;
    let rig = Rig::on(cfg, |mem| {
        let i = Iommu::new(mem, prs);
        iommu = Some(i.clone());
        i
    });
    let iommu = iommu.expect("built");
    iommu.map(pasid, SRC, SRC_PA, 4);
    iommu.map(pasid, DST, DST_PA, 4);
    iommu.map(pasid, CR, CR_PA, 1);
    rig.port.set_ats(true, 0);
    (rig, iommu)
}

fn inv(pasid: Option<u32>, global: bool, addr: u64, size_log2: u8) -> AtcInvalidation {
    AtcInvalidation {
        rid: RID,
        pasid,
        global,
        addr,
        size_log2,
    }
}

#[test]
fn misses_fill_the_atc_and_hits_send_no_translation_request() {
    let (rig, iommu) = rig(DsaConfig::default(), Prs::Never, None);
    rig.bring_up(&[WqSetup::dedicated()]);
    let data = rig.pattern(SRC_PA, 0x2000, 3);
    rig.movdir(
        0,
        &Descriptor::memmove(SRC, DST, 0x2000).with_completion(CR),
    );
    assert_eq!(rig.cr(CR_PA).status, Status::Success as u8);
    assert_eq!(rig.bytes(DST_PA, 0x2000), data);
    // Two source pages, two destination pages, the completion record's page.
    assert_eq!(iommu.ats.load(SeqCst), 5);
    assert_eq!(rig.port.atc_len(), 5);
    assert_eq!(iommu.untranslated.load(SeqCst), 0);
    let before = iommu.translated.load(SeqCst);
    rig.movdir(
        0,
        &Descriptor::memmove(SRC, DST, 0x2000).with_completion(CR),
    );
    assert_eq!(rig.cr(CR_PA).status, Status::Success as u8);
    assert_eq!(iommu.ats.load(SeqCst), 5, "every page hit");
    assert!(iommu.translated.load(SeqCst) > before);
    assert_eq!(iommu.untranslated.load(SeqCst), 0);
}

#[test]
fn ats_disabled_in_the_wq_or_the_function_sends_untranslated_requests() {
    let (rig, iommu) = rig(DsaConfig::default(), Prs::Never, None);
    rig.bring_up(&[WqSetup {
        ats_disable: true,
        ..WqSetup::dedicated()
    }]);
    let data = rig.pattern(SRC_PA, 64, 1);
    rig.movdir(0, &Descriptor::memmove(SRC, DST, 64).with_completion(CR));
    assert_eq!(rig.cr(CR_PA).status, Status::Success as u8);
    assert_eq!(rig.bytes(DST_PA, 64), data);
    assert_eq!(iommu.ats.load(SeqCst) + iommu.translated.load(SeqCst), 0);
    assert!(iommu.untranslated.load(SeqCst) > 0);

    let (rig, iommu) = self::rig(DsaConfig::default(), Prs::Never, None);
    rig.bring_up(&[WqSetup::dedicated()]);
    rig.movdir(0, &Descriptor::memmove(SRC, DST, 64).with_completion(CR));
    assert!(rig.port.atc_len() > 0);
    rig.port.set_ats(false, 0);
    assert_eq!(rig.port.atc_len(), 0, "disabling ATS empties the ATC");
    let ats = iommu.ats.load(SeqCst);
    rig.movdir(0, &Descriptor::memmove(SRC, DST, 64).with_completion(CR));
    assert_eq!(rig.cr(CR_PA).status, Status::Success as u8);
    assert_eq!(iommu.ats.load(SeqCst), ats);
}

#[test]
fn invalidation_by_range_pasid_and_all() {
    let (rig, iommu) = rig(DsaConfig::default(), Prs::Never, Some(1));
    for (iova, pa) in [(SRC, SRC_PA), (DST, DST_PA), (CR, CR_PA)] {
        iommu.map(Some(2), iova, pa + 0x8000, 4);
    }
    let pasid = |p| WqSetup {
        pasid: Some(p),
        ..WqSetup::dedicated()
    };
    rig.bring_up(&[pasid(1), pasid(2)]);
    rig.movdir(
        0,
        &Descriptor::memmove(SRC, DST, 0x2000).with_completion(CR),
    );
    rig.movdir(
        1,
        &Descriptor::memmove(SRC, DST, 0x2000).with_completion(CR),
    );
    assert_eq!(rig.port.atc_len(), 10);
    assert!(iommu.translated.load(SeqCst) > 0);
    assert_eq!(
        iommu.translated_with_pasid.load(SeqCst),
        0,
        "translated requests carry no PASID prefix"
    );
    let ep = iommu.endpoint();
    // One page of PASID 1.
    assert_eq!(
        ep.invalidate_atc(&inv(Some(1), false, SRC + 0x1000, 12)),
        AtcInvalidationStatus::Completed
    );
    assert_eq!(rig.port.atc_len(), 9);
    // A range of another PASID's addresses: nothing of PASID 1 outside it goes.
    ep.invalidate_atc(&inv(Some(1), false, 0x4000_0000, 20));
    assert_eq!(rig.port.atc_len(), 9);
    // All of PASID 2.
    ep.invalidate_atc(&inv(Some(2), false, 0, 64));
    assert_eq!(rig.port.atc_len(), 4);
    // A range without a PASID: every PASID's translations in it.
    ep.invalidate_atc(&inv(None, false, DST, 13));
    assert_eq!(rig.port.atc_len(), 2);
    ep.invalidate_atc(&inv(None, false, 0, 64));
    assert_eq!(rig.port.atc_len(), 0);
}

#[test]
fn after_an_invalidation_the_new_translation_is_used() {
    let (rig, iommu) = rig(DsaConfig::default(), Prs::Never, None);
    rig.bring_up(&[WqSetup::dedicated()]);
    rig.pattern(SRC_PA, 64, 1);
    rig.movdir(0, &Descriptor::memmove(SRC, DST, 64).with_completion(CR));
    // The source page moves; until the invalidation the cached translation stands.
    let moved = 0x8_0000;
    let new = rig.pattern(moved, 64, 9);
    iommu.map(None, SRC, moved, 1);
    iommu.endpoint().invalidate_atc(&inv(None, false, SRC, 12));
    rig.movdir(0, &Descriptor::memmove(SRC, DST, 64).with_completion(CR));
    assert_eq!(rig.bytes(DST_PA, 64), new);
}

/// Copies race remaps and invalidations; after each invalidation completes its old physical
/// page is retired, and the IOMMU counts every translated access that reaches one after
/// the access's own delay (so an access that began before the invalidation and ended after
/// its completion is caught).
#[test]
fn no_access_uses_a_translation_after_its_invalidation_completed() {
    let (rig, iommu) = rig(DsaConfig::default(), Prs::Never, None);
    let rig = Arc::new(rig);
    rig.bring_up(&[WqSetup::dedicated(), WqSetup::dedicated()]);
    iommu.access_delay_us.store(20, SeqCst);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let moved = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let movers: Vec<_> = (0..2u32)
        .map(|w| {
            let (rig, stop, moved) = (rig.clone(), stop.clone(), moved.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(SeqCst) {
                    let off = u64::from(w) * 0x1000;
                    let d = Descriptor::memmove(SRC + off, DST + off, 0x1000)
                        .with_completion(CR + 64 * u64::from(w));
                    rig.movdir(w, &d);
                    moved.fetch_add(1, SeqCst);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let ep = iommu.endpoint();
    let mut current = [SRC_PA, SRC_PA + 0x1000];
    for round in 0..150u64 {
        // Let some copies run between invalidations (bounded, should a mover stop).
        let seen = moved.load(SeqCst);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while moved.load(SeqCst) == seen && std::time::Instant::now() < until {
            std::thread::yield_now();
        }
        let page = (round % 2) as usize;
        let fresh = 0x4_0000 + round * 0x1000;
        rig.mem
            .write(fresh, &rig.bytes(current[page], 0x1000))
            .expect("in RAM");
        let iova = SRC + page as u64 * 0x1000;
        iommu.map(None, iova, fresh, 1);
        ep.invalidate_atc(&inv(None, false, iova, 12));
        iommu.retired.lock().insert(current[page] >> 12);
        current[page] = fresh;
    }
    stop.store(true, SeqCst);
    let moves: u32 = movers.into_iter().map(|t| t.join().expect("mover")).sum();
    assert!(moves > 0);
    assert!(iommu.translated.load(SeqCst) > 0);
    assert_eq!(
        iommu.stale.load(SeqCst),
        0,
        "an access used a retired translation"
    );
}
