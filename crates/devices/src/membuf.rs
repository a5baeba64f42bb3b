//! A function whose BAR 0 is plain memory, like a controller memory buffer: the peer other
//! functions read and write by peer-to-peer DMA.
//!
//! Software programs BAR 0 and sets Memory Space Enable in configuration space; from then on
//! the buffer answers memory requests for the BAR's addresses ([`MemoryTarget`]). Register
//! the BAR's range with the bridge the function sits below (a
//! [`DownstreamPort`](crate::bus::DownstreamPort) or a [`PciBridge`](crate::bus::PciBridge))
//! so that requests are routed to it.

use std::ops::Range;

use parking_lot::Mutex;

use crate::bus::{DmaFault, MemoryTarget};
use crate::pci::caps::PortType;
use crate::pci::regs::offset;
use crate::pci::{AccessSize, BuildError, ConfigSpace, FunctionBuilder};

/// PCI class code: memory controller, other.
pub const CLASS_CODE: u32 = 0x05_8000;

/// A PCI Express endpoint with one 64-bit prefetchable memory BAR (BAR 0) backed by a buffer
/// of its size.
pub struct MemoryBuffer {
    config: Mutex<ConfigSpace>,
    data: Mutex<Box<[u8]>>,
}

impl std::fmt::Debug for MemoryBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBuffer")
            .field("size", &self.size())
            .field("bar", &self.bar())
            .finish_non_exhaustive()
    }
}

impl MemoryBuffer {
    /// A function with IDs `vendor_id`:`device_id` whose BAR 0 holds `size` bytes, all zero
    /// (a power of two of at least 16 bytes, as every memory BAR).
    pub fn new(vendor_id: u16, device_id: u16, size: u64) -> Result<Self, BuildError> {
        let config = FunctionBuilder::new(vendor_id, device_id)
            .class_code(CLASS_CODE)
            .port_type(PortType::Endpoint)
            .bar64(0, size, true)
            .build()?;
        let len = usize::try_from(size).map_err(|_| BuildError::BarSize { index: 0, size })?;
        Ok(MemoryBuffer {
            config: Mutex::new(config),
            data: Mutex::new(vec![0u8; len].into_boxed_slice()),
        })
    }

    /// Bytes of the buffer (the size of BAR 0).
    pub fn size(&self) -> u64 {
        self.data.lock().len() as u64
    }

    /// Reads configuration space.
    pub fn config_read(&self, offset: u32, size: AccessSize) -> u32 {
        self.config.lock().read(offset, size)
    }

    /// Writes configuration space.
    pub fn config_write(&self, offset: u32, size: AccessSize, value: u32) {
        self.config.lock().write(offset, size, value);
    }

    /// Programs BAR 0 at `base` and sets Memory Space Enable, by configuration writes as
    /// software does (a base not aligned to the BAR's size keeps only its aligned bits).
    pub fn enable(&self, base: u64) {
        let bar = u32::from(offset::BAR0);
        let mut c = self.config.lock();
        c.write(bar, AccessSize::Dword, base as u32);
        c.write(bar + 4, AccessSize::Dword, (base >> 32) as u32);
        let command = c.command().with_memory_space(true).into_bits();
        c.write(
            u32::from(offset::COMMAND),
            AccessSize::Word,
            u32::from(command),
        );
    }

    /// The bus addresses BAR 0 decodes now; `None` while Memory Space Enable is clear.
    pub fn bar(&self) -> Option<Range<u64>> {
        let c = self.config.lock();
        if !c.memory_space_enabled() {
            return None;
        }
        let base = c.bar_address(0)?;
        let size = c.bar_size(0)?;
        Some(base..base.checked_add(size)?)
    }

