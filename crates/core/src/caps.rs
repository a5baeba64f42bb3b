//! What an IOMMU instance can do, and what a device can do behind it.

/// The kind of hardware (and driver) behind an instance. Paging domains are shared only
/// between instances of one family; across families an address space is kept as identical
/// mappings in a domain per family.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Family {
    /// The pure-software reference driver.
    Reference,
    /// Intel VT-d.
    Vtd,
    /// Arm SMMUv3.
    Smmuv3,
}

/// Capabilities of one IOMMU instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IommuCaps {
    /// The hardware family.
    pub family: Family,
    /// Page sizes a paging domain on this instance can map (a bit per power of two).
    pub page_sizes: u64,
    /// Input-address width of its paging domains.
    pub ia_bits: u8,
    /// Output-address width.
    pub oa_bits: u8,
    /// PASID width; 0 when requests with a PASID are not supported.
    pub pasid_bits: u8,
    /// First-stage (process-style) tables.
    pub first_stage: bool,
    /// Second-stage tables.
    pub second_stage: bool,
    /// Nested translation (a user's stage 1 over a second stage).
    pub nesting: bool,
    /// Shared virtual addressing: binding a process address space to a PASID.
    pub sva: bool,
    /// Dirty tracking in paging domains.
    pub dirty_tracking: bool,
    /// Address translation services for devices (device TLBs).
    pub ats: bool,
    /// Page requests from devices (I/O page faults).
    pub pri: bool,
}

/// What a device itself supports.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DeviceCaps {
    /// PASID width of the device; 0 when it issues no requests with a PASID.
    pub pasid_bits: u8,
    /// The device has an ATC and speaks ATS.
    pub ats: bool,
    /// The device sends page requests.
    pub pri: bool,
}

/// What a device can use: its own capabilities met by the instance behind it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EffectiveCaps {
    /// The instance's capabilities.
    pub iommu: IommuCaps,
    /// PASID width usable by this device (the smaller of the two).
    pub pasid_bits: u8,
    /// ATS usable.
    pub ats: bool,
    /// Page requests usable.
    pub pri: bool,
    /// SVA usable: PASIDs, the instance's SVA, and page requests.
    pub sva: bool,
}

impl EffectiveCaps {
    /// The capabilities of a device `dev` behind an instance with `iommu`.
    pub fn of(iommu: IommuCaps, dev: DeviceCaps) -> EffectiveCaps {
        let pasid_bits = if iommu.pasid_bits == 0 {
            0
        } else {
            iommu.pasid_bits.min(dev.pasid_bits)
        };
        let pri = iommu.pri && dev.pri;
        EffectiveCaps {
            iommu,
            pasid_bits,
            ats: iommu.ats && dev.ats,
            pri,
            sva: iommu.sva && pasid_bits > 0 && pri,
        }
    }

    /// Whether `pasid` is within the usable PASID width.
    pub fn pasid_ok(&self, pasid: u32) -> bool {
        self.pasid_bits > 0
            && pasid >= crate::ids::PASID_MIN
            && u64::from(pasid) < 1u64 << self.pasid_bits
    }
}
