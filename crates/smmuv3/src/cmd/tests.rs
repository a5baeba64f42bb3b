//! Known answers for every command, built by hand from the field positions of spec chapter 4,
//! every reserved bit and illegal value, and decoding of random words.

use proptest::prelude::*;
use softiommu_pgtable::formats::arm::Granule;

use super::*;
use crate::regs::MsiWrite;

/// Bit numbers `lo..=hi` of a 128-bit command (DW1 is 64–127).
fn bits(ranges: &[(u32, u32)]) -> Vec<u32> {
    ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect()
}

/// Every reserved bit of a command whose only DW1 bits are `dw1_fields`.
fn dw1_all_reserved() -> (u32, u32) {
    (64, 127)
}

/// NUM 5, SCALE 3: 48 granules.
fn ranged(dw0: TlbiDw0) -> TlbiDw0 {
    dw0.with_num(5).with_scale(3)
}

/// Leaf, TTL 3, TG 4 KiB at `va`.
fn by_va(dw1: TlbiDw1, va: u64) -> TlbiDw1 {
    dw1.with_leaf(true)
        .with_ttl(3)
        .with_tg(1)
        .with_addr(va >> 12)
}

/// One command of every type with its fields set, the words the specification's field
/// positions give for it, and its reserved bits.
fn known_answers() -> Vec<(Command, [u64; 2], Vec<u32>)> {
    let mut v = Vec::new();
    let sid: u64 = 0x1234_5678;

    // 01h PREFETCH_CONFIG: SSV (11) | SubstreamID (31:12) | StreamID (63:32).
    let mut c = PrefetchConfig::new();
    c.dw0 = c.dw0.with_ssv(true).with_ssid(0xabcde).with_sid(sid as u32);
    let w0 = 0x01 | 1 << 11 | 0xabcde << 12 | sid << 32;
    v.push((
        Command::PrefetchConfig(c),
        [w0, 0],
        bits(&[(8, 9), dw1_all_reserved()]),
    ));

    // 02h PREFETCH_ADDR: as 01h; DW1 Size (4:0) | hints (11:5) | Addr (63:12).
    let mut c = PrefetchAddr::new();
    c.dw0 = c.dw0.with_ssv(true).with_ssid(0xabcde).with_sid(sid as u32);
    c.dw1 = c
        .dw1
        .with_size(0x13)
        .with_hints(0x41)
        .with_addr(0x0001_2345_6789_abcd);
    let w0 = 0x02 | 1 << 11 | 0xabcde << 12 | sid << 32;
    let w1 = 0x13 | 0x41 << 5 | 0x1234_5678_9abc_d000;
    v.push((Command::PrefetchAddr(c), [w0, w1], bits(&[(8, 9)])));

    // 03h CFGI_STE: StreamID; DW1 Leaf (0).
    let mut c = CfgiSte::new();
    c.dw0 = c.dw0.with_sid(sid as u32);
    c.dw1 = c.dw1.with_leaf(true);
    v.push((
        Command::CfgiSte(c),
        [0x03 | sid << 32, 1],
        bits(&[(8, 9), (11, 31), (65, 127)]),
    ));

    // 04h CFGI_STE_RANGE: StreamID; DW1 Range (4:0).
    let mut c = CfgiSteRange::new();
    c.dw0 = c.dw0.with_sid(sid as u32);
    c.dw1 = c.dw1.with_range(0x1a);
    v.push((
        Command::CfgiSteRange(c),
        [0x04 | sid << 32, 0x1a],
        bits(&[(8, 9), (11, 31), (69, 127)]),
    ));

    // 05h CFGI_CD: SubstreamID | StreamID; DW1 Leaf.
    let mut c = CfgiCd::new();
    c.dw0 = c.dw0.with_ssid(0xf_0f0f).with_sid(sid as u32);
    c.dw1 = c.dw1.with_leaf(true);
    v.push((
        Command::CfgiCd(c),
        [0x05 | 0xf_0f0f << 12 | sid << 32, 1],
        bits(&[(8, 9), (11, 11), (65, 127)]),
    ));

    // 06h CFGI_CD_ALL: StreamID.
    let mut c = CfgiCdAll::new();
    c.dw0 = c.dw0.with_sid(sid as u32);
    v.push((
        Command::CfgiCdAll(c),
        [0x06 | sid << 32, 0],
        bits(&[(8, 9), (11, 31), dw1_all_reserved()]),
    ));

    // 10h TLBI_NH_ALL: VMID (47:32).
    let mut c = TlbiNhAll::new();
    c.dw0 = c.dw0.with_vmid(0xbeef);
    v.push((
        Command::TlbiNhAll(c),
        [0x10 | 0xbeef << 32, 0],
        bits(&[(8, 31), (48, 63), dw1_all_reserved()]),
    ));

    // 11h TLBI_NH_ASID: VMID | ASID (63:48).
    let mut c = TlbiNhAsid::new();
    c.dw0 = c.dw0.with_vmid(0xbeef).with_asid(0xcafe);
    v.push((
        Command::TlbiNhAsid(c),
        [0x11 | 0xbeef << 32 | 0xcafe << 48, 0],
        bits(&[(8, 31), dw1_all_reserved()]),
    ));

    // 12h TLBI_NH_VA: NUM (16:12) | SCALE (24:20) | VMID | ASID; DW1 Leaf | TTL (9:8) |
    // TG (11:10) | VA (63:12).
    let va: u64 = 0xffff_8000_1234_5000;
    let range_dw0 = 5 << 12 | 3 << 20;
    let range_dw1 = 1 | 3 << 8 | 1 << 10;
    let mut c = TlbiNhVa::new();
    c.dw0 = c
        .dw0
        .with_num(5)
        .with_scale(3)
        .with_vmid(0xbeef)
        .with_asid(0xcafe);
    c.dw1 = by_va(c.dw1, va);
    v.push((
        Command::TlbiNhVa(c),
        [
            0x12 | range_dw0 | 0xbeef << 32 | 0xcafe << 48,
            range_dw1 | va,
        ],
        bits(&[(8, 11), (17, 19), (25, 31), (65, 71)]),
    ));

    // 13h TLBI_NH_VAA: as 12h without ASID.
    let mut c = TlbiNhVaa::new();
    c.dw0 = ranged(c.dw0).with_vmid(0xbeef);
    c.dw1 = by_va(c.dw1, va);
    v.push((
        Command::TlbiNhVaa(c),
        [0x13 | range_dw0 | 0xbeef << 32, range_dw1 | va],
        bits(&[(8, 11), (17, 19), (25, 31), (48, 63), (65, 71)]),
    ));

    // 18h TLBI_EL3_ALL and 1Ah TLBI_EL3_VA (encoded; never legal here).
    v.push((
        Command::TlbiEl3All(TlbiEl3All::new()),
        [0x18, 0],
        bits(&[(8, 127)]),
    ));
    let mut c = TlbiEl3Va::new();
    c.dw1 = c.dw1.with_addr(va >> 12);
    v.push((Command::TlbiEl3Va(c), [0x1a, va], Vec::new()));

    // 20h TLBI_EL2_ALL.
    v.push((
        Command::TlbiEl2All(TlbiEl2All::new()),
        [0x20, 0],
        bits(&[(8, 127)]),
    ));

    // 21h TLBI_EL2_ASID: ASID.
    let mut c = TlbiEl2Asid::new();
    c.dw0 = c.dw0.with_asid(0xcafe);
    v.push((
        Command::TlbiEl2Asid(c),
        [0x21 | 0xcafe << 48, 0],
        bits(&[(8, 47), dw1_all_reserved()]),
    ));

    // 22h TLBI_EL2_VA: NUM | SCALE | ASID; DW1 as 12h.
    let mut c = TlbiEl2Va::new();
    c.dw0 = ranged(c.dw0).with_asid(0xcafe);
    c.dw1 = by_va(c.dw1, va);
    v.push((
        Command::TlbiEl2Va(c),
        [0x22 | range_dw0 | 0xcafe << 48, range_dw1 | va],
        bits(&[(8, 11), (17, 19), (25, 47), (65, 71)]),
    ));

    // 23h TLBI_EL2_VAA: NUM | SCALE; DW1 as 12h.
    let mut c = TlbiEl2Vaa::new();
    c.dw0 = ranged(c.dw0);
    c.dw1 = by_va(c.dw1, va);
    v.push((
        Command::TlbiEl2Vaa(c),
        [0x23 | range_dw0, range_dw1 | va],
        bits(&[(8, 11), (17, 19), (25, 63), (65, 71)]),
    ));

    // 28h TLBI_S12_VMALL: VMID.
    let mut c = TlbiS12Vmall::new();
    c.dw0 = c.dw0.with_vmid(0xbeef);
    v.push((
        Command::TlbiS12Vmall(c),
        [0x28 | 0xbeef << 32, 0],
        bits(&[(8, 31), (48, 63), dw1_all_reserved()]),
    ));

    // 2Ah TLBI_S2_IPA: NUM | SCALE | VMID; DW1 Leaf | TTL | TG | IPA (51:12).
    let ipa: u64 = 0x000f_edcb_a987_0000;
    let mut c = TlbiS2Ipa::new();
    c.dw0 = c.dw0.with_num(31).with_vmid(0xbeef);
    c.dw1 = c
        .dw1
        .with_leaf(true)
        .with_ttl(2)
        .with_tg(3)
        .with_addr(ipa >> 12);
    v.push((
        Command::TlbiS2Ipa(c),
        [0x2a | 31 << 12 | 0xbeef << 32, 1 | 2 << 8 | 3 << 10 | ipa],
        bits(&[(8, 11), (17, 19), (25, 31), (48, 63), (65, 71), (116, 127)]),
    ));

    // 30h TLBI_NSNH_ALL.
    v.push((
        Command::TlbiNsnhAll(TlbiNsnhAll::new()),
        [0x30, 0],
        bits(&[(8, 127)]),
    ));

    // 40h ATC_INV: Global (9) | SSV | SubstreamID | StreamID; DW1 Size (5:0) | Addr (63:12).
    let mut c = AtcInv::new();
    c.dw0 = c
        .dw0
        .with_global(true)
        .with_ssv(true)
        .with_ssid(0x5_5555)
        .with_sid(sid as u32);
    c.dw1 = c.dw1.with_size(42).with_addr(0x0007_fff0_0000);
    v.push((
        Command::AtcInv(c),
        [
            0x40 | 1 << 9 | 1 << 11 | 0x5_5555 << 12 | sid << 32,
            42 | 0x7fff_0000_0000,
        ],
        bits(&[(8, 8), (10, 10), (70, 75)]),
    ));

    // 41h PRI_RESP: SSV | SubstreamID | StreamID; DW1 PRGIndex (8:0) | Resp (13:12).
    let mut c = PriResp::new();
    c.dw0 = c
        .dw0
        .with_ssv(true)
        .with_ssid(0x0_1234)
        .with_sid(sid as u32);
    c.dw1 = c.dw1.with_prgi(0x1a5).with_resp(PriResponse::Success);
    v.push((
        Command::PriResp(c),
        [0x41 | 1 << 11 | 0x1234 << 12 | sid << 32, 0x1a5 | 2 << 12],
        bits(&[(8, 10), (73, 75), (78, 127)]),
    ));

    // 44h RESUME: Ac (12) | Ab (13) | StreamID; DW1 STAG (15:0).
    let mut c = Resume::new();
    c.dw0 = c.dw0.with_ac(true).with_ab(true).with_sid(sid as u32);
    c.dw1 = c.dw1.with_stag(0xbeef);
    v.push((
        Command::Resume(c),
        [0x44 | 1 << 12 | 1 << 13 | sid << 32, 0xbeef],
        bits(&[(8, 9), (11, 11), (14, 31), (80, 127)]),
    ));

    // 45h STALL_TERM: StreamID.
    let mut c = StallTerm::new();
    c.dw0 = c.dw0.with_sid(sid as u32);
    v.push((
        Command::StallTerm(c),
        [0x45 | sid << 32, 0],
        bits(&[(8, 9), (11, 31), dw1_all_reserved()]),
    ));

    // 46h CMD_SYNC: CS (13:12) | MSH (23:22) | MSIAttr (27:24) | MSIData (63:32); DW1
    // MSIAddress (51:2).
    let mut c = CmdSync::new();
    c.dw0 = c
        .dw0
        .with_cs(SyncSignal::Irq)
        .with_msh(3)
        .with_msi_attr(0xf)
        .with_msi_data(0xdead_beef);
    c.dw1 = c.dw1.with_address(0x000f_ffff_ffff_fffc);
    v.push((
        Command::CmdSync(c),
        [
            0x46 | 1 << 12 | 3 << 22 | 0xf << 24 | 0xdead_beef << 32,
            0x000f_ffff_ffff_fffc,
        ],
        bits(&[(8, 11), (14, 21), (28, 31), (64, 65), (116, 127)]),
    ));
    v
}

