//! VER, CAP and ECAP layouts, and the values computed from the parameters.

use super::super::*;

#[test]
fn ver_layout() {
    assert_eq!(Ver::new().with_major(0xa).with_minor(0x3).into_bits(), 0xa3);
    assert_eq!(VERSION.into_bits(), 0x50);
    assert_eq!(Ver::from_bits(0x0000_0061).major(), 6);
    assert_eq!(Ver::from_bits(0x0000_0061).minor(), 1);
}

#[test]
fn cap_layout_bit_by_bit() {
    let one = |c: Cap| c.into_bits();
    assert_eq!(one(Cap::new().with_nd(0b111)), 0b111);
    assert_eq!(one(Cap::new().with_rwbf(true)), 1 << 4);
    assert_eq!(one(Cap::new().with_plmr(true)), 1 << 5);
    assert_eq!(one(Cap::new().with_phmr(true)), 1 << 6);
    assert_eq!(one(Cap::new().with_cm(true)), 1 << 7);
    assert_eq!(one(Cap::new().with_sagaw(0x1f)), 0x1f << 8);
    assert_eq!(one(Cap::new().with_mgaw(0x3f)), 0x3f << 16);
    assert_eq!(one(Cap::new().with_zlr(true)), 1 << 22);
    assert_eq!(one(Cap::new().with_fro(0x3ff)), 0x3ff << 24);
    assert_eq!(one(Cap::new().with_sslps(0xf)), 0xf << 34);
    assert_eq!(one(Cap::new().with_psi(true)), 1 << 39);
    assert_eq!(one(Cap::new().with_nfr(0xff)), 0xff << 40);
    assert_eq!(one(Cap::new().with_mamv(0x3f)), 0x3f << 48);
    assert_eq!(one(Cap::new().with_dwd(true)), 1 << 54);
    assert_eq!(one(Cap::new().with_drd(true)), 1 << 55);
    assert_eq!(one(Cap::new().with_fs1gp(true)), 1 << 56);
    assert_eq!(one(Cap::new().with_pi(true)), 1 << 59);
    assert_eq!(one(Cap::new().with_fs5lp(true)), 1 << 60);
    assert_eq!(one(Cap::new().with_ecmds(true)), 1 << 61);
    assert_eq!(one(Cap::new().with_esirtps(true)), 1 << 62);
    assert_eq!(one(Cap::new().with_esrtps(true)), 1 << 63);
    // Reserved bits 3, 15:13, 23, 38 and 58:57 belong to no field.
    let all = Cap::from_bits(u64::MAX);
    let fields = Cap::new()
        .with_nd(all.nd())
        .with_rwbf(true)
        .with_plmr(true)
        .with_phmr(true)
        .with_cm(true)
        .with_sagaw(all.sagaw())
        .with_mgaw(all.mgaw())
        .with_zlr(true)
        .with_fro(all.fro())
        .with_sslps(all.sslps())
        .with_psi(true)
        .with_nfr(all.nfr())
        .with_mamv(all.mamv())
        .with_dwd(true)
        .with_drd(true)
        .with_fs1gp(true)
        .with_pi(true)
        .with_fs5lp(true)
        .with_ecmds(true)
        .with_esirtps(true)
        .with_esrtps(true);
    let reserved = (1u64 << 3) | (0b111 << 13) | (1 << 23) | (1 << 38) | (0b11 << 57);
    assert_eq!(fields.into_bits(), !reserved);
}

