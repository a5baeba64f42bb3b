//! Nested HWPTs on VT-d through the binary interface: a stage-1 table the user builds in
//! its own memory, mapped in the IOAS, translates the device's DMA over the nesting parent;
//! the user's invalidations make its changes visible; every refusal has the kernel's errno.

mod common;

use std::sync::Arc;

use common::{
    Buffer, GuestView, Platform, bytes_of, destroy, hwpt_alloc, invalidate, ioas_with, vtd,
};
use iommufd_bindings as k;
use softiommu_iommufd::{
    Context, HWPT_ALLOC_DIRTY_TRACKING, HWPT_ALLOC_NEST_PARENT, HWPT_DATA_ARM_SMMUV3,
    HWPT_DATA_NONE, HWPT_DATA_VTD_S1, INVALIDATE_DATA_ARM_SMMUV3, INVALIDATE_DATA_VTD_S1,
};
use softiommu_mem::PageAlloc;
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, PageTable, Prot};

/// Where the guest's RAM sits in the IOAS (its guest-physical addresses).
const GPA: u64 = 0x4000_0000;
const RAM: u64 = 4 << 20;
/// The guest's stage-1 tables take the first MiB of its RAM.
const TABLES: u64 = 1 << 20;
/// The IOVA the device uses, mapped by the guest's stage 1.
const IOVA: u64 = 0x1000_0000;

struct Vm {
    p: Platform,
    ctx: Context,
    buf: Buffer,
    ioas: u32,
    dev: u32,
    parent: u32,
    s1: PageTable<X86, GuestView>,
}

/// A VT-d device bound to a context, an IOAS mapping the guest's RAM at [`GPA`], a nesting
/// parent over it, and the guest's stage 1 mapping [`IOVA`] to guest page 0x20_0000.
fn vm() -> Vm {
    let p = vtd(2);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(RAM as usize, 2 << 20);
    let ioas = ioas_with(&ctx, &buf, RAM, GPA);
    let dev = ctx.device_bind(p.devs[0]).expect("set-up");
    let parent = hwpt_alloc(&ctx, dev, ioas, HWPT_ALLOC_NEST_PARENT, 0, &[]).expect("set-up");
    let view = GuestView {
        mem: p.host.mem().clone(),
        host: buf.addr(0),
        gpa: GPA,
        len: RAM,
    };
    let tables = Arc::new(PageAlloc::new(view, GPA, TABLES).expect("set-up"));
    let fmt = X86::new(X86Config::default()).expect("set-up");
    let mut s1 = PageTable::new(fmt, tables).expect("set-up");
    s1.map(IOVA, GPA + 0x20_0000, 0x1000, Prot::RW)
        .expect("set-up");
    Vm {
        p,
        ctx,
        buf,
        ioas,
        dev,
        parent,
        s1,
    }
}

fn s1_data(root: u64, flags: u64, addr_width: u32) -> Vec<u8> {
    bytes_of(&k::iommu_hwpt_vtd_s1 {
        flags,
        pgtbl_addr: root,
        addr_width,
        __reserved: 0,
    })
}

fn inv(addr: u64, npages: u64, flags: u32, reserved: u32) -> Vec<u8> {
    bytes_of(&k::iommu_hwpt_vtd_s1_invalidate {
        addr,
        npages,
        flags,
        __reserved: reserved,
    })
}

impl Vm {
    fn nested(&self) -> u32 {
        let data = s1_data(self.s1.root(), 0, 48);
        hwpt_alloc(&self.ctx, self.dev, self.parent, 0, HWPT_DATA_VTD_S1, &data).expect("set-up")
    }

    fn pa(&self, iova: u64) -> u64 {
        let dev = self.p.devs[0];
        self.p
            .host
            .iommu()
            .dma(dev, None, iova, Access::READ)
            .expect("set-up")
            .pa
    }
}

