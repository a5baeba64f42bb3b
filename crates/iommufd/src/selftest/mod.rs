//! The kernel's mock-driver test channel (`IOMMU_TEST_CMD`), served over the core's reference
//! driver in its iommufd mock configuration (2 KiB pages, aperture [2^24, 2^31)).
//!
//! The channel is opt-in per host: a host made with [`Host::with_mock`] has two mock IOMMU
//! instances (one tracking dirty pages, one without, for `MOCK_FLAGS_DEVICE_NO_DIRTY`), and
//! its contexts answer `IOMMU_TEST_CMD`; on a host made with [`Host::new`] the command is
//! `ENOTTY`, as in a kernel built without `CONFIG_IOMMUFD_TEST`. Mock devices are added to
//! the core when `MOCK_DOMAIN` makes them and removed when their object is destroyed.

mod access;
mod cmd;
mod nested;
mod ops;
mod pages;
mod pasid;
mod viommu;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use softiommu_core::reference::{RefConfig, RefIommu};
use softiommu_core::{
    DeviceCaps, DeviceDesc, DeviceId, Domain, DomainId, InstanceId, Iommu, Rid, Topology,
};
use softiommu_mem::HostMemory;

use crate::device::Device;
use crate::error::{Error, Result, err};
use crate::host::Host;

pub use nested::{HWPT_DATA_SELFTEST, INVALIDATE_DATA_SELFTEST};
pub(crate) use nested::{HwptSelftest, invalidate};
pub(crate) use ops::test_cmd;
pub(crate) use viommu::check_attach;

/// The command number of `IOMMU_TEST_CMD` (`_IO(';', 0xa0)`).
pub(crate) const TEST_CMD_NR: u32 = 0xa0;

/// `IOMMU_TEST_OP_ADD_RESERVED`: reserve an IOVA range of an IOAS.
pub const TEST_OP_ADD_RESERVED: u32 = 1;
/// `IOMMU_TEST_OP_MOCK_DOMAIN`: a mock device, bound and attached.
pub const TEST_OP_MOCK_DOMAIN: u32 = 2;
/// `IOMMU_TEST_OP_MD_CHECK_MAP`: a mock domain maps a range to the given user memory.
pub const TEST_OP_MD_CHECK_MAP: u32 = 3;
/// `IOMMU_TEST_OP_MD_CHECK_REFS`: the pin count of each page of a user range.
pub const TEST_OP_MD_CHECK_REFS: u32 = 4;
/// `IOMMU_TEST_OP_CREATE_ACCESS`: an access to an IOAS, as a new file descriptor.
pub const TEST_OP_CREATE_ACCESS: u32 = 5;
/// `IOMMU_TEST_OP_DESTROY_ACCESS_PAGES`: drop one pin of an access.
pub const TEST_OP_DESTROY_ACCESS_PAGES: u32 = 6;
/// `IOMMU_TEST_OP_ACCESS_PAGES`: pin pages through an access.
pub const TEST_OP_ACCESS_PAGES: u32 = 7;
/// `IOMMU_TEST_OP_ACCESS_RW`: read or write by IOVA through an access.
pub const TEST_OP_ACCESS_RW: u32 = 8;
/// `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT`.
pub const TEST_OP_SET_TEMP_MEMORY_LIMIT: u32 = 9;
/// `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE`: replace what a mock device is attached to.
pub const TEST_OP_MOCK_DOMAIN_REPLACE: u32 = 10;
/// `IOMMU_TEST_OP_ACCESS_REPLACE_IOAS`: move an access to another IOAS.
pub const TEST_OP_ACCESS_REPLACE_IOAS: u32 = 11;
/// `IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS`: `MOCK_DOMAIN` with device flags.
pub const TEST_OP_MOCK_DOMAIN_FLAGS: u32 = 12;
/// `IOMMU_TEST_OP_DIRTY`: mark pages of a mock domain dirty.
pub const TEST_OP_DIRTY: u32 = 13;
/// `IOMMU_TEST_OP_MD_CHECK_IOTLB`: an IOTLB entry of a mock nested domain.
pub const TEST_OP_MD_CHECK_IOTLB: u32 = 14;
/// `IOMMU_TEST_OP_TRIGGER_IOPF`: a mock device sends a page request.
pub const TEST_OP_TRIGGER_IOPF: u32 = 15;
/// `IOMMU_TEST_OP_DEV_CHECK_CACHE`: a cache entry of a mock device.
pub const TEST_OP_DEV_CHECK_CACHE: u32 = 16;
/// `IOMMU_TEST_OP_PASID_ATTACH`: attach a PASID of a mock device.
pub const TEST_OP_PASID_ATTACH: u32 = 18;
/// `IOMMU_TEST_OP_PASID_REPLACE`: replace what a PASID of a mock device is attached to.
pub const TEST_OP_PASID_REPLACE: u32 = 19;
/// `IOMMU_TEST_OP_PASID_DETACH`: detach a PASID of a mock device.
pub const TEST_OP_PASID_DETACH: u32 = 20;
/// `IOMMU_TEST_OP_PASID_CHECK_HWPT`: what a PASID of a mock device is attached to.
pub const TEST_OP_PASID_CHECK_HWPT: u32 = 21;

