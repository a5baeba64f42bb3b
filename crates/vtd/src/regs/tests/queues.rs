//! The invalidation queue and page request queue registers.

use super::*;

/// A 256-bit queue of one page at 0x5_0000_0000, enabled.
fn enabled_queue() -> (RegisterFile, Arc<Recorder>) {
    let (mut f, rec) = file();
    f.write(IQA_REG, 8, 0x5_0000_0000 | 1 << 11);
    f.write(IQT_REG, 8, 0);
    f.write(GCMD_REG, 4, Gcmd::new().with_qie(true).into_bits().into());
    (f, rec)
}

#[test]
fn iqa_fields_and_haw() {
    let (mut f, _) = file();
    f.write(IQA_REG, 8, u64::MAX);
    assert_eq!(f.read(IQA_REG, 8), 0x0000_ffff_ffff_f000 | 1 << 11 | 0b111);
    assert_eq!(f.iqa().size_bytes(), 4096 << 7);
}

#[test]
fn iqa_is_fixed_while_the_queue_is_enabled() {
    let (mut f, _) = enabled_queue();
    f.write(IQA_REG, 8, 0x6_0000_0000 | 3);
    f.write(IQA_REG + 4, 4, 0x7);
    assert_eq!(f.read(IQA_REG, 8), 0x5_0000_0000 | 1 << 11);
}

#[test]
fn tail_written() {
    let (mut f, _) = enabled_queue();
    assert!(!f.iq_fetch_ready());
    let a = f.write(IQT_REG, 8, 0x60);
    assert_eq!(a, vec![Action::TailWritten(0x60)]);
    assert!(f.iq_fetch_ready());
    // As a DWORD: the trigger is in the low one; the upper one is reserved.
    assert_eq!(f.write(IQT_REG, 4, 0x80), vec![Action::TailWritten(0x80)]);
    assert!(f.write(IQT_REG + 4, 4, 0xffff_ffff).is_empty());
    assert_eq!(f.read(IQT_REG, 8), 0x80);
    // Reserved low bits are dropped.
    assert_eq!(
        f.write(IQT_REG, 8, 0xa0 | 0xf),
        vec![Action::TailWritten(0xa0)]
    );
    // The model consumes up to the tail.
    f.set_iq_head(0xa0);
    assert_eq!(f.read(IQH_REG, 8), 0xa0);
    assert!(!f.iq_fetch_ready());
}

#[test]
fn misaligned_tail_in_a_256_bit_queue_is_a_queue_error() {
    let (mut f, rec) = enabled_queue();
    f.write(FECTL_REG, 4, 0);
    let a = f.write(IQT_REG, 8, 0x30);
    assert!(a.is_empty());
    assert!(f.fsts().iqe());
    assert_eq!(f.iqercd().iqei(), 6);
    assert_eq!(
        Iqei::from_code(f.iqercd().iqei()),
        Some(Iqei::TailMisaligned)
    );
    assert_eq!(rec.take().len(), 1, "the fault event");
    assert_eq!(
        f.read(IQT_REG, 8),
        0x30,
        "the register reads back as written"
    );
    assert!(!f.iq_fetch_ready());
    // Software fixes the tail and clears IQE: fetching resumes.
    let a = f.write(IQT_REG, 8, 0x40);
    assert_eq!(a, vec![Action::TailWritten(0x40)]);
    assert!(!f.iq_fetch_ready(), "IQE still set");
    let a = f.write(FSTS_REG, 4, 0x10);
    assert_eq!(
        a,
        vec![Action::FaultStatusCleared(Fsts::new().with_iqe(true))]
    );
    assert!(f.iq_fetch_ready());
}

#[test]
fn bit_4_is_fine_in_a_128_bit_queue() {
    let (mut f, _) = file();
    f.write(IQA_REG, 8, 0x5_0000_0000);
    assert_eq!(f.write(IQT_REG, 8, 0x30), vec![Action::TailWritten(0x30)]);
    assert!(!f.fsts().iqe());
}

#[test]
fn tail_beyond_the_queue_is_invalid() {
    let (mut f, _) = enabled_queue();
    // One page: the last 256-bit descriptor is at 0xfe0.
    assert_eq!(f.write(IQT_REG, 8, 0xfe0), vec![Action::TailWritten(0xfe0)]);
    assert!(f.write(IQT_REG, 8, 0x1000).is_empty());
    assert_eq!(f.iqercd().iqei(), Iqei::InvalidTail.code());
}

#[test]
fn ite_stops_fetching() {
    let (mut f, _) = enabled_queue();
    f.write(IQT_REG, 8, 0x20);
    assert!(f.iq_fetch_ready());
    f.set_ite(0x42);
    assert!(!f.iq_fetch_ready());
    assert_eq!(f.iqercd().itesid(), 0x42);
    f.write(FSTS_REG, 4, 0x40);
    assert!(f.iq_fetch_ready());
}

#[test]
fn no_queue_registers_without_qi() {
    let legacy = VtdParams {
        scalable_mode: false,
        pasid_bits: 0,
        first_stage: false,
        second_stage: false,
        nesting: false,
        page_requests: false,
        queued_invalidation: false,
        ..Default::default()
    };
    let (mut f, _) = file_with(legacy);
    f.write(IQA_REG, 8, 0x5_0000_0000);
    assert!(f.write(IQT_REG, 8, 0x20).is_empty());
    assert!(f.write(GCMD_REG, 4, 1 << 26).is_empty());
    for r in [
        IQA_REG, IQT_REG, ICS_REG, IECTL_REG, PQA_REG, PRS_REG, PECTL_REG,
    ] {
        assert_eq!(f.read(r, 4), 0, "{r:#x}");
    }
    assert_eq!(f.read(GSTS_REG, 4), 0);
}

#[test]
fn page_request_queue_registers() {
    let (mut f, _) = file();
    f.write(PQA_REG, 8, u64::MAX);
    assert_eq!(f.read(PQA_REG, 8), 0x0000_ffff_ffff_f000 | 0b111);
    f.write(PQA_REG, 8, 0x7_0000_0000 | 1);
    assert_eq!(f.pqa().size_bytes(), 8192);
    // Software zeroes the tail at setup; the hardware moves it.
    f.write(PQT_REG, 8, 0x1f | 0x40);
    assert_eq!(f.read(PQT_REG, 8), 0x40);
    f.set_pq_tail(0x60);
    assert_eq!(f.read(PQT_REG, 8), 0x60);
    assert_eq!(f.pqt().pqt(), 3);
    let a = f.write(PQH_REG, 8, 0x60 | 0x1f);
    assert_eq!(a, vec![Action::PageRequestHeadWritten(0x60)]);
    assert_eq!(f.read(PQH_REG, 8), 0x60);
    assert!(f.write(PQH_REG + 4, 4, 1).is_empty());
    assert_eq!(f.pqh().pqh(), 3);
}
