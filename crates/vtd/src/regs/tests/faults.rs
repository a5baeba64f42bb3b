//! The primary fault recording algorithm (spec 7.2.1) and RW1CS status bits.

use super::*;

fn fault(sid: u16) -> FaultRecord {
    FaultRecord {
        sid,
        addr: 0x10_0000 + (u64::from(sid) << 12),
        reason: 0x38,
        kind: RequestKind::Read,
        at: AddressType::Untranslated,
        pasid: Some(u32::from(sid)),
        privileged: false,
        execute: false,
    }
}

fn four_records() -> (RegisterFile, Arc<Recorder>) {
    file_with(VtdParams {
        fault_records: 4,
        ..Default::default()
    })
}

/// Clears FRCD[idx].F the way Linux does: a DWORD write of bit 31 at offset +12.
fn clear_f(f: &mut RegisterFile, idx: u64) {
    f.write(FRCD_REG + idx * 16 + 12, 4, 1 << 31);
}

#[test]
fn records_fill_in_order_then_overflow() {
    let (mut f, _) = four_records();
    assert_eq!(f.cap().nfr(), 3);
    for sid in 0..4u16 {
        assert!(f.record_fault(fault(sid)));
        let fsts = f.fsts();
        assert!(fsts.ppf());
        assert_eq!(fsts.fri(), 0, "FRI stays on the first pending record");
    }
    for idx in 0..4u64 {
        let r = f.fault_record(idx as usize).unwrap();
        assert!(r.f());
        assert_eq!(u64::from(r.sid()), idx);
        assert_eq!(r.fr(), 0x38);
        assert_eq!(r.pv(), idx as u32);
        assert!(r.pp());
        // Read back through MMIO as Linux does: upper DWORD first.
        let hi = f.read(FRCD_REG + idx * 16 + 12, 4);
        assert_eq!(hi >> 31, 1);
        assert_eq!(f.read(FRCD_REG + idx * 16 + 8, 8), r.high());
        assert_eq!(f.read(FRCD_REG + idx * 16, 8), r.low());
        assert_eq!(f.read(FRCD_REG + idx * 16, 8), 0x10_0000 + (idx << 12));
    }
    // The ring is full: PFO is set and the fault dropped.
    assert!(!f.record_fault(fault(9)));
    assert!(f.fsts().pfo());
    assert_eq!(f.read(FSTS_REG, 4), 0b11, "PFO and PPF, FRI 0");
    // While PFO is set, faults are dropped even if a record is free.
    clear_f(&mut f, 0);
    assert!(!f.record_fault(fault(10)));
    assert!(!f.fault_record(0).unwrap().f());
    // Clearing PFO re-enables recording, into the freed record (the index wrapped to 0).
    let a = f.write(FSTS_REG, 4, 1);
    assert_eq!(
        a,
        vec![Action::FaultStatusCleared(Fsts::new().with_pfo(true))]
    );
    assert!(f.record_fault(fault(11)));
    assert_eq!(f.fault_record(0).unwrap().sid(), 11);
    assert_eq!(f.fsts().fri(), 0, "PPF was still 1: FRI unchanged");
    // The next record (1) is still in use: overflow again.
    assert!(!f.record_fault(fault(12)));
    assert!(f.fsts().pfo());
}

#[test]
fn fri_points_at_the_first_record_after_ppf_was_clear() {
    let (mut f, _) = four_records();
    assert!(f.record_fault(fault(0)));
    assert!(f.record_fault(fault(1)));
    clear_f(&mut f, 0);
    assert_eq!(f.fsts().fri(), 0, "PPF still 1 (record 1)");
    clear_f(&mut f, 1);
    assert!(!f.fsts().ppf());
    assert!(f.record_fault(fault(2)));
    assert_eq!(f.fsts().fri(), 2);
    assert!(f.record_fault(fault(3)));
    assert!(f.record_fault(fault(4)));
    assert_eq!(f.fault_record(0).unwrap().sid(), 4, "wrapped");
    assert_eq!(f.fsts().fri(), 2);
    assert_eq!(f.read(FSTS_REG, 4), 2 << 8 | 0b10);
}

