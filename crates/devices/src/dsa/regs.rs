//! BAR 0 register offsets and the layouts of the registers and configuration tables.

use bitfield_struct::bitfield;

/// VERSION register.
pub const VERSION: u64 = 0x00;
/// GENCAP: general capabilities.
pub const GENCAP: u64 = 0x10;
/// WQCAP: work-queue capabilities.
pub const WQCAP: u64 = 0x20;
/// GRPCAP: group capabilities.
pub const GRPCAP: u64 = 0x30;
/// ENGCAP: engine capabilities.
pub const ENGCAP: u64 = 0x38;
/// OPCAP: the 256-bit supported-operations mask.
pub const OPCAP: u64 = 0x40;
/// TABLE_OFFSET: where the configuration tables are (128 bits).
pub const TABLE_OFFSET: u64 = 0x60;
/// GENCFG: general configuration.
pub const GENCFG: u64 = 0x80;
/// GENCTRL: general control (interrupt enables).
pub const GENCTRL: u64 = 0x88;
/// GENSTS: general status.
pub const GENSTS: u64 = 0x90;
/// INTCAUSE: interrupt cause (write 1 to clear).
pub const INTCAUSE: u64 = 0x98;
/// CMD: command.
pub const CMD: u64 = 0xa0;
/// CMDSTS: command status.
pub const CMDSTS: u64 = 0xa8;
/// CMDCAP: supported commands, one bit per command number.
pub const CMDCAP: u64 = 0xb0;
/// SWERR: software error (256 bits).
pub const SWERR: u64 = 0xc0;
/// The unit TABLE_OFFSET's fields count in.
pub const TABLE_MULT: u64 = 0x100;
/// Where this engine's GRPCFG table starts.
pub const GRPCFG_BASE: u64 = 0x400;
/// Where this engine's WQCFG table starts.
pub const WQCFG_BASE: u64 = 0x800;
/// Bytes per GRPCFG entry.
pub const GRPCFG_SIZE: u64 = 64;
/// Bytes per WQCFG entry (64: with the per-WQ operation configuration).
pub const WQCFG_SIZE: u64 = 64;
/// The size of the register file in BAR 0.
pub const REGS_SIZE: u64 = 0x1000;
/// Bytes of BAR 2 per work queue (four 4 KiB portals).
pub const WQ_PORTALS_SIZE: u64 = 0x4000;

/// Interrupt cause: software error.
pub const INTC_ERR: u32 = 0x01;
/// Interrupt cause: command completed.
pub const INTC_CMD: u32 = 0x02;

/// GENCAP.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct GenCap {
    /// Block on fault supported.
    pub block_on_fault: bool,
    /// Overlapping memory move supported.
    pub overlap_copy: bool,
    /// Cache control to memory supported.
    pub cache_control_mem: bool,
    /// Cache control to cache supported.
    pub cache_control_cache: bool,
    /// CMDCAP is present.
    pub cmd_cap: bool,
    #[bits(3)]
    rsvd: u8,
    /// Destination readback supported.
    pub dest_readback: bool,
    /// Drain readback supported.
    pub drain_readback: bool,
    #[bits(3)]
    rsvd2: u8,
    /// Event log support.
    #[bits(2)]
    pub evl_support: u8,
    /// Batch continuation supported.
    pub batch_continuation: bool,
    /// Log2 of the maximum transfer size.
    #[bits(5)]
    pub max_xfer_shift: u8,
    /// Log2 of the maximum batch size.
    #[bits(4)]
    pub max_batch_shift: u8,
    /// Interrupt message storage size multiplier.
    #[bits(6)]
    pub max_ims_mult: u8,
    /// Configuration is writable.
    pub config_en: bool,
    rsvd3: u32,
}

/// WQCAP.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct WqCap {
    /// Total WQ entries the device has.
    pub total_wq_size: u16,
    /// Number of WQs.
    pub num_wqs: u8,
    /// WQCFG entry size: 32 << this.
    #[bits(4)]
    pub wqcfg_size: u8,
    #[bits(20)]
    rsvd: u32,
    /// Shared mode supported.
    pub shared_mode: bool,
    /// Dedicated mode supported.
    pub dedicated_mode: bool,
    /// Per-WQ ATS disable supported.
    pub wq_ats_support: bool,
    /// WQ priority supported.
    pub priority: bool,
    /// Occupancy reporting supported.
    pub occupancy: bool,
    /// Occupancy interrupt supported.
    pub occupancy_int: bool,
    /// Per-WQ operation configuration supported.
    pub op_config: bool,
    /// Per-WQ PRS disable supported.
    pub wq_prs_support: bool,
    rsvd4: u8,
}

