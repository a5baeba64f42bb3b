//! The event rule shared by the fault, invalidation-completion and page-request events.

use super::*;

fn fault() -> FaultRecord {
    FaultRecord {
        sid: 0x0100,
        addr: 0x5000,
        reason: 0x81,
        kind: RequestKind::Write,
        at: AddressType::Untranslated,
        pasid: None,
        privileged: false,
        execute: false,
    }
}

/// Programs an event's MSI and unmasks it.
fn program(f: &mut RegisterFile, ctl: u64, data: u64, addr: u64, uaddr: u64) {
    f.write(ctl + 4, 4, data);
    f.write(ctl + 8, 4, addr);
    f.write(ctl + 12, 4, uaddr);
    f.write(ctl, 4, 0);
}

#[test]
fn unmasked_fault_interrupts_once_per_pending_group() {
    let (mut f, rec) = file();
    program(&mut f, FECTL_REG, 0x4041, 0xfee0_1000, 0x1);
    assert!(f.record_fault(fault()));
    assert_eq!(rec.take(), vec![(Event::Fault, 0x1_fee0_1000, 0x4041)]);
    assert_eq!(f.read(FECTL_REG, 4), 0, "IP cleared once sent");
    // PPF is set: no second interrupt, for a fault or any other status of the group.
    assert!(f.record_fault(fault()));
    f.set_queue_error(Iqei::FetchError);
    f.set_ite(1);
    f.set_ice(2);
    assert!(rec.take().is_empty());
    // Clear everything: the next condition interrupts again.
    f.write(FRCD_REG + 12, 4, 1 << 31);
    f.write(FRCD_REG + 16 + 12, 4, 1 << 31);
    f.write(FSTS_REG, 4, 0x71);
    assert_eq!(f.read(FSTS_REG, 4) & 0x73, 0);
    f.set_queue_error(Iqei::InvalidTail);
    assert_eq!(rec.take().len(), 1);
}

#[test]
fn masked_then_unmasked_sends_the_pending_one() {
    let (mut f, rec) = file();
    f.write(FEDATA_REG, 4, 0x30);
    f.write(FEADDR_REG, 4, 0xfee0_0000);
    assert!(f.record_fault(fault()));
    assert!(rec.take().is_empty(), "IM resets to 1");
    assert_eq!(f.read(FECTL_REG, 4), 0xc000_0000, "IM and IP");
    // Unmasking sends it and clears IP.
    f.write(FECTL_REG, 4, 0);
    assert_eq!(rec.take(), vec![(Event::Fault, 0xfee0_0000, 0x30)]);
    assert_eq!(f.read(FECTL_REG, 4), 0);
    // Masking and unmasking again sends nothing more.
    f.write(FECTL_REG, 4, 0x8000_0000);
    f.write(FECTL_REG, 4, 0);
    assert!(rec.take().is_empty());
}

#[test]
fn clearing_the_status_while_masked_withdraws_the_interrupt() {
    let (mut f, rec) = file();
    assert!(f.record_fault(fault()));
    assert_eq!(f.read(FECTL_REG, 4), 0xc000_0000);
    f.write(FRCD_REG + 8, 8, 1 << 63);
    assert_eq!(
        f.read(FECTL_REG, 4),
        0x8000_0000,
        "IP cleared with the status"
    );
    f.write(FECTL_REG, 4, 0);
    assert!(rec.take().is_empty());
}

#[test]
fn ip_stays_while_some_status_remains() {
    let (mut f, rec) = file();
    f.set_queue_error(Iqei::InvalidType);
    assert!(f.record_fault(fault()));
    f.write(FSTS_REG, 4, 0x10);
    assert_eq!(f.read(FECTL_REG, 4), 0xc000_0000, "PPF still set");
    f.write(FECTL_REG, 4, 0);
    assert_eq!(rec.take().len(), 1);
}

#[test]
fn invalidation_completion_event() {
    let (mut f, rec) = file();
    program(&mut f, IECTL_REG, 0x51, 0xfee0_2000, 0);
    f.set_iwc();
    assert_eq!(
        rec.take(),
        vec![(Event::InvalidationCompletion, 0xfee0_2000, 0x51)]
    );
    f.set_iwc();
    assert!(rec.take().is_empty(), "IWC still set");
    f.write(ICS_REG, 4, 1);
    f.set_iwc();
    assert_eq!(rec.take().len(), 1);
    // Masked: pending until unmasked.
    f.write(ICS_REG, 4, 1);
    f.write(IECTL_REG, 4, 0x8000_0000);
    f.set_iwc();
    assert!(rec.take().is_empty());
    assert_eq!(f.read(IECTL_REG, 4), 0xc000_0000);
    f.write(IECTL_REG, 4, 0);
    assert_eq!(rec.take().len(), 1);
}

#[test]
fn page_request_event() {
    let (mut f, rec) = file();
    program(&mut f, PECTL_REG, 0x61, 0xfee0_3000, 0);
    f.set_page_request_pending();
    assert_eq!(rec.take(), vec![(Event::PageRequest, 0xfee0_3000, 0x61)]);
    f.set_page_request_pending();
    assert!(rec.take().is_empty(), "PPR still set");
    // Overflow is recorded without an event of its own.
    f.write(PRS_REG, 4, 1);
    f.set_page_request_overflow();
    assert!(rec.take().is_empty());
    assert_eq!(f.read(PRS_REG, 4), 0b10);
    f.set_page_request_pending();
    assert_eq!(rec.take().len(), 1);
    // Masked, then cleared: nothing is sent on unmask.
    f.write(PRS_REG, 4, 0b11);
    f.write(PECTL_REG, 4, 0x8000_0000);
    f.set_page_request_pending();
    assert_eq!(f.read(PECTL_REG, 4), 0xc000_0000);
    f.write(PRS_REG, 4, 1);
    assert_eq!(f.read(PECTL_REG, 4), 0x8000_0000);
    f.write(PECTL_REG, 4, 0);
    assert!(rec.take().is_empty());
}

#[test]
fn events_are_independent() {
    let (mut f, rec) = file();
    for ctl in [FECTL_REG, IECTL_REG, PECTL_REG] {
        f.write(ctl, 4, 0);
    }
    f.record_fault(fault());
    f.set_iwc();
    f.set_page_request_pending();
    let which: Vec<Event> = rec.take().into_iter().map(|(e, _, _)| e).collect();
    assert_eq!(
        which,
        vec![
            Event::Fault,
            Event::InvalidationCompletion,
            Event::PageRequest
        ]
    );
}
