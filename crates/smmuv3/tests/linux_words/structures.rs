//! The STEs, CDs and level-1 descriptors Linux writes, each accepted by the model (no
//! C_BAD_STE, C_BAD_CD or C_BAD_SUBSTREAMID where Linux means a translation), decoded to the
//! fields Linux meant, and translating DMA as Linux intends.

use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::{Granule, MAIR};
use softiommu_pgtable::{PageTable, Prot};
use softiommu_smmuv3::cd::Cd;
use softiommu_smmuv3::event::{EventClass, EventId};
use softiommu_smmuv3::model::ModelCaps;
use softiommu_smmuv3::regs::{Httu, SmmuParams};
use softiommu_smmuv3::ste::{Eats, S1Dss, S1Fmt, Ste, SteConfig};

use crate::linux::{self, Entry, Features};
use crate::rig::{Mem, Rig, SID};

const IOVA: u64 = 0x40_0000;
/// The IPA stage 2 maps a guest's data page at.
const DATA_IPA: u64 = 0x8000_0000;

/// The features Linux reads from an SMMU with `p` (the model has no attribute overrides
/// and the host no VHE).
pub fn features(p: &SmmuParams) -> Features {
    Features {
        stalls: p.stall_model.stalls(),
        attr_types_ovr: false,
        e2h: false,
        ha: p.httu != Httu::None,
        hd: p.httu == Httu::AccessDirty,
    }
}

/// An S1 domain of a 4 KiB, 48-bit table at `root` tagged `asid`, as Linux makes one.
fn s1_domain(root: u64, asid: u64) -> linux::S1Domain {
    linux::S1Domain {
        asid,
        tcr: linux::s1_tcr(12, 48, 48, true),
        ttbr: root,
        mair: linux::ARM_LPAE_MAIR,
        dirty: false,
    }
}

/// A 4 KiB, 48-bit stage-1 table mapping 64 KiB at `iova` to `pa`.
pub fn mapped_s1(r: &Rig, iova: u64, pa: u64) -> PageTable<AnyFormat, Mem> {
    let mut t = r.s1_table(Granule::K4, 48, 48);
    t.map(iova, pa, 0x10000, Prot::RW).unwrap();
    t
}

fn ste_ok(e: &Entry, p: &SmmuParams) -> Ste {
    let s = Ste::from_words(*e);
    assert_eq!(s.check(&ModelCaps::from_params(p)), Ok(()), "{e:x?}");
    s
}

#[test]
fn abort_and_bypass_stes_and_the_shcfg_older_kernels_wrote() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    r.install_ste(SID, &linux::abort_ste());
    assert_eq!(
        r.fault(None, IOVA),
        None,
        "abort: terminated without an event"
    );
    r.install_ste(SID, &linux::bypass_ste(&f));
    assert_eq!(r.pa(None, IOVA + 0x123), IOVA + 0x123);
    // Kernels before the attribute-override check (and any kernel on an SMMU with
    // IDR1.ATTR_TYPES_OVR) write SHCFG = "use incoming" in bypass STEs. The model answers as
    // an SMMU without attribute overrides: it reads no override field, so the STE is legal and
    // translation is the same.
    let old = linux::bypass_ste(&Features {
        attr_types_ovr: true,
        ..f
    });
    assert_eq!(Ste::from_words(old).dw1.shcfg(), 1);
    r.install_ste(SID, &old);
    assert_eq!(r.pa(None, IOVA + 0x123), IOVA + 0x123);
}

