//! Invalidation waits that never complete, error bits that never clear, and IQH out of
//! range: each call ends in a typed error within its bound, and the driver answers the next.

use softiommu_vtd::desc::{IotlbGranularity, IotlbInv, IotlbInvQw0, IotlbInvQw1};
use softiommu_vtd::regs::{FSTS_REG, IQH_REG, IQT_REG};

use super::*;

/// How many times the driver reads the status word (or IQH, waiting for room) per batch.
const POLLS: u64 = 1000;
/// FSTS.IQE.
const IQE: u64 = 1 << 4;

fn global_iotlb() -> [u64; 4] {
    IotlbInv {
        qw0: IotlbInvQw0::new().with_g(IotlbGranularity::Global),
        qw1: IotlbInvQw1::new(),
    }
    .to_words()
}

/// Every fault is healed: the next call succeeds, and an unmap's flush reaches the TLB.
fn works_once_healed(r: &Rig) {
    r.parts.faults.heal_all();
    r.parts.faulty_mem.heal();
    r.driver.invalidate(&[global_iotlb()]).unwrap();
    unmap_reaches_the_tlb(&r.iommu, r.dev);
}

#[test]
fn a_wait_whose_status_write_never_lands_times_out_and_the_next_call_answers() {
    let r = rig();
    r.parts.faulty_mem.drop_writes_of(4);
    let first = r.driver.invalidate(&[global_iotlb()]);
    assert!(is_timeout(&first), "{first:?}");
    // The unit did fetch everything: only the status write was lost.
    let (h, t) = (
        r.parts.unit.mmio_read(IQH_REG, 8),
        r.parts.unit.mmio_read(IQT_REG, 8),
    );
    assert_eq!(h, t);
    // Still lost: the next call answers the same way, and both are on record.
    assert!(is_timeout(&r.driver.invalidate(&[])));
    assert_eq!(r.driver.hardware_errors().len(), 2);
    // The status writes land again: calls succeed, and a flush reaches the IOTLB.
    works_once_healed(&r);
    assert_eq!(r.parts.unit.stale_count(), 0);
}

#[test]
fn a_unit_that_never_sees_the_tail_fills_the_queue_and_recovers_when_it_does() {
    let r = rig();
    let head = r.parts.unit.mmio_read(IQH_REG, 8);
    let iotlb = || r.parts.unit.stats().descriptors.iotlb;
    let before = iotlb();
    r.parts.faults.drop_writes(IQT_REG);
    let (mut queued, mut room) = (0, false);
    // Two descriptors a call in a 256-slot queue with one slot kept empty: full after 127
    // calls. Later calls must wait for room rather than write over descriptors the unit has
    // not fetched.
    for _ in 0..160 {
        match r.driver.invalidate(&[global_iotlb()]) {
            Err(CoreError::Hardware(HwError::Timeout { what, polls })) => {
                assert_eq!(u64::from(polls), POLLS);
                if what.contains("room") {
                    room = true;
                } else {
                    queued += 1;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(room, "the full queue was waited on");
    assert_eq!(queued, 127);
    // The unit never fetched anything.
    assert_eq!(r.parts.unit.mmio_read(IQH_REG, 8), head);
    assert_eq!(iotlb(), before);
    // IQT reaches the unit again: every queued invalidation runs, then the next call's.
    r.parts.faults.heal(IQT_REG);
    r.driver.invalidate(&[global_iotlb()]).unwrap();
    assert_eq!(iotlb(), before + queued + 1);
    assert_eq!(
        r.parts.unit.mmio_read(IQH_REG, 8),
        r.parts.unit.mmio_read(IQT_REG, 8)
    );
    unmap_reaches_the_tlb(&r.iommu, r.dev);
}

#[test]
fn a_queue_error_that_never_clears_ends_the_batch_after_one_recovery_per_descriptor() {
    let r = rig();
    // The status write is lost, so the driver keeps polling, and FSTS.IQE reads set
    // whatever the driver writes to clear it.
    r.parts.faulty_mem.drop_writes_of(4);
    r.parts.faults.stick(FSTS_REG, IQE, IQE);
    let res = r.driver.invalidate(&[global_iotlb(), global_iotlb()]);
    assert!(is_bad_register(&res, "FSTS"), "{res:?}");
    // One recovery per descriptor of the batch, then the error.
    assert_eq!(r.driver.queue_errors().len(), 2);
    // A batch with no descriptor of its own has no recovery to make.
    assert!(is_bad_register(&r.driver.invalidate(&[]), "FSTS"));
    assert_eq!(r.driver.queue_errors().len(), 2);
    assert!(r.parts.faults.reads(FSTS_REG) <= 8);
    works_once_healed(&r);
}

#[test]
fn an_iqh_outside_the_queue_is_refused_without_writing_the_queue() {
    let r = rig();
    let tail = r.parts.unit.mmio_read(IQT_REG, 8);
    // Beyond the 8 KiB queue; inside a descriptor; a reserved bit.
    for bad in [0x2000, 0x10, 1 << 40] {
        r.parts.faults.set(IQH_REG, bad);
        let res = r.driver.invalidate(&[global_iotlb()]);
        assert!(is_bad_register(&res, "IQH"), "{bad:#x}: {res:?}");
        // Nothing was queued.
        assert_eq!(r.parts.unit.mmio_read(IQT_REG, 8), tail);
    }
    works_once_healed(&r);
}

#[test]
fn core_calls_over_a_wedged_queue_return_and_the_timeouts_are_on_record() {
    let r = rig();
    r.parts.faults.drop_writes(IQT_REG);
    // The invalidations time out; the changes themselves stand.
    map_attach_unmap(&r.iommu, r.dev);
    let errs = r.driver.hardware_errors();
    assert!(!errs.is_empty());
    assert!(
        errs.iter()
            .all(|e| matches!(e, HwError::Timeout { polls: 1000, .. })),
        "{errs:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Whatever IQH reads, a call ends: refused when the value is outside the queue or
    /// inside a descriptor, otherwise done or out of room; and the queue works once IQH is
    /// sane again.
    #[test]
    fn any_iqh_value_ends_the_call_and_the_queue_works_once_it_is_sane(iqh: u64, small: bool) {
        let r = rig();
        let iqh = if small { iqh & 0x1fe0 } else { iqh };
        r.parts.faults.set(IQH_REG, iqh);
        let res = r.driver.invalidate(&[global_iotlb()]);
        if iqh >= 0x2000 || iqh % 32 != 0 {
            proptest::prop_assert!(is_bad_register(&res, "IQH"), "{:?}", res);
        } else {
            proptest::prop_assert!(res.is_ok() || is_timeout(&res), "{:?}", res);
        }
        r.parts.faults.heal(IQH_REG);
        r.driver.invalidate(&[global_iotlb()]).unwrap();
    }
}
