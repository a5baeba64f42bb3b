//! Known answers for every register layout, built by hand from the specification's bit
//! positions.

use super::super::*;

#[test]
fn gcmd_gsts() {
    assert_eq!(Gcmd::new().with_te(true).into_bits(), 1 << 31);
    assert_eq!(Gcmd::new().with_srtp(true).into_bits(), 1 << 30);
    assert_eq!(Gcmd::new().with_wbf(true).into_bits(), 1 << 27);
    assert_eq!(Gcmd::new().with_qie(true).into_bits(), 1 << 26);
    assert_eq!(Gcmd::new().with_ire(true).into_bits(), 1 << 25);
    assert_eq!(Gcmd::new().with_sirtp(true).into_bits(), 1 << 24);
    assert_eq!(Gcmd::new().with_cfi(true).into_bits(), 1 << 23);
    // What software keeps of GSTS: every bit but the one-shots (and reserved 29).
    let kept = Gsts::from_bits(0x96ff_ffff);
    assert!(kept.te() && kept.qie() && kept.ire() && kept.cfi());
    assert!(!kept.srtp() && !kept.wbf() && !kept.sirtp());
}

#[test]
fn rtaddr() {
    let r = RtAddr::new()
        .with_rta(0x12_3456_789a)
        .with_ttm(Ttm::Scalable)
        .with_ssirwe(true);
    assert_eq!(r.into_bits(), 0x12_3456_789a << 12 | 0b01 << 10 | 1 << 7);
    assert_eq!(r.address(), 0x0001_2345_6789_a000);
    for (ttm, bits) in [
        (Ttm::Legacy, 0u64),
        (Ttm::Scalable, 1),
        (Ttm::Reserved, 2),
        (Ttm::AbortDma, 3),
    ] {
        assert_eq!(RtAddr::new().with_ttm(ttm).into_bits(), bits << 10);
        assert_eq!(RtAddr::from_bits(bits << 10).ttm(), ttm);
        assert_eq!(Ttm::from_bits(ttm.into_bits()), ttm);
    }
    // Bits 9:8 and 6:0 are reserved.
    assert_eq!(RtAddr::from_bits(0x37f).ttm(), Ttm::Legacy);
    assert!(!RtAddr::from_bits(0x37f).ssirwe());
    assert_eq!(RtAddr::from_bits(0x37f).rta(), 0);
}

#[test]
fn ccmd_iva_iotlb() {
    let c = Ccmd::new()
        .with_icc(true)
        .with_cirg(0b11)
        .with_caig(0b10)
        .with_fm(0b11)
        .with_sid(0xbeef)
        .with_did(0x1234);
    assert_eq!(
        c.into_bits(),
        1 << 63 | 0b11 << 61 | 0b10 << 59 | 0b11 << 32 | 0xbeef << 16 | 0x1234
    );
    let v = Iva::new().with_addr(0xf_ffff).with_ih(true).with_am(0x3f);
    assert_eq!(v.into_bits(), 0xf_ffff << 12 | 1 << 6 | 0x3f);
    let t = IotlbReg::new()
        .with_ivt(true)
        .with_iirg(0b11)
        .with_iaig(0b01)
        .with_dr(true)
        .with_dw(true)
        .with_did(0xabcd);
    assert_eq!(
        t.into_bits(),
        1 << 63 | 0b11 << 60 | 0b01 << 57 | 1 << 49 | 1 << 48 | 0xabcd << 32
    );
}

#[test]
fn fsts() {
    assert_eq!(Fsts::new().with_pfo(true).into_bits(), 1);
    assert_eq!(Fsts::new().with_ppf(true).into_bits(), 1 << 1);
    assert_eq!(Fsts::new().with_iqe(true).into_bits(), 1 << 4);
    assert_eq!(Fsts::new().with_ice(true).into_bits(), 1 << 5);
    assert_eq!(Fsts::new().with_ite(true).into_bits(), 1 << 6);
    assert_eq!(Fsts::new().with_fri(0xff).into_bits(), 0xff << 8);
    assert_eq!(Fsts::RW1CS.into_bits(), 0b0111_0001);
}

