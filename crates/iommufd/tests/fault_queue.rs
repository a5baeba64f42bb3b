//! Fault queues through the binary interface: a copy engine with ATS and PRI on VT-d, its
//! RID attached to a HWPT linked to a fault queue; a move into an IOVA the IOAS does not
//! map sends a page request that the user reads from the queue's descriptor as the
//! kernel's record, and the user's response (after mapping the page, or refusing) reaches
//! the engine through the driver's page group response.

#![allow(clippy::unwrap_used)]

mod common;

use common::pri::{PriRig, smmu_pri, vtd_pri};
use common::{Buffer, bytes_of, call, destroy, from_bytes, ioas_with, vtd};
use iommufd_bindings as k;
use softiommu_devices::dsa::{CompletionRecord, Status};
use softiommu_iommufd::*;

const SRC: u64 = 0x10_0000;
const CR: u64 = 0x20_0000;
const DST: u64 = 0x30_0000;
const LEN: usize = 4096;

/// `IOMMU_FAULT_QUEUE_ALLOC` with `flags`: (id, fd) or the errno.
fn fault_alloc(ctx: &Context, flags: u32) -> std::result::Result<(u32, i32), i32> {
    let mut c = k::iommu_fault_alloc {
        size: 16,
        flags,
        ..Default::default()
    };
    call(ctx, 0x8e, &mut c).map(|_| (c.out_fault_id, c.out_fault_fd as i32))
}

/// `IOMMU_HWPT_ALLOC` of a paging HWPT with a fault queue.
fn hwpt_with_fault(
    ctx: &Context,
    dev: u32,
    pt: u32,
    flags: u32,
    fault: u32,
) -> std::result::Result<u32, i32> {
    let mut c = k::iommu_hwpt_alloc {
        size: 48,
        flags: flags | HWPT_FAULT_ID_VALID,
        dev_id: dev,
        pt_id: pt,
        fault_id: fault,
        ..Default::default()
    };
    call(ctx, 0x89, &mut c).map(|_| c.out_hwpt_id)
}

/// Waits up to 10 s for `fd` to be readable.
fn wait_readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, as the count says.
    let r = unsafe { libc::poll(&mut p, 1, 10_000) };
    r == 1 && p.revents & libc::POLLIN != 0
}

/// `read(2)` of one record from `fd`.
fn read_fault(fd: i32) -> k::iommu_hwpt_pgfault {
    assert!(wait_readable(fd), "a fault record arrives");
    let mut b = [0u8; 40];
    // SAFETY: reads at most 40 bytes into `b`.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 40) };
    assert_eq!(n, 40);
    from_bytes(&b)
}

/// `write(2)` of one response to `fd`.
fn write_response(fd: i32, cookie: u32, code: u32) {
    let b = bytes_of(&k::iommu_hwpt_page_response { cookie, code });
    // SAFETY: writes the 8 bytes of `b`.
    let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
    assert_eq!(n, 8);
}

/// The engine's IOAS: SRC and CR mapped, DST not; a fault queue; the engine bound and
/// attached to a HWPT linked to the queue.
struct Setup {
    rig: PriRig,
    ctx: Context,
    ioas: u32,
    fault: u32,
    fd: i32,
    dev: u32,
    hwpt: u32,
    src: Buffer,
    cr: Buffer,
    dst: Buffer,
}

fn setup() -> Setup {
    setup_on(vtd_pri())
}

/// [`setup`] on `rig`.
fn setup_on(rig: PriRig) -> Setup {
    let ctx = rig.p.context(1 << 30);
    let mut src = Buffer::new(LEN, 4096);
    for (i, b) in src.bytes_mut().iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ 0x5a;
    }
    let cr = Buffer::new(4096, 4096);
    let dst = Buffer::new(LEN, 4096);
    let ioas = ioas_with(&ctx, &src, LEN as u64, SRC);
    common::ops::map(&ctx, ioas, 7, cr.addr(0), 4096, CR).unwrap();
    let (fault, fd) = fault_alloc(&ctx, 0).unwrap();
    assert!(fd >= 0);
    let dev = ctx.device_bind(rig.p.devs[0]).unwrap();
    let hwpt = hwpt_with_fault(&ctx, dev, ioas, 0, fault).unwrap();
    ctx.device_attach(dev, hwpt).unwrap();
    Setup {
        rig,
        ctx,
        ioas,
        fault,
        fd,
        dev,
        hwpt,
        src,
        cr,
        dst,
    }
}

