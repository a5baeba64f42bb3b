//! Known-answer tests of the VT-d second-stage format, from the specification's field
//! positions, and properties of its entry functions.

use super::*;
use proptest::prelude::*;

fn fmt(cfg: VtdSsConfig) -> VtdSs {
    VtdSs::new(cfg).unwrap()
}

/// Index (from the root) of the level the specification numbers `number`.
fn at(f: &VtdSs, number: u8) -> usize {
    usize::from(f.config().levels - number)
}

fn rw() -> Perm {
    Perm::same(true, true, true)
}

fn ro() -> Perm {
    Perm::same(true, false, true)
}

fn wo() -> Perm {
    Perm::same(false, true, false)
}

#[test]
fn geometry_matches_the_configuration() {
    for (levels, ia) in [(3u8, 39u8), (4, 48), (5, 57)] {
        let f = fmt(VtdSsConfig {
            levels,
            ..Default::default()
        });
        let g = f.geometry();
        assert_eq!(g.depth(), usize::from(levels));
        assert_eq!(g.ia_bits(), ia);
        assert_eq!(g.oa_bits(), 48);
        assert_eq!(g.map_limit(), 1u64 << ia);
        assert_eq!(g.granule(), 4096);
        let numbers: Vec<u8> = g.levels().iter().map(|l| l.number).collect();
        let want: Vec<u8> = (1..=levels).rev().collect();
        assert_eq!(numbers, want);
        let sizes: Vec<u64> = g.page_sizes().collect();
        assert_eq!(sizes, vec![1 << 30, 1 << 21, 1 << 12]);
        assert_eq!(f.input((1u64 << ia) - 1), Some((1u64 << ia) - 1));
        assert_eq!(f.input(1u64 << ia), None);
    }
    let small = fmt(VtdSsConfig {
        pages_2m: false,
        pages_1g: false,
        ..Default::default()
    });
    let sizes: Vec<u64> = small.geometry().page_sizes().collect();
    assert_eq!(sizes, vec![1 << 12]);
    let no_1g = fmt(VtdSsConfig {
        pages_1g: false,
        ..Default::default()
    });
    let sizes: Vec<u64> = no_1g.geometry().page_sizes().collect();
    assert_eq!(sizes, vec![1 << 21, 1 << 12]);
    assert_eq!(small.name(), "vtd-ss");
}

#[test]
fn bad_configs_are_refused() {
    let bad = [
        VtdSsConfig {
            levels: 2,
            ..Default::default()
        },
        VtdSsConfig {
            levels: 6,
            ..Default::default()
        },
        VtdSsConfig {
            haw: 60,
            ..Default::default()
        },
        VtdSsConfig {
            haw: 31,
            ..Default::default()
        },
        VtdSsConfig {
            pages_2m: false,
            pages_1g: true,
            ..Default::default()
        },
    ];
    for cfg in bad {
        assert!(
            matches!(VtdSs::new(cfg), Err(PgError::BadConfig(_))),
            "{cfg:?} accepted"
        );
    }
    for haw in [32, 52] {
        assert!(
            VtdSs::new(VtdSsConfig {
                haw,
                ..Default::default()
            })
            .is_ok()
        );
    }
}

