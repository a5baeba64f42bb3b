//! Page requests through the unit: the PRI queue entry, the interrupt, overflow with its
//! automatic responses, and the queue disabled or aborted.

use super::*;
use crate::pri::{PageRequest, PriAccess, PriResponse};

const RW: PriAccess = PriAccess {
    read: true,
    write: true,
    exec: false,
    privileged: false,
};

fn request(ssid: Option<u32>, prgi: u16, last: bool) -> PageRequest {
    PageRequest::new(SID, ssid, prgi, 0x7654_3000, RW, last)
}

/// The raw PRI queue entries waiting, consumed.
fn take_entries(rig: &Rig) -> Vec<[u64; 2]> {
    let regs = (SMMU_PRIQ_PROD, SMMU_PRIQ_CONS);
    rig.take_entries(regs, rig.priq, PRIQ_LOG2)
}

#[test]
fn a_page_request_is_written_in_the_spec_format_with_an_interrupt() {
    let rig = Rig::new();
    rig.take_irqs();
    let r = request(Some(0x1_2345), 0x1f0, true);
    assert_eq!(rig.unit.page_request(r), PageRequestOutcome::Queued);
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].irq, Irq::PriQueue);
    let e = take_entries(&rig);
    assert_eq!(e.len(), 1);
    let [dw0, dw1] = e[0];
    // StreamID 31:0, SubstreamID 51:32, R 60, W 61, Last 62, SSV 63; PRGI 8:0, page 63:12.
    assert_eq!(dw0 & 0xffff_ffff, u64::from(SID));
    assert_eq!(dw0 >> 32 & 0xf_ffff, 0x1_2345);
    assert_eq!(dw0 >> 60, 0b1111);
    assert_eq!(dw1, 0x7654_3000 | 0x1f0);
    assert!(rig.take_msgs().is_empty(), "no automatic response");
}

#[test]
fn overflow_sets_ovflg_and_answers_discarded_last_requests() {
    let rig = Rig::new();
    for i in 0..1 << PRIQ_LOG2 {
        assert_eq!(
            rig.unit.page_request(request(None, i, false)),
            PageRequestOutcome::Queued
        );
    }
    // Full: Last = 0 is dropped silently, Last = 1 gets Success.
    let lost = rig.unit.page_request(request(None, 5, false));
    assert_eq!(lost, PageRequestOutcome::Discarded);
    assert!(QueueProd::from_bits(rig.r32(SMMU_PRIQ_PROD)).ovflg());
    let auto = rig.unit.page_request(request(None, 6, true));
    assert_eq!(
        auto,
        PageRequestOutcome::AutoResponse {
            response: PriResponse::Success,
            pasid: None
        }
    );
    assert_eq!(
        rig.take_msgs(),
        [DeviceMessage::PageResponse {
            sid: SID,
            pasid: None,
            prgi: 6,
            response: PriResponse::Success
        }]
    );
    // Room again, but the overflow is still outstanding: nothing is written.
    assert_eq!(take_entries(&rig).len(), 2);
    assert!(matches!(
        rig.unit.page_request(request(None, 7, true)),
        PageRequestOutcome::AutoResponse { .. }
    ));
    // Acknowledged: requests are written again.
    let cons = QueueCons::from_bits(rig.r32(SMMU_PRIQ_CONS)).with_ovackflg(true);
    rig.w32(SMMU_PRIQ_CONS, cons.into_bits());
    assert_eq!(
        rig.unit.page_request(request(None, 8, true)),
        PageRequestOutcome::Queued
    );
}

#[test]
fn an_overflow_response_carries_the_pasid_when_the_ste_asks() {
    let (rig, _s1) = Rig::mapped();
    for i in 0..1 << PRIQ_LOG2 {
        rig.unit.page_request(request(Some(3), i, false));
    }
    let resp = |rig: &Rig| rig.unit.page_request(request(Some(3), 9, true));
    assert_eq!(
        resp(&rig),
        PageRequestOutcome::AutoResponse {
            response: PriResponse::Success,
            pasid: None
        }
    );
    let mut ste = crate::ste::Ste::read(&*rig.mem, rig.strtab + u64::from(SID) * 64).unwrap();
    ste.dw1 = ste.dw1.with_ppar(true);
    rig.set_ste(SID, &ste);
    rig.submit_sync(Command::CfgiSteRange(crate::cmd::CfgiSteRange::all()));
    assert_eq!(
        resp(&rig),
        PageRequestOutcome::AutoResponse {
            response: PriResponse::Success,
            pasid: Some(3)
        }
    );
    // An invalid STE: Failure, no PASID. A Stop marker is never answered.
    rig.set_ste(SID, &crate::ste::Ste::default());
    rig.submit_sync(Command::CfgiSteRange(crate::cmd::CfgiSteRange::all()));
    assert_eq!(
        resp(&rig),
        PageRequestOutcome::AutoResponse {
            response: PriResponse::Failure,
            pasid: None
        }
    );
    let stop = PageRequest::new(SID, Some(3), 9, 0, PriAccess::default(), true);
    assert_eq!(rig.unit.page_request(stop), PageRequestOutcome::Discarded);
}

#[test]
fn a_disabled_or_aborted_pri_queue_answers_every_request_with_failure() {
    let rig = Rig::new();
    rig.w32(SMMU_CR0, cr0_all().with_priqen(false).into_bits());
    let failure = PageRequestOutcome::AutoResponse {
        response: PriResponse::Failure,
        pasid: None,
    };
    assert_eq!(rig.unit.page_request(request(Some(4), 1, false)), failure);
    assert_eq!(rig.take_msgs().len(), 1);
    // An aborted write: PRIQ_ABT_ERR, Failure, and Failure for everything while it is active.
    rig.set_queue_base(SMMU_PRIQ_BASE, UNBACKED, PRIQ_LOG2);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    rig.take_irqs();
    assert_eq!(rig.unit.page_request(request(None, 2, true)), failure);
    assert!(rig.active_gerrors().priq_abt_err());
    assert_eq!(rig.take_irqs()[0].irq, Irq::Gerror);
    rig.w32(SMMU_CR0, cr0_all().with_priqen(false).into_bits());
    rig.set_queue_base(SMMU_PRIQ_BASE, rig.priq, PRIQ_LOG2);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    assert_eq!(rig.unit.page_request(request(None, 3, true)), failure);
    rig.ack_gerrors();
    assert_eq!(
        rig.unit.page_request(request(None, 3, true)),
        PageRequestOutcome::Queued
    );
}
