//! Hardware page tables: a paging domain of the IOMMU core kept filled from an IOAS, or a
//! nested domain whose stage 1 the user owns, over a paging HWPT made as a nesting parent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use softiommu_core::{Domain, PagingRequest};

use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result, err};
use crate::fault::FaultQueue;
use crate::ioas::Ioas;
use crate::nested;
use crate::objects::Object;
use crate::viommu::Viommu;

/// `IOMMU_HWPT_ALLOC_NEST_PARENT`: the HWPT can be the second stage of nested HWPTs.
pub const HWPT_ALLOC_NEST_PARENT: u32 = 1 << 0;
/// `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`: the HWPT records the pages devices write.
pub const HWPT_ALLOC_DIRTY_TRACKING: u32 = 1 << 1;
/// `IOMMU_HWPT_FAULT_ID_VALID`: faults go to the fault queue named in the call.
pub const HWPT_FAULT_ID_VALID: u32 = 1 << 2;
/// `IOMMU_HWPT_ALLOC_PASID`: the HWPT may be attached at PASIDs.
pub const HWPT_ALLOC_PASID: u32 = 1 << 3;

/// `IOMMU_HWPT_DATA_NONE`: a paging HWPT, no driver data.
pub const HWPT_DATA_NONE: u32 = 0;
/// `IOMMU_HWPT_DATA_VTD_S1`: a VT-d stage-1 table (`struct iommu_hwpt_vtd_s1`).
pub const HWPT_DATA_VTD_S1: u32 = 1;
/// `IOMMU_HWPT_DATA_ARM_SMMUV3`: an SMMUv3 nested STE (`struct iommu_hwpt_arm_smmuv3`).
pub const HWPT_DATA_ARM_SMMUV3: u32 = 2;

/// Ids the IOAS knows its domains by, unique in the process.
static NEXT_SLOT: AtomicU32 = AtomicU32::new(1);

/// The driver data of `IOMMU_HWPT_ALLOC`, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwptData {
    /// No data: a paging HWPT over an IOAS.
    None,
    /// `struct iommu_hwpt_vtd_s1`: the user's first-stage table.
    VtdS1 {
        /// `IOMMU_VTD_S1_SRE`, `_EAFE`, `_WPE`.
        flags: u64,
        /// Root of the table, an IOVA of the parent.
        pgtbl_addr: u64,
        /// Input width of the table: 48 (4 levels) or 57 (5 levels).
        addr_width: u32,
    },
    /// `struct iommu_hwpt_arm_smmuv3`: the first two words of the user's STE.
    ArmSmmuv3 {
        /// STE words 0 and 1, as little-endian values.
        ste: [u64; 2],
    },
    /// `struct iommu_hwpt_selftest`: a nested HWPT of the test channel's mock IOMMU.
    Selftest {
        /// The value its IOTLB entries start with.
        iotlb: u32,
    },
    /// A data type this interface does not know.
    Other(u32),
}

/// What a HWPT is.
pub(crate) enum HwptKind {
    /// A paging domain filled from an IOAS.
    Paging {
        /// The IOAS it mirrors.
        ioas: Arc<Ioas>,
        /// The id the IOAS knows the domain by.
        slot: u32,
        /// Made with [`HWPT_ALLOC_NEST_PARENT`].
        nest_parent: bool,
    },
    /// A user's stage 1 over a nesting parent.
    Nested {
        /// The parent paging HWPT, kept busy by this one.
        parent: Arc<Hwpt>,
        /// The vIOMMU it was made through, kept busy by this one.
        viommu: Option<Arc<Viommu>>,
    },
}

/// A hardware page table: what a device is attached to.
pub struct Hwpt {
    pub(crate) kind: HwptKind,
    pub(crate) domain: Arc<Domain>,
    /// Made by attaching a device to an IOAS: destroyed when its last device leaves.
    pub(crate) auto: bool,
    /// Made with [`HWPT_ALLOC_PASID`]: it may be attached at PASIDs, and at the RID of a
    /// device with PASIDs attached.
    pub(crate) pasid: bool,
    /// Dirty tracking started (`IOMMU_HWPT_SET_DIRTY_TRACKING`) and not stopped since.
    pub(crate) dirty_on: std::sync::atomic::AtomicBool,
    /// The fault queue its page-request groups go to (`IOMMU_HWPT_FAULT_ID_VALID`).
    pub(crate) fault: std::sync::OnceLock<Arc<FaultQueue>>,
}

