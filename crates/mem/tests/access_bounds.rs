//! Random accesses to a RAM arena and to guest memory with a hole: none panics, and each
//! succeeds exactly when it lies inside backed memory (and is aligned, for word accesses).

use proptest::prelude::*;
use softiommu_mem::{AddressSpace, GuestRam, MemError, RamArena};
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// The arena: one run.
const ARENA: (u64, u64) = (0x10_0000, 0x13_0000);
/// Guest memory: two regions with a hole between them, and nothing below the first.
const GUEST: [(u64, u64); 2] = [(0x1_0000, 0x2_0000), (0x4_0000, 0x6_0000)];
/// Addresses near which accesses are interesting.
const EDGES: [u64; 9] = [
    0,
    0x1_0000,
    0x2_0000,
    0x4_0000,
    0x6_0000,
    0x10_0000,
    0x13_0000,
    u64::MAX,
    1 << 63,
];

#[derive(Debug, Clone)]
enum Op {
    Read { pa: u64, len: usize },
    Write { pa: u64, len: usize, byte: u8 },
    Load { pa: u64 },
    Store { pa: u64, value: u64 },
    Cmpxchg { pa: u64, current: u64, new: u64 },
    Words { pa: u64, count: usize },
    Fill { pa: u64, len: u64, byte: u8 },
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => any::<u64>(),
        4 => (prop::sample::select(&EDGES[..]), -80i64..80)
            .prop_map(|(e, d)| e.wrapping_add(d as u64)),
        2 => (prop::sample::select(&EDGES[..]), 0u64..0x4_0000)
            .prop_map(|(e, d)| e.wrapping_sub(d)),
        2 => 0u64..0x20_0000,
    ]
}

/// Lengths of byte accesses that get a buffer: small, region-sized, or a little more.
fn buf_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=24,
        0usize..=0x4_1000,
        Just(0x1_0000),
        Just(0x2_0000)
    ]
}

fn fill_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=24,
        0u64..=0x4_1000,
        any::<u64>(),
        (0u64..64).prop_map(|k| u64::MAX - k),
        (0u32..64).prop_map(|k| 1u64 << k),
    ]
}

/// Word counts, including ones whose byte length overflows (and wraps to something small).
fn count() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=16,
        0usize..=0x8100,
        any::<usize>(),
        (0usize..32).prop_map(|k| (1usize << 61) + k),
        (0usize..32).prop_map(|k| (1usize << 62) + k),
        (0usize..32).prop_map(|k| (usize::MAX >> 3) + k),
        (0usize..32).prop_map(|k| usize::MAX - k),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (addr(), buf_len()).prop_map(|(pa, len)| Op::Read { pa, len }),
        (addr(), buf_len(), any::<u8>()).prop_map(|(pa, len, byte)| Op::Write { pa, len, byte }),
        addr().prop_map(|pa| Op::Load { pa }),
        (addr(), any::<u64>()).prop_map(|(pa, value)| Op::Store { pa, value }),
        (addr(), any::<u64>(), any::<u64>()).prop_map(|(pa, current, new)| Op::Cmpxchg {
            pa,
            current,
            new
        }),
        (addr(), count()).prop_map(|(pa, count)| Op::Words { pa, count }),
        (addr(), fill_len(), any::<u8>()).prop_map(|(pa, len, byte)| Op::Fill { pa, len, byte }),
    ]
}

/// Whether `[pa, pa + len)` lies inside one of `runs` (an empty access: whether `pa` does).
fn inside(runs: &[(u64, u64)], pa: u64, len: u128) -> bool {
    runs.iter()
        .any(|&(s, e)| s <= pa && pa < e && u128::from(pa) + len <= u128::from(e))
}

/// The error an access outside the backed memory must give.
fn out_of_range(r: Result<(), MemError>, pa: u64, len: u64, what: &str) {
    assert_eq!(
        r,
        Err(MemError::OutOfRange { addr: pa, len }),
        "{what} at {pa:#x}+{len:#x}"
    );
}

