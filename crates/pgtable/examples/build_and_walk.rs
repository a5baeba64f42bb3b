//! Builds a VT-d second-stage page table in RAM, maps a few ranges, walks addresses through
//! it level by level, and checks what a lookup and the hardware's checked walk find.
//!
//! Run it with `cargo run --example build_and_walk -p softiommu-pgtable`.

use std::error::Error;
use std::sync::Arc;

use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::{Access, FaultKind, PageTable, PgError, Prot};

fn main() -> Result<(), Box<dyn Error>> {
    // 1 GiB of RAM at 4 GiB (host memory is taken only where written); table pages come
    // from its first 16 MiB.
    let ram = RamArena::new(4 << 30, 1 << 30)?;
    let pages = Arc::new(PageAlloc::new(ram, 4 << 30, 16 << 20)?);
    // A 4-level second stage with 2 MiB and 1 GiB pages, as most VT-d units walk it.
    let mut table = PageTable::new(VtdSs::new(VtdSsConfig::default())?, pages)?;

    // 64 KiB of 4 KiB pages, and one read-only 2 MiB block.
    table.map(0x1_0000, 0x7000_0000, 64 << 10, Prot::RW)?;
    table.map(0x20_0000, 0x8000_0000, 2 << 20, Prot::READ)?;

    println!("walk of 0x12345, root at {:#x}:", table.root());
    for step in table.trace(0x1_2345) {
        println!(
            "  level {}  entry {:#x} = {:#018x}  {}",
            step.number, step.entry_pa, step.raw, step.fields
        );
    }

    // A lookup finds the 4 KiB page, a wider address the 2 MiB block.
    let page = table.lookup(0x1_2345).ok_or("0x12345 is not mapped")?;
    assert_eq!(
        (page.iova, page.pa, page.size),
        (0x1_2000, 0x7000_2000, 4 << 10)
    );
    assert_eq!(table.iova_to_phys(0x2a_bcde), Some(0x800a_bcde));
    assert_eq!(table.lookup(0x2a_bcde).map(|m| m.size), Some(2 << 20));

    // The hardware's walk checks rights: a read of the block passes, a write faults.
    let read = table.translate(0x20_0040, Access::READ);
    assert_eq!(read.map(|t| t.pa), Ok(0x8000_0040));
    let fault = table
        .translate(0x20_0040, Access::WRITE)
        .expect_err("a write to a read-only block");
    assert_eq!(fault.kind, FaultKind::Permission);

    // Unmapping 64 KiB out of the block splits it into 4 KiB pages around the hole.
    assert_eq!(table.unmap(0x21_0000, 64 << 10)?, 64 << 10);
    assert_eq!(table.lookup(0x21_8000), None);
    assert_eq!(table.lookup(0x22_0000).map(|m| m.size), Some(4 << 10));

    // Bad input is refused and changes nothing.
    let again = table.map(0x1_0000, 0x9000_0000, 4 << 10, Prot::RW);
    assert!(
        matches!(again, Err(PgError::AlreadyMapped { .. })),
        "{again:?}"
    );
    assert_eq!(table.iova_to_phys(0x1_0000), Some(0x7000_0000));

    let stats = table.stats();
    println!(
        "{} table pages; leaves by size: {:?}",
        stats.tables, stats.pages
    );
    assert_eq!(
        stats.pages,
        vec![(1 << 30, 0), (2 << 20, 0), (4 << 10, 16 + 496)]
    );
    Ok(())
}
