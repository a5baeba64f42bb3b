//! Routing physical addresses to memory BARs: the address space a request reaches once its
//! address is physical — RAM, or the memory BAR of a function that claims the address.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::RwLock;
use softiommu_mem::{AddressSpace, MemError, Result as MemResult};
use thiserror::Error;

use super::{DmaFault, Upstream};

/// A function's memory as requests routed to it by address reach it: its memory BARs.
///
/// Addresses are bus addresses (the BAR's base plus the offset into it). A function that does
/// not decode the address — memory space disabled, or outside every BAR — answers as hardware
/// does, with [`DmaFault::UnsupportedRequest`].
pub trait MemoryTarget: Send + Sync {
    /// Reads `buf.len()` bytes at bus address `addr`.
    fn mem_read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault>;

    /// Writes `data` at bus address `addr`.
    fn mem_write(&self, addr: u64, data: &[u8]) -> Result<(), DmaFault>;
}

/// A window that cannot be added to a [`MemoryMap`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    /// The window covers no byte.
    #[error("window {0:#x?} is empty")]
    Empty(Range<u64>),
    /// The window overlaps one already in the map.
    #[error("window {new:#x?} overlaps window {old:#x?}")]
    Overlap {
        /// The window asked for.
        new: Range<u64>,
        /// The window already there.
        old: Range<u64>,
    },
}

/// One window of a map.
struct Window {
    range: Range<u64>,
    target: Arc<dyn MemoryTarget>,
}

/// What one piece of an access reaches.
enum Piece {
    /// The base address space.
    Base,
    /// A window's target.
    Window(Arc<dyn MemoryTarget>),
}

/// An address space of windows over a base: an address inside a window reaches the window's
/// [`MemoryTarget`] (a function's BAR), any other reaches the base (RAM).
///
/// This is how the root side routes a physical address: build an IOMMU model over a
/// `MemoryMap` of RAM with the BARs of the platform's functions as windows, and a DMA the
/// IOMMU translates to a BAR's address lands in that BAR. A [`Switch`](super::Switch) and a
/// [`PciBridge`](super::PciBridge) keep one over their upstream's memory for the BARs below
/// them.
///
/// Reads and writes are split at window edges. The 64-bit word operations (and so the atomic
/// ones) reach the base only: a window is device memory, not host memory, and a word access
/// that touches one fails with [`MemError::OutOfRange`], as does a read or write a target
/// refuses.
pub struct MemoryMap<M> {
    base: M,
    /// Sorted by start, disjoint.
    windows: RwLock<Vec<Window>>,
}

impl<M> std::fmt::Debug for MemoryMap<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ranges: Vec<Range<u64>> = self
            .windows
            .read()
            .iter()
            .map(|w| w.range.clone())
            .collect();
        f.debug_struct("MemoryMap")
            .field("windows", &ranges)
            .finish_non_exhaustive()
    }
}

impl<M: AddressSpace> MemoryMap<M> {
    /// A map with no windows over `base`.
    pub fn new(base: M) -> Self {
        MemoryMap {
            base,
            windows: RwLock::new(Vec::new()),
        }
    }

    /// The base address space.
    pub fn base(&self) -> &M {
        &self.base
    }

    /// Routes `range` to `target`; refused when it is empty or overlaps another window.
    pub fn add_window(
        &self,
        range: Range<u64>,
        target: Arc<dyn MemoryTarget>,
    ) -> Result<(), WindowError> {
        if range.is_empty() {
            return Err(WindowError::Empty(range));
        }
        let mut w = self.windows.write();
        if let Some(old) = w
            .iter()
            .find(|o| o.range.start < range.end && range.start < o.range.end)
        {
            return Err(WindowError::Overlap {
                new: range,
                old: old.range.clone(),
            });
        }
        let at = w.partition_point(|o| o.range.start < range.start);
        w.insert(at, Window { range, target });
        Ok(())
    }

    /// Removes the window starting at `start`; whether there was one.
    pub fn remove_window(&self, start: u64) -> bool {
        let mut w = self.windows.write();
        let before = w.len();
        w.retain(|o| o.range.start != start);
        w.len() != before
    }

    /// The window holding `addr`, if any.
    pub fn window(&self, addr: u64) -> Option<Range<u64>> {
        self.windows
            .read()
            .iter()
            .find(|w| w.range.contains(&addr))
            .map(|w| w.range.clone())
    }

