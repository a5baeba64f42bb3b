//! CR0/CR0ACK and GBPA through the unit: what the engine does under each setting.

use super::*;

#[test]
fn cr0_enables_are_acknowledged_and_reach_the_engine() {
    let rig = Rig::bare(SmmuParams::full());
    assert!(!rig.unit.engine().enabled());
    rig.w64(SMMU_STRTAB_BASE, rig.strtab);
    rig.w32(SMMU_STRTAB_BASE_CFG, 8);
    let on = Cr0::new().with_smmuen(true).with_atschk(true);
    rig.w32(SMMU_CR0, on.into_bits());
    assert_eq!(rig.r32(SMMU_CR0ACK), on.into_bits());
    assert!(rig.unit.engine().enabled());
    // The stream table the registers named is the one the engine walks.
    let t = rig.unit.engine().stream_table();
    assert_eq!((t.base(), t.log2size()), (rig.strtab, 8));
    rig.w32(SMMU_CR0, 0);
    assert_eq!(rig.r32(SMMU_CR0ACK), 0);
    assert!(!rig.unit.engine().enabled());
}

#[test]
fn disabled_smmu_bypasses_or_aborts_as_gbpa_says() {
    let rig = Rig::bare(SmmuParams::full());
    // Reset: bypass.
    assert_eq!(rig.read(SID, 0x1234_5678), Ok(0x1234_5678));
    // GBPA.ABORT with UPDATE: aborted, no event.
    let abort = GBPA_RESET.with_abort(true).with_update(true);
    rig.w32(SMMU_GBPA, abort.into_bits());
    assert!(!Gbpa::from_bits(rig.r32(SMMU_GBPA)).update());
    let f = rig.read(SID, 0x1000).unwrap_err();
    assert!(f.abort && f.event.is_none());
    // A write without UPDATE is ignored.
    rig.w32(SMMU_GBPA, GBPA_RESET.into_bits());
    assert!(rig.read(SID, 0x1000).is_err());
    rig.w32(SMMU_GBPA, GBPA_RESET.with_update(true).into_bits());
    assert_eq!(rig.read(SID, 0x2000), Ok(0x2000));
}

#[test]
fn enabled_smmu_translates_through_the_stream_table_whatever_gbpa_says() {
    let (rig, _s1) = Rig::mapped();
    rig.w32(
        SMMU_GBPA,
        GBPA_RESET.with_abort(true).with_update(true).into_bits(),
    );
    assert_eq!(rig.read(SID, 0x4000_0010), Ok(0x10_0010));
    // Off again: GBPA.ABORT now applies.
    rig.w32(SMMU_CR0, cr0_all().with_smmuen(false).into_bits());
    assert!(rig.read(SID, 0x4000_0010).unwrap_err().event.is_none());
}

#[test]
fn cr2_recinvsid_decides_whether_c_bad_streamid_is_recorded() {
    let rig = Rig::new();
    assert_eq!(rig.read_fault(300, 0), EventId::BadStreamId);
    assert_eq!(rig.take_events().len(), 1);
    rig.w32(SMMU_CR0, 0);
    rig.w32(SMMU_CR2, 0);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    assert_eq!(rig.read_fault(300, 0), EventId::BadStreamId);
    assert!(rig.take_events().is_empty());
}
