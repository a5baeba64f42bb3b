//! The unit's MMIO registers (rev 5.10, chapter 11): their layouts, the capabilities an
//! instance reports, and the register file the model sits behind.
//!
//! The register file decodes software's accesses and keeps the registers' state; what an
//! access sets in motion (latching a root table, enabling translation or the invalidation
//! queue, a new queue tail, a virtual command) comes back as [`Action`]s for the model to
//! carry out. The model in turn reports faults, queue errors and completions through the
//! register file's methods, which raise interrupts through the embedder's
//! [`InterruptSink`].
//!
//! Register set (one 4 KiB page, [`REG_SET_SIZE`]); the IOTLB and fault recording registers
//! sit where CAP.FRO and ECAP.IRO point, in the range A.1 leaves free:
//!
//! | offset | registers |
//! |---|---|
//! | 000h–0ECh | the architectural registers (VER … PEUADDR) |
//! | 500h, 508h | IVA_REG, IOTLB_REG (ECAP.IRO = 50h) |
//! | 600h + 16·n | FRCD_REG\[n\], n < CAP.NFR + 1 ≤ [`MAX_FAULT_RECORDS`] (CAP.FRO = 60h) |
//! | E00h–E30h | VCMD, VCMD_EO, VCRSP, VCCAP (with ECAP.VCS) |

mod cap;
mod event;
mod file;
mod frcd;
mod layout;
mod queue;

#[cfg(test)]
mod tests;

pub use cap::{Cap, Ecap, MAMV, MHMV, ParamsError, VERSION, Ver, VtdParams};
pub use event::{Event, InterruptSink};
pub use file::{Action, RegisterFile};
pub use frcd::{AddressType, FaultRecord, Frcd, RequestKind};
pub use layout::{
    Ccmd, EventAddr, EventCtl, EventData, Fsts, Gcmd, Gsts, IotlbReg, Iva, RtAddr, Ttm,
};
pub use queue::{Ics, Iqa, Iqei, Iqercd, Iqh, Iqt, Irta, Pqa, Pqh, Pqt, Prs, Vccap, Vcmd, Vcrsp};

/// Version (32-bit, read-only).
pub const VER_REG: u64 = 0x000;
/// Capabilities (64-bit, read-only).
pub const CAP_REG: u64 = 0x008;
/// Extended capabilities (64-bit, read-only).
pub const ECAP_REG: u64 = 0x010;
/// Global command (32-bit, write-only).
pub const GCMD_REG: u64 = 0x018;
/// Global status (32-bit, read-only).
pub const GSTS_REG: u64 = 0x01c;
/// Root table address (64-bit).
pub const RTADDR_REG: u64 = 0x020;
/// Context command (64-bit; legacy mode only).
pub const CCMD_REG: u64 = 0x028;
/// Fault status (32-bit).
pub const FSTS_REG: u64 = 0x034;
/// Fault event control (32-bit).
pub const FECTL_REG: u64 = 0x038;
/// Fault event data (32-bit).
pub const FEDATA_REG: u64 = 0x03c;
/// Fault event address (32-bit).
pub const FEADDR_REG: u64 = 0x040;
/// Fault event upper address (32-bit).
pub const FEUADDR_REG: u64 = 0x044;
/// Invalidation queue head (64-bit, read-only; with ECAP.QI).
pub const IQH_REG: u64 = 0x080;
/// Invalidation queue tail (64-bit; with ECAP.QI).
pub const IQT_REG: u64 = 0x088;
/// Invalidation queue address (64-bit; with ECAP.QI).
pub const IQA_REG: u64 = 0x090;
/// Invalidation completion status (32-bit; with ECAP.QI).
pub const ICS_REG: u64 = 0x09c;
/// Invalidation event control (32-bit; with ECAP.QI).
pub const IECTL_REG: u64 = 0x0a0;
/// Invalidation event data (32-bit; with ECAP.QI).
pub const IEDATA_REG: u64 = 0x0a4;
/// Invalidation event address (32-bit; with ECAP.QI).
pub const IEADDR_REG: u64 = 0x0a8;
/// Invalidation event upper address (32-bit; with ECAP.QI).
pub const IEUADDR_REG: u64 = 0x0ac;
/// Invalidation queue error record (64-bit, read-only; with ECAP.QI).
pub const IQERCD_REG: u64 = 0x0b0;
/// Interrupt-remapping table address (64-bit; with ECAP.IR).
pub const IRTA_REG: u64 = 0x0b8;
/// Page request queue head (64-bit; with ECAP.PRS).
pub const PQH_REG: u64 = 0x0c0;
/// Page request queue tail (64-bit; with ECAP.PRS).
pub const PQT_REG: u64 = 0x0c8;
/// Page request queue address (64-bit; with ECAP.PRS).
pub const PQA_REG: u64 = 0x0d0;
/// Page request status (32-bit; with ECAP.PRS).
pub const PRS_REG: u64 = 0x0dc;
/// Page request event control (32-bit; with ECAP.PRS).
pub const PECTL_REG: u64 = 0x0e0;
/// Page request event data (32-bit; with ECAP.PRS).
pub const PEDATA_REG: u64 = 0x0e4;
/// Page request event address (32-bit; with ECAP.PRS).
pub const PEADDR_REG: u64 = 0x0e8;
/// Page request event upper address (32-bit; with ECAP.PRS).
pub const PEUADDR_REG: u64 = 0x0ec;
/// Invalidate address (64-bit, write-only), at ECAP.IRO×16.
pub const IVA_REG: u64 = 0x500;
/// IOTLB invalidate (64-bit; legacy mode only), at ECAP.IRO×16 + 8.
pub const IOTLB_REG: u64 = IVA_REG + 8;
/// The first fault recording register (128-bit each), at CAP.FRO×16.
pub const FRCD_REG: u64 = 0x600;
/// Size of one fault recording register.
pub const FRCD_SIZE: u64 = 16;
/// Most fault recording registers an instance may have: they fill 600h–9FFh.
pub const MAX_FAULT_RECORDS: u16 = 64;
/// Virtual command (64-bit; with ECAP.VCS).
pub const VCMD_REG: u64 = 0xe00;
/// Virtual command operand B (64-bit; with ECAP.VCS).
pub const VCMD_EO_REG: u64 = 0xe08;
/// Virtual command response (64-bit, read-only; with ECAP.VCS).
pub const VCRSP_REG: u64 = 0xe10;
/// Virtual command capability (64-bit, read-only; with ECAP.VCS).
pub const VCCAP_REG: u64 = 0xe30;
/// Size of the register set.
pub const REG_SET_SIZE: u64 = 0x1000;

/// Virtual command: null.
pub const VCMD_NULL: u8 = 0;
/// Virtual command: allocate a PASID (returned in VCRSP.RSLT).
pub const VCMD_ALLOC_PASID: u8 = 1;
/// Virtual command: free the PASID in VCMD.OA.
pub const VCMD_FREE_PASID: u8 = 2;
/// Virtual command status: success.
pub const VCMD_SC_SUCCESS: u8 = 0;
/// Virtual command status: undefined command.
pub const VCMD_SC_UNDEFINED: u8 = 1;
/// Virtual command status of Allocate PASID: no PASID available.
pub const VCMD_SC_NO_PASID: u8 = 16;
/// Virtual command status of Free PASID: invalid PASID.
pub const VCMD_SC_INVALID_PASID: u8 = 16;
