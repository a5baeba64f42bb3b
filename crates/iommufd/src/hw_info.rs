//! `IOMMU_GET_HW_INFO`: what the IOMMU behind a device is, in its driver's format, and the
//! capabilities a user of the device can count on.

use crate::context::Context;
use crate::error::{Result, err};
use softiommu_core::HwInfo;

/// `IOMMU_HW_INFO_TYPE_NONE` (also `_DEFAULT` as a request): no driver data.
pub const HW_INFO_TYPE_NONE: u32 = 0;
/// `IOMMU_HW_INFO_TYPE_INTEL_VTD`: `struct iommu_hw_info_vtd`.
pub const HW_INFO_TYPE_INTEL_VTD: u32 = 1;
/// `IOMMU_HW_INFO_TYPE_ARM_SMMUV3`: `struct iommu_hw_info_arm_smmuv3`.
pub const HW_INFO_TYPE_ARM_SMMUV3: u32 = 2;
/// `IOMMU_HW_INFO_FLAG_INPUT_TYPE`: the call asks for one data type.
pub const HW_INFO_FLAG_INPUT_TYPE: u32 = 1;
/// `IOMMU_HW_CAP_DIRTY_TRACKING`: HWPTs of the device can track dirty pages.
pub const HW_CAP_DIRTY_TRACKING: u64 = 1 << 0;
/// `IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED`: the device cannot use ATS.
pub const HW_CAP_PCI_ATS_NOT_SUPPORTED: u64 = 1 << 3;

/// What `IOMMU_GET_HW_INFO` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HwInfoReply {
    /// `IOMMU_HW_INFO_TYPE_*` of `data`.
    pub data_type: u32,
    /// The driver's structure, as bytes in the kernel's layout.
    pub data: Vec<u8>,
    /// `IOMMU_HW_CAP_*`.
    pub capabilities: u64,
    /// PASID width the device can use; 0 without PASIDs.
    pub max_pasid_log2: u8,
}

/// The kernel's structure for `info`: its type and bytes.
fn blob(info: HwInfo) -> (u32, Vec<u8>) {
    match info {
        HwInfo::None => (HW_INFO_TYPE_NONE, Vec::new()),
        HwInfo::Vtd { cap, ecap } => {
            // {u32 flags, u32 __reserved, u64 cap_reg, u64 ecap_reg}; no errata flag.
            let mut b = vec![0u8; 8];
            b.extend_from_slice(&cap.to_ne_bytes());
            b.extend_from_slice(&ecap.to_ne_bytes());
            (HW_INFO_TYPE_INTEL_VTD, b)
        }
        HwInfo::Smmuv3 { idr, iidr, aidr } => {
            // {u32 flags, u32 __reserved, u32 idr[6], u32 iidr, u32 aidr}.
            let mut b = vec![0u8; 8];
            for r in idr.into_iter().chain([iidr, aidr]) {
                b.extend_from_slice(&r.to_ne_bytes());
            }
            (HW_INFO_TYPE_ARM_SMMUV3, b)
        }
    }
}

impl Context {
    /// `IOMMU_GET_HW_INFO` for bound device `dev_id`: the driver's data, of type `want`
    /// when the caller asks for one ([`HW_INFO_FLAG_INPUT_TYPE`]; `EOPNOTSUPP` if the
    /// driver has no data of that type), the capabilities and the PASID width.
    pub fn get_hw_info(&self, dev_id: u32, want: Option<u32>) -> Result<HwInfoReply> {
        let dev = self.device(dev_id)?;
        let iommu = self.host().iommu();
        let (data_type, data) = match self.host().mock_hw_info(dev.id) {
            Some(info) => info,
            None => blob(iommu.hw_info(dev.id)?),
        };
        if let Some(t) = want
            && t != HW_INFO_TYPE_NONE
            && t != data_type
        {
            return err(libc::EOPNOTSUPP, "the driver has no data of that type");
        }
        let caps = iommu.device_caps(dev.id)?;
        let mut capabilities = 0;
        if caps.iommu.dirty_tracking {
            capabilities |= HW_CAP_DIRTY_TRACKING;
        }
        if !caps.ats {
            capabilities |= HW_CAP_PCI_ATS_NOT_SUPPORTED;
        }
        Ok(HwInfoReply {
            data_type,
            data,
            capabilities,
            max_pasid_log2: caps.pasid_bits,
        })
    }
}
