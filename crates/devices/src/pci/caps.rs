//! Registers of the capabilities a function carries: MSI-X and PCI Express in the
//! PCI-compatible space; PASID, ATS, PRI and ACS in the extended space (PCIe 6.0 ch. 7 and 10).

use bitfield_struct::bitfield;

/// Byte offsets of registers inside the MSI-X capability.
pub mod msix_offset {
    /// Message Control (16 bits).
    pub const CONTROL: u16 = 0x02;
    /// Table Offset/Table BIR (32 bits).
    pub const TABLE: u16 = 0x04;
    /// PBA Offset/PBA BIR (32 bits).
    pub const PBA: u16 = 0x08;
    /// Length of the capability.
    pub const LEN: u16 = 0x0C;
}

/// MSI-X Message Control.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct MsixControl {
    /// Table Size: number of vectors minus one.
    #[bits(11)]
    pub table_size: u16,
    #[bits(3)]
    __: u8,
    /// Function Mask: every vector is masked regardless of its own mask bit.
    pub function_mask: bool,
    /// MSI-X Enable.
    pub enable: bool,
}

/// MSI-X Table Offset/Table BIR and PBA Offset/PBA BIR: where a structure lies in a BAR.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct MsixLocation {
    /// BIR: the BAR (0–5) that maps the structure.
    #[bits(3)]
    pub bir: u8,
    /// Offset in the BAR, in units of 8 bytes.
    #[bits(29)]
    pub offset_qwords: u32,
}

/// Byte offsets of registers inside the PCI Express capability.
pub mod express_offset {
    /// PCI Express Capabilities (16 bits).
    pub const CAPABILITIES: u16 = 0x02;
    /// Device Capabilities (32 bits).
    pub const DEVICE_CAPABILITIES: u16 = 0x04;
    /// Device Control (16 bits).
    pub const DEVICE_CONTROL: u16 = 0x08;
    /// Device Status (16 bits).
    pub const DEVICE_STATUS: u16 = 0x0A;
    /// Link Capabilities (32 bits).
    pub const LINK_CAPABILITIES: u16 = 0x0C;
    /// Link Control (16 bits).
    pub const LINK_CONTROL: u16 = 0x10;
    /// Link Status (16 bits).
    pub const LINK_STATUS: u16 = 0x12;
    /// Device Capabilities 2 (32 bits).
    pub const DEVICE_CAPABILITIES_2: u16 = 0x24;
    /// Device Control 2 (16 bits).
    pub const DEVICE_CONTROL_2: u16 = 0x28;
    /// Length of a version-2 capability.
    pub const LEN: u16 = 0x3C;
}

/// Device/Port type of a PCI Express function with a type-0 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortType {
    /// PCI Express Endpoint behind a link.
    Endpoint = 0x0,
    /// Legacy PCI Express Endpoint.
    LegacyEndpoint = 0x1,
    /// Root Complex Integrated Endpoint: no link, so the link registers are reserved.
    RootComplexIntegratedEndpoint = 0x9,
}

impl PortType {
    /// Whether the function sits behind a link of its own (and so has link registers).
    pub const fn has_link(self) -> bool {
        !matches!(self, PortType::RootComplexIntegratedEndpoint)
    }
}

/// PCI Express Capabilities register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct ExpressCapabilities {
    /// Capability Version (2).
    #[bits(4)]
    pub version: u8,
    /// Device/Port Type.
    #[bits(4)]
    pub port_type: u8,
    /// Slot Implemented (ports only).
    pub slot_implemented: bool,
    /// Interrupt Message Number.
    #[bits(5)]
    pub interrupt_message: u8,
    #[bits(2)]
    __: u8,
}

/// Device Capabilities register.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct DeviceCapabilities {
    /// Max_Payload_Size Supported: 128 << n bytes.
    #[bits(3)]
    pub max_payload: u8,
    /// Phantom Functions Supported.
    #[bits(2)]
    pub phantom_functions: u8,
    /// Extended Tag Field Supported.
    pub extended_tag: bool,
    /// Endpoint L0s Acceptable Latency.
    #[bits(3)]
    pub l0s_latency: u8,
    /// Endpoint L1 Acceptable Latency.
    #[bits(3)]
    pub l1_latency: u8,
    #[bits(3)]
    __: u8,
    /// Role-Based Error Reporting.
    pub role_based_error_reporting: bool,
    /// ERR_COR Subclass Capable.
    pub err_cor_subclass: bool,
    #[bits(1)]
    __: u8,
    /// Captured Slot Power Limit Value.
    pub slot_power_value: u8,
    /// Captured Slot Power Limit Scale.
    #[bits(2)]
    pub slot_power_scale: u8,
    /// Function Level Reset Capability.
    pub flr: bool,
    #[bits(3)]
    __: u8,
}

