//! The engine as a PCI function: configuration space with its capabilities, BAR 0 (registers,
//! MSI-X table and PBA) and BAR 2 (work-queue portals).

use std::sync::Arc;

use parking_lot::Mutex;

use super::device::{DEVICE_ID, Dsa, DsaConfig, IrqFn, VENDOR_ID};
use super::dma::BusPort;
use super::regs::{self, Command, WQ_PORTALS_SIZE};
use super::wq::{Enqcmd, Submit};
use crate::bus::{self, Upstream};
use crate::pci::{AccessSize, BuildError, ConfigSpace, FunctionBuilder, MsixTable};

/// Size of BAR 0.
pub const BAR0_SIZE: u64 = 0x1_0000;
/// Offset of the MSI-X table in BAR 0.
pub const MSIX_TABLE: u64 = 0x2000;
/// Offset of the MSI-X PBA in BAR 0.
pub const MSIX_PBA: u64 = 0x3000;
/// PCI class code: system peripheral, other.
pub const CLASS_CODE: u32 = 0x08_8000;

/// A DSA-compatible PCI function: what a driver finds when it probes 8086:0b25.
pub struct DsaFunction {
    config: Mutex<ConfigSpace>,
    msix: Arc<MsixTable>,
    dsa: Arc<Dsa>,
    port: Arc<BusPort>,
    upstream: Arc<dyn Upstream>,
}

impl std::fmt::Debug for DsaFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsaFunction")
            .field("dsa", &self.dsa)
            .finish_non_exhaustive()
    }
}

impl DsaFunction {
    /// A function with requester ID `rid` on `upstream`, its engine built with `cfg`; its
    /// MSI-X vectors are written through `upstream`, and it is attached to `upstream` as the
    /// endpoint of `rid` (ATC invalidations, page responses) until dropped.
    pub fn new(cfg: DsaConfig, upstream: Arc<dyn Upstream>, rid: u16) -> Result<Self, BuildError> {
        let vectors = cfg.msix_vectors.clamp(1, 2048);
        let bar2 = (u64::from(cfg.num_wqs.clamp(1, 64)) * WQ_PORTALS_SIZE).next_power_of_two();
        let config = FunctionBuilder::new(VENDOR_ID, DEVICE_ID)
            .class_code(CLASS_CODE)
            .flr(true)
            .bar64(0, BAR0_SIZE, false)
            .bar64(2, bar2, false)
            .msix(vectors, (0, MSIX_TABLE as u32), (0, MSIX_PBA as u32))
            .pasid(20, false, true)
            .ats(32, false)
            .pri(512, true)
            .build()?;
        let msix = match config.msix() {
            Some(t) => t.clone(),
            None => Arc::new(MsixTable::new(vectors)),
        };
        let up = upstream.clone();
        msix.set_sink(Arc::new(move |m: crate::pci::MsiMessage| {
            let msg = bus::MsiMessage {
                addr: m.address,
                data: m.data,
            };
            let _ = up.msi(rid, msg);
        }));
        let fire = msix.clone();
        let irq: IrqFn = Arc::new(move |v| {
            let _ = fire.fire(v);
        });
        let cfg = DsaConfig {
            msix_vectors: vectors,
            ..cfg
        };
        let port = Arc::new(BusPort::new(upstream.clone(), rid));
        upstream.attach(rid, port.clone());
        let dsa = Arc::new(Dsa::new(cfg, port.clone(), Some(irq)));
        let f = Self {
            config: Mutex::new(config),
            msix,
            dsa,
            port,
            upstream,
        };
        f.sync();
        Ok(f)
    }

    /// The engine behind the function.
    pub fn dsa(&self) -> &Arc<Dsa> {
        &self.dsa
    }

    /// The function's port onto the bus: its ATC and page requests.
    pub fn port(&self) -> &Arc<BusPort> {
        &self.port
    }

    /// Records in the PRI status register what page responses reported since.
    fn record_pri(&self, c: &mut ConfigSpace) {
        let (failure, unexpected) = self.port.take_pri_events();
        if failure || unexpected {
            c.record_pri_failure(failure, unexpected);
        }
    }

