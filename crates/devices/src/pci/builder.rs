//! Declaring a function: IDs, class, BARs, MSI-X placement and extended capabilities.

use std::sync::Arc;

use super::caps::{
    AcsFlags, AtsCapability, AtsControl, DeviceCapabilities, DeviceControl, DeviceStatus,
    ExpressCapabilities, LinkCapabilities, LinkControl, LinkStatus, MsixControl, MsixLocation,
    PasidCapability, PasidControl, PortType, PriControl, PriStatus, express_offset, ext_offset,
    msix_offset,
};
use super::config::{ConfigSpace, Layout};
use super::msix::{MAX_VECTORS, MsixTable};
use super::regs::{
    BAR_COUNT, CONFIG_SPACE_SIZE, CapHeader, Command, EXT_CAP_START, ExtCapHeader, HeaderType,
    MemoryBar, Status, cap_id, ext_cap_id, offset,
};

/// Offset of the PCI Express capability, the first in the list.
pub const EXPRESS_CAP_OFFSET: u16 = 0x40;
/// Offset of the MSI-X capability, after the PCI Express one.
pub const MSIX_CAP_OFFSET: u16 = 0x80;

/// A declaration the configuration space cannot hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A 64-bit BAR takes two slots: its index must be 0, 2 or 4 and unused.
    #[error("BAR {0} cannot hold a 64-bit BAR (index must be 0, 2 or 4 and free)")]
    BarIndex(usize),
    /// A memory BAR's size is a power of two of at least 16 bytes.
    #[error("BAR {index} size {size:#x} is not a power of two of at least 16 bytes")]
    BarSize {
        /// The BAR.
        index: usize,
        /// The size asked for.
        size: u64,
    },
    /// MSI-X has 1 to 2048 vectors.
    #[error("MSI-X vector count {0} is outside 1..=2048")]
    MsixVectors(u16),
    /// The MSI-X table or PBA is not 8-byte aligned inside an implemented BAR.
    #[error("MSI-X {what} at BAR {bar} offset {offset:#x} does not fit an implemented BAR")]
    MsixPlacement {
        /// "table" or "PBA".
        what: &'static str,
        /// The BAR named.
        bar: u8,
        /// The offset in it.
        offset: u64,
    },
    /// The MSI-X table and PBA overlap.
    #[error("MSI-X table and PBA overlap")]
    MsixOverlap,
    /// Max PASID Width is 1 to 20 bits.
    #[error("PASID width {0} is outside 1..=20")]
    PasidWidth(u8),
    /// The ATS Invalidate Queue Depth field holds 0 (meaning 32) to 31.
    #[error("ATS invalidate queue depth {0} is outside 1..=32")]
    AtsQueueDepth(u8),
    /// An ACS feature this model does not implement (egress control) or that the
    /// specification does not allow on a type-0 function (source validation, translation
    /// blocking, upstream forwarding).
    #[error("ACS capability {0:#x} names a feature a type-0 function cannot have")]
    AcsFeature(u16),
}

/// A 64-bit memory BAR.
#[derive(Clone, Copy, Debug)]
struct Bar {
    size: u64,
    prefetchable: bool,
}

/// Where the MSI-X table and PBA lie.
#[derive(Clone, Copy, Debug)]
struct MsixSpec {
    vectors: u16,
    table: (u8, u32),
    pba: (u8, u32),
}

/// Declares a PCI Express function with a type-0 header and builds its [`ConfigSpace`].
#[derive(Clone, Debug)]
pub struct FunctionBuilder {
    vendor_id: u16,
    device_id: u16,
    revision: u8,
    class_code: u32,
    subsystem: (u16, u16),
    multi_function: bool,
    interrupt_pin: u8,
    port_type: PortType,
    flr: bool,
    bars: Vec<(usize, Bar)>,
    msix: Option<MsixSpec>,
    /// Max PASID Width, execute, privileged.
    pasid: Option<(u8, bool, bool)>,
    /// Invalidate Queue Depth (1–32), Page Aligned Request.
    ats: Option<(u8, bool)>,
    pri: Option<(u32, bool)>,
    acs: Option<AcsFlags>,
}