/// Field bits whose flip makes an illegal value: (opcode, bit). (2Ah's TG 11 and TTL 10 stay
/// legal under any single flip.)
const VALUE_FLIPS: [(u8, u32); 7] = [
    // TG 01 → 00 while NUM, SCALE and TTL are set.
    (0x12, 74),
    (0x13, 74),
    (0x22, 74),
    (0x23, 74),
    // Size 42 → 58, above 52.
    (0x40, 68),
    // Resp 10 → 11.
    (0x41, 76),
    // CS 01 → 11.
    (0x46, 13),
];

/// The commands that carry SSec (bit 10), which must be 0 on the Non-secure queue.
const WITH_SSEC: [u8; 8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x44, 0x45];

fn cerror(r: Result<Command, CommandError>) -> u8 {
    r.map_or_else(|e| e.cerror().code(), |_| 0)
}

#[test]
fn every_command_encodes_as_the_spec_lays_it_out() {
    for (cmd, words, _) in known_answers() {
        assert_eq!(cmd.encode(), words, "{}", cmd.name());
        assert_eq!(Command::from_words(words), Some(cmd), "{}", cmd.name());
    }
    assert_eq!(known_answers().len(), 24);
}

#[test]
fn new_commands_carry_their_opcode() {
    for (cmd, words, _) in known_answers() {
        assert_eq!(u64::from(cmd.opcode()), words[0] & 0xff, "{}", cmd.name());
    }
    assert_eq!(CfgiSte::new().to_words(), [0x03, 0]);
    assert_eq!(CmdSync::default().to_words(), [0x46, 0]);
}

