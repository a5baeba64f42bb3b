//! Random, possibly absurd, arguments against a reference model: refused exactly when the
//! arguments are bad, and otherwise done as the model says.

use super::*;

#[derive(Debug, Clone)]
enum IovaPick {
    Any(u64),
    /// An address of the fixture, moved by whole pages.
    Anchor(usize, i8),
    Pow(u8),
    BelowLimit(u16),
    Low(u16),
}

#[derive(Debug, Clone)]
enum SizePick {
    Any(u64),
    Pages(u16),
    Blocks(u8),
    Pow(u8),
    NearMax(u16),
    Zero,
    One,
}

#[derive(Debug, Clone)]
enum PaPick {
    Any(u64),
    Page(u16),
    Block(u8),
    Zero,
    BelowOa(u16),
    Pow(u8),
    SameAsIova,
}

#[derive(Debug, Clone)]
struct RawOp {
    unmap: bool,
    iova: IovaPick,
    pa: PaPick,
    size: SizePick,
    /// Which argument gets a few extra bytes (0 iova, 1 pa, 2 size, else none), and how many.
    jitter: (u8, u64),
    prot: u8,
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    let iova = prop_oneof![
        1 => any::<u64>().prop_map(IovaPick::Any),
        6 => (any::<usize>(), -8i8..8).prop_map(|(i, d)| IovaPick::Anchor(i, d)),
        1 => (0u8..64).prop_map(IovaPick::Pow),
        1 => (0u16..64).prop_map(IovaPick::BelowLimit),
        1 => (0u16..256).prop_map(IovaPick::Low),
    ];
    let size = prop_oneof![
        1 => any::<u64>().prop_map(SizePick::Any),
        4 => (1u16..=64).prop_map(SizePick::Pages),
        2 => (1u8..=4).prop_map(SizePick::Blocks),
        1 => (0u8..64).prop_map(SizePick::Pow),
        1 => (0u16..16).prop_map(SizePick::NearMax),
        1 => Just(SizePick::Zero),
        2 => Just(SizePick::One),
    ];
    let pa = prop_oneof![
        1 => any::<u64>().prop_map(PaPick::Any),
        3 => (0u16..512).prop_map(PaPick::Page),
        2 => (0u8..8).prop_map(PaPick::Block),
        1 => Just(PaPick::Zero),
        1 => (0u16..64).prop_map(PaPick::BelowOa),
        1 => (0u8..64).prop_map(PaPick::Pow),
        1 => Just(PaPick::SameAsIova),
    ];
    (
        prop::bool::weighted(0.4),
        iova,
        pa,
        size,
        (0u8..12, 1u64..0x1_0000),
        any::<u8>(),
    )
        .prop_map(|(unmap, iova, pa, size, jitter, prot)| RawOp {
            unmap,
            iova,
            pa,
            size,
            jitter,
            prot,
        })
}

impl RawOp {
    fn resolve(&self, l: &Layout) -> (u64, u64, u64, Prot) {
        let g = l.g;
        let anchors = [
            0,
            l.r - 4 * g,
            l.r,
            l.p1,
            l.p2,
            l.m.0,
            l.m.1,
            l.b.0,
            l.b.1,
            l.p3,
            l.free,
            l.far,
            l.limit,
            l.limit - l.blk,
        ];
        let mut iova = match self.iova {
            IovaPick::Any(v) => v,
            IovaPick::Anchor(i, d) => {
                anchors[i % anchors.len()].wrapping_add((i64::from(d) * g as i64) as u64)
            }
            IovaPick::Pow(k) => 1u64 << (k % 64),
            IovaPick::BelowLimit(n) => l.limit.wrapping_sub(u64::from(n) * g),
            IovaPick::Low(n) => u64::from(n) * g,
        };
        let mut size = match self.size {
            SizePick::Any(v) => v,
            SizePick::Pages(n) => u64::from(n) * g,
            SizePick::Blocks(n) => u64::from(n) * l.blk,
            SizePick::Pow(k) => 1u64 << (k % 64),
            SizePick::NearMax(n) => 0u64.wrapping_sub(u64::from(n) * g),
            SizePick::Zero => 0,
            SizePick::One => g,
        };
        let mut pa = match self.pa {
            PaPick::Any(v) => v,
            PaPick::Page(n) => l.q + u64::from(n) * g,
            PaPick::Block(n) => l.q + u64::from(n) * l.blk,
            PaPick::Zero => 0,
            PaPick::BelowOa(n) => l.oa_limit.wrapping_sub(u64::from(n) * g),
            PaPick::Pow(k) => 1u64 << (k % 64),
            PaPick::SameAsIova => iova,
        };
        let (which, by) = self.jitter;
        let by = by % g;
        match which {
            0 => iova = iova.wrapping_add(by),
            1 => pa = pa.wrapping_add(by),
            2 => size = size.wrapping_add(by),
            _ => {}
        }
        (iova, pa, size, Prot::from_bits_truncate(self.prot))
    }
}

/// The refusals bad arguments allow (any one of them when there are several); empty when the
/// arguments are good. `map` is `Some((pa, prot))` for a map.
fn arg_faults(l: &Layout, iova: u64, size: u64, map: Option<(u64, Prot)>) -> Vec<PgError> {
    let g = l.g;
    let pa = map.map_or(0, |(pa, _)| pa);
    let mut v = Vec::new();
    if (iova | pa | size) & (g - 1) != 0 {
        v.push(PgError::Unaligned {
            iova,
            pa,
            size,
            granule: g,
        });
    }
    if size == 0 || iova.checked_add(size).is_none_or(|end| end > l.limit) {
        v.push(PgError::IovaOutOfRange {
            iova,
            size,
            limit: l.limit,
        });
    }
    if let Some((pa, prot)) = map {
        if pa.checked_add(size).is_none_or(|end| end > l.oa_limit) {
            v.push(PgError::PaOutOfRange {
                pa,
                size,
                oa_bits: l.oa_bits,
            });
        }
        if !prot.intersects(Prot::RW) {
            v.push(PgError::BadProt(prot));
        }
    }
    v
}

