//! Garbage in the event and PRI queues, and their PROD/CONS out of range: no panic, every
//! record kept or dropped, every page request routed to the core or refused, the queues
//! drained — or, when the pointers cannot be trusted, nothing read and the error on record.

use proptest::prelude::*;
use softiommu_core::{IommuDriver, PageRequest as CoreRequest};
use softiommu_pgtable::Access;
use softiommu_smmuv3::cmd::PriResp;
use softiommu_smmuv3::event::Event;
use softiommu_smmuv3::queue::{Queue, QueueBase, QueueKind, QueuePos};
use softiommu_smmuv3::regs::{
    SMMU_EVENTQ_BASE, SMMU_EVENTQ_CONS, SMMU_EVENTQ_PROD, SMMU_PRIQ_BASE, SMMU_PRIQ_CONS,
    SMMU_PRIQ_PROD,
};

use super::*;

/// OVFLG in PROD, OVACKFLG in CONS.
const OVERFLOW: u64 = 1 << 31;

/// One of the queues the SMMU produces into, by its registers.
struct OutQ {
    kind: QueueKind,
    base: u64,
    prod: u64,
    cons: u64,
}

const EVTQ: OutQ = OutQ {
    kind: QueueKind::Event,
    base: SMMU_EVENTQ_BASE,
    prod: SMMU_EVENTQ_PROD,
    cons: SMMU_EVENTQ_CONS,
};
const PRIQ: OutQ = OutQ {
    kind: QueueKind::PageRequest,
    base: SMMU_PRIQ_BASE,
    prod: SMMU_PRIQ_PROD,
    cons: SMMU_PRIQ_CONS,
};

impl Rig {
    /// Writes `entries` into `q` from its CONS on, and makes PROD read as past them (with
    /// OVFLG when `overflow`), as if the SMMU had produced them. The PROD value.
    fn produce(&self, q: &OutQ, entries: &[Vec<u64>], overflow: bool) -> u64 {
        let unit = &self.parts.unit;
        let base = QueueBase::from_bits(unit.mmio_read(q.base, 8));
        let log2 = base.log2size();
        let snap = Queue::new(q.kind, base, log2, 0, 0);
        let mut pos = QueuePos::new(log2, unit.mmio_read(q.cons, 4) as u32);
        for e in entries {
            let at = snap.entry_address(pos);
            for (k, w) in e.iter().enumerate() {
                self.parts.mem.store_u64(at + 8 * k as u64, *w).unwrap();
            }
            pos = pos.next();
        }
        let prod = u64::from(pos.raw()) | if overflow { OVERFLOW } else { 0 };
        self.parts.faults.set(q.prod, prod);
        prod
    }

    /// `CMD_PRI_RESP`s the SMMU carried out, and the commands it refused.
    fn pri_responses(&self) -> u64 {
        self.parts.unit.stats().commands.get(PriResp::OPCODE)
            + self.driver.command_errors().len() as u64
    }
}