/// GRPCAP.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct GrpCap {
    /// Number of groups.
    pub num_groups: u8,
    /// Total read buffers.
    pub total_rdbufs: u8,
    /// Read buffer control supported.
    pub rdbuf_ctrl: bool,
    /// Read buffer limit supported.
    pub rdbuf_limit: bool,
    /// Progress limit supported.
    pub progress_limit: bool,
    #[bits(45)]
    rsvd: u64,
}

/// TABLE_OFFSET's first quadword (offsets in units of [`TABLE_MULT`]).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct TableOffsets {
    /// GRPCFG table offset.
    pub grpcfg: u16,
    /// WQCFG table offset.
    pub wqcfg: u16,
    /// MSI-X permission table offset.
    pub msix_perm: u16,
    /// IMS table offset.
    pub ims: u16,
}

/// GENCFG.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct GenCfg {
    /// Global read buffer limit.
    pub rdbuf_limit: u8,
    #[bits(4)]
    rsvd: u8,
    /// User-mode interrupts enabled.
    pub user_int_en: bool,
    /// Event log enabled.
    pub evl_en: bool,
    #[bits(18)]
    rsvd2: u32,
}

/// GENCTRL.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct GenCtrl {
    /// Interrupt on software error.
    pub softerr_int_en: bool,
    /// Interrupt on halt.
    pub halt_int_en: bool,
    /// Interrupt on event log.
    pub evl_int_en: bool,
    #[bits(29)]
    rsvd: u32,
}

/// Device states in GENSTS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DeviceState {
    /// Disabled: configurable.
    Disabled = 0,
    /// Enabled: accepting work.
    Enabled = 1,
    /// Draining.
    Drain = 2,
    /// Halted by an error.
    Halt = 3,
}

/// GENSTS.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct GenSts {
    /// Device state ([`DeviceState`]).
    #[bits(2)]
    pub state: u8,
    /// Reset type of the last reset.
    #[bits(2)]
    pub reset_type: u8,
    #[bits(28)]
    rsvd: u32,
}

/// CMD.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct CmdReg {
    /// Operand: a WQ index, a WQ mask with its block, or a PASID.
    #[bits(20)]
    pub operand: u32,
    /// Command number ([`Command`]).
    #[bits(5)]
    pub cmd: u8,
    #[bits(6)]
    rsvd: u8,
    /// Interrupt on completion.
    pub int_req: bool,
}

/// Commands written to CMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    /// Enable device.
    EnableDevice = 1,
    /// Disable device.
    DisableDevice = 2,
    /// Drain all.
    DrainAll = 3,
    /// Abort all.
    AbortAll = 4,
    /// Reset device.
    ResetDevice = 5,
    /// Enable WQ (operand: index).
    EnableWq = 6,
    /// Disable WQ (operand: mask).
    DisableWq = 7,
    /// Drain WQ (operand: mask).
    DrainWq = 8,
    /// Abort WQ (operand: mask).
    AbortWq = 9,
    /// Reset WQ (operand: mask).
    ResetWq = 10,
    /// Drain PASID.
    DrainPasid = 11,
    /// Abort PASID.
    AbortPasid = 12,
}

impl Command {
    /// The command numbered `n`, if this engine supports it.
    pub fn from_u8(n: u8) -> Option<Self> {
        use Command::*;
        Some(match n {
            1 => EnableDevice,
            2 => DisableDevice,
            3 => DrainAll,
            4 => AbortAll,
            5 => ResetDevice,
            6 => EnableWq,
            7 => DisableWq,
            8 => DrainWq,
            9 => AbortWq,
            10 => ResetWq,
            11 => DrainPasid,
            12 => AbortPasid,
            _ => return None,
        })
    }
}