#[test]
fn ppf_is_the_or_of_every_f() {
    let (mut f, _) = four_records();
    assert!(!f.fsts().ppf());
    for sid in 0..3 {
        f.record_fault(fault(sid));
    }
    for idx in [2, 0] {
        clear_f(&mut f, idx);
        assert!(f.fsts().ppf());
    }
    clear_f(&mut f, 1);
    assert!(!f.fsts().ppf());
    assert_eq!(f.read(FSTS_REG, 4) & 0b10, 0);
}

#[test]
fn frcd_f_is_the_only_writable_bit() {
    let (mut f, _) = four_records();
    f.record_fault(fault(5));
    let before = f.fault_record(0).unwrap();
    // Writing 0 to F, or 1 anywhere else, changes nothing.
    for (off, size, v) in [
        (0u64, 8u32, u64::MAX),
        (0, 4, u64::MAX),
        (4, 4, u64::MAX),
        (8, 4, u64::MAX),
        (8, 8, 0x7fff_ffff_ffff_ffff),
        (12, 4, 0x7fff_ffff),
    ] {
        f.write(FRCD_REG + off, size, v);
        assert_eq!(f.fault_record(0).unwrap(), before, "{off}/{size}/{v:#x}");
    }
    // A QWORD write of bit 63 at +8 clears F and keeps the rest.
    f.write(FRCD_REG + 8, 8, 1 << 63);
    let after = f.fault_record(0).unwrap();
    assert!(!after.f());
    assert_eq!(after.with_f(true), before);
}

#[test]
fn fsts_rw1cs() {
    let (mut f, _) = file();
    f.set_queue_error(Iqei::InvalidType);
    f.set_ite(0x10);
    f.set_ice(0x20);
    assert_eq!(f.read(FSTS_REG, 4), 0b0111_0000);
    assert_eq!(f.read(IQERCD_REG, 8), 0x20 << 48 | 0x10 << 32 | 3);
    // Writing 0s, or 1s to read-only and reserved bits, changes nothing.
    assert!(f.write(FSTS_REG, 4, 0xffff_ff8e).is_empty());
    assert_eq!(f.read(FSTS_REG, 4), 0b0111_0000);
    // Each 1 clears its bit.
    let a = f.write(FSTS_REG, 4, 0b0001_0000);
    assert_eq!(
        a,
        vec![Action::FaultStatusCleared(Fsts::new().with_iqe(true))]
    );
    assert_eq!(f.read(FSTS_REG, 4), 0b0110_0000);
    // Bits already clear are not reported.
    let a = f.write(FSTS_REG, 4, 0b0111_0001);
    assert_eq!(
        a,
        vec![Action::FaultStatusCleared(
            Fsts::new().with_ice(true).with_ite(true)
        )]
    );
    assert_eq!(f.read(FSTS_REG, 4), 0);
}

#[test]
fn ics_and_prs_rw1cs() {
    let (mut f, _) = file();
    f.set_iwc();
    assert_eq!(f.read(ICS_REG, 4), 1);
    f.write(ICS_REG, 4, 0xffff_fffe);
    assert_eq!(f.read(ICS_REG, 4), 1);
    f.write(ICS_REG, 4, 1);
    assert_eq!(f.read(ICS_REG, 4), 0);
    f.set_page_request_pending();
    f.set_page_request_overflow();
    assert_eq!(f.read(PRS_REG, 4), 0b11);
    f.write(PRS_REG, 4, 0b10);
    assert_eq!(f.read(PRS_REG, 4), 0b01);
    f.write(PRS_REG, 4, 0xffff_fffe);
    assert_eq!(f.read(PRS_REG, 4), 0b01);
    f.write(PRS_REG, 4, 0b01);
    assert_eq!(f.read(PRS_REG, 4), 0);
}

#[test]
fn queue_error_keeps_the_first_cause() {
    let (mut f, _) = file();
    f.set_queue_error(Iqei::ReservedField);
    f.set_queue_error(Iqei::FetchError);
    assert_eq!(f.iqercd().iqei(), Iqei::ReservedField.code());
}