#[test]
fn encodes_known_entries() {
    let f = fmt(VtdSsConfig::default());
    // 4 KiB PTE, read/write.
    let want = 0x1234_5000 | 1 << 0 | 1 << 1;
    assert_eq!(f.leaf(0x1234_5000, at(&f, 1), Prot::RW), want);
    // 2 MiB leaf, read-only, snooped: R, PS (7), SNP (11).
    let want = 0x4060_0000 | 1 << 0 | 1 << 7 | 1 << 11;
    assert_eq!(
        f.leaf(0x4060_0000, at(&f, 2), Prot::READ | Prot::CACHE),
        want
    );
    // 1 GiB leaf, read/write: R, W, PS.
    let want = 0x0000_00c0_4000_0000 | 1 << 0 | 1 << 1 | 1 << 7;
    assert_eq!(f.leaf(0xc0_4000_0000, at(&f, 3), Prot::RW), want);
    // Write-only 4 KiB page.
    let want = 0xabc_d000 | 1 << 1;
    assert_eq!(f.leaf(0xabc_d000, at(&f, 1), Prot::WRITE), want);
    // Non-leaf entry: R and W, nothing else.
    let want = 0x7_6543_2000 | 1 << 0 | 1 << 1;
    for number in 1..=4 {
        assert_eq!(f.table(0x7_6543_2000, at(&f, number)), want);
    }
    // Flags the format cannot express are dropped; SNP only with snoop control.
    let want = 0x5000 | 1 << 0;
    assert_eq!(
        f.leaf(0x5000, at(&f, 1), Prot::READ | Prot::NOEXEC | Prot::PRIV),
        want
    );
    let nosc = fmt(VtdSsConfig {
        snoop_ctl: false,
        ..Default::default()
    });
    let want = 0x4060_0000 | 1 << 0 | 1 << 7;
    assert_eq!(
        nosc.leaf(0x4060_0000, at(&nosc, 2), Prot::READ | Prot::CACHE),
        want
    );
}

#[test]
fn decodes_known_entries() {
    let f = fmt(VtdSsConfig::default());
    let pte = 0x1234_5000 | 1 << 0 | 1 << 1;
    assert_eq!(
        f.decode(pte, at(&f, 1)),
        Pte::Leaf {
            pa: 0x1234_5000,
            perm: rw()
        }
    );
    assert_eq!(f.leaf_prot(pte, at(&f, 1)), Prot::RW);
    let pte = 0x4060_0000 | 1 << 0 | 1 << 7 | 1 << 11;
    assert_eq!(
        f.decode(pte, at(&f, 2)),
        Pte::Leaf {
            pa: 0x4060_0000,
            perm: ro()
        }
    );
    assert_eq!(f.leaf_prot(pte, at(&f, 2)), Prot::READ | Prot::CACHE);
    let pte = 0x00c0_4000_0000 | 1 << 1 | 1 << 7 | 1 << 8 | 1 << 9;
    assert_eq!(
        f.decode(pte, at(&f, 3)),
        Pte::Leaf {
            pa: 0xc0_4000_0000,
            perm: wo()
        }
    );
    assert_eq!(f.leaf_prot(pte, at(&f, 3)), Prot::WRITE);
    // Non-leaf entries at every level, with A set.
    let pte = 0x7_6543_2000 | 1 << 0 | 1 << 8;
    for number in 1..=4 {
        let want = if number == 1 {
            Pte::Leaf {
                pa: 0x7_6543_2000,
                perm: ro(),
            }
        } else {
            Pte::Table {
                next: 0x7_6543_2000,
                perm: ro(),
            }
        };
        assert_eq!(f.decode(pte, at(&f, number)), want);
    }
    // Ignored bits: 2 (old X), 5:3 EMT, 6 IPAT, 10, 60:52, IR/IW, 63; bit 7 in a PTE.
    let ign = 1 << 2 | 0b111 << 3 | 1 << 6 | 1 << 10 | 0x1ff << 52 | 1 << 61 | 1 << 62 | 1 << 63;
    assert_eq!(
        f.decode(0x1234_5000 | 1 << 0 | 1 << 1 | ign | 1 << 7, at(&f, 1)),
        Pte::Leaf {
            pa: 0x1234_5000,
            perm: rw()
        }
    );
    assert_eq!(
        f.decode(0x4060_0000 | 1 << 0 | 1 << 7 | ign, at(&f, 2)),
        Pte::Leaf {
            pa: 0x4060_0000,
            perm: ro()
        }
    );
    assert_eq!(
        f.decode(0x7_6543_2000 | 1 << 1 | ign | 1 << 9, at(&f, 4)),
        Pte::Table {
            next: 0x7_6543_2000,
            perm: wo()
        }
    );
    // The highest address bit below HAW is address.
    let top = 1u64 << 47;
    assert_eq!(
        f.decode(top | 1 << 0, at(&f, 4)),
        Pte::Table {
            next: top,
            perm: ro()
        }
    );
}