impl Hwpt {
    /// A paging domain for `device` made with `flags`, filled from `ioas`.
    pub(crate) fn new(
        ctx: &Context,
        ioas: Arc<Ioas>,
        device: &Device,
        flags: u32,
        auto: bool,
    ) -> Result<Arc<Hwpt>> {
        Hwpt::new_for(ctx, ioas, device.id, flags, auto)
    }

    /// A paging domain for the core's device `dev` made with `flags`, filled from `ioas`.
    pub(crate) fn new_for(
        ctx: &Context,
        ioas: Arc<Ioas>,
        dev: softiommu_core::DeviceId,
        flags: u32,
        auto: bool,
    ) -> Result<Arc<Hwpt>> {
        let req = PagingRequest {
            nest_parent: flags & HWPT_ALLOC_NEST_PARENT != 0,
            dirty_tracking: flags & HWPT_ALLOC_DIRTY_TRACKING != 0,
            pasid: flags & HWPT_ALLOC_PASID != 0,
        };
        ctx.host().faults().check("allocating a domain")?;
        let domain = ctx.host().iommu().new_paging(dev, req)?;
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        ioas.iopt.lock().add_domain(slot, domain.clone())?;
        Ok(Arc::new(Hwpt {
            kind: HwptKind::Paging {
                ioas,
                slot,
                nest_parent: req.nest_parent,
            },
            domain,
            auto,
            pasid: req.pasid,
            dirty_on: Default::default(),
            fault: std::sync::OnceLock::new(),
        }))
    }

    /// The core's domain.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Whether the HWPT holds a user's stage 1.
    pub fn is_nested(&self) -> bool {
        matches!(self.kind, HwptKind::Nested { .. })
    }

    /// The nesting parent of a nested HWPT.
    pub fn parent(&self) -> Option<&Arc<Hwpt>> {
        match &self.kind {
            HwptKind::Paging { .. } => None,
            HwptKind::Nested { parent, .. } => Some(parent),
        }
    }

    /// The IOAS of a paging HWPT.
    pub(crate) fn ioas(&self) -> Option<&Arc<Ioas>> {
        match &self.kind {
            HwptKind::Paging { ioas, .. } => Some(ioas),
            HwptKind::Nested { .. } => None,
        }
    }

    /// Whether this is a paging HWPT made as a nesting parent.
    pub(crate) fn is_nest_parent(&self) -> bool {
        matches!(
            self.kind,
            HwptKind::Paging {
                nest_parent: true,
                ..
            }
        )
    }
}

impl Drop for Hwpt {
    fn drop(&mut self) {
        if self.fault.get().is_some()
            && matches!(
                self.domain.kind(),
                softiommu_core::DomainKind::Paging(_) | softiommu_core::DomainKind::Nested(_)
            )
        {
            self.domain.set_fault_handler(None);
        }
        if let HwptKind::Paging { ioas, slot, .. } = &self.kind {
            ioas.iopt.lock().remove_domain(*slot);
        }
    }
}

impl Context {
    /// `IOMMU_HWPT_ALLOC` of a paging HWPT for bound device `dev_id` over IOAS `pt_id`;
    /// returns its id.
    pub fn hwpt_alloc(&self, dev_id: u32, pt_id: u32, flags: u32) -> Result<u32> {
        self.hwpt_alloc_with(dev_id, pt_id, flags, HwptData::None, 0)
    }

