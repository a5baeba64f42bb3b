//! Every command Linux sends, with the argument ranges it uses: each accepted (no CERROR),
//! and each doing what Linux means by it — a configuration invalidation makes the SMMU read
//! the changed entry, a TLB invalidation removes what it names and keeps the rest, an ATC
//! invalidation, page response or resume reaches the device as Linux sized it, a `CMD_SYNC`
//! completes as Linux polls for it.

use softiommu_mem::AddressSpace;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::{PageTable, Prot};
use softiommu_smmuv3::cmd::{Cerror, CmdCaps, Command};
use softiommu_smmuv3::model::{AtcInvalidation, DeviceMessage};
use softiommu_smmuv3::pri::PriResponse;
use softiommu_smmuv3::regs::SmmuParams;

use crate::linux::{self, Cmd, Tlbi};
use crate::rig::{Mem, Rig, SID};
use crate::structures::{features, mapped_s1};

const IOVA: u64 = 0x40_0000;
/// Pages each address space maps from [`IOVA`].
const PAGES: u64 = 16;
const SYNC: Cmd = [linux::CMDQ_OP_CMD_SYNC | 2 << 12 | 3 << 22 | 0xf << 24, 0];

/// The data page where page `n` of address space `asid` is mapped, before (`gen` 0) or after
/// (`gen` 1) it is remapped.
fn page(asid: u64, n: u64, gen_: u64) -> u64 {
    (1 << 20) + ((asid * 2 + gen_) * PAGES + n) * 0x1000
}

/// Two stage-1 address spaces on a CD table at SID: ASID 1 at the RID (CD 0), ASID 2 at
/// PASID 1, each mapping [`PAGES`] pages from [`IOVA`], and a 2 MiB block of ASID 1 at 1 GiB.
struct S1Setup {
    tables: Vec<PageTable<AnyFormat, Mem>>,
}

const BLOCK: u64 = 1 << 30;

impl S1Setup {
    fn new(r: &Rig, p: &SmmuParams) -> S1Setup {
        let f = features(p);
        let cds = r.table(4096);
        let mut tables = Vec::new();
        for asid in [1u64, 2] {
            let mut t = r.s1_table(Granule::K4, 48, 48);
            for n in 0..PAGES {
                t.map(IOVA + n * 0x1000, page(asid, n, 0), 0x1000, Prot::RW)
                    .unwrap();
            }
            if asid == 1 {
                t.map(BLOCK, 32 << 20, 2 << 20, Prot::RW).unwrap();
            }
            let d = linux::S1Domain {
                asid,
                tcr: linux::s1_tcr(12, 48, 48, true),
                ttbr: t.root(),
                mair: linux::ARM_LPAE_MAIR,
                dirty: false,
            };
            let ssid = (asid - 1) as u32;
            r.install_cd(
                SID,
                ssid,
                cds + 64 * u64::from(ssid),
                &linux::s1_cd(&d, false),
            );
            tables.push(t);
        }
        let t = linux::CdTable {
            dma: cds,
            s1fmt: linux::STRTAB_STE_0_S1FMT_LINEAR,
            s1cdmax: 2,
        };
        r.install_ste(
            SID,
            &linux::cdtable_ste(&f, &t, false, false, linux::STRTAB_STE_1_S1DSS_SSID0),
        );
        S1Setup { tables }
    }

    fn ssid(asid: u64) -> Option<u32> {
        (asid == 2).then_some(1)
    }

    /// Reads every page of both spaces (the TLB holds them), then maps every page elsewhere
    /// in memory with no invalidation: a page still read at its old place is cached.
    fn prime_and_remap(&mut self, r: &Rig) {
        for asid in [1u64, 2] {
            for n in 0..PAGES {
                assert_eq!(r.pa(Self::ssid(asid), IOVA + n * 0x1000), page(asid, n, 0));
            }
        }
        assert_eq!(r.pa(None, BLOCK + 0x1000), (32 << 20) + 0x1000);
        for (i, t) in self.tables.iter_mut().enumerate() {
            let asid = i as u64 + 1;
            for n in 0..PAGES {
                t.unmap(IOVA + n * 0x1000, 0x1000).unwrap();
                t.map(IOVA + n * 0x1000, page(asid, n, 1), 0x1000, Prot::RW)
                    .unwrap();
            }
            if asid == 1 {
                t.unmap(BLOCK, 2 << 20).unwrap();
                t.map(BLOCK, 34 << 20, 2 << 20, Prot::RW).unwrap();
            }
        }
    }

