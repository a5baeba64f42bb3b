//! Known-answer tests: every register's field positions, from the PCI Local Bus and PCI
//! Express specifications (the same values Linux's `pci_regs.h` names).

use super::caps::*;
use super::regs::*;
use super::*;

#[test]
fn header_offsets_match_the_type0_layout() {
    use super::regs::offset::*;
    let got = [
        VENDOR_ID,
        DEVICE_ID,
        COMMAND,
        STATUS,
        REVISION_ID,
        CLASS_CODE,
        CACHE_LINE_SIZE,
        LATENCY_TIMER,
        HEADER_TYPE,
        BIST,
        BAR0,
        CARDBUS_CIS,
        SUBSYSTEM_VENDOR_ID,
        SUBSYSTEM_ID,
        ROM_ADDRESS,
        CAPABILITIES_POINTER,
        INTERRUPT_LINE,
        INTERRUPT_PIN,
        MIN_GNT,
        MAX_LAT,
    ];
    let want = [
        0x00, 0x02, 0x04, 0x06, 0x08, 0x09, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x28, 0x2C, 0x2E, 0x30,
        0x34, 0x3C, 0x3D, 0x3E, 0x3F,
    ];
    assert_eq!(got, want);
    assert_eq!(CONFIG_SPACE_SIZE, 4096);
    assert_eq!(EXT_CAP_START, 0x100);
}

#[test]
fn command_and_status_bits() {
    let c = |f: fn(Command) -> Command| f(Command::new()).into_bits();
    assert_eq!(c(|c| c.with_io_space(true)), 0x0001);
    assert_eq!(c(|c| c.with_memory_space(true)), 0x0002);
    assert_eq!(c(|c| c.with_bus_master(true)), 0x0004);
    assert_eq!(c(|c| c.with_special_cycles(true)), 0x0008);
    assert_eq!(c(|c| c.with_parity_error_response(true)), 0x0040);
    assert_eq!(c(|c| c.with_serr_enable(true)), 0x0100);
    assert_eq!(c(|c| c.with_fast_back_to_back(true)), 0x0200);
    assert_eq!(c(|c| c.with_intx_disable(true)), 0x0400);
    let s = |f: fn(Status) -> Status| f(Status::new()).into_bits();
    assert_eq!(s(|s| s.with_immediate_readiness(true)), 0x0001);
    assert_eq!(s(|s| s.with_interrupt_status(true)), 0x0008);
    assert_eq!(s(|s| s.with_capabilities_list(true)), 0x0010);
    assert_eq!(s(|s| s.with_mhz66(true)), 0x0020);
    assert_eq!(s(|s| s.with_fast_back_to_back(true)), 0x0080);
    assert_eq!(s(|s| s.with_master_data_parity_error(true)), 0x0100);
    assert_eq!(s(|s| s.with_devsel_timing(3)), 0x0600);
    assert_eq!(s(|s| s.with_signaled_target_abort(true)), 0x0800);
    assert_eq!(s(|s| s.with_received_target_abort(true)), 0x1000);
    assert_eq!(s(|s| s.with_received_master_abort(true)), 0x2000);
    assert_eq!(s(|s| s.with_signaled_system_error(true)), 0x4000);
    assert_eq!(s(|s| s.with_detected_parity_error(true)), 0x8000);
    assert_eq!(Status::ERROR_BITS.into_bits(), 0xF900);
}

#[test]
fn bar_header_type_and_capability_headers() {
    assert_eq!(MemoryBar::new().with_io(true).into_bits(), 0x1);
    assert_eq!(
        MemoryBar::new()
            .with_mem_type(MemoryBar::TYPE_64)
            .into_bits(),
        0x4
    );
    assert_eq!(MemoryBar::new().with_prefetchable(true).into_bits(), 0x8);
    assert_eq!(
        MemoryBar::new().with_address(0xFFF_FFFF).into_bits(),
        0xFFFF_FFF0
    );
    assert_eq!(
        HeaderType::new().with_multi_function(true).into_bits(),
        0x80
    );
    assert_eq!(HeaderType::new().with_layout(0x7F).into_bits(), 0x7F);
    assert_eq!(
        CapHeader::new().with_id(0x11).with_next(0x80).into_bits(),
        0x8011
    );
    let ext = ExtCapHeader::new()
        .with_id(0x1B)
        .with_version(1)
        .with_next(0x108);
    assert_eq!(ext.into_bits(), 0x1081_001B);
    assert_eq!((cap_id::EXPRESS, cap_id::MSIX), (0x10, 0x11));
    let ids = [
        ext_cap_id::ACS,
        ext_cap_id::ATS,
        ext_cap_id::PRI,
        ext_cap_id::PASID,
    ];
    assert_eq!(ids, [0x0D, 0x0F, 0x13, 0x1B]);
}