#[test]
fn read_and_write_clear_is_not_present() {
    let f = fmt(VtdSsConfig::default());
    for number in 1..=4 {
        let l = at(&f, number);
        assert_eq!(f.decode(0, l), Pte::Invalid);
        // Other bits, reserved ones included, do not make it present.
        let pte = 0x1234_5000 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 11 | 1 << 50 | 1 << 2;
        assert_eq!(f.decode(pte, l), Pte::Invalid);
        assert!(!f.is_valid(pte));
        assert!(f.is_valid(1 << 0));
        assert!(f.is_valid(1 << 1));
    }
    assert_eq!(
        f.describe(0x1234_5000 | 1 << 7, at(&f, 2)),
        "SS-PDE: PS (not present)"
    );
}

#[test]
fn reserved_bits_fault() {
    let five = fmt(VtdSsConfig {
        levels: 5,
        haw: 46,
        ..Default::default()
    });
    let f = fmt(VtdSsConfig::default());
    let nosc = fmt(VtdSsConfig {
        snoop_ctl: false,
        ..Default::default()
    });
    let no_1g = fmt(VtdSsConfig {
        pages_1g: false,
        ..Default::default()
    });
    let no_large = fmt(VtdSsConfig {
        pages_1g: false,
        pages_2m: false,
        ..Default::default()
    });
    let rw = 1u64 << 0 | 1 << 1;
    let cases: Vec<(&VtdSs, u8, u64, &str)> = vec![
        // Bits 51:HAW at every level.
        (&f, 1, 0x1000 | rw | 1 << 48, "PTE bit 48 with HAW 48"),
        (&f, 1, 0x1000 | rw | 1 << 51, "PTE bit 51"),
        (&f, 2, 0x20_0000 | rw | 1 << 7 | 1 << 50, "2M leaf bit 50"),
        (&f, 3, 0x4000_0000 | rw | 1 << 7 | 1 << 49, "1G leaf bit 49"),
        (&f, 2, 0x1000 | rw | 1 << 48, "PDE table bit 48"),
        (&f, 4, 0x1000 | rw | 1 << 51, "PML4E bit 51"),
        (&five, 5, 0x1000 | rw | 1 << 46, "PML5E bit 46 with HAW 46"),
        (&five, 1, 0x1000 | rw | 1 << 47, "PTE bit 47 with HAW 46"),
        // PS in PML5E and PML4E.
        (&f, 4, 0x1000 | rw | 1 << 7, "PS in PML4E"),
        (&five, 5, 0x1000 | rw | 1 << 7, "PS in PML5E"),
        (&five, 4, 0x1000 | rw | 1 << 7, "PS in PML4E (5-level)"),
        // Address bits below a large page's alignment.
        (&f, 3, 0x4000_0000 | rw | 1 << 7 | 1 << 12, "1G leaf bit 12"),
        (&f, 3, 0x4000_0000 | rw | 1 << 7 | 1 << 21, "1G leaf bit 21"),
        (&f, 3, 0x4000_0000 | rw | 1 << 7 | 1 << 29, "1G leaf bit 29"),
        (&f, 2, 0x20_0000 | rw | 1 << 7 | 1 << 12, "2M leaf bit 12"),
        (&f, 2, 0x20_0000 | rw | 1 << 7 | 1 << 20, "2M leaf bit 20"),
        // SNP in non-leaf entries.
        (&f, 4, 0x1000 | rw | 1 << 11, "SNP in PML4E"),
        (&f, 3, 0x1000 | rw | 1 << 11, "SNP in PDPE → PD"),
        (&f, 2, 0x1000 | rw | 1 << 11, "SNP in PDE → PT"),
        (&five, 5, 0x1000 | rw | 1 << 11, "SNP in PML5E"),
        // SNP in leaves without snoop control.
        (&nosc, 1, 0x1000 | rw | 1 << 11, "SNP in PTE, SC=0"),
        (
            &nosc,
            2,
            0x20_0000 | rw | 1 << 7 | 1 << 11,
            "SNP in 2M, SC=0",
        ),
        (
            &nosc,
            3,
            0x4000_0000 | rw | 1 << 7 | 1 << 11,
            "SNP in 1G, SC=0",
        ),
        // Page sizes SSLPS does not offer.
        (
            &no_1g,
            3,
            0x4000_0000 | rw | 1 << 7,
            "1G leaf without 1G pages",
        ),
        (&no_large, 3, 0x4000_0000 | rw | 1 << 7, "1G leaf, no large"),
        (&no_large, 2, 0x20_0000 | rw | 1 << 7, "2M leaf, no large"),
    ];
    for (f, number, pte, what) in cases {
        assert_eq!(f.decode(pte, at(f, number)), Pte::Reserved, "{what}");
        assert!(f.is_valid(pte), "{what}");
        assert!(
            f.describe(pte, at(f, number))
                .ends_with("(reserved bits set)"),
            "{what}"
        );
    }
    // The same entries are fine where the field is allowed.
    assert!(matches!(
        f.decode(0x1000 | rw | 1 << 11, at(&f, 1)),
        Pte::Leaf { .. }
    ));
    assert!(matches!(
        no_1g.decode(0x20_0000 | rw | 1 << 7, at(&no_1g, 2)),
        Pte::Leaf { .. }
    ));
    assert!(matches!(
        no_large.decode(0x1000 | rw, at(&no_large, 3)),
        Pte::Table { .. }
    ));
    assert!(matches!(
        five.decode(0x1000 | rw | 1 << 45, at(&five, 5)),
        Pte::Table { .. }
    ));
}

