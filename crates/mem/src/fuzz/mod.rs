//! Fuzzing support (feature `fuzzing`): the body of the address-space fuzz target, and the
//! replay of stored fuzz inputs that every crate's replay test uses.
//!
//! A fuzz body takes the fuzzer's bytes and panics only when the library misbehaves; the
//! cargo-fuzz targets under `fuzz/` call the bodies, and the stable replay tests run every
//! stored input (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) through them.

mod alloc;
mod pick;
mod spaces;

pub use pick::{check_translation, known_or_any, mmio_offset, mmio_width};
pub use spaces::spaces;

use std::path::{Path, PathBuf};

/// The `fuzz/` directory of the repository, from a crate's manifest directory
/// (`crates/<name>`).
pub fn fuzz_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../../fuzz")
}

/// Runs `body` on every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
/// (either may be missing) and returns how many inputs ran. Every input runs; when any
/// panicked, this panics naming each such file with its panic message.
pub fn replay(manifest_dir: &str, target: &str, body: fn(&[u8])) -> usize {
    let root = fuzz_dir(manifest_dir);
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    files.sort();
    let mut ran = 0;
    let mut failed = Vec::new();
    for file in files.iter().filter(|f| f.is_file()) {
        let data = std::fs::read(file)
            .unwrap_or_else(|e| panic!("reading fuzz input {}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            failed.push(format!("{}: {why}", file.display()));
        }
        ran += 1;
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} fuzz inputs of {target} fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
    ran
}

/// Defines one `#[test]` per fuzz target, named after it, that replays the target's stored
/// inputs through its body with [`replay`] and fails when there are none:
/// `replay_tests!(pgtable_walk => softiommu_pgtable::fuzz::walk, ...)`.
#[macro_export]
macro_rules! replay_tests {
    ($($target:ident => $body:path),* $(,)?) => {$(
        #[test]
        fn $target() {
            let ran =
                $crate::fuzz::replay(env!("CARGO_MANIFEST_DIR"), stringify!($target), $body);
            assert!(ran > 0, concat!("no stored inputs for ", stringify!($target)));
        }
    )*};
}
