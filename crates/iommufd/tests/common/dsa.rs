//! A copy engine behind the VT-d unit, bound to VFIO's PCI driver, and eventfds.

use std::sync::Arc;

use super::{Platform, vtd};
use parking_lot::Mutex;
use softiommu_core::Rid;
use softiommu_devices::dsa::{DsaConfig, DsaFunction};
use softiommu_iommufd::Context;
use softiommu_iommufd::vfio::{Files, VfioDevice, VfioPci};

/// A VT-d platform with a copy engine behind the unit, bound to VFIO's PCI driver.
pub struct Rig {
    pub p: Platform,
    pub vfio: Arc<VfioPci>,
    pub name: String,
    pub function: Arc<DsaFunction>,
}

pub fn rig() -> Rig {
    let p = vtd(1);
    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let function = Arc::new(DsaFunction::new(DsaConfig::default(), port, rid).expect("the engine"));
    let name = vfio
        .add(p.devs[0], rid, function.clone())
        .expect("bound to VFIO");
    assert_eq!(name, "0000:00:03.0");
    Rig {
        p,
        vfio,
        name,
        function,
    }
}

/// An eventfd of this process.
pub fn eventfd() -> i32 {
    // SAFETY: eventfd(2) takes no pointers; a failure returns -1, checked below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0);
    fd
}

/// The count of eventfd `fd`, read (and so reset); 0 when nothing was signalled.
pub fn events(fd: i32) -> u64 {
    let mut n = 0u64;
    // SAFETY: reads 8 bytes into `n`, which has exactly 8.
    let r = unsafe { libc::read(fd, (&raw mut n).cast(), 8) };
    if r == 8 { n } else { 0 }
}

pub fn close(fd: i32) {
    // SAFETY: closes a descriptor this test opened and uses no more.
    unsafe { libc::close(fd) };
}

/// A descriptor table: contexts at the numbers given, device files installed from 100.
#[derive(Default)]
pub struct Fds {
    pub contexts: Vec<(i32, Arc<Context>)>,
    pub devices: Mutex<Vec<VfioDevice>>,
}

impl Files for Fds {
    fn context(&self, fd: i32) -> Option<Arc<Context>> {
        self.contexts
            .iter()
            .find(|(n, _)| *n == fd)
            .map(|(_, c)| c.clone())
    }

    fn install(&self, dev: VfioDevice) -> softiommu_iommufd::Result<i32> {
        let mut d = self.devices.lock();
        d.push(dev);
        Ok(99 + d.len() as i32)
    }
}
