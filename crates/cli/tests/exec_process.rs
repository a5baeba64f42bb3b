//! `softiommu exec` and how programs live: waiting on softiommu's descriptors with poll,
//! select and epoll, forking and executing, and a device list for larger set-ups.

mod exec_common;

use std::path::Path;
use std::process::Command;

use exec_common::{DEVICE, EXE, assert_ok, build, exec_with};

/// A fault queue's page requests waited for with poll, ppoll and epoll (the mock IOMMU's
/// test channel sends them).
#[test]
fn a_fault_queue_is_waited_on_with_poll_and_epoll() {
    let prog = build("poll_fds");
    assert_ok(
        &exec_with(&["--iommu", "mock"], &prog, &["fault"], ""),
        "ok",
    );
}

/// An MSI-X eventfd of a VFIO device waited for with select and pselect.
#[test]
fn an_msix_eventfd_is_waited_on_with_select() {
    let prog = build("poll_fds");
    assert_ok(
        &exec_with(&["--device", DEVICE], &prog, &["msix"], ""),
        "ok",
    );
}

/// `--devices FILE`: every listed engine is the program's, after those of `--device`.
#[test]
fn a_device_list_file_adds_its_devices() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let list = dir.join("exec-devices-ok.txt");
    std::fs::write(
        &list,
        "# two engines\n\ndsa@0000:00:05.0\n   dsa@00:06.0  # the third\n",
    )
    .expect("list written");
    let o = Command::new(EXE)
        .args(["exec", "--device", DEVICE, "--devices"])
        .arg(&list)
        .args(["--", "readlink"])
        .args(["4", "5", "6"].map(|d| format!("/sys/bus/pci/devices/0000:00:0{d}.0/iommu_group")))
        .output()
        .expect("softiommu runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let groups: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        groups,
        ["0", "1", "2"].map(|g| format!("../../../kernel/iommu_groups/{g}")),
        "one group per engine, in the order given"
    );
}

/// A wrong line stops the command before the program starts, naming the file and the line.
#[test]
fn a_wrong_device_list_names_its_line_and_stops() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mark = dir.join("exec-devices-ran");
    let _ = std::fs::remove_file(&mark);
    let cases: [(&str, &str, &str); 4] = [
        ("bad-kind", "dsa@00:04.0\n# fine\nnic@00:05.0\n", "line 3"),
        ("bad-bdf", "dsa@00:4g.0\n", "line 1"),
        ("twice", "dsa@00:05.0\n\n\ndsa@0000:00:05.0\n", "line 4"),
        (
            "with-option",
            "dsa@0000:00:04.0\n",
            "two devices at 0000:00:04.0",
        ),
    ];
    for (name, text, want) in cases {
        let list = dir.join(format!("exec-devices-{name}.txt"));
        std::fs::write(&list, text).expect("list written");
        let o = Command::new(EXE)
            .args(["exec", "--device", DEVICE, "--devices"])
            .arg(&list)
            .arg("--")
            .arg("touch")
            .arg(&mark)
            .output()
            .expect("softiommu runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr}");
        assert!(!mark.exists(), "{name} started the program");
    }
    let o = Command::new(EXE)
        .args([
            "exec",
            "--devices",
            "/nonexistent/devices.txt",
            "--",
            "true",
        ])
        .output()
        .expect("softiommu runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/devices.txt"), "{stderr}");
}

/// A forked child maps DMA of its own and runs a move on the engine its parent set up; the
/// parent's own move works after it.
#[test]
fn a_forked_child_maps_dma_and_moves_bytes() {
    let prog = build("fork_exec");
    assert_ok(
        &exec_with(&["--device", DEVICE], &prog, &["fork"], ""),
        "ok",
    );
}

/// A program that executes itself finds its close-on-exec descriptors gone and a fresh
/// platform behind /dev/iommu.
#[test]
fn an_executed_program_gets_a_fresh_platform() {
    let prog = build("fork_exec");
    assert_ok(&exec_with(&["--iommu", "mock"], &prog, &["exec"], ""), "ok");
}

/// The kernel selftests' way: a child per test, many descriptors in each.
#[test]
fn a_harness_forking_per_test_runs_every_test() {
    let prog = build("fork_exec");
    assert_ok(
        &exec_with(&["--iommu", "mock"], &prog, &["harness"], ""),
        "ok",
    );
}

/// A fault queue made before a fork is destroyed in the child (whose copy has no service
/// thread) without the child hanging, and then in the parent.
#[test]
fn a_fault_queue_made_before_a_fork_is_destroyed_in_both() {
    let prog = build("fork_exec");
    assert_ok(
        &exec_with(&["--iommu", "mock"], &prog, &["queue"], ""),
        "ok",
    );
}

/// A mapped BAR survives `mprotect`, a move and a shrink with `mremap`, and a partial
/// `munmap`; growing it fails with `EFAULT` as for the kernel's `VM_PFNMAP` mappings.
#[test]
fn a_mapped_bar_keeps_its_trap_through_mprotect_mremap_and_munmap() {
    let prog = build("bar_remap");
    assert_ok(&exec_with(&["--device", DEVICE], &prog, &[], ""), "ok");
}