/// `MOCK_FLAGS_DEVICE_NO_DIRTY`: the mock device's IOMMU tracks no dirty pages.
pub const MOCK_FLAGS_DEVICE_NO_DIRTY: u32 = 1 << 0;
/// `MOCK_FLAGS_DEVICE_PASID`: the mock device issues PASIDs (20 bits).
pub const MOCK_FLAGS_DEVICE_PASID: u32 = 1 << 2;

/// `IOMMU_VIOMMU_TYPE_SELFTEST`: the mock vIOMMU.
pub const VIOMMU_TYPE_SELFTEST: u32 = 0xdead_beef;
/// `IOMMU_VEVENTQ_TYPE_SELFTEST`: events `struct iommu_viommu_event_selftest { virt_id }`.
pub const VEVENTQ_TYPE_SELFTEST: u32 = 0xbeef_beef;
/// `IOMMU_TEST_OP_TRIGGER_VEVENT`: a mock device reports an event to its vIOMMU.
pub const TEST_OP_TRIGGER_VEVENT: u32 = 17;

/// `IOMMU_HW_INFO_TYPE_SELFTEST`: `struct iommu_test_hw_info { flags, test_reg }`.
pub const HW_INFO_TYPE_SELFTEST: u32 = 0xfeed_beef;
/// The `test_reg` value of the mock's hardware information.
const HW_INFO_SELFTEST_REGVAL: u32 = 0xdead_beef;
/// The mock IOMMU's page size (`MOCK_PAGE_SIZE`).
pub const MOCK_PAGE_SIZE: u64 = 2048;
/// The mock IOMMU's aperture (`MOCK_APERTURE_START` to `MOCK_APERTURE_LAST`, exclusive end).
pub const MOCK_APERTURE: std::ops::Range<u64> = 1 << 24..1 << 31;
/// PASID width of a mock device made with [`MOCK_FLAGS_DEVICE_PASID`].
const MOCK_PASID_WIDTH: u8 = 20;
/// Entries of a mock device's cache, and their value until invalidated.
const MOCK_DEV_CACHE_NUM: usize = 4;
const MOCK_DEV_CACHE_DEFAULT: u32 = 0x00ba_ddad;
/// The default temporary memory limit, and the least one accepted.
const DEFAULT_MEMORY_LIMIT: u32 = 65536;
const MIN_MEMORY_LIMIT: u32 = 12;
/// Entries of a mock nested domain's IOTLB.
const MOCK_NESTED_IOTLB_NUM: u32 = 4;
/// PCI segment the mock devices sit on, away from any platform's devices.
const MOCK_SEGMENT: u16 = 0xfe;

/// The mock IOMMU of a host: its instances and the mock devices present.
pub(crate) struct Mock {
    dirty: InstanceId,
    no_dirty: InstanceId,
    next: AtomicU32,
    /// Mock devices present, with their caches.
    devices: Mutex<HashMap<DeviceId, [u32; MOCK_DEV_CACHE_NUM]>>,
    /// Mock nested domains, with their IOTLBs.
    nested: Mutex<NestedIotlbs>,
    memory_limit: AtomicU32,
    /// The accesses made through the channel, by descriptor.
    accesses: access::Accesses,
    /// Mock devices whose next set of PASID 1024 fails.
    pasid_fake_error: Mutex<HashSet<DeviceId>>,
}

/// The IOTLB of each mock nested domain, by domain.
type NestedIotlbs = HashMap<DomainId, (Weak<Domain>, [u32; MOCK_NESTED_IOTLB_NUM as usize])>;

impl Mock {
    /// Two reference instances in the mock configuration, with and without dirty tracking.
    fn new(iommu: &Iommu) -> Result<Mock> {
        let instance = |dirty_tracking| -> Result<InstanceId> {
            let cfg = RefConfig {
                dirty_tracking,
                ..RefConfig::iommufd_mock()
            };
            let drv = RefIommu::new(cfg, iommu.mem().clone()).map_err(Error::from)?;
            Ok(iommu.add_instance(drv))
        };
        Ok(Mock {
            dirty: instance(true)?,
            no_dirty: instance(false)?,
            next: AtomicU32::new(0),
            devices: Mutex::new(HashMap::new()),
            nested: Mutex::new(HashMap::new()),
            memory_limit: AtomicU32::new(DEFAULT_MEMORY_LIMIT),
            accesses: Default::default(),
            pasid_fake_error: Mutex::new(HashSet::new()),
        })
    }