#[test]
fn event_registers() {
    assert_eq!(EventCtl::new().with_im(true).into_bits(), 1 << 31);
    assert_eq!(EventCtl::new().with_ip(true).into_bits(), 1 << 30);
    let d = EventData::new().with_imd(0x1234).with_eimd(0xabcd);
    assert_eq!(d.into_bits(), 0xabcd_1234);
    let a = EventAddr::new().with_ma(0x3fff_ffff);
    assert_eq!(a.into_bits(), 0xffff_fffc);
    assert_eq!(EventAddr::from_bits(0xfee0_0003).ma() << 2, 0xfee0_0000);
}

#[test]
fn frcd_field_by_field() {
    let one = |r: Frcd| r.into_bits();
    assert_eq!(one(Frcd::new().with_f(true)), 1 << 127);
    assert_eq!(one(Frcd::new().with_t1(true)), 1 << 126);
    assert_eq!(one(Frcd::new().with_at(AddressType::Reserved)), 0b11 << 124);
    assert_eq!(
        one(Frcd::new().with_at(AddressType::TranslationRequest)),
        0b01 << 124
    );
    assert_eq!(
        one(Frcd::new().with_at(AddressType::Translated)),
        0b10 << 124
    );
    // PV is 20 bits wide: 123:104.
    assert_eq!(one(Frcd::new().with_pv(0xf_ffff)), 0xf_ffff << 104);
    assert_eq!(one(Frcd::new().with_fr(0xff)), 0xff << 96);
    assert_eq!(one(Frcd::new().with_pp(true)), 1 << 95);
    assert_eq!(one(Frcd::new().with_exe(true)), 1 << 94);
    assert_eq!(one(Frcd::new().with_privileged(true)), 1 << 93);
    assert_eq!(one(Frcd::new().with_t2(true)), 1 << 92);
    assert_eq!(one(Frcd::new().with_sid(0xffff)), 0xffff << 64);
    assert_eq!(
        one(Frcd::new().with_fi(0xf_ffff_ffff_ffff)),
        0xffff_ffff_ffff_f000
    );
    // Reserved: 91:80 and 11:0.
    let r = Frcd::from_bits(0xfff << 80 | 0xfff);
    assert_eq!(r.sid(), 0);
    assert_eq!(r.fi(), 0);
    assert!(!r.t2());
    // The two 64-bit halves.
    let r = Frcd::from_bits(0x8000_0000_0000_0001 << 64 | 0x2000);
    assert_eq!(r.low(), 0x2000);
    assert_eq!(r.high(), 0x8000_0000_0000_0001);
    assert!(r.f());
}

#[test]
fn fault_record_to_frcd() {
    let rec = FaultRecord {
        sid: 0x00a5,
        addr: 0xdead_b000 | 0x123,
        reason: 0x81,
        kind: RequestKind::Read,
        at: AddressType::Translated,
        pasid: Some(0xf_1234),
        privileged: true,
        execute: true,
    };
    let expected: u128 = 0xdead_b000
        | 0x00a5 << 64
        | 1 << 93
        | 1 << 94
        | 1 << 95
        | 0x81 << 96
        | 0xf_1234 << 104
        | 0b10 << 124
        | 1 << 126;
    assert_eq!(rec.frcd().into_bits(), expected);
    assert_eq!(rec.frcd().kind(), RequestKind::Read);
    // (T1, T2) for each request type.
    for (kind, t1, t2) in [
        (RequestKind::Write, false, false),
        (RequestKind::PageRequest, false, true),
        (RequestKind::Read, true, false),
        (RequestKind::AtomicOp, true, true),
    ] {
        let r = FaultRecord { kind, ..rec }.frcd();
        assert_eq!((r.t1(), r.t2()), (t1, t2));
        assert_eq!(r.kind(), kind);
    }
    // No PASID: PP and PV clear; PASIDs keep 20 bits.
    let r = FaultRecord { pasid: None, ..rec }.frcd();
    assert!(!r.pp());
    assert_eq!(r.pv(), 0);
    let r = FaultRecord {
        pasid: Some(0xff_ffff),
        ..rec
    }
    .frcd();
    assert_eq!(r.pv(), 0xf_ffff);
}

