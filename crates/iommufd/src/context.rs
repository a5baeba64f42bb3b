//! A context: one open of `/dev/iommu`, its credentials, accounting mode and objects.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Result, err};
use crate::host::{AccountMode, Credentials, Host, Payer};
use crate::ioas::Ioas;
use crate::objects::{Object, Objects};

/// `IOMMU_OPTION_RLIMIT_MODE`: which count pays for pins (0 user, 1 process).
pub const OPTION_RLIMIT_MODE: u32 = 0;
/// `IOMMU_OPTION_HUGE_PAGES`: whether an IOAS may use large pages (1) or not (0).
pub const OPTION_HUGE_PAGES: u32 = 1;
/// `IOMMU_OPTION_OP_SET`.
pub const OPTION_OP_SET: u16 = 0;
/// `IOMMU_OPTION_OP_GET`.
pub const OPTION_OP_GET: u16 = 1;

/// One open of `/dev/iommu`: the objects a user made through it, and how their pins are paid.
///
/// Every method is one ioctl of the kernel's interface, with its rules and its errno; the
/// binary interface ([`Context::ioctl`]) decodes the kernel's structures and calls them.
pub struct Context {
    host: Arc<Host>,
    cred: Credentials,
    mode: Mutex<AccountMode>,
    objects: Mutex<Objects>,
    owner: u64,
    /// The IOAS VFIO's container calls use.
    pub(crate) vfio_ioas: crate::vfio::CompatIoas,
}

