//! The reach of each invalidation command, and the checking mode.
//!
//! Each test caches translations, changes the tables or structures behind them without
//! invalidating, and shows which cached results one command removes: a stream that still
//! sees the old result was out of the command's reach.

use softiommu_pgtable::Prot;

use super::configs::identity_s2;
use super::events::leaf_at;
use super::*;
use crate::cd::L1Cd;
use crate::ste::{L1Std, S1Fmt};

use InvalidationScope as S;

const VA: u64 = 0x4000_0000;
const OLD: u64 = 0x100_0000;
const NEW: u64 = 0x180_0000;

/// The address stream `sid` of a [`Scene`] translates: each its own page.
const fn va(sid: u32) -> u64 {
    VA + sid as u64 * 0x10_0000
}

/// Streams whose translations of [`va`] the tests cache and then change:
/// 1: stage 1, VMID 1, ASID 1; 2: stage 1, VMID 1, ASID 2; 3: stage 1, VMID 2, ASID 1;
/// 4: stage 2 only, VMID 1; 5: nested, VMID 1, ASID 3.
struct Scene {
    rig: Rig,
    s1: Vec<PageTable<ArmS1, Mem>>,
    s2: PageTable<ArmS2, Mem>,
}

impl Scene {
    fn new() -> Scene {
        let rig = Rig::new();
        let mut s2 = identity_s2(&rig);
        s2.map(va(4), OLD + 0x4000, 0x1000, Prot::RW).unwrap();
        let mut s1 = Vec::new();
        for (sid, vmid, asid) in [(1u32, 1u16, 1u16), (2, 1, 2), (3, 2, 1), (5, 1, 3)] {
            let mut t = rig.s1();
            // The nested stream's stage 1 outputs an IPA the identity stage 2 passes on.
            t.map(va(sid), OLD + u64::from(sid) * 0x1000, 0x1000, Prot::RW)
                .unwrap();
            let cd = rig.page();
            rig.set_cd(cd, &cd_for(t.format(), t.root(), asid));
            let mut ste = s1_ste(cd);
            ste.dw2 = ste.dw2.with_s2vmid(vmid);
            if sid == 5 {
                ste = nested_ste(cd, &s2, vmid);
            }
            rig.set_ste(sid, &ste);
            s1.push(t);
        }
        let ste = with_s2(
            Ste::with_config(SteConfig::S2Translate),
            s2.format(),
            s2.root(),
            1,
        );
        rig.set_ste(4, &ste);
        let scene = Scene { rig, s1, s2 };
        assert_eq!(scene.seen(), [Some(false); 5]);
        scene
    }

    /// Moves every stream's page to a new one, without invalidation.
    fn remap(&mut self) {
        for (t, sid) in self.s1.iter_mut().zip([1u32, 2, 3, 5]) {
            t.unmap(va(sid), 0x1000).unwrap();
            t.map(va(sid), NEW + u64::from(sid) * 0x1000, 0x1000, Prot::RW)
                .unwrap();
        }
        self.s2.unmap(va(4), 0x1000).unwrap();
        self.s2.map(va(4), NEW + 0x4000, 0x1000, Prot::RW).unwrap();
    }

    /// For streams 1–5: `Some(true)` when the new mapping is seen, `Some(false)` for the old
    /// one.
    fn seen(&self) -> [Option<bool>; 5] {
        [1u32, 2, 3, 4, 5].map(|sid| {
            let offset = u64::from(sid) * 0x1000;
            match self.rig.read(sid, va(sid)).ok() {
                Some(p) if p == NEW + offset => Some(true),
                Some(p) if p == OLD + offset => Some(false),
                _ => None,
            }
        })
    }

    /// Remaps, applies `scope`, and returns which streams see the new mapping.
    fn reach(scope: InvalidationScope) -> [bool; 5] {
        let mut s = Scene::new();
        s.remap();
        assert_eq!(s.seen(), [Some(false); 5], "nothing invalidated yet");
        s.rig.unit.invalidate(scope);
        s.seen().map(|x| x.expect("old or new"))
    }
}

fn page(vmid: u16, asid: u16, addr: u64) -> InvalidationScope {
    S::NhVa {
        vmid,
        asid,
        range: TlbiRange::page(addr),
        leaf: true,
    }
}