    /// Adds a mock device with `flags` to the core.
    fn plug(&self, iommu: &Iommu, flags: u32) -> Result<DeviceId> {
        let instance = if flags & MOCK_FLAGS_DEVICE_NO_DIRTY != 0 {
            self.no_dirty
        } else {
            self.dirty
        };
        let caps = DeviceCaps {
            pasid_bits: if flags & MOCK_FLAGS_DEVICE_PASID != 0 {
                MOCK_PASID_WIDTH
            } else {
                0
            },
            ats: false,
            // The mock's devices take part in I/O page faults (`TRIGGER_IOPF`).
            pri: true,
        };
        // A requester ID no mock device present uses: one of 65536, tried in turn.
        for _ in 0..=u16::MAX {
            let n = self.next.fetch_add(1, Ordering::Relaxed) as u16;
            let desc = DeviceDesc {
                rid: Rid {
                    segment: MOCK_SEGMENT,
                    bus: (n >> 8) as u8,
                    devfn: n as u8,
                },
                instance,
                caps,
                bridge: None,
                alias: None,
            };
            let topo = Topology {
                bridges: vec![],
                devices: vec![desc],
            };
            match iommu.add_devices(&topo) {
                Ok(ids) => {
                    let Some(&id) = ids.first() else {
                        return err(libc::ENOMEM, "no mock device made");
                    };
                    self.devices
                        .lock()
                        .insert(id, [MOCK_DEV_CACHE_DEFAULT; MOCK_DEV_CACHE_NUM]);
                    return Ok(id);
                }
                Err(softiommu_core::CoreError::Busy(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        err(libc::ENOSPC, "every mock requester ID is in use")
    }

    /// Removes mock device `id` from the core.
    fn unplug(&self, iommu: &Iommu, id: DeviceId) {
        self.devices.lock().remove(&id);
        self.pasid_fake_error.lock().remove(&id);
        // The device was added by `plug`; nothing else can be done if the core refuses.
        let _ = iommu.remove_device(id);
    }
}

impl Host {
    /// A host over this process's memory `mem` and the core `iommu` (whose physical memory
    /// must be `mem`), with the test channel's mock IOMMU added to `iommu`: its contexts
    /// answer `IOMMU_TEST_CMD`, as a kernel built with `CONFIG_IOMMUFD_TEST` does.
    pub fn with_mock(mem: Arc<HostMemory>, iommu: Arc<Iommu>) -> Result<Arc<Host>> {
        let mock = Mock::new(&iommu)?;
        Ok(Host::build(mem, iommu, Some(mock)))
    }

    /// Whether `IOMMU_TEST_CMD` is served (the host was made with [`Host::with_mock`]).
    pub fn has_test_channel(&self) -> bool {
        self.mock.is_some()
    }

    /// The temporary memory limit last set through the test channel (`65536` by default);
    /// `None` without it.
    pub fn test_memory_limit(&self) -> Option<u32> {
        self.mock
            .as_ref()
            .map(|m| m.memory_limit.load(Ordering::Relaxed))
    }

    /// Destroys the test channel's accesses whose descriptor the user has closed.
    pub(crate) fn sweep_test_accesses(&self) {
        if let Some(m) = &self.mock {
            m.sweep_accesses();
        }
    }

    /// Whether core device `dev` is one of the test channel's mock devices.
    pub(crate) fn is_mock(&self, dev: DeviceId) -> bool {
        self.mock
            .as_ref()
            .is_some_and(|m| m.devices.lock().contains_key(&dev))
    }

    /// `GET_HW_INFO`'s answer for a mock device: `IOMMU_HW_INFO_TYPE_SELFTEST` and its
    /// structure; `None` for any other device.
    pub(crate) fn mock_hw_info(&self, dev: DeviceId) -> Option<(u32, Vec<u8>)> {
        let mock = self.mock.as_ref()?;
        if !mock.devices.lock().contains_key(&dev) {
            return None;
        }
        let mut b = 0u32.to_ne_bytes().to_vec();
        b.extend_from_slice(&HW_INFO_SELFTEST_REGVAL.to_ne_bytes());
        Some((HW_INFO_TYPE_SELFTEST, b))
    }
}

/// A mock device's object (the kernel's `selftest_obj`): its bound device goes with it.
pub(crate) struct MockDev {
    host: Arc<Host>,
    core: DeviceId,
    /// The bound device and its object id, once bound.
    idev: OnceLock<(u32, Arc<Device>)>,
}

impl MockDev {
    /// The object id of the bound device.
    pub(crate) fn idev_id(&self) -> Option<u32> {
        self.idev.get().map(|(id, _)| *id)
    }

    /// The bound device.
    pub(crate) fn device(&self) -> Option<Arc<Device>> {
        self.idev.get().map(|(_, d)| d.clone())
    }
}

impl Drop for MockDev {
    fn drop(&mut self) {
        let bound = self.idev.take();
        if let Some((_, dev)) = bound {
            if Arc::strong_count(&dev) > 1 {
                // Still in its context's table: the device stays until the context goes.
                return;
            }
            // Detaches the device and unbinds it.
            drop(dev);
        }
        if let Some(mock) = &self.host.mock {
            mock.unplug(self.host.iommu(), self.core);
        }
    }
}
