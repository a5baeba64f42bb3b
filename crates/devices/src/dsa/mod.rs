//! A copy engine with Intel DSA's programming model.
//!
//! BAR 0 holds the register file ([`regs`]): capabilities, configuration, commands, SWERR and
//! the GRPCFG and WQCFG tables; BAR 2 holds four 4 KiB portals per work queue, to which
//! software writes 64-byte [`Descriptor`]s (MOVDIR64B to a dedicated WQ, ENQCMD(S) to a shared
//! one). The engine fetches and moves data through a [`DmaPort`], writes 32-byte
//! [`CompletionRecord`]s, records what it cannot report there in SWERR, and raises MSI-X
//! vectors through a callback.

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
pub use dma::{BusPort, DmaFault, DmaPort, DmaReq, crc32c};
pub use engines::Engines;
pub use function::{BAR0_SIZE, CLASS_CODE, DsaFunction, MSIX_PBA, MSIX_TABLE};
pub use fuzz::fuzz_engine;
pub use pri::DEFAULT_PAGE_RESPONSE_TIMEOUT;
pub use wq::{Enqcmd, Submit};