#[test]
fn tlbi_nh_all_reaches_stage1_entries_of_the_vmid() {
    let r = Scene::reach(S::NhAll { vmid: 1 });
    assert_eq!(r, [true, true, false, false, true]);
}

#[test]
fn tlbi_nh_asid_reaches_the_asid_of_the_vmid() {
    let r = Scene::reach(S::NhAsid { vmid: 1, asid: 1 });
    assert_eq!(r, [true, false, false, false, false]);
}

#[test]
fn tlbi_nh_va_reaches_the_address_of_the_asid() {
    assert_eq!(
        Scene::reach(page(1, 2, va(2))),
        [false, true, false, false, false]
    );
    assert_eq!(Scene::reach(page(1, 2, va(2) + 0x1000)), [false; 5]);
    assert_eq!(
        Scene::reach(page(1, 1, va(2))),
        [false; 5],
        "another ASID's page"
    );
    assert_eq!(
        Scene::reach(page(2, 1, va(3) + 0xFFF)),
        [false, false, true, false, false]
    );
}

#[test]
fn tlbi_nh_vaa_reaches_every_asid_of_the_vmid() {
    let vaa = |addr| S::NhVaa {
        vmid: 1,
        range: TlbiRange::page(addr),
        leaf: false,
    };
    assert_eq!(Scene::reach(vaa(va(2))), [false, true, false, false, false]);
    assert_eq!(Scene::reach(vaa(va(5))), [false, false, false, false, true]);
    assert_eq!(Scene::reach(vaa(va(3))), [false; 5], "another VMID");
}

#[test]
fn tlbi_s12_vmall_reaches_every_entry_of_the_vmid() {
    let r = Scene::reach(S::S12Vmall { vmid: 1 });
    assert_eq!(r, [true, true, false, true, true]);
}

#[test]
fn tlbi_s2_ipa_reaches_stage2_only_entries_not_combined_ones() {
    let ipa = |addr| S::S2Ipa {
        vmid: 1,
        range: TlbiRange::page(addr),
        leaf: true,
    };
    assert_eq!(Scene::reach(ipa(va(4))), [false, false, false, true, false]);
    // The nested stream's output IPA: the combined entry stays.
    assert_eq!(Scene::reach(ipa(OLD + 0x5000)), [false; 5]);
}

#[test]
fn tlbi_nsnh_all_reaches_everything() {
    assert_eq!(Scene::reach(S::NsnhAll), [true; 5]);
}

#[test]
fn configuration_invalidations_reach_the_tlb_entries_of_the_streams_they_name() {
    assert_eq!(
        Scene::reach(S::Ste { sid: 1, leaf: true }),
        [true, false, false, false, false]
    );
    assert_eq!(
        Scene::reach(S::Cd {
            sid: 2,
            ssid: 0,
            leaf: false
        }),
        [false, true, false, false, false]
    );
    assert_eq!(
        Scene::reach(S::CdAll { sid: 5 }),
        [false, false, false, false, true]
    );
    assert_eq!(Scene::reach(S::All), [true; 5]);
}

#[test]
fn va_ranges_cover_num_and_scale_granules_and_ttl_picks_the_level() {
    let rig = Rig::new();
    let mut t = rig.s1();
    t.map(VA, OLD, 0x4000, Prot::RW).unwrap();
    t.map(0x8000_0000, 0x40_0000, 0x20_0000, Prot::RW).unwrap();
    rig.s1_stream(SID, &t, 1);
    let read_all =
        || [0u64, 0x1000, 0x2000, 0x3000].map(|o| rig.read(SID, VA + o).unwrap() - OLD - o == 0);
    assert_eq!(read_all(), [true; 4]);
    assert_eq!(rig.read(SID, 0x8000_0000), Ok(0x40_0000));
    t.unmap(VA, 0x4000).unwrap();
    t.unmap(0x8000_0000, 0x20_0000).unwrap();
    // TG=4K, NUM=1, SCALE=0: (1 + 1) × 2^0 = 2 pages from VA + 0x1000.
    let range = TlbiRange {
        addr: VA + 0x1000,
        num: 1,
        scale: 0,
        tg: 1,
        ttl: 0,
    };
    rig.unit.invalidate(S::NhVa {
        vmid: 0,
        asid: 1,
        range,
        leaf: true,
    });
    let still = |o| rig.read(SID, VA + o).is_ok();
    assert_eq!(
        [0, 0x1000, 0x2000, 0x3000].map(still),
        [true, false, false, true]
    );
    // A level-3 hint does not reach the level-2 block; a level-2 hint does.
    let block = |ttl| S::NhVa {
        vmid: 0,
        asid: 1,
        range: TlbiRange {
            addr: 0x8000_0000,
            num: 0,
            scale: 0,
            tg: 1,
            ttl,
        },
        leaf: true,
    };
    rig.unit.invalidate(block(3));
    assert_eq!(rig.read(SID, 0x8000_1000), Ok(0x40_1000));
    rig.unit.invalidate(block(2));
    assert_eq!(
        rig.read_event(SID, None, 0x8000_1000).id,
        EventId::Translation
    );
}

