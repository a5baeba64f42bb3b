//! A function's configuration space: the stored bytes, which bits a write may change, which
//! it clears, and the side effects of the registers that act when written.

use std::sync::Arc;

use super::caps::{
    DeviceControl, DeviceStatus, MsixControl, MsixLocation, PriControl, PriStatus, express_offset,
    ext_offset, msix_offset,
};
use super::msix::MsixTable;
use super::regs::{BAR_COUNT, CONFIG_SPACE_SIZE, Command, MemoryBar, Status, offset};

/// Width of one configuration access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessSize {
    /// One byte.
    Byte = 1,
    /// Two bytes.
    Word = 2,
    /// Four bytes.
    Dword = 4,
}

impl AccessSize {
    /// Number of bytes the access covers.
    pub const fn bytes(self) -> u32 {
        self as u32
    }

    /// The access of `len` bytes, if configuration accesses come in that width.
    pub const fn from_len(len: usize) -> Option<Self> {
        match len {
            1 => Some(AccessSize::Byte),
            2 => Some(AccessSize::Word),
            4 => Some(AccessSize::Dword),
            _ => None,
        }
    }
}

/// Where each capability sits and what the function implements, fixed when it is built.
#[derive(Clone, Debug, Default)]
pub(super) struct Layout {
    /// Size of each BAR; a 64-bit BAR is recorded at its lower index.
    pub bar_sizes: [Option<u64>; BAR_COUNT],
    pub express: u16,
    pub flr: bool,
    pub max_payload_supported: u8,
    pub msix: Option<u16>,
    pub pasid: Option<u16>,
    pub ats: Option<u16>,
    pub pri: Option<u16>,
    pub acs: Option<u16>,
}

/// Where the MSI-X structures lie in the function's BARs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixPlacement {
    /// BAR that maps the table.
    pub table_bar: u8,
    /// Offset of the table in that BAR.
    pub table_offset: u64,
    /// BAR that maps the PBA.
    pub pba_bar: u8,
    /// Offset of the PBA in that BAR.
    pub pba_offset: u64,
}

/// State of the PASID capability, as the device model needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasidState {
    /// PASID Enable: requests may carry a PASID.
    pub enabled: bool,
    /// Execute Permission Enable.
    pub execute: bool,
    /// Privileged Mode Enable.
    pub privileged: bool,
    /// Max PASID Width the function supports.
    pub max_width: u8,
}

/// State of the ATS capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtsState {
    /// ATS Enable.
    pub enabled: bool,
    /// Smallest Translation Unit: translations cover at least `4096 << stu` bytes.
    pub stu: u8,
}

/// State of the PRI capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriState {
    /// Enable: page requests may be issued.
    pub enabled: bool,
    /// Outstanding Page Request Allocation: how many requests software allows in flight.
    pub allocation: u32,
    /// Outstanding Page Request Capacity of the function.
    pub capacity: u32,
    /// Response Failure has been recorded and not yet cleared.
    pub response_failure: bool,
}

/// The configuration space of one PCI Express function with a type-0 header.
///
/// Software reaches it through [`read`](Self::read) and [`write`](Self::write); the device
/// model reads its effect through the accessors and records what hardware sets (error status,
/// PRI failures) through the `record_*` methods. Built with [`FunctionBuilder`].
///
/// [`FunctionBuilder`]: super::FunctionBuilder
pub struct ConfigSpace {
    pub(super) data: Box<[u8; CONFIG_SPACE_SIZE]>,
    /// Bits a write stores.
    pub(super) wmask: Box<[u8; CONFIG_SPACE_SIZE]>,
    /// Bits a write of 1 clears.
    pub(super) w1c: Box<[u8; CONFIG_SPACE_SIZE]>,
    /// The power-on image, restored by a function level reset.
    pub(super) initial: Box<[u8; CONFIG_SPACE_SIZE]>,
    pub(super) layout: Layout,
    pub(super) msix: Option<Arc<MsixTable>>,
    pri_reset_requested: bool,
    flr_requested: bool,
}

