//! An mdev's PASID attached to a HWPT with a fault queue: the parent driver turns the
//! parent's PRI on and its descriptors block on faults, so a move into an IOVA the IOAS
//! lacks becomes a page request at the mdev's PASID, read from the queue under the mdev's
//! device id; the user's answer (after mapping the page, or refusing) ends the move.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pri::{PriRig, smmu_pri};
use common::wq::{Driver, bind, dedicated};
use common::{Buffer, Platform, ops, smmu_with};
use softiommu_core::{DeviceCaps, Rid};
use softiommu_devices::dsa::{DsaConfig, DsaFunction, Status};
use softiommu_iommufd::vfio::{MdevParent, VfioDevice, VfioPci};
use softiommu_iommufd::{
    Context, HWPT_ALLOC_NEST_PARENT, HWPT_ALLOC_PASID, HWPT_FAULT_ID_VALID, HwptData,
    MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE, PAGE_RESP_INVALID, PAGE_RESP_SUCCESS,
    PGFAULT_FLAGS_PASID_VALID, PGFAULT_SIZE,
};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const LEN: u32 = 0x1000;

/// An mdev of an SMMUv3 engine with PRI, bound to a context whose IOAS maps SRC and CR but
/// not DST; its PASID attached to a HWPT with a fault queue.
struct Setup {
    p: Platform,
    parent: Arc<MdevParent>,
    name: String,
    ctx: Arc<Context>,
    ioas: u32,
    dev: VfioDevice,
    id: u32,
    fault: u32,
    fd: i32,
    src: Buffer,
    dst: Buffer,
    cr: Buffer,
}

fn setup() -> Setup {
    let PriRig { p, function } = smmu_pri();
    // The rig's own function leaves the bus; the mdev parent's takes its place.
    drop(function);
    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = DsaFunction::new(DsaConfig::default(), port, rid).expect("engine");
    f.port().set_page_response_timeout(Duration::from_secs(10));
    let parent = MdevParent::new(&vfio, p.devs[0], rid, Arc::new(f)).expect("parent");
    assert!(parent.uses_pasid());
    let name = parent.create().expect("mdev");
    let ctx = Arc::new(p.context(1 << 30));
    let ioas = ops::ioas_alloc(&ctx);
    let mut src = Buffer::new(LEN as usize, 4096);
    for (i, b) in src.bytes_mut().iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13) ^ 0x3c;
    }
    let (dst, cr) = (Buffer::new(LEN as usize, 4096), Buffer::new(4096, 4096));
    ops::map(&ctx, ioas, RW, src.addr(0), u64::from(LEN), SRC).unwrap();
    ops::map(&ctx, ioas, RW, cr.addr(0), 4096, CR).unwrap();
    let dev = parent.open(&name).unwrap();
    let id = bind(&dev, &ctx).unwrap();
    let (fault, fd) = ctx.fault_queue_alloc().unwrap();
    Setup {
        p,
        parent,
        name,
        ctx,
        ioas,
        dev,
        id,
        fault,
        fd,
        src,
        dst,
        cr,
    }
}

impl Setup {
    /// A HWPT for the mdev's PASID linked to the fault queue, the mdev attached to it and
    /// its engine brought up.
    fn attach_faulting(&self) -> u32 {
        let flags = HWPT_ALLOC_PASID | HWPT_FAULT_ID_VALID;
        let hwpt = self
            .ctx
            .hwpt_alloc_with(self.id, self.ioas, flags, HwptData::None, self.fault)
            .expect("an mdev's HWPT with a fault queue");
        assert_eq!(self.dev.attach_pt(hwpt).unwrap(), hwpt);
        Driver { dev: &self.dev }.bring_up(dedicated(None));
        hwpt
    }

    /// Runs the move SRC → DST on the mdev while `user`, on a thread of its own, plays the
    /// queue's user.
    fn move_while(
        &mut self,
        user: impl FnOnce(&QueueUser) + Send,
    ) -> softiommu_devices::dsa::CompletionRecord {
        let q = QueueUser {
            ctx: self.ctx.clone(),
            ioas: self.ioas,
            id: self.id,
            fd: self.fd,
            dst: self.dst.addr(0),
        };
        std::thread::scope(|sc| {
            let t = sc.spawn(move || user(&q));
            let rec = Driver { dev: &self.dev }.memmove(SRC, DST, LEN, CR, &mut self.cr);
            t.join().unwrap();
            rec
        })
    }
}

/// What the fault queue's user has: the context, the IOAS, the mdev's id, the queue's
/// descriptor and the host address of DST's buffer.
struct QueueUser {
    ctx: Arc<Context>,
    ioas: u32,
    id: u32,
    fd: i32,
    dst: u64,
}