/// Runs the move SRC → DST while `user` plays the fault queue's user.
fn move_while(s: &Setup, user: impl FnOnce(&Setup)) -> CompletionRecord {
    let cr_host = s.cr.addr(0);
    let rig = &s.rig;
    std::thread::scope(|sc| {
        let mover = sc.spawn(move || rig.memmove(SRC, DST, LEN as u32, CR, cr_host));
        user(s);
        mover.join().unwrap()
    })
}

#[test]
fn a_page_request_is_read_from_the_fault_fd_and_a_success_response_completes_the_move() {
    success_completes_the_move(setup());
}

#[test]
fn on_smmuv3_a_pri_page_request_reaches_the_fault_fd_and_the_response_the_engine() {
    success_completes_the_move(setup_on(smmu_pri()));
}

/// The move faults on DST; the user reads the record, maps the page and answers success.
fn success_completes_the_move(s: Setup) {
    let r = move_while(&s, |s| {
        let f = read_fault(s.fd);
        assert_eq!(f.dev_id, s.dev);
        assert_eq!(
            f.flags, PGFAULT_FLAGS_LAST_PAGE,
            "no PASID, last of its group"
        );
        assert_eq!(f.addr, DST);
        assert_ne!(f.perm & PGFAULT_PERM_WRITE, 0);
        assert_eq!((f.pasid, f.__reserved, f.length), (0, 0, 0));
        // The user maps the page, then answers.
        common::ops::map(&s.ctx, s.ioas, 7, s.dst.addr(0), LEN as u64, DST).unwrap();
        write_response(s.fd, f.cookie, PAGE_RESP_SUCCESS);
    });
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(s.dst.bytes(), s.src.bytes());
    assert_eq!(
        s.rig
            .p
            .host
            .iommu()
            .dma(s.rig.p.devs[0], None, DST, softiommu_pgtable::Access::WRITE)
            .unwrap()
            .pa,
        s.dst.addr(0)
    );
}

#[test]
fn an_invalid_response_ends_the_move_in_a_page_fault_completion() {
    let s = setup();
    let r = move_while(&s, |s| {
        let f = read_fault(s.fd);
        write_response(s.fd, f.cookie, PAGE_RESP_INVALID);
    });
    assert_eq!(r.status, Status::PageFaultIr as u8, "{r:?}");
    assert_eq!(r.fault_addr, DST);
    assert!(s.dst.bytes().iter().all(|&b| b == 0));
}

#[test]
fn bad_reads_and_writes_get_the_kernel_s_errors() {
    let s = setup();
    let r = move_while(&s, |s| {
        assert!(wait_readable(s.fd));
        let mut b = [0u8; 79];
        let e = s.ctx.fault_read(s.fault, &mut b).unwrap_err();
        assert_eq!(e.errno(), libc::ESPIPE);
        let mut b = [0u8; 80];
        assert_eq!(s.ctx.fault_read(s.fault, &mut b).unwrap(), 40);
        let f: k::iommu_hwpt_pgfault = from_bytes(&b);
        let resp = |cookie, code| bytes_of(&k::iommu_hwpt_page_response { cookie, code });
        // A short write, an unknown cookie, a bad code.
        let e = s
            .ctx
            .fault_write(s.fault, &resp(f.cookie, 0)[..7])
            .unwrap_err();
        assert_eq!(e.errno(), libc::ESPIPE);
        let e = s
            .ctx
            .fault_write(s.fault, &resp(f.cookie ^ 0x55, 0))
            .unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL);
        let e = s.ctx.fault_write(s.fault, &resp(f.cookie, 2)).unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL);
        // Two responses, the second bad: the first is taken, its bytes counted.
        let mut two = resp(f.cookie, PAGE_RESP_INVALID);
        two.extend(resp(f.cookie, PAGE_RESP_INVALID));
        assert_eq!(s.ctx.fault_write(s.fault, &two).unwrap(), 8);
    });
    assert_eq!(r.status, Status::PageFaultIr as u8, "{r:?}");
}

