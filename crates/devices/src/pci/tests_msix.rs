//! MSI-X table, PBA and delivery; random configuration accesses against the invariants.

use std::sync::Arc;

use parking_lot::Mutex;
use proptest::prelude::*;

use super::tests_layout::full;
use super::*;
use AccessSize::{Dword, Word};

/// A function with MSI-X and a sink that records every message.
fn with_sink() -> (ConfigSpace, Arc<MsixTable>, Arc<Mutex<Vec<MsiMessage>>>) {
    let mut cfg = full();
    cfg.write(0x04, Word, 0x0006);
    let table = cfg.msix().cloned().expect("MSI-X");
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    table.set_sink(Arc::new(move |m| sink.lock().push(m)));
    (cfg, table, got)
}

fn program(table: &MsixTable, vector: u64, address: u64, data: u32) {
    table.write_table(vector * 16, 8, address);
    table.write_table(vector * 16 + 8, 4, u64::from(data));
}

#[test]
fn table_starts_masked_and_holds_what_is_written() {
    let (_, table, _) = with_sink();
    assert_eq!(
        (table.vector_count(), table.table_len(), table.pba_len()),
        (9, 144, 8)
    );
    for v in 0..9 {
        assert_eq!(
            table.read_table(v * 16 + 12, 4),
            1,
            "vector {v} masked at reset"
        );
    }
    program(&table, 3, 0x1_FEE0_0003, 0x4041);
    assert_eq!(
        table.read_table(0x30, 4),
        0xFEE0_0000,
        "address bits 1:0 read 0"
    );
    assert_eq!(table.read_table(0x30, 8), 0x1_FEE0_0000);
    assert_eq!(table.read_table(0x34, 4), 0x1);
    assert_eq!(table.read_table(0x38, 2), 0x4041);
    assert_eq!(table.read_table(0x39, 1), 0x40);
    table.write_table(0x3C, 4, 0xFFFF_FFFE);
    assert_eq!(
        table.read_table(0x3C, 4),
        0,
        "reserved vector control bits read 0"
    );
    table.write_table(0x38, 8, 0x0000_0001_1234_5678);
    assert_eq!(table.read_table(0x38, 4), 0x1234_5678);
    assert!(
        table.is_masked(3),
        "a qword write sets data and mask together"
    );
}

#[test]
fn placement_is_read_back_from_the_capability() {
    let placement = full().msix_placement().expect("MSI-X");
    let want = MsixPlacement {
        table_bar: 0,
        table_offset: 0x2000,
        pba_bar: 0,
        pba_offset: 0x3000,
    };
    assert_eq!(placement, want);
    assert_eq!(
        FunctionBuilder::new(1, 2)
            .build()
            .expect("ok")
            .msix_placement(),
        None
    );
}

#[test]
fn config_space_and_table_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<ConfigSpace>();
    shared::<MsixTable>();
}

#[test]
fn bad_table_accesses_read_all_ones_and_change_nothing() {
    let (_, table, _) = with_sink();
    assert_eq!(table.read_table(144, 4), u64::MAX, "past the table");
    assert_eq!(table.read_table(2, 4), u64::MAX, "misaligned");
    assert_eq!(table.read_table(0, 3), u64::MAX, "odd size");
    assert_eq!(table.read_table(u64::MAX - 3, 4), u64::MAX);
    table.write_table(2, 4, 0);
    table.write_table(140, 8, 0);
    assert!(table.is_masked(0) && table.is_masked(8));
    assert_eq!(table.read_pba(8, 8), u64::MAX);
    assert_eq!(
        table.fire(9),
        Err(VectorOutOfRange {
            vector: 9,
            count: 9
        })
    );
}

#[test]
fn fire_delivers_only_when_enabled_and_unmasked() {
    let (mut cfg, table, got) = with_sink();
    program(&table, 2, 0xFEE0_1000, 0x22);
    table.write_table(0x2C, 4, 0);
    assert_eq!(table.fire(2), Ok(FireOutcome::Pending), "MSI-X disabled");
    assert_eq!(table.read_pba(0, 8), 1 << 2);
    cfg.write(0x82, Word, 0x8000);
    assert!(cfg.msix_enabled() && table.is_enabled());
    let m = MsiMessage {
        vector: 2,
        address: 0xFEE0_1000,
        data: 0x22,
    };
    assert_eq!(*got.lock(), [m], "enabling delivers the pending vector");
    assert!(!table.is_pending(2));
    assert_eq!(table.fire(2), Ok(FireOutcome::Delivered));
    assert_eq!(got.lock().len(), 2);
    table.write_pba(0, 8, u64::MAX);
    assert_eq!(table.read_pba(0, 8), 0, "the PBA is read-only");
}

