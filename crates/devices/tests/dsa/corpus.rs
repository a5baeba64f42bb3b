//! Replays the fuzz corpus (and every prefix of each input) through the fuzz body.

use std::path::Path;

use softiommu_devices::dsa::fuzz_engine;

#[test]
fn corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dsa_engine");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        for end in 0..=data.len() {
            fuzz_engine(&data[..end]);
        }
        n += 1;
    }
    assert!(n >= 4, "the seeds are present");
}