    /// Reads configuration space.
    pub fn config_read(&self, offset: u32, size: AccessSize) -> u32 {
        let mut c = self.config.lock();
        self.record_pri(&mut c);
        c.read(offset, size)
    }

    /// Writes configuration space; a function level reset resets the engine.
    pub fn config_write(&self, offset: u32, size: AccessSize, value: u32) {
        let flr = {
            let mut c = self.config.lock();
            self.record_pri(&mut c);
            c.write(offset, size, value);
            c.take_flr()
        };
        if flr {
            self.port.reset();
            let reset = regs::CmdReg::new().with_cmd(Command::ResetDevice as u8);
            self.dsa.write32(regs::CMD, reset.into_bits());
        }
        self.sync();
    }

    /// Tells the engine what configuration space enables.
    fn sync(&self) {
        let c = self.config.lock();
        self.dsa.set_bus_master(c.bus_master_enabled());
        self.dsa
            .set_pasid_enabled(c.pasid().is_some_and(|p| p.enabled));
        match c.ats() {
            Some(a) => self.port.set_ats(a.enabled, a.stu),
            None => self.port.set_ats(false, 0),
        }
        match c.pri() {
            Some(p) => self
                .port
                .set_pri(p.enabled, p.allocation, p.response_failure),
            None => self.port.set_pri(false, 0, false),
        }
    }

    /// Reads `data.len()` bytes at `off` in BAR `bar` (0 or 2; portals read as zeros).
    pub fn bar_read(&self, bar: u8, off: u64, data: &mut [u8]) {
        data.fill(0);
        if bar != 0 {
            return;
        }
        let msix = |base: u64, len: u64, read: &dyn Fn(u64, usize) -> u64, data: &mut [u8]| {
            let at = off - base;
            if at < len && matches!(data.len(), 1 | 2 | 4 | 8) {
                let v = read(at, data.len()).to_le_bytes();
                data.copy_from_slice(&v[..data.len()]);
            }
        };
        match off {
            0..regs::REGS_SIZE => self.dsa.mmio_read(off, data),
            MSIX_TABLE..MSIX_PBA => msix(
                MSIX_TABLE,
                self.msix.table_len(),
                &|a, s| self.msix.read_table(a, s),
                data,
            ),
            MSIX_PBA..BAR0_SIZE => msix(
                MSIX_PBA,
                self.msix.pba_len(),
                &|a, s| self.msix.read_pba(a, s),
                data,
            ),
            _ => {}
        }
    }

    /// Writes `data` at `off` in BAR `bar`: registers and MSI-X in BAR 0; a 64-byte write to
    /// BAR 2 is a MOVDIR64B to that portal.
    pub fn bar_write(&self, bar: u8, off: u64, data: &[u8]) -> Option<Submit> {
        match bar {
            0 => {
                let mut v = [0u8; 8];
                let n = data.len().min(8);
                v[..n].copy_from_slice(&data[..n]);
                let value = u64::from_le_bytes(v);
                match off {
                    0..regs::REGS_SIZE => self.dsa.mmio_write(off, data),
                    MSIX_TABLE..MSIX_PBA if matches!(n, 4 | 8) && n == data.len() => {
                        self.msix.write_table(off - MSIX_TABLE, n, value)
                    }
                    _ => {}
                }
                None
            }
            2 => Some(self.portal(off, data, None)),
            _ => None,
        }
    }

    /// An ENQCMD(S) of `desc` to BAR 2 offset `off`, carrying `enq`.
    pub fn enqcmd(&self, off: u64, desc: &[u8], enq: Enqcmd) -> Submit {
        self.portal(off, desc, Some(enq))
    }

    fn portal(&self, off: u64, desc: &[u8], enq: Option<Enqcmd>) -> Submit {
        let memory_on = self.config.lock().memory_space_enabled();
        if !memory_on {
            return if enq.is_some() {
                Submit::Retry
            } else {
                Submit::Dropped
            };
        }
        self.dsa.portal_write(off, desc, enq)
    }
}

impl Drop for DsaFunction {
    fn drop(&mut self) {
        self.upstream.detach(self.port.rid());
    }
}
