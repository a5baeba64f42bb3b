//! Random accesses and model reports never panic and keep the register file's invariants.

use proptest::prelude::*;

use super::*;
use crate::cmd::Cerror;

#[derive(Debug, Clone)]
enum Op {
    Read(u64, u32),
    Write(u64, u32, u64),
    Consumed,
    CommandError(u8),
    Gerror(u32),
    Event,
    EventLost,
    PageRequest(bool),
    PageRequestLost(bool),
}

/// Mostly register offsets of page 0 and the queue registers of page 1; sometimes anything.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (0u64..0x40).prop_map(|word| word * 4),
        2 => (0x28u64..0x34).prop_map(|word| SMMU_PAGE1 + word * 4),
        1 => 0u64..SMMU_FRAME_SIZE + 0x100,
        1 => any::<u64>(),
    ]
}

/// An access: offset and size, mostly of the two legal sizes.
fn access() -> impl Strategy<Value = (u64, u32)> {
    let sizes = prop::sample::select(vec![4u32, 4, 4, 8, 8, 8, 0, 1, 2, 3, 16, u32::MAX]);
    (offset(), sizes)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => access().prop_map(|(o, s)| Op::Read(o, s)),
        8 => (access(), any::<u64>()).prop_map(|((o, s), v)| Op::Write(o, s, v)),
        2 => Just(Op::Consumed),
        1 => (0u8..4).prop_map(Op::CommandError),
        1 => any::<u32>().prop_map(Op::Gerror),
        2 => Just(Op::Event),
        1 => Just(Op::EventLost),
        2 => any::<bool>().prop_map(Op::PageRequest),
        1 => any::<bool>().prop_map(Op::PageRequestLost),
    ]
}

fn params() -> impl Strategy<Value = SmmuParams> {
    prop_oneof![Just(SmmuParams::full()), Just(SmmuParams::minimal())]
}

fn run(p: SmmuParams, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut f = file_with(p);
    let idr = f.mmio_read(SMMU_IDR0, 8);
    for op in ops {
        match *op {
            Op::Read(o, s) => {
                let v = f.mmio_read(o, s);
                if s == 4 {
                    prop_assert!(v <= u64::from(u32::MAX));
                }
                if !(s == 4 || s == 8) || o % u64::from(s) != 0 {
                    prop_assert_eq!(v, 0);
                }
            }
            Op::Write(o, s, v) => {
                f.mmio_write(o, s, v);
            }
            Op::Consumed => f.command_consumed(),
            Op::CommandError(c) => {
                if let Some(e) = Cerror::from_code(c) {
                    f.command_error(e);
                }
            }
            Op::Gerror(bits) => {
                f.activate_gerror(Gerror::from_bits(bits));
            }
            Op::Event => {
                let free = matches!(f.event_slot(), OutputSlot::Free(_));
                let before = f.eventq().len();
                f.event_written();
                let grew = f.eventq().len() == before + 1;
                prop_assert!(!free || grew);
            }
            Op::EventLost => f.event_overflow(),
            Op::PageRequest(last) => {
                f.page_request_written(last);
            }
            Op::PageRequestLost(last) => {
                f.page_request_overflow(last);
            }
        }
        // Acknowledgement is immediate, ID registers never change, positions stay inside
        // their queues, and only the errors this SMMU has are ever active.
        prop_assert_eq!(f.cr0(), f.cr0ack());
        prop_assert_eq!(f.mmio_read(SMMU_IDR0, 8), idr);
        for q in [f.cmdq(), f.eventq(), f.priq()] {
            let mask = (2u32 << q.log2size()) - 1;
            prop_assert_eq!(q.prod().raw() & !mask, 0);
            let a = q.prod_address();
            prop_assert!(a >= q.base() && a < q.base() + q.size_bytes());
        }
        let fields = f.gerror_fields().into_bits();
        prop_assert_eq!(f.gerror().into_bits() & !fields, 0);
        prop_assert_eq!(f.gerrorn().into_bits() & !fields, 0);
        prop_assert!(f.cmdq_cons().err() <= Cerror::AtcInvSync.code());
        prop_assert!(!f.gbpa().update());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_accesses_keep_the_invariants(
        p in params(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        run(p, &ops)?;
    }
}
