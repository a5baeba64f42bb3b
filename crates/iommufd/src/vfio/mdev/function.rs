//! The PCI function a user finds for an mdev: a virtual configuration space and BAR 0 of a
//! one-WQ copy engine (the registers, WQCFG of its one WQ, the MSI-X table), and BAR 2, the
//! WQ's portal, whose descriptors either go to the parent's WQ with the mdev's PASID or run
//! on the virtual engine with its DMA copied in software through an access.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use softiommu_devices::dsa::desc::DESC_SIZE;
use softiommu_devices::dsa::regs::{self, Command, DeviceState, WqCfgMode, WqCfgState};
use softiommu_devices::dsa::{
    BAR0_SIZE, CLASS_CODE, DEVICE_ID, Descriptor, DmaPort, Dsa, DsaConfig, DsaFunction, Enqcmd,
    ExecMode, IrqFn, MSIX_PBA, MSIX_TABLE, Submit, VENDOR_ID,
};
use softiommu_devices::pci::{AccessSize, ConfigSpace, FunctionBuilder, MsiMessage, MsixTable};

use crate::vfio::PciFunction;
use crate::vfio::irq::{Irqs, MSI_WINDOW};

/// MSI-X vectors of an mdev: 0 for errors and commands, 1 for completions.
const MDEV_VECTORS: u16 = 2;
/// The PASID width an mdev of a parent with PASIDs shows.
const MDEV_PASID_WIDTH: u8 = 20;

/// Where an mdev's descriptors run.
pub(crate) enum Backend {
    /// On the parent's shared WQ `wq`, submitted with the mdev's PASID.
    Parent {
        parent: Arc<DsaFunction>,
        wq: u32,
        pasid: u32,
        /// Cleared when the mdev is removed: its PASID may be another's by then.
        alive: Arc<AtomicBool>,
        /// Whether its descriptors block on faults (its PASID's HWPT has a fault queue).
        faults: Arc<super::MdevFaults>,
        /// The further PASIDs the host gave it, which its WQ may be configured with.
        given: Arc<Mutex<std::collections::BTreeSet<u32>>>,
    },
    /// On the virtual engine, whose DMA port copies through the mdev's access.
    Soft,
}

/// The function of one mdev.
pub(crate) struct MdevFunction {
    config: Mutex<ConfigSpace>,
    msix: Arc<MsixTable>,
    dsa: Arc<Dsa>,
    backend: Backend,
}

impl MdevFunction {
    /// An mdev's function with `backend`, its virtual engine doing DMA through `dma` and
    /// shaped after the parent's `parent_cfg`; its MSI-X messages go to `irqs` as requester
    /// `rid`. `None` if the configuration space cannot be built.
    pub(crate) fn new(
        parent_cfg: DsaConfig,
        backend: Backend,
        dma: Arc<dyn DmaPort>,
        irqs: Arc<Irqs>,
        rid: u16,
    ) -> Option<MdevFunction> {
        let mut builder = FunctionBuilder::new(VENDOR_ID, DEVICE_ID)
            .class_code(CLASS_CODE)
            .flr(true)
            .bar64(0, BAR0_SIZE, false)
            .bar64(2, regs::WQ_PORTALS_SIZE, false)
            .msix(MDEV_VECTORS, (0, MSIX_TABLE as u32), (0, MSIX_PBA as u32));
        // A PASID capability for the PASIDs the host may give it.
        if matches!(backend, Backend::Parent { .. }) {
            builder = builder.pasid(MDEV_PASID_WIDTH, false, false);
        }
        let config = builder.build().ok()?;
        let msix = match config.msix() {
            Some(t) => t.clone(),
            None => Arc::new(MsixTable::new(MDEV_VECTORS)),
        };
        msix.set_sink(Arc::new(move |m: MsiMessage| {
            // A virtual function's messages can only be the ones VFIO programmed.
            if MSI_WINDOW.contains(&m.address) {
                irqs.deliver(rid, m.data);
            }
        }));
        let fire = msix.clone();
        let irq: IrqFn = Arc::new(move |v| {
            let _ = fire.fire(v);
        });
        let cfg = DsaConfig {
            num_wqs: 1,
            num_groups: 1,
            num_engines: 1,
            total_wq_size: 32,
            msix_vectors: MDEV_VECTORS,
            mode: ExecMode::Synchronous,
            ..parent_cfg
        };
        let dsa = Arc::new(Dsa::new(cfg, dma, Some(irq)));
        let f = MdevFunction {
            config: Mutex::new(config),
            msix,
            dsa,
            backend,
        };
        f.sync();
        Some(f)
    }

    fn sync(&self) {
        let c = self.config.lock();
        self.dsa.set_bus_master(c.bus_master_enabled());
        self.dsa
            .set_pasid_enabled(c.pasid().is_some_and(|p| p.enabled));
    }

