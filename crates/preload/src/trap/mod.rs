//! MMIO trap-and-emulate: ranges of this process's address space that stand for a device's
//! registers. Each range ([a trapped window](register)) is mapped inaccessible; a load or
//! store the program makes there faults, and the `SIGSEGV` handler decodes the instruction,
//! performs the access on the window's [`MmioHandler`], writes the result into the
//! interrupted thread's registers and steps past the instruction.
//!
//! What is emulated: `mov` loads and stores of 1, 2, 4 and 8 bytes (register and immediate
//! sources, `movzx`/`movsx`/`movsxd` loads, the accumulator's absolute-address forms) and
//! `movdiri`; `movdir64b`, `enqcmd` and `enqcmds` whose destination is a window, as one
//! 64-byte store to a work-queue portal, `enqcmd`'s status in ZF. On a processor without
//! `movdir64b`/`movdiri`/`enqcmd` those instructions raise `SIGILL`, which is served the same
//! way when their destination is a window.
//!
//! Every other fault or illegal instruction goes on to the handler that was installed before
//! (or the default action), so the program's own fault handling, and that of any runtime
//! that recovers from faults, is unchanged whichever was installed first. An instruction on a
//! window that cannot be emulated is reported on stderr with its address and bytes, and the
//! process exits with [`UNEMULATED_EXIT`].

mod decode;
mod emulate;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod registry;
mod regs;
mod signal;
mod vfio;

pub use emulate::{Outcome, emulate_fault, set_enqcmd_pasid};
pub use registry::{
    TrapWindow, register, relocate, unregister, unregister_range, window_at, windows_in,
};
pub use signal::{UNEMULATED_EXIT, install, program_sigaction};
pub use vfio::VfioBar;

/// How a 64-byte store reaches a portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortalWrite {
    /// `movdir64b`: a posted write; nothing is answered.
    Movdir64b,
    /// `enqcmd`/`enqcmds`: a non-posted write carrying the submitter's PASID and privilege
    /// (also in dword 0 of the 64 bytes), answered with a [`PortalStatus`].
    Enqcmd {
        /// The submitter's PASID.
        pasid: u32,
        /// The submitter is privileged (`enqcmds` with the privilege bit set).
        privileged: bool,
    },
}

/// What a work-queue portal answers an `enqcmd`/`enqcmds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortalStatus {
    /// The descriptor was taken (ZF clear).
    Accepted,
    /// The work queue did not take it; the submitter may retry (ZF set).
    Retry,
}

/// The device behind a trapped window: its registers, read and written at offsets from the
/// window's start, as one access of the size the program made.
pub trait MmioHandler: Send + Sync {
    /// A load of `size` bytes (1, 2, 4 or 8) at `offset`: the value, in its low bytes.
    fn read(&self, offset: u64, size: usize) -> u64;
    /// A store of the low `size` bytes (1, 2, 4 or 8) of `value` at `offset`.
    fn write(&self, offset: u64, size: usize, value: u64);
    /// A 64-byte store of `data` to the portal at `offset`: `None` when there is no portal
    /// there (the instruction cannot be emulated), else its answer (ignored for
    /// [`PortalWrite::Movdir64b`]).
    fn portal(&self, offset: u64, data: &[u8; 64], how: PortalWrite) -> Option<PortalStatus> {
        let _ = (offset, data, how);
        None
    }
}