#[test]
fn hand_built_words_decode_on_a_full_smmu() {
    for (cmd, words, _) in known_answers() {
        let got = Command::decode(words, &CmdCaps::ALL);
        match cmd {
            Command::TlbiEl3All(_) | Command::TlbiEl3Va(_) => assert!(matches!(
                got,
                Err(CommandError::Unsupported {
                    needs: "the Secure command queue",
                    ..
                })
            )),
            _ => assert_eq!(got, Ok(cmd), "{}", cmd.name()),
        }
    }
}

#[test]
fn every_reserved_bit_is_cerror_ill_and_every_field_bit_is_not() {
    for (cmd, words, rsvd) in known_answers() {
        let op = cmd.opcode();
        if matches!(cmd, Command::TlbiEl3All(_) | Command::TlbiEl3Va(_)) {
            continue;
        }
        for bit in 8..128u32 {
            let mut w = words;
            w[(bit / 64) as usize] ^= 1 << (bit % 64);
            let got = Command::decode(w, &CmdCaps::ALL);
            let name = cmd.name();
            if rsvd.contains(&bit) {
                assert!(
                    matches!(got, Err(CommandError::ReservedBits { .. })),
                    "{name} bit {bit}: {got:?}"
                );
            } else if bit == 10 && WITH_SSEC.contains(&op) {
                assert!(
                    matches!(got, Err(CommandError::IllegalValue { field, .. }) if field.starts_with("SSec")),
                    "{name} bit {bit}: {got:?}"
                );
            } else if VALUE_FLIPS.contains(&(op, bit)) {
                assert!(
                    matches!(got, Err(CommandError::IllegalValue { .. })),
                    "{name} bit {bit}: {got:?}"
                );
            } else {
                assert!(got.is_ok(), "{name} bit {bit}: {got:?}");
            }
            assert_eq!(cerror(got), u8::from(got.is_err()), "{name} bit {bit}");
        }
    }
}