/// PRI queue entries: random words, or requests with random fields (half of them from the
/// rig's device).
fn pri_entry() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        any::<[u64; 2]>().prop_map(|w| w.to_vec()),
        (any::<u64>(), any::<u64>())
            .prop_map(|(dw0, dw1)| { vec![(dw0 & !0xffff_ffff) | u64::from(SID), dw1] }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn garbage_event_records_are_kept_or_dropped_and_the_queue_drained(
        entries in prop::collection::vec(any::<[u64; 4]>().prop_map(|w| w.to_vec()), 1..100),
        overflow: bool,
    ) {
        let r = rig();
        let prod = r.produce(&EVTQ, &entries, overflow);
        let (events, overflowed) = r.driver.events();
        let decodable = entries
            .iter()
            .filter(|e| Event::decode([e[0], e[1], e[2], e[3]]).is_ok())
            .count();
        prop_assert_eq!(events.len(), decodable);
        prop_assert_eq!(overflowed, overflow);
        // Drained, and the overflow acknowledged.
        prop_assert_eq!(r.parts.unit.mmio_read(SMMU_EVENTQ_CONS, 4), prod);
        prop_assert_eq!(r.driver.events().0.len(), decodable);
        prop_assert!(r.driver.hardware_errors().is_empty());
    }

    #[test]
    fn garbage_page_requests_are_routed_or_refused_and_the_queue_drained(
        entries in prop::collection::vec(pri_entry(), 1..100),
    ) {
        let r = rig();
        let before = r.pri_responses();
        let prod = r.produce(&PRIQ, &entries, false);
        let batch = r.driver.take_page_requests();
        prop_assert_eq!(r.parts.unit.mmio_read(SMMU_PRIQ_CONS, 4), prod);
        prop_assert!(r.driver.take_page_requests().requests.is_empty());
        prop_assert!(r.driver.hardware_errors().is_empty());
        let reqs: Vec<_> = entries
            .iter()
            .map(|e| softiommu_smmuv3::pri::PageRequest::decode([e[0], e[1]]))
            .filter(|q| !q.is_stop_marker())
            .collect();
        // Every request of the rig's device is routed, in order; every other one that ends
        // its group is answered by the driver.
        let ours: Vec<_> = reqs.iter().filter(|q| q.dw0.sid() == SID).collect();
        prop_assert_eq!(batch.requests.len(), ours.len());
        for (got, q) in batch.requests.iter().zip(&ours) {
            prop_assert_eq!(got.device, r.dev);
            prop_assert_eq!(got.addr, q.address());
            prop_assert_eq!(got.group, q.dw1.prgi());
            prop_assert_eq!(got.last, q.dw0.last());
            prop_assert_eq!(got.pasid, q.pasid());
        }
        let refused = reqs.iter().filter(|q| q.dw0.sid() != SID && q.dw0.last()).count();
        prop_assert_eq!(r.pri_responses() - before, refused as u64);
    }

    /// Whatever EVENTQ_PROD reads, the queue is drained up to it, or nothing is read when it
    /// has bits set above the wrap bit.
    #[test]
    fn any_eventq_prod_value_is_drained_up_to_or_refused(prod: u32, small: bool) {
        let r = rig();
        // WR (8 bits for 2^7 entries) and OVFLG, or anything.
        let prod = if small { prod & (0xff | 1 << 31) } else { prod };
        r.parts.faults.set(SMMU_EVENTQ_PROD, u64::from(prod));
        let _ = r.driver.events();
        let errors = r.driver.hardware_errors();
        let cons = r.parts.unit.mmio_read(SMMU_EVENTQ_CONS, 4);
        if prod & !(1 << 31) <= 0xff {
            prop_assert_eq!(cons, u64::from(prod));
            prop_assert!(errors.is_empty());
        } else {
            prop_assert_eq!(cons, 0);
            let refused = matches!(errors.as_slice(), [HwError::BadRegister { register: "EVENTQ_PROD", .. }]);
            prop_assert!(refused, "{:?}", errors);
        }
    }
}

#[test]
fn queue_pointers_out_of_range_read_nothing_and_the_queues_work_once_they_are_sane() {
    let r = rig();
    let info = r.iommu.device_info(r.dev).unwrap();
    // Both queues have 2^7 entries: the pointers hold 8 bits, and OVFLG/OVACKFLG.
    for (q, reg, name) in [
        (&EVTQ, EVTQ.prod, "EVENTQ_PROD"),
        (&EVTQ, EVTQ.cons, "EVENTQ_CONS"),
        (&PRIQ, PRIQ.prod, "PRIQ_PROD"),
        (&PRIQ, PRIQ.cons, "PRIQ_CONS"),
    ] {
        let cons = r.parts.unit.mmio_read(q.cons, 4);
        r.parts.faults.set(reg, 1 << 8);
        let _ = r.driver.events();
        assert!(r.driver.take_page_requests().requests.is_empty());
        let errs = r.driver.hardware_errors();
        assert!(
            matches!(errs.last(), Some(HwError::BadRegister { register, .. }) if *register == name),
            "{errs:?}"
        );
        assert_eq!(r.parts.unit.mmio_read(q.cons, 4), cons, "nothing consumed");
        r.parts.faults.heal(reg);
    }
    let errors = r.driver.hardware_errors().len();
    // Sane again: a page request travels to the core.
    let req = CoreRequest {
        device: r.dev,
        pasid: None,
        addr: 0x4000,
        access: Access::READ,
        group: 5,
        last: true,
    };
    let batch = r.driver.send_page_request(&info, &req);
    assert_eq!(batch.requests, vec![req]);
    assert_eq!(r.driver.hardware_errors().len(), errors);
}
