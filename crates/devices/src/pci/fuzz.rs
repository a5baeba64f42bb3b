//! Invariants every configuration space keeps, and a fuzz body that drives random accesses
//! against them.

use super::caps::{
    AcsFlags, AtsControl, DeviceControl, DeviceStatus, PasidCapability, PasidControl, PortType,
    PriControl, PriStatus, express_offset, ext_offset,
};
use super::config::{AccessSize, ConfigSpace};
use super::regs::{CONFIG_SPACE_SIZE, Command, Status};
use super::{FunctionBuilder, MSIX_CAP_OFFSET};

/// A broken rule of configuration space, found by [`ConfigSpace::check_invariants`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("configuration space invariant broken at {offset:#x}: {rule}")]
pub struct InvariantViolation {
    /// Byte offset of the register concerned.
    pub offset: u32,
    /// What was expected.
    pub rule: &'static str,
}

fn fail(offset: u16, rule: &'static str) -> Result<(), InvariantViolation> {
    Err(InvariantViolation {
        offset: u32::from(offset),
        rule,
    })
}

/// The little-endian qword `w` of a whole configuration space image.
fn word(bytes: &[u8; CONFIG_SPACE_SIZE], w: usize) -> u64 {
    let mut q = [0u8; 8];
    q.copy_from_slice(&bytes[8 * w..8 * w + 8]);
    u64::from_le_bytes(q)
}

/// The offset of the first byte where `bits(qword index)` has a bit set.
fn first_set(bits: impl Fn(usize) -> u64) -> Option<u16> {
    (0..CONFIG_SPACE_SIZE / 8).find_map(|w| {
        let v = bits(w);
        (v != 0).then(|| (8 * w) as u16 + (v.trailing_zeros() / 8) as u16)
    })
}

impl ConfigSpace {
    /// Bits that change without a configuration write, by offset: Transactions Pending and
    /// PRI Stopped.
    fn hardware_bits(&self) -> Vec<(usize, u16)> {
        let mut bits = Vec::new();
        let devsta = self.layout.express + express_offset::DEVICE_STATUS;
        let pending = DeviceStatus::new()
            .with_transactions_pending(true)
            .into_bits();
        bits.push((usize::from(devsta), pending));
        if let Some(pri) = self.layout.pri {
            let stopped = PriStatus::new().with_stopped(true).into_bits();
            bits.push((usize::from(pri + ext_offset::PRI_STATUS), stopped));
        }
        bits
    }

    /// Checks the rules no sequence of accesses may break: read-only and reserved bits keep
    /// their power-on values, enable bits are set only where the capability allows them, and
    /// the MSI-X table follows the capability's Enable and Function Mask.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let mut changing = [0u8; CONFIG_SPACE_SIZE];
        for (at, bits) in self.hardware_bits() {
            changing[at..at + 2].copy_from_slice(&bits.to_le_bytes());
        }
        let changed = first_set(|w| {
            let free = word(&self.wmask, w) | word(&self.w1c, w) | word(&changing, w);
            (word(&self.data, w) ^ word(&self.initial, w)) & !free
        });
        if let Some(a) = changed {
            return fail(a, "a read-only or reserved bit changed");
        }
        let unimplemented = !Command::new()
            .with_memory_space(true)
            .with_bus_master(true)
            .with_parity_error_response(true)
            .with_serr_enable(true)
            .with_intx_disable(true)
            .into_bits();
        if self.command().into_bits() & unimplemented != 0 {
            return fail(0x04, "an unimplemented Command bit is set");
        }
        for index in 0..6 {
            if let (Some(size), Some(base)) = (self.bar_size(index), self.bar_address(index))
                && base % size != 0
            {
                return fail(
                    0x10 + 4 * index as u16,
                    "a BAR base is not aligned to its size",
                );
            }
        }
        let devctl_at = self.layout.express + express_offset::DEVICE_CONTROL;
        let devctl = DeviceControl::from_bits(self.reg16(devctl_at));
        if devctl.initiate_flr() || devctl.max_read_request() > 5 {
            return fail(
                devctl_at,
                "Initiate FLR reads 0 and Max_Read_Request_Size is 0-5",
            );
        }
        if devctl.max_payload() > self.layout.max_payload_supported {
            return fail(
                devctl_at,
                "Max_Payload_Size exceeds what the function supports",
            );
        }
        if let Some(at) = self.layout.pasid {
            let cap = PasidCapability::from_bits(self.reg16(at + ext_offset::CAPABILITY));
            let ctl = PasidControl::from_bits(self.reg16(at + ext_offset::CONTROL));
            let known = PasidControl::new()
                .with_enable(true)
                .with_execute(cap.execute())
                .with_privileged(cap.privileged());
            if ctl.into_bits() & !known.into_bits() != 0 {
                return fail(
                    at + ext_offset::CONTROL,
                    "a PASID enable without its capability",
                );
            }
        }
        if let Some(at) = self.layout.ats {
            let ctl = self.reg16(at + ext_offset::CONTROL);
            let known = AtsControl::new()
                .with_enable(true)
                .with_stu(0x1F)
                .into_bits();
            if ctl & !known != 0 {
                return fail(
                    at + ext_offset::CONTROL,
                    "a reserved ATS Control bit is set",
                );
            }
        }
        if let Some(at) = self.layout.pri {
            let ctl = PriControl::from_bits(self.reg16(at + ext_offset::PRI_CONTROL));
            let status = PriStatus::from_bits(self.reg16(at + ext_offset::PRI_STATUS));
            if ctl.reset() || ctl.into_bits() & !0x3 != 0 {
                return fail(
                    at + ext_offset::PRI_CONTROL,
                    "PRI Reset or a reserved bit reads 1",
                );
            }
            if status.stopped() == ctl.enable() {
                return fail(
                    at + ext_offset::PRI_STATUS,
                    "PRI Stopped is not the inverse of Enable",
                );
            }
        }
        if let Some(at) = self.layout.acs {
            let cap = AcsFlags::from_bits(self.reg16(at + ext_offset::CAPABILITY));
            let ctl = AcsFlags::from_bits(self.reg16(at + ext_offset::CONTROL));
            if ctl.into_bits() & !cap.with_egress_vector_size(0).into_bits() != 0 {
                return fail(
                    at + ext_offset::CONTROL,
                    "an ACS control without its capability",
                );
            }
        }
        if let Some(table) = &self.msix
            && (table.is_enabled() != self.msix_enabled()
                || table.is_function_masked() != self.msix_function_masked()
                || table.is_bus_master() != self.bus_master_enabled())
        {
            return fail(
                MSIX_CAP_OFFSET,
                "the MSI-X table disagrees with the capability",
            );
        }
        Ok(())
    }
}