impl FunctionBuilder {
    /// A Root Complex Integrated Endpoint with the given IDs and nothing else.
    pub fn new(vendor_id: u16, device_id: u16) -> Self {
        FunctionBuilder {
            vendor_id,
            device_id,
            revision: 0,
            class_code: 0,
            subsystem: (0, 0),
            multi_function: false,
            interrupt_pin: 0,
            port_type: PortType::RootComplexIntegratedEndpoint,
            flr: false,
            bars: Vec::new(),
            msix: None,
            pasid: None,
            ats: None,
            pri: None,
            acs: None,
        }
    }

    /// Revision ID.
    pub fn revision(mut self, revision: u8) -> Self {
        self.revision = revision;
        self
    }

    /// Class code: base class in bits 23:16, sub-class in 15:8, programming interface in 7:0.
    pub fn class_code(mut self, class_code: u32) -> Self {
        self.class_code = class_code & 0xFF_FFFF;
        self
    }

    /// Subsystem vendor ID and subsystem ID.
    pub fn subsystem(mut self, vendor_id: u16, id: u16) -> Self {
        self.subsystem = (vendor_id, id);
        self
    }

    /// Marks the function as part of a multi-function device.
    pub fn multi_function(mut self, multi_function: bool) -> Self {
        self.multi_function = multi_function;
        self
    }

    /// Interrupt pin (0 none, 1–4 INTA–INTD; other values are taken as 0).
    pub fn interrupt_pin(mut self, pin: u8) -> Self {
        self.interrupt_pin = if pin <= 4 { pin } else { 0 };
        self
    }

    /// Device/port type in the PCI Express capability.
    pub fn port_type(mut self, port_type: PortType) -> Self {
        self.port_type = port_type;
        self
    }

    /// Whether the function supports Function Level Reset.
    pub fn flr(mut self, flr: bool) -> Self {
        self.flr = flr;
        self
    }

    /// A 64-bit memory BAR at `index` (0, 2 or 4; it also takes `index + 1`).
    pub fn bar64(mut self, index: usize, size: u64, prefetchable: bool) -> Self {
        self.bars.push((index, Bar { size, prefetchable }));
        self
    }

    /// MSI-X with `vectors` vectors, its table at `table_offset` in BAR `table_bar` and its
    /// PBA at `pba_offset` in BAR `pba_bar`.
    pub fn msix(
        mut self,
        vectors: u16,
        (table_bar, table_offset): (u8, u32),
        (pba_bar, pba_offset): (u8, u32),
    ) -> Self {
        self.msix = Some(MsixSpec {
            vectors,
            table: (table_bar, table_offset),
            pba: (pba_bar, pba_offset),
        });
        self
    }

    /// The PASID capability: Max PASID Width and the execute and privileged modes.
    pub fn pasid(mut self, max_width: u8, execute: bool, privileged: bool) -> Self {
        self.pasid = Some((max_width, execute, privileged));
        self
    }

    /// The ATS capability: Invalidate Queue Depth (1–32) and Page Aligned Request.
    pub fn ats(mut self, queue_depth: u8, page_aligned_request: bool) -> Self {
        self.ats = Some((queue_depth, page_aligned_request));
        self
    }

    /// The PRI capability: Outstanding Page Request Capacity, and whether responses must carry
    /// the PASID of the request.
    pub fn pri(mut self, capacity: u32, response_pasid_required: bool) -> Self {
        self.pri = Some((capacity, response_pasid_required));
        self
    }

    /// The ACS capability with the features in `capability`.
    pub fn acs(mut self, capability: AcsFlags) -> Self {
        self.acs = Some(capability);
        self
    }

    fn bar(&self, index: usize) -> Option<Bar> {
        self.bars
            .iter()
            .find(|&&(i, _)| i == index)
            .map(|&(_, b)| b)
    }

