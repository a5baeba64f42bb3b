//! Nested HWPTs on SMMUv3 through the binary interface: a vIOMMU over a nesting parent, the
//! device's vSID as its vDEVICE, a vSTE pointing at the guest's CD table in its own memory;
//! DMA goes through the guest's stage 1 over the parent's stage 2; the guest's invalidation
//! commands on the vIOMMU make its changes visible; refusals have the kernel's errnos.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::events::smmu_events;
use common::{
    Buffer, GuestView, Platform, bytes_of, call, destroy, hwpt_alloc, invalidate, ioas_with, smmu,
    vdevice_alloc, viommu_alloc,
};
use iommufd_bindings as k;
use softiommu_core::Rid;
use softiommu_devices::bus::DmaRequest;
use softiommu_iommufd::{
    Context, HWPT_ALLOC_NEST_PARENT, HWPT_DATA_ARM_SMMUV3, INVALIDATE_DATA_ARM_SMMUV3,
    VEVENTQ_FLAG_LOST_EVENTS, VIOMMU_TYPE_ARM_SMMUV3,
};
use softiommu_mem::PageAlloc;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::{PageTable, Prot};
use softiommu_smmuv3::cd::Cd;

/// Where the guest's RAM sits in the IOAS (its guest-physical addresses).
const GPA: u64 = 0x4000_0000;
const RAM: u64 = 4 << 20;
/// The guest's tables take the first MiB of its RAM.
const TABLES: u64 = 1 << 20;
/// The IOVA the device uses, mapped by the guest's stage 1.
const IOVA: u64 = 0x1000_0000;
/// The device's virtual StreamID.
const VSID: u64 = 0x42;
/// The ASID of the guest's CD.
const ASID: u16 = 5;

/// A guest with an SMMUv3 device behind a vIOMMU.
struct Guest {
    p: Platform,
    ctx: Context,
    buf: Buffer,
    ioas: u32,
    dev: u32,
    parent: u32,
    viommu: u32,
    vdev: u32,
    view: Arc<GuestView>,
    tables: Arc<PageAlloc<Arc<GuestView>>>,
    s1: PageTable<ArmS1, Arc<GuestView>>,
    /// The guest's linear CD table (one CD), a guest-physical address.
    cd_table: u64,
}

fn s1_format() -> ArmS1 {
    ArmS1::new(ArmS1Config {
        granule: Granule::K4,
        ia_bits: 48,
        oa_bits: 48,
        ha: false,
        hd: false,
    })
    .expect("format")
}

/// The two STE words of a vSTE whose stage 1 is the linear CD table at `table`.
fn vste(table: u64) -> Vec<u8> {
    let w0 = 1 | 0b101 << 1 | (table & 0x000f_ffff_ffff_ffc0);
    bytes_of(&k::iommu_hwpt_arm_smmuv3 {
        ste: [w0.to_le(), 0],
    })
}

/// A command of two words, as `struct iommu_viommu_arm_smmuv3_invalidate`.
fn cmd(w0: u64, w1: u64) -> Vec<u8> {
    bytes_of(&k::iommu_viommu_arm_smmuv3_invalidate {
        cmd: [w0.to_le(), w1.to_le()],
    })
}

/// An SMMUv3 device bound to a context, an IOAS mapping the guest's RAM at [`GPA`], a
/// nesting parent over it, a vIOMMU and the device's vDEVICE with [`VSID`], and the
/// guest's stage 1 mapping [`IOVA`] to guest page 0x20_0000, in the CD table's one CD.
fn guest() -> Guest {
    guest_on(smmu(1))
}