/// Runs `op` on `mem`, whose backed memory is `runs`, and checks the outcome.
fn check<M: AddressSpace>(mem: &M, runs: &[(u64, u64)], op: &Op) {
    let word = |pa: u64, r: Result<(), MemError>, what: &str| {
        if !pa.is_multiple_of(8) {
            assert_eq!(
                r,
                Err(MemError::Unaligned { addr: pa, align: 8 }),
                "{what} at {pa:#x}"
            );
        } else if inside(runs, pa, 8) {
            assert_eq!(r, Ok(()), "{what} at {pa:#x}");
        } else {
            out_of_range(r, pa, 8, what);
        }
    };
    match *op {
        Op::Read { pa, len } => {
            let mut buf = vec![0u8; len];
            let r = mem.read(pa, &mut buf);
            if inside(runs, pa, len as u128) {
                assert_eq!(r, Ok(()), "read at {pa:#x}+{len:#x}");
            } else {
                out_of_range(r, pa, len as u64, "read");
            }
        }
        Op::Write { pa, len, byte } => {
            let buf = vec![byte; len];
            let r = mem.write(pa, &buf);
            if inside(runs, pa, len as u128) {
                assert_eq!(r, Ok(()), "write at {pa:#x}+{len:#x}");
                let mut back = vec![!byte; len];
                mem.read(pa, &mut back).expect("read back what was written");
                assert!(back == buf, "write at {pa:#x}+{len:#x} did not land");
            } else {
                out_of_range(r, pa, len as u64, "write");
            }
        }
        Op::Load { pa } => word(pa, mem.load_u64(pa).map(|_| ()), "load"),
        Op::Store { pa, value } => {
            let r = mem.store_u64(pa, value);
            let ok = r.is_ok();
            word(pa, r, "store");
            if ok {
                assert_eq!(mem.load_u64(pa), Ok(value));
                let mut b = [0u8; 8];
                mem.read(pa, &mut b).expect("read the stored word");
                assert_eq!(u64::from_le_bytes(b), value);
            }
        }
        Op::Cmpxchg { pa, current, new } => {
            let before = mem.load_u64(pa).ok();
            let r = mem.cmpxchg_u64(pa, current, new);
            match (before, r) {
                (Some(v), Ok(Ok(got))) => {
                    assert_eq!((v, got), (current, current));
                    assert_eq!(mem.load_u64(pa), Ok(new));
                }
                (Some(v), Ok(Err(found))) => {
                    assert_ne!(v, current);
                    assert_eq!(found, v);
                    assert_eq!(mem.load_u64(pa), Ok(v));
                }
                (None, r) => word(pa, r.map(|_| ()), "cmpxchg"),
                (Some(_), Err(e)) => panic!("cmpxchg at {pa:#x} failed where load worked: {e}"),
            }
        }
        Op::Words { pa, count } => {
            let r = mem.words(pa, count);
            let len = count as u128 * 8;
            if !pa.is_multiple_of(8) {
                assert_eq!(
                    r.map(|w| w.len()),
                    Err(MemError::Unaligned { addr: pa, align: 8 }),
                    "words at {pa:#x}"
                );
            } else if inside(runs, pa, len) {
                let w = r.unwrap_or_else(|e| panic!("words at {pa:#x} x {count}: {e}"));
                assert_eq!(w.len(), count);
                if let Some(last) = w.last() {
                    // The slice is the memory at `pa`: its last word is the one at the end.
                    last.store(0x5eed_0000 ^ pa, std::sync::atomic::Ordering::Release);
                    assert_eq!(
                        mem.load_u64(pa + 8 * (count as u64 - 1)),
                        Ok(0x5eed_0000 ^ pa)
                    );
                }
            } else {
                match r {
                    Err(MemError::OutOfRange { addr, .. }) => assert_eq!(addr, pa),
                    other => panic!(
                        "words at {pa:#x} x {count:#x}: {:?}",
                        other.map(|w| w.len())
                    ),
                }
            }
        }
        Op::Fill { pa, len, byte } => {
            let r = mem.fill(pa, len, byte);
            if inside(runs, pa, u128::from(len)) {
                assert_eq!(r, Ok(()), "fill at {pa:#x}+{len:#x}");
                if len > 0 {
                    let mut b = [!byte];
                    mem.read(pa, &mut b).expect("first filled byte");
                    assert_eq!(b[0], byte);
                    mem.read(pa + len - 1, &mut b).expect("last filled byte");
                    assert_eq!(b[0], byte);
                }
            } else {
                out_of_range(r, pa, len, "fill");
            }
        }
    }
}

fn guest() -> GuestRam<GuestMemoryMmap<()>> {
    let ranges: Vec<(GuestAddress, usize)> = GUEST
        .iter()
        .map(|&(s, e)| (GuestAddress(s), (e - s) as usize))
        .collect();
    GuestRam::new(GuestMemoryMmap::<()>::from_ranges(&ranges).expect("guest memory"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn accesses_succeed_exactly_inside_backed_memory(ops in prop::collection::vec(op(), 1..16)) {
        let arena = RamArena::new(ARENA.0, ARENA.1 - ARENA.0).expect("arena");
        let guest = guest();
        for op in &ops {
            check(&arena, &[ARENA], op);
            check(&guest, &GUEST, op);
        }
    }
}

#[test]
fn word_counts_whose_length_wraps_are_refused() {
    let arena = RamArena::new(ARENA.0, ARENA.1 - ARENA.0).expect("arena");
    let guest = guest();
    for count in [
        (1usize << 61) + 1,
        (1usize << 62) + 2,
        (1usize << 63) + 3,
        usize::MAX,
    ] {
        assert!(matches!(
            arena.words(ARENA.0, count),
            Err(MemError::OutOfRange { .. })
        ));
        assert!(matches!(
            guest.words(GUEST[0].0, count),
            Err(MemError::OutOfRange { .. })
        ));
    }
}

#[test]
fn empty_accesses_need_a_backed_address() {
    let arena = RamArena::new(ARENA.0, ARENA.1 - ARENA.0).expect("arena");
    let guest = guest();
    let mut none = [0u8; 0];
    for (mem, inside, outside) in [
        (&arena as &dyn AddressSpace, ARENA.0, ARENA.1),
        (&guest as &dyn AddressSpace, GUEST[1].0, GUEST[0].1),
    ] {
        assert_eq!(mem.read(inside, &mut none), Ok(()));
        assert_eq!(mem.write(inside, &none), Ok(()));
        assert_eq!(mem.fill(inside, 0, 1), Ok(()));
        assert_eq!(mem.words(inside, 0).map(|w| w.len()), Ok(0));
        let out = Err(MemError::OutOfRange {
            addr: outside,
            len: 0,
        });
        assert_eq!(mem.read(outside, &mut none), out);
        assert_eq!(mem.write(outside, &none), out);
        assert_eq!(mem.fill(outside, 0, 1), out);
        assert_eq!(mem.words(outside, 0).map(|_| ()), out);
    }
}
