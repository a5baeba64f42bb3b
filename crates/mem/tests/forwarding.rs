//! Every address space answers each access the same whether it is used itself, through a
//! reference, an `Arc` or a `Box`: same results, same memory afterwards, same writes recorded
//! by a dry run.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use softiommu_mem::{AddressSpace, DryRun, GuestRam, MappedSpace, MemError, RamArena};
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// RAM: four pages from here.
const BASE: u64 = 0x1_0000;
const SIZE: u64 = 0x4000;

#[derive(Debug, Clone)]
enum Op {
    Words { pa: u64, count: usize },
    Read { pa: u64, len: usize },
    Write { pa: u64, len: usize, byte: u8 },
    Fill { pa: u64, len: u64, byte: u8 },
    Copy { src: u64, dst: u64, len: u64 },
    Load { pa: u64 },
    Store { pa: u64, value: u64 },
    Cmpxchg { pa: u64, current: u64, new: u64 },
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => (0u64..SIZE / 8).prop_map(|w| BASE + 8 * w),
        1 => BASE - 16..BASE + SIZE + 16,
        1 => any::<u64>(),
    ]
}

/// Values: mostly those already in memory (0, and what the ops write), so that exchanges
/// succeed as well as fail.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(0x5555), any::<u64>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (addr(), 0usize..4).prop_map(|(pa, count)| Op::Words { pa, count }),
        (addr(), 0usize..24).prop_map(|(pa, len)| Op::Read { pa, len }),
        (addr(), 0usize..24, any::<u8>()).prop_map(|(pa, len, byte)| Op::Write { pa, len, byte }),
        (addr(), 0u64..0x2000, any::<u8>()).prop_map(|(pa, len, byte)| Op::Fill { pa, len, byte }),
        (addr(), addr(), 0u64..0x2000).prop_map(|(src, dst, len)| Op::Copy { src, dst, len }),
        addr().prop_map(|pa| Op::Load { pa }),
        (addr(), value()).prop_map(|(pa, value)| Op::Store { pa, value }),
        (addr(), value(), value()).prop_map(|(pa, current, new)| Op::Cmpxchg { pa, current, new }),
    ]
}

/// What each op answered, in order.
fn run<S: AddressSpace + ?Sized>(s: &S, ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match *op {
            // Host addresses differ between memories: only the words' number is compared.
            Op::Words { pa, count } => format!("{:?}", s.words(pa, count).map(|w| w.len())),
            Op::Read { pa, len } => {
                let mut b = vec![0u8; len];
                format!("{:?}", s.read(pa, &mut b).map(|()| b))
            }
            Op::Write { pa, len, byte } => format!("{:?}", s.write(pa, &vec![byte; len])),
            Op::Fill { pa, len, byte } => format!("{:?}", s.fill(pa, len, byte)),
            Op::Copy { src, dst, len } => format!("{:?}", s.copy(src, dst, len)),
            Op::Load { pa } => format!("{:?}", s.load_u64(pa)),
            Op::Store { pa, value } => format!("{:?}", s.store_u64(pa, value)),
            Op::Cmpxchg { pa, current, new } => format!("{:?}", s.cmpxchg_u64(pa, current, new)),
        })
        .collect()
}

/// The RAM's bytes.
fn snapshot(mem: &dyn AddressSpace) -> Vec<u8> {
    let mut b = vec![0u8; SIZE as usize];
    mem.read(BASE, &mut b).unwrap();
    b
}

fn arena() -> RamArena {
    RamArena::new(BASE, SIZE).unwrap()
}

fn guest() -> GuestRam<GuestMemoryMmap<()>> {
    GuestRam::new(
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(BASE), SIZE as usize)]).unwrap(),
    )
}

/// A view that shows the RAM shifted by one page and refuses writes to its second page.
fn view(
    mem: &RamArena,
) -> MappedSpace<'_, RamArena, impl Fn(u64, u64, bool) -> Result<u64, MemError> + Send + Sync> {
    MappedSpace::new(mem, |a: u64, len: u64, write: bool| {
        let off = a.wrapping_sub(BASE);
        let page = off >> 12;
        if page >= 3 || (off & 0xfff) + len > 0x1000 || (write && page == 1) {
            return Err(MemError::OutOfRange { addr: a, len });
        }
        Ok(a + 0x1000)
    })
}

/// The answers of `ops` on a fresh backend used directly, through `&`, `Arc` and `Box`, each
/// with what the backend tells besides (`extra`) and the RAM's bytes afterwards (`ram`).
/// `$make` builds the backend from `$mem`, a fresh arena.
macro_rules! through_every_pointer {
    ($ops:expr, |$mem:ident| $make:expr, |$s:ident| $extra:expr, |$r:ident| $ram:expr) => {{
        let ops: &[Op] = $ops;
        let direct = {
            let $mem = arena();
            let $s = $make;
            let a = run(&$s, ops);
            let $r = &$s;
            (a, $extra, $ram)
        };
        let by_ref = {
            let $mem = arena();
            let $s = $make;
            let a = run::<&_>(&&$s, ops);
            let $r = &$s;
            (a, $extra, $ram)
        };
        let by_arc = {
            let $mem = arena();
            let $s = Arc::new($make);
            let a = run::<Arc<_>>(&$s, ops);
            let $r = &*$s;
            (a, $extra, $ram)
        };
        let by_box = {
            let $mem = arena();
            let $s = Box::new($make);
            let a = run::<Box<_>>(&$s, ops);
            let $r = &*$s;
            (a, $extra, $ram)
        };
        prop_assert_eq!(&by_ref, &direct, "&T");
        prop_assert_eq!(&by_arc, &direct, "Arc<T>");
        prop_assert_eq!(&by_box, &direct, "Box<T>");
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_method_answers_the_same_through_every_pointer(
        ops in prop::collection::vec(op(), 1..40),
    ) {
        through_every_pointer!(&ops, |mem| mem, |_s| (), |r| snapshot(r));
        through_every_pointer!(&ops, |_mem| guest(), |_s| (), |r| snapshot(r));
        through_every_pointer!(
            &ops,
            |mem| DryRun::new(&mem),
            |s| s.wrote(),
            |_r| snapshot(&mem)
        );
        through_every_pointer!(&ops, |mem| view(&mem), |_s| (), |_r| snapshot(&mem));
    }
}