#[test]
fn opcodes_without_a_command_are_illegal() {
    let known: Vec<u8> = known_answers().iter().map(|(c, _, _)| c.opcode()).collect();
    for op in 0..=255u8 {
        let got = Command::decode([u64::from(op), 0], &CmdCaps::ALL);
        if known.contains(&op) {
            continue;
        }
        match op {
            0x07 | 0x50..=0x53 | 0x58 | 0x5a | 0x60 | 0x70 | 0x73 => {
                assert!(
                    matches!(got, Err(CommandError::Unsupported { .. })),
                    "{op:#x}"
                )
            }
            _ => assert_eq!(got, Err(CommandError::UnknownOpcode(op)), "{op:#x}"),
        }
        assert_eq!(cerror(got), 1);
    }
    // QEMU's 07h "CFGI_ALL" is CMD_CFGI_VMS_PIDM, illegal without MPAM.
    assert_eq!(
        Command::decode([0x07, 0], &CmdCaps::ALL),
        Err(CommandError::Unsupported {
            command: "CMD_CFGI_VMS_PIDM",
            needs: "MPAM"
        })
    );
}

/// `caps` with one feature taken away.
fn without(f: impl Fn(&mut CmdCaps)) -> CmdCaps {
    let mut c = CmdCaps::ALL;
    f(&mut c);
    c
}