    /// Which pages of `asid` the SMMU now translates afresh (their cached entry gone).
    fn fresh(r: &Rig, asid: u64) -> Vec<u64> {
        (0..PAGES)
            .filter(|&n| {
                let pa = r.pa(Self::ssid(asid), IOVA + n * 0x1000);
                assert!(pa == page(asid, n, 0) || pa == page(asid, n, 1));
                pa == page(asid, n, 1)
            })
            .collect()
    }

    fn block_fresh(r: &Rig) -> bool {
        r.pa(None, BLOCK) == 34 << 20
    }
}

/// Runs `cmds` and a `CMD_SYNC`; every command must be accepted.
fn run(r: &Rig, cmds: &[Cmd]) {
    let mut all = cmds.to_vec();
    all.push(SYNC);
    assert_eq!(r.run(&all), Ok(()), "{cmds:x?}");
}

#[test]
fn every_command_linux_sends_decodes_and_is_accepted() {
    let p = SmmuParams::full();
    let caps = CmdCaps::from(&p);
    let nh = Tlbi {
        asid: 0xffff,
        leaf: true,
        ..Tlbi::default()
    };
    let s2 = Tlbi {
        vmid: 0xffff,
        leaf: true,
        ..Tlbi::default()
    };
    let mut rows: Vec<(&str, Cmd)> = vec![
        ("PREFETCH_CFG", linux::prefetch_cfg(0xffff)),
        ("CFGI_STE leaf", linux::cfgi_ste(0xffff, true)),
        ("CFGI_STE", linux::cfgi_ste(0, false)),
        ("CFGI_ALL", linux::cfgi_all()),
        ("CFGI_STE_RANGE", linux::cfgi_ste_range(0x100, 7)),
        ("CFGI_CD", linux::cfgi_cd(0xffff, 0xf_ffff, true)),
        ("CFGI_CD non-leaf", linux::cfgi_cd(1, 1024, false)),
        ("CFGI_CD_ALL", linux::cfgi_cd_all(0xffff)),
        ("TLBI_NH_ALL", linux::tlbi(linux::CMDQ_OP_TLBI_NH_ALL, &s2)),
        (
            "TLBI_NH_ASID",
            linux::tlbi(linux::CMDQ_OP_TLBI_NH_ASID, &nh),
        ),
        (
            "TLBI_EL2_ALL",
            linux::tlbi(linux::CMDQ_OP_TLBI_EL2_ALL, &nh),
        ),
        (
            "TLBI_EL2_ASID",
            linux::tlbi(linux::CMDQ_OP_TLBI_EL2_ASID, &nh),
        ),
        (
            "TLBI_S12_VMALL",
            linux::tlbi(linux::CMDQ_OP_TLBI_S12_VMALL, &s2),
        ),
        (
            "TLBI_NSNH_ALL",
            linux::tlbi(linux::CMDQ_OP_TLBI_NSNH_ALL, &nh),
        ),
        ("ATC_INV all", linux::atc_inv(0xffff, 0, 0, 0)),
        ("ATC_INV range", linux::atc_inv(1, 0xf_ffff, 0x7000, 0x4000)),
        (
            "PRI_RESP",
            linux::pri_resp(1, Some(0xf_ffff), 0x1ff, linux::PRI_RESP_SUCC),
        ),
        (
            "PRI_RESP DENY",
            linux::pri_resp(1, None, 0, linux::PRI_RESP_DENY),
        ),
        (
            "PRI_RESP FAIL",
            linux::pri_resp(1, None, 0, linux::PRI_RESP_FAIL),
        ),
        (
            "RESUME TERM",
            linux::resume(1, 0xffff, linux::CMDQ_RESUME_0_RESP_TERM),
        ),
        (
            "RESUME RETRY",
            linux::resume(1, 0, linux::CMDQ_RESUME_0_RESP_RETRY),
        ),
        (
            "RESUME ABORT",
            linux::resume(1, 0, linux::CMDQ_RESUME_0_RESP_ABORT),
        ),
        ("CMD_SYNC SEV", linux::cmd_sync(None, false)),
        ("CMD_SYNC NONE", linux::cmd_sync(None, true)),
        ("CMD_SYNC MSI", linux::cmd_sync(Some(0xff_ffff_fff0), false)),
    ];
    // Range invalidations of the sizes Linux splits: leaves of every granule and level, and
    // tables (no level), by VA (NH_VA, EL2_VA from a VHE host, NH_VAA from a user) and IPA.
    for (op, t) in [
        (linux::CMDQ_OP_TLBI_NH_VA, nh),
        (linux::CMDQ_OP_TLBI_EL2_VA, nh),
        (linux::CMDQ_OP_TLBI_NH_VAA, s2),
        (linux::CMDQ_OP_TLBI_S2_IPA, s2),
    ] {
        for (pg, granule) in [
            (12, 1 << 12),
            (12, 2 << 20),
            (12, 1 << 30),
            (14, 1 << 14),
            (14, 32 << 20),
            (16, 1 << 16),
            (16, 512 << 20),
        ] {
            for leaf in [true, false] {
                for pages in [1u64, 2, 31, 33, 1000] {
                    let size = (pages << pg).max(granule);
                    let t = Tlbi { leaf, ..t };
                    for c in linux::tlb_inv_range(
                        op,
                        t,
                        0x7fff_0000_0000 & !(size - 1),
                        size,
                        granule,
                        pg,
                        true,
                    ) {
                        rows.push(("range TLBI", c));
                    }
                }
            }
        }
    }
    let r = Rig::new(p);
    for (name, c) in &rows {
        assert!(Command::decode(*c, &caps).is_ok(), "{name}: {c:x?}");
        assert_eq!(r.run(&[*c]), Ok(()), "{name}: {c:x?}");
    }
    // Without IDR3.RIL Linux writes no range field: one command per granule, TG = 0.
    let mut p = SmmuParams::full();
    p.range_invalidation = false;
    let r = Rig::new(p);
    let caps = CmdCaps::from(&p);
    for op in [linux::CMDQ_OP_TLBI_NH_VA, linux::CMDQ_OP_TLBI_S2_IPA] {
        for c in linux::tlb_inv_range(op, s2, 0x10_0000, 0x3000, 0x1000, 12, false) {
            assert_eq!(linux::get(linux::CMDQ_TLBI_1_TG, c[1]), 0);
            assert!(Command::decode(c, &caps).is_ok());
            assert_eq!(r.run(&[c]), Ok(()));
        }
    }
}