    fn check(&self) -> Result<(), BuildError> {
        for (i, &(index, bar)) in self.bars.iter().enumerate() {
            let taken = self.bars[..i].iter().any(|&(other, _)| other == index);
            if index % 2 != 0 || index >= BAR_COUNT || taken {
                return Err(BuildError::BarIndex(index));
            }
            if !bar.size.is_power_of_two() || bar.size < 16 {
                return Err(BuildError::BarSize {
                    index,
                    size: bar.size,
                });
            }
        }
        if let Some(m) = &self.msix {
            if m.vectors == 0 || m.vectors > MAX_VECTORS {
                return Err(BuildError::MsixVectors(m.vectors));
            }
            let table_len = u64::from(m.vectors) * 16;
            let pba_len = u64::from(m.vectors).div_ceil(64) * 8;
            for (what, (bar, off), len) in [("table", m.table, table_len), ("PBA", m.pba, pba_len)]
            {
                let size = self.bar(usize::from(bar)).map(|b| b.size);
                let off = u64::from(off);
                if off % 8 != 0 || size.is_none_or(|size| off + len > size) {
                    return Err(BuildError::MsixPlacement {
                        what,
                        bar,
                        offset: off,
                    });
                }
            }
            let (t, p) = (u64::from(m.table.1), u64::from(m.pba.1));
            if m.table.0 == m.pba.0 && t < p + pba_len && p < t + table_len {
                return Err(BuildError::MsixOverlap);
            }
        }
        if let Some((width, ..)) = self.pasid
            && !(1..=20).contains(&width)
        {
            return Err(BuildError::PasidWidth(width));
        }
        if let Some((depth, _)) = self.ats
            && !(1..=32).contains(&depth)
        {
            return Err(BuildError::AtsQueueDepth(depth));
        }
        if let Some(acs) = self.acs {
            let allowed = AcsFlags::new()
                .with_request_redirect(true)
                .with_completion_redirect(true)
                .with_direct_translated(true)
                .into_bits();
            if acs.into_bits() & !allowed != 0 {
                return Err(BuildError::AcsFeature(acs.into_bits()));
            }
        }
        Ok(())
    }

    /// Builds the configuration space, or says which declaration it cannot hold.
    pub fn build(self) -> Result<ConfigSpace, BuildError> {
        self.check()?;
        let mut img = Image::new();
        let mut layout = Layout::default();

        img.put16(offset::VENDOR_ID, self.vendor_id, 0, 0);
        img.put16(offset::DEVICE_ID, self.device_id, 0, 0);
        let command_rw = Command::new()
            .with_memory_space(true)
            .with_bus_master(true)
            .with_parity_error_response(true)
            .with_serr_enable(true)
            .with_intx_disable(true);
        img.put16(offset::COMMAND, 0, command_rw.into_bits(), 0);
        let status = Status::new().with_capabilities_list(true);
        img.put16(
            offset::STATUS,
            status.into_bits(),
            0,
            Status::ERROR_BITS.into_bits(),
        );
        img.put32(
            offset::REVISION_ID,
            self.revision as u32 | self.class_code << 8,
            0,
            0,
        );
        img.put8(offset::CACHE_LINE_SIZE, 0, 0xFF);
        let header = HeaderType::new().with_multi_function(self.multi_function);
        img.put8(offset::HEADER_TYPE, header.into_bits(), 0);
        for &(index, bar) in &self.bars {
            layout.bar_sizes[index] = Some(bar.size);
            let at = offset::BAR0 + 4 * index as u16;
            let flags = MemoryBar::new()
                .with_mem_type(MemoryBar::TYPE_64)
                .with_prefetchable(bar.prefetchable);
            let mask = !(bar.size - 1);
            img.put32(at, flags.into_bits(), mask as u32 & !0xF, 0);
            img.put32(at + 4, 0, (mask >> 32) as u32, 0);
        }
        img.put16(offset::SUBSYSTEM_VENDOR_ID, self.subsystem.0, 0, 0);
        img.put16(offset::SUBSYSTEM_ID, self.subsystem.1, 0, 0);
        img.put8(offset::CAPABILITIES_POINTER, EXPRESS_CAP_OFFSET as u8, 0);
        img.put8(offset::INTERRUPT_LINE, 0, 0xFF);
        img.put8(offset::INTERRUPT_PIN, self.interrupt_pin, 0);

        self.put_express(&mut img, &mut layout);
        let msix = self.put_msix(&mut img, &mut layout);
        self.put_ext_caps(&mut img, &mut layout);
        Ok(ConfigSpace::from_parts(
            img.data, img.wmask, img.w1c, layout, msix,
        ))
    }