/// [`guest`] on platform `p`.
fn guest_on(p: Platform) -> Guest {
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(RAM as usize, 2 << 20);
    let ioas = ioas_with(&ctx, &buf, RAM, GPA);
    let dev = ctx.device_bind(p.devs[0]).expect("set-up");
    let parent = hwpt_alloc(&ctx, dev, ioas, HWPT_ALLOC_NEST_PARENT, 0, &[]).expect("set-up");
    let viommu = viommu_alloc(&ctx, dev, parent, VIOMMU_TYPE_ARM_SMMUV3).expect("vIOMMU");
    let vdev = vdevice_alloc(&ctx, viommu, dev, VSID).expect("vDEVICE");
    let view = Arc::new(GuestView {
        mem: p.host.mem().clone(),
        host: buf.addr(0),
        gpa: GPA,
        len: RAM,
    });
    let tables = Arc::new(PageAlloc::new(view.clone(), GPA, TABLES).expect("set-up"));
    let mut s1 = PageTable::new(s1_format(), tables.clone()).expect("set-up");
    s1.map(IOVA, GPA + 0x20_0000, 0x1000, Prot::RW)
        .expect("set-up");
    let cd_table = tables.alloc(4096).expect("set-up");
    Cd::for_table(&s1_format(), s1.root(), ASID)
        .write(&*view, cd_table)
        .expect("set-up");
    Guest {
        p,
        ctx,
        buf,
        ioas,
        dev,
        parent,
        viommu,
        vdev,
        view,
        tables,
        s1,
        cd_table,
    }
}

impl Guest {
    /// The nested HWPT of the vSTE pointing at the guest's CD table.
    fn nested(&self) -> u32 {
        hwpt_alloc(
            &self.ctx,
            self.dev,
            self.viommu,
            0,
            HWPT_DATA_ARM_SMMUV3,
            &vste(self.cd_table),
        )
        .expect("nested HWPT")
    }

    /// The device's requester ID.
    fn rid(&self) -> u16 {
        Rid::new(0, 0, 3, 0).source_id()
    }

