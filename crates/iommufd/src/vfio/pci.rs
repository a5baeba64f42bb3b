//! PCI functions as VFIO's PCI driver finds them: what probing tells of their BARs and
//! MSI-X, and the view of configuration space a user gets, where the BARs, the expansion
//! ROM and MSI-X enabling are the host's and the rest is the function's.

use softiommu_devices::dsa::{DsaFunction, Enqcmd, Submit};
use softiommu_devices::pci::AccessSize;

/// A PCI function as the host reaches it: configuration space and memory BARs.
pub trait PciFunction: Send + Sync {
    /// Reads configuration space.
    fn config_read(&self, offset: u32, size: AccessSize) -> u32;
    /// Writes configuration space.
    fn config_write(&self, offset: u32, size: AccessSize, value: u32);
    /// Reads `data.len()` bytes at `off` of BAR `bar`, as one access.
    fn bar_read(&self, bar: u8, off: u64, data: &mut [u8]);
    /// Writes `data` at `off` of BAR `bar`, as one access (64 bytes: a 64-byte store).
    fn bar_write(&self, bar: u8, off: u64, data: &[u8]);
    /// An ENQCMD/ENQCMDS of the 64 bytes `desc` to `off` of BAR `bar`, carrying `pasid` and
    /// the privilege `privileged`: whether the function took it (false: ENQCMD's retry
    /// status). A function without shared work queues takes none.
    fn bar_enqcmd(&self, bar: u8, off: u64, desc: &[u8], pasid: u32, privileged: bool) -> bool {
        let _ = (bar, off, desc, pasid, privileged);
        false
    }
}

impl PciFunction for DsaFunction {
    fn config_read(&self, offset: u32, size: AccessSize) -> u32 {
        DsaFunction::config_read(self, offset, size)
    }

    fn config_write(&self, offset: u32, size: AccessSize, value: u32) {
        DsaFunction::config_write(self, offset, size, value)
    }

    fn bar_read(&self, bar: u8, off: u64, data: &mut [u8]) {
        DsaFunction::bar_read(self, bar, off, data)
    }

    fn bar_write(&self, bar: u8, off: u64, data: &[u8]) {
        // A store has no answer: a refused descriptor is simply lost, as on the bus.
        let _ = DsaFunction::bar_write(self, bar, off, data);
    }

    fn bar_enqcmd(&self, bar: u8, off: u64, desc: &[u8], pasid: u32, privileged: bool) -> bool {
        let enq = Enqcmd { pasid, privileged };
        bar == 2 && DsaFunction::enqcmd(self, off, desc, enq) == Submit::Accepted
    }
}

/// Configuration space: the command register.
pub(crate) const COMMAND: u32 = 0x04;
/// Command: memory space enable.
pub(crate) const CMD_MEMORY: u32 = 1 << 1;
/// Command: bus master enable.
pub(crate) const CMD_MASTER: u32 = 1 << 2;
const BAR0: u32 = 0x10;
const ROM: u32 = 0x30;
const CAP_PTR: u32 = 0x34;
const CAP_MSIX: u32 = 0x11;
const CAP_MSI: u32 = 0x05;
const CAP_EXP: u32 = 0x10;
/// MSI-X message control: enable and function mask.
pub(crate) const MSIX_ENABLE: u32 = 1 << 15;
const MSIX_MASKALL: u32 = 1 << 14;
/// Size of configuration space (PCI Express).
pub(crate) const CONFIG_SIZE: u64 = 4096;

/// Where a function's MSI-X table is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MsixInfo {
    /// Offset of the capability in configuration space.
    pub(crate) cap: u32,
    /// The BAR holding the table.
    pub(crate) bar: u8,
    /// Offset of the table in it.
    pub(crate) offset: u64,
    /// Vectors.
    pub(crate) count: u32,
}

/// What probing found: BAR sizes and flags, MSI-X, the PCI Express capability.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    /// Size of each BAR (0: none; the upper half of a 64-bit BAR is 0).
    pub(crate) bar_size: [u64; 6],
    /// The flag bits of each BAR register (the low 4 bits; the upper half: 0).
    pub(crate) bar_flags: [u32; 6],
    /// Whether BAR `i` is the upper half of a 64-bit BAR.
    pub(crate) bar_upper: [bool; 6],
    pub(crate) msix: Option<MsixInfo>,
    /// MSI vectors the MSI capability offers (0: none).
    pub(crate) msi_vectors: u32,
    /// Offset of the PCI Express capability.
    pub(crate) express: Option<u32>,
}

fn read32(f: &dyn PciFunction, at: u32) -> u32 {
    f.config_read(at, AccessSize::Dword)
}

