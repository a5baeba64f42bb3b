//! `softiommu exec` and `fork`: a child forked while other threads are inside the library
//! finds it usable, and a fault queue inherited across a fork fails cleanly in the child.

mod exec_common;

use exec_common::{assert_ok, build, exec_within};

/// Three threads hammer `/dev/iommu` while the main thread forks 150 times; each child
/// allocates, maps and unmaps on a fresh and on the inherited descriptor, and ends.
#[test]
fn forking_while_threads_hammer_ioctls_never_hangs_the_child() {
    let prog = build("fork_threads");
    let out = exec_within(20, &[], &prog, &[]);
    let out = out.expect("the program (or one of its children) hung");
    assert_ok(&out, "ok");
}

/// A fault queue's descriptor is one file in the parent and a forked child: the child reads
/// and answers the parent's record, and its own copy of the device faulting puts nothing on
/// the shared file; the parent's queue works on after the child ends.
#[test]
fn an_inherited_fault_queue_is_the_parents_in_the_child() {
    let prog = build("fork_fault");
    let out = exec_within(20, &["--iommu", "mock"], &prog, &[]);
    assert_ok(&out.expect("the program hung"), "ok");
}