/// Device Control register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct DeviceControl {
    /// Correctable Error Reporting Enable.
    pub correctable_reporting: bool,
    /// Non-Fatal Error Reporting Enable.
    pub non_fatal_reporting: bool,
    /// Fatal Error Reporting Enable.
    pub fatal_reporting: bool,
    /// Unsupported Request Reporting Enable.
    pub unsupported_request_reporting: bool,
    /// Enable Relaxed Ordering.
    pub relaxed_ordering: bool,
    /// Max_Payload_Size: 128 << n bytes.
    #[bits(3)]
    pub max_payload: u8,
    /// Extended Tag Field Enable.
    pub extended_tag: bool,
    /// Phantom Functions Enable.
    pub phantom_functions: bool,
    /// Aux Power PM Enable.
    pub aux_power_pm: bool,
    /// Enable No Snoop.
    pub no_snoop: bool,
    /// Max_Read_Request_Size: 128 << n bytes.
    #[bits(3)]
    pub max_read_request: u8,
    /// Initiate Function Level Reset: a write of 1 resets the function; reads 0.
    pub initiate_flr: bool,
}

/// Device Status register. The four error-detected bits are write-1-to-clear.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct DeviceStatus {
    /// Correctable Error Detected (RW1C).
    pub correctable_error: bool,
    /// Non-Fatal Error Detected (RW1C).
    pub non_fatal_error: bool,
    /// Fatal Error Detected (RW1C).
    pub fatal_error: bool,
    /// Unsupported Request Detected (RW1C).
    pub unsupported_request: bool,
    /// AUX Power Detected.
    pub aux_power: bool,
    /// Transactions Pending: non-posted requests have not completed.
    pub transactions_pending: bool,
    /// Emergency Power Reduction Detected (RW1C).
    pub emergency_power_reduction: bool,
    #[bits(9)]
    __: u16,
}

impl DeviceStatus {
    /// The write-1-to-clear bits this model implements.
    pub const ERROR_BITS: DeviceStatus = DeviceStatus::new()
        .with_correctable_error(true)
        .with_non_fatal_error(true)
        .with_fatal_error(true)
        .with_unsupported_request(true);
}

/// Link Capabilities register (reserved on a Root Complex Integrated Endpoint).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct LinkCapabilities {
    /// Max Link Speed: index into the supported speeds vector (1 = 2.5 GT/s).
    #[bits(4)]
    pub max_speed: u8,
    /// Maximum Link Width (lanes).
    #[bits(6)]
    pub max_width: u8,
    /// ASPM Support.
    #[bits(2)]
    pub aspm: u8,
    /// L0s Exit Latency.
    #[bits(3)]
    pub l0s_exit_latency: u8,
    /// L1 Exit Latency.
    #[bits(3)]
    pub l1_exit_latency: u8,
    #[bits(6)]
    __: u8,
    /// Port Number.
    pub port_number: u8,
}

/// Link Control register (reserved on a Root Complex Integrated Endpoint).
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct LinkControl {
    /// ASPM Control.
    #[bits(2)]
    pub aspm: u8,
    #[bits(1)]
    __: u8,
    /// Read Completion Boundary: 0 for 64 bytes, 1 for 128 bytes.
    pub read_completion_boundary: bool,
    /// Link Disable (ports only).
    pub link_disable: bool,
    /// Retrain Link (ports only).
    pub retrain_link: bool,
    /// Common Clock Configuration.
    pub common_clock: bool,
    /// Extended Synch.
    pub extended_synch: bool,
    #[bits(8)]
    __: u8,
}

/// Link Status register (reserved on a Root Complex Integrated Endpoint).
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct LinkStatus {
    /// Current Link Speed.
    #[bits(4)]
    pub speed: u8,
    /// Negotiated Link Width.
    #[bits(6)]
    pub width: u8,
    #[bits(1)]
    __: u8,
    /// Link Training.
    pub training: bool,
    /// Slot Clock Configuration.
    pub slot_clock: bool,
    /// Data Link Layer Link Active.
    pub dll_active: bool,
    #[bits(2)]
    __: u8,
}

