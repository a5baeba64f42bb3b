//! Dirty tracking through the binary interface: a device's DMA writes mark pages, read into
//! the user's bitmap with and without clearing, at any alignment of the bitmap.

mod common;

use common::{Buffer, call, hwpt_alloc, ioas_with, vtd};
use iommufd_bindings as k;
use softiommu_iommufd::{Context, DIRTY_BITMAP_NO_CLEAR, HWPT_ALLOC_DIRTY_TRACKING};
use softiommu_pgtable::Access;

const IOVA: u64 = 0x100_0000;
const LEN: u64 = 64 << 10;

fn set(ctx: &Context, id: u32, flags: u32) -> Result<i64, i32> {
    let mut c = k::iommu_hwpt_set_dirty_tracking {
        size: 16,
        flags,
        hwpt_id: id,
        __reserved: 0,
    };
    call(ctx, 0x8b, &mut c)
}

fn get(
    ctx: &Context,
    id: u32,
    flags: u32,
    iova: u64,
    len: u64,
    page: u64,
    data: u64,
) -> Result<i64, i32> {
    let mut c = k::iommu_hwpt_get_dirty_bitmap {
        size: 48,
        hwpt_id: id,
        flags,
        __reserved: 0,
        iova,
        length: len,
        page_size: page,
        data,
    };
    call(ctx, 0x8c, &mut c)
}

#[test]
fn dma_writes_mark_pages_read_with_and_without_clearing() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(LEN as usize, 4096);
    let ioas = ioas_with(&ctx, &buf, LEN, IOVA);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let hwpt = hwpt_alloc(&ctx, dev, ioas, HWPT_ALLOC_DIRTY_TRACKING, 0, &[]).unwrap();
    ctx.device_attach(dev, hwpt).unwrap();
    set(&ctx, hwpt, 1).unwrap();
    let iommu = p.host.iommu();
    for page in [1u64, 5] {
        iommu
            .dma(p.devs[0], None, IOVA + page * 4096 + 8, Access::WRITE)
            .unwrap();
    }
    iommu
        .dma(p.devs[0], None, IOVA + 3 * 4096, Access::READ)
        .unwrap();
    // A bitmap at an odd address.
    let mut bm = Buffer::new(8192, 4096);
    let at = bm.addr(0xff1);
    let read = |bm: &Buffer| u16::from_le_bytes([bm.bytes()[0xff1], bm.bytes()[0xff2]]);
    get(&ctx, hwpt, DIRTY_BITMAP_NO_CLEAR, IOVA, LEN, 4096, at).unwrap();
    assert_eq!(read(&bm), 1 << 1 | 1 << 5);
    bm.bytes_mut().fill(0);
    get(&ctx, hwpt, 0, IOVA, LEN, 4096, at).unwrap();
    assert_eq!(read(&bm), 1 << 1 | 1 << 5, "NO_CLEAR kept the bits");
    bm.bytes_mut().fill(0);
    get(&ctx, hwpt, 0, IOVA, LEN, 4096, at).unwrap();
    assert_eq!(read(&bm), 0, "cleared");
    // A new write is seen again; at 8 KiB granularity pages 2-3 are bit 1.
    iommu
        .dma(p.devs[0], None, IOVA + 3 * 4096, Access::WRITE)
        .unwrap();
    get(&ctx, hwpt, 0, IOVA, LEN, 8192, at).unwrap();
    assert_eq!(read(&bm), 1 << 1);
}

#[test]
fn dirty_refusals_have_the_kernels_errnos() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(LEN as usize, 4096);
    let ioas = ioas_with(&ctx, &buf, LEN, IOVA);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let dirty = hwpt_alloc(&ctx, dev, ioas, HWPT_ALLOC_DIRTY_TRACKING, 0, &[]).unwrap();
    let plain = hwpt_alloc(&ctx, dev, ioas, 0, 0, &[]).unwrap();
    let bm = Buffer::new(4096, 4096);
    let data = bm.addr(0);
    assert_eq!(set(&ctx, dirty, 2), Err(libc::EOPNOTSUPP));
    assert_eq!(set(&ctx, plain, 1), Err(libc::EOPNOTSUPP));
    assert_eq!(set(&ctx, ioas, 1), Err(libc::ENOENT));
    assert_eq!(
        get(&ctx, plain, 0, IOVA, LEN, 4096, data),
        Err(libc::EOPNOTSUPP)
    );
    assert_eq!(
        get(&ctx, dirty, 2, IOVA, LEN, 4096, data),
        Err(libc::EOPNOTSUPP)
    );
    assert_eq!(get(&ctx, ioas, 0, IOVA, LEN, 4096, data), Err(libc::ENOENT));
    // Alignment to the IOAS's alignment and to the page size; page size 0; overflow.
    assert_eq!(
        get(&ctx, dirty, 0, IOVA + 8, LEN, 4096, data),
        Err(libc::EINVAL)
    );
    assert_eq!(
        get(&ctx, dirty, 0, IOVA, LEN, 0x10000 * 2, data),
        Err(libc::EINVAL)
    );
    assert_eq!(get(&ctx, dirty, 0, IOVA, LEN, 0, data), Err(libc::EINVAL));
    assert_eq!(
        get(&ctx, dirty, 0, u64::MAX - 4095, 8192, 4096, data),
        Err(libc::EOVERFLOW)
    );
    // A bitmap the user has not mapped.
    assert_eq!(
        get(&ctx, dirty, 0, IOVA, LEN, 4096, 0x1000),
        Err(libc::EFAULT)
    );
    let mut c = k::iommu_hwpt_get_dirty_bitmap {
        size: 48,
        hwpt_id: dirty,
        __reserved: 1,
        iova: IOVA,
        length: LEN,
        page_size: 4096,
        data,
        ..Default::default()
    };
    assert_eq!(call(&ctx, 0x8c, &mut c), Err(libc::EOPNOTSUPP));
}