#[test]
fn stage1_through_a_linear_cd_table_with_a_dma_cd_and_an_sva_cd() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let dma = mapped_s1(&r, IOVA, Rig::data(0));
    let proc = mapped_s1(&r, IOVA, Rig::data(1));
    let table = r.table(64 << 4);
    let cd0 = linux::s1_cd(&s1_domain(dma.root(), 1), false);
    let mm = linux::Mm {
        vabits: 48,
        page_shift: 12,
        parange: 5,
        mair: linux::ARM64_MAIR_EL1,
        pgd: proc.root(),
    };
    let sva = linux::sva_cd(&f, &mm, 2, false);
    r.install_cd(SID, 0, table, &cd0);
    r.install_cd(SID, 3, table + 3 * 64, &sva);
    let t = linux::CdTable {
        dma: table,
        s1fmt: linux::STRTAB_STE_0_S1FMT_LINEAR,
        s1cdmax: 4,
    };
    let ste = linux::cdtable_ste(&f, &t, false, false, linux::STRTAB_STE_1_S1DSS_SSID0);
    r.install_ste(SID, &ste);

    let s = ste_ok(&ste, &p);
    assert_eq!(s.dw0.config(), SteConfig::S1Translate);
    assert_eq!(
        (s.dw0.s1fmt(), s.dw0.s1cdmax(), s.s1_context_ptr()),
        (S1Fmt::Linear, 4, table)
    );
    assert_eq!(s.dw1.s1dss(), S1Dss::Substream0);
    assert_eq!((s.dw1.s1cir(), s.dw1.s1cor(), s.dw1.s1csh()), (1, 1, 3));
    // The SMMU can stall and the master is not stall-enabled: S1STALLD.
    assert!(s.dw1.s1stalld());
    assert_eq!(
        (s.dw1.eats(), s.dw1.strw(), s.dw2.s2vmid()),
        (Eats::Disabled, 0, 0)
    );

    let c = Cd::from_words(cd0);
    assert_eq!(c.check(&s, &ModelCaps::from_params(&p)), Ok(()));
    let d = c.dw0;
    assert_eq!(
        (d.t0sz(), d.tg0(), d.ir0(), d.or0(), d.sh0()),
        (16, 0, 1, 1, 3)
    );
    assert!(d.epd1() && !d.epd0() && d.v() && d.aa64() && d.r() && d.a() && d.aset());
    assert!(!d.s() && !d.ha() && !d.hd() && !d.endi());
    assert_eq!((d.ips(), d.asid(), c.ttb0()), (5, 1, dma.root()));
    assert_eq!(c.mair(), linux::ARM_LPAE_MAIR);
    // AttrIndx 0–2, the ones the project's Arm tables use, mean what they mean for Linux.
    assert_eq!(c.mair() & 0xff_ffff, MAIR);
    let v = Cd::from_words(sva);
    assert_eq!(v.check(&s, &ModelCaps::from_params(&p)), Ok(()));
    assert!(v.dw0.ha() && v.dw0.hd() && v.dw0.aset() && v.dw0.epd1());
    assert_eq!(
        (v.dw0.asid(), v.ttb0(), v.mair()),
        (2, proc.root(), mm.mair)
    );

    assert_eq!(r.pa(None, IOVA + 0x123), Rig::data(0) + 0x123);
    assert_eq!(r.pa(Some(3), IOVA + 0x123), Rig::data(1) + 0x123);
    // S1DSS = SSID0: CD 0 serves requests without a PASID, PASID 0 itself is refused.
    assert_eq!(r.fault(Some(0), IOVA), Some(EventId::StreamDisabled));
    // A PASID whose CD Linux left zero.
    assert_eq!(r.fault(Some(5), IOVA), Some(EventId::BadCd));
    // Beyond S1CDMax.
    assert_eq!(r.fault(Some(16), IOVA), Some(EventId::BadSubstreamId));
}

#[test]
fn stage1_through_a_two_level_cd_table_with_l1_descriptors() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let t1 = mapped_s1(&r, IOVA, Rig::data(0));
    // SSIDSIZE 20: 1024 L1CDs of 1024-CD leaves (STRTAB_STE_0_S1FMT_64K_L2).
    let l1 = r.table(8 << 10);
    let leaf0 = r.table(64 << 10);
    let leaf1 = r.table(64 << 10);
    for (i, leaf) in [(0u64, leaf0), (1, leaf1)] {
        r.store(l1 + 8 * i, &[linux::l1_cd(leaf)]);
        // "An invalid L1CD can be cached": Linux invalidates it, not as a leaf.
        let ssid = (i * linux::CTXDESC_L2_ENTRIES) as u32;
        r.run(&[
            linux::cfgi_cd(SID, ssid, false),
            linux::cmd_sync(None, false),
        ])
        .unwrap();
    }
    let cd = linux::s1_cd(&s1_domain(t1.root(), 9), false);
    r.install_cd(SID, 0, leaf0, &cd);
    r.install_cd(SID, 1025, leaf1 + 64, &cd);
    let t = linux::CdTable {
        dma: l1,
        s1fmt: linux::STRTAB_STE_0_S1FMT_64K_L2,
        s1cdmax: 20,
    };
    let ste = linux::cdtable_ste(&f, &t, false, false, linux::STRTAB_STE_1_S1DSS_SSID0);
    r.install_ste(SID, &ste);
    let s = ste_ok(&ste, &p);
    assert_eq!((s.dw0.s1fmt(), s.dw0.s1cdmax()), (S1Fmt::TwoLevel64K, 20));
    assert_eq!(r.pa(None, IOVA + 8), Rig::data(0) + 8);
    assert_eq!(r.pa(Some(1025), IOVA + 8), Rig::data(0) + 8);
    // A leaf Linux has not allocated: its L1CD is still invalid.
    assert_eq!(r.fault(Some(2048), IOVA), Some(EventId::BadSubstreamId));
}

