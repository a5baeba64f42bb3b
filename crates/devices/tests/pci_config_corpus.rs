//! Replays the stored inputs of the configuration-space fuzz target, naming each that breaks
//! an invariant.

use std::path::PathBuf;

use softiommu_devices::pci::run_config_ops;

#[test]
fn stored_pci_config_inputs_keep_every_invariant() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/pci_config");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut failures = Vec::new();
    let mut ran = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        ran += 1;
        if let Err(e) = run_config_ops(&data) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran > 0, "the corpus directory exists but holds no inputs");
}