#[test]
fn ecap_layout_bit_by_bit() {
    let one = |e: Ecap| e.into_bits();
    assert_eq!(one(Ecap::new().with_c(true)), 1 << 0);
    assert_eq!(one(Ecap::new().with_qi(true)), 1 << 1);
    assert_eq!(one(Ecap::new().with_dt(true)), 1 << 2);
    assert_eq!(one(Ecap::new().with_ir(true)), 1 << 3);
    assert_eq!(one(Ecap::new().with_eim(true)), 1 << 4);
    assert_eq!(one(Ecap::new().with_pt(true)), 1 << 6);
    assert_eq!(one(Ecap::new().with_sc(true)), 1 << 7);
    assert_eq!(one(Ecap::new().with_iro(0x3ff)), 0x3ff << 8);
    assert_eq!(one(Ecap::new().with_mhmv(0xf)), 0xf << 20);
    assert_eq!(one(Ecap::new().with_mts(true)), 1 << 25);
    assert_eq!(one(Ecap::new().with_nest(true)), 1 << 26);
    assert_eq!(one(Ecap::new().with_prs(true)), 1 << 29);
    assert_eq!(one(Ecap::new().with_ers(true)), 1 << 30);
    assert_eq!(one(Ecap::new().with_srs(true)), 1 << 31);
    assert_eq!(one(Ecap::new().with_nwfs(true)), 1 << 33);
    assert_eq!(one(Ecap::new().with_eafs(true)), 1 << 34);
    assert_eq!(one(Ecap::new().with_pss(0x1f)), 0x1f << 35);
    assert_eq!(one(Ecap::new().with_pasid(true)), 1 << 40);
    assert_eq!(one(Ecap::new().with_dit(true)), 1 << 41);
    assert_eq!(one(Ecap::new().with_pds(true)), 1 << 42);
    assert_eq!(one(Ecap::new().with_smts(true)), 1 << 43);
    assert_eq!(one(Ecap::new().with_vcs(true)), 1 << 44);
    assert_eq!(one(Ecap::new().with_ssads(true)), 1 << 45);
    assert_eq!(one(Ecap::new().with_ssts(true)), 1 << 46);
    assert_eq!(one(Ecap::new().with_fsts(true)), 1 << 47);
    assert_eq!(one(Ecap::new().with_smpwcs(true)), 1 << 48);
    assert_eq!(one(Ecap::new().with_rps(true)), 1 << 49);
    assert_eq!(one(Ecap::new().with_tdxcs(true)), 1 << 50);
    assert_eq!(one(Ecap::new().with_pms(true)), 1 << 51);
    assert_eq!(one(Ecap::new().with_adms(true)), 1 << 52);
    assert_eq!(one(Ecap::new().with_rprivs(true)), 1 << 53);
    assert_eq!(one(Ecap::new().with_hpts(true)), 1 << 55);
    assert_eq!(one(Ecap::new().with_ptrs(true)), 1 << 56);
    assert_eq!(one(Ecap::new().with_ssirws(true)), 1 << 57);
    assert_eq!(one(Ecap::new().with_sms(true)), 1 << 58);
    assert_eq!(one(Ecap::new().with_hpt1gps(true)), 1 << 59);
    assert_eq!(one(Ecap::new().with_rdts(true)), 1 << 60);
    assert_eq!(one(Ecap::new().with_eimer(true)), 1 << 61);
    assert_eq!(one(Ecap::new().with_irreq(true)), 1 << 62);
}

#[test]
fn default_cap_decoded() {
    let p = VtdParams::default();
    let cap = p.cap().unwrap();
    assert_eq!(cap.nd(), 6, "16-bit domain-IDs");
    assert!(!cap.rwbf());
    assert!(!cap.plmr() && !cap.phmr());
    assert!(!cap.cm());
    assert_eq!(cap.sagaw(), 0b00110, "39- and 48-bit second stage");
    assert_eq!(cap.mgaw(), 47);
    assert!(!cap.zlr());
    assert_eq!(cap.fro(), 0x60);
    assert_eq!(u64::from(cap.fro()) * 16, FRCD_REG);
    assert_eq!(cap.sslps(), 0b0011);
    assert!(cap.psi());
    assert_eq!(cap.nfr(), 7);
    assert_eq!(cap.mamv(), 18);
    assert!(cap.dwd() && cap.drd());
    assert!(cap.fs1gp());
    assert!(!cap.pi());
    assert!(cap.fs5lp());
    assert!(!cap.ecmds());
    assert!(!cap.esirtps());
    assert!(cap.esrtps());
    // The same value, bit by bit from the specification's positions.
    let expected: u64 = 6
        | 0b00110 << 8
        | 47 << 16
        | 0x60 << 24
        | 0b0011 << 34
        | 1 << 39
        | 7 << 40
        | 18 << 48
        | 1 << 54
        | 1 << 55
        | 1 << 56
        | 1 << 60
        | 1 << 63;
    assert_eq!(cap.into_bits(), expected);
    assert_eq!(expected, 0x91d2_078c_602f_0606);
}