#[test]
fn effective_and_leaf_prot_agree() {
    let f = fmt(VtdSsConfig::default());
    let nosc = fmt(VtdSsConfig {
        snoop_ctl: false,
        ..Default::default()
    });
    let all = Prot::ALL;
    assert_eq!(f.effective(all), Prot::RW | Prot::CACHE);
    assert_eq!(nosc.effective(all), Prot::RW);
    assert_eq!(f.effective(Prot::WRITE | Prot::PRIV), Prot::WRITE);
    // An SNP bit read from memory without snoop control is not reported as CACHE.
    assert_eq!(nosc.leaf_prot(0x1000 | 1 << 0 | 1 << 11, 3), Prot::READ);
}

#[test]
fn demote_gives_the_first_child() {
    let f = fmt(VtdSsConfig::default());
    let flags = 1u64 << 0 | 1 << 1 | 1 << 8 | 1 << 9 | 1 << 11;
    // 1 GiB → 2 MiB: stays a PS=1 block.
    let g = 0xc0_4000_0000 | flags | 1 << 7;
    assert_eq!(f.demote(g, at(&f, 3)), g);
    assert_eq!(
        f.decode(f.demote(g, at(&f, 3)), at(&f, 2)),
        Pte::Leaf {
            pa: 0xc0_4000_0000,
            perm: rw()
        }
    );
    // 2 MiB → 4 KiB: PS goes away.
    let m = 0x4060_0000 | flags | 1 << 7;
    assert_eq!(f.demote(m, at(&f, 2)), 0x4060_0000 | flags);
    assert_eq!(
        f.decode(f.demote(m, at(&f, 2)), at(&f, 1)),
        Pte::Leaf {
            pa: 0x4060_0000,
            perm: rw()
        }
    );
}