#[test]
fn an_older_kernels_range_without_size_or_level_is_refused() {
    // Older kernels built a one-page invalidation of tables (Leaf = 0, so TTL = 0) with RIL
    // as TG ≠ 0, NUM = SCALE = 0. The specification reserves a range command with NUM, SCALE
    // and TTL all zero, and the model answers CERROR_ILL; Linux now counts one page more
    // (`num_pages++`), which the previous test sends.
    let r = Rig::new(SmmuParams::full());
    let old = [
        linux::CMDQ_OP_TLBI_NH_VA | linux::prep(linux::CMDQ_TLBI_0_ASID, 1),
        linux::prep(linux::CMDQ_TLBI_1_TG, 1) | IOVA,
    ];
    assert_eq!(r.run(&[old, SYNC]), Err(Cerror::Ill));
    // The queue goes on after the error is skipped.
    run(&r, &[linux::cfgi_all()]);
}

#[test]
fn configuration_invalidations_make_the_smmu_read_what_changed() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let ste_at = |sid: u32| -> u64 {
        // The rig's linear table: find it through the register as the SMMU does.
        let base = r
            .unit
            .mmio_read(softiommu_smmuv3::regs::SMMU_STRTAB_BASE, 8);
        (base & linux::genmask(51, 6)) + 64 * u64::from(sid)
    };
    for inval in [
        linux::cfgi_ste(SID, true),
        linux::cfgi_ste(SID, false),
        linux::cfgi_all(),
        linux::cfgi_ste_range(SID & !0xf, 3),
    ] {
        r.install_ste(SID, &linux::bypass_ste(&f));
        assert_eq!(r.pa(None, IOVA), IOVA);
        // Abort in memory, not yet invalidated: the cached bypass STE stays in use.
        r.store(ste_at(SID), &linux::abort_ste());
        assert_eq!(r.pa(None, IOVA), IOVA);
        run(&r, &[inval]);
        assert_eq!(r.fault(None, IOVA), None, "{inval:x?}");
    }
    // CDs: CFGI_CD and CFGI_CD_ALL make a changed TTB0 seen.
    let a = mapped_s1(&r, IOVA, 0x10_0000);
    let b = mapped_s1(&r, IOVA, 0x20_0000);
    let cds = r.table(4096);
    let cd = |root| {
        linux::s1_cd(
            &linux::S1Domain {
                asid: 1,
                tcr: linux::s1_tcr(12, 48, 48, true),
                ttbr: root,
                mair: linux::ARM_LPAE_MAIR,
                dirty: false,
            },
            false,
        )
    };
    let t = linux::CdTable {
        dma: cds,
        s1fmt: linux::STRTAB_STE_0_S1FMT_LINEAR,
        s1cdmax: 2,
    };
    r.install_ste(SID, &linux::cdtable_ste(&f, &t, false, false, 2));
    for (inval, ssid) in [
        (linux::cfgi_cd(SID, 1, true), 1),
        (linux::cfgi_cd_all(SID), 1),
    ] {
        r.install_cd(SID, ssid, cds + 64, &cd(a.root()));
        assert_eq!(r.pa(Some(1), IOVA), 0x10_0000);
        r.store(cds + 64, &cd(b.root()));
        assert_eq!(r.pa(Some(1), IOVA), 0x10_0000);
        // The TLB entry of the old table goes with the ASID's invalidation Linux sends too.
        run(
            &r,
            &[
                inval,
                linux::tlbi(
                    linux::CMDQ_OP_TLBI_NH_ASID,
                    &Tlbi {
                        asid: 1,
                        ..Tlbi::default()
                    },
                ),
            ],
        );
        assert_eq!(r.pa(Some(1), IOVA), 0x20_0000);
    }
}

