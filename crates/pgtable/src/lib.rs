//! I/O page-table formats for softiommu.
//!
//! One walker ([`walk`]) and one table editor ([`PageTable`]) serve every format; a format is
//! a small configuration value plus pure functions over 64-bit entries (the [`Format`] trait),
//! bit-exact to the specifications:
//!
//! | format | module | levels | leaves |
//! |---|---|---|---|
//! | x86-64 paging (VT-d first stage, SVA process tables) | [`formats::x86`] | 4 or 5 | 4K, 2M, 1G |
//! | VT-d second stage | [`formats::vtd_ss`] | 3, 4 or 5 | 4K, 2M, 1G (per SSLPS) |
//! | Arm VMSAv8-64 stage 1 | [`formats::arm_s1`] | from T0SZ and granule | 4K/2M/1G, 16K/32M, 64K/512M |
//! | Arm VMSAv8-64 stage 2 | [`formats::arm_s2`] | from S2SL0, concatenated starts | as stage 1 |
//!
//! ```text
//!   PageTable<F: Format, M: AddressSpace>          walk::{translate, lookup, trace}
//!   map / unmap / read_and_clear_dirty             (hardware side: any table in memory,
//!        |  edits entries it wrote itself           full validation, faults, atomic A/D)
//!        v                                                   |
//!   PageAlloc<M>  -- table pages, per-page counts --> M: AddressSpace (RAM arena, guest RAM)
//! ```
//!
//! A [`PageTable`] maps with the largest pages that alignment allows, splits a block when part
//! of it is unmapped, and takes out tables that become empty (a single-page unmap detaches
//! the emptied tables at once and keeps them, still linked, for a map under the same leaf
//! table). A page taken out is reused only at the same place in the tree, so that a walk
//! racing with the unmap never reads entries for other addresses; it goes back to the
//! allocator when the owner says the invalidation that followed is complete
//! ([`PageTable::release_freed`]) or when the table is dropped. It refuses bad input (unaligned,
//! out of range, overlapping, nothing to unmap, no access) with a [`PgError`] and changes
//! nothing. The walk functions serve the hardware models: [`walk::translate`] checks one
//! access level by level, reports a [`WalkFault`] the model turns into its own fault record,
//! and sets Accessed/Dirty bits atomically where the format enables them.
//!
//! # Example
//!
//! An x86-64 4-level table (the VT-d first stage) in a RAM arena, mapped and looked up:
//!
//! ```
//! use std::sync::Arc;
//! use softiommu_mem::{PageAlloc, RamArena};
//! use softiommu_pgtable::formats::x86::{X86, X86Config};
//! use softiommu_pgtable::{PageTable, Prot};
//!
//! let ram = RamArena::new(0, 1 << 30)?;
//! let pages = Arc::new(PageAlloc::new(ram, 0, 16 << 20)?);
//! let mut table = PageTable::new(X86::new(X86Config::default())?, pages)?;
//!
//! table.map(0x20_0000, 0x4000_0000, 2 << 20, Prot::RW)?; // one 2 MiB page
//! table.map(0x1000, 0x5000, 4096, Prot::READ)?;           // one 4 KiB page
//!
//! let m = table.lookup(0x20_1234).expect("mapped");
//! assert_eq!((m.pa, m.size), (0x4000_0000, 2 << 20));
//! assert_eq!(table.iova_to_phys(0x1234), Some(0x5234));
//! assert_eq!(table.iova_to_phys(0x3000), None);
//!
//! assert_eq!(table.unmap(0x1000, 4096)?, 4096);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `crates/pgtable/examples/build_and_walk.rs` goes further: a level-by-level trace, the
//! hardware's checked walk, a block split by an unmap.
//!
//! How the crates fit together, and the rules they keep, is in `docs/design.md` at the root
//! of the repository.
//!
//! # Speed
//!
//! Two measures: `cargo bench -p softiommu-pgtable --bench pgtable` (criterion; the look-up
//! beside a hand-written walk over the same table, the machine's floor), and instruction
//! counts under callgrind, which do not move with the machine's load. Each operation of the
//! `instructions` bench program runs in a function of its own that callgrind counts alone:
//!
//! ```sh
//! cargo bench -p softiommu-pgtable --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*measured_*' \
//!     target/release/deps/instructions-<hash> vtd-map-2m
//! ```
//!
//! (it prints how many operations callgrind's `Collected` count covers; the operations are
//! listed in `benches/instructions.rs`). Instructions per operation, x86-64:
//!
//! | operation | Arm stage 1 | VT-d second stage |
//! |---|---|---|
//! | map of one 2 MiB block | 188 | 188 |
//! | unmap of 64 contiguous 2 MiB blocks in one call, per block (emptied tables taken out) | 18 | 18 |
//! | `iova_to_phys` at random over 256 MiB of 4 KiB pages | 122 | 125 |
//! | map + unmap of one 4 KiB page, tables freed each time / kept | 337 / 231 | 328 / 231 |
//!
//! Map and unmap include checking each table link they follow against the links the table
//! made (see [`PgError::Corrupt`]); the walk down a block map keeps the last link it found
//! good at each level with the entry's value then, so a run of block maps checks each link
//! once and after that only compares the entry with that value. An unmap of whole entries
//! of one table walks down to it without recursion and sorts the entries by their low byte
//! ([`Format::kind_bits`]): a few instructions an entry, a table among them still stopping
//! the run.
//!
//! ## One editor per table
//!
//! `map` and `unmap` take `&mut self`, so a domain keeps its table behind one lock (the
//! core's is a `parking_lot::RwLock`, written by map and unmap) and mappers of one domain
//! take turns. The bench `map_unmap_4k_pair_two_threads_locked` measures it: two threads
//! mapping and unmapping single pages in disjoint ranges of one table finish their pairs at
//! 0.93 to 1.18 times the rate of one thread alone (five runs on a 2-vCPU machine shared
//! with other work): no gain from the second thread. That is the chosen design: one map or unmap costs a few hundred instructions,
//! about what handing the lock's cache line from one core to another costs, so finer locking
//! could win little per operation, while concurrent editors would need a compare-and-swap
//! for every table they link, per-table counts kept atomically, and a rule for reusing taken
//! out tables that knows about the other editors (today a page is reused only at the place it
//! had, which assumes one editor). What runs beside an editor without any lock is the
//! hardware side: the [`walk`] functions over the table's memory.

pub mod counters;
mod dirty;
mod error;
mod format;
pub mod formats;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod geometry;
mod prot;
pub mod stale;
mod table;
pub mod tlb;
pub mod walk;

pub use dirty::DirtyBitmap;
pub use error::PgError;
pub use format::{Format, Pte};
pub use geometry::{Geometry, Level, MAX_LEVELS};
pub use prot::{Access, Perm, Prot};
pub use table::{PageTable, TableStats};
pub use walk::{FaultKind, Mapping, Translation, WalkFault};