#[test]
fn msix_capability_and_table_entry() {
    assert_eq!(
        [msix_offset::CONTROL, msix_offset::TABLE, msix_offset::PBA],
        [2, 4, 8]
    );
    assert_eq!(msix_offset::LEN, 12);
    assert_eq!(
        MsixControl::new().with_table_size(0x7FF).into_bits(),
        0x07FF
    );
    assert_eq!(
        MsixControl::new().with_function_mask(true).into_bits(),
        0x4000
    );
    assert_eq!(MsixControl::new().with_enable(true).into_bits(), 0x8000);
    assert_eq!(MsixLocation::new().with_bir(7).into_bits(), 0x7);
    assert_eq!(
        MsixLocation::new()
            .with_offset_qwords(u32::MAX >> 3)
            .into_bits(),
        0xFFFF_FFF8
    );
    assert_eq!(ENTRY_SIZE, 16);
    let entry = [
        entry_offset::ADDRESS_LOW,
        entry_offset::ADDRESS_HIGH,
        entry_offset::DATA,
        entry_offset::VECTOR_CONTROL,
    ];
    assert_eq!(entry, [0x0, 0x4, 0x8, 0xC]);
    assert_eq!(VectorControl::new().with_masked(true).into_bits(), 0x1);
}

#[test]
fn express_capability_registers() {
    use express_offset::*;
    let offsets = [
        CAPABILITIES,
        DEVICE_CAPABILITIES,
        DEVICE_CONTROL,
        DEVICE_STATUS,
        LINK_CAPABILITIES,
        LINK_CONTROL,
        LINK_STATUS,
        DEVICE_CAPABILITIES_2,
        DEVICE_CONTROL_2,
        LEN,
    ];
    assert_eq!(
        offsets,
        [0x02, 0x04, 0x08, 0x0A, 0x0C, 0x10, 0x12, 0x24, 0x28, 0x3C]
    );
    let caps = ExpressCapabilities::new().with_version(0xF).into_bits();
    assert_eq!(caps, 0x000F);
    let rciep = PortType::RootComplexIntegratedEndpoint as u8;
    assert_eq!(
        ExpressCapabilities::new().with_port_type(rciep).into_bits(),
        0x0090
    );
    assert_eq!(
        (PortType::Endpoint as u8, PortType::LegacyEndpoint as u8),
        (0, 1)
    );
    assert_eq!(
        ExpressCapabilities::new()
            .with_slot_implemented(true)
            .into_bits(),
        0x0100
    );
    assert_eq!(
        ExpressCapabilities::new()
            .with_interrupt_message(0x1F)
            .into_bits(),
        0x3E00
    );

    let d =
        |f: fn(DeviceCapabilities) -> DeviceCapabilities| f(DeviceCapabilities::new()).into_bits();
    assert_eq!(d(|d| d.with_max_payload(7)), 0x0000_0007);
    assert_eq!(d(|d| d.with_phantom_functions(3)), 0x0000_0018);
    assert_eq!(d(|d| d.with_extended_tag(true)), 0x0000_0020);
    assert_eq!(d(|d| d.with_l0s_latency(7)), 0x0000_01C0);
    assert_eq!(d(|d| d.with_l1_latency(7)), 0x0000_0E00);
    assert_eq!(d(|d| d.with_role_based_error_reporting(true)), 0x0000_8000);
    assert_eq!(d(|d| d.with_slot_power_value(0xFF)), 0x03FC_0000);
    assert_eq!(d(|d| d.with_slot_power_scale(3)), 0x0C00_0000);
    assert_eq!(d(|d| d.with_flr(true)), 0x1000_0000);

    let c = |f: fn(DeviceControl) -> DeviceControl| f(DeviceControl::new()).into_bits();
    assert_eq!(c(|c| c.with_correctable_reporting(true)), 0x0001);
    assert_eq!(c(|c| c.with_non_fatal_reporting(true)), 0x0002);
    assert_eq!(c(|c| c.with_fatal_reporting(true)), 0x0004);
    assert_eq!(c(|c| c.with_unsupported_request_reporting(true)), 0x0008);
    assert_eq!(c(|c| c.with_relaxed_ordering(true)), 0x0010);
    assert_eq!(c(|c| c.with_max_payload(7)), 0x00E0);
    assert_eq!(c(|c| c.with_extended_tag(true)), 0x0100);
    assert_eq!(c(|c| c.with_phantom_functions(true)), 0x0200);
    assert_eq!(c(|c| c.with_aux_power_pm(true)), 0x0400);
    assert_eq!(c(|c| c.with_no_snoop(true)), 0x0800);
    assert_eq!(c(|c| c.with_max_read_request(7)), 0x7000);
    assert_eq!(c(|c| c.with_initiate_flr(true)), 0x8000);

    let s = |f: fn(DeviceStatus) -> DeviceStatus| f(DeviceStatus::new()).into_bits();
    assert_eq!(s(|s| s.with_correctable_error(true)), 0x01);
    assert_eq!(s(|s| s.with_non_fatal_error(true)), 0x02);
    assert_eq!(s(|s| s.with_fatal_error(true)), 0x04);
    assert_eq!(s(|s| s.with_unsupported_request(true)), 0x08);
    assert_eq!(s(|s| s.with_aux_power(true)), 0x10);
    assert_eq!(s(|s| s.with_transactions_pending(true)), 0x20);
    assert_eq!(DeviceStatus::ERROR_BITS.into_bits(), 0x0F);

    assert_eq!(
        LinkCapabilities::new().with_max_speed(0xF).into_bits(),
        0x0000_000F
    );
    assert_eq!(
        LinkCapabilities::new().with_max_width(0x3F).into_bits(),
        0x0000_03F0
    );
    assert_eq!(
        LinkCapabilities::new().with_aspm(3).into_bits(),
        0x0000_0C00
    );
    assert_eq!(
        LinkCapabilities::new().with_port_number(0xFF).into_bits(),
        0xFF00_0000
    );
    assert_eq!(LinkControl::new().with_aspm(3).into_bits(), 0x0003);
    assert_eq!(
        LinkControl::new()
            .with_read_completion_boundary(true)
            .into_bits(),
        0x0008
    );
    assert_eq!(
        LinkControl::new().with_link_disable(true).into_bits(),
        0x0010
    );
    assert_eq!(
        LinkControl::new().with_retrain_link(true).into_bits(),
        0x0020
    );
    assert_eq!(
        LinkControl::new().with_common_clock(true).into_bits(),
        0x0040
    );
    assert_eq!(
        LinkControl::new().with_extended_synch(true).into_bits(),
        0x0080
    );
    assert_eq!(LinkStatus::new().with_speed(0xF).into_bits(), 0x000F);
    assert_eq!(LinkStatus::new().with_width(0x3F).into_bits(), 0x03F0);
    assert_eq!(LinkStatus::new().with_training(true).into_bits(), 0x0800);
    assert_eq!(LinkStatus::new().with_slot_clock(true).into_bits(), 0x1000);
    assert_eq!(LinkStatus::new().with_dll_active(true).into_bits(), 0x2000);
}