#[test]
fn default_ecap_decoded() {
    let p = VtdParams::default();
    let e = p.ecap().unwrap();
    assert!(e.c());
    assert!(e.qi());
    assert!(e.dt());
    assert!(!e.ir() && !e.eim());
    assert!(e.pt());
    assert!(e.sc());
    assert_eq!(e.iro(), 0x50);
    assert_eq!(u64::from(e.iro()) * 16, IVA_REG);
    assert_eq!(e.mhmv(), 0);
    assert!(!e.mts());
    assert!(e.nest());
    assert!(e.prs());
    assert!(!e.ers());
    assert!(!e.srs());
    assert!(!e.nwfs() && !e.eafs());
    assert_eq!(e.pss(), 19, "20-bit PASIDs");
    assert!(e.pasid());
    assert!(!e.dit());
    assert!(e.pds());
    assert!(e.smts());
    assert!(!e.vcs());
    assert!(e.ssads());
    assert!(e.ssts());
    assert!(e.fsts());
    assert!(e.smpwcs());
    assert!(!e.rps() && !e.tdxcs() && !e.pms() && !e.adms() && !e.rprivs());
    assert!(!e.hpts() && !e.ptrs() && !e.ssirws() && !e.sms() && !e.hpt1gps());
    assert!(!e.rdts() && !e.eimer() && !e.irreq());
    let expected: u64 = 1
        | 1 << 1
        | 1 << 2
        | 1 << 6
        | 1 << 7
        | 0x50 << 8
        | 1 << 26
        | 1 << 29
        | 19 << 35
        | 1 << 40
        | 1 << 42
        | 1 << 43
        | 1 << 45
        | 1 << 46
        | 1 << 47
        | 1 << 48;
    assert_eq!(e.into_bits(), expected);
    assert_eq!(expected, 0x0001_ed98_2400_50c7);
}

#[test]
fn optional_features_reach_their_bits() {
    let p = VtdParams {
        caching_mode: true,
        virtual_command: true,
        interrupt_remapping: true,
        ss_5level: true,
        mgaw: 57,
        fault_records: 1,
        domain_id_bits: 8,
        pasid_bits: 16,
        ..Default::default()
    };
    let cap = p.cap().unwrap();
    let e = p.ecap().unwrap();
    assert!(cap.cm());
    assert_eq!(cap.sagaw(), 0b01110);
    assert_eq!(cap.mgaw(), 56);
    assert_eq!(cap.nfr(), 0);
    assert_eq!(cap.nd(), 2);
    assert!(cap.esirtps());
    assert!(e.vcs());
    assert!(e.ir() && e.eim());
    assert_eq!(e.mhmv(), 0xf);
    assert_eq!(e.pss(), 15);
    assert_eq!(p.vccap().into_bits(), 0b111);
    assert_eq!(VtdParams::default().vccap().into_bits(), 0);
}

#[test]
fn stage_options_follow_their_stage() {
    let p = VtdParams {
        first_stage: false,
        second_stage: false,
        nesting: false,
        ..Default::default()
    };
    let cap = p.cap().unwrap();
    let e = p.ecap().unwrap();
    assert!(!cap.fs5lp() && !cap.fs1gp());
    assert!(!e.fsts() && !e.ssts() && !e.ssads());
    // Legacy-mode tables still use SAGAW and SSLPS.
    assert_eq!(cap.sagaw(), 0b00110);
    assert_eq!(cap.sslps(), 0b0011);
}

#[test]
fn invalid_parameters_are_refused() {
    let d = VtdParams::default();
    let bad = [
        VtdParams {
            fault_records: 0,
            ..d
        },
        VtdParams {
            fault_records: MAX_FAULT_RECORDS + 1,
            ..d
        },
        VtdParams { mgaw: 31, ..d },
        VtdParams { haw: 53, ..d },
        VtdParams {
            pasid_bits: 21,
            ..d
        },
        VtdParams {
            domain_id_bits: 7,
            ..d
        },
        VtdParams {
            domain_id_bits: 18,
            ..d
        },
        VtdParams {
            ss_3level: false,
            ss_4level: false,
            ..d
        },
        VtdParams {
            ss_4level: false,
            ..d
        },
        VtdParams { ss_2m: false, ..d },
        VtdParams {
            queued_invalidation: false,
            ..d
        },
        VtdParams {
            first_stage: false,
            ..d
        },
        VtdParams {
            device_tlb: false,
            ..d
        },
        VtdParams {
            pasid_bits: 0,
            virtual_command: true,
            ..d
        },
        VtdParams {
            scalable_mode: false,
            ..d
        },
    ];
    for p in bad {
        assert!(p.validate().is_err(), "{p:?}");
        assert!(p.cap().is_err() && p.ecap().is_err());
    }
    assert_eq!(
        VtdParams { mgaw: 57, ..d }.validate(),
        Err(ParamsError::MgawTooWide { mgaw: 57, max: 48 })
    );
    let legacy_only = VtdParams {
        scalable_mode: false,
        pasid_bits: 0,
        first_stage: false,
        second_stage: false,
        nesting: false,
        page_requests: false,
        queued_invalidation: false,
        ..d
    };
    assert!(legacy_only.validate().is_ok());
    assert!(!legacy_only.ecap().unwrap().smts());
    assert!(!legacy_only.ecap().unwrap().smpwcs());
}
