//! `CMD_SYNC`s that never complete, command errors that never clear, and CMDQ_CONS out of
//! range: each call ends in a typed error within its bound, and the driver answers the next.

use softiommu_smmuv3::cmd::{Command, TlbiNhAll, TlbiNsnhAll};
use softiommu_smmuv3::regs::{
    SMMU_CMDQ_CONS, SMMU_CMDQ_PROD, SMMU_GERROR, SMMU_GERRORN, SmmuParams,
};

use super::*;

/// How many times the driver polls a `CMD_SYNC` (or CMDQ_CONS, waiting for room).
const POLLS: u32 = 100_000;

fn tlbi_all() -> Command {
    Command::TlbiNsnhAll(TlbiNsnhAll::new())
}

/// Every fault is healed: the next call succeeds, and an unmap's flush reaches the TLB.
fn works_once_healed(r: &Rig) {
    r.parts.faults.heal_all();
    r.parts.faulty_mem.heal();
    r.driver.submit(&[tlbi_all()]).unwrap();
    unmap_reaches_the_tlb(&r.iommu, r.dev);
}

#[test]
fn a_sync_whose_msi_never_lands_times_out_and_the_next_call_answers() {
    let r = rig();
    r.parts.faulty_mem.drop_writes_of(4);
    let first = r.driver.submit(&[tlbi_all()]);
    assert!(
        matches!(
            first,
            Err(CoreError::Hardware(HwError::Timeout { polls: POLLS, .. }))
        ),
        "{first:?}"
    );
    // The SMMU did consume everything: only the MSI was lost.
    let (prod, cons) = (
        r.parts.unit.mmio_read(SMMU_CMDQ_PROD, 4),
        r.parts.unit.mmio_read(SMMU_CMDQ_CONS, 4),
    );
    assert_eq!(prod, cons);
    assert!(is_timeout(&r.driver.submit(&[])));
    assert_eq!(r.driver.hardware_errors().len(), 2);
    works_once_healed(&r);
    assert_eq!(r.parts.unit.stale_count(), 0);
}

#[test]
fn without_msis_a_sync_whose_cons_never_moves_times_out_and_the_next_call_answers() {
    let r = rig_with(SmmuParams {
        msi: false,
        ..SmmuParams::full()
    });
    // CMDQ_CONS reads where it stood: the SMMU seems to consume nothing.
    let cons = r.parts.unit.mmio_read(SMMU_CMDQ_CONS, 4);
    r.parts.faults.set(SMMU_CMDQ_CONS, cons);
    let first = r.driver.submit(&[tlbi_all()]);
    assert!(
        matches!(
            first,
            Err(CoreError::Hardware(HwError::Timeout { polls: POLLS, .. }))
        ),
        "{first:?}"
    );
    let reads = r.parts.faults.reads(SMMU_CMDQ_CONS);
    assert!(reads <= u64::from(POLLS) + 8, "{reads}");
    assert!(is_timeout(&r.driver.submit(&[])));
    works_once_healed(&r);
}

#[test]
fn an_smmu_that_never_sees_prod_fills_the_queue_and_recovers_when_it_does() {
    let r = rig();
    let cons = r.parts.unit.mmio_read(SMMU_CMDQ_CONS, 4);
    r.parts.faults.drop_writes(SMMU_CMDQ_PROD);
    // 100 commands and a sync a call in a 256-entry queue: full in the third call.
    let batch = vec![Command::TlbiNhAll(TlbiNhAll::new()); 100];
    let mut room = false;
    for _ in 0..4 {
        match r.driver.submit(&batch) {
            Err(CoreError::Hardware(HwError::Timeout { what, polls })) => {
                assert_eq!(polls, POLLS);
                room |= what.contains("room");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(room, "the full queue was waited on");
    assert_eq!(r.parts.unit.mmio_read(SMMU_CMDQ_CONS, 4), cons);
    r.parts.faults.heal(SMMU_CMDQ_PROD);
    r.driver.submit(&[tlbi_all()]).unwrap();
    assert_eq!(
        r.parts.unit.mmio_read(SMMU_CMDQ_PROD, 4),
        r.parts.unit.mmio_read(SMMU_CMDQ_CONS, 4)
    );
    assert!(r.driver.command_errors().is_empty());
    unmap_reaches_the_tlb(&r.iommu, r.dev);
}

#[test]
fn a_command_error_that_never_clears_ends_the_batch_after_one_recovery_per_command() {
    let r = rig();
    // GERROR.CMDQ_ERR reads set and the acknowledgement never reaches GERRORN: the error
    // stays active whatever the driver does.
    r.parts.faults.stick(SMMU_GERROR, 1, 1);
    r.parts.faults.drop_writes(SMMU_GERRORN);
    let res = r.driver.submit(&[tlbi_all(), tlbi_all()]);
    assert!(is_bad_register(&res, "GERROR"), "{res:?}");
    assert_eq!(r.driver.command_errors().len(), 2);
    // With no command of its own, a batch has no recovery to make.
    assert!(is_bad_register(&r.driver.submit(&[]), "GERROR"));
    assert_eq!(r.driver.command_errors().len(), 2);
    assert!(r.parts.faults.reads(SMMU_GERROR) <= 8);
    works_once_healed(&r);
}

#[test]
fn a_cmdq_cons_beyond_the_queue_is_refused_without_writing_the_queue() {
    let r = rig();
    let prod = r.parts.unit.mmio_read(SMMU_CMDQ_PROD, 4);
    // The queue has 2^8 entries: RD holds 9 bits, and bits 23:20 and 31 are reserved.
    for bad in [1 << 9, 1 << 20, 1 << 31] {
        r.parts.faults.set(SMMU_CMDQ_CONS, bad);
        let res = r.driver.submit(&[tlbi_all()]);
        assert!(is_bad_register(&res, "CMDQ_CONS"), "{bad:#x}: {res:?}");
        assert_eq!(r.parts.unit.mmio_read(SMMU_CMDQ_PROD, 4), prod);
    }
    works_once_healed(&r);
}

#[test]
fn core_calls_over_a_wedged_queue_return_and_the_timeouts_are_on_record() {
    let r = rig();
    r.parts.faults.drop_writes(SMMU_CMDQ_PROD);
    // The invalidations time out; the changes themselves stand.
    map_attach_unmap(&r.iommu, r.dev);
    let errs = r.driver.hardware_errors();
    assert!(!errs.is_empty());
    assert!(
        errs.iter()
            .all(|e| matches!(e, HwError::Timeout { polls: POLLS, .. })),
        "{errs:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

    /// Whatever CMDQ_CONS reads, a call ends: refused when RD does not fit the queue,
    /// otherwise done or timed out; and the queue works once CONS is sane again.
    #[test]
    fn any_cmdq_cons_value_ends_the_call_and_the_queue_works_once_it_is_sane(
        cons: u32,
        small: bool,
    ) {
        let r = rig();
        // RD (9 bits for 2^8 entries) and ERR, or anything.
        let cons = if small { cons & (0x1ff | 0x7f << 24) } else { cons };
        r.parts.faults.set(SMMU_CMDQ_CONS, u64::from(cons));
        let res = r.driver.submit(&[tlbi_all()]);
        if cons & !(0x7f << 24) > 0x1ff {
            proptest::prop_assert!(is_bad_register(&res, "CMDQ_CONS"), "{:?}", res);
        } else {
            proptest::prop_assert!(res.is_ok() || is_timeout(&res), "{:?}", res);
        }
        r.parts.faults.heal(SMMU_CMDQ_CONS);
        r.driver.submit(&[tlbi_all()]).unwrap();
    }
}