    /// `IOMMU_HWPT_ALLOC` with driver data: a paging HWPT over an IOAS (`pt_id`, no data),
    /// a nested HWPT over a nesting-parent paging HWPT (VT-d stage 1), or a nested HWPT
    /// through a vIOMMU (SMMUv3 STE). With [`HWPT_FAULT_ID_VALID`] in `flags`, its
    /// page-request groups go to fault queue `fault_id` (not with a nesting parent:
    /// `EOPNOTSUPP`). Returns its id.
    pub fn hwpt_alloc_with(
        &self,
        dev_id: u32,
        pt_id: u32,
        flags: u32,
        data: HwptData,
        fault_id: u32,
    ) -> Result<u32> {
        let known = HWPT_ALLOC_NEST_PARENT | HWPT_ALLOC_DIRTY_TRACKING | HWPT_ALLOC_PASID;
        if let Ok(Object::Mdev(m)) = self.object(dev_id) {
            return self.mdev_hwpt_alloc(&m, pt_id, flags, data, fault_id);
        }
        let dev = self.device(dev_id)?;
        // An id that names nothing is EINVAL here, not ENOENT.
        let pt = self
            .object(pt_id)
            .map_err(|_| Error::new(libc::EINVAL, "no IOAS, HWPT or vIOMMU with that id"))?;
        let hwpt = match pt {
            Object::Ioas(ioas) => {
                if flags & !(known | HWPT_FAULT_ID_VALID) != 0 {
                    return err(libc::EOPNOTSUPP, "unknown HWPT flags");
                }
                if data != HwptData::None {
                    return err(libc::EOPNOTSUPP, "a paging HWPT takes no driver data");
                }
                if flags & HWPT_ALLOC_DIRTY_TRACKING != 0
                    && !self
                        .host()
                        .iommu()
                        .device_caps(dev.id)?
                        .iommu
                        .dirty_tracking
                {
                    return err(libc::EOPNOTSUPP, "the device's IOMMU tracks no dirty pages");
                }
                if flags & HWPT_FAULT_ID_VALID != 0 && flags & HWPT_ALLOC_NEST_PARENT != 0 {
                    return err(libc::EOPNOTSUPP, "a nesting parent takes no fault queue");
                }
                Hwpt::new(self, ioas, &dev, flags, false)?
            }
            Object::Hwpt(parent) => {
                self.nested_over_parent(&dev, parent, flags & !HWPT_FAULT_ID_VALID, data)?
            }
            Object::Viommu(viommu) => {
                self.nested_through_viommu(&dev, viommu, flags & !HWPT_FAULT_ID_VALID, data)?
            }
            _ => {
                return err(
                    libc::EINVAL,
                    "a HWPT is made over an IOAS, a HWPT or a vIOMMU",
                );
            }
        };
        let hwpt = match (flags & HWPT_FAULT_ID_VALID != 0, fault_id) {
            (true, id) => self.with_fault(hwpt, id)?,
            (false, _) => hwpt,
        };
        self.insert(Object::Hwpt(hwpt))
    }

    /// `hwpt`, linked to fault queue `fault_id` (`ENOENT` if there is none): its domain's
    /// page-request groups go there.
    pub(crate) fn with_fault(&self, hwpt: Arc<Hwpt>, fault_id: u32) -> Result<Arc<Hwpt>> {
        let q = self.fault_queue(fault_id)?;
        // An abort or bypass vSTE shares a domain that is not the HWPT's own.
        let own = match hwpt.kind {
            HwptKind::Paging { .. } => true,
            HwptKind::Nested { .. } => {
                matches!(hwpt.domain.kind(), softiommu_core::DomainKind::Nested(_))
            }
        };
        if own {
            hwpt.domain.set_fault_handler(Some(q.handler()));
        }
        let _ = hwpt.fault.set(q);
        Ok(hwpt)
    }

    /// A nested HWPT over paging HWPT `parent` (the VT-d way).
    fn nested_over_parent(
        &self,
        dev: &Device,
        parent: Arc<Hwpt>,
        flags: u32,
        data: HwptData,
    ) -> Result<Arc<Hwpt>> {
        if flags & !HWPT_ALLOC_PASID != 0 || data == HwptData::None {
            return err(
                libc::EOPNOTSUPP,
                "a nested HWPT takes no flags but PASID and needs driver data",
            );
        }
        let pasid = flags & HWPT_ALLOC_PASID != 0;
        if parent.auto || !parent.is_nest_parent() {
            return err(
                libc::EINVAL,
                "the parent must be a HWPT allocated as a nesting parent",
            );
        }
        if let HwptData::Selftest { iotlb } = data {
            return self.mock_nested(dev, parent, iotlb, pasid, None);
        }
        self.vtd_nested(dev.id, parent, pasid, data)
    }