#[test]
fn any_range_fields_are_a_range_not_a_panic() {
    let rig = Rig::new();
    let mut t = rig.s1();
    t.map(VA, OLD, 0x1000, Prot::RW).unwrap();
    rig.s1_stream(SID, &t, 1);
    assert_eq!(rig.read(SID, VA), Ok(OLD));
    t.unmap(VA, 0x1000).unwrap();
    for (num, scale, tg) in [(31, 31, 3), (31, 31, 1), (0, 12, 2), (7, 25, 1)] {
        let range = TlbiRange {
            addr: 0,
            num,
            scale,
            tg,
            ttl: 0,
        };
        rig.unit.invalidate(S::NhVa {
            vmid: 0,
            asid: 1,
            range,
            leaf: false,
        });
    }
    // The largest ranges reach the page.
    assert!(rig.read(SID, VA).is_err());
}

#[test]
fn global_entries_answer_to_va_invalidations_of_any_asid_not_to_asid_ones() {
    let rig = Rig::new();
    let mut t = rig.s1();
    t.map(VA, OLD, 0x1000, Prot::RW).unwrap();
    let leaf = leaf_at(&t, VA);
    let pte = rig.mem.load_u64(leaf).unwrap();
    rig.mem.store_u64(leaf, pte & !(1 << 11)).unwrap();
    rig.s1_stream(SID, &t, 7);
    assert_eq!(rig.read(SID, VA), Ok(OLD));
    t.unmap(VA, 0x1000).unwrap();
    rig.unit.invalidate(S::NhAsid { vmid: 0, asid: 7 });
    assert_eq!(rig.read(SID, VA), Ok(OLD), "a global entry stays");
    rig.unit.invalidate(S::NhVa {
        vmid: 0,
        asid: 3,
        range: TlbiRange::page(VA),
        leaf: true,
    });
    assert!(rig.read(SID, VA).is_err());
}

/// A rig whose stream `sid` (0x10–0x17) bypasses, all cached, then rewritten to abort.
fn aborted_streams(two_level: bool) -> (Rig, u64) {
    let rig = Rig::new();
    let l1 = rig.page();
    let l2 = rig.page();
    if two_level {
        rig.unit.set_stream_table(StreamTable::two_level(l1, 12, 6));
        L1Std::for_table(l2, 7).write(&*rig.mem, l1).unwrap();
    }
    let at = |sid: u64| {
        if two_level {
            l2 + sid * 64
        } else {
            rig.strtab + sid * 64
        }
    };
    for sid in 0x10..0x18u64 {
        Ste::with_config(SteConfig::Bypass)
            .write(&*rig.mem, at(sid))
            .unwrap();
        assert!(rig.read(sid as u32, 0x1000).is_ok());
        Ste::with_config(SteConfig::Abort)
            .write(&*rig.mem, at(sid))
            .unwrap();
    }
    (rig, l1)
}

fn bypassing(rig: &Rig) -> Vec<u32> {
    (0x10..0x18)
        .filter(|&s| rig.read(s, 0x1000).is_ok())
        .collect()
}

