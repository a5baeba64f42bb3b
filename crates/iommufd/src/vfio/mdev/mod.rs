//! Mediated devices: one work queue of a copy engine presented to users as a VFIO device of
//! its own. The host driver of the parent engine ([`MdevParent`]) owns the engine: no
//! context may bind it. With PASIDs, it brings up a shared WQ and gives each mdev a PASID
//! of the parent, which the mdev's binding attaches to its user's IOAS or HWPT; the mdev's
//! descriptors go to that WQ tagged with the PASID. Without PASIDs, each mdev's descriptors
//! run on its own virtual engine with its DMA copied in software through an access.
//!
//! An mdev of a parent with PASIDs may be given more PASIDs of the parent
//! ([`MdevParent::alloc_pasid`]), for a guest whose PASIDs the host allocates: its file
//! attaches each to a HWPT made for PASIDs (`VFIO_DEVICE_ATTACH_PASID`), and its virtual WQ,
//! configured with one of them, submits its descriptors with that PASID.
//!
//! An mdev's PASID may be attached to a HWPT with a fault queue: the parent driver then
//! turns the parent's PRI on and submits the mdev's descriptors blocking on faults, so a
//! fault at the mdev's PASID becomes a page request the core routes to that queue.

mod bind;
mod dma;
mod function;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use softiommu_core::{DeviceId, GroupId};
use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, GenCap, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{DmaPort, DsaFunction};
use softiommu_devices::pci::AccessSize;
use softiommu_devices::pci::regs::ext_cap_id;

use bind::LinkKind;
pub(crate) use bind::MdevBinding;
pub(crate) use bind::MdevLink;

use super::device::{DevState, PciDev, VfioDevice, VfioPci};
use super::pci::{PciFunction, VirtConfig, probe};
use crate::error::{Error, Result, err};
use dma::{PasidPort, SoftLink, SoftPort};
use function::{Backend, MdevFunction};

/// The parent's WQ the mdevs share.
const PARENT_WQ: u32 = 0;
/// Outstanding page requests the parent driver allows the parent when it turns PRI on.
const PRI_ALLOCATION: u32 = 32;
/// PRI's control register (Enable is bit 0) and outstanding allocation.
const PRI_CONTROL: u32 = 4;
const PRI_ALLOC: u32 = 0xc;

/// At which of its PASIDs one mdev's descriptors block on faults, and the parent's PRI
/// they need.
pub(crate) struct MdevFaults {
    parent: Arc<DsaFunction>,
    on: Mutex<BTreeSet<u32>>,
}

impl MdevFaults {
    /// Turns the parent's PRI on (once for all its mdevs) and the mdev's descriptors at
    /// `pasid` to blocking on faults; `false` if the parent has no PRI capability.
    pub(crate) fn turn_on(&self, pasid: u32) -> bool {
        let f = &*self.parent;
        let Some(pri) = find_ext_cap(f, ext_cap_id::PRI) else {
            return false;
        };
        let ctl = f.config_read(pri + PRI_CONTROL, AccessSize::Word);
        if ctl & 1 == 0 {
            f.config_write(pri + PRI_ALLOC, AccessSize::Dword, PRI_ALLOCATION);
            f.config_write(pri + PRI_CONTROL, AccessSize::Word, ctl | 1);
        }
        self.on.lock().insert(pasid);
        true
    }

    /// The mdev's descriptors at `pasid` no longer block on faults (the parent's PRI stays
    /// on).
    pub(crate) fn turn_off(&self, pasid: u32) {
        self.on.lock().remove(&pasid);
    }

    /// Whether the mdev's descriptors at `pasid` block on faults.
    pub(crate) fn on(&self, pasid: u32) -> bool {
        self.on.lock().contains(&pasid)
    }
}
/// Owner cookies of host drivers, apart from the contexts'.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1 << 62);

/// One mdev of a parent.
struct Mdev {
    name: String,
    dev: Arc<PciDev>,
    /// The parent's PASID it uses, if the parent has PASIDs.
    pasid: Option<u32>,
    /// Its software path, if not.
    soft: Option<Arc<SoftLink>>,
    /// The further PASIDs of the parent the host gave it.
    given: Arc<Mutex<BTreeSet<u32>>>,
    /// Cleared when it is removed: files still open on it reach nothing.
    alive: Arc<AtomicBool>,
}

