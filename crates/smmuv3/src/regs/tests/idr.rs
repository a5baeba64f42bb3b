//! The ID registers an SMMU's parameters give, and the parameters the specification refuses.

use super::*;

#[test]
fn full_smmu_reports_every_feature() {
    let f = full();
    // S2P, S1P, TTF AArch64, COHACC, HTTU A+D, Hyp, ATS, NS1ATS, ASID16, MSI, PRI, VMID16, CD2L,
    // TTENDIAN little, STALL_MODEL 00, TERM_MODEL, ST_LEVEL two-level.
    let idr0 = 1 | 1 << 1 | 0b10 << 2 | 1 << 4 | 0b10 << 6 | 1 << 9 | 1 << 10 | 1 << 11;
    let idr0 = idr0 | 1 << 12 | 1 << 13 | 1 << 16 | 1 << 18 | 1 << 19 | 0b10 << 21;
    let idr0 = idr0 | 1 << 26 | 0b01 << 27;
    assert_eq!(f.mmio_read(SMMU_IDR0, 4), idr0);
    // SIDSIZE 16, SSIDSIZE 20, PRIQS/EVENTQS/CMDQS 19.
    assert_eq!(
        f.mmio_read(SMMU_IDR1, 4),
        16 | 20 << 6 | 19 << 11 | 19 << 16 | 19 << 21
    );
    assert_eq!(f.mmio_read(SMMU_IDR2, 4), 0);
    assert_eq!(f.mmio_read(SMMU_IDR3, 4), 1 << 10, "RIL");
    assert_eq!(f.mmio_read(SMMU_IDR4, 4), 0);
    // OAS 48 (0b101), all granules, STALL_MAX 64.
    assert_eq!(
        f.mmio_read(SMMU_IDR5, 4),
        0b101 | 1 << 4 | 1 << 5 | 1 << 6 | 64 << 16
    );
    assert_eq!(f.mmio_read(SMMU_IIDR, 4), 0);
    assert_eq!(f.mmio_read(SMMU_AIDR, 4), 0x01);
    assert!(f.params().nesting());
}

#[test]
fn minimal_smmu_reports_stage_1_alone() {
    let f = minimal();
    // S1P, TTF AArch64, TTENDIAN little, STALL_MODEL 01 (terminate only), TERM_MODEL.
    let idr0 = 1 << 1 | 0b10 << 2 | 0b10 << 21 | 0b01 << 24 | 1 << 26;
    assert_eq!(f.mmio_read(SMMU_IDR0, 4), idr0);
    // SIDSIZE 6, no substreams, PRIQS 0, EVENTQS 7, CMDQS 8.
    assert_eq!(f.mmio_read(SMMU_IDR1, 4), 6 | 7 << 16 | 8 << 21);
    assert_eq!(f.mmio_read(SMMU_IDR3, 4), 0);
    // OAS 40 (0b010), 4K only, no stalls so STALL_MAX 0.
    assert_eq!(f.mmio_read(SMMU_IDR5, 4), 0b010 | 1 << 4);
    assert!(!f.params().nesting());
}

#[test]
fn idr_fields_follow_the_parameters() {
    let base = SmmuParams::full();
    let idr0 = |p: SmmuParams| p.idr0();
    assert!(!idr0(SmmuParams { hyp: false, ..base }).hyp());
    // NS1ATS is reported only where ATS meets both stages.
    assert!(
        !idr0(SmmuParams {
            stage2: false,
            hyp: false,
            ..base
        })
        .ns1ats()
    );
    assert!(
        !idr0(SmmuParams {
            ats: false,
            pri: false,
            ..base
        })
        .ns1ats()
    );
    assert_eq!(
        idr0(SmmuParams {
            stall_model: StallModel::StallForced,
            ..base
        })
        .stall_model(),
        StallModel::StallForced
    );
    assert_eq!(
        idr0(SmmuParams {
            httu: Httu::Access,
            ..base
        })
        .httu(),
        Httu::Access
    );
    let p = SmmuParams {
        pri: false,
        priq_log2: 9,
        ..base
    };
    assert_eq!((p.idr0().pri(), p.idr1().priqs()), (false, 0));
    for (bits, enc) in [(32, 0), (36, 1), (40, 2), (42, 3), (44, 4), (48, 5)] {
        let p = SmmuParams {
            oas_bits: bits,
            ..base
        };
        assert_eq!(p.idr5().oas(), enc, "{bits} bits");
    }
}

#[test]
fn params_the_specification_refuses() {
    let base = SmmuParams::full();
    let needs = |p: SmmuParams| match p.validate() {
        Err(ParamsError::Needs { feature, .. }) => feature,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        needs(SmmuParams {
            stage1: false,
            stage2: false,
            hyp: false,
            two_level_cd: false,
            ..base
        }),
        "an SMMU"
    );
    assert_eq!(
        needs(SmmuParams {
            stage2: false,
            ..base
        }),
        "EL2 contexts"
    );
    assert_eq!(
        needs(SmmuParams {
            two_level_stream_table: false,
            sid_bits: 7,
            ..base
        }),
        "StreamIDs of 7 bits or more"
    );
    assert_eq!(
        needs(SmmuParams {
            stage1: false,
            hyp: false,
            ..base
        }),
        "two-level CD tables"
    );
    assert_eq!(needs(SmmuParams { ats: false, ..base }), "PRI");
    assert_eq!(
        needs(SmmuParams {
            gran4k: false,
            gran16k: false,
            gran64k: false,
            ..base
        }),
        "an SMMU"
    );
    for bits in [0, 31, 41, 52, 56] {
        let p = SmmuParams {
            oas_bits: bits,
            ..base
        };
        assert_eq!(p.validate(), Err(ParamsError::Oas(bits)), "{bits}");
    }
    let p = SmmuParams {
        stall_model: StallModel::Reserved,
        ..base
    };
    assert_eq!(p.validate(), Err(ParamsError::ReservedStallModel));
    for (what, p) in [
        (
            "ssid_bits",
            SmmuParams {
                ssid_bits: 21,
                ..base
            },
        ),
        (
            "cmdq_log2",
            SmmuParams {
                cmdq_log2: 20,
                ..base
            },
        ),
        (
            "evtq_log2",
            SmmuParams {
                evtq_log2: 20,
                ..base
            },
        ),
        (
            "priq_log2",
            SmmuParams {
                priq_log2: 20,
                ..base
            },
        ),
    ] {
        assert!(
            matches!(p.validate(), Err(ParamsError::OutOfRange { what: w, .. }) if w == what),
            "{what}"
        );
    }
    assert!(SmmuParams::full().validate().is_ok());
    assert!(SmmuParams::minimal().validate().is_ok());
    assert_eq!(SmmuParams::default(), SmmuParams::full());
    for e in [
        ParamsError::Oas(1),
        ParamsError::ReservedStallModel,
        ParamsError::Needs {
            feature: "a",
            needs: "b",
        },
    ] {
        assert!(!e.to_string().is_empty());
    }
}