    fn put_express(&self, img: &mut Image, layout: &mut Layout) {
        let at = EXPRESS_CAP_OFFSET;
        layout.express = at;
        layout.flr = self.flr;
        let next = if self.msix.is_some() {
            MSIX_CAP_OFFSET as u8
        } else {
            0
        };
        let header = CapHeader::new().with_id(cap_id::EXPRESS).with_next(next);
        img.put16(at, header.into_bits(), 0, 0);
        let caps = ExpressCapabilities::new()
            .with_version(2)
            .with_port_type(self.port_type as u8);
        img.put16(at + express_offset::CAPABILITIES, caps.into_bits(), 0, 0);
        let devcap = DeviceCapabilities::new()
            .with_flr(self.flr)
            .with_role_based_error_reporting(true);
        img.put32(
            at + express_offset::DEVICE_CAPABILITIES,
            devcap.into_bits(),
            0,
            0,
        );
        let devctl = DeviceControl::new()
            .with_relaxed_ordering(true)
            .with_no_snoop(true)
            .with_max_read_request(2);
        let devctl_rw = DeviceControl::new()
            .with_correctable_reporting(true)
            .with_non_fatal_reporting(true)
            .with_fatal_reporting(true)
            .with_unsupported_request_reporting(true)
            .with_relaxed_ordering(true)
            .with_no_snoop(true)
            .with_max_read_request(7);
        img.put16(
            at + express_offset::DEVICE_CONTROL,
            devctl.into_bits(),
            devctl_rw.into_bits(),
            0,
        );
        let devsta_w1c = DeviceStatus::ERROR_BITS.into_bits();
        img.put16(at + express_offset::DEVICE_STATUS, 0, 0, devsta_w1c);
        if self.port_type.has_link() {
            let lnkcap = LinkCapabilities::new().with_max_speed(1).with_max_width(1);
            img.put32(
                at + express_offset::LINK_CAPABILITIES,
                lnkcap.into_bits(),
                0,
                0,
            );
            let lnkctl_rw = LinkControl::new()
                .with_read_completion_boundary(true)
                .with_common_clock(true)
                .with_extended_synch(true);
            img.put16(
                at + express_offset::LINK_CONTROL,
                0,
                lnkctl_rw.into_bits(),
                0,
            );
            let lnksta = LinkStatus::new().with_speed(1).with_width(1);
            img.put16(at + express_offset::LINK_STATUS, lnksta.into_bits(), 0, 0);
        }
    }

    fn put_msix(&self, img: &mut Image, layout: &mut Layout) -> Option<Arc<MsixTable>> {
        let m = self.msix?;
        let at = MSIX_CAP_OFFSET;
        layout.msix = Some(at);
        img.put16(at, CapHeader::new().with_id(cap_id::MSIX).into_bits(), 0, 0);
        let ctl = MsixControl::new().with_table_size(m.vectors - 1);
        let ctl_rw = MsixControl::new()
            .with_enable(true)
            .with_function_mask(true);
        img.put16(
            at + msix_offset::CONTROL,
            ctl.into_bits(),
            ctl_rw.into_bits(),
            0,
        );
        let loc = |(bar, off): (u8, u32)| {
            MsixLocation::new()
                .with_bir(bar)
                .with_offset_qwords(off >> 3)
                .into_bits()
        };
        img.put32(at + msix_offset::TABLE, loc(m.table), 0, 0);
        img.put32(at + msix_offset::PBA, loc(m.pba), 0, 0);
        Some(Arc::new(MsixTable::new(m.vectors)))
    }