#[test]
fn a_user_stage1_translates_dma_and_its_invalidation_makes_a_change_visible() {
    let mut vm = vm();
    let nested = vm.nested();
    assert_eq!(vm.ctx.device_attach(vm.dev, nested).unwrap(), nested);
    assert_eq!(vm.pa(IOVA + 0x10), vm.buf.addr(0x20_0010));

    // The guest moves the page; its IOTLB entry stays until it invalidates.
    vm.s1.unmap(IOVA, 0x1000).unwrap();
    vm.s1.map(IOVA, GPA + 0x30_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(vm.pa(IOVA + 0x10), vm.buf.addr(0x20_0010), "cached");
    let (r, n) = invalidate(
        &vm.ctx,
        nested,
        INVALIDATE_DATA_VTD_S1,
        24,
        &inv(IOVA, 1, 1, 0),
    );
    assert_eq!((r, n), (Ok(0), 1));
    assert_eq!(vm.pa(IOVA + 0x10), vm.buf.addr(0x30_0010));

    // The nested HWPT keeps its parent, and the device the nested HWPT.
    assert_eq!(destroy(&vm.ctx, vm.parent), Err(libc::EBUSY));
    assert_eq!(destroy(&vm.ctx, nested), Err(libc::EBUSY));
    vm.ctx.device_detach(vm.dev).unwrap();
    destroy(&vm.ctx, nested).unwrap();
    destroy(&vm.ctx, vm.parent).unwrap();
    destroy(&vm.ctx, vm.ioas).unwrap();
}

#[test]
fn a_device_replaces_its_parent_with_the_nested_hwpt_and_back() {
    let vm = vm();
    vm.ctx.device_attach(vm.dev, vm.parent).unwrap();
    // Through the parent alone, an IOVA is a guest-physical address.
    assert_eq!(vm.pa(GPA + 0x20_0008), vm.buf.addr(0x20_0008));
    let nested = vm.nested();
    vm.ctx.device_replace(vm.dev, nested).unwrap();
    assert_eq!(vm.pa(IOVA + 8), vm.buf.addr(0x20_0008));
    vm.ctx.device_replace(vm.dev, vm.parent).unwrap();
    destroy(&vm.ctx, nested).unwrap();
}

#[test]
fn nested_allocation_refusals_have_the_kernels_errnos() {
    let vm = vm();
    let (ctx, dev) = (&vm.ctx, vm.dev);
    let good = s1_data(vm.s1.root(), 0, 48);
    let alloc = |pt, flags, ty, data: &[u8]| hwpt_alloc(ctx, dev, pt, flags, ty, data);
    // A parent made without NEST_PARENT.
    let plain = alloc(vm.ioas, 0, 0, &[]).unwrap();
    assert_eq!(alloc(plain, 0, HWPT_DATA_VTD_S1, &good), Err(libc::EINVAL));
    // Flags on a nested HWPT.
    let f = HWPT_ALLOC_DIRTY_TRACKING;
    assert_eq!(
        alloc(vm.parent, f, HWPT_DATA_VTD_S1, &good),
        Err(libc::EOPNOTSUPP)
    );
    // Data type and length must agree.
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_NONE, &good),
        Err(libc::EINVAL)
    );
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &[]),
        Err(libc::EINVAL)
    );
    // A nesting parent's data: none, or of the parent's driver.
    let ste = [0u8; 16];
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_ARM_SMMUV3, &ste),
        Err(libc::EOPNOTSUPP)
    );
    assert_eq!(alloc(vm.parent, 0, 99, &good), Err(libc::EOPNOTSUPP));
    assert_eq!(
        alloc(vm.ioas, 0, HWPT_DATA_VTD_S1, &good),
        Err(libc::EOPNOTSUPP)
    );
    // Short data is EINVAL; longer data must end in zeros.
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &good[..16]),
        Err(libc::EINVAL)
    );
    let mut long = good.clone();
    long.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &long),
        Err(libc::E2BIG)
    );
    long[31] = 0;
    let n = alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &long).unwrap();
    destroy(ctx, n).unwrap();
    // Widths other than 48 and 57 bits; unknown stage-1 flags.
    let w39 = s1_data(vm.s1.root(), 0, 39);
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &w39),
        Err(libc::EINVAL)
    );
    let f8 = s1_data(vm.s1.root(), 8, 48);
    assert_eq!(
        alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &f8),
        Err(libc::EOPNOTSUPP)
    );
    // A nested HWPT is no parent; an id that names nothing is EINVAL; no device is ENOENT.
    let nested = alloc(vm.parent, 0, HWPT_DATA_VTD_S1, &good).unwrap();
    assert_eq!(alloc(nested, 0, HWPT_DATA_VTD_S1, &good), Err(libc::EINVAL));
    assert_eq!(alloc(999, 0, HWPT_DATA_VTD_S1, &good), Err(libc::EINVAL));
    assert_eq!(
        hwpt_alloc(ctx, 999, vm.parent, 0, HWPT_DATA_VTD_S1, &good),
        Err(libc::ENOENT)
    );
    assert_eq!(
        hwpt_alloc(ctx, vm.ioas, vm.parent, 0, HWPT_DATA_VTD_S1, &good),
        Err(libc::ENOENT)
    );
    // The reserved field.
    let mut c = k::iommu_hwpt_alloc {
        size: 48,
        dev_id: dev,
        pt_id: vm.ioas,
        __reserved: 1,
        ..Default::default()
    };
    assert_eq!(common::call(ctx, 0x89, &mut c), Err(libc::EOPNOTSUPP));
    // The structure's minimum size is 24 bytes.
    c.__reserved = 0;
    c.size = 20;
    assert_eq!(common::call(ctx, 0x89, &mut c), Err(libc::EINVAL));
    c.size = 24;
    common::call(ctx, 0x89, &mut c).unwrap();
    assert_ne!(c.out_hwpt_id, 0);
}

