//! Bring-up against ID register values no SMMU reports, and against CR0ACK and GBPA never
//! acknowledging.

use proptest::prelude::*;
use softiommu_core::IommuDriver;
use softiommu_smmuv3::regs::{
    SMMU_CR0, SMMU_CR0ACK, SMMU_GBPA, SMMU_IDR0, SMMU_IDR1, SMMU_IDR3, SMMU_IDR5,
};

use super::*;

/// How many times the driver reads CR0ACK (or GBPA) for one change.
const ACK_POLLS: u64 = 10_000;

#[test]
fn reserved_id_register_values_are_refused_before_any_register_write() {
    // (register, stuck bits, their value, the register the error names)
    let cases: [(u64, u64, u64, &str); 7] = [
        (SMMU_IDR0, 0b11 << 21, 0b01 << 21, "IDR0"), // TTENDIAN 0b01
        (SMMU_IDR0, 0b11 << 24, 0b11 << 24, "IDR0"), // STALL_MODEL 0b11
        (SMMU_IDR0, 0b11 << 27, 0b10 << 27, "IDR0"), // ST_LEVEL 0b10
        (SMMU_IDR0, 0xffff_ffff, 0xffff_ffff, "IDR0"), // an SMMU that reads all ones
        (SMMU_IDR1, 0x3f, 33, "IDR1"),               // 33-bit StreamIDs
        (SMMU_IDR1, 0x1f << 6, 21 << 6, "IDR1"),     // 21-bit SubstreamIDs
        (SMMU_IDR1, 0x1f << 21, 20 << 21, "IDR1"),   // a 2^20-entry command queue
    ];
    for (reg, mask, value, name) in cases {
        let p = Parts::new(SmmuParams::full());
        p.faults.stick(reg, mask, value);
        let r = p.bring_up();
        assert!(is_bad_register(&r, name), "{reg:#x} {value:#x}: {r:?}");
        assert_eq!(p.unit.mmio_read(SMMU_CR0, 4), 0, "nothing enabled");
    }
    // Big-endian tables only: a real SMMU, but not one this driver can drive.
    let p = Parts::new(SmmuParams::full());
    p.faults.stick(SMMU_IDR0, 0b11 << 21, 0b11 << 21);
    assert!(matches!(p.bring_up(), Err(CoreError::NotSupported(_))));
}

#[test]
fn a_cr0_change_never_acknowledged_ends_bring_up_with_a_timeout() {
    // SMMUEN, PRIQEN, EVENTQEN, CMDQEN.
    for bit in 0..4 {
        let p = Parts::new(SmmuParams::full());
        p.faults.stick(SMMU_CR0ACK, 1 << bit, 0);
        let r = p.bring_up();
        match &r {
            Err(CoreError::Hardware(HwError::Timeout { what, polls })) => {
                assert!(what.contains("CR0ACK"), "{what}");
                assert_eq!(u64::from(*polls), ACK_POLLS);
            }
            other => panic!("CR0 bit {bit}: {other:?}"),
        }
        // Bounded: the earlier changes were acknowledged at their first read.
        let reads = p.faults.reads(SMMU_CR0ACK);
        assert!(reads <= ACK_POLLS + 8, "{reads}");
    }
}

#[test]
fn a_gbpa_update_that_never_clears_ends_bring_up_with_a_timeout() {
    let p = Parts::new(SmmuParams::full());
    p.faults.stick(SMMU_GBPA, 1 << 31, 1 << 31);
    let r = p.bring_up();
    assert!(is_timeout(&r), "{r:?}");
    // Bring-up's wait, then the failed driver's teardown trying to stop the SMMU: each
    // within the same bound.
    assert!(p.faults.reads(SMMU_GBPA) <= 2 * ACK_POLLS + 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random ID registers: bring-up ends (with a driver or a typed refusal) without a panic,
    /// and a driver it gives answers.
    #[test]
    fn random_id_registers_end_in_a_driver_or_a_typed_refusal(
        idr0: u32,
        idr1: u32,
        idr3: u32,
        idr5: u32,
        sane_sizes: bool,
    ) {
        let p = Parts::new(SmmuParams::full());
        // Half the cases report StreamIDs and queues of sizes the platform has room for.
        let idr1 = if sane_sizes { idr1 & !0x3f & !(0x1f << 21) | 8 | 8 << 21 } else { idr1 };
        for (reg, v) in [(SMMU_IDR0, idr0), (SMMU_IDR1, idr1), (SMMU_IDR3, idr3), (SMMU_IDR5, idr5)] {
            p.faults.set(reg, u64::from(v));
        }
        match p.bring_up() {
            Ok(d) => {
                let caps = d.caps();
                prop_assert!(caps.pasid_bits <= 20);
                prop_assert!(caps.oa_bits <= 52);
                let _ = d.submit(&[]);
            }
            Err(CoreError::Hardware(_) | CoreError::NotSupported(_) | CoreError::Mem(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