    /// 8 bytes the device reads at `iova` through the SMMU.
    fn dma_read(&self, iova: u64) -> Result<u64, ()> {
        let mut b = [0u8; 8];
        self.p
            .upstream
            .dma_read(&DmaRequest::read(self.rid(), iova, 8), &mut b)
            .map_err(|_| ())?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes `v` at guest-physical page offset `off` of the guest's RAM.
    fn poke(&mut self, off: usize, v: u64) {
        self.buf.bytes_mut()[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// The guest's invalidation commands on the vIOMMU: result and count done.
    fn inv(&self, cmds: &[Vec<u8>]) -> (Result<i64, i32>, u32) {
        invalidate(
            &self.ctx,
            self.viommu,
            INVALIDATE_DATA_ARM_SMMUV3,
            16,
            &cmds.concat(),
        )
    }
}

const CMD_CFGI_STE: u64 = 0x03;
const CMD_CFGI_CD: u64 = 0x05;
const CMD_TLBI_NH_ASID: u64 = 0x11;
const CMD_TLBI_NH_VA: u64 = 0x12;
const CMD_ATC_INV: u64 = 0x40;

fn tlbi_va(iova: u64) -> Vec<u8> {
    cmd(CMD_TLBI_NH_VA | u64::from(ASID) << 48, iova | 1)
}

fn tlbi_asid() -> Vec<u8> {
    cmd(CMD_TLBI_NH_ASID | u64::from(ASID) << 48, 0)
}

fn cfgi_cd(vsid: u64) -> Vec<u8> {
    cmd(CMD_CFGI_CD | vsid << 32, 1)
}

/// An ATC invalidation of everything (Size 52) of device `vsid`.
fn atc_inv(vsid: u64) -> Vec<u8> {
    cmd(CMD_ATC_INV | vsid << 32, 52)
}

#[test]
fn dma_goes_through_the_guest_s_stage1_over_the_parent_s_stage2() {
    let mut g = guest();
    g.poke(0x20_0010, 0x1122_3344_5566_7788);
    let nested = g.nested();
    assert_eq!(g.ctx.device_attach(g.dev, nested).unwrap(), nested);
    assert_eq!(g.dma_read(IOVA + 0x10), Ok(0x1122_3344_5566_7788));
    // A write lands in the guest's page.
    g.p.upstream
        .dma_write(&DmaRequest::write(g.rid(), IOVA + 0x18, 8), &[0xab; 8])
        .unwrap();
    assert_eq!(&g.buf.bytes()[0x20_0018..0x20_0020], &[0xab; 8]);
    // Nothing the guest's stage 1 does not map.
    assert_eq!(g.dma_read(IOVA + 0x1000), Err(()));
    // The nested HWPT keeps the vIOMMU, which keeps the parent.
    assert_eq!(destroy(&g.ctx, g.parent), Err(libc::EBUSY));
    assert_eq!(destroy(&g.ctx, g.viommu), Err(libc::EBUSY));
    g.ctx.device_detach(g.dev).unwrap();
    destroy(&g.ctx, nested).unwrap();
    destroy(&g.ctx, g.vdev).unwrap();
    destroy(&g.ctx, g.viommu).unwrap();
    destroy(&g.ctx, g.parent).unwrap();
}

#[test]
fn stale_translations_stay_until_the_guest_s_command_and_are_gone_after_it() {
    let mut g = guest();
    g.poke(0x20_0000, 1);
    g.poke(0x30_0000, 2);
    g.poke(0x31_0000, 3);
    let nested = g.nested();
    g.ctx.device_attach(g.dev, nested).unwrap();
    assert_eq!(g.dma_read(IOVA), Ok(1));

    // TLBI_NH_VA.
    g.s1.unmap(IOVA, 0x1000).unwrap();
    g.s1.map(IOVA, GPA + 0x30_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(g.dma_read(IOVA), Ok(1), "cached");
    // Another address, or another ASID, leaves it.
    assert_eq!(g.inv(&[tlbi_va(IOVA + 0x10_0000)]), (Ok(0), 1));
    let other_asid = cmd(CMD_TLBI_NH_VA | u64::from(ASID + 1) << 48, IOVA | 1);
    assert_eq!(g.inv(&[other_asid]), (Ok(0), 1));
    assert_eq!(g.dma_read(IOVA), Ok(1), "still cached");
    assert_eq!(g.inv(&[tlbi_va(IOVA)]), (Ok(0), 1));
    assert_eq!(g.dma_read(IOVA), Ok(2));

    // TLBI_NH_ASID.
    g.s1.unmap(IOVA, 0x1000).unwrap();
    g.s1.map(IOVA, GPA + 0x31_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(g.dma_read(IOVA), Ok(2), "cached");
    assert_eq!(g.inv(&[tlbi_asid()]), (Ok(0), 1));
    assert_eq!(g.dma_read(IOVA), Ok(3));

    // CFGI_CD (by vSID) after the guest points its CD at another table, then the TLBs.
    let mut other = PageTable::new(s1_format(), g.tables.clone()).unwrap();
    other.map(IOVA, GPA + 0x20_0000, 0x1000, Prot::RW).unwrap();
    Cd::for_table(&s1_format(), other.root(), ASID)
        .write(&*g.view, g.cd_table)
        .unwrap();
    assert_eq!(g.dma_read(IOVA), Ok(3), "cached");
    assert_eq!(
        g.inv(&[cfgi_cd(VSID), tlbi_asid(), atc_inv(VSID)]),
        (Ok(0), 3)
    );
    assert_eq!(g.dma_read(IOVA), Ok(1));
}

#[test]
fn bad_commands_have_the_kernel_s_errnos_and_count_what_was_done() {
    let g = guest();
    let nested = g.nested();
    g.ctx.device_attach(g.dev, nested).unwrap();
    // A command naming a vSID of no vDEVICE, and one a guest may not send.
    let ok = tlbi_va(IOVA);
    assert_eq!(
        g.inv(&[ok.clone(), ok.clone(), cfgi_cd(7)]),
        (Err(libc::EIO), 2)
    );
    assert_eq!(g.inv(&[ok.clone(), atc_inv(7)]), (Err(libc::EIO), 1));
    assert_eq!(
        g.inv(&[cmd(CMD_CFGI_STE | VSID << 32, 0)]),
        (Err(libc::EIO), 0)
    );
    // The type must be SMMUv3's; entries shorter than a command are EINVAL.
    let r = invalidate(&g.ctx, g.viommu, 0, 16, &ok);
    assert_eq!(r.0, Err(libc::EINVAL));
    let r = invalidate(&g.ctx, g.viommu, INVALIDATE_DATA_ARM_SMMUV3, 8, &ok[..8]);
    assert_eq!(r, (Err(libc::EINVAL), 0));
    // A nested SMMUv3 HWPT is invalidated through its vIOMMU.
    let r = invalidate(&g.ctx, nested, INVALIDATE_DATA_ARM_SMMUV3, 16, &ok);
    assert_eq!(r.0, Err(libc::EOPNOTSUPP));
}

#[test]
fn viommu_and_vdevice_rules() {
    let g = guest();
    let ctx = &g.ctx;
    // A vIOMMU needs a nesting parent and a type.
    let plain = hwpt_alloc(ctx, g.dev, g.ioas, 0, 0, &[]).unwrap();
    assert_eq!(viommu_alloc(ctx, g.dev, plain, 1), Err(libc::EINVAL));
    assert_eq!(viommu_alloc(ctx, g.dev, g.parent, 0), Err(libc::EOPNOTSUPP));
    // One vDEVICE per device, one device per virtual id.
    assert_eq!(vdevice_alloc(ctx, g.viommu, g.dev, 0x99), Err(libc::EEXIST));
    // Destroying the device takes its vDEVICE with it: that id is gone.
    let dev_id = g.dev;
    destroy(ctx, dev_id).unwrap();
    assert_eq!(destroy(ctx, g.vdev), Err(libc::ENOENT));
    // And the id is not given out again.
    let again = ctx.ioas_alloc().unwrap();
    assert_ne!(again, g.vdev);
}

/// `IOMMU_VEVENTQ_ALLOC`: (id, fd) or the errno.
fn veventq_alloc(
    ctx: &Context,
    viommu: u32,
    ty: u32,
    depth: u32,
    flags: u32,
) -> Result<(u32, i32), i32> {
    let mut c = k::iommu_veventq_alloc {
        size: 32,
        flags,
        viommu_id: viommu,
        type_: ty,
        veventq_depth: depth,
        ..Default::default()
    };
    call(ctx, 0x93, &mut c).map(|_| (c.out_veventq_id, c.out_veventq_fd as i32))
}

/// Waits up to 10 s until `fd` holds `n` unread bytes.
fn wait_bytes(fd: i32, n: usize) {
    let t = std::time::Instant::now();
    loop {
        let mut have: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(fd, libc::FIONREAD, &mut have) };
        if have as usize >= n {
            return;
        }
        assert!(t.elapsed().as_secs() < 10, "{have} of {n} bytes arrived");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// `read(2)` of up to `n` bytes from `fd`.
fn read_fd(fd: i32, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    // SAFETY: reads at most `n` bytes into `b`.
    let r = unsafe { libc::read(fd, b.as_mut_ptr().cast(), n) };
    b.truncate(r.max(0) as usize);
    b
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A record: header (flags, sequence) and the SMMUv3 event's four words.
const RECORD: usize = 8 + 32;

#[test]
fn a_guest_stage1_fault_arrives_in_the_veventq_with_the_vsid() {
    let g = guest_on(smmu_events(1));
    let nested = g.nested();
    g.ctx.device_attach(g.dev, nested).unwrap();
    let (_q, fd) = veventq_alloc(&g.ctx, g.viommu, 1, 8, 0).unwrap();
    // The guest's stage 1 has no page there.
    assert_eq!(g.dma_read(IOVA + 0x1000), Err(()));
    wait_bytes(fd, RECORD);
    let b = read_fd(fd, 4 * RECORD);
    assert_eq!(b.len(), RECORD, "one event");
    assert_eq!((u32_at(&b, 0), u32_at(&b, 4)), (0, 0), "flags, sequence");
    let evt0 = u64_at(&b, 8);
    assert_eq!(evt0 & 0xff, 0x10, "F_TRANSLATION");
    assert_eq!(evt0 >> 32, VSID, "the guest's StreamID, not the host's");
    assert_eq!(u64_at(&b, 8 + 16), IOVA + 0x1000, "the input address");
    // A stage-2 fault is the host's: nothing for the guest.
    let mut g = g;
    g.s1.map(IOVA + 0x2000, 0x7000_0000, 0x1000, Prot::RW)
        .unwrap();
    assert_eq!(g.dma_read(IOVA + 0x2000), Err(()));
    assert_eq!(g.dma_read(IOVA + 0x1000), Err(()));
    wait_bytes(fd, RECORD);
    let b = read_fd(fd, 4 * RECORD);
    assert_eq!(b.len(), RECORD, "only the stage-1 fault");
    assert_eq!(u32_at(&b, 4), 1);
    assert_eq!(u64_at(&b, 8 + 16), IOVA + 0x1000);
    common::dsa::close(fd);
}

#[test]
fn a_full_veventq_loses_events_and_says_so() {
    let g = guest_on(smmu_events(1));
    let nested = g.nested();
    g.ctx.device_attach(g.dev, nested).unwrap();
    let (_q, fd) = veventq_alloc(&g.ctx, g.viommu, 1, 2, 0).unwrap();
    for i in 0..3 {
        assert_eq!(g.dma_read(IOVA + 0x1000 * (i + 1)), Err(()));
    }
    wait_bytes(fd, 2 * RECORD + 8);
    let b = read_fd(fd, 8 * RECORD);
    assert_eq!(
        b.len(),
        2 * RECORD + 8,
        "two events, then a lost-events header"
    );
    assert_eq!((u32_at(&b, 0), u32_at(&b, 4)), (0, 0));
    assert_eq!((u32_at(&b, RECORD), u32_at(&b, RECORD + 4)), (0, 1));
    assert_eq!(
        (u32_at(&b, 2 * RECORD), u32_at(&b, 2 * RECORD + 4)),
        (VEVENTQ_FLAG_LOST_EVENTS, 2)
    );
    // Read out, the queue takes events again, numbered on.
    assert_eq!(g.dma_read(IOVA + 0x8000), Err(()));
    wait_bytes(fd, RECORD);
    let b = read_fd(fd, 8 * RECORD);
    assert_eq!((b.len(), u32_at(&b, 0), u32_at(&b, 4)), (RECORD, 0, 3));
    common::dsa::close(fd);
}

#[test]
fn veventq_rules() {
    let g = guest();
    let ctx = &g.ctx;
    assert_eq!(veventq_alloc(ctx, g.viommu, 0, 2, 0), Err(libc::EOPNOTSUPP));
    assert_eq!(veventq_alloc(ctx, g.viommu, 1, 2, 1), Err(libc::EOPNOTSUPP));
    assert_eq!(veventq_alloc(ctx, g.viommu, 1, 0, 0), Err(libc::EINVAL));
    assert_eq!(veventq_alloc(ctx, 999, 1, 2, 0), Err(libc::ENOENT));
    assert_eq!(veventq_alloc(ctx, g.ioas, 1, 2, 0), Err(libc::ENOENT));
    let (q, fd) = veventq_alloc(ctx, g.viommu, 1, 2, 0).unwrap();
    assert_eq!(veventq_alloc(ctx, g.viommu, 1, 4, 0), Err(libc::EEXIST));
    // The queue keeps its vIOMMU.
    destroy(ctx, g.vdev).unwrap();
    assert_eq!(destroy(ctx, g.viommu), Err(libc::EBUSY));
    destroy(ctx, q).unwrap();
    common::dsa::close(fd);
    // Another of the type once the first is gone; the size's minimum is 28 bytes.
    let mut c = k::iommu_veventq_alloc {
        size: 24,
        viommu_id: g.viommu,
        type_: 1,
        veventq_depth: 1,
        ..Default::default()
    };
    assert_eq!(call(ctx, 0x93, &mut c), Err(libc::EINVAL));
    c.size = 28;
    call(ctx, 0x93, &mut c).unwrap();
    common::dsa::close(c.out_veventq_fd as i32);
    destroy(ctx, c.out_veventq_id).unwrap();
    destroy(ctx, g.viommu).unwrap();
}
