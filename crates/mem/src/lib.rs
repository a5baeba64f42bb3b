//! Physical address spaces for softiommu.
//!
//! Everything an IOMMU touches in memory — root and context tables, stream tables, page tables,
//! queues, and the data a device moves — lives in a physical address space. This crate holds:
//!
//! - [`AddressSpace`]: the one trait for reads, writes and atomic 64-bit updates, each of which
//!   returns a [`MemError`] for an address that is not backed, never a panic;
//! - [`RamArena`]: RAM as one lazily populated host reservation (64 GiB costs only what is used);
//! - [`GuestRam`]: a VMM's rust-vmm guest memory (`vm-memory`) seen as physical memory;
//! - [`HostMemory`]: this process's own memory, a physical address being a host virtual
//!   address (a user-space driver's buffers under iommufd), with a private arena for tables;
//! - [`FileMapping`]: part of a file (a memfd) mapped into this process, for DMA by offset;
//! - [`MappedSpace`]: an address space seen through a translation (a nested walk's view of
//!   its stage-1 tables through stage 2);
//! - [`DryRun`]: an address space read but never changed, its writes only recorded (what the
//!   hardware models' checking walks go through);
//! - [`PageAlloc`]: naturally aligned, zeroed blocks for table pages (4 KiB to 1 MiB) carved from
//!   a range of an address space, with one metadata word per 4 KiB page for the owner's use.
//!
//! Users are generic over `M: AddressSpace`, so on the arena an entry access compiles to a
//! bounds check and a plain load or store. [`RamArena`] and [`PageAlloc`] have examples.
//!
//! This is the lowest layer of softiommu: it depends on no other crate of the project. The
//! layers, and the rules each keeps, are in `docs/design.md` at the root of the repository.

mod alloc;
mod arena;
mod dry;
mod error;
mod filemap;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod guest;
mod host;
mod space;
mod user;
mod view;

pub use alloc::{AllocStats, PageAlloc};
pub use arena::RamArena;
pub use dry::DryRun;
pub use error::{MemError, Result};
pub use filemap::FileMapping;
pub use guest::GuestRam;
pub use host::{HOST_PAGE, HostMemory};
pub use space::AddressSpace;
pub use view::MappedSpace;
