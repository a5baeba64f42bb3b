//! Known-answer tests for the invalidation descriptors: hand-built words from the field
//! positions of A.10, decoding, and every reserved-bit and invalid-type case.

use super::*;
use proptest::prelude::*;

const SM: QueueMode = QueueMode {
    scalable: true,
    dw256: true,
};
const SM128: QueueMode = QueueMode {
    scalable: true,
    dw256: false,
};
const LEG128: QueueMode = QueueMode {
    scalable: false,
    dw256: false,
};
const LEG256: QueueMode = QueueMode {
    scalable: false,
    dw256: true,
};

/// A unit with every optional descriptor feature; MAMV 63 so that no AM is too large.
fn all() -> DescCaps {
    DescCaps {
        dit: true,
        pds: true,
        prs: true,
        hpts: true,
        mamv: 63,
    }
}

/// A unit with no optional descriptor feature and MAMV 18 (QEMU's value).
fn none() -> DescCaps {
    DescCaps {
        dit: false,
        pds: false,
        prs: false,
        hpts: false,
        mamv: 18,
    }
}

fn iqei(r: Result<Descriptor, QueueError>) -> u8 {
    r.map_or_else(|e| e.iqei(), |_| 0)
}

/// Bits 63:0 of a word holding only the 7-bit type `ty`.
fn type_word(ty: u8) -> u64 {
    u64::from(ty & 0xF) | u64::from(ty >> 4) << 9
}

