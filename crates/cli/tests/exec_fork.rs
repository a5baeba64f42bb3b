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