impl std::fmt::Debug for ConfigSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSpace")
            .field("vendor_id", &self.reg16(offset::VENDOR_ID))
            .field("device_id", &self.reg16(offset::DEVICE_ID))
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl ConfigSpace {
    /// A space with the given power-on image and write rules.
    pub(super) fn from_parts(
        data: Box<[u8; CONFIG_SPACE_SIZE]>,
        wmask: Box<[u8; CONFIG_SPACE_SIZE]>,
        w1c: Box<[u8; CONFIG_SPACE_SIZE]>,
        layout: Layout,
        msix: Option<Arc<MsixTable>>,
    ) -> Self {
        ConfigSpace {
            initial: data.clone(),
            data,
            wmask,
            w1c,
            layout,
            msix,
            pri_reset_requested: false,
            flr_requested: false,
        }
    }

    /// Reads `size` bytes at `offset`, little-endian. Bytes beyond the 4 KiB space read as
    /// all-ones, as an unsupported configuration request completes; reads have no side effects.
    pub fn read(&self, offset: u32, size: AccessSize) -> u32 {
        (0..size.bytes()).fold(0u32, |acc, i| {
            let byte = offset
                .checked_add(i)
                .and_then(|a| self.data.get(a as usize).copied())
                .unwrap_or(0xFF);
            acc | u32::from(byte) << (8 * i)
        })
    }

    /// Writes the low `size` bytes of `value` at `offset`. Each byte changes only its writable
    /// bits and clears the write-1-to-clear bits written as 1; bytes beyond the space are
    /// dropped. An access that crosses a dword boundary acts as one access per dword.
    pub fn write(&mut self, offset: u32, size: AccessSize, value: u32) {
        let len = size.bytes();
        let first = len.min(4 - offset % 4);
        self.write_in_dword(offset, first, value);
        if first < len
            && let Some(next) = offset.checked_add(first)
        {
            self.write_in_dword(next, len - first, value >> (8 * first));
        }
    }

    fn write_in_dword(&mut self, offset: u32, len: u32, value: u32) {
        if offset as usize >= CONFIG_SPACE_SIZE {
            return;
        }
        let dword = (offset & !3) as u16;
        let old = self.reg32(dword);
        let shift = 8 * (offset % 4);
        let mut enables = 0u32;
        for i in 0..len {
            let a = offset as usize + i as usize;
            let v = (value >> (8 * i)) as u8;
            let stored = (self.data[a] & !self.wmask[a]) | (v & self.wmask[a]);
            self.data[a] = stored & !(v & self.w1c[a]);
            enables |= 0xFF << (8 * i);
        }
        let written = (value << shift) & (enables << shift);
        self.after_write(dword, old, enables << shift, written);
    }

    /// Side effects of registers that act when written (`enables`: the bits the access
    /// covered; `written`: their values).
    fn after_write(&mut self, dword: u16, old: u32, enables: u32, written: u32) {
        let express = self.layout.express;
        if dword == express + express_offset::DEVICE_CONTROL {
            let mut ctl = DeviceControl::from_bits(self.reg16(dword));
            if ctl.max_read_request() > 5 {
                let before = DeviceControl::from_bits(old as u16);
                ctl.set_max_read_request(before.max_read_request());
                self.put16(dword, ctl.into_bits());
            }
            let flr_bit = DeviceControl::new().with_initiate_flr(true).into_bits();
            if self.layout.flr && (written & u32::from(flr_bit)) != 0 {
                self.function_level_reset();
            }
        }
        let msix_control = self.layout.msix.is_some_and(|at| dword == at) && enables >> 16 != 0;
        let command = dword == offset::COMMAND && enables & 0xFFFF != 0;
        if msix_control || command {
            self.sync_msix();
        }
        if let Some(pri) = self.layout.pri
            && dword == pri + ext_offset::PRI_CONTROL
        {
            let reset = PriControl::new().with_reset(true).into_bits();
            let ctl = PriControl::from_bits(self.reg16(dword));
            if (written & u32::from(reset)) != 0 && !ctl.enable() {
                self.pri_reset_requested = true;
            }
            let status_at = pri + ext_offset::PRI_STATUS;
            let status = PriStatus::from_bits(self.reg16(status_at)).with_stopped(!ctl.enable());
            self.put16(status_at, status.into_bits());
        }
    }

    fn sync_msix(&self) {
        if let (Some(table), Some(at)) = (&self.msix, self.layout.msix) {
            let ctl = MsixControl::from_bits(self.reg16(at + msix_offset::CONTROL));
            table.set_control(ctl.enable(), ctl.function_mask(), self.bus_master_enabled());
        }
    }

    /// Returns the function to its power-on state, as a function level reset does: every
    /// register, the MSI-X table and the PBA.
    pub fn function_level_reset(&mut self) {
        self.data.copy_from_slice(&self.initial[..]);
        if let Some(table) = &self.msix {
            table.reset();
        }
        self.pri_reset_requested = false;
        self.flr_requested = true;
    }

    /// Whether a function level reset happened since the last call: the device model then
    /// drops its own state (queues, ATC, outstanding page requests).
    pub fn take_flr(&mut self) -> bool {
        std::mem::take(&mut self.flr_requested)
    }

    /// Whether software wrote PRI Reset while PRI was disabled since the last call: the device
    /// model then forgets its outstanding page requests.
    pub fn take_pri_reset(&mut self) -> bool {
        std::mem::take(&mut self.pri_reset_requested)
    }

    pub(super) fn reg16(&self, at: u16) -> u16 {
        let a = usize::from(at);
        u16::from_le_bytes([self.data[a], self.data[a + 1]])
    }

    pub(super) fn reg32(&self, at: u16) -> u32 {
        let a = usize::from(at);
        u32::from_le_bytes([
            self.data[a],
            self.data[a + 1],
            self.data[a + 2],
            self.data[a + 3],
        ])
    }

    fn put16(&mut self, at: u16, v: u16) {
        let a = usize::from(at);
        self.data[a..a + 2].copy_from_slice(&v.to_le_bytes());
    }

    /// Vendor ID.
    pub fn vendor_id(&self) -> u16 {
        self.reg16(offset::VENDOR_ID)
    }

    /// Device ID.
    pub fn device_id(&self) -> u16 {
        self.reg16(offset::DEVICE_ID)
    }

    /// The Command register.
    pub fn command(&self) -> Command {
        Command::from_bits(self.reg16(offset::COMMAND))
    }

    /// The Status register.
    pub fn status(&self) -> Status {
        Status::from_bits(self.reg16(offset::STATUS))
    }

    /// Whether the function may issue memory requests (DMA and MSI writes).
    pub fn bus_master_enabled(&self) -> bool {
        self.command().bus_master()
    }

    /// Whether the function's BARs decode memory accesses.
    pub fn memory_space_enabled(&self) -> bool {
        self.command().memory_space()
    }

    /// Size of BAR `index`, if the function implements a BAR there.
    pub fn bar_size(&self, index: usize) -> Option<u64> {
        self.layout.bar_sizes.get(index).copied().flatten()
    }

    /// Base address software programmed into BAR `index` (both halves of a 64-bit BAR).
    pub fn bar_address(&self, index: usize) -> Option<u64> {
        self.bar_size(index)?;
        let at = offset::BAR0 + 4 * index as u16;
        let low = MemoryBar::from_bits(self.reg32(at));
        let high = u64::from(self.reg32(at + 4));
        Some(high << 32 | u64::from(low.address()) << 4)
    }

    /// The device model's view of the MSI-X table and PBA, if the function has MSI-X.
    pub fn msix(&self) -> Option<&Arc<MsixTable>> {
        self.msix.as_ref()
    }

    fn msix_control(&self) -> Option<MsixControl> {
        let at = self.layout.msix?;
        Some(MsixControl::from_bits(
            self.reg16(at + msix_offset::CONTROL),
        ))
    }

    /// Where the MSI-X table and PBA lie, as the capability states it, for the BAR emulation.
    pub fn msix_placement(&self) -> Option<MsixPlacement> {
        let at = self.layout.msix?;
        let table = MsixLocation::from_bits(self.reg32(at + msix_offset::TABLE));
        let pba = MsixLocation::from_bits(self.reg32(at + msix_offset::PBA));
        Some(MsixPlacement {
            table_bar: table.bir(),
            table_offset: u64::from(table.offset_qwords()) << 3,
            pba_bar: pba.bir(),
            pba_offset: u64::from(pba.offset_qwords()) << 3,
        })
    }

    /// Whether MSI-X is enabled.
    pub fn msix_enabled(&self) -> bool {
        self.msix_control().is_some_and(|c| c.enable())
    }

    /// Whether the MSI-X Function Mask is set.
    pub fn msix_function_masked(&self) -> bool {
        self.msix_control().is_some_and(|c| c.function_mask())
    }

    /// The PASID capability's state, if the function has one.
    pub fn pasid(&self) -> Option<PasidState> {
        use super::caps::{PasidCapability, PasidControl};
        let at = self.layout.pasid?;
        let cap = PasidCapability::from_bits(self.reg16(at + ext_offset::CAPABILITY));
        let ctl = PasidControl::from_bits(self.reg16(at + ext_offset::CONTROL));
        Some(PasidState {
            enabled: ctl.enable(),
            execute: ctl.execute(),
            privileged: ctl.privileged(),
            max_width: cap.max_width(),
        })
    }

    /// The ATS capability's state, if the function has one.
    pub fn ats(&self) -> Option<AtsState> {
        let at = self.layout.ats?;
        let ctl = super::caps::AtsControl::from_bits(self.reg16(at + ext_offset::CONTROL));
        Some(AtsState {
            enabled: ctl.enable(),
            stu: ctl.stu(),
        })
    }

    /// The PRI capability's state, if the function has one.
    pub fn pri(&self) -> Option<PriState> {
        let at = self.layout.pri?;
        let ctl = PriControl::from_bits(self.reg16(at + ext_offset::PRI_CONTROL));
        let status = PriStatus::from_bits(self.reg16(at + ext_offset::PRI_STATUS));
        Some(PriState {
            enabled: ctl.enable(),
            allocation: self.reg32(at + ext_offset::PRI_ALLOCATION),
            capacity: self.reg32(at + ext_offset::PRI_CAPACITY),
            response_failure: status.response_failure(),
        })
    }

    /// The ACS Control register, if the function has ACS.
    pub fn acs_control(&self) -> Option<super::caps::AcsFlags> {
        let at = self.layout.acs?;
        Some(super::caps::AcsFlags::from_bits(
            self.reg16(at + ext_offset::CONTROL),
        ))
    }

    /// Records errors hardware detected in the Status register (only its RW1C error bits).
    pub fn record_status(&mut self, bits: Status) {
        let set = bits.into_bits() & Status::ERROR_BITS.into_bits();
        let now = self.reg16(offset::STATUS) | set;
        self.put16(offset::STATUS, now);
    }

    /// Records errors in the PCI Express Device Status register (only its RW1C error bits).
    pub fn record_device_status(&mut self, bits: DeviceStatus) {
        let at = self.layout.express + express_offset::DEVICE_STATUS;
        let set = bits.into_bits() & DeviceStatus::ERROR_BITS.into_bits();
        let now = self.reg16(at) | set;
        self.put16(at, now);
    }

    /// Sets or clears Transactions Pending in the Device Status register.
    pub fn set_transactions_pending(&mut self, pending: bool) {
        let at = self.layout.express + express_offset::DEVICE_STATUS;
        let status = DeviceStatus::from_bits(self.reg16(at)).with_transactions_pending(pending);
        self.put16(at, status.into_bits());
    }

    /// Records a page request group response that carried Response Failure, or one whose
    /// group index matched no outstanding request.
    pub fn record_pri_failure(&mut self, response_failure: bool, unexpected_prg_index: bool) {
        let Some(pri) = self.layout.pri else { return };
        let at = pri + ext_offset::PRI_STATUS;
        let status = PriStatus::from_bits(self.reg16(at));
        let status = status
            .with_response_failure(status.response_failure() || response_failure)
            .with_unexpected_prg_index(status.unexpected_prg_index() || unexpected_prg_index);
        self.put16(at, status.into_bits());
    }
}