/// One descriptor of every type with every field set, the words the specification's field
/// positions give for it, and its reserved bits (numbered across 256 bits, 255:128 excepted).
fn known_answers() -> Vec<(Descriptor, [u64; 4], Vec<u32>)> {
    let mut v = Vec::new();

    // 1h cc_inv_dsc: Type (3:0) | G=11b device (5:4) | DID (31:16) | SID (47:32) | FM (49:48).
    let d = CcInv {
        qw0: CcInvQw0::new()
            .with_g(CcGranularity::Device)
            .with_did(0x1234)
            .with_sid(0x00F8)
            .with_fm(2),
    };
    let want_qw0 = 0x1 | 3 << 4 | 0x1234 << 16 | 0x00F8 << 32 | 2 << 48;
    let rsvd = [6..=8, 12..=15, 50..=127];
    v.push((
        Descriptor::ContextCache(d),
        [want_qw0, 0, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 2h iotlb_inv_dsc: Type | G=11b page (5:4) | DW (6) | DR (7) | DID (31:16);
    // QW1: AM (5:0) | IH (6) | ADDR (63:12).
    let d = IotlbInv {
        qw0: IotlbInvQw0::new()
            .with_g(IotlbGranularity::Page)
            .with_dw(true)
            .with_dr(true)
            .with_did(0x55),
        qw1: IotlbInvQw1::new()
            .with_am(9)
            .with_ih(true)
            .with_addr(0xABC0_0000 >> 12),
    };
    let want_qw0 = 0x2 | 3 << 4 | 1 << 6 | 1 << 7 | 0x55 << 16;
    let want_qw1 = 9 | 1 << 6 | 0xABC0_0000;
    let rsvd = [8..=8, 12..=15, 32..=63, 71..=75];
    v.push((
        Descriptor::Iotlb(d),
        [want_qw0, want_qw1, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 3h dev_tlb_inv_dsc: Type | PFSID[3:0] (15:12) | MIP (20:16) | SID (47:32) |
    // PFSID[15:4] (63:52); QW1: S (0) | ADDR (63:12).
    let d = DevTlbInv {
        qw0: DevTlbInvQw0::new()
            .with_pfsid(0x1234)
            .with_mip(0x1F)
            .with_sid(0x0310),
        qw1: DevTlbInvQw1::new()
            .with_s(true)
            .with_addr(0x7_FFFF_FFFF_FFFF),
    };
    let want_qw0 = 0x3 | 0x4 << 12 | 0x1F << 16 | 0x0310 << 32 | 0x123 << 52;
    let want_qw1 = 1 | 0x7FFF_FFFF_FFFF_F000;
    let rsvd = [4..=8, 21..=31, 48..=51, 65..=75];
    v.push((
        Descriptor::DevTlb(d),
        [want_qw0, want_qw1, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 4h iec_inv_dsc: Type | G=1 index (4) | IM (31:27) | IIDX (47:32).
    let d = IecInv {
        qw0: IecInvQw0::new()
            .with_g(IecGranularity::Index)
            .with_im(4)
            .with_iidx(0x0100),
    };
    let want_qw0 = 0x4 | 1 << 4 | 4 << 27 | 0x0100 << 32;
    let rsvd = [5..=8, 12..=26, 48..=127];
    v.push((
        Descriptor::InterruptEntryCache(d),
        [want_qw0, 0, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 5h inv_wait_dsc: Type | IF (4) | SW (5) | FN (6) | PD (7) | Status Data (63:32);
    // QW1: Status Address (63:2).
    let d = InvWait {
        qw0: InvWaitQw0::new()
            .with_if_flag(true)
            .with_sw(true)
            .with_fn_flag(true)
            .with_pd(true)
            .with_status_data(0xCAFE_F00D),
        qw1: InvWaitQw1::new().with_status_address(0x1000_0044),
    };
    let want_qw0 = 0x5 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 0xCAFE_F00D << 32;
    let want_qw1 = 0x1000_0044;
    let rsvd = [8..=8, 12..=31, 64..=65];
    v.push((
        Descriptor::Wait(d),
        [want_qw0, want_qw1, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 6h p_iotlb_inv_dsc: Type | G=11b (5:4) | DID (31:16) | PASID (51:32);
    // QW1: AM (5:0) | IH (6) | ADDR (63:12).
    let d = PIotlbInv {
        qw0: PIotlbInvQw0::new()
            .with_g(PIotlbGranularity::Page)
            .with_did(0x77)
            .with_pasid(0xF_FFFF),
        qw1: IotlbInvQw1::new().with_am(3).with_ih(true).with_addr(0x8),
    };
    let want_qw0 = 0x6 | 3 << 4 | 0x77 << 16 | 0xF_FFFF << 32;
    let want_qw1 = 3 | 1 << 6 | 0x8000;
    let rsvd = [6..=8, 12..=15, 52..=63, 71..=75];
    v.push((
        Descriptor::PasidIotlb(d),
        [want_qw0, want_qw1, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 7h pc_inv_dsc: Type | G=01b PASID-selective (5:4) | DID (31:16) | PASID (51:32).
    let d = PcInv {
        qw0: PcInvQw0::new()
            .with_g(PcGranularity::Pasid)
            .with_did(0x8)
            .with_pasid(0x42),
    };
    let want_qw0 = 0x7 | 1 << 4 | 0x8 << 16 | 0x42 << 32;
    let rsvd = [6..=8, 12..=15, 52..=127];
    v.push((
        Descriptor::PasidCache(d),
        [want_qw0, 0, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // 8h p_dev_tlb_inv_dsc: Type | MIP (8:4) | PFSID[3:0] (15:12) | SID (31:16) |
    // PASID (51:32) | PFSID[15:4] (63:52); QW1: GI (0) | S (11) | ADDR (63:12).
    let d = PDevTlbInv {
        qw0: PDevTlbInvQw0::new()
            .with_mip(0x10)
            .with_pfsid(0xABCD)
            .with_sid(0x0100)
            .with_pasid(0x12345),
        qw1: PDevTlbInvQw1::new()
            .with_gi(true)
            .with_s(true)
            .with_addr(0x10),
    };
    let want_qw0 = 0x8 | 0x10 << 4 | 0xD << 12 | 0x0100 << 16 | 0x12345 << 32 | 0xABC << 52;
    let want_qw1 = 1 | 1 << 11 | 0x1_0000;
    v.push((
        Descriptor::PasidDevTlb(d),
        [want_qw0, want_qw1, 0, 0],
        (65..=74).collect(),
    ));

    // 9h page_grp_resp_dsc: Type | PP (4) | RC=1h (15:12) | RID (31:16) | PASID (51:32);
    // QW1: PRGI (75:67).
    let d = PageGroupResp {
        qw0: PageGroupRespQw0::new()
            .with_pp(true)
            .with_rc(ResponseCode::InvalidRequest)
            .with_rid(0x0310)
            .with_pasid(0xABCDE),
        qw1: PageGroupRespQw1::new().with_prgi(0x1A5),
    };
    let want_qw0 = 0x9 | 1 << 4 | 1 << 12 | 0x0310 << 16 | 0xABCDE << 32;
    let want_qw1 = 0x1A5 << 3;
    let rsvd = [5..=8, 52..=63, 64..=65, 76..=127];
    v.push((
        Descriptor::PageGroupResponse(d),
        [want_qw0, want_qw1, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));

    // Ah hpt_inv_dsc: Type | G (5:4) | HPTDID (31:16); QW1: AM (5:0) | IH (7:6) | ADDR (63:12).
    let d = HptInv {
        qw0: HptInvQw0::new().with_g(2).with_hptdid(0x4321),
        qw1: HptInvQw1::new().with_am(5).with_ih(3).with_addr(0x200),
    };
    let want_qw0 = 0xA | 2 << 4 | 0x4321 << 16;
    let want_qw1 = 5 | 3 << 6 | 0x20_0000;
    let rsvd = [6..=8, 12..=15, 32..=63, 72..=75];
    v.push((
        Descriptor::Hpt(d),
        [want_qw0, want_qw1, 0, 0],
        rsvd.into_iter().flatten().collect(),
    ));
    v
}

/// Flipping these (type, bit) pairs outside the reserved bits makes a field value the
/// specification reserves: p_iotlb G 11b→01b; page group response RC 1h→3h, 5h, 9h.
const VALUE_FLIPS: [(u8, u32); 4] = [(0x6, 5), (0x9, 13), (0x9, 14), (0x9, 15)];

#[test]
fn every_type_encodes_as_the_spec_lays_it_out() {
    let answers = known_answers();
    assert_eq!(answers.len(), 10);
    for (i, (desc, want, _)) in answers.iter().enumerate() {
        assert_eq!(desc.desc_type(), i as u8 + 1);
        assert_eq!(desc.encode(), *want, "type {:#x}", desc.desc_type());
    }
}

#[test]
fn new_descriptors_carry_their_type() {
    let types = [
        (CcInv::default().to_words(), CcInv::TYPE),
        (IotlbInv::default().to_words(), IotlbInv::TYPE),
        (DevTlbInv::default().to_words(), DevTlbInv::TYPE),
        (IecInv::default().to_words(), IecInv::TYPE),
        (InvWait::default().to_words(), InvWait::TYPE),
        (PIotlbInv::default().to_words(), PIotlbInv::TYPE),
        (PcInv::default().to_words(), PcInv::TYPE),
        (PDevTlbInv::default().to_words(), PDevTlbInv::TYPE),
        (PageGroupResp::default().to_words(), PageGroupResp::TYPE),
        (HptInv::default().to_words(), HptInv::TYPE),
    ];
    for (i, (words, ty)) in types.into_iter().enumerate() {
        assert_eq!(ty, i as u8 + 1);
        // Only the type bits (3:0) are set.
        assert_eq!(words, [u64::from(ty), 0, 0, 0]);
    }
    assert_eq!(PageRequest::default().encode(), [1, 0, 0, 0]);
}

#[test]
fn every_type_decodes_hand_built_words() {
    for (desc, words, _) in known_answers() {
        let ty = desc.desc_type();
        assert_eq!(
            Descriptor::decode(words, SM, &all()),
            Ok(desc),
            "type {ty:#x}"
        );
        if ty <= 5 {
            assert_eq!(Descriptor::decode(words, LEG128, &all()), Ok(desc));
            assert_eq!(Descriptor::decode(words, LEG256, &all()), Ok(desc));
        }
    }
}

#[test]
fn decoded_fields_read_back() {
    let words = [0x2 | 2 << 4 | 0x0042 << 16, 0, 0, 0];
    let Ok(Descriptor::Iotlb(d)) = Descriptor::decode(words, SM, &none()) else {
        panic!("not an iotlb_inv_dsc");
    };
    assert_eq!(d.qw0.g(), IotlbGranularity::Domain);
    assert_eq!(d.qw0.did(), 0x42);
    assert_eq!(d.qw0.desc_type(), 2);

    let words = [0x5 | 1 << 5 | 0x1234_5678 << 32, 0xFEE0_0000, 0, 0];
    let Ok(Descriptor::Wait(d)) = Descriptor::decode(words, LEG128, &none()) else {
        panic!("not an inv_wait_dsc");
    };
    assert!(d.qw0.sw() && !d.qw0.if_flag() && !d.qw0.fn_flag() && !d.qw0.pd());
    assert_eq!(d.qw0.status_data(), 0x1234_5678);
    assert_eq!(d.qw1.status_address(), 0xFEE0_0000);

    let words = [0x6 | 2 << 4 | 0x3 << 16 | 0x99 << 32, 0, 0, 0];
    let Ok(Descriptor::PasidIotlb(d)) = Descriptor::decode(words, SM, &none()) else {
        panic!("not a p_iotlb_inv_dsc");
    };
    assert_eq!(d.qw0.g(), PIotlbGranularity::Pasid);
    assert_eq!((d.qw0.did(), d.qw0.pasid()), (3, 0x99));

    let words = [0x7 | 3 << 4, 0, 0, 0];
    let Ok(Descriptor::PasidCache(d)) = Descriptor::decode(words, SM, &none()) else {
        panic!("not a pc_inv_dsc");
    };
    assert_eq!(d.qw0.g(), PcGranularity::Global);

    let words = [0x3 | 0x0310 << 32, 0x1000_0000 | 1, 0, 0];
    let Ok(Descriptor::DevTlb(d)) = Descriptor::decode(words, SM, &none()) else {
        panic!("not a dev_tlb_inv_dsc");
    };
    assert_eq!(d.qw0.sid(), 0x0310);
    assert_eq!(d.qw0.pfsid(), 0);
    // S=1 and ADDR 10000h: the lowest 0 bit is bit 0, so two pages.
    assert_eq!(d.qw1.range(), (0x1_0000, 2));
}

#[test]
fn every_reserved_bit_is_iqei_4_and_every_field_bit_is_not() {
    let type_bits = [0, 1, 2, 3, 9, 10, 11];
    for (desc, words, rsvd) in known_answers() {
        let ty = desc.desc_type();
        for bit in (0..256u32).filter(|b| !type_bits.contains(b)) {
            let mut w = words;
            w[(bit / 64) as usize] ^= 1 << (bit % 64);
            let got = Descriptor::decode(w, SM, &all());
            if bit >= 128 || rsvd.contains(&bit) || VALUE_FLIPS.contains(&(ty, bit)) {
                assert_eq!(iqei(got), 4, "type {ty:#x} bit {bit}");
            } else {
                assert!(got.is_ok(), "type {ty:#x} bit {bit}: {got:?}");
            }
            if ty <= 5 && bit < 128 {
                // The 128-bit legacy queue has the same fields.
                assert_eq!(iqei(Descriptor::decode(w, LEG128, &all())), iqei(got));
            }
        }
    }
}

#[test]
fn upper_half_is_ignored_in_a_128_bit_queue_and_reserved_in_a_256_bit_one() {
    let words = [0x1 | 1 << 4, 0, 0xFFFF, 1 << 63];
    let want = Descriptor::ContextCache(CcInv {
        qw0: CcInvQw0::new().with_g(CcGranularity::Global),
    });
    assert_eq!(Descriptor::decode(words, LEG128, &none()), Ok(want));
    assert_eq!(iqei(Descriptor::decode(words, LEG256, &none())), 4);
    assert_eq!(
        Descriptor::decode([words[0], 0, 0, 0], LEG256, &none()),
        Ok(want)
    );
}

#[test]
fn types_outside_the_mode_are_iqei_3() {
    for ty in 0..128u8 {
        let words = [type_word(ty), 0, 0, 0];
        let sm = Descriptor::decode(words, SM, &all());
        let leg = Descriptor::decode(words, LEG128, &all());
        let leg256 = Descriptor::decode(words, LEG256, &all());
        assert_eq!(iqei(sm) == 3, !(1..=0xA).contains(&ty), "type {ty:#x}");
        assert_eq!(iqei(leg) == 3, !(1..=5).contains(&ty), "type {ty:#x}");
        assert_eq!(iqei(leg256) == 3, !(1..=5).contains(&ty), "type {ty:#x}");
        if let Err(QueueError::InvalidType { ty: got }) = sm {
            assert_eq!(got, ty);
        }
    }
    // 9h needs PRS and Ah needs HPTS.
    let resp = [0x9, 0, 0, 0];
    assert_eq!(iqei(Descriptor::decode(resp, SM, &none())), 3);
    assert_eq!(iqei(Descriptor::decode(resp, SM, &all())), 0);
    let hpt = [0xA, 0, 0, 0];
    assert_eq!(iqei(Descriptor::decode(hpt, SM, &none())), 3);
    assert_eq!(iqei(Descriptor::decode(hpt, SM, &all())), 0);
    // Type[6:4] (bits 11:9) makes another type, even over a valid Type[3:0].
    assert_eq!(
        Descriptor::decode([0x2 | 1 << 9 | 1 << 4, 0, 0, 0], SM, &all()),
        Err(QueueError::InvalidType { ty: 0x12 })
    );
    // The type is checked before reserved bits.
    assert_eq!(iqei(Descriptor::decode([0xB, !0, !0, !0], SM, &all())), 3);
}

#[test]
fn a_128_bit_queue_in_scalable_mode_is_iqei_5() {
    for (_, words, _) in known_answers() {
        assert_eq!(
            Descriptor::decode(words, SM128, &all()),
            Err(QueueError::BadWidth)
        );
    }
    assert_eq!(iqei(Descriptor::decode([0; 4], SM128, &all())), 5);
}

#[test]
fn pfsid_is_reserved_unless_dit_and_mip_never_is() {
    // dev_tlb_inv_dsc: PFSID[3:0] (15:12), MIP (20:16), PFSID[15:4] (63:52).
    // p_dev_tlb_inv_dsc: MIP (8:4), PFSID[3:0] (15:12), PFSID[15:4] (63:52).
    let no_dit = none();
    let dit = DescCaps {
        dit: true,
        ..none()
    };
    let pfsid: [(u64, u64); 4] = [
        (0x3, 1 << 12),
        (0x3, 1 << 63),
        (0x8, 1 << 15),
        (0x8, 1 << 52),
    ];
    for (ty, bit) in pfsid {
        let words = [ty | bit, 0, 0, 0];
        let got = Descriptor::decode(words, SM, &no_dit);
        assert_eq!(iqei(got), 4, "type {ty:#x} bit {bit:#x}");
        assert!(Descriptor::decode(words, SM, &dit).is_ok());
        assert!(Descriptor::decode([ty, 0, 0, 0], SM, &no_dit).is_ok());
    }
    // MIP carries the device's invalidate queue depth whatever DIT is: every value 0-31.
    for mip in 0..32u64 {
        for caps in [no_dit, dit] {
            let Ok(Descriptor::DevTlb(d)) =
                Descriptor::decode([0x3 | mip << 16, 0, 0, 0], SM, &caps)
            else {
                panic!("dev_tlb_inv_dsc MIP {mip} refused");
            };
            assert_eq!(u64::from(d.qw0.mip()), mip);
            let Ok(Descriptor::PasidDevTlb(d)) =
                Descriptor::decode([0x8 | mip << 4, 0, 0, 0], SM, &caps)
            else {
                panic!("p_dev_tlb_inv_dsc MIP {mip} refused");
            };
            assert_eq!(u64::from(d.qw0.mip()), mip);
        }
    }
    // The reserved bits around MIP stay reserved: dev_tlb 8:4 and 31:21, p_dev_tlb QW1 10:1.
    for words in [
        [0x3 | 1 << 4, 0, 0, 0],
        [0x3 | 1 << 21, 0, 0, 0],
        [0x8, 1 << 1, 0, 0],
    ] {
        assert_eq!(iqei(Descriptor::decode(words, SM, &dit)), 4, "{words:#x?}");
    }
    // As Linux writes a global device-TLB flush when DIT=0: PFSID=0, QDEP=0, S=1, ADDR all 1s
    // up to bit 62.
    let linux = [0x3 | 0x0310 << 32, 0x7FFF_FFFF_FFFF_F000 | 1, 0, 0];
    let Ok(Descriptor::DevTlb(d)) = Descriptor::decode(linux, LEG128, &no_dit) else {
        panic!("not a dev_tlb_inv_dsc");
    };
    assert_eq!(d.qw1.range(), (0, 1 << 52));
}

#[test]
fn page_drain_is_reserved_unless_pds() {
    let words = [0x5 | 1 << 7 | 1 << 4, 0, 0, 0];
    assert_eq!(iqei(Descriptor::decode(words, SM, &none())), 4);
    let pds = DescCaps {
        pds: true,
        ..none()
    };
    assert!(Descriptor::decode(words, SM, &pds).is_ok());
}

#[test]
fn reserved_field_values_are_iqei_4() {
    let caps = all();
    // cc G=00b, iotlb G=00b, p_iotlb G=00b and 01b, pc G=10b.
    for words in [
        [0x1, 0, 0, 0],
        [0x2, 0, 0, 0],
        [0x6, 0, 0, 0],
        [0x6 | 1 << 4, 0, 0, 0],
        [0x7 | 2 << 4, 0, 0, 0],
    ] {
        assert_eq!(iqei(Descriptor::decode(words, SM, &caps)), 4, "{words:x?}");
    }
    // Page group response RC 2h–Eh.
    for rc in 0..16u64 {
        let got = Descriptor::decode([0x9 | rc << 12, 0, 0, 0], SM, &caps);
        let reserved = (2..=0xE).contains(&rc);
        assert_eq!(iqei(got), if reserved { 4 } else { 0 }, "rc {rc:#x}");
    }
}

#[test]
fn iotlb_address_mask_is_limited_to_mamv() {
    let caps = none(); // MAMV 18.
    let psi = |am: u64| [0x2 | 3 << 4, am, 0, 0];
    assert!(Descriptor::decode(psi(18), SM, &caps).is_ok());
    assert_eq!(iqei(Descriptor::decode(psi(19), SM, &caps)), 4);
    // Domain-selective: AM is not used.
    assert!(Descriptor::decode([0x2 | 2 << 4, 63, 0, 0], SM, &caps).is_ok());
    // The PASID-based IOTLB descriptor accepts any AM.
    assert!(Descriptor::decode([0x6 | 3 << 4, 63, 0, 0], SM, &caps).is_ok());
}

#[test]
fn page_group_response_ignores_bit_66_and_rejects_old_pdp() {
    let caps = all();
    // As Linux writes it: PRGI with LPIG in bit 66.
    let words = [
        0x9 | 1 << 4 | 0x0310 << 16 | 0x7 << 32,
        0x1A5 << 3 | 1 << 2,
        0,
        0,
    ];
    let Ok(Descriptor::PageGroupResponse(d)) = Descriptor::decode(words, SM, &caps) else {
        panic!("not a page_grp_resp_dsc");
    };
    assert_eq!(d.qw1.prgi(), 0x1A5);
    assert_eq!(d.qw0.rc(), ResponseCode::Success);
    assert_eq!(Descriptor::PageGroupResponse(d).encode(), words);
    // Bit 5 was PDP (private data present) in older revisions; reserved now.
    let pdp = [words[0] | 1 << 5, words[1], 0, 0];
    assert_eq!(iqei(Descriptor::decode(pdp, SM, &caps)), 4);
}

#[test]
fn page_group_response_answers_its_request() {
    let req = PageRequest::decode([
        0x01 | 1 << 8 | 0x0310 << 16 | 0xABCDE << 32,
        1 << 2 | 0x1A5 << 3 | 1,
        0,
        0,
    ])
    .unwrap();
    let resp = PageGroupResp::for_request(&req, ResponseCode::InvalidRequest);
    // Type 9h | PP (4) | RC=1h (15:12) | RID (31:16) | PASID (51:32); PRGI (75:67).
    let want = [
        0x9 | 1 << 4 | 1 << 12 | 0x0310 << 16 | 0xABCDE << 32,
        0x1A5 << 3,
        0,
        0,
    ];
    assert_eq!(resp.to_words(), want);
    assert_eq!(
        Descriptor::decode(want, SM, &all()),
        Ok(Descriptor::PageGroupResponse(resp))
    );
}

#[test]
fn device_tlb_size_follows_the_lowest_zero_bit() {
    // S=0: one page, ADDR as it is.
    assert_eq!(dev_tlb_range(0x12345, false), (0x12345, 1));
    // S=1, ADDR bit 0 is 0: 2 pages (8 KiB).
    assert_eq!(dev_tlb_range(0x12344, true), (0x12344, 2));
    // S=1, ADDR ends in 01b: lowest 0 at bit 1, 4 pages, aligned down.
    assert_eq!(dev_tlb_range(0x12345, true), (0x12344, 4));
    // 2 MiB: ADDR[7:0] all 1s and bit 8 clear.
    assert_eq!(dev_tlb_range(0x400 | 0xFF, true), (0x400, 512));
    // Linux's global flush: ADDR 7_FFFF_FFFF_FFFFh, 2^52 pages from 0.
    assert_eq!(dev_tlb_range(0x7_FFFF_FFFF_FFFF, true), (0, 1 << 52));
    // No 0 bit at all: the whole space.
    assert_eq!(dev_tlb_range(0xF_FFFF_FFFF_FFFF, true), (0, 1 << 52));
    // Bits above the 52-bit field are not part of it.
    assert_eq!(dev_tlb_range(u64::MAX, false), (0xF_FFFF_FFFF_FFFF, 1));
    let q1 = PDevTlbInvQw1::new().with_s(true).with_addr(0x3);
    assert_eq!(q1.range(), (0, 8));
}

#[test]
fn queue_errors_carry_their_iqei() {
    let fetch = QueueError::Fetch(MemError::OutOfRange { addr: 0, len: 32 });
    let all = [
        (QueueError::InvalidTail, 1),
        (fetch, 2),
        (QueueError::InvalidType { ty: 0xB }, 3),
        (QueueError::ReservedField { field: "x" }, 4),
        (QueueError::BadWidth, 5),
        (QueueError::UnalignedTail, 6),
        (QueueError::InvalidTtm, 7),
    ];
    for (e, want) in all {
        assert_eq!(e.iqei(), want);
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #[test]
    fn decode_never_panics_and_round_trips(
        w: [u64; 4],
        scalable: bool,
        dw256: bool,
        dit: bool,
        pds: bool,
        prs: bool,
        hpts: bool,
        mamv in 0u8..64,
    ) {
        let mode = QueueMode { scalable, dw256 };
        let caps = DescCaps { dit, pds, prs, hpts, mamv };
        match Descriptor::decode(w, mode, &caps) {
            Ok(d) => {
                let want = if dw256 { w } else { [w[0], w[1], 0, 0] };
                prop_assert_eq!(d.encode(), want);
                prop_assert_eq!(u64::from(d.desc_type()), w[0] & 0xF);
            }
            Err(e) => prop_assert!((3..=5).contains(&e.iqei())),
        }
    }

    #[test]
    fn valid_type_words_never_panic(
        ty in 1u8..=0xA,
        w0 in any::<u64>(),
        w1 in any::<u64>(),
    ) {
        // Random fields under a valid type reach every per-type check.
        let words = [(w0 & !0xE0F) | u64::from(ty), w1, 0, 0];
        for caps in [all(), none()] {
            if let Ok(d) = Descriptor::decode(words, SM, &caps) {
                prop_assert_eq!(d.encode(), words);
            }
        }
    }
}