    fn put_ext_caps(&self, img: &mut Image, layout: &mut Layout) {
        let mut caps: Vec<(u16, u16)> = Vec::new();
        let mut at = EXT_CAP_START;
        let mut place = |id: u16, len: u16| {
            let here = at;
            caps.push((here, id));
            at += len;
            here
        };
        layout.pasid = self
            .pasid
            .map(|_| place(ext_cap_id::PASID, ext_offset::SHORT_LEN));
        layout.ats = self
            .ats
            .map(|_| place(ext_cap_id::ATS, ext_offset::SHORT_LEN));
        layout.pri = self
            .pri
            .map(|_| place(ext_cap_id::PRI, ext_offset::PRI_LEN));
        layout.acs = self
            .acs
            .map(|_| place(ext_cap_id::ACS, ext_offset::SHORT_LEN));
        for (i, &(here, id)) in caps.iter().enumerate() {
            let next = caps.get(i + 1).map_or(0, |&(n, _)| n);
            let header = ExtCapHeader::new()
                .with_id(id)
                .with_version(1)
                .with_next(next);
            img.put32(here, header.into_bits(), 0, 0);
        }
        if let (Some(at), Some((width, execute, privileged))) = (layout.pasid, self.pasid) {
            let cap = PasidCapability::new()
                .with_max_width(width)
                .with_execute(execute)
                .with_privileged(privileged);
            img.put16(at + ext_offset::CAPABILITY, cap.into_bits(), 0, 0);
            let rw = PasidControl::new()
                .with_enable(true)
                .with_execute(cap.execute())
                .with_privileged(cap.privileged());
            img.put16(at + ext_offset::CONTROL, 0, rw.into_bits(), 0);
        }
        if let (Some(at), Some((depth, page_aligned))) = (layout.ats, self.ats) {
            let cap = AtsCapability::new()
                .with_queue_depth(depth % 32)
                .with_page_aligned_request(page_aligned);
            img.put16(at + ext_offset::CAPABILITY, cap.into_bits(), 0, 0);
            let rw = AtsControl::new().with_enable(true).with_stu(0x1F);
            img.put16(at + ext_offset::CONTROL, 0, rw.into_bits(), 0);
        }
        if let (Some(at), Some((capacity, pasid_required))) = (layout.pri, self.pri) {
            let ctl_rw = PriControl::new().with_enable(true);
            img.put16(at + ext_offset::PRI_CONTROL, 0, ctl_rw.into_bits(), 0);
            let status = PriStatus::new()
                .with_stopped(true)
                .with_prg_response_pasid_required(pasid_required);
            let w1c = PriStatus::ERROR_BITS.into_bits();
            img.put16(at + ext_offset::PRI_STATUS, status.into_bits(), 0, w1c);
            img.put32(at + ext_offset::PRI_CAPACITY, capacity, 0, 0);
            img.put32(at + ext_offset::PRI_ALLOCATION, 0, u32::MAX, 0);
        }
        if let (Some(at), Some(cap)) = (layout.acs, self.acs) {
            img.put16(at + ext_offset::CAPABILITY, cap.into_bits(), 0, 0);
            let rw = cap.with_egress_vector_size(0).into_bits();
            img.put16(at + ext_offset::CONTROL, 0, rw, 0);
        }
    }
}

/// The power-on image being laid out, with its write rules.
struct Image {
    data: Box<[u8; CONFIG_SPACE_SIZE]>,
    wmask: Box<[u8; CONFIG_SPACE_SIZE]>,
    w1c: Box<[u8; CONFIG_SPACE_SIZE]>,
}

impl Image {
    fn new() -> Self {
        let zero = || Box::new([0u8; CONFIG_SPACE_SIZE]);
        Image {
            data: zero(),
            wmask: zero(),
            w1c: zero(),
        }
    }

    fn put(&mut self, at: u16, value: &[u8], wmask: &[u8], w1c: &[u8]) {
        let a = usize::from(at);
        let n = value.len();
        self.data[a..a + n].copy_from_slice(value);
        self.wmask[a..a + n].copy_from_slice(wmask);
        self.w1c[a..a + n].copy_from_slice(w1c);
    }

    fn put8(&mut self, at: u16, value: u8, wmask: u8) {
        self.put(at, &[value], &[wmask], &[0]);
    }

    fn put16(&mut self, at: u16, value: u16, wmask: u16, w1c: u16) {
        self.put(
            at,
            &value.to_le_bytes(),
            &wmask.to_le_bytes(),
            &w1c.to_le_bytes(),
        );
    }

    fn put32(&mut self, at: u16, value: u32, wmask: u32, w1c: u32) {
        self.put(
            at,
            &value.to_le_bytes(),
            &wmask.to_le_bytes(),
            &w1c.to_le_bytes(),
        );
    }
}
