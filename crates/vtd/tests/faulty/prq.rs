//! Garbage in the page request queue, and PQH/PQT out of range: no panic, every request
//! routed to the core or refused, the queue drained — or, when the pointers cannot be
//! trusted, nothing read and the error on record.

use proptest::prelude::*;
use softiommu_core::IommuDriver;
use softiommu_vtd::desc::{PageRequest, ResponseCode};
use softiommu_vtd::regs::{PQA_REG, PQH_REG, PQT_REG, Pqa};

use super::*;

/// Bytes of a page request descriptor.
const ENTRY: u64 = 32;

impl Rig {
    /// The page request queue's base and size.
    fn prq(&self) -> (u64, u64) {
        let pqa = Pqa::from_bits(self.parts.unit.mmio_read(PQA_REG, 8));
        (pqa.pqa() << 12, 4096 << pqa.pqs())
    }

    /// The unit queues `entries` from PQT on, as if it had received them.
    fn queue_entries(&self, entries: &[[u64; 4]]) {
        let (base, size) = self.prq();
        let mut tail = self.parts.unit.mmio_read(PQT_REG, 8);
        for e in entries {
            for (k, w) in e.iter().enumerate() {
                self.parts
                    .mem
                    .store_u64(base + tail + 8 * k as u64, *w)
                    .unwrap();
            }
            tail = (tail + ENTRY) % size;
        }
        self.parts.unit.mmio_write(PQT_REG, 8, tail);
    }

    /// The page responses the unit sent, as (SID, PRGI, code).
    fn responses(&self) -> Vec<(u16, u16, ResponseCode)> {
        self.parts
            .msgs
            .lock()
            .iter()
            .filter_map(|m| match *m {
                DeviceMessage::PageResponse {
                    sid, prgi, code, ..
                } => Some((sid, prgi, code)),
                DeviceMessage::InvalidateAtc { .. } => None,
            })
            .collect()
    }
}

/// Queue entries: random words, or page requests with random fields (half of them from the
/// rig's device, 03:00.0).
fn entry() -> impl Strategy<Value = [u64; 4]> {
    prop_oneof![
        any::<[u64; 4]>(),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(qw0, qw1, ours)| {
            let mut qw0 = (qw0 & !0xff) | u64::from(PageRequest::TYPE);
            if ours {
                qw0 = (qw0 & !(0xffff << 16)) | u64::from(Rid::new(0, 3, 0, 0).source_id()) << 16;
            }
            [qw0, qw1, 0, 0]
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn garbage_page_requests_are_routed_or_refused_and_the_queue_drained(
        entries in prop::collection::vec(entry(), 1..64),
    ) {
        let r = rig();
        let ours = Rid::new(0, 3, 0, 0).source_id();
        r.queue_entries(&entries);
        let batch = r.driver.take_page_requests();
        // Drained: PQH caught up with PQT, and nothing is left for the next call.
        prop_assert_eq!(
            r.parts.unit.mmio_read(PQH_REG, 8),
            r.parts.unit.mmio_read(PQT_REG, 8)
        );
        prop_assert!(r.driver.take_page_requests().requests.is_empty());
        prop_assert!(r.driver.hardware_errors().is_empty());
        // Each request routed to the core is, in order, one of ours.
        let mut routed = batch.requests.iter().peekable();
        let mut refused = Vec::new();
        for e in &entries {
            let Ok(d) = PageRequest::decode(*e) else { continue };
            if d.is_stop_marker() {
                continue;
            }
            let next = routed.peek().copied();
            let is_next = next.is_some_and(|q| {
                d.qw0.rid() == ours
                    && q.device == r.dev
                    && q.addr == d.address()
                    && q.group == d.qw1.prgi()
                    && q.last == d.qw1.lpig()
            });
            if is_next {
                routed.next();
            } else if d.qw1.lpig() {
                // Not routed, and it asks for a response: refused.
                refused.push((d.qw0.rid(), d.qw1.prgi(), ResponseCode::InvalidRequest));
            }
        }
        prop_assert!(routed.next().is_none(), "a routed request matches no entry");
        prop_assert_eq!(r.responses(), refused);
    }

    /// Whatever PQT reads, the queue is drained up to it, or nothing is read when it is
    /// outside the queue.
    #[test]
    fn any_pqt_value_is_drained_up_to_or_refused(pqt: u64, small: bool) {
        let r = rig();
        let (_, size) = r.prq();
        let pqt = if small { pqt & (size - 1) & !(ENTRY - 1) } else { pqt };
        r.parts.faults.set(PQT_REG, pqt);
        // The queue's memory is zeros: entries of type 0, dropped.
        prop_assert!(r.driver.take_page_requests().requests.is_empty());
        let errors = r.driver.hardware_errors();
        if pqt < size && pqt % ENTRY == 0 {
            prop_assert_eq!(r.parts.unit.mmio_read(PQH_REG, 8), pqt);
            prop_assert!(errors.is_empty());
        } else {
            prop_assert_eq!(r.parts.unit.mmio_read(PQH_REG, 8), 0);
            let refused = matches!(errors.as_slice(), [HwError::BadRegister { register: "PQT", .. }]);
            prop_assert!(refused, "{:?}", errors);
        }
    }
}

#[test]
fn page_request_pointers_out_of_range_read_nothing_and_the_queue_works_once_they_are_sane() {
    let r = rig();
    let (_, size) = r.prq();
    let req = PageRequest::decode([
        u64::from(PageRequest::TYPE) | u64::from(Rid::new(0, 3, 0, 0).source_id()) << 16,
        1 | 1 << 2 | 5 << 3 | 0x4000,
        0,
        0,
    ])
    .unwrap();
    r.queue_entries(&[req.encode()]);
    // PQT beyond the queue, PQT with a reserved bit, PQH beyond the queue.
    for (reg, bad, name) in [
        (PQT_REG, size, "PQT"),
        (PQT_REG, 0x21, "PQT"),
        (PQH_REG, size, "PQH"),
    ] {
        r.parts.faults.set(reg, bad);
        let batch = r.driver.take_page_requests();
        assert!(batch.requests.is_empty());
        let errs = r.driver.hardware_errors();
        assert!(
            matches!(errs.last(), Some(HwError::BadRegister { register, .. }) if *register == name),
            "{errs:?}"
        );
        // Nothing consumed.
        assert_eq!(r.parts.unit.mmio_read(PQH_REG, 8), 0);
        r.parts.faults.heal(reg);
    }
    let batch = r.driver.take_page_requests();
    assert_eq!(batch.requests.len(), 1);
    assert_eq!(batch.requests[0].addr, 0x4000);
    assert_eq!(batch.requests[0].group, 5);
    assert_eq!(r.parts.unit.mmio_read(PQH_REG, 8), ENTRY);
}