/// One record from `fd`: (flags, dev_id, pasid, addr, cookie).
fn read_fault(fd: i32) -> (u32, u32, u32, u64, u32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, as the count says.
    let r = unsafe { libc::poll(&mut p, 1, 10_000) };
    assert_eq!(r, 1, "a fault record arrives");
    let mut b = [0u8; PGFAULT_SIZE];
    // SAFETY: reads at most the buffer's length into it.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
    assert_eq!(n, PGFAULT_SIZE as isize);
    let w = |at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
    let addr = u64::from_ne_bytes(b[24..32].try_into().unwrap());
    (w(0), w(4), w(8), addr, w(36))
}

/// Writes the response `code` for group `cookie` to `fd`.
fn respond(fd: i32, cookie: u32, code: u32) {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&cookie.to_ne_bytes());
    b[4..].copy_from_slice(&code.to_ne_bytes());
    // SAFETY: writes the 8 bytes of `b`.
    let n = unsafe { libc::write(fd, b.as_ptr().cast(), 8) };
    assert_eq!(n, 8);
}

#[test]
fn a_fault_at_an_mdev_s_pasid_reaches_its_fault_queue_and_a_success_completes_the_move() {
    let mut s = setup();
    s.attach_faulting();
    let pasid = s.parent.pasid_of(&s.name).unwrap().unwrap();
    let rec = s.move_while(|s| {
        let (flags, dev_id, at, addr, cookie) = read_fault(s.fd);
        assert_eq!(dev_id, s.id, "the record names the mdev");
        assert_ne!(flags & PGFAULT_FLAGS_PASID_VALID, 0);
        assert_eq!(at, pasid, "at the mdev's PASID of the parent");
        assert_eq!(addr, DST);
        ops::map(&s.ctx, s.ioas, RW, s.dst, u64::from(LEN), DST).unwrap();
        respond(s.fd, cookie, PAGE_RESP_SUCCESS);
    });
    assert_eq!(rec.status, Status::Success as u8, "{rec:?}");
    assert_eq!(s.dst.bytes(), s.src.bytes());
}

#[test]
fn an_invalid_answer_ends_an_mdev_s_move_in_a_page_fault() {
    let mut s = setup();
    s.attach_faulting();
    let rec = s.move_while(|s| {
        let (_, _, _, addr, cookie) = read_fault(s.fd);
        assert_eq!(addr, DST);
        respond(s.fd, cookie, PAGE_RESP_INVALID);
    });
    assert_ne!(rec.status, Status::Success as u8, "{rec:?}");
    assert_eq!(rec.fault_addr, DST);
    assert!(s.dst.bytes().iter().all(|&b| b == 0));
    // Attached to the IOAS itself, the mdev's faults no longer block on the queue.
    s.dev.attach_pt(s.ioas).unwrap();
    let rec = Driver { dev: &s.dev }.memmove(SRC, DST, LEN, CR, &mut s.cr);
    assert_ne!(rec.status, Status::Success as u8, "{rec:?}");
    let _ = &s.p;
}

#[test]
fn an_mdev_s_fault_queue_needs_a_parent_with_page_requests_and_no_nesting_parent() {
    let p = smmu_with(
        1,
        DeviceCaps {
            pasid_bits: 20,
            ats: false,
            pri: false,
        },
    );
    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = DsaFunction::new(DsaConfig::default(), port, rid).expect("engine");
    let parent = MdevParent::new(&vfio, p.devs[0], rid, Arc::new(f)).expect("parent");
    let name = parent.create().unwrap();
    let ctx = Arc::new(p.context(1 << 30));
    let ioas = ops::ioas_alloc(&ctx);
    let dev = parent.open(&name).unwrap();
    let id = bind(&dev, &ctx).unwrap();
    let (fault, _fd) = ctx.fault_queue_alloc().unwrap();
    let nest = HWPT_ALLOC_NEST_PARENT | HWPT_FAULT_ID_VALID;
    let e = ctx
        .hwpt_alloc_with(id, ioas, nest, HwptData::None, fault)
        .unwrap_err();
    assert_eq!(e.errno(), libc::EOPNOTSUPP);
    let e = ctx
        .hwpt_alloc_with(
            id,
            ioas,
            HWPT_ALLOC_PASID | HWPT_FAULT_ID_VALID,
            HwptData::None,
            999,
        )
        .unwrap_err();
    assert_eq!(e.errno(), libc::ENOENT, "no such fault queue");
    let flags = HWPT_ALLOC_PASID | HWPT_FAULT_ID_VALID;
    let hwpt = ctx
        .hwpt_alloc_with(id, ioas, flags, HwptData::None, fault)
        .unwrap();
    let e = dev.attach_pt(hwpt).unwrap_err();
    assert_eq!(e.errno(), libc::ENODEV, "the parent sends no page requests");
    // The IOAS itself still takes the mdev.
    dev.attach_pt(ioas).unwrap();
}