/// A DSA-shaped function with every capability a type-0 endpoint has here.
pub(super) fn full_function() -> FunctionBuilder {
    FunctionBuilder::new(0x8086, 0x0B25)
        .revision(0x01)
        .class_code(0x08_8000)
        .subsystem(0x8086, 0x1234)
        .bar64(0, 0x1_0000, false)
        .bar64(2, 0x2_0000, true)
        .msix(9, (0, 0x2000), (0, 0x3000))
        .pasid(20, true, true)
        .ats(32, true)
        .pri(512, true)
        .flr(true)
}

/// The functions the fuzz body picks from by its first byte.
fn preset(choice: u8) -> ConfigSpace {
    let built = match choice % 4 {
        0 => full_function().build(),
        1 => FunctionBuilder::new(0x1234, 0x5678).build(),
        2 => FunctionBuilder::new(0x1b36, 0x0001)
            .port_type(PortType::Endpoint)
            .multi_function(true)
            .bar64(4, 1 << 33, true)
            .msix(130, (4, 0), (4, 0x1000))
            .pasid(8, false, true)
            .acs(
                AcsFlags::new()
                    .with_request_redirect(true)
                    .with_direct_translated(true),
            )
            .build(),
        _ => FunctionBuilder::new(0x8086, 0x0b25)
            .pasid(5, false, false)
            .ats(1, false)
            .build(),
    };
    // The presets are valid declarations; fall back to the bare function if one is not.
    built.unwrap_or_else(|_| ConfigSpace::bare())
}

impl ConfigSpace {
    fn bare() -> Self {
        match FunctionBuilder::new(0xFFFF, 0xFFFF).build() {
            Ok(c) => c,
            Err(e) => unreachable!("a function with nothing declared builds: {e}"),
        }
    }
}

/// Runs `data` as a sequence of configuration accesses (and device-side events) against a
/// function chosen by its first byte, checking [`ConfigSpace::check_invariants`] after each
/// and that no write sets a write-1-to-clear bit. Returns the first rule broken.
pub fn run_config_ops(data: &[u8]) -> Result<(), InvariantViolation> {
    let Some((&choice, mut ops)) = data.split_first() else {
        return Ok(());
    };
    let mut cfg = preset(choice);
    cfg.check_invariants()?;
    while let Some((op, rest)) = ops.split_first_chunk::<7>() {
        ops = rest;
        let raw = u32::from(u16::from_le_bytes([op[1], op[2]]));
        // Bit 3 of the op byte keeps the offset among the implemented registers.
        let offset = if op[0] & 0x08 != 0 { raw % 0x140 } else { raw };
        let value = u32::from_le_bytes([op[3], op[4], op[5], op[6]]);
        let size =
            [AccessSize::Byte, AccessSize::Word, AccessSize::Dword][usize::from(op[0] >> 4) % 3];
        match op[0] % 8 {
            0..=3 => {
                let before = cfg.data.clone();
                cfg.write(offset, size, value);
                let set = first_set(|w| word(&cfg.data, w) & word(&cfg.w1c, w) & !word(&before, w));
                if let Some(a) = set {
                    return fail(a, "a configuration write set a RW1C bit");
                }
            }
            4 => {
                let read = cfg.read(offset, size);
                let all_ones = u32::MAX >> (32 - 8 * size.bytes());
                if offset as usize >= CONFIG_SPACE_SIZE && read != all_ones {
                    return fail(0, "a read beyond the space is not all-ones");
                }
            }
            5 => match value % 4 {
                0 => cfg.record_status(Status::from_bits(value as u16)),
                1 => cfg.record_device_status(DeviceStatus::from_bits((value >> 16) as u16)),
                2 => cfg.record_pri_failure(value & 0x100 != 0, value & 0x200 != 0),
                _ => cfg.set_transactions_pending(value & 0x100 != 0),
            },
            6 => {
                if let Some(table) = cfg.msix().cloned() {
                    let size = [1, 2, 4, 8][usize::from(op[0] >> 4) % 4];
                    table.write_table(u64::from(offset), size, u64::from(value) * 0x1_0000_0001);
                    let _ = table.fire(op[2] as u16);
                    let _ = table.read_pba(u64::from(op[1] & 0x38), 8);
                }
            }
            _ => {
                let _ = cfg.take_flr();
                let _ = cfg.take_pri_reset();
            }
        }
        cfg.check_invariants()?;
    }
    Ok(())
}

/// Fuzz body: runs `data` through [`run_config_ops`] and panics, naming the rule, if any
/// invariant breaks. Any input is valid; only a bug in the model makes it panic.
pub fn fuzz_config(data: &[u8]) {
    if let Err(e) = run_config_ops(data) {
        panic!("{e}");
    }
}