#[test]
fn extended_capability_registers() {
    use ext_offset::*;
    assert_eq!([CAPABILITY, CONTROL], [0x04, 0x06]);
    assert_eq!(
        [PRI_CONTROL, PRI_STATUS, PRI_CAPACITY, PRI_ALLOCATION],
        [0x04, 0x06, 0x08, 0x0C]
    );
    assert_eq!([SHORT_LEN, PRI_LEN], [8, 16]);

    assert_eq!(
        PasidCapability::new().with_execute(true).into_bits(),
        0x0002
    );
    assert_eq!(
        PasidCapability::new().with_privileged(true).into_bits(),
        0x0004
    );
    assert_eq!(
        PasidCapability::new().with_max_width(0x1F).into_bits(),
        0x1F00
    );
    assert_eq!(PasidControl::new().with_enable(true).into_bits(), 0x0001);
    assert_eq!(PasidControl::new().with_execute(true).into_bits(), 0x0002);
    assert_eq!(
        PasidControl::new().with_privileged(true).into_bits(),
        0x0004
    );

    assert_eq!(
        AtsCapability::new().with_queue_depth(0x1F).into_bits(),
        0x001F
    );
    assert_eq!(
        AtsCapability::new()
            .with_page_aligned_request(true)
            .into_bits(),
        0x0020
    );
    assert_eq!(
        AtsCapability::new()
            .with_global_invalidate(true)
            .into_bits(),
        0x0040
    );
    assert_eq!(AtsControl::new().with_stu(0x1F).into_bits(), 0x001F);
    assert_eq!(AtsControl::new().with_enable(true).into_bits(), 0x8000);

    assert_eq!(PriControl::new().with_enable(true).into_bits(), 0x0001);
    assert_eq!(PriControl::new().with_reset(true).into_bits(), 0x0002);
    assert_eq!(
        PriStatus::new().with_response_failure(true).into_bits(),
        0x0001
    );
    assert_eq!(
        PriStatus::new().with_unexpected_prg_index(true).into_bits(),
        0x0002
    );
    assert_eq!(PriStatus::new().with_stopped(true).into_bits(), 0x0100);
    assert_eq!(
        PriStatus::new()
            .with_prg_response_pasid_required(true)
            .into_bits(),
        0x8000
    );

    let a = |f: fn(AcsFlags) -> AcsFlags| f(AcsFlags::new()).into_bits();
    assert_eq!(a(|a| a.with_source_validation(true)), 0x0001);
    assert_eq!(a(|a| a.with_translation_blocking(true)), 0x0002);
    assert_eq!(a(|a| a.with_request_redirect(true)), 0x0004);
    assert_eq!(a(|a| a.with_completion_redirect(true)), 0x0008);
    assert_eq!(a(|a| a.with_upstream_forwarding(true)), 0x0010);
    assert_eq!(a(|a| a.with_egress_control(true)), 0x0020);
    assert_eq!(a(|a| a.with_direct_translated(true)), 0x0040);
    assert_eq!(a(|a| a.with_egress_vector_size(0xFF)), 0xFF00);
}