/// CMDCAP: commands 1 to 12 (request/release interrupt handle, 13 and 14, absent).
pub const CMDCAP_VALUE: u32 = 0x1ffe;

/// CMDSTS.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct CmdSts {
    /// Error code ([`CmdErr`]); 0 on success.
    pub err: u8,
    /// Command result.
    pub result: u16,
    #[bits(7)]
    rsvd: u8,
    /// A command is in progress.
    pub active: bool,
}

/// CMDSTS error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CmdErr {
    /// Success.
    Success = 0x00,
    /// Unsupported command.
    InvalidCmd = 0x01,
    /// WQ index out of range.
    InvalidWqIdx = 0x02,
    /// Enable device: already enabled.
    DevEnabled = 0x10,
    /// Enable device: configuration invalid.
    Config = 0x11,
    /// Enable device: bus mastering disabled.
    BusMasterEn = 0x12,
    /// PASID enabled in configuration but not in the PASID capability.
    PasidInvalid = 0x13,
    /// Enable device: WQ sizes add up to more than the total.
    WqSizeErange = 0x14,
    /// Enable device: a group with WQs has no engine.
    GrpConfig = 0x15,
    /// Enable device: an engine in a group without WQs, or a WQ in no group.
    GrpConfig2 = 0x16,
    /// Enable device: a WQ in more than one group.
    GrpConfig3 = 0x17,
    /// Enable device: an engine in more than one group.
    GrpConfig4 = 0x18,
    /// Enable WQ: device not enabled.
    DevNotEnabled = 0x20,
    /// Enable WQ: WQ already enabled.
    WqEnabled = 0x21,
    /// Enable WQ: WQ size zero.
    WqSize = 0x22,
    /// Enable WQ: priority out of range.
    WqPriority = 0x23,
    /// Enable WQ: mode not supported.
    WqMode = 0x24,
    /// Enable WQ: block on fault enabled without support.
    BofEn = 0x25,
    /// Enable WQ: PASID enable set but PASID capability disabled (or shared WQ without it).
    PasidEn = 0x26,
    /// Enable WQ: max batch size over GENCAP's.
    MaxBatchSize = 0x27,
    /// Enable WQ: max transfer size over GENCAP's.
    MaxXferSize = 0x28,
    /// Disable device: device not enabled.
    DisDevNotEnabled = 0x31,
    /// Disable/drain/abort/reset WQ: a named WQ is not enabled.
    WqNotEnabled = 0x32,
}

/// WQCFG dword 2 (bytes 8–11): mode and PASID.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct WqCfgMode {
    /// Dedicated (1) or shared (0).
    pub dedicated: bool,
    /// Block on fault enable.
    pub bof: bool,
    /// ATS disable.
    pub ats_disable: bool,
    /// PRS disable.
    pub prs_disable: bool,
    /// Priority (1–15).
    #[bits(4)]
    pub priority: u8,
    /// PASID of a dedicated WQ.
    #[bits(20)]
    pub pasid: u32,
    /// A dedicated WQ's requests carry its PASID.
    pub pasid_en: bool,
    /// Privileged requests (dedicated) or allowed (shared).
    pub privileged: bool,
    #[bits(2)]
    rsvd: u8,
}

/// WQCFG dword 3 (bytes 12–15): size limits.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct WqCfgLimits {
    /// Log2 of the maximum transfer size.
    #[bits(5)]
    pub max_xfer_shift: u8,
    /// Log2 of the maximum batch size.
    #[bits(4)]
    pub max_batch_shift: u8,
    #[bits(23)]
    rsvd: u32,
}

/// WQCFG dword 6 (bytes 24–27): occupancy and state (read-only).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct WqCfgState {
    /// Entries in use.
    pub occupancy: u16,
    /// Occupancy interrupt.
    pub occupancy_int: bool,
    #[bits(12)]
    rsvd: u16,
    /// Mode support: dedicated mode may be configured.
    pub mode_support: bool,
    /// WQ state: 0 disabled, 1 enabled.
    #[bits(2)]
    pub wq_state: u8,
}

