//! Hardware walks over table memory written from the fuzzer's bytes.

use arbitrary::{Result, Unstructured};
use softiommu_mem::{AddressSpace, DryRun, RamArena};

use crate::format::{Format, Pte};
use crate::walk::{self, FaultKind};

/// Bytes of table memory, `[0, ARENA)`; entries may point anywhere, in it or not.
const ARENA: u64 = 1 << 20;

/// Walks a table the bytes write: a format, then entries stored at chosen addresses and walks
/// for chosen addresses and accesses, in any order. Every walk must end in a translation or a
/// fault (never a panic), agree with the software look-up, stay within the output width, and
/// write nothing when made through a [`DryRun`].
pub fn walk(data: &[u8]) {
    let _ = run(&mut Unstructured::new(data));
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let Some(fmt) = super::format(u)? else {
        return Ok(());
    };
    let Ok(mem) = RamArena::new(0, ARENA) else {
        return Ok(());
    };
    let root = u64::from(u.int_in_range(0u16..=(ARENA >> 12) as u16)?) << 12;
    let oa_limit = 1u64 << fmt.geometry().oa_bits();
    while !u.is_empty() {
        if u.ratio(2u8, 3u8)? {
            let at = u64::from(u.int_in_range(0u32..=(ARENA / 8) as u32)?) * 8;
            let value: u64 = u.arbitrary()?;
            // The last word may be just past the arena: that store must fail, not panic.
            let _ = mem.store_u64(at, value);
            continue;
        }
        let iova: u64 = u.arbitrary()?;
        let access = super::access(u)?;
        check_one(&fmt, &mem, root, iova, access, oa_limit);
    }
    Ok(())
}

/// One walk for `iova`, checked against the look-up, the trace and a dry run.
fn check_one<F: Format>(
    fmt: &F,
    mem: &RamArena,
    root: u64,
    iova: u64,
    access: crate::Access,
    oa_limit: u64,
) {
    let dry = DryRun::new(mem);
    let before = mem.load_u64(root).ok();
    let dry_result = walk::translate(fmt, &dry, root, iova, access);
    assert_eq!(mem.load_u64(root).ok(), before, "a dry walk wrote the root");
    let result = walk::translate(fmt, mem, root, iova, access);
    match (&dry_result, &result) {
        (Ok(d), Ok(t)) => assert_eq!((d.pa, d.level), (t.pa, t.level), "dry and real walks"),
        (Err(d), Err(t)) => assert_eq!(d.kind, t.kind, "dry and real faults"),
        (d, t) => panic!("dry walk {d:?}, real walk {t:?}"),
    }
    let looked = walk::iova_to_phys(fmt, mem, root, iova);
    let steps = walk::trace(fmt, mem, root, iova);
    match result {
        Ok(t) => {
            assert!(t.pa < oa_limit, "output {:#x} beyond the width", t.pa);
            assert_eq!(looked, Some(t.pa), "look-up of a translated {iova:#x}");
            assert!(t.page_size.is_power_of_two());
            let last = steps.last().expect("a translated walk has steps");
            assert!(
                matches!(last.pte, Pte::Leaf { .. }),
                "trace of {iova:#x} ends at {:?}",
                last.pte
            );
            assert_eq!(last.level, t.level);
        }
        Err(f) => {
            if f.kind == FaultKind::Input {
                assert_eq!(looked, None, "look-up of an out-of-range {iova:#x}");
                assert!(steps.is_empty());
            }
            assert!(f.level < fmt.geometry().depth().max(1));
        }
    }
}