/// A DSA-shaped function with every capability.
pub(super) fn full() -> ConfigSpace {
    super::fuzz::full_function()
        .build()
        .expect("valid declaration")
}

/// Walks the capability list as a driver does and returns (offset, id) pairs.
pub(super) fn walk_caps(cfg: &ConfigSpace) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut at = cfg.read(0x34, AccessSize::Byte) & 0xFC;
    while at != 0 && out.len() < 48 {
        let h = cfg.read(at, AccessSize::Word);
        out.push((at, h & 0xFF));
        at = (h >> 8) & 0xFC;
    }
    out
}

/// Walks the extended capability list and returns (offset, id, version) triples.
pub(super) fn walk_ext_caps(cfg: &ConfigSpace) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    let mut at = 0x100;
    while out.len() < 64 {
        let h = cfg.read(at, AccessSize::Dword);
        if h == 0 {
            break;
        }
        out.push((at, h & 0xFFFF, (h >> 16) & 0xF));
        at = h >> 20;
        if at < 0x100 {
            break;
        }
    }
    out
}

#[test]
fn built_function_reads_like_the_declaration() {
    let cfg = full();
    assert_eq!(cfg.read(0x00, AccessSize::Dword), 0x0B25_8086);
    assert_eq!(
        cfg.read(0x08, AccessSize::Dword),
        0x0880_0001,
        "class 08.80.00, revision 1"
    );
    assert_eq!(
        cfg.read(0x0E, AccessSize::Byte),
        0x00,
        "type-0 header, single function"
    );
    assert_eq!(
        cfg.read(0x06, AccessSize::Word),
        0x0010,
        "capabilities list present"
    );
    assert_eq!(
        cfg.read(0x10, AccessSize::Dword),
        0x4,
        "64-bit non-prefetchable memory"
    );
    assert_eq!(
        cfg.read(0x18, AccessSize::Dword),
        0xC,
        "64-bit prefetchable memory"
    );
    assert_eq!(
        cfg.read(0x20, AccessSize::Dword),
        0,
        "BAR 4 not implemented"
    );
    assert_eq!(cfg.read(0x2C, AccessSize::Dword), 0x1234_8086);
    assert_eq!(cfg.read(0x3D, AccessSize::Byte), 0, "no INTx pin");
    assert_eq!(walk_caps(&cfg), [(0x40, 0x10), (0x80, 0x11)]);
    assert_eq!(cfg.read(0x42, AccessSize::Word), 0x0092, "PCIe v2, RCiEP");
    assert_eq!(
        cfg.read(0x44, AccessSize::Dword) & 0x1000_0000,
        0x1000_0000,
        "FLR capable"
    );
    assert_eq!(cfg.read(0x4C, AccessSize::Dword), 0, "an RCiEP has no link");
    assert_eq!(cfg.read(0x82, AccessSize::Word), 8, "9 vectors, disabled");
    assert_eq!(
        cfg.read(0x84, AccessSize::Dword),
        0x2000,
        "table in BAR 0 at 0x2000"
    );
    assert_eq!(
        cfg.read(0x88, AccessSize::Dword),
        0x3000,
        "PBA in BAR 0 at 0x3000"
    );
    let ext = walk_ext_caps(&cfg);
    assert_eq!(ext, [(0x100, 0x1B, 1), (0x108, 0x0F, 1), (0x110, 0x13, 1)]);
    assert_eq!(
        cfg.read(0x104, AccessSize::Word),
        0x1406,
        "20-bit PASID, exec, priv"
    );
    assert_eq!(
        cfg.read(0x10C, AccessSize::Word),
        0x0020,
        "queue depth 32 (0), page aligned"
    );
    assert_eq!(
        cfg.read(0x116, AccessSize::Word),
        0x8100,
        "stopped, PASID required"
    );
    assert_eq!(cfg.read(0x118, AccessSize::Dword), 512);
}