#[test]
fn s1dss_bypass_and_terminate_and_eats_for_ats() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let t1 = mapped_s1(&r, IOVA, Rig::data(0));
    let table = r.table(64 << 4);
    r.install_cd(
        SID,
        1,
        table + 64,
        &linux::s1_cd(&s1_domain(t1.root(), 3), false),
    );
    let t = linux::CdTable {
        dma: table,
        s1fmt: linux::STRTAB_STE_0_S1FMT_LINEAR,
        s1cdmax: 4,
    };
    // Identity at the RID beside PASIDs.
    let ste = linux::cdtable_ste(&f, &t, false, true, linux::STRTAB_STE_1_S1DSS_BYPASS);
    r.install_ste(SID, &ste);
    let s = ste_ok(&ste, &p);
    assert_eq!((s.dw1.s1dss(), s.dw1.eats()), (S1Dss::Bypass, Eats::Full));
    assert_eq!(r.pa(None, IOVA + 4), IOVA + 4);
    assert_eq!(r.pa(Some(1), IOVA + 4), Rig::data(0) + 4);
    // EATS = 01 (full ATS): the device's ATC may ask for the translation.
    let t = r.ats_request(Some(1), IOVA).expect("ATS translation");
    assert_eq!(t.pa, Rig::data(0));
    // Blocked at the RID beside PASIDs; ATS off.
    let ste = linux::cdtable_ste(&f, &t_of(table), false, false, 0);
    r.install_ste(SID, &ste);
    assert_eq!(Ste::from_words(ste).dw1.s1dss(), S1Dss::Terminate);
    assert_eq!(r.fault(None, IOVA), Some(EventId::StreamDisabled));
    assert_eq!(r.pa(Some(1), IOVA + 4), Rig::data(0) + 4);
    let e = r.ats_request(Some(1), IOVA).unwrap_err();
    assert_eq!(e.id(), Some(EventId::BadAtsTreq));
}

fn t_of(table: u64) -> linux::CdTable {
    linux::CdTable {
        dma: table,
        s1fmt: linux::STRTAB_STE_0_S1FMT_LINEAR,
        s1cdmax: 4,
    }
}

#[test]
fn stage2_stes_of_every_granule_with_linux_vtcr() {
    let p = SmmuParams::full();
    let f = features(&p);
    for (g, shift, ia) in [
        (Granule::K4, 12, 40),
        (Granule::K16, 14, 40),
        (Granule::K64, 16, 42),
    ] {
        let r = Rig::new(p);
        let (mut s2, start) = r.s2_table(g, ia, 48);
        s2.map(DATA_IPA, Rig::data(2), 0x10000, Prot::RW).unwrap();
        let d = linux::S2Domain {
            vmid: 5,
            vtcr: linux::s2_vtcr(shift, ia, start, 48, true),
            vttbr: s2.root(),
            s2fwb: false,
        };
        let ste = linux::s2_domain_ste(&f, &d, false, true);
        r.install_ste(SID, &ste);
        let s = ste_ok(&ste, &p);
        let w = s.dw2;
        assert_eq!(s.dw0.config(), SteConfig::S2Translate);
        assert_eq!(w.s2vmid(), 5);
        assert_eq!(u64::from(w.s2t0sz()), 64 - u64::from(ia));
        assert_eq!(u64::from(w.s2sl0()), d.vtcr.sl, "{g:?}");
        assert_eq!((w.s2ir0(), w.s2or0(), w.s2sh0(), w.s2ps()), (1, 1, 3, 5));
        assert_eq!(s.s2_granule(), Some(g));
        assert!(w.s2aa64() && w.s2ptw() && w.s2r() && !w.s2s() && !w.s2endi());
        assert_eq!((s.s2ttb(), s.dw1.eats()), (s2.root(), Eats::Full));
        assert_eq!(r.pa(None, DATA_IPA + 0x10), Rig::data(2) + 0x10);
        assert_eq!(r.ats_request(None, DATA_IPA).unwrap().pa, Rig::data(2));
        let e = r.read(SID, None, DATA_IPA + 0x10_0000).unwrap_err();
        assert_eq!(e.id(), Some(EventId::Translation));
        assert!(
            e.event.unwrap().s2 && e.record,
            "S2R records stage-2 faults"
        );
    }
}

