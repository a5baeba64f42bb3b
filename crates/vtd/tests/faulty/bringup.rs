//! Bring-up against CAP/ECAP values no unit reports, and against GSTS never acknowledging a
//! command.

use proptest::prelude::*;
use softiommu_core::IommuDriver;
use softiommu_vtd::regs::{CAP_REG, ECAP_REG, GSTS_REG};

use super::*;

/// How many times the driver reads GSTS for one command before giving up.
const GSTS_POLLS: u64 = 1000;

#[test]
fn reserved_and_contradictory_capabilities_are_refused_before_any_register_write() {
    let nest = 1 << 26;
    let fsts = 1 << 47;
    // (register, stuck bits, their value, the register the error names)
    let cases: [(u64, u64, u64, &str); 7] = [
        (CAP_REG, 0b111, 0b111, "CAP"),             // ND 7 is reserved
        (CAP_REG, 0xf << 34, 0b0010 << 34, "CAP"),  // SSLPS 0010
        (CAP_REG, 1 << 4, 1 << 4, "CAP"),           // RWBF in scalable mode
        (CAP_REG, u64::MAX, u64::MAX, "CAP"),       // a unit that reads all ones
        (ECAP_REG, 0x1f << 35, 0x1f << 35, "ECAP"), // a 32-bit PASID width
        (ECAP_REG, nest | fsts, nest, "ECAP"),      // NEST without FSTS
        (ECAP_REG, 1 << 1, 0, "ECAP"),              // SMTS without QI
    ];
    for (reg, mask, value, name) in cases {
        let p = Parts::new(VtdParams::default());
        p.faults.stick(reg, mask, value);
        let r = p.bring_up();
        assert!(is_bad_register(&r, name), "{reg:#x} {value:#x}: {r:?}");
        // Refused before anything was enabled.
        assert_eq!(p.unit.mmio_read(GSTS_REG, 4), 0);
    }
    // A unit that reads all zeros has no scalable mode: not supported, not broken.
    let p = Parts::new(VtdParams::default());
    p.faults.set(ECAP_REG, 0);
    assert!(matches!(p.bring_up(), Err(CoreError::NotSupported(_))));
}

#[test]
fn a_command_gsts_never_acknowledges_ends_bring_up_with_a_timeout() {
    // (GSTS bit, the status the timeout names)
    for (bit, what) in [(30, "RTPS"), (26, "QIES"), (31, "TES")] {
        let p = Parts::new(VtdParams::default());
        p.faults.stick(GSTS_REG, 1 << bit, 0);
        let r = p.bring_up();
        match &r {
            Err(CoreError::Hardware(HwError::Timeout { what: w, polls })) => {
                assert!(w.contains(what), "{w}");
                assert_eq!(u64::from(*polls), GSTS_POLLS);
            }
            other => panic!("GSTS bit {bit}: {other:?}"),
        }
        // Bounded: each earlier command read GSTS twice, this one its polls and one more.
        assert!(
            p.faults.reads(GSTS_REG) <= GSTS_POLLS + 8,
            "{}",
            p.faults.reads(GSTS_REG)
        );
    }
}

#[test]
fn a_gsts_that_reads_all_ones_ends_bring_up_or_later_calls_in_bounded_time() {
    // Every command looks acknowledged at once, and every GCMD write also sets every level
    // bit: the queue is enabled before it is programmed.
    let p = Parts::new(VtdParams::default());
    p.faults.set(GSTS_REG, u64::from(u32::MAX));
    match p.bring_up() {
        Ok(d) => {
            let r = d.invalidate(&[]);
            assert!(
                r.is_ok() || matches!(r, Err(CoreError::Hardware(_))),
                "{r:?}"
            );
        }
        Err(e) => assert!(matches!(e, CoreError::Hardware(_)), "{e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random CAP and ECAP: bring-up ends (with a driver or a typed refusal) without a panic,
    /// and a driver it gives answers.
    #[test]
    fn random_capabilities_end_in_a_driver_or_a_typed_refusal(cap: u64, ecap: u64, keep_mode: bool) {
        let p = Parts::new(VtdParams::default());
        p.faults.set(CAP_REG, cap);
        // Half the cases keep SMTS and QI, so that they get past the first refusal.
        p.faults.set(ECAP_REG, if keep_mode { ecap | 1 << 43 | 1 << 1 } else { ecap });
        match p.bring_up() {
            Ok(d) => {
                let caps = d.caps();
                prop_assert!(caps.pasid_bits <= 20);
                prop_assert!(caps.oa_bits <= 52);
                // The queue answers, one way or the other.
                let _ = d.invalidate(&[]);
            }
            Err(CoreError::Hardware(HwError::BadRegister { .. }))
            | Err(CoreError::NotSupported(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