    /// Whether the virtual engine and its WQ are enabled and the WQ is dedicated: only
    /// then does a store to the portal reach the parent. `Some(Some(p))` when the WQ is
    /// configured with PASID `p`.
    fn wq_takes_stores(&self) -> Option<Option<u32>> {
        if self.dsa.state() != DeviceState::Enabled {
            return None;
        }
        let t = regs::TableOffsets::from_bits(self.dsa.read64(regs::TABLE_OFFSET));
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let state = WqCfgState::from_bits(self.dsa.read32(wq + 24));
        let mode = WqCfgMode::from_bits(self.dsa.read32(wq + 8));
        (state.wq_state() == 1 && mode.dedicated()).then(|| mode.pasid_en().then(|| mode.pasid()))
    }

    /// A 64-byte store to the portal at `off`.
    fn portal(&self, off: u64, data: &[u8]) {
        let Ok(bytes) = <&[u8; DESC_SIZE]>::try_from(data) else {
            return;
        };
        if !self.config.lock().memory_space_enabled() {
            return;
        }
        match &self.backend {
            Backend::Soft => {
                let _ = self.dsa.portal_write(off, data, None);
            }
            Backend::Parent {
                parent,
                wq,
                pasid,
                alive,
                faults,
                given,
            } => {
                // Only the unlimited and limited portals of the one WQ exist.
                if off >= 2 * 0x1000 || !alive.load(Ordering::Acquire) {
                    return;
                }
                // The WQ's PASID, if configured with one, must be one the host gave this
                // mdev; otherwise the store is dropped, as a WQ that is not enabled drops it.
                let pasid = match self.wq_takes_stores() {
                    None => return,
                    Some(None) => *pasid,
                    Some(Some(p)) if given.lock().contains(&p) => p,
                    Some(Some(_)) => return,
                };
                // The parent's interrupts are the host's: the mdev raises its own below.
                let mut desc = Descriptor::from_bytes(bytes);
                let rci = desc.flags().rci();
                desc.set_flags(
                    desc.flags()
                        .with_rci(false)
                        .with_block_on_fault(faults.on(pasid)),
                );
                let enq = Enqcmd {
                    pasid,
                    privileged: false,
                };
                let portal = u64::from(*wq) * regs::WQ_PORTALS_SIZE + (off & 0x1000);
                if parent.enqcmd(portal, &desc.to_bytes(), enq) == Submit::Accepted {
                    // Done when the parent has run it; then its completion interrupt.
                    parent.dsa().run_pending();
                    if rci && desc.int_handle < MDEV_VECTORS {
                        let _ = self.msix.fire(desc.int_handle);
                    }
                }
            }
        }
    }
}

impl PciFunction for MdevFunction {
    fn config_read(&self, offset: u32, size: AccessSize) -> u32 {
        self.config.lock().read(offset, size)
    }

    fn config_write(&self, offset: u32, size: AccessSize, value: u32) {
        let flr = {
            let mut c = self.config.lock();
            c.write(offset, size, value);
            c.take_flr()
        };
        if flr {
            let reset = regs::CmdReg::new().with_cmd(Command::ResetDevice as u8);
            self.dsa.write32(regs::CMD, reset.into_bits());
        }
        self.sync();
    }

    fn bar_read(&self, bar: u8, off: u64, data: &mut [u8]) {
        data.fill(0);
        if bar != 0 || !matches!(data.len(), 1 | 2 | 4 | 8) {
            return;
        }
        let n = data.len();
        let v = match off {
            0..regs::REGS_SIZE => {
                self.dsa.mmio_read(off, data);
                return;
            }
            MSIX_TABLE..MSIX_PBA if off - MSIX_TABLE < self.msix.table_len() => {
                self.msix.read_table(off - MSIX_TABLE, n)
            }
            MSIX_PBA..BAR0_SIZE if off - MSIX_PBA < self.msix.pba_len() => {
                self.msix.read_pba(off - MSIX_PBA, n)
            }
            _ => return,
        };
        data.copy_from_slice(&v.to_le_bytes()[..n]);
    }

    fn bar_write(&self, bar: u8, off: u64, data: &[u8]) {
        match bar {
            0 => {
                let mut v = [0u8; 8];
                let n = data.len().min(8);
                v[..n].copy_from_slice(&data[..n]);
                match off {
                    0..regs::REGS_SIZE => self.dsa.mmio_write(off, data),
                    MSIX_TABLE..MSIX_PBA if matches!(data.len(), 4 | 8) => {
                        self.msix
                            .write_table(off - MSIX_TABLE, n, u64::from_le_bytes(v))
                    }
                    _ => {}
                }
            }
            2 => self.portal(off, data),
            _ => {}
        }
    }
}