#[test]
fn accessed_and_dirty_only_with_ssade() {
    let plain = fmt(VtdSsConfig::default());
    let ad = fmt(VtdSsConfig {
        ad: true,
        ..Default::default()
    });
    let table = 0x1000 | 1u64 << 0 | 1 << 1;
    let leaf = 0x2000 | 1u64 << 0 | 1 << 1;
    for access in [Access::READ, Access::WRITE] {
        assert_eq!(plain.hw_update(table, 2, false, access), table);
        assert_eq!(plain.hw_update(leaf, 3, true, access), leaf);
        assert_eq!(ad.hw_update(table, 2, false, access), table | 1 << 8);
    }
    assert_eq!(ad.hw_update(leaf, 3, true, Access::READ), leaf | 1 << 8);
    assert_eq!(
        ad.hw_update(leaf, 3, true, Access::WRITE),
        leaf | 1 << 8 | 1 << 9
    );
    assert!(!plain.tracks_dirty());
    assert!(ad.tracks_dirty());
    let dirty = leaf | 1 << 8 | 1 << 9;
    assert!(ad.is_dirty(dirty, 3));
    assert!(!ad.is_dirty(leaf, 3));
    assert_eq!(ad.clear_dirty(dirty, 3), leaf | 1 << 8);
    // Leaves start clean.
    assert!(!ad.is_dirty(ad.leaf(0x2000, 3, Prot::RW), 3));
}

#[test]
fn describe_names_fields() {
    let f = fmt(VtdSsConfig {
        levels: 5,
        ..Default::default()
    });
    assert_eq!(
        f.describe(0x1234_5000 | 1 << 0 | 1 << 1 | 1 << 8 | 1 << 9, at(&f, 1)),
        "SS-PTE: R W A D page=0x12345000"
    );
    assert_eq!(
        f.describe(0x4060_0000 | 1 << 0 | 1 << 7 | 1 << 11, at(&f, 2)),
        "SS-PDE: R PS SNP page=0x40600000"
    );
    assert_eq!(
        f.describe(0x4000_0000 | 1 << 1 | 1 << 7 | 6 << 3 | 1 << 6, at(&f, 3)),
        "SS-PDPE: W EMT=6 IPAT PS page=0x40000000"
    );
    assert_eq!(
        f.describe(0x7000 | 1 << 0 | 1 << 1 | 1 << 9, at(&f, 4)),
        "SS-PML4E: R W next=0x7000"
    );
    assert_eq!(
        f.describe(0x7000 | 1 << 0 | 1 << 61 | 1 << 62, at(&f, 5)),
        "SS-PML5E: R IR IW next=0x7000"
    );
    assert_eq!(f.describe(0, at(&f, 5)), "SS-PML5E: (not present)");
}

/// Configurations the property tests run over.
fn configs() -> [VtdSsConfig; 5] {
    [
        VtdSsConfig::default(),
        VtdSsConfig {
            levels: 5,
            haw: 52,
            snoop_ctl: false,
            ad: true,
            ..Default::default()
        },
        VtdSsConfig {
            levels: 3,
            haw: 39,
            pages_1g: false,
            ..Default::default()
        },
        VtdSsConfig {
            levels: 4,
            haw: 32,
            pages_2m: false,
            pages_1g: false,
            snoop_ctl: false,
            ad: false,
        },
        VtdSsConfig {
            levels: 5,
            haw: 46,
            ..Default::default()
        },
    ]
}