/// Sizes the BARs as firmware does (all ones, read back, restore) and walks the
/// capability list.
pub(crate) fn probe(f: &dyn PciFunction) -> Probe {
    let mut p = Probe {
        bar_size: [0; 6],
        bar_flags: [0; 6],
        bar_upper: [false; 6],
        msix: None,
        msi_vectors: 0,
        express: None,
    };
    let mut i = 0;
    while i < 6 {
        let at = BAR0 + 4 * i as u32;
        let orig = read32(f, at);
        if orig & 1 != 0 {
            // I/O BARs are not offered.
            i += 1;
            continue;
        }
        let wide = (orig >> 1) & 3 == 2 && i < 5;
        f.config_write(at, AccessSize::Dword, u32::MAX);
        let lo = read32(f, at);
        f.config_write(at, AccessSize::Dword, orig);
        let mut mask = u64::from(lo & !0xf);
        if wide {
            let orig_hi = read32(f, at + 4);
            f.config_write(at + 4, AccessSize::Dword, u32::MAX);
            let hi = read32(f, at + 4);
            f.config_write(at + 4, AccessSize::Dword, orig_hi);
            mask |= u64::from(hi) << 32;
        } else if mask != 0 {
            mask |= 0xffff_ffff_0000_0000;
        }
        if mask != 0 {
            p.bar_size[i] = (!mask).wrapping_add(1);
            p.bar_flags[i] = orig & 0xf;
        }
        if wide {
            p.bar_upper[i + 1] = true;
            i += 1;
        }
        i += 1;
    }
    let mut at = read32(f, CAP_PTR) & 0xfc;
    let mut hops = 0;
    while at >= 0x40 && hops < 48 {
        let h = read32(f, at);
        match h & 0xff {
            CAP_MSIX => {
                let table = read32(f, at + 4);
                p.msix = Some(MsixInfo {
                    cap: at,
                    bar: (table & 7) as u8,
                    offset: u64::from(table & !7),
                    count: ((h >> 16) & 0x7ff) + 1,
                });
            }
            CAP_EXP => p.express = Some(at),
            CAP_MSI => p.msi_vectors = 1 << ((h >> 17) & 7),
            _ => {}
        }
        at = (h >> 8) & 0xfc;
        hops += 1;
    }
    p
}

/// The configuration space a user sees: the BAR registers and the expansion ROM register
/// are the host's own copies (a user may size them, never move the function), and MSI-X
/// Enable and Function Mask are the user's view only, since the host enables MSI-X when
/// the user asks for interrupts.
pub(crate) struct VirtConfig {
    bars: [u32; 6],
    msix_ctl: u32,
}

impl VirtConfig {
    /// The view of a function as probed.
    pub(crate) fn new(f: &dyn PciFunction) -> VirtConfig {
        let mut bars = [0u32; 6];
        for (i, b) in bars.iter_mut().enumerate() {
            *b = read32(f, BAR0 + 4 * i as u32);
        }
        VirtConfig { bars, msix_ctl: 0 }
    }

    /// The bits of the dword at `at` (aligned) that are the host's, and their value.
    fn virt(&self, p: &Probe, at: u32) -> Option<(u32, u32)> {
        match at {
            BAR0..0x28 => {
                let i = ((at - BAR0) / 4) as usize;
                Some((u32::MAX, self.bar_value(p, i)))
            }
            ROM => Some((u32::MAX, 0)),
            _ => match p.msix {
                Some(m) if m.cap == at => {
                    let bits = (MSIX_ENABLE | MSIX_MASKALL) << 16;
                    Some((bits, self.msix_ctl << 16))
                }
                _ => None,
            },
        }
    }

    /// BAR register `i` as the user sees it: what it wrote, within the BAR's size.
    fn bar_value(&self, p: &Probe, i: usize) -> u32 {
        if p.bar_upper[i] {
            let size = p.bar_size[i - 1];
            let mask = (!(size.wrapping_sub(1)) >> 32) as u32;
            return self.bars[i] & mask;
        }
        if p.bar_size[i] == 0 {
            return 0;
        }
        let mask = (!(p.bar_size[i] - 1)) as u32 & !0xf;
        (self.bars[i] & mask) | p.bar_flags[i]
    }

    /// Reads `size` bytes at `at` (naturally aligned, within the space).
    pub(crate) fn read(&self, f: &dyn PciFunction, p: &Probe, at: u32, size: AccessSize) -> u32 {
        let real = f.config_read(at, size);
        let (dword, shift, lane) = lanes(at, size);
        let Some((bits, value)) = self.virt(p, dword) else {
            return real;
        };
        let bits = (bits >> shift) & lane;
        (real & !bits) | ((value >> shift) & bits)
    }

    /// Writes `size` bytes at `at` (naturally aligned, within the space): the host's bits
    /// change its copy, the rest reaches the function.
    pub(crate) fn write(
        &mut self,
        f: &dyn PciFunction,
        p: &Probe,
        at: u32,
        size: AccessSize,
        value: u32,
    ) {
        let (dword, shift, lane) = lanes(at, size);
        let Some((bits, _)) = self.virt(p, dword) else {
            f.config_write(at, size, value);
            return;
        };
        let new = (value & lane) << shift;
        let lanes = lane << shift;
        match dword {
            BAR0..0x28 => {
                let i = ((dword - BAR0) / 4) as usize;
                self.bars[i] = (self.bars[i] & !lanes) | new;
            }
            ROM => {}
            _ => {
                // The rest of the dword (ID, next pointer, table size) is read-only.
                let ctl = ((self.msix_ctl << 16) & !lanes) | (new & bits);
                self.msix_ctl = ctl >> 16;
            }
        }
    }
}

/// The dword holding an access of `size` at `at`, the access's shift in it, and the mask
/// of its width.
fn lanes(at: u32, size: AccessSize) -> (u32, u32, u32) {
    let dword = at & !3;
    let lane = match size.bytes() {
        4 => u32::MAX,
        n => (1 << (8 * n)) - 1,
    };
    (dword, 8 * (at - dword), lane)
}

/// Where the PCI Express capability's Device Control register is, given the capability.
pub(crate) fn device_control(express: u32) -> u32 {
    express + 8
}
