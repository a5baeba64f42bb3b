//! PASID directory and PASID-table entries: known answers from the specification's field
//! positions, and the checks a walk makes of them.

use super::*;
use crate::structs::testutil::{TakeCap, arena, bare_caps, full_caps};
use proptest::prelude::*;

/// A valid second-stage-only entry: P, AW=2, PGTT=010b, SSPTPTR 0x5000, DID 7.
fn ss_only() -> [u64; 8] {
    // P (0) | AW=2 (4:2) | PGTT=2 (8:6) | SSPTPTR (63:12); DID (79:64).
    [1 | 2 << 2 | 2 << 6 | 0x5000, 7, 0, 0, 0, 0, 0, 0]
}

/// A valid first-stage-only entry: P, PGTT=001b, FSPTPTR 0x6000, DID 9.
fn fs_only() -> [u64; 8] {
    // P (0) | PGTT=1 (8:6); DID (79:64); FSPTPTR (191:140).
    [1 | 1 << 6, 9, 0x6000, 0, 0, 0, 0, 0]
}

fn check(w: [u64; 8], caps: &StructCaps) -> Result<(), FaultReason> {
    PasidEntry::from_words(w).check(caps)
}

/// `w` with bit `bit` (numbered across the whole 512-bit entry) set.
fn with_bit(mut w: [u64; 8], bit: u32) -> [u64; 8] {
    w[(bit / 64) as usize] |= 1 << (bit % 64);
    w
}

#[test]
fn index_arithmetic() {
    assert_eq!(pasid_dir_index(0xF_FFFF), 0x3FFF);
    assert_eq!(pasid_dir_index(0x12345), 0x48D);
    assert_eq!(pasid_table_index(0x12345), 0x05);
    assert_eq!(pasid_dir_entries(0), 128);
    assert_eq!(pasid_dir_entries(7), 16384);
    let dir = PasidDirEntry::new()
        .with_p(true)
        .with_smptblptr(0x7_7000 >> 12);
    assert_eq!(pasid_entry_address(&dir, 0x12345), 0x7_7000 + 5 * 64);
    assert_eq!(pasid_entry_address(&dir, 0x3F), 0x7_7000 + 63 * 64);
}

#[test]
fn pasid_directory_entry_encodes_and_checks() {
    let caps = full_caps();
    let e = PasidDirEntry::new()
        .with_p(true)
        .with_fpd(true)
        .with_smptblptr(0xABC_D000 >> 12);
    // P (0) | FPD (1) | SMPTBLPTR (63:12).
    assert_eq!(e.into_bits(), 1 | 1 << 1 | 0xABC_D000);
    assert_eq!(e.table(), 0xABC_D000);
    assert_eq!(e.check(&caps), Ok(()));
    assert_eq!(
        PasidDirEntry::from_bits(0x1000).check(&caps),
        Err(FaultReason::Spd2)
    );
    assert_eq!(
        PasidDirEntry::from_bits(!1).check(&caps),
        Err(FaultReason::Spd2)
    );
    for bit in (2..12).chain(48..64) {
        let r = PasidDirEntry::from_bits(e.into_bits() | 1 << bit);
        assert_eq!(r.check(&caps), Err(FaultReason::Spd3), "bit {bit}");
    }
    let mem = arena();
    e.write(&mem, 0x8008).unwrap();
    assert_eq!(PasidDirEntry::read(&mem, 0x8008).unwrap(), e);
    assert!(PasidDirEntry::read(&mem, 1 << 40).is_err());
}