#[test]
fn tlb_invalidations_by_va_and_asid_remove_what_linux_names_and_keep_the_rest() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let mut s = S1Setup::new(&r, &p);
    let asid1 = Tlbi {
        asid: 1,
        leaf: true,
        ..Tlbi::default()
    };
    let all: Vec<u64> = (0..PAGES).collect();

    // Leaves of pages 4–8 of ASID 1: one range command, TTL 3 (level-3 pages).
    s.prime_and_remap(&r);
    let cmds = linux::tlb_inv_range(
        linux::CMDQ_OP_TLBI_NH_VA,
        asid1,
        IOVA + 0x4000,
        0x5000,
        0x1000,
        12,
        true,
    );
    assert_eq!(linux::get(linux::CMDQ_TLBI_1_TTL, cmds[0][1]), 3);
    run(&r, &cmds);
    assert_eq!(S1Setup::fresh(&r, 1), vec![4, 5, 6, 7, 8]);
    assert_eq!(S1Setup::fresh(&r, 2), Vec::<u64>::new());
    assert!(!S1Setup::block_fresh(&r));

    // The 2 MiB block: granule 2 MiB, TTL 2; the pages (level 3) stay.
    let cmds = linux::tlb_inv_range(
        linux::CMDQ_OP_TLBI_NH_VA,
        asid1,
        BLOCK,
        2 << 20,
        2 << 20,
        12,
        true,
    );
    assert_eq!(linux::get(linux::CMDQ_TLBI_1_TTL, cmds[0][1]), 2);
    run(&r, &cmds);
    assert!(S1Setup::block_fresh(&r));
    assert_eq!(S1Setup::fresh(&r, 1), vec![4, 5, 6, 7, 8]);

    // Tables of one page (Leaf = 0, no level): Linux makes it two pages.
    let mut s = S1Setup::new(&r, &p);
    s.prime_and_remap(&r);
    let table = Tlbi {
        leaf: false,
        ..asid1
    };
    let cmds = linux::tlb_inv_range(
        linux::CMDQ_OP_TLBI_NH_VA,
        table,
        IOVA + 0x3000,
        0x1000,
        0x1000,
        12,
        true,
    );
    assert_eq!(cmds.len(), 1);
    run(&r, &cmds);
    assert_eq!(S1Setup::fresh(&r, 1), vec![3, 4]);
    assert_eq!(S1Setup::fresh(&r, 2), Vec::<u64>::new());

    // A VHE host's EL2 invalidations reach no NS-EL1 entry.
    let el2 = [
        linux::tlbi(linux::CMDQ_OP_TLBI_EL2_ALL, &asid1),
        linux::tlbi(linux::CMDQ_OP_TLBI_EL2_ASID, &asid1),
        linux::tlbi(
            linux::CMDQ_OP_TLBI_EL2_VA,
            &Tlbi {
                ttl: 3,
                tg: 1,
                addr: IOVA,
                ..asid1
            },
        ),
    ];
    run(&r, &el2);
    assert_eq!(S1Setup::fresh(&r, 1), vec![3, 4]);

    // By ASID: all of ASID 1, none of ASID 2.
    run(&r, &[linux::tlbi(linux::CMDQ_OP_TLBI_NH_ASID, &asid1)]);
    assert_eq!(S1Setup::fresh(&r, 1), all);
    assert_eq!(S1Setup::fresh(&r, 2), Vec::<u64>::new());
    // By VMID (the host's streams are VMID 0): everything.
    run(
        &r,
        &[linux::tlbi(linux::CMDQ_OP_TLBI_NH_ALL, &Tlbi::default())],
    );
    assert_eq!(S1Setup::fresh(&r, 2), all);

    // Without RIL: one command per page, TG = 0.
    let mut p = SmmuParams::full();
    p.range_invalidation = false;
    let r = Rig::new(p);
    let mut s = S1Setup::new(&r, &p);
    s.prime_and_remap(&r);
    let cmds = linux::tlb_inv_range(
        linux::CMDQ_OP_TLBI_NH_VA,
        asid1,
        IOVA + 0x1000,
        0x2000,
        0x1000,
        12,
        false,
    );
    assert_eq!(cmds.len(), 2);
    run(&r, &cmds);
    assert_eq!(S1Setup::fresh(&r, 1), vec![1, 2]);
    // A user's NH_VAA (any ASID), as iommufd forwards it.
    let vaa = Tlbi {
        addr: IOVA + 0x5000,
        ..Tlbi::default()
    };
    run(&r, &[linux::tlbi(linux::CMDQ_OP_TLBI_NH_VAA, &vaa)]);
    assert_eq!(S1Setup::fresh(&r, 1), vec![1, 2, 5]);
    assert_eq!(S1Setup::fresh(&r, 2), vec![5]);
}