#[test]
fn cfgi_ste_and_its_range_reach_the_streams_named() {
    let (rig, _) = aborted_streams(false);
    assert_eq!(bypassing(&rig), (0x10..0x18).collect::<Vec<_>>());
    rig.unit.invalidate(S::Ste {
        sid: 0x11,
        leaf: true,
    });
    assert!(!bypassing(&rig).contains(&0x11));
    // Range 1: 2^2 StreamIDs from 0x15 aligned down: 0x14–0x17.
    rig.unit.invalidate(S::SteRange {
        sid: 0x15,
        range: 1,
    });
    assert_eq!(bypassing(&rig), vec![0x10, 0x12, 0x13]);
    // CFGI_ALL is the range of everything.
    rig.unit.invalidate(S::SteRange { sid: 0, range: 31 });
    assert!(bypassing(&rig).is_empty());
}

#[test]
fn a_leaf_cfgi_ste_leaves_the_l1std() {
    let (rig, l1) = aborted_streams(true);
    // The span moves to a new level-2 array of bypassing STEs.
    let l2 = rig.page();
    for sid in 0..64u64 {
        Ste::with_config(SteConfig::Bypass)
            .write(&*rig.mem, l2 + sid * 64)
            .unwrap();
    }
    L1Std::for_table(l2, 7).write(&*rig.mem, l1).unwrap();
    rig.unit.invalidate(S::Ste {
        sid: 0x10,
        leaf: true,
    });
    // The cached L1STD still points at the old array, where the STE now aborts.
    assert!(rig.read(0x10, 0x1000).is_err());
    rig.unit.invalidate(S::Ste {
        sid: 0x10,
        leaf: false,
    });
    assert!(rig.read(0x10, 0x1000).is_ok());
    assert!(
        rig.read(0x11, 0x1000).is_ok(),
        "its STE was not cached any more"
    );
}

#[test]
fn cfgi_cd_reaches_one_cd_and_cfgi_cd_all_every_cd_of_the_stream() {
    let rig = Rig::new();
    let mut old = rig.s1();
    old.map(VA, OLD, 0x1000, Prot::RW).unwrap();
    let mut new = rig.s1();
    new.map(VA, NEW, 0x1000, Prot::RW).unwrap();
    // Two levels of 4 KiB leaves, CDs 1 and 2 of the first leaf.
    let l1 = rig.page();
    let leaf = rig.page();
    L1Cd::for_table(leaf).write(&*rig.mem, l1).unwrap();
    for (ssid, asid) in [(1u64, 1), (2, 2)] {
        rig.set_cd(leaf + ssid * 64, &cd_for(old.format(), old.root(), asid));
    }
    let mut ste = s1_ste(l1);
    ste.dw0 = ste.dw0.with_s1cdmax(8).with_s1fmt(S1Fmt::TwoLevel4K);
    rig.set_ste(SID, &ste);
    let read = |ssid| {
        rig.translate(SID, Some(ssid), VA, Access::READ)
            .map(|t| t.pa)
    };
    assert_eq!((read(1), read(2)), (Ok(OLD), Ok(OLD)));
    // New CDs, with new ASIDs so that the TLB does not answer for them.
    for (ssid, asid) in [(1u64, 11), (2, 12)] {
        rig.set_cd(leaf + ssid * 64, &cd_for(new.format(), new.root(), asid));
    }
    rig.unit.invalidate(S::Cd {
        sid: SID,
        ssid: 1,
        leaf: true,
    });
    assert_eq!((read(1), read(2)), (Ok(NEW), Ok(OLD)));
    rig.unit.invalidate(S::CdAll { sid: SID });
    assert_eq!(read(2), Ok(NEW));
    // A leaf CFGI_CD keeps the L1CD: move the leaf table and see the old one still used.
    let leaf2 = rig.page();
    rig.set_cd(leaf2 + 64, &cd_for(old.format(), old.root(), 21));
    L1Cd::for_table(leaf2).write(&*rig.mem, l1).unwrap();
    rig.unit.invalidate(S::Cd {
        sid: SID,
        ssid: 1,
        leaf: true,
    });
    assert_eq!(read(1), Ok(NEW));
    rig.unit.invalidate(S::Cd {
        sid: SID,
        ssid: 1,
        leaf: false,
    });
    assert_eq!(read(1), Ok(OLD));
}