#[test]
fn commands_of_missing_features_are_illegal() {
    let cases: [(CmdCaps, &[u8], &str); 6] = [
        (
            without(|c| c.stage1 = false),
            &[0x05, 0x06, 0x10, 0x11, 0x12, 0x13],
            "stage 1",
        ),
        (without(|c| c.stage2 = false), &[0x28, 0x2a], "stage 2"),
        (
            without(|c| c.hyp = false),
            &[0x20, 0x21, 0x22, 0x23],
            "EL2 contexts (IDR0.Hyp)",
        ),
        (without(|c| c.ats = false), &[0x40], "ATS"),
        (without(|c| c.pri = false), &[0x41], "PRI"),
        (
            without(|c| c.stalls = false),
            &[0x44, 0x45],
            "the stall model",
        ),
    ];
    for (caps, ops, needs) in cases {
        for (cmd, words, _) in known_answers() {
            let got = Command::decode(words, &caps);
            if ops.contains(&cmd.opcode()) {
                assert!(
                    matches!(got, Err(CommandError::Unsupported { needs: n, .. }) if n == needs),
                    "{}: {got:?}",
                    cmd.name()
                );
            } else if !matches!(cmd, Command::TlbiEl3All(_) | Command::TlbiEl3Va(_)) {
                assert!(got.is_ok(), "{} without {needs}: {got:?}", cmd.name());
            }
        }
    }
    // CMD_TLBI_NSNH_ALL, the CFGI_STE commands and CMD_SYNC work on a stage 2-only SMMU.
    let s2 = CmdCaps {
        stage1: false,
        hyp: false,
        ..CmdCaps::ALL
    };
    for c in [
        Command::TlbiNsnhAll(TlbiNsnhAll::new()),
        Command::CfgiSteRange(CfgiSteRange::all()),
        Command::CmdSync(CmdSync::new()),
    ] {
        assert_eq!(Command::decode(c.encode(), &s2), Ok(c));
    }
}

#[test]
fn caps_follow_the_smmu_parameters() {
    assert_eq!(CmdCaps::from(&SmmuParams::full()), CmdCaps::ALL);
    assert_eq!(
        CmdCaps::from(&SmmuParams::minimal()),
        CmdCaps {
            stage1: true,
            stage2: false,
            hyp: false,
            ats: false,
            pri: false,
            stalls: false,
            range_invalidation: false,
        }
    );
}

#[test]
fn range_fields_are_reserved_without_range_invalidation() {
    let caps = without(|c| c.range_invalidation = false);
    let mut c = TlbiNhVa::new();
    c.dw1 = c.dw1.with_addr(0x1234);
    assert!(Command::decode(Command::TlbiNhVa(c).encode(), &caps).is_ok());
    for (dw0, dw1) in [(1 << 12, 0), (1 << 20, 0), (0, 1 << 8), (0, 1 << 10)] {
        let w = [c.to_words()[0] | dw0, c.to_words()[1] | dw1];
        assert!(
            matches!(
                Command::decode(w, &caps),
                Err(CommandError::ReservedBits { .. })
            ),
            "{dw0:#x} {dw1:#x}"
        );
        // The same bits are fields of a stream command.
        let p = PrefetchConfig::new().to_words();
        assert!(Command::decode([p[0] | dw0, 0], &caps).is_ok());
    }
}