#[test]
fn tlb_invalidations_by_ipa_and_vmid_remove_what_linux_names_and_keep_the_rest() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let (mut s2, start) = r.s2_table(Granule::K4, 40, 48);
    for n in 0..PAGES {
        s2.map(IOVA + n * 0x1000, page(1, n, 0), 0x1000, Prot::RW)
            .unwrap();
    }
    let d = linux::S2Domain {
        vmid: 9,
        vtcr: linux::s2_vtcr(12, 40, start, 48, true),
        vttbr: s2.root(),
        s2fwb: false,
    };
    r.install_ste(SID, &linux::s2_domain_ste(&f, &d, false, false));
    let prime = |s2: &mut PageTable<AnyFormat, Mem>| {
        for n in 0..PAGES {
            assert_eq!(r.pa(None, IOVA + n * 0x1000), page(1, n, 0));
            s2.unmap(IOVA + n * 0x1000, 0x1000).unwrap();
            s2.map(IOVA + n * 0x1000, page(1, n, 1), 0x1000, Prot::RW)
                .unwrap();
        }
    };
    let fresh = || -> Vec<u64> {
        (0..PAGES)
            .filter(|&n| r.pa(None, IOVA + n * 0x1000) == page(1, n, 1))
            .collect()
    };
    prime(&mut s2);
    let vmid9 = Tlbi {
        vmid: 9,
        leaf: true,
        ..Tlbi::default()
    };
    run(
        &r,
        &linux::tlb_inv_range(
            linux::CMDQ_OP_TLBI_S2_IPA,
            vmid9,
            IOVA + 0x2000,
            0x3000,
            0x1000,
            12,
            true,
        ),
    );
    assert_eq!(fresh(), vec![2, 3, 4]);
    // Another VMID's invalidations keep them.
    run(
        &r,
        &[linux::tlbi(
            linux::CMDQ_OP_TLBI_S12_VMALL,
            &Tlbi { vmid: 8, ..vmid9 },
        )],
    );
    assert_eq!(fresh(), vec![2, 3, 4]);
    run(&r, &[linux::tlbi(linux::CMDQ_OP_TLBI_S12_VMALL, &vmid9)]);
    assert_eq!(fresh(), (0..PAGES).collect::<Vec<_>>());
    // NSNH_ALL, as Linux sends at reset: everything.
    let mut s2b = s2;
    for n in 0..PAGES {
        s2b.unmap(IOVA + n * 0x1000, 0x1000).unwrap();
        s2b.map(IOVA + n * 0x1000, page(1, n, 0), 0x1000, Prot::RW)
            .unwrap();
    }
    run(
        &r,
        &[linux::tlbi(linux::CMDQ_OP_TLBI_NSNH_ALL, &Tlbi::default())],
    );
    assert_eq!(fresh(), Vec::<u64>::new());
}

