//! The structures the driver leaves in memory, read as the SMMU reads them: S6 of
//! `docs/design.md` (the CD table is the device's, made at its first use and kept across
//! domains) and the STE each RID state makes.

use softiommu_core::testing::{DEV, Platform};
use softiommu_core::{DeviceId, PagingRequest};
use softiommu_smmuv3::regs::{
    SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG, SmmuParams, StrtabBase, StrtabBaseCfg,
};
use softiommu_smmuv3::ste::{L1Std, S1Dss, Ste, SteConfig};

use crate::common::{SmmuHarness, Unit};

/// `dev`'s STE, found from the stream table registers as the SMMU finds it.
pub(crate) fn ste_of(p: &Platform, u: &Unit, dev: DeviceId) -> Ste {
    let sid = u32::from(p.iommu.device_info(dev).unwrap().rid.source_id());
    let base = StrtabBase::from_bits(u.unit.mmio_read(SMMU_STRTAB_BASE, 8)).address();
    let cfg = StrtabBaseCfg::from_bits(u.unit.mmio_read(SMMU_STRTAB_BASE_CFG, 4) as u32);
    let l1 = L1Std::read(&**p.mem(), base + 8 * u64::from(sid >> cfg.split())).unwrap();
    let at = l1.ste_address(sid, cfg.split()).unwrap();
    Ste::read(&**p.mem(), at).unwrap()
}

#[test]
fn the_cd_table_is_the_devices_from_its_first_use_on() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let u = &units[0];
    let [a] = p.devices([(0, DEV)]);
    let ste = |dev| ste_of(&p, u, dev);
    // Probed: aborted, no CD table yet.
    assert_eq!(ste(a).dw0.config(), SteConfig::Abort);
    p.iommu.replace(a, &p.iommu.identity_domain()).unwrap();
    assert_eq!(ste(a).dw0.config(), SteConfig::Bypass);

    // The first stage-1 domain makes the table; CD 0 serves requests without a PASID.
    let d1 = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let d2 = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    p.iommu.replace(a, &d1).unwrap();
    let s = ste(a);
    assert_eq!(s.dw0.config(), SteConfig::S1Translate);
    assert_eq!(s.dw1.s1dss(), S1Dss::Substream0);
    let table = s.s1_context_ptr();
    assert_ne!(table, 0);
    // Another domain: the same table.
    p.iommu.replace(a, &d2).unwrap();
    assert_eq!(ste(a).s1_context_ptr(), table);
    // A PASID, then the RID blocked: the table stays, S1DSS terminates.
    p.iommu.attach_pasid(a, 5, &d1).unwrap();
    p.iommu.detach(a).unwrap();
    let s = ste(a);
    assert_eq!(
        (s.s1_context_ptr(), s.dw1.s1dss()),
        (table, S1Dss::Terminate)
    );
    // Identity at the RID beside the PASID: S1DSS bypass.
    p.iommu.attach(a, &p.iommu.identity_domain()).unwrap();
    assert_eq!(ste(a).dw1.s1dss(), S1Dss::Bypass);
    // No CD in use: bypass again, and the table comes back the same.
    p.iommu.detach_pasid(a, 5).unwrap();
    assert_eq!(ste(a).dw0.config(), SteConfig::Bypass);
    p.iommu.replace(a, &d1).unwrap();
    assert_eq!(ste(a).s1_context_ptr(), table);
}