#[test]
fn range_rules() {
    let with = |num: u8, scale: u8, ttl: u8, tg: u8| {
        let mut c = TlbiNhVaa::new();
        c.dw0 = c.dw0.with_num(num).with_scale(scale);
        c.dw1 = c.dw1.with_ttl(ttl).with_tg(tg);
        Command::decode(Command::TlbiNhVaa(c).encode(), &CmdCaps::ALL)
    };
    assert!(with(0, 0, 0, 0).is_ok(), "a single address");
    assert!(with(0, 0, 1, 1).is_ok(), "a level hint alone");
    assert!(
        with(0, 0, 0, 3).is_err(),
        "a granule without range or level"
    );
    assert!(with(1, 0, 0, 0).is_err(), "NUM with TG = 0");
    assert!(with(0, 0, 2, 0).is_err(), "TTL with TG = 0");
    assert!(with(0, 0, 1, 2).is_err(), "level 1 with 16 KiB granules");
    assert!(with(0, 0, 2, 2).is_ok());
    assert!(with(31, 31, 0, 3).is_ok(), "the largest range");
}

#[test]
fn cfgi_all_is_cfgi_ste_range_31() {
    let all = CfgiSteRange::all();
    assert_eq!(all.to_words(), [0x04, 31]);
    assert!(all.is_all());
    assert_eq!(Command::CfgiSteRange(all).name(), "CMD_CFGI_ALL");
    assert_eq!(all.sids(), (0, 1 << 32));
    // The StreamID is ignored with Range = 31.
    let mut c = all;
    c.dw0 = c.dw0.with_sid(0xffff_ffff);
    assert_eq!(c.sids(), (0, 1 << 32));
    // Range 3: 16 StreamIDs, aligned.
    let mut c = CfgiSteRange::new();
    c.dw0 = c.dw0.with_sid(0x1234_5678);
    c.dw1 = c.dw1.with_range(3);
    assert_eq!(c.sids(), (0x1234_5670, 16));
    assert_eq!(Command::CfgiSteRange(c).name(), "CMD_CFGI_STE_RANGE");
}

#[test]
fn tlbi_spans() {
    let mut c = TlbiNhVa::new();
    c.dw1 = c.dw1.with_addr(0x000f_fff8_0000_0000).with_leaf(true);
    assert_eq!(
        c.span(),
        TlbiSpan::Address {
            addr: 0xffff_8000_0000_0000,
            leaf: true
        }
    );
    // (NUM + 1) × 2^SCALE granules: 6 × 8 × 4 KiB.
    c.dw0 = ranged(c.dw0);
    c.dw1 = c.dw1.with_tg(1).with_ttl(3);
    assert_eq!(
        c.span(),
        TlbiSpan::Range {
            addr: 0xffff_8000_0000_0000,
            len: 6 * 8 * 4096,
            granule: Granule::K4,
            ttl: 3,
            leaf: true
        }
    );
    let mut c = TlbiS2Ipa::new();
    c.dw0 = c.dw0.with_num(31).with_scale(31);
    c.dw1 = c.dw1.with_tg(3).with_addr(1);
    assert_eq!(
        c.span(),
        TlbiSpan::Range {
            addr: 0x1000,
            len: 32 << 31 << 16,
            granule: Granule::K64,
            ttl: 0,
            leaf: false
        }
    );
    let mut c = TlbiEl2Va::new();
    c.dw1 = c.dw1.with_tg(2).with_ttl(2);
    assert!(matches!(
        c.span(),
        TlbiSpan::Range {
            granule: Granule::K16,
            len: 16384,
            ..
        }
    ));
}

#[test]
fn atc_invalidation_span() {
    let mut c = AtcInv::new();
    c.dw1 = c.dw1.with_size(4).with_addr(0x1_2345);
    assert_eq!(c.span_log2(), 16);
    assert_eq!(c.start(), 0x1234_0000);
    assert!(c.covers(0x1234_ffff) && !c.covers(0x1235_0000) && !c.covers(0x1233_ffff));
    assert_eq!(c.pasid(), None);
    c.dw1 = c.dw1.with_size(ATC_INV_ALL);
    assert_eq!((c.span_log2(), c.start()), (64, 0));
    assert!(c.covers(u64::MAX));
    c.dw0 = c.dw0.with_ssv(true).with_ssid(77);
    assert_eq!(c.pasid(), Some(77));
}