#[test]
fn pasid_entry_encodes_as_the_spec_lays_it_out() {
    let e = PasidEntry {
        qw0: PasidQw0::new()
            .with_p(true)
            .with_fpd(true)
            .with_aw(3)
            .with_pgtt(Pgtt::Nested)
            .with_ssade(true)
            .with_ssptptr(0x1_2345_6000 >> 12),
        qw1: PasidQw1::new()
            .with_did(0xBEEF)
            .with_pwsnp(true)
            .with_pgsnp(true)
            .with_cd(true)
            .with_emte(true)
            .with_pat(0x0706_0504),
        qw2: PasidQw2::new()
            .with_sre(true)
            .with_fspm(Fspm::FiveLevel)
            .with_wpe(true)
            .with_eafe(true)
            .with_fsptptr(0xF_E000 >> 12),
        qw4: PasidQw4::new()
            .with_hptsz(2)
            .with_hptpfd(true)
            .with_hptptr(0x33_3000 >> 12),
        qw5: PasidQw5::new().with_hptdid(0x1234),
        ..Default::default()
    };
    // P (0) | FPD (1) | AW=3 (4:2) | PGTT=011b (8:6) | SSADE (9) | SSPTPTR (63:12).
    let want_qw0 = 1 | 1 << 1 | 3 << 2 | 3 << 6 | 1 << 9 | 0x1_2345_6000;
    // DID (79:64) | PWSNP (87) | PGSNP (88) | CD (89) | EMTE (90) | PAT (127:96).
    let want_qw1 = 0xBEEF | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26 | 0x0706_0504 << 32;
    // SRE (128) | FSPM=01b (131:130) | WPE (132) | EAFE (135) | FSPTPTR (191:140).
    let want_qw2 = 1 | 1 << 2 | 1 << 4 | 1 << 7 | 0xF_E000;
    // HPTSZ=2 (257:256) | HPTPFD (258) | HPTPTR (319:268).
    let want_qw4 = 2 | 1 << 2 | 0x33_3000;
    // HPTDID (335:320).
    let want_qw5 = 0x1234;
    let want = [want_qw0, want_qw1, want_qw2, 0, want_qw4, want_qw5, 0, 0];
    assert_eq!(e.to_words(), want);
    assert_eq!(PasidEntry::from_words(want), e);
    assert_eq!(e.ss_table(), 0x1_2345_6000);
    assert_eq!(e.fs_table(), 0xF_E000);
    assert_eq!(e.hpt_table(), 0x33_3000);
    assert_eq!(e.ss_levels(), Some(5));
    assert_eq!(e.qw2.fspm().levels(), Some(5));
    assert_eq!(e.check(&full_caps()), Ok(()));
}

#[test]
fn pasid_entry_decodes_hand_built_words() {
    let e = PasidEntry::from_words(ss_only());
    assert!(e.qw0.p() && !e.qw0.fpd());
    assert_eq!(e.qw0.pgtt(), Pgtt::SecondStage);
    assert_eq!(e.ss_levels(), Some(4));
    assert_eq!(e.ss_table(), 0x5000);
    assert_eq!(e.qw1.did(), 7);
    assert_eq!(e.qw2.fspm(), Fspm::FourLevel);
    let f = PasidEntry::from_words(fs_only());
    assert_eq!(f.qw0.pgtt(), Pgtt::FirstStage);
    assert_eq!(f.fs_table(), 0x6000);
    assert_eq!(f.qw1.did(), 9);
    assert_eq!(f.ss_levels(), None);
    for (bits, pgtt) in [
        (0u8, Pgtt::Reserved(0)),
        (1, Pgtt::FirstStage),
        (2, Pgtt::SecondStage),
        (3, Pgtt::Nested),
        (4, Pgtt::PassThrough),
        (5, Pgtt::Reserved(5)),
        (7, Pgtt::Reserved(7)),
    ] {
        assert_eq!(Pgtt::from_bits(bits), pgtt);
        assert_eq!(pgtt.into_bits(), bits);
    }
    assert_eq!(Fspm::from_bits(2), Fspm::Reserved(2));
    assert_eq!(Fspm::Reserved(3).into_bits(), 3);
}

#[test]
fn pasid_entry_not_present_is_spt2_whatever_else() {
    let caps = full_caps();
    assert_eq!(PasidEntry::default().check(&caps), Err(FaultReason::Spt2));
    let e = PasidEntry::from_words([!1, !0, !0, !0, !0, !0, !0, !0]);
    assert_eq!(e.check(&caps), Err(FaultReason::Spt2));
    assert!(e.qw0.fpd());
}

#[test]
fn pasid_entry_reserved_bits_are_spt3() {
    let caps = full_caps(); // HAW 48, HPTS
    assert_eq!(check(ss_only(), &caps), Ok(()));
    assert_eq!(check(fs_only(), &caps), Ok(()));
    // Always reserved: 5, 11:10, 86:80, 95:91, 129, 139:136, 255:192, 267:259 (with HPTS),
    // 383:336, 511:384.
    let mut bits: Vec<u32> = vec![5, 10, 11, 129];
    bits.extend(80..=86);
    bits.extend(91..=95);
    bits.extend(136..=139);
    bits.extend(192..=255);
    bits.extend(259..=267);
    bits.extend(336..=511);
    // HPTPTR at or above HAW.
    bits.extend(304..=319);
    for &bit in &bits {
        assert_eq!(
            check(with_bit(ss_only(), bit), &caps),
            Err(FaultReason::Spt3),
            "bit {bit}"
        );
        assert_eq!(
            check(with_bit(fs_only(), bit), &caps),
            Err(FaultReason::Spt3),
            "bit {bit}"
        );
    }
    // SSPTPTR at or above HAW when the second stage is used; ignored for first stage only.
    for bit in 48..=63 {
        assert_eq!(
            check(with_bit(ss_only(), bit), &caps),
            Err(FaultReason::Spt3),
            "bit {bit}"
        );
        assert_eq!(check(with_bit(fs_only(), bit), &caps), Ok(()), "bit {bit}");
    }
    // FSPTPTR at or above HAW for first stage only; ignored for second stage only.
    for bit in 176..=191 {
        assert_eq!(
            check(with_bit(fs_only(), bit), &caps),
            Err(FaultReason::Spt3),
            "bit {bit}"
        );
        assert_eq!(check(with_bit(ss_only(), bit), &caps), Ok(()), "bit {bit}");
    }
}