#[test]
fn vtd_invalidation_refusals_count_what_was_done() {
    let vm = vm();
    let ctx = &vm.ctx;
    let nested = vm.nested();
    let ok = inv(IOVA, 1, 0, 0);
    // An empty array only checks the type.
    assert_eq!(
        invalidate(ctx, nested, INVALIDATE_DATA_VTD_S1, 24, &[]),
        (Ok(0), 0)
    );
    assert_eq!(
        invalidate(ctx, nested, INVALIDATE_DATA_ARM_SMMUV3, 24, &[]),
        (Err(libc::EINVAL), 0)
    );
    // Not a nested HWPT, no object at all.
    assert_eq!(
        invalidate(ctx, vm.parent, INVALIDATE_DATA_VTD_S1, 24, &ok).0,
        Err(libc::EINVAL)
    );
    assert_eq!(
        invalidate(ctx, vm.ioas, INVALIDATE_DATA_VTD_S1, 24, &ok).0,
        Err(libc::EINVAL)
    );
    assert_eq!(
        invalidate(ctx, 999, INVALIDATE_DATA_VTD_S1, 24, &ok).0,
        Err(libc::ENOENT)
    );
    // Entries shorter than the structure; entries without an array.
    assert_eq!(
        invalidate(ctx, nested, INVALIDATE_DATA_VTD_S1, 16, &ok[..16]),
        (Err(libc::EINVAL), 0)
    );
    let mut c = k::iommu_hwpt_invalidate {
        size: 32,
        hwpt_id: nested,
        entry_len: 24,
        entry_num: 1,
        ..Default::default()
    };
    assert_eq!(common::call(ctx, 0x8d, &mut c), Err(libc::EINVAL));
    c.data_uptr = ok.as_ptr() as u64;
    c.__reserved = 1;
    assert_eq!(common::call(ctx, 0x8d, &mut c), Err(libc::EOPNOTSUPP));
    assert_eq!(c.entry_num, 0);
    // The third entry is refused: two done.
    let bad: [(Vec<u8>, i32); 4] = [
        (inv(IOVA, 1, 2, 0), libc::EOPNOTSUPP),
        (inv(IOVA, 1, 0, 1), libc::EOPNOTSUPP),
        (inv(IOVA + 8, 1, 0, 0), libc::EINVAL),
        (inv(IOVA, u64::MAX, 0, 0), libc::EINVAL),
    ];
    for (entry, errno) in bad {
        let all = [ok.clone(), ok.clone(), entry, ok.clone()].concat();
        let r = invalidate(ctx, nested, INVALIDATE_DATA_VTD_S1, 24, &all);
        assert_eq!(r, (Err(errno), 2));
    }
    // Longer entries must end in zeros; everything from address 0 is one entry.
    let mut long = inv(0, u64::MAX, 1, 0);
    long.extend_from_slice(&[0; 8]);
    let r = invalidate(ctx, nested, INVALIDATE_DATA_VTD_S1, 32, &long);
    assert_eq!(r, (Ok(0), 1));
    long[30] = 1;
    let r = invalidate(ctx, nested, INVALIDATE_DATA_VTD_S1, 32, &long);
    assert_eq!(r, (Err(libc::E2BIG), 0));
}
