//! Running the built `softiommu` binary from the tests.

// Each test file uses only some of these.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// `softiommu pgtable`, ready to take arguments.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_softiommu"));
    cmd.arg("pgtable");
    cmd
}

/// Runs `softiommu pgtable` with `args`.
pub fn pgtable(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .expect("the softiommu binary runs")
}

/// What the run printed on standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the run printed on standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file in the test's scratch directory holding `bytes`.
pub fn scratch(name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).expect("scratch file written");
    path
}

/// Runs `softiommu pgtable --file` on a scratch file `name` holding `bytes`, which must be
/// refused as a wrong mapping file (exit code 2); what the run printed on standard error.
pub fn bad_file(name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = scratch(name, bytes);
    let o = pgtable(&["--file", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
    stderr(&o)
}

/// Runs `softiommu pgtable` with `args`, which must fail with exit code `code`; what the run
/// printed on standard error.
pub fn refused(code: i32, args: &[&str]) -> String {
    let o = pgtable(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    stderr(&o)
}