    /// The start of the first window after `addr` (and not holding it), if any.
    pub fn next_window(&self, addr: u64) -> Option<u64> {
        self.windows
            .read()
            .iter()
            .map(|w| w.range.start)
            .find(|&s| s > addr)
    }

    /// What the bytes from `at` reach, and how many of the `rest` do (at least 1).
    fn piece(&self, at: u64, rest: u64) -> (Piece, u64) {
        let w = self.windows.read();
        match w.iter().find(|w| w.range.end > at) {
            Some(win) if win.range.start <= at => (
                Piece::Window(win.target.clone()),
                rest.min(win.range.end - at),
            ),
            Some(win) => (Piece::Base, rest.min(win.range.start - at)),
            None => (Piece::Base, rest),
        }
    }

    /// Runs `f` on each piece of the access of `len` bytes at `pa`: its address, the byte
    /// range of the caller's buffer, and what it reaches. Any failure is the whole access's.
    fn each_piece(
        &self,
        pa: u64,
        len: usize,
        mut f: impl FnMut(u64, Range<usize>, Piece) -> bool,
    ) -> MemResult<()> {
        let whole = MemError::OutOfRange {
            addr: pa,
            len: len as u64,
        };
        let mut done = 0usize;
        while done < len {
            let at = pa.checked_add(done as u64).ok_or(whole)?;
            let (piece, n) = self.piece(at, (len - done) as u64);
            let n = n as usize;
            if !f(at, done..done + n, piece) {
                return Err(whole);
            }
            done += n;
        }
        Ok(())
    }
}

impl<M: AddressSpace> AddressSpace for MemoryMap<M> {
    fn words(&self, pa: u64, count: usize) -> MemResult<&[AtomicU64]> {
        let len = (count as u64).saturating_mul(8);
        let end = pa.saturating_add(len.max(1));
        let touches = self
            .windows
            .read()
            .iter()
            .any(|w| w.range.start < end && pa < w.range.end);
        if touches {
            return Err(MemError::OutOfRange { addr: pa, len });
        }
        self.base.words(pa, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> MemResult<()> {
        if buf.is_empty() {
            return match self.window(pa) {
                Some(_) => Ok(()),
                None => self.base.read(pa, buf),
            };
        }
        let len = buf.len();
        self.each_piece(pa, len, |at, r, piece| match piece {
            Piece::Base => self.base.read(at, &mut buf[r]).is_ok(),
            Piece::Window(t) => t.mem_read(at, &mut buf[r]).is_ok(),
        })
    }

    fn write(&self, pa: u64, buf: &[u8]) -> MemResult<()> {
        if buf.is_empty() {
            return match self.window(pa) {
                Some(_) => Ok(()),
                None => self.base.write(pa, buf),
            };
        }
        self.each_piece(pa, buf.len(), |at, r, piece| match piece {
            Piece::Base => self.base.write(at, &buf[r]).is_ok(),
            Piece::Window(t) => t.mem_write(at, &buf[r]).is_ok(),
        })
    }
}

/// The physical memory an upstream's translated runs lie in, as an address space of its own
/// (for a [`MemoryMap`] over it).
pub(crate) struct UpstreamMemory(pub(crate) Arc<dyn Upstream>);

impl AddressSpace for UpstreamMemory {
    fn words(&self, pa: u64, count: usize) -> MemResult<&[AtomicU64]> {
        self.0.memory().words(pa, count)
    }
    fn read(&self, pa: u64, buf: &mut [u8]) -> MemResult<()> {
        self.0.memory().read(pa, buf)
    }
    fn write(&self, pa: u64, buf: &[u8]) -> MemResult<()> {
        self.0.memory().write(pa, buf)
    }
    fn fill(&self, pa: u64, len: u64, byte: u8) -> MemResult<()> {
        self.0.memory().fill(pa, len, byte)
    }
    fn load_u64(&self, pa: u64) -> MemResult<u64> {
        self.0.memory().load_u64(pa)
    }
    fn store_u64(&self, pa: u64, value: u64) -> MemResult<()> {
        self.0.memory().store_u64(pa, value)
    }
    fn cmpxchg_u64(&self, pa: u64, current: u64, new: u64) -> MemResult<Result<u64, u64>> {
        self.0.memory().cmpxchg_u64(pa, current, new)
    }
}