    /// A nested HWPT of VT-d stage-1 `data` over nesting parent `parent` for the core's
    /// device `dev` (a bound device, or an mdev's parent), attachable at PASIDs if `pasid`.
    pub(crate) fn vtd_nested(
        &self,
        dev: softiommu_core::DeviceId,
        parent: Arc<Hwpt>,
        pasid: bool,
        data: HwptData,
    ) -> Result<Arc<Hwpt>> {
        let HwptData::VtdS1 {
            flags: s1_flags,
            pgtbl_addr,
            addr_width,
        } = data
        else {
            return err(
                libc::EOPNOTSUPP,
                "only VT-d stage-1 data nests over a HWPT; SMMUv3 nests through a vIOMMU",
            );
        };
        let iommu = self.host().iommu();
        let caps = iommu.device_caps(dev)?;
        if caps.iommu.family != softiommu_core::Family::Vtd || !caps.iommu.nesting {
            return err(
                libc::EOPNOTSUPP,
                "the device's IOMMU does not nest VT-d tables",
            );
        }
        let nd = nested::vtd_stage1(
            iommu.hw_info(dev)?,
            &parent.domain,
            s1_flags,
            pgtbl_addr,
            addr_width,
        )?;
        self.host().faults().check("allocating a nested domain")?;
        let domain = iommu.new_nested(&parent.domain, nd)?;
        Ok(Arc::new(Hwpt {
            kind: HwptKind::Nested {
                parent,
                viommu: None,
            },
            domain,
            auto: false,
            pasid,
            dirty_on: Default::default(),
            fault: std::sync::OnceLock::new(),
        }))
    }

    /// A nested HWPT through `viommu` (the SMMUv3 way).
    fn nested_through_viommu(
        &self,
        dev: &Device,
        viommu: Arc<Viommu>,
        flags: u32,
        data: HwptData,
    ) -> Result<Arc<Hwpt>> {
        if viommu.instance != self.host().iommu().device_info(dev.id)?.instance {
            return err(
                libc::EINVAL,
                "the vIOMMU is of another IOMMU than the device's",
            );
        }
        if viommu.kind == crate::selftest::VIOMMU_TYPE_SELFTEST {
            if flags & !HWPT_ALLOC_PASID != 0 {
                return err(libc::EOPNOTSUPP, "a nested HWPT takes no flags but PASID");
            }
            let HwptData::Selftest { iotlb } = data else {
                return err(libc::EINVAL, "the mock vIOMMU takes selftest data");
            };
            let parent = viommu.parent.clone();
            let pasid = flags & HWPT_ALLOC_PASID != 0;
            return self.mock_nested(dev, parent, iotlb, pasid, Some(viommu));
        }
        if flags != 0 || data == HwptData::None {
            return err(
                libc::EOPNOTSUPP,
                "a nested HWPT takes no flags and needs driver data",
            );
        }
        let HwptData::ArmSmmuv3 { ste } = data else {
            return err(libc::EINVAL, "a vIOMMU of SMMUv3 takes an SMMUv3 STE");
        };
        let parent = viommu.parent.clone();
        let domain = match nested::arm_vste(ste, &parent.domain)? {
            nested::Vste::Abort => self.host().iommu().blocked_domain(),
            nested::Vste::Bypass => parent.domain.clone(),
            nested::Vste::Stage1(nd) => {
                self.host().faults().check("allocating a nested domain")?;
                self.host().iommu().new_nested(&parent.domain, *nd)?
            }
        };
        if matches!(domain.kind(), softiommu_core::DomainKind::Nested(_)) {
            domain.set_event_handler(Some(Arc::new(crate::veventq::ViommuEvents(
                Arc::downgrade(&viommu),
            ))));
        }
        let hwpt = Arc::new(Hwpt {
            kind: HwptKind::Nested {
                parent,
                viommu: Some(viommu.clone()),
            },
            domain,
            auto: false,
            pasid: false,
            dirty_on: Default::default(),
            fault: std::sync::OnceLock::new(),
        });
        viommu.add_nested(&hwpt);
        Ok(hwpt)
    }
}
