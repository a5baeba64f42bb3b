//! Virtual IOMMUs and virtual devices: a nesting parent seen as one IOMMU instance of a
//! guest, through which nested HWPTs are made and invalidated, and the guest's ids of the
//! devices behind it (the SMMUv3 vSID).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use softiommu_core::{Family, InstanceId};

use crate::context::Context;
use crate::device::Device;
use crate::error::{Result, err};
use crate::hwpt::Hwpt;
use crate::objects::Object;

/// `IOMMU_VIOMMU_TYPE_DEFAULT`: no type (refused).
pub const VIOMMU_TYPE_DEFAULT: u32 = 0;
/// `IOMMU_VIOMMU_TYPE_ARM_SMMUV3`: a virtual SMMUv3.
pub const VIOMMU_TYPE_ARM_SMMUV3: u32 = 1;

/// A virtual IOMMU: a nesting-parent HWPT on one IOMMU instance.
pub struct Viommu {
    /// Its type (`IOMMU_VIOMMU_TYPE_*`).
    pub(crate) kind: u32,
    /// The instance it virtualises.
    pub(crate) instance: InstanceId,
    /// The nesting parent, kept busy by the vIOMMU.
    pub(crate) parent: Arc<Hwpt>,
    /// Its virtual devices, by virtual id.
    vdevs: Mutex<BTreeMap<u64, Weak<Vdevice>>>,
    /// The nested HWPTs made through it.
    nested: Mutex<Vec<Weak<Hwpt>>>,
    /// Its vEVENTQs, one per type.
    pub(crate) veventqs: Mutex<Vec<Weak<crate::veventq::Veventq>>>,
}

impl Viommu {
    /// Records nested HWPT `hwpt` as made through this vIOMMU.
    pub(crate) fn add_nested(&self, hwpt: &Arc<Hwpt>) {
        let mut n = self.nested.lock();
        n.retain(|w| w.strong_count() > 0);
        n.push(Arc::downgrade(hwpt));
    }

    /// The live nested HWPTs made through this vIOMMU.
    pub(crate) fn nested(&self) -> Vec<Arc<Hwpt>> {
        self.nested
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// The virtual id of core device `dev`, if it has a virtual device here.
    pub(crate) fn virt_id_of(&self, dev: softiommu_core::DeviceId) -> Option<u64> {
        self.vdevs
            .lock()
            .iter()
            .find(|(_, w)| w.upgrade().is_some_and(|v| v.device.id == dev))
            .map(|(&id, _)| id)
    }

    /// Its vEVENTQ of type `kind`.
    pub(crate) fn veventq(&self, kind: u32) -> Option<Arc<crate::veventq::Veventq>> {
        self.veventqs
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .find(|q| q.kind == kind)
    }

    /// The device whose virtual id is `virt_id`.
    pub(crate) fn vdevice(&self, virt_id: u64) -> Option<Arc<Vdevice>> {
        self.vdevs.lock().get(&virt_id).and_then(Weak::upgrade)
    }
}

/// A device as the guest of a vIOMMU knows it: its virtual id.
pub struct Vdevice {
    pub(crate) viommu: Arc<Viommu>,
    pub(crate) device: Arc<Device>,
    virt_id: u64,
}

impl Drop for Vdevice {
    fn drop(&mut self) {
        self.viommu.vdevs.lock().remove(&self.virt_id);
    }
}

impl Context {
    pub(crate) fn viommu(&self, id: u32) -> Result<Arc<Viommu>> {
        match self.object(id)? {
            Object::Viommu(v) => Ok(v),
            _ => err(libc::ENOENT, "not a vIOMMU"),
        }
    }

    /// `IOMMU_VIOMMU_ALLOC`: a vIOMMU of type `kind` for bound device `dev_id`'s IOMMU over
    /// `hwpt_id`, a paging HWPT made as a nesting parent. SMMUv3 vIOMMUs exist, and the
    /// test channel's mock vIOMMU for its mock devices: `EOPNOTSUPP` for other types or
    /// IOMMUs; `EINVAL` for a parent not made to nest.
    /// Returns its id.
    pub fn viommu_alloc(&self, dev_id: u32, hwpt_id: u32, kind: u32, flags: u32) -> Result<u32> {
        if flags != 0 || kind == VIOMMU_TYPE_DEFAULT {
            return err(libc::EOPNOTSUPP, "vIOMMU flags or the default type");
        }
        let dev = self.device(dev_id)?;
        let iommu = self.host().iommu();
        let caps = iommu.device_caps(dev.id)?;
        let mock = kind == crate::selftest::VIOMMU_TYPE_SELFTEST && self.host().is_mock(dev.id);
        if !mock
            && (kind != VIOMMU_TYPE_ARM_SMMUV3
                || caps.iommu.family != Family::Smmuv3
                || !caps.iommu.nesting)
        {
            return err(
                libc::EOPNOTSUPP,
                "no vIOMMU of that type on the device's IOMMU",
            );
        }
        let parent = match self.object(hwpt_id)? {
            Object::Hwpt(h) if !h.is_nested() => h,
            _ => return err(libc::ENOENT, "not a paging HWPT"),
        };
        if !parent.is_nest_parent() {
            return err(
                libc::EINVAL,
                "the HWPT was not allocated as a nesting parent",
            );
        }
        let viommu = Arc::new(Viommu {
            kind,
            instance: iommu.device_info(dev.id)?.instance,
            parent,
            vdevs: Mutex::new(BTreeMap::new()),
            nested: Mutex::new(Vec::new()),
            veventqs: Mutex::new(Vec::new()),
        });
        self.insert(Object::Viommu(viommu))
    }

    /// `IOMMU_VDEVICE_ALLOC`: gives bound device `dev_id` the virtual id `virt_id` in vIOMMU
    /// `viommu_id` (for SMMUv3 its vSID). `EINVAL` if the device is behind another IOMMU,
    /// `EEXIST` if it has a virtual device already or the id is taken. Returns its id.
    pub fn vdevice_alloc(&self, viommu_id: u32, dev_id: u32, virt_id: u64) -> Result<u32> {
        let viommu = self.viommu(viommu_id)?;
        let dev = self.device(dev_id)?;
        if self.host().iommu().device_info(dev.id)?.instance != viommu.instance {
            return err(libc::EINVAL, "the device is behind another IOMMU");
        }
        if self.any_object(|o| matches!(o, Object::Vdevice(v) if Arc::ptr_eq(&v.device, &dev))) {
            return err(libc::EEXIST, "the device has a virtual device already");
        }
        let vdev = {
            let mut vdevs = viommu.vdevs.lock();
            if vdevs.get(&virt_id).is_some_and(|w| w.strong_count() > 0) {
                return err(libc::EEXIST, "the virtual id is taken");
            }
            let vdev = Arc::new(Vdevice {
                viommu: viommu.clone(),
                device: dev,
                virt_id,
            });
            vdevs.insert(virt_id, Arc::downgrade(&vdev));
            vdev
        };
        self.insert(Object::Vdevice(vdev))
    }
}
