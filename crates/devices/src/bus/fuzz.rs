//! The fuzz body of the bus's routing elements: a switch with ports built from the input,
//! peers' memory windows, and DMA, ATS requests and ACS control writes from any requester.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_mem::RamArena;

use super::{
    AtsRequest, Direct, DmaFault, DmaRequest, MemoryTarget, PciBridge, PortConfig, Switch, Upstream,
};
use crate::pci::caps::AcsFlags;

/// RAM behind the switch.
const RAM: u64 = 1 << 20;
/// Bytes of each peer window.
const WINDOW: u64 = 0x4000;

/// A peer's BAR: plain bytes.
struct Bar {
    base: u64,
    bytes: Mutex<Vec<u8>>,
}

impl Bar {
    fn span(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, DmaFault> {
        let off = addr
            .checked_sub(self.base)
            .ok_or(DmaFault::UnsupportedRequest)?;
        let end = off
            .checked_add(len as u64)
            .ok_or(DmaFault::UnsupportedRequest)?;
        if end > WINDOW {
            return Err(DmaFault::UnsupportedRequest);
        }
        Ok(off as usize..end as usize)
    }
}

impl MemoryTarget for Bar {
    fn mem_read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let r = self.span(addr, buf.len())?;
        buf.copy_from_slice(&self.bytes.lock()[r]);
        Ok(())
    }

    fn mem_write(&self, addr: u64, data: &[u8]) -> Result<(), DmaFault> {
        let r = self.span(addr, data.len())?;
        self.bytes.lock()[r].copy_from_slice(data);
        Ok(())
    }
}

/// Runs the input as a switch's set-up and traffic: every refusal is a typed answer, never a
/// panic or a hang, and the functions behind a PCIe-to-PCI bridge on the last port are
/// reached the same way.
pub fn fuzz_switch(data: &[u8]) {
    let mut b = data.iter().copied();
    let mut next = move || b.next();
    let Ok(ram) = RamArena::new(0, RAM) else {
        return;
    };
    let up: Arc<dyn Upstream> = Arc::new(Direct::new(ram));
    let switch = Switch::new(up);
    let mut ports = Vec::new();
    for i in 0..3u8 {
        let (Some(sec), Some(span), Some(cap), Some(ctl)) = (next(), next(), next(), next()) else {
            return;
        };
        let cfg = PortConfig::new(u16::from(i) << 3, sec, sec.saturating_add(span % 4)).with_acs(
            AcsFlags::from_bits(u16::from(cap)),
            AcsFlags::from_bits(u16::from(ctl)),
        );
        if let Ok(p) = switch.add_port(cfg) {
            let base = 0x8000_0000 + u64::from(i) * WINDOW;
            let bar = Arc::new(Bar {
                base,
                bytes: Mutex::new(vec![0; WINDOW as usize]),
            });
            let _ = p.add_window(base..base + WINDOW, bar);
            ports.push(p);
        }
    }
    let Some(last) = ports.last().cloned() else {
        return;
    };
    let bridge = PciBridge::new(last.clone(), last.buses().start().wrapping_add(1));
    let mut buf = vec![0u8; 0x2000];
    while let (Some(op), Some(who), Some(a), Some(l)) = (next(), next(), next(), next()) {
        let target: &dyn Upstream = match usize::from(who % 4) {
            i if i < ports.len() => &*ports[i],
            _ => &bridge,
        };
        let rid = u16::from_le_bytes([who, next().unwrap_or(0)]);
        // Addresses in RAM, in the windows, or anywhere.
        let addr = match a % 3 {
            0 => u64::from(a) << 12,
            1 => 0x8000_0000 + u64::from(a) * 0xc0,
            _ => u64::from(a).wrapping_neg() << 8,
        };
        let len = 1 + usize::from(l) * 32;
        let req = DmaRequest::read(rid, addr, len as u64);
        match op % 6 {
            0 => {
                let _ = target.dma_read(&req, &mut buf[..len]);
            }
            1 => {
                let w = DmaRequest::write(rid, addr, len as u64);
                let _ = target.dma_write(&w, &buf[..len]);
            }
            2 => {
                let _ = target.dma_write(&req.translated(), &buf[..len]);
            }
            3 => {
                let _ = target.ats_translate(&AtsRequest {
                    rid,
                    pasid: None,
                    addr,
                    no_write: l & 1 != 0,
                });
            }
            4 => {
                if let Some(p) = ports.get(usize::from(who) % ports.len()) {
                    p.set_acs_control(AcsFlags::from_bits(u16::from(l)));
                }
            }
            _ => {
                let _ = target.translate(&req);
            }
        }
    }
}