#[test]
fn every_bit_is_a_field_or_reserved() {
    let caps = full_caps();
    let rsvd: Vec<u32> = [
        5..=5,
        10..=11,
        48..=63, // SSPTPTR at or above HAW 48.
        80..=86,
        91..=95,
        129..=129,
        136..=139,
        192..=255,
        259..=267,
        304..=319, // HPTPTR at or above HAW 48.
        336..=511,
    ]
    .into_iter()
    .flatten()
    .collect();
    // Flips that make an unsupported value: AW 2 -> 0 or 6, PGTT 010b -> 000b or 110b.
    let invalid = [3, 4, 7, 8];
    for bit in 0..512u32 {
        let mut w = ss_only();
        w[(bit / 64) as usize] ^= 1 << (bit % 64);
        let got = check(w, &caps);
        let want = match bit {
            0 => Err(FaultReason::Spt2),
            b if rsvd.contains(&b) => Err(FaultReason::Spt3),
            b if invalid.contains(&b) => Err(FaultReason::Spt4),
            _ => Ok(()),
        };
        assert_eq!(got, want, "bit {bit}");
    }
}

#[test]
fn pasid_entry_fields_without_their_capability_are_reserved() {
    let full = full_caps();
    // (bit, capability taken away).
    let cases: [(u32, TakeCap); 13] = [
        (9, |c| c.ssads = false),
        (87, |c| c.smpwcs = false),
        (88, |c| c.sc = false),
        (89, |c| c.mts = false),
        (90, |c| c.mts = false),
        (96, |c| c.mts = false),
        (127, |c| c.mts = false),
        (128, |c| c.srs = false),
        (135, |c| c.eafs = false),
        (256, |c| c.hpts = false),
        (258, |c| c.hpts = false),
        (268, |c| c.hpts = false),
        (320, |c| c.hpts = false),
    ];
    for (bit, take) in cases {
        let w = with_bit(ss_only(), bit);
        assert_eq!(check(w, &full), Ok(()), "bit {bit}");
        let mut caps = full;
        take(&mut caps);
        assert_eq!(check(w, &caps), Err(FaultReason::Spt3), "bit {bit}");
    }
}

#[test]
fn rev3_bits_133_and_134_are_ignored() {
    // Linux ≤ 6.x sets NXE (133); SMEP was 134.
    for caps in [
        full_caps(),
        StructCaps {
            ssts: true,
            ..bare_caps()
        },
    ] {
        for w in [
            with_bit(ss_only(), 133),
            with_bit(with_bit(ss_only(), 133), 134),
        ] {
            assert_eq!(check(w, &caps), Ok(()));
        }
    }
    // Reserved rev-3.x bits stay reserved: SLEE (5), EMT/PWT/PCD (95:91), ERE (129).
    for bit in [5, 91, 93, 94, 95, 129] {
        assert_eq!(
            check(with_bit(ss_only(), bit), &full_caps()),
            Err(FaultReason::Spt3)
        );
    }
}