#[test]
fn invalidation_queue_registers() {
    assert_eq!(Iqh::new().with_qh(0x7fff).into_bits(), 0x7fff << 4);
    assert_eq!(Iqt::new().with_qt(0x7fff).into_bits(), 0x7fff << 4);
    assert_eq!(Iqh::from_bits(0x7_fff0).qh(), 0x7fff);
    assert_eq!(Iqt::from_bits(0xf | 1 << 19).qt(), 0);
    let a = Iqa::new().with_iqa(0xabcde).with_dw(true).with_qs(7);
    assert_eq!(a.into_bits(), 0xabcde << 12 | 1 << 11 | 7);
    assert_eq!(a.base(), 0xabcd_e000);
    assert_eq!(a.size_bytes(), 4096 << 7);
    assert_eq!(a.descriptor_bytes(), 32);
    assert_eq!(Iqa::from_bits(0x7f8).qs(), 0);
    assert_eq!(Ics::new().with_iwc(true).into_bits(), 1);
    let e = Iqercd::new()
        .with_iqei(6)
        .with_itesid(0x1111)
        .with_icesid(0x2222);
    assert_eq!(e.into_bits(), 0x2222 << 48 | 0x1111 << 32 | 6);
    for code in 0..16 {
        match Iqei::from_code(code) {
            Some(i) => assert_eq!(i.code(), code),
            None => assert!(code >= 8),
        }
    }
    assert_eq!(Iqei::TailMisaligned.code(), 6);
    assert_eq!(Iqei::BadWidth.code(), 5);
    let i = Irta::new().with_irta(0x1234).with_eime(true).with_s(0xf);
    assert_eq!(i.into_bits(), 0x1234 << 12 | 1 << 11 | 0xf);
}

#[test]
fn page_request_registers() {
    assert_eq!(Pqh::new().with_pqh(0x3fff).into_bits(), 0x3fff << 5);
    assert_eq!(Pqt::new().with_pqt(0x3fff).into_bits(), 0x3fff << 5);
    assert_eq!(Pqt::from_bits(0x1f).pqt(), 0);
    let a = Pqa::new().with_pqa(0x5_4321).with_pqs(3);
    assert_eq!(a.into_bits(), 0x5_4321 << 12 | 3);
    assert_eq!(a.base(), 0x5432_1000);
    assert_eq!(a.size_bytes(), 4096 << 3);
    assert_eq!(Prs::new().with_ppr(true).into_bits(), 1);
    assert_eq!(Prs::new().with_pro(true).into_bits(), 2);
}

#[test]
fn virtual_command_registers() {
    let c = Vcmd::new().with_cmd(VCMD_FREE_PASID).with_oa(0xf_ffff);
    assert_eq!(c.into_bits(), 0xf_ffff << 16 | 2);
    // The PASID of Free PASID sits in bits 35:16.
    assert_eq!(Vcmd::from_bits(0xa_bcde << 16 | 2).oa(), 0xa_bcde);
    let r = Vcrsp::new()
        .with_ip(true)
        .with_sc(0x7f)
        .with_rslt(0xffff_ffff_ffff);
    assert_eq!(r.into_bits(), 0xffff_ffff_ffff << 16 | 0x7f << 1 | 1);
    assert_eq!(Vcrsp::from_bits(16 << 1).sc(), VCMD_SC_NO_PASID);
    // Spec positions, not Linux's (which tested PAS at bit 0).
    assert_eq!(Vccap::new().with_ns(true).into_bits(), 1);
    assert_eq!(Vccap::new().with_pas(true).into_bits(), 2);
    assert_eq!(Vccap::new().with_fps(true).into_bits(), 4);
}
