//! Type-0 header registers and capability headers (PCI Local Bus 3.0 ch. 6, PCIe 6.0 7.5.1).

use bitfield_struct::bitfield;

/// Size of a function's configuration space: the 256-byte PCI space plus the extended space.
pub const CONFIG_SPACE_SIZE: usize = 4096;
/// First byte of the extended configuration space, where the extended capability list starts.
pub const EXT_CAP_START: u16 = 0x100;

/// Byte offsets of the type-0 header registers.
pub mod offset {
    /// Vendor ID (16 bits).
    pub const VENDOR_ID: u16 = 0x00;
    /// Device ID (16 bits).
    pub const DEVICE_ID: u16 = 0x02;
    /// Command (16 bits).
    pub const COMMAND: u16 = 0x04;
    /// Status (16 bits).
    pub const STATUS: u16 = 0x06;
    /// Revision ID (8 bits).
    pub const REVISION_ID: u16 = 0x08;
    /// Class code: programming interface, sub-class, base class (24 bits).
    pub const CLASS_CODE: u16 = 0x09;
    /// Cache line size (8 bits).
    pub const CACHE_LINE_SIZE: u16 = 0x0C;
    /// Latency timer (8 bits, hard-wired 0 on PCI Express).
    pub const LATENCY_TIMER: u16 = 0x0D;
    /// Header type (8 bits).
    pub const HEADER_TYPE: u16 = 0x0E;
    /// BIST (8 bits).
    pub const BIST: u16 = 0x0F;
    /// Base address register 0; BAR n is at `BAR0 + 4 * n`.
    pub const BAR0: u16 = 0x10;
    /// CardBus CIS pointer (32 bits).
    pub const CARDBUS_CIS: u16 = 0x28;
    /// Subsystem vendor ID (16 bits).
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2C;
    /// Subsystem ID (16 bits).
    pub const SUBSYSTEM_ID: u16 = 0x2E;
    /// Expansion ROM base address (32 bits).
    pub const ROM_ADDRESS: u16 = 0x30;
    /// Capabilities pointer (8 bits).
    pub const CAPABILITIES_POINTER: u16 = 0x34;
    /// Interrupt line (8 bits).
    pub const INTERRUPT_LINE: u16 = 0x3C;
    /// Interrupt pin (8 bits).
    pub const INTERRUPT_PIN: u16 = 0x3D;
    /// Min_Gnt (8 bits).
    pub const MIN_GNT: u16 = 0x3E;
    /// Max_Lat (8 bits).
    pub const MAX_LAT: u16 = 0x3F;
}

/// Number of base address registers in a type-0 header.
pub const BAR_COUNT: usize = 6;

/// Command register (offset 0x04).
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct Command {
    /// I/O Space Enable: respond to I/O space accesses.
    pub io_space: bool,
    /// Memory Space Enable: respond to memory space accesses (the BARs decode).
    pub memory_space: bool,
    /// Bus Master Enable: the function may issue memory requests (DMA, MSI).
    pub bus_master: bool,
    /// Special Cycle Enable (hard-wired 0 on PCI Express).
    pub special_cycles: bool,
    /// Memory Write and Invalidate (hard-wired 0 on PCI Express).
    pub mwi: bool,
    /// VGA Palette Snoop (hard-wired 0 on PCI Express).
    pub vga_palette_snoop: bool,
    /// Parity Error Response.
    pub parity_error_response: bool,
    /// IDSEL stepping (hard-wired 0).
    pub idsel_stepping: bool,
    /// SERR# Enable.
    pub serr_enable: bool,
    /// Fast Back-to-Back Enable (hard-wired 0 on PCI Express).
    pub fast_back_to_back: bool,
    /// Interrupt Disable: the function may not assert INTx.
    pub intx_disable: bool,
    #[bits(5)]
    __: u8,
}

/// Status register (offset 0x06). The error bits are write-1-to-clear.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct Status {
    /// Immediate Readiness.
    pub immediate_readiness: bool,
    #[bits(2)]
    __: u8,
    /// Interrupt Status: an INTx is pending.
    pub interrupt_status: bool,
    /// Capabilities List: the capabilities pointer is valid.
    pub capabilities_list: bool,
    /// 66 MHz Capable (hard-wired 0 on PCI Express).
    pub mhz66: bool,
    #[bits(1)]
    __: u8,
    /// Fast Back-to-Back Transactions Capable (hard-wired 0 on PCI Express).
    pub fast_back_to_back: bool,
    /// Master Data Parity Error (RW1C).
    pub master_data_parity_error: bool,
    /// DEVSEL timing (hard-wired 0 on PCI Express).
    #[bits(2)]
    pub devsel_timing: u8,
    /// Signaled Target Abort (RW1C).
    pub signaled_target_abort: bool,
    /// Received Target Abort (RW1C).
    pub received_target_abort: bool,
    /// Received Master Abort (RW1C).
    pub received_master_abort: bool,
    /// Signaled System Error (RW1C).
    pub signaled_system_error: bool,
    /// Detected Parity Error (RW1C).
    pub detected_parity_error: bool,
}

impl Status {
    /// The write-1-to-clear error bits.
    pub const ERROR_BITS: Status = Status::new()
        .with_master_data_parity_error(true)
        .with_signaled_target_abort(true)
        .with_received_target_abort(true)
        .with_received_master_abort(true)
        .with_signaled_system_error(true)
        .with_detected_parity_error(true);
}

/// Header Type register (offset 0x0E).
#[bitfield(u8)]
#[derive(PartialEq, Eq)]
pub struct HeaderType {
    /// Header layout: 0 for a function that is not a bridge.
    #[bits(7)]
    pub layout: u8,
    /// Multi-Function Device.
    pub multi_function: bool,
}

/// Low dword of a memory BAR.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct MemoryBar {
    /// Memory Space Indicator: 0 for memory, 1 for I/O.
    pub io: bool,
    /// Memory type: 0 for 32-bit, 2 for 64-bit (the next BAR holds the upper half).
    #[bits(2)]
    pub mem_type: u8,
    /// Prefetchable.
    pub prefetchable: bool,
    /// Base address bits 31:4.
    #[bits(28)]
    pub address: u32,
}

impl MemoryBar {
    /// The `mem_type` of a 64-bit memory BAR.
    pub const TYPE_64: u8 = 2;
}

/// Header of a capability in the PCI-compatible space: ID and the next capability's offset.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct CapHeader {
    /// Capability ID.
    pub id: u8,
    /// Offset of the next capability, 0 at the end of the list.
    pub next: u8,
}

/// Capability IDs in the PCI-compatible space.
pub mod cap_id {
    /// PCI Express.
    pub const EXPRESS: u8 = 0x10;
    /// MSI-X.
    pub const MSIX: u8 = 0x11;
}

/// Header of an extended capability (offset 0x100 and on).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct ExtCapHeader {
    /// Extended capability ID.
    pub id: u16,
    /// Capability version.
    #[bits(4)]
    pub version: u8,
    /// Offset of the next extended capability, 0 at the end of the list.
    #[bits(12)]
    pub next: u16,
}

/// Extended capability IDs.
pub mod ext_cap_id {
    /// Access Control Services.
    pub const ACS: u16 = 0x000D;
    /// Address Translation Services.
    pub const ATS: u16 = 0x000F;
    /// Page Request Interface.
    pub const PRI: u16 = 0x0013;
    /// Process Address Space ID.
    pub const PASID: u16 = 0x001B;
}
