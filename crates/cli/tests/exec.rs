//! `softiommu exec`: C programs built with the system's compiler against the system's own
//! `<linux/iommufd.h>` and `<linux/vfio.h>`, run unmodified under the preload library.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;

mod exec_common;

use exec_common::{DEVICE, EXE, assert_ok, build, exec};

#[test]
fn a_c_vfio_user_runs_unmodified_on_vtd() {
    let prog = build("vfio_user");
    assert_ok(&exec(&["--device", DEVICE], &prog, ""), "ok");
}

#[test]
fn a_c_vfio_user_runs_unmodified_on_smmuv3() {
    let prog = build("vfio_user");
    let o = exec(
        &["--iommu", "smmuv3", "--device", DEVICE, "--memlock", "64M"],
        &prog,
        "",
    );
    assert_ok(&o, "ok");
}

/// The DSA user-space driver: MMIO through the mapped BAR 0, `movdir64b` to the mapped
/// portal (`SIGILL` served by the trap where the processor lacks it), the completion record
/// and the MSI-X eventfd, a fault for an unmapped IOVA.
#[test]
fn a_c_dsa_driver_moves_bytes_through_the_mapped_bars_on_vtd() {
    let prog = build("dsa_user");
    assert_ok(&exec(&["--device", DEVICE], &prog, ""), "ok");
}

#[test]
fn a_c_dsa_driver_moves_bytes_through_the_mapped_bars_on_smmuv3() {
    let prog = build("dsa_user");
    let o = exec(
        &["--iommu", "smmuv3", "--device", DEVICE, "--memlock", "64M"],
        &prog,
        "",
    );
    assert_ok(&o, "ok");
}

/// Descriptors closed or replaced by `dup2`, `dup3`, `close_range`, `closefrom`, `fclose`
/// and raw system calls: the numbers' next files (from `eventfd`, `open`, `memfd_create`,
/// `socketpair`) are never taken for softiommu's.
#[test]
fn closed_and_replaced_descriptors_are_never_softiommus() {
    let prog = build("fd_reuse");
    assert_ok(&exec(&["--iommu", "mock"], &prog, ""), "ok");
}

#[test]
fn wrong_options_stop_before_the_program_starts() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mark = dir.join("exec-wrong-options-ran");
    let _ = std::fs::remove_file(&mark);
    for args in [
        &["--device", "dsa@0000:00:40.0"][..],
        &["--device", "nic@0000:00:04.0"],
        &["--device", DEVICE, "--device", "dsa@00:04.0"],
        &["--iommu", "amd"],
        &["--iommu", "mock", "--device", DEVICE],
        &["--memlock", "lots"],
    ] {
        let o = Command::new(EXE)
            .arg("exec")
            .args(args)
            .args(["--", "touch"])
            .arg(&mark)
            .output()
            .expect("softiommu runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!mark.exists(), "{args:?} started the program");
    }
}

#[test]
fn the_programs_exit_code_is_the_commands() {
    let o = Command::new(EXE)
        .args(["exec", "--", "sh", "-c", "exit 7"])
        .output()
        .expect("softiommu runs");
    assert_eq!(o.status.code(), Some(7));
}

/// One call: which descriptor, the command, whether the pointer is bad, the bytes.
fn call() -> impl Strategy<Value = String> {
    let cmd = prop_oneof![
        any::<u32>(),
        // iommufd's and VFIO's own numbers, where the handlers are.
        (0x80u32..0xa1).prop_map(|nr| 0x3b00 | nr),
        (0x64u32..0x80).prop_map(|nr| 0x3b00 | nr),
    ];
    (
        0u8..4,
        cmd,
        0u8..2,
        prop::collection::vec(any::<u8>(), 1..96),
    )
        .prop_map(|(kind, cmd, bad, bytes)| {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("{kind} {cmd:x} {bad} {hex}\n")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Garbage argument bytes through the real `ioctl` in a child process never crash it.
    #[test]
    fn garbage_through_the_real_ioctl_never_crashes(calls in prop::collection::vec(call(), 1..48)) {
        let prog = build("ioctl_garbage");
        let o = exec(&["--device", DEVICE], &prog, &calls.concat());
        assert_ok(&o, "done");
    }
}
