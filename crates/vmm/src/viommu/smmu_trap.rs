//! A VMM's trap of an SMMUv3 vIOMMU's command queue: each write of CMDQ_PROD is passed to
//! the unit, and then the commands the guest queued since the previous write are read
//! from guest memory and handed to the VMM, which acts on them for the host (forwards
//! them, or walks the guest's tables). The guest's stream table is read the same way.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::Mem;
use softiommu_smmuv3::driver::SmmuHw;
use softiommu_smmuv3::model::{Fault, Request, SmmuUnit, Translated};
use softiommu_smmuv3::regs::{
    SMMU_CMDQ_BASE, SMMU_CMDQ_PROD, SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG,
};

/// Opcodes (DW0 bits 7:0) the VMM looks at.
pub(crate) mod op {
    /// `CMD_CFGI_STE`.
    pub const CFGI_STE: u64 = 0x03;
    /// `CMD_CFGI_STE_RANGE` (`CMD_CFGI_ALL` with Range 31).
    pub const CFGI_STE_RANGE: u64 = 0x04;
    /// `CMD_CFGI_CD`.
    pub const CFGI_CD: u64 = 0x05;
    /// `CMD_CFGI_CD_ALL`.
    pub const CFGI_CD_ALL: u64 = 0x06;
    /// `CMD_TLBI_NH_ALL`.
    pub const TLBI_NH_ALL: u64 = 0x10;
    /// `CMD_TLBI_NH_ASID`.
    pub const TLBI_NH_ASID: u64 = 0x11;
    /// `CMD_TLBI_NH_VA`.
    pub const TLBI_NH_VA: u64 = 0x12;
    /// `CMD_TLBI_NH_VAA`.
    pub const TLBI_NH_VAA: u64 = 0x13;
    /// `CMD_TLBI_NSNH_ALL`.
    pub const TLBI_NSNH_ALL: u64 = 0x30;
    /// `CMD_ATC_INV`.
    pub const ATC_INV: u64 = 0x40;
    /// `CMD_SYNC`.
    pub const SYNC: u64 = 0x46;
}

/// Whether configuration command `c` (CFGI_STE, CFGI_STE_RANGE/ALL, CFGI_CD, CFGI_CD_ALL)
/// names StreamID `sid`.
pub(crate) fn names_stream(c: [u64; 2], sid: u32) -> bool {
    let cmd_sid = c[0] >> 32;
    match c[0] & 0xff {
        op::CFGI_STE_RANGE => {
            let range = (c[1] & 0x1f) + 1;
            range >= 32 || cmd_sid >> range == u64::from(sid) >> range
        }
        _ => cmd_sid == u64::from(sid),
    }
}

/// The range `[start, end)` a `CMD_TLBI_NH_VA`/`VAA` covers: its granules with a TG
/// (`(NUM + 1) << SCALE` of them), else the one page of its address.
pub(crate) fn tlbi_range(c: [u64; 2]) -> (u64, u64) {
    let addr = c[1] & !0xfff;
    let shift = match (c[1] >> 10) & 3 {
        1 => 12,
        2 => 14,
        3 => 16,
        _ => return (addr, addr.saturating_add(0x1000)),
    };
    let num = ((c[0] >> 12) & 0x1f) + 1;
    let scale = (c[0] >> 20) & 0x1f;
    let len = num << (scale + shift);
    let start = addr >> shift << shift;
    (start, start.saturating_add(len))
}

/// What the VMM does with the commands the guest queued.
pub(crate) trait CommandSink: Send + Sync {
    /// `cmds`, in queue order, have just been passed to `unit`.
    fn commands(&self, unit: &SmmuUnit<Mem>, cmds: &[[u64; 2]]);
}

/// The trapped register path of one vIOMMU.
pub(crate) struct CmdqTrap<S> {
    unit: Arc<SmmuUnit<Mem>>,
    mem: Mem,
    /// CMDQ_PROD as the guest last wrote it.
    prod: Mutex<u32>,
    sink: Arc<S>,
}

impl<S: CommandSink> CmdqTrap<S> {
    /// A trap of `unit`'s registers, its guest's memory `mem`, handing commands to `sink`.
    pub(crate) fn new(unit: &Arc<SmmuUnit<Mem>>, mem: Mem, sink: Arc<S>) -> Self {
        CmdqTrap {
            unit: unit.clone(),
            mem,
            prod: Mutex::new(0),
            sink,
        }
    }

