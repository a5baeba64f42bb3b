//! Snapshots of a table's pages, counts and allocation, and how they may differ across a
//! refused operation.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snap {
    /// Every table page reachable from the root: its level and its bytes.
    tables: BTreeMap<u64, (usize, Vec<u8>)>,
    stats: TableStats,
    allocated: u64,
}

/// Walks the tables from the root and reads each one whole; checks on the way that every entry
/// decodes, that each table is linked once, that each table's count of valid entries is right
/// and that `stats()` counts what the walk finds.
pub(crate) fn snap<F: Format>(t: &Table<F>) -> Snap {
    let fmt = t.format();
    let geo = fmt.geometry();
    let depth = geo.depth();
    let mut tables = BTreeMap::new();
    let mut leaves = vec![0u64; depth];
    let mut todo = vec![(t.root(), 0usize)];
    while let Some((pa, level)) = todo.pop() {
        let mut buf = vec![0u8; geo.table_bytes(level) as usize];
        t.mem()
            .read(pa, &mut buf)
            .unwrap_or_else(|e| panic!("table {pa:#x} at level {level}: {e}"));
        let entries = geo.levels()[level].entries();
        let mut valid = 0u32;
        // Runs of empty entries are skipped a block at a time (memcmp), so that large tables
        // cost little in debug builds.
        const RUN: usize = 64;
        const ZERO: [u8; RUN * 8] = [0; RUN * 8];
        for (c, chunk) in buf[..entries * 8].chunks(RUN * 8).enumerate() {
            if chunk == &ZERO[..chunk.len()] {
                continue;
            }
            for (j, raw) in chunk.chunks_exact(8).enumerate() {
                let k = c * RUN + j;
                let pte = u64::from_le_bytes(raw.try_into().expect("8 bytes"));
                if pte == 0 {
                    continue; // not present in any format
                }
                let decoded = fmt.decode(pte, level);
                let next = match decoded {
                    Pte::Invalid => None,
                    Pte::Reserved => panic!("table {pa:#x} entry {k}: reserved {pte:#x}"),
                    Pte::Table { next, .. } => {
                        assert!(
                            level + 1 < depth,
                            "table {pa:#x} entry {k}: table at the last level"
                        );
                        todo.push((next, level + 1));
                        Some(next)
                    }
                    Pte::Leaf { .. } => {
                        assert!(
                            geo.levels()[level].leaf,
                            "table {pa:#x} entry {k}: leaf where none may be"
                        );
                        leaves[level] += 1;
                        None
                    }
                };
                assert_eq!(
                    fmt.next_table(pte, level),
                    next,
                    "table {pa:#x} entry {k}: {pte:#x}"
                );
                assert_eq!(fmt.is_valid(pte), decoded != Pte::Invalid);
                valid += u32::from(decoded != Pte::Invalid);
            }
        }
        assert!(
            buf[entries * 8..]
                .chunks(RUN * 8)
                .all(|c| c == &ZERO[..c.len()]),
            "table {pa:#x}: bytes past its entries"
        );
        let count = t
            .allocator()
            .meta(pa)
            .unwrap_or_else(|| panic!("table {pa:#x} is not from the allocator"))
            .load(Ordering::Relaxed);
        assert_eq!(count, valid, "count of valid entries of table {pa:#x}");
        assert!(
            tables.insert(pa, (level, buf)).is_none(),
            "table {pa:#x} is linked twice"
        );
    }
    let stats = t.stats();
    assert_eq!(stats.tables, tables.len() as u64, "tables counted");
    let pages: Vec<(u64, u64)> = geo
        .levels()
        .iter()
        .zip(&leaves)
        .filter(|(l, _)| l.leaf)
        .map(|(l, &n)| (l.span(), n))
        .collect();
    assert_eq!(stats.pages, pages, "leaves counted");
    Snap {
        tables,
        stats,
        // Pages of tables taken out wait in the table until `release_freed`: they count as
        // given back.
        allocated: t.allocator().stats().allocated
            - t.freed_pages() as u64 * t.format().geometry().granule(),
    }
}

/// How `allocated` may differ across a refused operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alloc {
    /// Not at all.
    Exact,
    /// By table pages kept cached for reuse: up to the cache's size.
    Cached,
}

pub(crate) fn assert_unchanged(
    before: &Snap,
    after: &Snap,
    alloc: Alloc,
    granule: u64,
    what: &str,
) {
    if before.tables != after.tables {
        let b: Vec<_> = before.tables.keys().collect();
        let a: Vec<_> = after.tables.keys().collect();
        if a != b {
            panic!("{what}: tables {b:x?} became {a:x?}");
        }
        for (pa, (level, bytes)) in &before.tables {
            let now = &after.tables[pa].1;
            if let Some(i) = (0..bytes.len())
                .step_by(8)
                .find(|&i| bytes[i..i + 8] != now[i..i + 8])
            {
                let word = |v: &[u8]| u64::from_le_bytes(v[i..i + 8].try_into().expect("8"));
                panic!(
                    "{what}: level-{level} table {pa:#x} entry {}: {:#x} became {:#x}",
                    i / 8,
                    word(bytes),
                    word(now)
                );
            }
        }
    }
    assert_eq!(before.stats, after.stats, "{what}: stats");
    match alloc {
        Alloc::Exact => assert_eq!(before.allocated, after.allocated, "{what}: allocated"),
        Alloc::Cached => assert!(
            after.allocated <= before.allocated + CACHE_PAGES * granule,
            "{what}: allocated {:#x} -> {:#x}",
            before.allocated,
            after.allocated
        ),
    }
}