/// Cookies for group ownership, one per context.
static NEXT_OWNER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Context {
    /// A new context for a process with credentials `cred`, accounting per user.
    pub fn new(host: Arc<Host>, cred: Credentials) -> Context {
        Context::with_mode(host, cred, AccountMode::User)
    }

    /// A new context accounting in `mode` (VFIO's container accounts per process).
    pub fn with_mode(host: Arc<Host>, cred: Credentials, mode: AccountMode) -> Context {
        Context {
            host,
            cred,
            mode: Mutex::new(mode),
            objects: Mutex::new(Objects::default()),
            owner: NEXT_OWNER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            vfio_ioas: Default::default(),
        }
    }

    /// The host the context lives in.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// Who the context acts for.
    pub fn credentials(&self) -> Credentials {
        self.cred
    }

    /// Objects the context holds.
    pub fn object_count(&self) -> usize {
        self.objects.lock().len()
    }

    /// Who pays for pages created now.
    pub(crate) fn payer(&self) -> Payer {
        Payer::new(&self.cred, *self.mode.lock())
    }

    pub(crate) fn insert(&self, obj: Object) -> Result<u32> {
        self.host.faults().check("allocating an object")?;
        self.objects.lock().insert(obj)
    }

    pub(crate) fn object(&self, id: u32) -> Result<Object> {
        self.objects.lock().get(id).cloned()
    }

    /// The id of the first object that satisfies `f`.
    pub(crate) fn object_id(&self, f: impl Fn(&Object) -> bool) -> Option<u32> {
        self.objects.lock().find(f)
    }

    /// Whether any object of the context satisfies `f`.
    pub(crate) fn any_object(&self, f: impl Fn(&Object) -> bool) -> bool {
        self.objects.lock().any(f)
    }

    pub(crate) fn ioas(&self, id: u32) -> Result<Arc<Ioas>> {
        match self.object(id)? {
            Object::Ioas(a) => Ok(a),
            _ => err(libc::ENOENT, "not an IOAS"),
        }
    }

    pub(crate) fn auto_hwpts(&self, ioas: &Arc<Ioas>) -> Vec<(u32, Arc<crate::hwpt::Hwpt>)> {
        self.objects.lock().auto_hwpts(ioas)
    }

    /// The automatic HWPT of `ioas` that `set` attaches to, and its id: the first existing
    /// one `set` accepts (one refused with `EINVAL` is passed over), else a new one made
    /// for the core's device `dev` with `flags`, destroyed again if `set` refuses it.
    pub(crate) fn attach_auto(
        &self,
        ioas: Arc<Ioas>,
        dev: softiommu_core::DeviceId,
        flags: u32,
        set: impl Fn(&Arc<crate::hwpt::Hwpt>) -> Result<()>,
    ) -> Result<(u32, Arc<crate::hwpt::Hwpt>)> {
        for (id, h) in self.auto_hwpts(&ioas) {
            match set(&h) {
                Ok(()) => return Ok((id, h)),
                Err(e) if e.errno() == libc::EINVAL => continue,
                Err(e) => return Err(e),
            }
        }
        let h = crate::hwpt::Hwpt::new_for(self, ioas, dev, flags, true)?;
        let id = self.insert(Object::Hwpt(h.clone()))?;
        if let Err(e) = set(&h) {
            drop(h);
            let _ = self.destroy(id);
            return Err(e);
        }
        Ok((id, h))
    }

    /// Destroys the automatic HWPTs whose last device has left.
    pub(crate) fn sweep_auto(&self) {
        let gone = self.objects.lock().take_unused_auto();
        drop(gone);
    }

    /// The cookie this context claims groups with.
    pub(crate) fn owner(&self) -> u64 {
        self.owner
    }

    /// `IOMMU_DESTROY`: destroys object `id`; `ENOENT` if there is none, `EBUSY` while
    /// another object or a call in progress uses it. A device's virtual devices go with
    /// it, their ids left naming nothing (`ENOENT`) and not given out again.
    pub fn destroy(&self, id: u32) -> Result<()> {
        // An access file the user closed no longer holds its IOAS.
        self.host.sweep_test_accesses();
        let mut objects = self.objects.lock();
        // A device takes its virtual devices with it; their ids become tombstones.
        let mut vdevs = Vec::new();
        let device = match objects.get(id) {
            Ok(Object::Device(d)) => Some(d.clone()),
            // A mock device's object takes its bound device with it.
            Ok(Object::Selftest(s)) => s.device(),
            _ => None,
        };
        if let Some(d) = device {
            let ids = objects
                .ids_where(|o| matches!(o, Object::Vdevice(v) if Arc::ptr_eq(&v.device, &d)));
            drop(d);
            vdevs = ids.iter().filter_map(|&v| objects.tombstone(v)).collect();
        }
        drop(vdevs);
        let obj = objects.remove(id);
        drop(objects);
        let obj = obj?;
        let was_device = matches!(
            obj,
            Object::Device(_) | Object::Selftest(_) | Object::Mdev(_)
        );
        if let Object::Selftest(s) = &obj {
            // Its bound device goes first, so that the mock device can be unplugged.
            let idev = s.idev_id();
            let bound = idev.and_then(|i| self.objects.lock().take(i));
            drop(bound);
        }
        drop(obj);
        if was_device {
            self.sweep_auto();
        }
        Ok(())
    }

    /// `IOMMU_OPTION` with `IOMMU_OPTION_RLIMIT_MODE`: reads (`None`) or sets the accounting
    /// mode (0 user, 1 process); setting needs `CAP_SYS_RESOURCE` (`EPERM`) and an empty
    /// context (`EBUSY`).
    pub fn rlimit_mode(&self, set: Option<u64>) -> Result<u64> {
        let Some(val) = set else {
            return Ok(u64::from(*self.mode.lock() == AccountMode::Mm));
        };
        if !self.cred.sys_resource {
            return err(
                libc::EPERM,
                "changing the accounting mode needs CAP_SYS_RESOURCE",
            );
        }
        let objects = self.objects.lock();
        if !objects.is_empty() {
            return err(libc::EBUSY, "the context already has objects");
        }
        *self.mode.lock() = match val {
            0 => AccountMode::User,
            1 => AccountMode::Mm,
            _ => return err(libc::EINVAL, "accounting mode is 0 or 1"),
        };
        Ok(val)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // Objects go in reverse order of creation, users before what they use.
        let mut objects = std::mem::take(&mut *self.objects.lock());
        objects.clear_in_reverse();
    }
}