fn prop_run<F: Format>(fmt: F, ops: &[RawOp]) {
    let mut fx = Fx::new(fmt, PROP_POOL);
    let l = fx.l;
    let name = fx.t.format().name();
    for op in ops {
        // No walk runs beside this table: the pages of tables taken out go back at once, as
        // an owner gives them back after its invalidation (the pool is small on purpose).
        fx.t.release_freed();
        let (iova, pa, size, prot) = op.resolve(&l);
        let before = snap(&fx.t);
        if op.unmap {
            let what = format!("{name} unmap({iova:#x}, {size:#x})");
            let faults = arg_faults(&l, iova, size, None);
            let got = fx.t.unmap(iova, size);
            if !faults.is_empty() {
                let e = got.expect_err(&what);
                assert!(faults.contains(&e), "{what}: {e:?}, not one of {faults:?}");
                assert_eq!(e.errno(), errno_of(&e), "{what}: errno");
                assert_unchanged(&before, &snap(&fx.t), Alloc::Exact, l.g, &what);
            } else {
                let want = overlap(&fx.model, iova, iova + size);
                if want == 0 {
                    assert_eq!(got, Err(PgError::NotMapped { iova, size }), "{what}");
                    assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
                } else {
                    assert_eq!(got, Ok(want), "{what}");
                    assert_eq!(fx.model.unmap(iova, size), want);
                    snap(&fx.t);
                }
            }
        } else {
            let what = format!("{name} map({iova:#x}, {pa:#x}, {size:#x}, {prot})");
            let faults = arg_faults(&l, iova, size, Some((pa, prot)));
            let got = fx.t.map(iova, pa, size, prot);
            if !faults.is_empty() {
                let e = got.expect_err(&what);
                assert!(faults.contains(&e), "{what}: {e:?}, not one of {faults:?}");
                assert_eq!(e.errno(), errno_of(&e), "{what}: errno");
                assert_unchanged(&before, &snap(&fx.t), Alloc::Exact, l.g, &what);
            } else if let Some(at) = first_mapped(&fx.model, iova, iova + size) {
                // Refused for the mapping in its way, or for running out of table memory on
                // the way there.
                match got {
                    Err(PgError::AlreadyMapped { .. }) => {
                        assert_eq!(got, Err(PgError::AlreadyMapped { iova: at }), "{what}");
                    }
                    Err(PgError::Mem(MemError::Exhausted { .. })) => {}
                    other => panic!("{what}: {other:?}"),
                }
                assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
            } else {
                match got {
                    Ok(()) => {
                        snap(&fx.t);
                        verify_range(&fx.t, iova, pa, size, prot);
                        // Taking it away again restores the tables exactly.
                        assert_eq!(fx.t.unmap(iova, size), Ok(size), "{what}, undone");
                        assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
                    }
                    Err(e @ PgError::Mem(MemError::Exhausted { .. })) => {
                        // Too big for the table memory: refused as a whole.
                        assert_eq!(e.errno(), libc::ENOMEM);
                        assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
                    }
                    Err(e) => panic!("{what}: {e:?}"),
                }
            }
        }
        // Look-ups of any address answer as the model says, and walks do not panic.
        let want = if iova < l.limit {
            fx.model.get(iova).map(|(pa, _)| pa)
        } else {
            None
        };
        assert_eq!(fx.t.iova_to_phys(iova), want, "iova_to_phys({iova:#x})");
        assert_eq!(
            fx.t.lookup(iova).is_some(),
            want.is_some(),
            "lookup({iova:#x})"
        );
        let _ = fx.t.trace(iova);
        let _ = fx.t.translate(iova, Access::READ);
        fx.verify();
    }
    fx.teardown();
}

/// Cases per format: 11 formats, 2,200 cases, each a few operations.
const PROP_CASES: u32 = 200;
const PROP_OPS: usize = 6;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: PROP_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn prop_x86_4level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(x86_4(false), &ops);
    }

    #[test]
    fn prop_x86_5level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(x86_5(false), &ops);
    }

    #[test]
    fn prop_vtd_ss_3level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(vtd(3, 39, false), &ops);
    }

    #[test]
    fn prop_vtd_ss_4level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(vtd(4, 48, false), &ops);
    }

    #[test]
    fn prop_vtd_ss_5level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(vtd(5, 52, false), &ops);
    }

    #[test]
    fn prop_arm_s1_4k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s1(Granule::K4, 48, 48, false), &ops);
    }

    #[test]
    fn prop_arm_s1_16k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s1(Granule::K16, 47, 44, false), &ops);
    }

    #[test]
    fn prop_arm_s1_64k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s1(Granule::K64, 42, 40, false), &ops);
    }

    #[test]
    fn prop_arm_s2_4k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s2(Granule::K4, 40, 48, false), &ops);
    }

    #[test]
    fn prop_arm_s2_16k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s2(Granule::K16, 39, 44, false), &ops);
    }

    #[test]
    fn prop_arm_s2_64k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s2(Granule::K64, 44, 40, false), &ops);
    }
}