#[test]
fn the_checking_mode_reports_a_skipped_tlbi() {
    let rig = Rig::new();
    let mut t = rig.s1();
    t.map(VA, OLD, 0x2000, Prot::RW).unwrap();
    rig.s1_stream(SID, &t, 6);
    rig.unit.checking().set_enabled(true);
    assert_eq!(rig.read(SID, VA + 8), Ok(OLD + 8));
    assert_eq!(rig.read(SID, VA + 8), Ok(OLD + 8));
    assert_eq!(rig.read(SID, VA + 0x1000), Ok(OLD + 0x1000));
    assert_eq!(
        rig.unit.checking().count(),
        0,
        "hits that agree are not reported"
    );
    // The driver remaps without CMD_TLBI_NH_VA: the hit is stale.
    t.unmap(VA, 0x1000).unwrap();
    t.map(VA, NEW, 0x1000, Prot::RW).unwrap();
    assert_eq!(
        rig.read(SID, VA + 8),
        Ok(OLD + 8),
        "hardware answers from the TLB"
    );
    let reports = rig.unit.checking().reports();
    assert_eq!(reports.len(), 1);
    let r = reports[0];
    assert_eq!(
        (r.vmid, r.asid, r.cached, r.fresh),
        (0, 6, OLD + 8, Ok(NEW + 8))
    );
    assert_eq!(r.request.addr, VA + 8);
    // An unmapped page: the fresh walk faults.
    t.unmap(VA + 0x1000, 0x1000).unwrap();
    assert!(rig.read(SID, VA + 0x1000).is_ok());
    let r = rig.unit.checking().reports()[1];
    assert_eq!(r.fresh, Err(Some(EventId::Translation)));
    // After the invalidation there is nothing to report.
    rig.unit.invalidate(S::NhAsid { vmid: 0, asid: 6 });
    assert_eq!(rig.read(SID, VA), Ok(NEW));
    assert_eq!(rig.read(SID, VA), Ok(NEW));
    assert_eq!(rig.unit.checking().count(), 2);
}

#[test]
fn translations_race_invalidations_without_tearing() {
    let rig = Rig::new();
    let mut t = rig.s1();
    t.map(VA, OLD, 0x10_0000, Prot::RW).unwrap();
    rig.s1_stream(SID, &t, 1);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut k = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    k = (k + 1) % 256;
                    // The old page or the new one (or a fault between unmap and map), never
                    // anything else.
                    if let Ok(pa) = rig.read(SID, VA + (k << 12)) {
                        assert!(pa == OLD + (k << 12) || pa == NEW + (k << 12), "{pa:#x}");
                    }
                }
            });
        }
        for round in 0..40u64 {
            let to = if round % 2 == 0 { NEW } else { OLD };
            let from = if round % 2 == 0 { OLD } else { NEW };
            for k in 0..256u64 {
                let va = VA + (k << 12);
                assert_eq!(t.lookup(va).map(|m| m.pa), Some(from + (k << 12)));
                t.unmap(va, 0x1000).unwrap();
                t.map(va, to + (k << 12), 0x1000, Prot::RW).unwrap();
                rig.unit.invalidate(page(0, 1, va));
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // Every page was invalidated after its last change.
    assert!((0..256u64).all(|k| rig.read(SID, VA + (k << 12)) == Ok(OLD + (k << 12))));
}

#[test]
fn tlbi_s2_ipa_reaches_the_stage2_translations_walks_keep() {
    let rig = Rig::new();
    let mut s2 = identity_s2(&rig);
    let mut s1 = rig.s1();
    s1.map(VA, OLD, 0x2000, Prot::RW).unwrap();
    let cd = rig.page();
    rig.set_cd(cd, &cd_for(s1.format(), s1.root(), 1));
    rig.set_ste(SID, &nested_ste(cd, &s2, 6));
    assert_eq!(rig.read(SID, VA), Ok(OLD));
    // Stage 2 no longer maps the stage-1 root; the walk's translation of it is still kept.
    let root = s1.root();
    s2.unmap(root & !0x1f_ffff, 0x20_0000).unwrap();
    assert_eq!(rig.read(SID, VA + 0x1000), Ok(OLD + 0x1000));
    rig.unit.invalidate(S::S2Ipa {
        vmid: 6,
        range: TlbiRange::page(root),
        leaf: false,
    });
    rig.unit.invalidate(page(6, 1, VA + 0x1000));
    let e = rig.read_event(SID, None, VA + 0x1000);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, true, crate::event::EventClass::Tt)
    );
}