#[test]
fn detaching_answers_outstanding_faults_invalid() {
    let s = setup();
    let t = std::time::Instant::now();
    let r = move_while(&s, |s| {
        let _ = read_fault(s.fd);
        s.ctx.device_detach(s.dev).unwrap();
    });
    // The engine was answered at once (not after its 10 s response timeout); with its DMA
    // blocked it cannot write the completion record, nor anything else.
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(r.status, Status::None as u8, "{r:?}");
    assert!(s.dst.bytes().iter().all(|&b| b == 0));
    let fq = s.ctx.fault_read(s.fault, &mut [0u8; 40]).unwrap();
    assert_eq!(fq, 0, "nothing more to read");
}

#[test]
fn fault_queue_rules() {
    let s = setup();
    let ctx = &s.ctx;
    // Flags must be 0.
    assert_eq!(fault_alloc(ctx, 1), Err(libc::EOPNOTSUPP));
    // The fault id must name a fault queue.
    assert_eq!(
        hwpt_with_fault(ctx, s.dev, s.ioas, 0, s.ioas),
        Err(libc::ENOENT)
    );
    assert_eq!(
        hwpt_with_fault(ctx, s.dev, s.ioas, 0, 999),
        Err(libc::ENOENT)
    );
    // A nesting parent takes no fault queue.
    assert_eq!(
        hwpt_with_fault(ctx, s.dev, s.ioas, HWPT_ALLOC_NEST_PARENT, s.fault),
        Err(libc::EOPNOTSUPP)
    );
    // A nested HWPT takes a fault queue (its only flag); with a bad id it is ENOENT.
    let parent = common::hwpt_alloc(ctx, s.dev, s.ioas, HWPT_ALLOC_NEST_PARENT, 0, &[]).unwrap();
    let s1 = bytes_of(&k::iommu_hwpt_vtd_s1 {
        flags: 0,
        pgtbl_addr: 0x40_0000,
        addr_width: 48,
        __reserved: 0,
    });
    let nested = |flags: u32, fault: u32| {
        let mut c = k::iommu_hwpt_alloc {
            size: 48,
            flags,
            dev_id: s.dev,
            pt_id: parent,
            data_type: HWPT_DATA_VTD_S1,
            data_len: s1.len() as u32,
            data_uptr: s1.as_ptr() as u64,
            fault_id: fault,
            ..Default::default()
        };
        call(ctx, 0x89, &mut c).map(|_| c.out_hwpt_id)
    };
    let n = nested(HWPT_FAULT_ID_VALID, s.fault).unwrap();
    assert_eq!(nested(HWPT_FAULT_ID_VALID, parent), Err(libc::ENOENT));
    assert_eq!(
        nested(HWPT_FAULT_ID_VALID | HWPT_ALLOC_DIRTY_TRACKING, s.fault),
        Err(libc::EOPNOTSUPP)
    );
    destroy(ctx, n).unwrap();
    destroy(ctx, parent).unwrap();
    // In use by a HWPT: EBUSY; free once the HWPT is gone.
    assert_eq!(destroy(ctx, s.fault), Err(libc::EBUSY));
    ctx.device_detach(s.dev).unwrap();
    destroy(ctx, s.hwpt).unwrap();
    destroy(ctx, s.fault).unwrap();
    common::dsa::close(s.fd);
    // A device that sends no page requests cannot be attached to a faulting HWPT.
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(4096, 4096);
    let ioas = ioas_with(&ctx, &buf, 4096, SRC);
    let (fault, fd) = fault_alloc(&ctx, 0).unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let hwpt = hwpt_with_fault(&ctx, dev, ioas, 0, fault).unwrap();
    assert_eq!(
        ctx.device_attach(dev, hwpt).unwrap_err().errno(),
        libc::ENODEV
    );
    common::dsa::close(fd);
}

#[test]
fn closing_the_descriptor_answers_outstanding_faults_invalid() {
    let s = setup();
    let t = std::time::Instant::now();
    let r = move_while(&s, |s| {
        let _ = read_fault(s.fd);
        common::dsa::close(s.fd);
    });
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(r.status, Status::PageFaultIr as u8, "{r:?}");
    assert!(s.dst.bytes().iter().all(|&b| b == 0));
    let e = s.ctx.fault_read(s.fault, &mut [0u8; 40]).unwrap_err();
    assert_eq!(e.errno(), libc::EBADF);
}