    /// Copies the bytes at `offset` into `buf`, as the function itself sees its buffer;
    /// `false` (and nothing copied) when they are not all inside it.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        let data = self.data.lock();
        match Self::span(data.len(), offset, buf.len()) {
            Some(r) => {
                buf.copy_from_slice(&data[r]);
                true
            }
            None => false,
        }
    }

    /// Copies `src` into the buffer at `offset`; `false` (and nothing copied) when it does
    /// not fit.
    pub fn write(&self, offset: u64, src: &[u8]) -> bool {
        let mut data = self.data.lock();
        match Self::span(data.len(), offset, src.len()) {
            Some(r) => {
                data[r].copy_from_slice(src);
                true
            }
            None => false,
        }
    }

    /// The byte range of the buffer `len` bytes at `offset` cover, if inside a buffer of
    /// `size` bytes.
    fn span(size: usize, offset: u64, len: usize) -> Option<Range<usize>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        (end <= size).then_some(start..end)
    }

    /// The offset into the buffer of a memory request of `len` bytes at bus address `addr`,
    /// if BAR 0 decodes all of it.
    fn decode(&self, addr: u64, len: usize) -> Result<u64, DmaFault> {
        let bar = self.bar().ok_or(DmaFault::UnsupportedRequest)?;
        let end = addr
            .checked_add(len as u64)
            .ok_or(DmaFault::UnsupportedRequest)?;
        if addr < bar.start || end > bar.end {
            return Err(DmaFault::UnsupportedRequest);
        }
        Ok(addr - bar.start)
    }
}

impl MemoryTarget for MemoryBuffer {
    fn mem_read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let offset = self.decode(addr, buf.len())?;
        if self.read(offset, buf) {
            Ok(())
        } else {
            Err(DmaFault::UnsupportedRequest)
        }
    }

    fn mem_write(&self, addr: u64, data: &[u8]) -> Result<(), DmaFault> {
        let offset = self.decode(addr, data.len())?;
        if self.write(offset, data) {
            Ok(())
        } else {
            Err(DmaFault::UnsupportedRequest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_decodes_only_once_memory_space_is_enabled() {
        let m = MemoryBuffer::new(0x1234, 0x5678, 0x1000).unwrap();
        assert_eq!(m.config_read(0, AccessSize::Dword), 0x5678_1234);
        assert_eq!(m.config_read(0x08, AccessSize::Dword) >> 8, CLASS_CODE);
        // BAR 0: 64-bit (type 10b at bits 2:1), prefetchable (bit 3).
        assert_eq!(m.config_read(0x10, AccessSize::Dword) & 0xf, 0b1100);
        assert_eq!(m.bar(), None);
        assert_eq!(
            m.mem_write(0x8000_0000, &[1]),
            Err(DmaFault::UnsupportedRequest)
        );
        m.enable(0x1_8000_0000);
        // Memory Space Enable is bit 1 of the Command register; BAR 0 and 1 hold the base.
        assert_eq!(m.config_read(0x04, AccessSize::Word) & 0x2, 0x2);
        assert_eq!(m.config_read(0x10, AccessSize::Dword) & !0xf, 0x8000_0000);
        assert_eq!(m.config_read(0x14, AccessSize::Dword), 1);
        assert_eq!(m.bar(), Some(0x1_8000_0000..0x1_8000_1000));
        m.mem_write(0x1_8000_0ffe, &[7, 8]).unwrap();
        let mut b = [0u8; 2];
        assert!(m.read(0xffe, &mut b));
        assert_eq!(b, [7, 8]);
        // Past the BAR's end, below its base: not decoded.
        assert_eq!(
            m.mem_read(0x1_8000_0fff, &mut b),
            Err(DmaFault::UnsupportedRequest)
        );
        assert_eq!(
            m.mem_read(0x1_7fff_ffff, &mut [0]),
            Err(DmaFault::UnsupportedRequest)
        );
        assert!(!m.write(0x1000, &[1]));
    }

    #[test]
    fn a_bar_size_that_is_not_a_power_of_two_is_refused() {
        assert!(matches!(
            MemoryBuffer::new(1, 2, 0x3000),
            Err(BuildError::BarSize { index: 0, .. })
        ));
    }
}