#[test]
fn a_stall_enabled_masters_stage2_ste_stalls_and_linux_resumes_it() {
    // Newer kernels set S2S for stall-enabled (platform) masters.
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let (s2, start) = r.s2_table(Granule::K4, 40, 48);
    let d = linux::S2Domain {
        vmid: 6,
        vtcr: linux::s2_vtcr(12, 40, start, 48, true),
        vttbr: s2.root(),
        s2fwb: false,
    };
    let ste = linux::s2_domain_ste(&f, &d, true, false);
    r.install_ste(SID, &ste);
    assert!(ste_ok(&ste, &p).dw2.s2s());
    let e = r.read(SID, None, DATA_IPA).unwrap_err();
    let stag = e.stalled().expect("a stalled fault");
    r.run(&[
        linux::resume(SID, stag, linux::CMDQ_RESUME_0_RESP_ABORT),
        linux::cmd_sync(None, false),
    ])
    .unwrap();
    let msgs = r.msgs.lock();
    assert!(
        msgs.iter().any(|m| matches!(
            m,
            softiommu_smmuv3::model::DeviceMessage::Resume { sid, stag: s, action, .. }
                if *sid == SID && *s == stag
                    && *action == softiommu_smmuv3::cmd::ResumeAction::Terminate { abort: true }
        )),
        "{msgs:?}"
    );
}

/// A nesting parent mapping [16 MiB, 64 MiB) (every table page of the rig) 1:1 and the guest's
/// data page at [`DATA_IPA`], with Linux's stage-2 domain for it.
fn parent(r: &Rig) -> (linux::S2Domain, PageTable<AnyFormat, Mem>) {
    let (mut s2, start) = r.s2_table(Granule::K4, 40, 48);
    s2.map(16 << 20, 16 << 20, 48 << 20, Prot::RW).unwrap();
    s2.map(DATA_IPA, Rig::data(3), 0x10000, Prot::RW).unwrap();
    // A page stage 2 maps as Device memory, holding a copy of the guest's CD table.
    s2.map(
        DATA_IPA + 0x10_0000,
        Rig::data(4),
        0x10000,
        Prot::RW | Prot::MMIO,
    )
    .unwrap();
    let d = linux::S2Domain {
        vmid: 7,
        vtcr: linux::s2_vtcr(12, 40, start, 48, true),
        vttbr: s2.root(),
        s2fwb: false,
    };
    (d, s2)
}

