//! Tests of the register layouts and of the register file.

mod access;
mod cap;
mod events;
mod faults;
mod gcmd;
mod layout;
mod proptests;
mod queues;

use std::sync::{Arc, Mutex};

use super::*;

/// A sink that keeps every interrupt.
#[derive(Default)]
pub(super) struct Recorder(Mutex<Vec<(Event, u64, u32)>>);

impl InterruptSink for Recorder {
    fn interrupt(&self, which: Event, addr: u64, data: u32) {
        self.0.lock().unwrap().push((which, addr, data));
    }
}

impl Recorder {
    /// The interrupts so far, forgetting them.
    pub(super) fn take(&self) -> Vec<(Event, u64, u32)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A register file with `params` and a recording sink.
pub(super) fn file_with(params: VtdParams) -> (RegisterFile, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let f = RegisterFile::new(params, rec.clone()).unwrap();
    (f, rec)
}

/// A register file with the default parameters.
pub(super) fn file() -> (RegisterFile, Arc<Recorder>) {
    file_with(VtdParams::default())
}

/// Parameters with interrupt remapping and the virtual command interface on.
pub(super) fn all_params() -> VtdParams {
    VtdParams {
        interrupt_remapping: true,
        virtual_command: true,
        ..Default::default()
    }
}

#[test]
fn register_file_can_be_shared_between_threads() {
    fn check<T: Send + Sync>() {}
    check::<RegisterFile>();
}

#[test]
fn a_closure_is_a_sink() {
    let sink: Arc<dyn InterruptSink> = Arc::new(|_: Event, _: u64, _: u32| {});
    let mut f = RegisterFile::new(VtdParams::default(), sink).unwrap();
    f.write(FECTL_REG, 4, 0);
    f.set_iwc();
}

#[test]
fn invalid_parameters_make_no_register_file() {
    let p = VtdParams {
        fault_records: 0,
        ..Default::default()
    };
    let sink: Arc<dyn InterruptSink> = Arc::new(Recorder::default());
    assert!(matches!(
        RegisterFile::new(p, sink),
        Err(ParamsError::OutOfRange {
            what: "fault_records",
            ..
        })
    ));
}