#[test]
fn unsupported_pgtt_aw_and_fspm_are_spt4() {
    let full = full_caps();
    let pgtt = |w: [u64; 8], v: u64| {
        let mut w = w;
        w[0] = (w[0] & !(7 << 6)) | v << 6;
        w
    };
    for v in [0, 5, 6, 7] {
        assert_eq!(
            check(pgtt(ss_only(), v), &full),
            Err(FaultReason::Spt4),
            "pgtt {v}"
        );
    }
    for v in 1..=4 {
        assert_eq!(check(pgtt(ss_only(), v), &full), Ok(()), "pgtt {v}");
    }
    let without: [(u64, TakeCap); 4] = [
        (1, |c| c.fsts = false),
        (2, |c| c.ssts = false),
        (3, |c| c.nest = false),
        (4, |c| c.pt = false),
    ];
    for (v, take) in without {
        let mut caps = full;
        take(&mut caps);
        assert_eq!(
            check(pgtt(ss_only(), v), &caps),
            Err(FaultReason::Spt4),
            "pgtt {v}"
        );
    }
    // AW: only the SAGAW widths, and only when the second stage is used.
    let aw = |w: [u64; 8], v: u64| {
        let mut w = w;
        w[0] = (w[0] & !(7 << 2)) | v << 2;
        w
    };
    for v in [0, 4, 5, 6, 7] {
        assert_eq!(
            check(aw(ss_only(), v), &full),
            Err(FaultReason::Spt4),
            "aw {v}"
        );
        assert_eq!(
            check(aw(pgtt(ss_only(), 3), v), &full),
            Err(FaultReason::Spt4)
        );
        assert_eq!(check(aw(fs_only(), v), &full), Ok(()), "aw {v}");
        assert_eq!(check(aw(pgtt(ss_only(), 4), v), &full), Ok(()), "aw {v}");
    }
    let four_only = StructCaps {
        sagaw: 0b0100,
        ..full
    };
    assert_eq!(check(aw(ss_only(), 3), &four_only), Err(FaultReason::Spt4));
    assert_eq!(check(aw(ss_only(), 1), &four_only), Err(FaultReason::Spt4));
    assert_eq!(check(aw(ss_only(), 2), &four_only), Ok(()));
    // FSPM: 5-level needs FS5LP; 10b and 11b are reserved; ignored without a first stage.
    let fspm = |w: [u64; 8], v: u64| {
        let mut w = w;
        w[2] = (w[2] & !(3 << 2)) | v << 2;
        w
    };
    assert_eq!(check(fspm(fs_only(), 1), &full), Ok(()));
    let no_5lp = StructCaps {
        fs5lp: false,
        ..full
    };
    assert_eq!(check(fspm(fs_only(), 1), &no_5lp), Err(FaultReason::Spt4));
    for v in [2, 3] {
        assert_eq!(
            check(fspm(fs_only(), v), &full),
            Err(FaultReason::Spt4),
            "fspm {v}"
        );
        assert_eq!(check(fspm(ss_only(), v), &full), Ok(()), "fspm {v}");
    }
    // Nested: FSPTPTR is a GPA checked against MGAW (SPT.4), not HAW (SPT.3).
    let nested = |fsptptr: u64| {
        let mut w = pgtt(ss_only(), 3);
        w[2] = fsptptr;
        w
    };
    let caps = StructCaps { mgaw: 39, ..full };
    assert_eq!(check(nested(0x7F_FFFF_F000), &caps), Ok(()));
    assert_eq!(check(nested(0x80_0000_0000), &caps), Err(FaultReason::Spt4));
    // Reserved bits are reported before unsupported values.
    assert_eq!(
        check(with_bit(pgtt(ss_only(), 0), 5), &full),
        Err(FaultReason::Spt3)
    );
}

#[test]
fn pasid_entry_round_trips_through_memory() {
    let mem = arena();
    let e = PasidEntry::from_words(ss_only());
    let dir = PasidDirEntry::new()
        .with_p(true)
        .with_smptblptr(0x9000 >> 12);
    let at = pasid_entry_address(&dir, 0x4C5);
    e.write(&mem, at).unwrap();
    assert_eq!(PasidEntry::read(&mem, at).unwrap(), e);
    assert!(PasidEntry::read(&mem, (1 << 24) - 32).is_err());
}

proptest! {
    #[test]
    fn checks_never_panic(
        w: [u64; 8],
        pasid: u32,
        haw in 0u8..=70,
        mgaw in 0u8..=70,
        sagaw: u8,
    ) {
        let caps = StructCaps { haw, mgaw, sagaw, ..full_caps() };
        let e = PasidEntry::from_words(w);
        let _ = e.check(&caps);
        let _ = e.check(&bare_caps());
        let _ = e.ss_levels();
        prop_assert_eq!(e.to_words(), w);
        let d = PasidDirEntry::from_bits(w[0]);
        let _ = d.check(&caps);
        let _ = pasid_entry_address(&d, pasid);
        prop_assert!(pasid_dir_index(pasid) < 1 << 14);
    }
}

#[test]
fn a_second_stage_entry_sets_p_aw_pgtt_ssptptr_and_did() {
    let e = PasidEntry::second_stage(0x1234_5000, 2, 0x77);
    // P (bit 0), AW (4:2) = 010, PGTT (8:6) = 010, SSPTPTR (63:12).
    assert_eq!(e.to_words()[0], 1 | 0b010 << 2 | 0b010 << 6 | 0x1234_5000);
    // DID (15:0 of the second quadword).
    assert_eq!(e.to_words()[1], 0x77);
    assert_eq!(e.to_words()[2..], [0; 6]);
}