#[test]
fn nested_stes_from_a_users_vste_with_mev_s2ptw_and_eats() {
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = features(&p);
    let (parent, _s2) = parent(&r);
    // The guest's stage 1 (its tables at IPAs stage 2 maps 1:1) and its linear CD table.
    let mut g1 = r.s1_table(Granule::K4, 48, 40);
    g1.map(IOVA, DATA_IPA, 0x10000, Prot::RW).unwrap();
    let gcd = r.table(4096);
    let cd = linux::s1_cd(
        &linux::S1Domain {
            tcr: linux::s1_tcr(12, 48, 40, true),
            ..s1_domain(g1.root(), 11)
        },
        false,
    );
    r.store(gcd, &cd);
    r.store(gcd + 64, &cd);
    r.store(Rig::data(4), &cd);
    // The vSTE a guest's Linux writes for its CD table, full ATS asked for.
    let vste = |ptr: u64| {
        [
            linux::STRTAB_STE_0_V
                | linux::prep(linux::STRTAB_STE_0_CFG, linux::STRTAB_STE_0_CFG_S1_TRANS)
                | (ptr & linux::STRTAB_STE_0_S1CTXPTR_MASK)
                | linux::prep(linux::STRTAB_STE_0_S1CDMAX, 1),
            linux::prep(linux::STRTAB_STE_1_S1DSS, linux::STRTAB_STE_1_S1DSS_SSID0)
                | linux::prep(linux::STRTAB_STE_1_S1CIR, 1)
                | linux::prep(linux::STRTAB_STE_1_S1COR, 1)
                | linux::prep(linux::STRTAB_STE_1_S1CSH, 3)
                | linux::STRTAB_STE_1_S1STALLD
                | linux::prep(linux::STRTAB_STE_1_EATS, linux::STRTAB_STE_1_EATS_TRANS),
        ]
    };
    let (v, ats) = linux::validate_vste(vste(gcd)).expect("a vSTE Linux takes");
    assert!(ats);
    let ste = linux::nested_ste(&f, &parent, v, ats);
    r.install_ste(SID, &ste);
    let s = ste_ok(&ste, &p);
    assert_eq!(s.dw0.config(), SteConfig::Nested);
    assert!(s.dw1.mev() && s.dw1.s1stalld() && s.dw2.s2ptw() && s.dw2.s2r());
    assert_eq!((s.dw1.eats(), s.dw2.s2vmid()), (Eats::Full, 7));
    assert_eq!(s.s1_context_ptr(), gcd);
    assert_eq!(r.pa(None, IOVA + 0x40), Rig::data(3) + 0x40);
    assert_eq!(r.pa(Some(1), IOVA + 0x40), Rig::data(3) + 0x40);

    // S2PTW: the CD table at an IPA stage 2 maps as Device memory is not fetched.
    let (v, _) = linux::validate_vste(vste(DATA_IPA + 0x10_0000)).unwrap();
    let ste = linux::nested_ste(&f, &parent, v, ats);
    r.install_ste(SID, &ste);
    let e = r
        .read(SID, None, IOVA)
        .unwrap_err()
        .event
        .expect("an event");
    assert!(e.s2 && e.class == EventClass::Cd, "{e:?}");
    // The same STE without S2PTW fetches it.
    let mut no_ptw = ste;
    no_ptw[2] &= !linux::STRTAB_STE_2_S2PTW;
    r.install_ste(SID, &no_ptw);
    assert_eq!(r.pa(None, IOVA + 0x40), Rig::data(3) + 0x40);

    // A vSTE asking for bypass: the parent's stage 2 alone; an invalid vSTE: abort.
    let bypass = [
        linux::STRTAB_STE_0_V | linux::prep(linux::STRTAB_STE_0_CFG, 4),
        0,
    ];
    let (v, ats) = linux::validate_vste(bypass).unwrap();
    let ste = linux::nested_ste(&f, &parent, v, ats);
    r.install_ste(SID, &ste);
    assert_eq!(ste_ok(&ste, &p).dw0.config(), SteConfig::S2Translate);
    assert_eq!(r.pa(None, DATA_IPA + 8), Rig::data(3) + 8);
    let (v, ats) = linux::validate_vste([0, 0]).unwrap();
    r.install_ste(SID, &linux::nested_ste(&f, &parent, v, ats));
    assert_eq!(r.fault(None, IOVA), None);
}

#[test]
fn a_two_level_stream_table_through_linux_l1_descriptors() {
    let p = SmmuParams::full();
    let r = Rig::with_table(p, true);
    r.install_ste(SID, &linux::bypass_ste(&features(&p)));
    assert_eq!(r.pa(None, 0x1234), 0x1234);
    // StreamID 0x100 is in an L1STD Linux has not written (Span 0).
    let e = r.read(0x100, None, 0x1234).unwrap_err();
    assert_eq!(e.id(), Some(EventId::BadStreamId));
}

#[test]
fn an_el2_stream_world_a_vhe_host_writes_is_taken_as_ns_el1() {
    // A VHE host (ARM_SMMU_FEAT_E2H) writes STRW = EL2 into CD-table STEs and leaves S2VMID
    // alone. The model implements no EL2 stream world (see `ModelCaps`): the STE is legal on an
    // SMMU with IDR0.Hyp, and the stream translates as an NS-EL1 one — which is what it means
    // for DMA; only the TLBI commands that reach it differ (the driver here is no VHE host and
    // sends `CMD_TLBI_NH_*`).
    let p = SmmuParams::full();
    let r = Rig::new(p);
    let f = Features {
        e2h: true,
        ..features(&p)
    };
    let t1 = mapped_s1(&r, IOVA, Rig::data(0));
    let table = r.table(4096);
    r.install_cd(
        SID,
        0,
        table,
        &linux::s1_cd(&s1_domain(t1.root(), 4), false),
    );
    let ste = linux::cdtable_ste(&f, &t_of(table), false, false, 2);
    r.install_ste(SID, &ste);
    assert_eq!(ste_ok(&ste, &p).dw1.strw(), 2);
    assert_eq!(r.pa(None, IOVA), Rig::data(0));
}