#[test]
fn pri_response_resume_and_sync_fields() {
    let mut p = PriResp::new();
    p.dw1 = p.dw1.with_resp(PriResponse::InvalidRequest);
    assert_eq!(
        (p.response(), p.pasid()),
        (PriResponse::InvalidRequest, None)
    );
    let mut r = Resume::new();
    assert_eq!(r.action(), ResumeAction::Terminate { abort: false });
    r.dw0 = r.dw0.with_ab(true);
    assert_eq!(r.action(), ResumeAction::Terminate { abort: true });
    r.dw0 = r.dw0.with_ac(true);
    assert_eq!(r.action(), ResumeAction::Retry);
    // Linux's RESP encodings: TERM 0, RETRY 1, ABORT 2 in bits 13:12.
    for (resp, want) in [
        (0u64, ResumeAction::Terminate { abort: false }),
        (1, ResumeAction::Retry),
        (2, ResumeAction::Terminate { abort: true }),
    ] {
        let r = Resume::from_words([0x44 | resp << 12, 0]);
        assert_eq!(r.action(), want);
    }
    let s = CmdSync::msi(0x8765_4321_0abc, 0x1234);
    assert_eq!(s.signal(), SyncSignal::Irq);
    assert_eq!(
        s.msi_write(),
        Some(MsiWrite {
            addr: 0x8765_4321_0abc,
            data: 0x1234,
            mem_attr: 0xf,
            sh: 3
        })
    );
    assert_eq!(CmdSync::new().msi_write(), None);
    for (sig, bits) in [
        (SyncSignal::None, 0),
        (SyncSignal::Irq, 1),
        (SyncSignal::Sev, 2),
        (SyncSignal::Reserved, 3),
    ] {
        assert_eq!((sig.into_bits(), SyncSignal::from_bits(bits)), (bits, sig));
    }
}

#[test]
fn errors_carry_their_cerror() {
    let cases = [
        (CommandError::UnknownOpcode(0), Cerror::Ill),
        (
            CommandError::Unsupported {
                command: "x",
                needs: "y",
            },
            Cerror::Ill,
        ),
        (
            CommandError::ReservedBits {
                command: "x",
                dw: 1,
                bits: 2,
            },
            Cerror::Ill,
        ),
        (
            CommandError::IllegalValue {
                command: "x",
                field: "y",
            },
            Cerror::Ill,
        ),
        (
            CommandError::FetchAbort(MemError::OutOfRange { addr: 0, len: 16 }),
            Cerror::Abt,
        ),
        (CommandError::AtcInvSync, Cerror::AtcInvSync),
    ];
    for (e, want) in cases {
        assert_eq!(e.cerror(), want);
        assert!(!e.to_string().is_empty());
    }
    for (c, code) in [
        (Cerror::None, 0),
        (Cerror::Ill, 1),
        (Cerror::Abt, 2),
        (Cerror::AtcInvSync, 3),
    ] {
        assert_eq!((c.code(), Cerror::from_code(code)), (code, Some(c)));
    }
    assert_eq!(Cerror::from_code(4), None);
}

fn caps() -> impl Strategy<Value = CmdCaps> {
    any::<[bool; 7]>().prop_map(|b| CmdCaps {
        stage1: b[0],
        stage2: b[1],
        hyp: b[2],
        ats: b[3],
        pri: b[4],
        stalls: b[5],
        range_invalidation: b[6],
    })
}

proptest! {
    #[test]
    fn decode_never_panics_and_round_trips(w: [u64; 2], caps in caps()) {
        match Command::decode(w, &caps) {
            Ok(c) => {
                prop_assert_eq!(c.encode(), w);
                prop_assert_eq!(u64::from(c.opcode()), w[0] & 0xff);
            }
            Err(e) => prop_assert_eq!(e.cerror(), Cerror::Ill),
        }
    }

    #[test]
    fn known_opcodes_with_random_fields_never_panic(
        op in prop::sample::select(vec![
            0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22,
            0x23, 0x28, 0x2a, 0x30, 0x40, 0x41, 0x44, 0x45, 0x46,
        ]),
        w0 in any::<u64>(),
        w1 in any::<u64>(),
        caps in caps(),
    ) {
        let w = [(w0 & !0xff) | u64::from(op), w1];
        let cmd = Command::from_words(w);
        prop_assert!(cmd.is_some());
        if let Ok(c) = Command::decode(w, &caps) {
            prop_assert_eq!(c.encode(), w);
            // What decodes has no reserved bit set.
            let f = c.fields(&caps);
            prop_assert_eq!(w[0] & !f[0], 0);
            prop_assert_eq!(w[1] & !f[1], 0);
        }
    }
}