    /// The commands between PROD values `old` and `new` (at most one lap of the queue).
    fn queued(&self, old: u32, new: u32) -> Vec<[u64; 2]> {
        let base = self.unit.mmio_read(SMMU_CMDQ_BASE, 8);
        let addr = base & 0x000f_ffff_ffff_ffe0;
        let log2 = (base & 0x1f).min(19) as u32;
        let mask = (1u32 << (log2 + 1)) - 1;
        let (mut at, end) = (old & mask, new & mask);
        let mut out = Vec::new();
        for _ in 0..1u32 << log2 {
            if at == end {
                break;
            }
            let index = u64::from(at & ((1 << log2) - 1));
            let mut b = [0u8; 16];
            if self.mem.read(addr.wrapping_add(index * 16), &mut b).is_ok() {
                let (w0, w1) = b.split_at(8);
                out.push([le(w0), le(w1)]);
            }
            at = (at + 1) & mask;
        }
        out
    }
}

fn le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

impl<S: CommandSink> SmmuHw for CmdqTrap<S> {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.unit.mmio_read(offset, size)
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        if offset != SMMU_CMDQ_PROD {
            return self.unit.mmio_write(offset, size, value);
        }
        let mut prod = self.prod.lock();
        let new = value as u32;
        let cmds = self.queued(*prod, new);
        *prod = new;
        self.unit.mmio_write(offset, size, value);
        if !cmds.is_empty() {
            self.sink.commands(&self.unit, &cmds);
        }
    }

    fn translate(&self, req: Request) -> Result<Translated, Fault> {
        self.unit.translate(req)
    }

    fn page_request(&self, req: &softiommu_devices::bus::PageRequest) {
        SmmuHw::page_request(&*self.unit, req)
    }
}

/// Words 0 and 1 of the STE of `sid` in the stream table `unit`'s registers point at, read
/// from `mem`; `None` where the table has no such entry or it cannot be read.
pub(crate) fn guest_ste(unit: &SmmuUnit<Mem>, mem: &Mem, sid: u32) -> Option<[u64; 2]> {
    const ADDR: u64 = 0x000f_ffff_ffff_ffc0;
    let base = unit.mmio_read(SMMU_STRTAB_BASE, 8) & ADDR;
    let cfg = unit.mmio_read(SMMU_STRTAB_BASE_CFG, 4);
    let (log2size, split, fmt) = (cfg & 0x3f, (cfg >> 6) & 0x1f, (cfg >> 16) & 3);
    let sid = u64::from(sid);
    if log2size < 32 && sid >> log2size != 0 {
        return None;
    }
    let at = match fmt {
        0 => base.checked_add(sid * 64)?,
        1 => {
            let mut d = [0u8; 8];
            mem.read(base.checked_add((sid >> split) * 8)?, &mut d)
                .ok()?;
            let l1 = u64::from_le_bytes(d);
            let span = l1 & 0x1f;
            let index = sid & ((1 << split) - 1);
            if span == 0 || index >> (span - 1) != 0 {
                return None;
            }
            (l1 & ADDR).checked_add(index * 64)?
        }
        _ => return None,
    };
    let mut b = [0u8; 16];
    mem.read(at, &mut b).ok()?;
    let (w0, w1) = b.split_at(8);
    Some([le(w0), le(w1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_invalidation_covers_its_granules_and_a_plain_one_its_page() {
        // NUM 3 (four granules), SCALE 1, TG 4 KiB: eight pages.
        let c = [op::TLBI_NH_VA | 3 << 12 | 1 << 20, 0x7000_0000 | 1 << 10];
        assert_eq!(tlbi_range(c), (0x7000_0000, 0x7000_8000));
        let c = [op::TLBI_NH_VA, 0x7000_3000 | 1];
        assert_eq!(tlbi_range(c), (0x7000_3000, 0x7000_4000));
        // TG 64 KiB, one granule, from an unaligned address: its granule.
        let c = [op::TLBI_NH_VA, 0x7001_3000 | 3 << 10];
        assert_eq!(tlbi_range(c), (0x7001_0000, 0x7002_0000));
        // The top of the address space saturates.
        let c = [op::TLBI_NH_VA | 31 << 12 | 31 << 20, !0xfff | 1 << 10];
        assert_eq!(tlbi_range(c).1, u64::MAX);
    }

    #[test]
    fn configuration_commands_name_their_streams() {
        assert!(names_stream([op::CFGI_STE | 0x18 << 32, 0], 0x18));
        assert!(!names_stream([op::CFGI_STE | 0x19 << 32, 0], 0x18));
        // Range 1: four STEs from an aligned StreamID.
        assert!(names_stream([op::CFGI_STE_RANGE | 0x1a << 32, 1], 0x18));
        assert!(!names_stream([op::CFGI_STE_RANGE | 0x1c << 32, 1], 0x18));
        // CFGI_ALL.
        assert!(names_stream([op::CFGI_STE_RANGE, 31], 0x18));
    }
}
