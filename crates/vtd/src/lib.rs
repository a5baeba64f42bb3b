//! Intel VT-d in scalable mode, as hardware: registers, in-memory structures walked from
//! physical memory, caches, queues and faults, bit-exact to the specification (rev 5.x,
//! accepting what rev 3.x drivers still write); and the driver that programs it for the
//! softiommu core.
//!
//! The hardware side never calls the core; the driver module is the only code that knows
//! both.
//!
//! What is here:
//!
//! - [`structs`]: root, scalable-mode context, PASID-directory and PASID-table entries, each
//!   a `bitfield-struct` type with a `check` that returns the fault reason the specification
//!   gives a malformed entry; [`desc`]: the 256-bit invalidation descriptors, the page
//!   request and page group response, decoded with the queue error (IQEI) a bad one raises;
//!   [`fault`]: every fault reason with its code, name, condition and qualification (the
//!   table of triggers and codes is there).
//! - [`regs`]: the register file — VER/CAP/ECAP from [`regs::VtdParams`], GCMD/GSTS with
//!   their command flows, RTADDR, fault status and recording (spec 7.2.1), the invalidation
//!   and page request queue registers, virtual commands — with MMIO reads and writes that
//!   return the actions the unit must take, and the event/interrupt rules.
//! - [`model`]: the translation engine: root → context → PASID directory → PASID entry, then
//!   first stage (x86-64 4/5-level), second stage, nested (every first-stage table access and
//!   the output through the second stage) or pass-through; context cache, PASID cache and
//!   IOTLB that keep entries until invalidated, with the invalidation reach of the
//!   specification (an IOTLB entry covers the page the walk found, 4 KiB, 2 MiB or 1 GiB,
//!   and any page-selective invalidation that overlaps it removes it); a checking mode that compares every IOTLB hit with a fresh walk (one
//!   that sets no Accessed/Dirty flag) and reports the missing invalidation, a flag cleared
//!   without one included.
//!   [`model::VtdUnit`] puts it behind the register file as one unit: MMIO accesses with
//!   their actions carried out, the invalidation queue drained from memory, faults recorded,
//!   page requests checked against the requester's entries and queued after the implicit
//!   IOTLB invalidation, virtual commands answered, and its work counted
//!   ([`model::UnitStats`]: IOTLB hits and walks per thread behind a switch, invalidation
//!   descriptors by type).
//! - [`driver`]: the OS side — [`driver::VtdDriver`] implements the core's `IommuDriver` by
//!   writing only registers (through MMIO) and memory, as Linux's intel-iommu does: bring-up
//!   (root table, 256-bit invalidation queue of Linux's size, page request queue, TE),
//!   context entries and PASID directories per device (page requests enabled while an SVA
//!   domain is attached), domain IDs (a typed refusal when they run out), PASID-table entries
//!   for blocked/identity/paging (second or first stage, with SSADE for dirty tracking)/SVA/
//!   nested targets with Linux's PWSNP and AW and the invalidation sequences of spec
//!   Table 28, page-selective flushes (IOTLB ones with the drain bits the unit reports), a
//!   new mapping invalidated in caching mode only, recovery from invalidation queue errors,
//!   page requests drained from the queue and handed to the core, a PASID's page requests
//!   drained before it is reused, page group responses, and DMA answered by the unit.
//!
//! The three caches are made of `softiommu_pgtable::tlb::Tlb` (a hit takes no lock and
//! allocates nothing), and the checking mode keeps its reports in a
//! `softiommu_pgtable::stale::StaleLog`, both shared with the SMMUv3 model.
//!
//! # Bring-up
//!
//! A unit in its reset state, brought up by the driver through its registers and put under
//! the core as one instance:
//!
//! ```
//! use std::sync::Arc;
//! use softiommu_core::{Family, Iommu, Mem, TableAlloc};
//! use softiommu_mem::{PageAlloc, RamArena};
//! use softiommu_vtd::driver::VtdDriver;
//! use softiommu_vtd::model::VtdUnit;
//! use softiommu_vtd::regs::{GSTS_REG, Gsts, VtdParams};
//!
//! let ram: Mem = Arc::new(RamArena::new(0, 64 << 20)?);
//! let tables: TableAlloc = Arc::new(PageAlloc::new(ram.clone(), 8 << 20, 56 << 20)?);
//! let unit = Arc::new(VtdUnit::new(
//!     VtdParams::default(),
//!     ram.clone(),
//!     Arc::new(|_, _, _| {}), // interrupts
//!     Arc::new(|_| {}),       // messages to devices: ATC invalidations, page responses
//! )?);
//! assert!(!Gsts::from_bits(unit.mmio_read(GSTS_REG, 4) as u32).te());
//!
//! let driver = Arc::new(VtdDriver::new(unit.clone(), ram.clone(), tables.clone())?);
//! assert!(Gsts::from_bits(unit.mmio_read(GSTS_REG, 4) as u32).te(), "translation enabled");
//!
//! let iommu = Iommu::new(ram, tables);
//! let instance = iommu.add_instance(driver);
//! assert_eq!(iommu.family(instance)?, Family::Vtd);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `crates/vtd/examples/vtd_dma.rs` goes on from there: a device, a paging domain, and its
//! DMA translated by the unit. The crate's place among the others, and the behaviours its
//! driver is tested for (`tests/behaviours.rs`), are in `docs/design.md` at the root of the
//! repository.

pub mod desc;
pub mod driver;
pub mod fault;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
#[cfg(feature = "testing")]
pub mod harness;
pub mod model;
pub mod regs;
pub mod structs;
