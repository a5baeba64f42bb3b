//! What the `softiommu exec` tests share: building the C programs and running them.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

/// The command under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_softiommu");
/// The copy engine most tests use.
pub const DEVICE: &str = "dsa@0000:00:04.0";

/// Builds `tests/exec/NAME.c` with `cc` (once per run of this file) and returns the program.
pub fn build(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/exec/{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exec-{name}"));
    let st = Command::new("cc")
        .args(["-Wall", "-Werror", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc runs (the system C compiler and linux-libc-dev 6.2 or newer are needed)");
    assert!(st.success(), "cc could not build {}", src.display());
    built.push((name.to_string(), out.clone()));
    out
}

/// `softiommu exec ARGS -- PROGRAM` with `input` on its standard input.
pub fn exec(args: &[&str], program: &Path, input: &str) -> Output {
    exec_with(args, program, &[], input)
}

/// `softiommu exec ARGS -- PROGRAM PROGRAM_ARGS` with `input` on its standard input.
pub fn exec_with(args: &[&str], program: &Path, program_args: &[&str], input: &str) -> Output {
    let mut child = Command::new(EXE)
        .arg("exec")
        .args(args)
        .arg("--")
        .arg(program)
        .args(program_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("softiommu runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("input written");
    drop(stdin);
    child.wait_with_output().expect("the program ends")
}

/// The program succeeded and its last line of output is `last`.
pub fn assert_ok(o: &Output, last: &str) {
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.lines().last() == Some(last),
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}