impl Mdev {
    /// Ends the mdev: its files reach nothing, and its PASID goes back to the parent.
    fn end(&self, host: &crate::host::Host, parent: DeviceId) {
        self.alive.store(false, Ordering::Release);
        let given = std::mem::take(&mut *self.given.lock());
        for p in self.pasid.into_iter().chain(given) {
            // Detaches the PASID too, if a binding still has it attached.
            let _ = host.iommu().free_private_pasid(parent, p);
        }
    }
}

/// The host driver of a copy engine whose WQ is shared out as mdevs.
pub struct MdevParent {
    vfio: Arc<VfioPci>,
    function: Arc<DsaFunction>,
    dev: DeviceId,
    group: GroupId,
    rid: u16,
    owner: u64,
    pasid: bool,
    mdevs: Mutex<Vec<Mdev>>,
    next: AtomicU64,
}

impl MdevParent {
    /// Takes engine `function`, the core's device `dev` at requester ID `rid`, for mdevs
    /// offered through `vfio`: the engine's group is the host's from now (`EBUSY` if a
    /// context has it). If the device and its IOMMU use PASIDs, the engine is brought up
    /// with a shared WQ; otherwise its mdevs copy in software.
    pub fn new(
        vfio: &Arc<VfioPci>,
        dev: DeviceId,
        rid: u16,
        function: Arc<DsaFunction>,
    ) -> Result<Arc<MdevParent>> {
        let host = vfio.host.clone();
        let group = host.iommu().group_of(dev).map_err(Error::from)?;
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        host.bind(dev, group, owner)?;
        let pasid = host.iommu().device_caps(dev).map(|c| c.pasid_bits > 0) == Ok(true)
            && enable_pasid(&*function);
        let parent = Arc::new(MdevParent {
            vfio: vfio.clone(),
            function,
            dev,
            group,
            rid,
            owner,
            pasid,
            mdevs: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
        });
        if pasid && !parent.bring_up() {
            return err(libc::EIO, "the engine did not come up");
        }
        Ok(parent)
    }

    /// Whether the mdevs' DMA goes through PASIDs of the parent (else through accesses).
    pub fn uses_pasid(&self) -> bool {
        self.pasid
    }

    /// Brings the parent up: memory and bus mastering on, WQ 0 shared with every engine in
    /// group 0, device and WQ enabled.
    fn bring_up(&self) -> bool {
        let f = &*self.function;
        let cmd = f.config_read(super::pci::COMMAND, AccessSize::Word);
        let on = super::pci::CMD_MEMORY | super::pci::CMD_MASTER;
        PciFunction::config_write(f, super::pci::COMMAND, AccessSize::Word, cmd | on);
        let r64 = |off: u64| {
            let mut b = [0u8; 8];
            PciFunction::bar_read(f, 0, off, &mut b);
            u64::from_le_bytes(b)
        };
        let w = |off: u64, v: &[u8]| PciFunction::bar_write(f, 0, off, v);
        let command = |c: Command| {
            w(
                regs::CMD,
                &CmdReg::new().with_cmd(c as u8).into_bits().to_le_bytes(),
            );
            CmdSts::from_bits(r64(regs::CMDSTS) as u32).err() == 0
        };
        if !command(Command::ResetDevice) {
            return false;
        }
        let t = regs::TableOffsets::from_bits(r64(regs::TABLE_OFFSET));
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = r64(regs::ENGCAP) & 0xff;
        w(grpcfg, &1u64.to_le_bytes());
        w(grpcfg + 32, &((1u64 << engines) - 1).to_le_bytes());
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        // Descriptors block on faults only when their mdev's PASID has a fault queue.
        let bof = GenCap::from_bits(r64(regs::GENCAP)).block_on_fault();
        let mode = WqCfgMode::new().with_priority(10).with_bof(bof);
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        w(wq, &32u32.to_le_bytes());
        w(wq + 4, &32u32.to_le_bytes());
        w(wq + 8, &mode.into_bits().to_le_bytes());
        w(wq + 12, &limits.into_bits().to_le_bytes());
        w(regs::GENCTRL, &1u32.to_le_bytes());
        command(Command::EnableDevice) && command(Command::EnableWq)
    }

