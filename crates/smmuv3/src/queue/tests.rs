//! Known answers for the queue registers and the position arithmetic, and property tests
//! against a plain ring buffer.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

/// What a register's fields hold (its reserved bits do not show).
fn fields(r: impl std::fmt::Debug) -> String {
    format!("{r:?}")
}

#[test]
fn base_register_layout() {
    // LOG2SIZE 4:0, ADDR 55:5, RA/WA 62.
    let b = QueueBase::new()
        .with_log2size(0x13)
        .with_addr(0x12_3456_789a)
        .with_alloc_hint(true);
    assert_eq!(b.into_bits(), 0x13 | 0x12_3456_789a << 5 | 1 << 62);
    assert_eq!(b.address(), 0x12_3456_789a << 5);
    // Bits 61:56 and 63 are no field.
    let r = QueueBase::from_bits(0x3f << 56 | 1 << 63);
    assert_eq!((r.log2size(), r.addr(), r.alloc_hint()), (0, 0, false));
    // The top ADDR bit is bit 55.
    assert_eq!(QueueBase::from_bits(1 << 55).address(), 1 << 55);
}

#[test]
fn prod_and_cons_layout() {
    // PROD: WR 19:0, OVFLG 31.
    let p = QueueProd::new().with_wr(0xf_ffff).with_ovflg(true);
    assert_eq!(p.into_bits(), 0x800f_ffff);
    assert_eq!(
        fields(QueueProd::from_bits(0x7ff0_0000)),
        fields(QueueProd::new())
    );
    // CONS: RD 19:0, ERR 30:24, OVACKFLG 31.
    let c = QueueCons::new()
        .with_rd(0x8_0001)
        .with_err(0x7f)
        .with_ovackflg(true);
    assert_eq!(c.into_bits(), 0x8_0001 | 0x7f << 24 | 1 << 31);
    assert_eq!(
        fields(QueueCons::from_bits(0x00f0_0000)),
        fields(QueueCons::new())
    );
}

#[test]
fn entry_sizes() {
    assert_eq!(QueueKind::Command.entry_bytes(), 16);
    assert_eq!(QueueKind::Event.entry_bytes(), 32);
    assert_eq!(QueueKind::PageRequest.entry_bytes(), 16);
}

#[test]
fn position_keeps_index_and_wrap() {
    let p = QueuePos::new(3, 0b1_1101);
    assert_eq!((p.index(), p.wrap(), p.raw()), (0b101, true, 0b1101));
    // The last index wraps to 0 and toggles the wrap bit.
    let last = QueuePos::new(3, 0b0111);
    assert_eq!(last.next().raw(), 0b1000);
    assert_eq!(last.next().next().raw(), 0b1001);
    assert_eq!(QueuePos::new(3, 0b1111).next().raw(), 0);
    // A one-entry queue: no index bits, the wrap bit is bit 0.
    let one = QueuePos::new(0, 0);
    assert_eq!((one.index(), one.wrap()), (0, false));
    assert_eq!((one.next().index(), one.next().wrap()), (0, true));
    // Sizes above 19 are capped.
    assert_eq!(QueuePos::new(31, u32::MAX).raw(), 0xf_ffff);
}

#[test]
fn empty_full_and_length() {
    let base = QueueBase::new().with_log2size(2).with_addr(0x1000 >> 5);
    let q = |wr, rd| Queue::new(QueueKind::Command, base, 19, wr, rd);
    assert!(q(0, 0).is_empty() && !q(0, 0).is_full());
    assert!(q(0b110, 0b110).is_empty());
    assert!(q(0b100, 0).is_full() && !q(0b100, 0).is_empty());
    assert!(q(0b010, 0b110).is_full());
    assert_eq!(q(0b011, 0b001).len(), 2);
    assert_eq!(q(0b101, 0b011).len(), 2, "across the wrap");
    assert!(q(0b101, 0b011).is_consistent());
    // The producer ahead of the consumer by more than the queue holds.
    assert!(!q(0b111, 0b010).is_consistent());
}

#[test]
fn log2size_is_capped_by_the_implementation_limit() {
    let base = QueueBase::new().with_log2size(10).with_addr(0x10_0000 >> 5);
    let q = Queue::new(QueueKind::Event, base, 4, 0b1_0000, 0);
    assert_eq!(q.log2size(), 4);
    assert_eq!(q.capacity(), 16);
    assert_eq!(q.size_bytes(), 16 * 32);
    assert!(q.is_full());
}

