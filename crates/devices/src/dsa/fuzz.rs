//! A fuzz body: register writes, memory writes and portal writes from arbitrary bytes, with
//! ATS and PRI switched on and off, pages unmapped and ATC invalidations in between.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, RamArena};

use super::device::{Dsa, DsaConfig, ExecMode};
use super::dma::BusPort;
use super::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use super::wq::Enqcmd;
use crate::bus::{
    AddressType, AtcInvalidation, AtsFailure, AtsRequest, AtsTranslation, Direct, DmaFault,
    DmaRequest, Endpoint, MsiMessage, PageRequest, PageResponse, PageResponseCode, Rights,
    Translation, Upstream,
};

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

/// A bus over RAM with some pages unmapped: untranslated requests to them are refused, ATS
/// translation requests for them answer no access, and page requests map them back (or not,
/// as `prs` says).
struct FuzzBus {
    direct: Direct<Arc<RamArena>>,
    unmapped: Mutex<HashSet<u64>>,
    /// 0: map and answer Success, 1: Invalid Request, 2: Response Failure, else no answer.
    prs: Mutex<u8>,
    endpoint: Mutex<Option<Arc<dyn Endpoint>>>,
}

impl Upstream for FuzzBus {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        let page = req.addr >> 12;
        if req.at == AddressType::Untranslated && self.unmapped.lock().contains(&page) {
            return Err(DmaFault::UnsupportedRequest);
        }
        let mut t = self.direct.translate(req)?;
        t.len = t.len.min(0x1000 - (req.addr & 0xfff));
        Ok(t)
    }

    fn memory(&self) -> &dyn AddressSpace {
        self.direct.memory()
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        if self.unmapped.lock().contains(&(req.addr >> 12)) {
            return Ok(AtsTranslation::no_access(req.addr));
        }
        Ok(AtsTranslation {
            untranslated: req.addr & !0xfff,
            translated: req.addr & !0xfff,
            size_log2: 12,
            rights: Rights::READ_WRITE,
            global: req.addr & 0x1000 != 0,
            untranslated_only: req.addr & 0x7000 == 0x7000,
        })
    }

    fn page_request(&self, req: &PageRequest) {
        let Some(ep) = self.endpoint.lock().clone() else {
            return;
        };
        let code = match *self.prs.lock() {
            0 => {
                self.unmapped.lock().remove(&(req.addr >> 12));
                PageResponseCode::Success
            }
            1 => PageResponseCode::InvalidRequest,
            2 => PageResponseCode::ResponseFailure,
            _ => return,
        };
        ep.page_response(&PageResponse {
            rid: req.rid,
            pasid: req.pasid.map(|p| p.pasid),
            prgi: req.prgi,
            code,
        });
    }

    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.direct.msi(rid, msg)
    }

    fn attach(&self, _rid: u16, endpoint: Arc<dyn Endpoint>) {
        *self.endpoint.lock() = Some(endpoint);
    }

    fn detach(&self, _rid: u16) {
        *self.endpoint.lock() = None;
    }
}

/// Configures WQ 0 (dedicated) and WQ 1 (shared) in group 0 and enables them, as a driver
/// would; errors are left in CMDSTS. `flags`: bit 0 block on fault in both, bit 1 ATS disable
/// in WQ 0, bit 2 PRS disable in WQ 1, bit 3 PASID 1 for WQ 0.
pub(crate) fn bring_up(dsa: &Dsa, flags: u8) {
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
        let mode = WqCfgMode::new()
            .with_dedicated(w == 0)
            .with_priority(1)
            .with_bof(flags & 1 != 0)
            .with_ats_disable(w == 0 && flags & 2 != 0)
            .with_prs_disable(w == 1 && flags & 4 != 0)
            .with_pasid_en(w == 0 && flags & 8 != 0)
            .with_pasid(u32::from(w == 0 && flags & 8 != 0));
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

/// Drives an engine over 64 KiB of RAM with the actions `data` spells: register reads and
/// writes, memory writes, descriptors written to portals (with their addresses optionally
/// folded into RAM), queued work run, and (an action byte with its top bit set) ATS and PRI
/// enables, pages unmapped, page-request answers chosen, ATC invalidations. Never panics.
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
    let bus = Arc::new(FuzzBus {
        direct: Direct::new(ram.clone()),
        unmapped: Mutex::new(HashSet::new()),
        prs: Mutex::new(0),
        endpoint: Mutex::new(None),
    });
    let port = Arc::new(BusPort::new(bus.clone(), 0x10));
    bus.attach(0x10, port.clone());
    port.set_page_response_timeout(Duration::ZERO);
    let dsa = Dsa::new(cfg, port.clone(), Some(Arc::new(|_| {})));
    let mut steps = 0;
    while !input.done() && steps < 256 {
        steps += 1;
        let action = input.u8();
        if action & 0x80 != 0 {
            bus_action(action, &mut input, &bus, &port);
            continue;
        }
        match action % 8 {
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
            2 => bring_up(&dsa, action >> 3),
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
    bus.detach(0x10);
}

/// An action on the bus side: ATS and PRI enables, a page unmapped or mapped again (and
/// invalidated), page-request answers, an ATC invalidation.
fn bus_action(action: u8, input: &mut Input<'_>, bus: &FuzzBus, port: &BusPort) {
    match action % 4 {
        0 => {
            let b = input.u8();
            port.set_ats(b & 1 != 0, b >> 1);
        }
        1 => {
            let b = input.u8();
            port.set_pri(b & 1 != 0, u32::from(b >> 1), b & 0x80 != 0);
            *bus.prs.lock() = input.u8() % 4;
        }
        2 => {
            let page = u64::from(input.u8() & 0xf);
            {
                let mut m = bus.unmapped.lock();
                if !m.remove(&page) {
                    m.insert(page);
                }
            }
            // As an IOMMU does after an unmap.
            port.invalidate_atc(&AtcInvalidation {
                rid: 0x10,
                pasid: None,
                global: true,
                addr: page << 12,
                size_log2: 12,
            });
        }
        _ => {
            let b = input.u8();
            let inv = AtcInvalidation {
                rid: 0x10,
                pasid: (b & 1 != 0).then(|| u32::from(input.u16())),
                global: b & 2 != 0,
                addr: u64::from(input.u16()) << 12,
                size_log2: 12 + (b >> 2) % 53,
            };
            port.invalidate_atc(&inv);
        }
    }
}
