//! Body of the core API fuzz target (feature `fuzzing`): sequences of the core's public calls
//! from the fuzzer's bytes, on any driver's [`Harness`](crate::testing::Harness), each DMA
//! answer checked against a model of what the calls made so far say.

mod api;
mod model;

pub use api::api;

use crate::testing::RefHarness;

/// The API sequence of the bytes on one of the reference driver's harnesses (the first byte
/// chooses which).
pub fn reference(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let h = match first % 3 {
        0 => RefHarness::Private,
        1 => RefHarness::VtdSs,
        _ => RefHarness::ArmS1,
    };
    api(&h, rest);
}
