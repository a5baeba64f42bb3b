//! `softiommu exec --trace`: what the program did and what the hardware answered, on
//! standard error.

mod exec_common;

use exec_common::{DEVICE, assert_ok, build, exec_with};

/// The DSA driver's calls with their decoded arguments, its BAR accesses, the VT-d unit's
/// invalidations and the fault its move from an unmapped IOVA records.
#[test]
fn the_trace_shows_calls_bar_accesses_and_faults() {
    let prog = build("dsa_user");
    let o = exec_with(&["--trace", "--device", DEVICE], &prog, &[], "");
    assert_ok(&o, "ok");
    let stderr = String::from_utf8_lossy(&o.stderr);
    for want in [
        "softiommu: open(/dev/vfio/vfio, 0x2) = 3",
        "VFIO_SET_IOMMU{ type=0x3 }) = 0",
        "VFIO_IOMMU_MAP_DMA{ flags=0x3 vaddr=",
        " iova=0x100000 size=0x1000 }) = 0",
        "VFIO_GROUP_GET_DEVICE_FD{ name=\"0000:00:04.0\" }) = ",
        "VFIO_DEVICE_GET_REGION_INFO{ flags=0xf index=0 size=0x10000 offset=0x0 }) = 0",
        // The command register in configuration space; the mappings the kernel refuses and
        // the portal's.
        "softiommu: pwrite(5, 2, region 7+0x4) = 2",
        "softiommu: mmap(5, region 0+0x0, 0x1000, flags 0x2) = -1 EINVAL",
        "softiommu: mmap(5, region 2+0x0, 0x2000, flags 0x1) = 0x",
        // The reset command written to CMD, its status read back from CMDSTS.
        "softiommu: mmio write BAR0+0xa0 size 4 0x500000",
        "softiommu: mmio read BAR0+0xa8 size 4 = 0x0",
        "softiommu: mmio Movdir64b BAR2+0x0 size 64",
        "softiommu: vtd: invalidation queue descriptor=Iotlb(",
        "softiommu: vtd: fault recorded sid=0x0020 pasid=None addr=0x40000000 write=false",
    ] {
        assert!(stderr.contains(want), "`{want}` missing from:\n{stderr}");
    }
}

/// The mock IOMMU's page requests and their responses, and the calls that fail with their
/// errno; nothing at all without `--trace`.
#[test]
fn the_trace_shows_page_requests_responses_and_errnos() {
    let prog = build("poll_fds");
    let o = exec_with(&["--trace", "--iommu", "mock"], &prog, &["fault"], "");
    assert_ok(&o, "ok");
    let stderr = String::from_utf8_lossy(&o.stderr);
    for want in [
        "IOMMU_IOAS_ALLOC{ flags=0x0 out_ioas_id=1 }) = 0",
        "IOMMU_FAULT_QUEUE_ALLOC{ flags=0x0 out_fault_id=",
        "IOMMU_HWPT_ALLOC{ flags=0x4 ",
        " data_type=0xdead fault_id=",
        "IOMMU_DESTROY{ id=9999 }) = -1 ENOENT",
        "softiommu: core: I/O page fault request=PageRequest {",
        "softiommu: core: page response response=PageResponse {",
    ] {
        assert!(stderr.contains(want), "`{want}` missing from:\n{stderr}");
    }
    let o = exec_with(&["--iommu", "mock"], &prog, &["fault"], "");
    assert_ok(&o, "ok");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// On SMMUv3: the driver's commands and the event of the faulting move.
#[test]
fn the_trace_shows_smmuv3_commands_and_fault_events() {
    let prog = build("dsa_user");
    let args = [
        "--trace",
        "--iommu",
        "smmuv3",
        "--memlock",
        "64M",
        "--device",
        DEVICE,
    ];
    let o = exec_with(&args, &prog, &[], "");
    assert_ok(&o, "ok");
    let stderr = String::from_utf8_lossy(&o.stderr);
    for want in [
        "softiommu: smmuv3: command queue command=CfgiSte(",
        "softiommu: smmuv3: command queue command=CmdSync(",
        "softiommu: smmuv3: fault event event=Event { id: Translation, sid: 32, ssid: None, addr: 1073741824,",
    ] {
        assert!(stderr.contains(want), "`{want}` missing from:\n{stderr}");
    }
}
