//! Tests of the register layouts and of the register file.

mod access;
mod control;
mod gerror;
mod idr;
mod layout;
mod proptests;
mod queues;

use super::*;

/// A register file with `params`.
pub(super) fn file_with(params: SmmuParams) -> RegisterFile {
    RegisterFile::new(params).unwrap()
}

/// A register file of the full-featured SMMU.
pub(super) fn full() -> RegisterFile {
    file_with(SmmuParams::full())
}

/// A register file of the minimal SMMU.
pub(super) fn minimal() -> RegisterFile {
    file_with(SmmuParams::minimal())
}

/// Points the MSI of the source whose CFG0 is at `cfg0` at `addr` with payload `data`.
pub(super) fn msi(f: &mut RegisterFile, cfg0: u64, addr: u64, data: u32) {
    f.mmio_write(cfg0, 8, addr);
    f.mmio_write(cfg0 + 8, 4, u64::from(data));
}

/// Writes CR0 with `bits` and returns the actions.
pub(super) fn cr0(f: &mut RegisterFile, bits: Cr0) -> Vec<Action> {
    f.mmio_write(SMMU_CR0, 4, u64::from(bits.into_bits()))
}

#[test]
fn register_file_can_be_shared_between_threads() {
    fn check<T: Send + Sync>() {}
    check::<RegisterFile>();
}

#[test]
fn invalid_parameters_make_no_register_file() {
    let p = SmmuParams {
        sid_bits: 33,
        ..SmmuParams::full()
    };
    assert_eq!(
        RegisterFile::new(p).unwrap_err(),
        ParamsError::OutOfRange {
            what: "sid_bits",
            value: 33,
            min: 0,
            max: 32
        }
    );
}
