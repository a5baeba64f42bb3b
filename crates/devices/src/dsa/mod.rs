//! A copy engine with Intel DSA's programming model.
//!
//! BAR 0 holds the register file ([`regs`]): capabilities, configuration, commands, SWERR and
//! the GRPCFG and WQCFG tables; BAR 2 holds four 4 KiB portals per work queue, to which
//! software writes 64-byte [`Descriptor`]s (MOVDIR64B to a dedicated WQ, ENQCMD(S) to a shared
//! one). The engine fetches and moves data through a [`DmaPort`], writes 32-byte
//! [`CompletionRecord`]s, records what it cannot report there in SWERR, and raises MSI-X
//! vectors through a callback.
//!
//! # ATS
//!
//! [`BusPort`], the engine's path onto the bus, is also the function's [`Endpoint`]. While
//! the ATS capability is enabled ([`BusPort::set_ats`]; [`DsaFunction`] follows configuration
//! space) and the WQ's ATS-disable bit is clear, every access goes through an address
//! translation cache keyed by PASID and 4 KiB page: a miss sends an ATS translation request
//! ([`Upstream::ats_translate`]), and the access leaves as a translated request (without a
//! PASID prefix, which PCIe does not put on translated requests), which the IOMMU does not
//! translate again. A completion marked untranslated-only, or an Unsupported
//! Request answer, sends that access untranslated instead. [`Endpoint::invalidate_atc`]
//! removes the entries in the invalidation's range and PASID scope and returns only once
//! every access that was using one of them has finished; a fill whose translation request
//! was in flight during an invalidation is not cached. So no access that starts after an
//! invalidation completed uses a translation it removed.
//!
//! # PRI
//!
//! With block on fault set in the WQ and in the descriptor, a recoverable fault (a
//! translation completion without the needed right, or an untranslated request refused as
//! Unsupported Request) sends a page request (last in its group) when PRI is enabled
//! ([`BusPort::set_pri`]), its group index within the Outstanding Page Request Allocation, and
//! the WQ's PRS-disable bit is clear. The engine waits for the page group response
//! ([`Endpoint::page_response`]), which the IOMMU may deliver from within
//! [`Upstream::page_request`] or later from any thread, for at most
//! [`BusPort::set_page_response_timeout`] (default [`DEFAULT_PAGE_RESPONSE_TIMEOUT`]). Success
//! retries the access; Invalid Request, Response Failure (after which no page requests are
//! sent until software clears the status bit), no response in time, or no free group index
//! in time end the descriptor with the page-fault completion record (bytes completed, fault
//! address). A group that timed out keeps its index until its response arrives.
//!
//! [`Upstream::ats_translate`]: crate::bus::Upstream::ats_translate
//! [`Upstream::page_request`]: crate::bus::Upstream::page_request
//! [`Endpoint`]: crate::bus::Endpoint
//! [`Endpoint::invalidate_atc`]: crate::bus::Endpoint::invalidate_atc
//! [`Endpoint::page_response`]: crate::bus::Endpoint::page_response

mod atc;
mod cmd;
pub mod desc;
mod device;
pub mod dma;
mod engines;
mod exec;
mod function;
mod fuzz;
mod pri;
pub mod regs;
pub mod wq;

pub use desc::{CompletionRecord, DescFlags, DescHeader, Descriptor, Opcode, Status};
pub use device::{DEVICE_ID, Dsa, DsaConfig, ExecMode, IrqFn, VENDOR_ID};
pub use dma::{Bounce, BusPort, CopyFault, DmaFault, DmaPort, DmaReq, crc32c};
pub use engines::Engines;
pub use function::{BAR0_SIZE, CLASS_CODE, DsaFunction, MSIX_PBA, MSIX_TABLE};
pub use fuzz::fuzz_engine;
pub use pri::DEFAULT_PAGE_RESPONSE_TIMEOUT;
pub use wq::{Enqcmd, Submit};