/// Offsets inside the PASID, ATS, ACS (capability at 0x04, control at 0x06) and PRI extended
/// capabilities.
pub mod ext_offset {
    /// Capability register of PASID, ATS and ACS (16 bits).
    pub const CAPABILITY: u16 = 0x04;
    /// Control register of PASID, ATS and ACS (16 bits).
    pub const CONTROL: u16 = 0x06;
    /// PRI Control (16 bits).
    pub const PRI_CONTROL: u16 = 0x04;
    /// PRI Status (16 bits).
    pub const PRI_STATUS: u16 = 0x06;
    /// PRI Outstanding Page Request Capacity (32 bits).
    pub const PRI_CAPACITY: u16 = 0x08;
    /// PRI Outstanding Page Request Allocation (32 bits).
    pub const PRI_ALLOCATION: u16 = 0x0C;
    /// Length of the PASID, ATS and ACS capabilities (ACS without an egress vector).
    pub const SHORT_LEN: u16 = 0x08;
    /// Length of the PRI capability.
    pub const PRI_LEN: u16 = 0x10;
}

/// PASID Capability register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct PasidCapability {
    #[bits(1)]
    __: u8,
    /// Execute Permission Supported.
    pub execute: bool,
    /// Privileged Mode Supported.
    pub privileged: bool,
    #[bits(5)]
    __: u8,
    /// Max PASID Width: PASIDs are below `1 << width` (1–20).
    #[bits(5)]
    pub max_width: u8,
    #[bits(3)]
    __: u8,
}

/// PASID Control register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct PasidControl {
    /// PASID Enable.
    pub enable: bool,
    /// Execute Permission Enable (writable only when supported).
    pub execute: bool,
    /// Privileged Mode Enable (writable only when supported).
    pub privileged: bool,
    #[bits(13)]
    __: u16,
}

/// ATS Capability register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct AtsCapability {
    /// Invalidate Queue Depth: 0 means 32.
    #[bits(5)]
    pub queue_depth: u8,
    /// Page Aligned Request: untranslated addresses in translation requests are page aligned.
    pub page_aligned_request: bool,
    /// Global Invalidate Supported.
    pub global_invalidate: bool,
    /// Relaxed Ordering.
    pub relaxed_ordering: bool,
    #[bits(8)]
    __: u8,
}

/// ATS Control register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct AtsControl {
    /// Smallest Translation Unit: 4096 << stu bytes.
    #[bits(5)]
    pub stu: u8,
    #[bits(10)]
    __: u16,
    /// ATS Enable.
    pub enable: bool,
}

/// PRI Control register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct PriControl {
    /// Enable: the function may issue page requests.
    pub enable: bool,
    /// Reset: a write of 1 while disabled clears the outstanding request state; reads 0.
    pub reset: bool,
    #[bits(14)]
    __: u16,
}

/// PRI Status register.
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct PriStatus {
    /// Response Failure (RW1C): a response carried Response Failure.
    pub response_failure: bool,
    /// Unexpected Page Request Group Index (RW1C).
    pub unexpected_prg_index: bool,
    #[bits(6)]
    __: u8,
    /// Stopped: the interface is disabled and no request is outstanding.
    pub stopped: bool,
    #[bits(6)]
    __: u8,
    /// PRG Response PASID Required.
    pub prg_response_pasid_required: bool,
}

impl PriStatus {
    /// The write-1-to-clear bits.
    pub const ERROR_BITS: PriStatus = PriStatus::new()
        .with_response_failure(true)
        .with_unexpected_prg_index(true);
}

/// ACS Capability register (the bits a function implements) and ACS Control register (the
/// same positions enable them; bits 15:8 of the control register are reserved here).
#[bitfield(u16)]
#[derive(PartialEq, Eq)]
pub struct AcsFlags {
    /// Source Validation.
    pub source_validation: bool,
    /// Translation Blocking.
    pub translation_blocking: bool,
    /// P2P Request Redirect.
    pub request_redirect: bool,
    /// P2P Completion Redirect.
    pub completion_redirect: bool,
    /// Upstream Forwarding.
    pub upstream_forwarding: bool,
    /// P2P Egress Control.
    pub egress_control: bool,
    /// Direct Translated P2P.
    pub direct_translated: bool,
    #[bits(1)]
    __: u8,
    /// Egress Control Vector Size (capability register only).
    pub egress_vector_size: u8,
}
