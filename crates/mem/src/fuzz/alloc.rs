//! Table-page allocation and release of any size, checked against the blocks handed out.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use arbitrary::{Result, Unstructured};

use crate::{AddressSpace, MemError, PageAlloc, RamArena};

/// Allocations and frees the bytes describe on an allocator over part of an arena: every
/// block must be naturally aligned, inside the range, zeroed and apart from every other live
/// block; a free must succeed exactly for a live block with its size; the counters must match.
pub(super) fn alloc(u: &mut Unstructured<'_>) -> Result<()> {
    let base = u64::from(u.int_in_range(0u16..=1024)?) << 12;
    let size = u64::from(u.int_in_range(1u16..=1024)?) << 12;
    let Ok(mem) = RamArena::new(0, 8 << 20) else {
        return Ok(());
    };
    let Ok(pages) = PageAlloc::new(&mem, base, size) else {
        assert!(
            base + size > 8 << 20,
            "allocator over {base:#x}+{size:#x} refused"
        );
        return Ok(());
    };
    let mut live: BTreeMap<u64, u64> = BTreeMap::new();
    while !u.is_empty() {
        let order = u.int_in_range(0u32..=9)?;
        let bytes = 4096u64 << order;
        if u.ratio(3u8, 5u8)? {
            match pages.alloc(bytes) {
                Ok(pa) => {
                    assert!(order <= 8, "a block of {bytes:#x}");
                    assert_eq!(pa % bytes, 0, "block {pa:#x} of {bytes:#x} unaligned");
                    assert!(
                        pa >= base && pa + bytes <= base + size,
                        "block {pa:#x} outside"
                    );
                    let clash = live.range(..pa + bytes).next_back();
                    assert!(
                        clash.is_none_or(|(&at, &n)| at + n <= pa),
                        "block {pa:#x} overlaps {clash:?}"
                    );
                    let mut b = vec![1u8; bytes as usize];
                    assert_eq!(mem.read(pa, &mut b), Ok(()));
                    assert!(b.iter().all(|&x| x == 0), "block {pa:#x} not zeroed");
                    assert_eq!(pages.meta(pa).map(|m| m.load(Relaxed)), Some(0));
                    // Scribble over it so that a later block shows whether it was zeroed.
                    let _ = mem.fill(pa, bytes, 0xee);
                    if let Some(m) = pages.meta(pa) {
                        m.store(7, Relaxed);
                    }
                    live.insert(pa, bytes);
                }
                Err(MemError::BadSize { .. }) => assert!(order > 8),
                Err(MemError::Exhausted { .. }) => {
                    let used: u64 = live.values().sum();
                    assert!(used + bytes > size || bytes > 4096, "exhausted with room");
                }
                Err(e) => panic!("alloc {bytes:#x}: {e}"),
            }
        } else {
            let pa = match live.keys().nth(usize::from(u.arbitrary::<u8>()?)) {
                Some(&pa) if u.ratio(3u8, 4u8)? => pa,
                _ => base.wrapping_add(u64::from(u.arbitrary::<u16>()?) << 12),
            };
            let got = pages.free(pa, bytes);
            if live.get(&pa) == Some(&bytes) {
                assert_eq!(got, Ok(()), "free live {pa:#x}+{bytes:#x}");
                live.remove(&pa);
            } else {
                assert!(got.is_err(), "free of {pa:#x}+{bytes:#x} accepted");
            }
        }
        let st = pages.stats();
        assert_eq!(st.allocated, live.values().sum::<u64>(), "bytes allocated");
        assert_eq!(st.blocks, live.len() as u64, "blocks allocated");
    }
    Ok(())
}