    /// Creates an mdev: one WQ of the engine as a VFIO device of its own; returns its name.
    /// With PASIDs, it takes a PASID of the parent (`ENOSPC` when none is left).
    pub fn create(&self) -> Result<String> {
        let host = &self.vfio.host;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:08x}-0000-4000-8000-{:012x}", self.rid, n);
        let cfg = *self.function.dsa().config();
        let alive = Arc::new(AtomicBool::new(true));
        let given = Arc::new(Mutex::new(BTreeSet::new()));
        let faults = Arc::new(MdevFaults {
            parent: self.function.clone(),
            on: Mutex::new(BTreeSet::new()),
        });
        let (backend, dma, link, pasid, soft): (Backend, Arc<dyn DmaPort>, _, _, _) = if self.pasid
        {
            let pasid = host
                .iommu()
                .alloc_private_pasid(self.dev)
                .map_err(Error::from)?;
            let backend = Backend::Parent {
                parent: self.function.clone(),
                wq: PARENT_WQ,
                pasid,
                alive: alive.clone(),
                faults: faults.clone(),
                given: given.clone(),
            };
            let port = Arc::new(PasidPort {
                inner: self.function.port().clone(),
                pasid,
            });
            let link = LinkKind::Pasid {
                parent: self.dev,
                pasid,
            };
            (backend, port, link, Some(pasid), None)
        } else {
            let soft = SoftLink::new(host.clone());
            let port = Arc::new(SoftPort(soft.clone()));
            (
                Backend::Soft,
                port,
                LinkKind::Soft(soft.clone()),
                None,
                Some(soft),
            )
        };
        let irqs = self.vfio.irqs.clone();
        let Some(f) = MdevFunction::new(cfg, backend, dma, irqs.clone(), self.rid) else {
            if let Some(p) = pasid {
                let _ = host.iommu().free_private_pasid(self.dev, p);
            }
            return err(libc::ENOMEM, "the mdev's function could not be built");
        };
        let f: Arc<dyn PciFunction> = Arc::new(f);
        let dev = Arc::new(PciDev {
            name: name.clone(),
            id: self.dev,
            group: self.group,
            rid: self.rid,
            probe: probe(&*f),
            irqs,
            host: host.clone(),
            state: Mutex::new(DevState::new(VirtConfig::new(&*f))),
            f,
            mdev: Some(MdevLink {
                kind: link,
                alive: alive.clone(),
                faults,
                given: given.clone(),
            }),
        });
        self.mdevs.lock().push(Mdev {
            name: name.clone(),
            dev,
            pasid,
            soft,
            given,
            alive,
        });
        Ok(name)
    }

    /// Opens the device file of mdev `name` (`ENODEV` if there is none): like a PCI
    /// function's, nothing but binding to a context works until it is bound.
    pub fn open(&self, name: &str) -> Result<VfioDevice> {
        let mdevs = self.mdevs.lock();
        match mdevs.iter().find(|m| m.name == name) {
            Some(m) => Ok(VfioDevice::new_cdev(m.dev.clone())),
            None => err(libc::ENODEV, "no such mdev"),
        }
    }

    /// The parent's PASID mdev `name` uses (`None` for one copying in software; `ENODEV` if
    /// there is none), for a VMM that hands it to the mdev's guest.
    pub fn pasid_of(&self, name: &str) -> Result<Option<u32>> {
        let mdevs = self.mdevs.lock();
        match mdevs.iter().find(|m| m.name == name) {
            Some(m) => Ok(m.pasid),
            None => err(libc::ENODEV, "no such mdev"),
        }
    }

    /// Gives mdev `name` one more private PASID of the parent and returns it (`ENODEV` if
    /// there is no such mdev, `EOPNOTSUPP` for one copying in software, `ENOSPC` when none
    /// is left): its file may then attach it, and its WQ tag descriptors with it.
    pub fn alloc_pasid(&self, name: &str) -> Result<u32> {
        let mdevs = self.mdevs.lock();
        let Some(m) = mdevs.iter().find(|m| m.name == name) else {
            return err(libc::ENODEV, "no such mdev");
        };
        if m.pasid.is_none() {
            return err(
                libc::EOPNOTSUPP,
                "the mdev copies in software: it has no PASIDs",
            );
        }
        let host = &self.vfio.host;
        let p = host
            .iommu()
            .alloc_private_pasid(self.dev)
            .map_err(Error::from)?;
        m.given.lock().insert(p);
        Ok(p)
    }

    /// Takes back PASID `pasid` the host gave mdev `name` (detaching it if attached);
    /// `EINVAL` if it is not one given to that mdev, `ENODEV` if there is no such mdev.
    pub fn free_pasid(&self, name: &str, pasid: u32) -> Result<()> {
        let mdevs = self.mdevs.lock();
        let Some(m) = mdevs.iter().find(|m| m.name == name) else {
            return err(libc::ENODEV, "no such mdev");
        };
        if !m.given.lock().remove(&pasid) {
            return err(libc::EINVAL, "the host gave the mdev no such PASID");
        }
        self.vfio
            .host
            .iommu()
            .free_private_pasid(self.dev, pasid)
            .map_err(Error::from)
    }

    /// The further PASIDs the host gave mdev `name` (`ENODEV` if there is none).
    pub fn pasids_of(&self, name: &str) -> Result<Vec<u32>> {
        let mdevs = self.mdevs.lock();
        match mdevs.iter().find(|m| m.name == name) {
            Some(m) => Ok(m.given.lock().iter().copied().collect()),
            None => err(libc::ENODEV, "no such mdev"),
        }
    }

    /// Pages the software mdev `name` holds pinned through its access (0 for a PASID one).
    pub fn pinned_pages(&self, name: &str) -> Result<usize> {
        let mdevs = self.mdevs.lock();
        match mdevs.iter().find(|m| m.name == name) {
            Some(m) => Ok(m.soft.as_ref().map_or(0, |s| s.pinned_pages())),
            None => err(libc::ENODEV, "no such mdev"),
        }
    }

    /// Removes mdev `name`: `EBUSY` while a file has it open, `ENODEV` if there is none.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut mdevs = self.mdevs.lock();
        let Some(i) = mdevs.iter().position(|m| m.name == name) else {
            return err(libc::ENODEV, "no such mdev");
        };
        if mdevs[i].dev.state.lock().open > 0 {
            return err(libc::EBUSY, "the mdev is open");
        }
        mdevs.remove(i).end(&self.vfio.host, self.dev);
        Ok(())
    }

    /// The mdevs' names.
    pub fn names(&self) -> Vec<String> {
        self.mdevs.lock().iter().map(|m| m.name.clone()).collect()
    }
}

impl Drop for MdevParent {
    fn drop(&mut self) {
        for m in std::mem::take(self.mdevs.get_mut()) {
            m.end(&self.vfio.host, self.dev);
        }
        self.vfio.host.unbind(self.dev, self.group, self.owner);
    }
}

/// Sets the enable bit of the function's PASID capability; `false` if it has none.
fn enable_pasid(f: &dyn PciFunction) -> bool {
    let Some(at) = find_ext_cap(f, ext_cap_id::PASID) else {
        return false;
    };
    let ctl = f.config_read(at + 6, AccessSize::Word);
    f.config_write(at + 6, AccessSize::Word, ctl | 1);
    true
}

/// Where the function's extended capability `id` is, if it has one.
fn find_ext_cap(f: &dyn PciFunction, id: u16) -> Option<u32> {
    let mut at = 0x100u32;
    for _ in 0..48 {
        let h = f.config_read(at, AccessSize::Dword);
        if h & 0xffff == u32::from(id) {
            return Some(at);
        }
        at = h >> 20;
        if at < 0x100 {
            return None;
        }
    }
    None
}