proptest! {
    #[test]
    fn decode_never_panics(pte in any::<u64>(), ci in 0usize..5) {
        let f = fmt(configs()[ci]);
        let haw = f.config().haw;
        for (i, lv) in f.geometry().levels().iter().enumerate() {
            let d = f.decode(pte, i);
            prop_assert_eq!(f.is_valid(pte), d != Pte::Invalid);
            match d {
                Pte::Leaf { pa, .. } => {
                    prop_assert!(lv.leaf);
                    prop_assert_eq!(pa % lv.span(), 0);
                    prop_assert_eq!(pa >> haw, 0);
                }
                Pte::Table { next, .. } => {
                    prop_assert!(lv.number > 1);
                    prop_assert_eq!(next % 4096, 0);
                    prop_assert_eq!(next >> haw, 0);
                }
                Pte::Invalid | Pte::Reserved => {}
            }
            let _ = f.describe(pte, i);
        }
    }

    #[test]
    fn leaf_round_trips(addr in any::<u64>(), bits in any::<u8>(), ci in 0usize..5) {
        let f = fmt(configs()[ci]);
        let prot = Prot::from_bits_truncate(bits);
        let eff = f.effective(prot);
        let mask = (1u64 << f.config().haw) - 1;
        for (i, lv) in f.geometry().levels().iter().enumerate() {
            if !lv.leaf {
                continue;
            }
            let pa = addr & mask & !(lv.span() - 1);
            let pte = f.leaf(pa, i, prot);
            let read = eff.contains(Prot::READ);
            let write = eff.contains(Prot::WRITE);
            if read || write {
                prop_assert_eq!(
                    f.decode(pte, i),
                    Pte::Leaf { pa, perm: Perm::same(read, write, read) }
                );
                prop_assert_eq!(f.leaf_prot(pte, i), eff);
                prop_assert_eq!(f.effective(eff), eff);
            } else {
                prop_assert_eq!(f.decode(pte, i), Pte::Invalid);
            }
        }
    }
}

/// The decoding rules as the specification states them, level by level: the reference the
/// table-driven `decode` is checked against.
fn reference_decode(cfg: &VtdSsConfig, pte: u64, level: usize) -> Pte {
    let below_haw = (1u64 << cfg.haw) - 1;
    let addr_mask = below_haw & !LOW;
    let rsvd_high = ((1u64 << 52) - 1) & !below_haw;
    if pte & (R | W) == 0 {
        return Pte::Invalid;
    }
    if pte & rsvd_high != 0 {
        return Pte::Reserved;
    }
    let perm = SS_PERMS[(pte & (R | W)) as usize];
    let leaf = |shift: u32| {
        if pte & SNP != 0 && !cfg.snoop_ctl {
            return Pte::Reserved;
        }
        Pte::Leaf {
            pa: pte & addr_mask & !((1u64 << shift) - 1),
            perm,
        }
    };
    let number = usize::from(cfg.levels).saturating_sub(level) as u32;
    match number {
        1 => leaf(12),
        2 | 3 if pte & PS != 0 => {
            let allowed = if number == 2 {
                cfg.pages_2m
            } else {
                cfg.pages_1g
            };
            let shift = 12 + 9 * (number - 1);
            if !allowed || pte & ((1u64 << shift) - 1) & !LOW != 0 {
                return Pte::Reserved;
            }
            leaf(shift)
        }
        4 | 5 if pte & PS != 0 => Pte::Reserved,
        _ if pte & SNP != 0 => Pte::Reserved,
        _ => Pte::Table {
            next: pte & addr_mask,
            perm,
        },
    }
}

/// Entries that reach every rule: random words with the reserved high bits, the bits below
/// a large page's alignment, SNP or PS cleared or set by turns.
fn entry() -> impl Strategy<Value = u64> {
    (any::<u64>(), 0usize..6, any::<bool>()).prop_map(|(a, m, ps)| {
        let masks = [
            u64::MAX,
            (1 << 32) - 1,
            !((1 << 21) - 1) & ((1 << 39) - 1) | LOW,
            !((1 << 30) - 1) & ((1 << 46) - 1) | LOW,
            ((1 << 48) - 1) & !SNP,
            ((1 << 52) - 1) & !(SNP | PS),
        ];
        let pte = a & masks[m];
        if ps { pte | PS } else { pte }
    })
}

proptest! {
    #[test]
    fn decode_follows_the_reference_rules(
        pte in entry(),
        ci in 0usize..5,
        level in 0usize..8,
        large in 0u8..3,
    ) {
        let mut cfg = configs()[ci];
        cfg.pages_2m = large >= 1;
        cfg.pages_1g = large == 2;
        let f = fmt(cfg);
        prop_assert_eq!(f.decode(pte, level), reference_decode(&cfg, pte, level));
    }
}