#[test]
fn bus_master_disable_holds_messages_pending() {
    let (mut cfg, table, got) = with_sink();
    cfg.write(0x82, Word, 0x8000);
    program(&table, 1, 0xFEE0_0000, 1);
    table.write_table(0x1C, 4, 0);
    cfg.write(0x04, AccessSize::Byte, 0x02);
    assert_eq!(
        table.fire(1),
        Ok(FireOutcome::Pending),
        "no memory writes without BME"
    );
    assert!(got.lock().is_empty());
    cfg.write(0x04, AccessSize::Byte, 0x06);
    assert_eq!(got.lock().len(), 1, "enabling bus mastering delivers it");
    assert!(!table.is_pending(1));
}

#[test]
fn vector_mask_holds_and_unmask_delivers_pending() {
    let (mut cfg, table, got) = with_sink();
    cfg.write(0x83, AccessSize::Byte, 0x80);
    program(&table, 8, 0xFEE0_0000, 8);
    assert_eq!(table.fire(8), Ok(FireOutcome::Pending));
    assert_eq!(
        table.fire(8),
        Ok(FireOutcome::Pending),
        "one pending bit, not a count"
    );
    assert_eq!(table.read_pba(0, 1), 0);
    assert_eq!(table.read_pba(1, 1), 1, "vector 8 is bit 0 of PBA byte 1");
    table.write_table(8 * 16 + 12, 4, 0);
    assert_eq!(got.lock().len(), 1, "unmasking delivers once");
    assert!(!table.is_pending(8));
}

#[test]
fn function_mask_holds_every_vector() {
    let (mut cfg, table, got) = with_sink();
    cfg.write(0x82, Word, 0xC000);
    assert!(cfg.msix_function_masked() && table.is_function_masked());
    for v in [0, 5] {
        program(&table, v, 0xFEE0_0000 + v * 0x1000, v as u32);
        table.write_table(v * 16 + 12, 4, 0);
        assert_eq!(table.fire(v as u16), Ok(FireOutcome::Pending));
    }
    assert!(got.lock().is_empty());
    cfg.write(0x83, AccessSize::Byte, 0x80);
    let vectors: Vec<u16> = got.lock().iter().map(|m| m.vector).collect();
    assert_eq!(
        vectors,
        [0, 5],
        "clearing Function Mask delivers every pending vector"
    );
    assert_eq!(cfg.read(0x82, Word), 0x8008, "table size stays read-only");
}

#[test]
fn a_sink_that_fires_again_does_not_deadlock() {
    let cfg = full();
    let table = cfg.msix().cloned().expect("MSI-X");
    let again = Arc::downgrade(&table);
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    table.set_sink(Arc::new(move |m| {
        *seen.lock() += 1;
        if m.vector == 0
            && let Some(t) = again.upgrade()
        {
            let _ = t.fire(1);
        }
    }));
    table.set_control(true, false, true);
    table.write_table(12, 4, 0);
    table.write_table(28, 4, 0);
    assert_eq!(table.fire(0), Ok(FireOutcome::Delivered));
    assert_eq!(*count.lock(), 2);
}

/// One configuration access: offset (biased to implemented registers), width, value.
fn access() -> impl Strategy<Value = (u32, AccessSize, u32)> {
    let offset = prop_oneof![0u32..0x40, 0x40u32..0xA0, 0x100u32..0x130, 0u32..0x1100];
    let size = prop_oneof![
        Just(AccessSize::Byte),
        Just(AccessSize::Word),
        Just(AccessSize::Dword)
    ];
    (offset, size, any::<u32>())
}

proptest! {
    #[test]
    fn random_writes_keep_every_invariant(
        accesses in proptest::collection::vec(access(), 0..100),
        fire in proptest::collection::vec(0u16..12, 0..8),
    ) {
        let mut cfg = full();
        let fixed = |c: &ConfigSpace| {
            let dwords = [0x00, 0x08, 0x2C, 0x34, 0x40, 0x44, 0x84, 0x88, 0x100, 0x108, 0x110, 0x118];
            let words = [0x82, 0x104, 0x10C, 0x116];
            let mut v: Vec<u32> = dwords.iter().map(|&a| c.read(a, Dword)).collect();
            v.extend(words.iter().map(|&a| c.read(a, Word) & if a == 0x82 { 0x7FF } else { 0x80FF }));
            v
        };
        let before = fixed(&cfg);
        for (i, &(offset, size, value)) in accesses.iter().enumerate() {
            cfg.write(offset, size, value);
            if let Some(&v) = fire.get(i % 16)
                && let Some(t) = cfg.msix()
            {
                let _ = t.fire(v);
            }
            prop_assert_eq!(cfg.check_invariants(), Ok(()));
            prop_assert_eq!(&fixed(&cfg), &before);
            prop_assert_eq!(cfg.read(0x1000 + offset, size), u32::MAX >> (32 - 8 * size.bytes()));
        }
    }

    #[test]
    fn random_op_streams_keep_every_invariant(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert_eq!(run_config_ops(&data), Ok(()));
    }
}