#[test]
fn base_is_aligned_to_the_queue_size_and_32_bytes() {
    // 2^8 commands of 16 bytes: 4 KiB, so ADDR bits 11:5 are ignored.
    let base = QueueBase::new()
        .with_log2size(8)
        .with_addr(0x1234_5fe0 >> 5);
    let q = Queue::new(QueueKind::Command, base, 19, 0, 0);
    assert_eq!(q.base(), 0x1234_5000);
    // A one-entry command queue (16 bytes) is still 32-byte aligned.
    let base = QueueBase::new()
        .with_log2size(0)
        .with_addr(0x1234_5fe0 >> 5);
    assert_eq!(
        Queue::new(QueueKind::Command, base, 19, 0, 0).base(),
        0x1234_5fe0
    );
    // Event records are 32 bytes: 2^4 of them need 512-byte alignment.
    let base = QueueBase::new()
        .with_log2size(4)
        .with_addr(0x1234_5fe0 >> 5);
    assert_eq!(
        Queue::new(QueueKind::Event, base, 19, 0, 0).base(),
        0x1234_5e00
    );
}

#[test]
fn entry_addresses() {
    let base = QueueBase::new().with_log2size(3).with_addr(0x8000 >> 5);
    let q = Queue::new(QueueKind::Event, base, 19, 0b1010, 0b0110);
    assert_eq!(q.prod_address(), 0x8000 + 2 * 32);
    assert_eq!(q.cons_address(), 0x8000 + 6 * 32);
    // A position with stray high bits addresses the entry its index names.
    assert_eq!(
        q.entry_address(QueuePos::new(19, 0xf_fff1)),
        0x8000 + 32,
        "only the index bits count"
    );
}

/// One step of a producer/consumer run.
#[derive(Debug, Clone)]
enum Step {
    Produce,
    Consume,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![Just(Step::Produce), Just(Step::Consume)],
        0..200,
    )
}

proptest! {
    /// PROD and CONS moved by a producer and a consumer that respect full and empty agree
    /// with a ring buffer of the same capacity at every step.
    #[test]
    fn positions_track_a_ring_buffer(
        log2size in 0u8..=6,
        start in any::<u32>(),
        run in steps(),
        kind in prop_oneof![
            Just(QueueKind::Command),
            Just(QueueKind::Event),
            Just(QueueKind::PageRequest),
        ],
    ) {
        let base = QueueBase::new().with_log2size(log2size).with_addr(0x4_0000 >> 5);
        let cap = 1usize << log2size;
        let start = QueuePos::new(log2size, start);
        let (mut prod, mut cons) = (start, start);
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut produced = 0u64;
        for step in run {
            let q = Queue::new(kind, base, 19, prod.raw(), cons.raw());
            prop_assert!(q.is_consistent());
            prop_assert_eq!(q.len() as usize, model.len());
            prop_assert_eq!(q.is_empty(), model.is_empty());
            prop_assert_eq!(q.is_full(), model.len() == cap);
            match step {
                Step::Produce if !q.is_full() => {
                    // The slot written is the one the ring buffer would fill next.
                    let slot = (u64::from(start.index()) + produced) % cap as u64;
                    prop_assert_eq!(q.prod_address(), 0x4_0000 + slot * kind.entry_bytes());
                    model.push_back(slot);
                    produced += 1;
                    prod = prod.next();
                }
                Step::Consume if !q.is_empty() => {
                    let slot = model.pop_front().unwrap();
                    prop_assert_eq!(q.cons_address(), 0x4_0000 + slot * kind.entry_bytes());
                    cons = cons.next();
                }
                _ => {}
            }
        }
    }

    /// Advancing by n is n single steps, and 2^(log2size+1) steps come back to the start.
    #[test]
    fn advance_is_repeated_next(log2size in 0u8..=19, raw in any::<u32>(), n in 0u32..100) {
        let p = QueuePos::new(log2size, raw);
        let mut q = p;
        for _ in 0..n {
            q = q.next();
        }
        prop_assert_eq!(p.advance(n), q);
        prop_assert_eq!(p.advance(2 << log2size), p);
        prop_assert_eq!(p.advance(1 << log2size).index(), p.index());
        prop_assert_ne!(p.advance(1 << log2size).wrap(), p.wrap());
    }

    /// Any register contents make a queue whose answers stay in range.
    #[test]
    fn any_registers_make_a_sane_queue(
        base in any::<u64>(),
        max in 0u8..=31,
        wr in any::<u32>(),
        rd in any::<u32>(),
    ) {
        let q = Queue::new(QueueKind::Event, QueueBase::from_bits(base), max, wr, rd);
        prop_assert!(q.log2size() <= MAX_LOG2SIZE.min(max));
        prop_assert!(q.len() < 2 * q.capacity());
        prop_assert!(q.base().is_multiple_of(q.size_bytes().max(32)));
        let a = q.prod_address();
        prop_assert!(a >= q.base() && a < q.base() + q.size_bytes());
        prop_assert!(!(q.is_empty() && q.is_full()));
    }
}