#[test]
fn atc_invalidations_page_responses_and_syncs_reach_the_device_as_linux_means() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    run(
        &r,
        &[
            linux::atc_inv(SID, 0, 0, 0),
            // Pages 5–7 at PASID 3: the smallest aligned power of two covering them, 4 pages
            // from page 4.
            linux::atc_inv(SID, 3, 0x5000, 0x3000),
            linux::pri_resp(SID, Some(5), 0x1ab, linux::PRI_RESP_SUCC),
            linux::pri_resp(SID, None, 2, linux::PRI_RESP_DENY),
            linux::pri_resp(SID, Some(6), 3, linux::PRI_RESP_FAIL),
        ],
    );
    let msgs = r.msgs.lock().clone();
    let atc = |pasid, addr, span_log2| DeviceMessage::InvalidateAtc {
        sid: SID,
        inv: AtcInvalidation {
            pasid,
            global: false,
            addr,
            span_log2,
        },
    };
    let resp = |pasid, prgi, response| DeviceMessage::PageResponse {
        sid: SID,
        pasid,
        prgi,
        response,
    };
    assert_eq!(
        msgs,
        vec![
            atc(None, 0, 64),
            atc(Some(3), 0x4000, 14),
            resp(Some(5), 0x1ab, PriResponse::Success),
            // Linux's DENY is the specification's ResponseFailure, its FAIL InvalidRequest.
            resp(None, 2, PriResponse::Failure),
            resp(Some(6), 3, PriResponse::InvalidRequest),
        ]
    );

    // CMD_SYNC with MSI polling: the SMMU writes MSIData (0) over the command itself, which
    // is what Linux polls for.
    let at = r.next_slot(1);
    let sync = linux::cmd_sync(Some(at), false);
    assert_ne!(sync[0] & 0xffff_ffff, 0);
    assert_eq!(r.run(&[linux::cfgi_all(), sync]), Ok(()));
    assert_eq!(r.mem.load_u64(at).unwrap() & 0xffff_ffff, 0);
    // SEV on an SMMU without IDR0.SEV, and NONE: completion seen through CONS only.
    for p in [
        SmmuParams::full(),
        SmmuParams {
            sev: true,
            ..SmmuParams::full()
        },
    ] {
        let r = Rig::new(p);
        assert_eq!(
            r.run(&[linux::cfgi_all(), linux::cmd_sync(None, false)]),
            Ok(())
        );
        assert_eq!(
            r.run(&[linux::cfgi_all(), linux::cmd_sync(None, true)]),
            Ok(())
        );
    }
}
