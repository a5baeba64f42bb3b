//! Random accesses and model calls never panic and keep the register file's invariants.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Read(u64, u32),
    Write(u64, u32, u64),
    Fault(u16, u64, u8, Option<u32>),
    QueueError(u8),
    Ite(u16),
    Ice(u16),
    Iwc,
    PagePending,
    PageOverflow,
    CompleteRoot,
    CompleteIr,
    CompleteVcmd(u8, u64),
    IqHead(u64),
    PqTail(u64),
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..0x1100,
        1 => (0u64..0x40).prop_map(|i| FRCD_REG + i * 4),
        1 => (0u64..0x10).prop_map(|i| VCMD_REG + i * 4),
        1 => any::<u64>(),
    ]
}

fn size() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(4u32), 3 => Just(8u32), 1 => 0u32..=16, 1 => any::<u32>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (offset(), size()).prop_map(|(o, s)| Op::Read(o, s)),
        8 => (offset(), size(), any::<u64>()).prop_map(|(o, s, v)| Op::Write(o, s, v)),
        2 => (any::<u16>(), any::<u64>(), any::<u8>(), any::<Option<u32>>())
            .prop_map(|(s, a, r, p)| Op::Fault(s, a, r, p)),
        1 => (0u8..8).prop_map(Op::QueueError),
        1 => any::<u16>().prop_map(Op::Ite),
        1 => any::<u16>().prop_map(Op::Ice),
        1 => Just(Op::Iwc),
        1 => Just(Op::PagePending),
        1 => Just(Op::PageOverflow),
        1 => Just(Op::CompleteRoot),
        1 => Just(Op::CompleteIr),
        1 => (any::<u8>(), any::<u64>()).prop_map(|(s, r)| Op::CompleteVcmd(s, r)),
        1 => any::<u64>().prop_map(Op::IqHead),
        1 => any::<u64>().prop_map(Op::PqTail),
    ]
}

fn params() -> impl Strategy<Value = VtdParams> {
    prop_oneof![
        Just(VtdParams::default()),
        Just(all_params()),
        (1u16..=MAX_FAULT_RECORDS).prop_map(|n| VtdParams {
            fault_records: n,
            ..all_params()
        }),
    ]
}

fn run(p: VtdParams, ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut f, rec) = file_with(p);
    for op in ops {
        match *op {
            Op::Read(o, s) => {
                let v = f.read(o, s);
                if s == 4 {
                    prop_assert!(v <= u64::from(u32::MAX));
                }
                if !(s == 4 || s == 8) || o % u64::from(s) != 0 {
                    prop_assert_eq!(v, 0);
                }
            }
            Op::Write(o, s, v) => {
                let gsts = f.gsts();
                let a = f.write(o, s, v);
                if !(s == 4 || s == 8) || o % u64::from(s) != 0 {
                    prop_assert!(a.is_empty());
                    prop_assert_eq!(f.gsts(), gsts);
                }
            }
            Op::Fault(sid, addr, reason, pasid) => {
                let fsts = f.fsts();
                let recorded = f.record_fault(FaultRecord {
                    sid,
                    addr,
                    reason,
                    kind: RequestKind::AtomicOp,
                    at: AddressType::Translated,
                    pasid,
                    privileged: true,
                    execute: false,
                });
                if fsts.pfo() {
                    prop_assert!(!recorded);
                }
                if recorded {
                    prop_assert!(f.fsts().ppf());
                }
            }
            Op::QueueError(c) => {
                if let Some(e) = Iqei::from_code(c) {
                    f.set_queue_error(e);
                    prop_assert!(f.fsts().iqe());
                }
            }
            Op::Ite(s) => f.set_ite(s),
            Op::Ice(s) => f.set_ice(s),
            Op::Iwc => f.set_iwc(),
            Op::PagePending => f.set_page_request_pending(),
            Op::PageOverflow => f.set_page_request_overflow(),
            Op::CompleteRoot => f.complete_root_table(),
            Op::CompleteIr => f.complete_ir_table(),
            Op::CompleteVcmd(sc, r) => f.complete_virtual_command(sc, r),
            Op::IqHead(h) => f.set_iq_head(h),
            Op::PqTail(t) => f.set_pq_tail(t),
        }
        // Invariants: PPF is the OR of the F bits; reserved GSTS bits stay clear; CAP and
        // ECAP never change.
        let n = usize::from(p.fault_records);
        let any_f = (0..n).any(|i| f.fault_record(i).is_some_and(|r| r.f()));
        prop_assert_eq!(f.fsts().ppf(), any_f);
        prop_assert_eq!(f.read(GSTS_REG, 4) & 0x307f_ffff, 0);
        prop_assert_eq!(f.read(CAP_REG, 8), p.cap().unwrap().into_bits());
        prop_assert_eq!(f.read(ECAP_REG, 8), p.ecap().unwrap().into_bits());
        // Interrupts only go to an address software programmed (or 0).
        for (_, addr, _) in rec.take() {
            prop_assert_eq!(addr & 3, 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_accesses_never_panic(p in params(), ops in prop::collection::vec(op(), 1..200)) {
        run(p, &ops)?;
    }
}
