//! A fuzz body: register writes, memory writes and portal writes from arbitrary bytes.

use std::sync::Arc;

use softiommu_mem::{AddressSpace, RamArena};

use super::device::{Dsa, DsaConfig, ExecMode};
use super::dma::BusPort;
use super::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use super::wq::Enqcmd;
use crate::bus::Direct;

/// Bytes of RAM the fuzzed engine reaches.
const FUZZ_RAM: u64 = 0x1_0000;

/// Reads the input a byte at a time, answering 0 once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | (u64::from(self.u8()) << (8 * i)))
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.u8())
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// Configures WQ 0 (dedicated) and WQ 1 (shared) in group 0 and enables them, as a driver
/// would; errors are left in CMDSTS.
pub(crate) fn bring_up(dsa: &Dsa) {
    let cmd = |c: Command, op: u32| {
        dsa.write32(
            regs::CMD,
            CmdReg::new().with_cmd(c as u8).with_operand(op).into_bits(),
        );
    };
    cmd(Command::ResetDevice, 0);
    dsa.write64(regs::GRPCFG_BASE, 0b11);
    dsa.write64(regs::GRPCFG_BASE + 32, 1);
    for w in 0..2u64 {
        let base = regs::WQCFG_BASE + w * regs::WQCFG_SIZE;
        let mode = WqCfgMode::new().with_dedicated(w == 0).with_priority(1);
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(16)
            .with_max_batch_shift(4);
        dsa.write32(base, 8);
        dsa.write32(base + 4, 4);
        dsa.write32(base + 8, mode.into_bits());
        dsa.write32(base + 12, limits.into_bits());
    }
    dsa.write32(regs::GENCTRL, 1);
    cmd(Command::EnableDevice, 0);
    cmd(Command::EnableWq, 0);
    cmd(Command::EnableWq, 1);
}

/// Drives an engine on a bus without an IOMMU over 64 KiB of RAM with the actions `data`
/// spells: register reads and writes, memory writes, descriptors written to portals (with
/// their addresses optionally folded into RAM), queued work run. Never panics.
pub fn fuzz_engine(data: &[u8]) {
    let Ok(ram) = RamArena::new(0, FUZZ_RAM) else {
        return;
    };
    let ram = Arc::new(ram);
    let mut input = Input(data);
    let mode = if input.u8() & 1 == 0 {
        ExecMode::Synchronous
    } else {
        ExecMode::Queued
    };
    let cfg = DsaConfig {
        mode,
        ..DsaConfig::default()
    };
    let port = Arc::new(BusPort::new(Arc::new(Direct::new(ram.clone())), 0x10));
    let dsa = Dsa::new(cfg, port, Some(Arc::new(|_| {})));
    let mut steps = 0;
    while !input.done() && steps < 256 {
        steps += 1;
        match input.u8() % 8 {
            0 => {
                let off = u64::from(input.u16() & 0x1fff);
                let w = 1usize << (input.u8() % 4);
                let v = input.u64().to_le_bytes();
                dsa.mmio_write(off, &v[..w]);
            }
            1 => {
                let mut b = [0u8; 8];
                dsa.mmio_read(u64::from(input.u16() & 0x1fff), &mut b);
            }
            2 => bring_up(&dsa),
            3 => {
                let at = u64::from(input.u16());
                let b: [u8; 64] = input.bytes();
                let _ = ram.write(at & (FUZZ_RAM - 64), &b);
            }
            4 => {
                dsa.run_pending();
            }
            op => {
                let wq = u32::from(input.u8() % 3);
                let portal = u64::from(input.u8() % 5) * 0x1000;
                let mut b: [u8; 64] = input.bytes();
                if op == 5 {
                    // Fold the three addresses and the size into RAM.
                    for at in [8usize, 16, 24] {
                        b[at + 2..at + 8].fill(0);
                    }
                    b[34..36].fill(0);
                }
                let enq = (op == 7).then(|| Enqcmd {
                    pasid: u32::from(input.u16()),
                    privileged: input.u8() & 1 != 0,
                });
                dsa.submit(wq, portal, &b, enq);
            }
        }
    }
    // The engine still answers.
    let _ = dsa.read32(regs::CMDSTS);
    dsa.run_pending();
}