/// SWERR's first quadword.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct SwErr0 {
    /// An error is recorded.
    pub valid: bool,
    /// Another error happened while one was recorded.
    pub overflow: bool,
    /// The operation field is valid.
    pub desc_valid: bool,
    /// The WQ index is valid.
    pub wq_idx_valid: bool,
    /// The error was in a batch.
    pub batch: bool,
    /// The faulting access was a write.
    pub fault_rw: bool,
    /// The descriptor was privileged.
    pub privileged: bool,
    rsvd: bool,
    /// Error code (a completion status code).
    pub error: u8,
    /// WQ index.
    pub wq_idx: u8,
    rsvd2: u8,
    /// Opcode.
    pub operation: u8,
    /// PASID.
    #[bits(20)]
    pub pasid: u32,
    #[bits(4)]
    rsvd3: u8,
}

/// SWERR's second quadword.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct SwErr1 {
    /// Index in the batch.
    pub batch_idx: u16,
    rsvd: u16,
    /// Invalid flags.
    pub invalid_flags: u32,
}

/// GRPCFG's flags quadword (bytes 40–47).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct GrpFlags {
    /// Traffic class A.
    #[bits(3)]
    pub tc_a: u8,
    /// Traffic class B.
    #[bits(3)]
    pub tc_b: u8,
    rsvd: bool,
    /// Use the read buffer limit.
    pub use_rdbuf_limit: bool,
    /// Read buffers reserved.
    pub rdbufs_reserved: u8,
    #[bits(4)]
    rsvd2: u8,
    /// Read buffers allowed.
    pub rdbufs_allowed: u8,
    #[bits(36)]
    rsvd3: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_field_positions() {
        let g = GenCap::new()
            .with_block_on_fault(true)
            .with_cmd_cap(true)
            .with_max_xfer_shift(31)
            .with_max_batch_shift(10);
        assert_eq!(g.into_bits(), 0x1 | 0x10 | (31 << 16) | (10 << 21));
        let w = WqCap::new()
            .with_total_wq_size(128)
            .with_num_wqs(8)
            .with_wqcfg_size(1)
            .with_shared_mode(true)
            .with_op_config(true);
        assert_eq!(
            w.into_bits(),
            128 | (8 << 16) | (1 << 24) | (1 << 48) | (1 << 54)
        );
        assert_eq!(
            GrpCap::new()
                .with_num_groups(4)
                .with_total_rdbufs(8)
                .into_bits(),
            0x0804
        );
        let t = TableOffsets::new().with_grpcfg(4).with_wqcfg(8);
        assert_eq!(t.into_bits(), 0x0008_0004);
    }

    #[test]
    fn control_field_positions() {
        assert!(GenCtrl::from_bits(1).softerr_int_en());
        assert_eq!(GenSts::new().with_state(3).into_bits(), 3);
        let c = CmdReg::from_bits(0x8000_0000 | (6 << 20) | 5);
        assert_eq!((c.int_req(), c.cmd(), c.operand()), (true, 6, 5));
        let s = CmdSts::new()
            .with_err(0x22)
            .with_result(0x1234)
            .with_active(true);
        assert_eq!(s.into_bits(), 0x8012_3422);
        assert_eq!(
            CMDCAP_VALUE & (1 << 13),
            0,
            "no request-interrupt-handle command"
        );
    }

    #[test]
    fn wqcfg_and_swerr_positions() {
        let m = WqCfgMode::new()
            .with_dedicated(true)
            .with_bof(true)
            .with_priority(10)
            .with_pasid(0x12345)
            .with_pasid_en(true)
            .with_privileged(true);
        assert_eq!(
            m.into_bits(),
            0x3 | (10 << 4) | (0x12345 << 8) | (1 << 28) | (1 << 29)
        );
        let l = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        assert_eq!(l.into_bits(), 21 | (5 << 5));
        assert_eq!(WqCfgState::new().with_wq_state(1).into_bits(), 1 << 30);
        let e = SwErr0::new()
            .with_valid(true)
            .with_overflow(true)
            .with_wq_idx_valid(true)
            .with_error(0x1b)
            .with_wq_idx(3)
            .with_operation(0x03)
            .with_pasid(7);
        assert_eq!(
            e.into_bits(),
            0xb | (0x1b << 8) | (3 << 16) | (3 << 32) | (7 << 40)
        );
        assert_eq!(
            SwErr1::new().with_invalid_flags(0x40).into_bits(),
            0x40 << 32
        );
    }
}
