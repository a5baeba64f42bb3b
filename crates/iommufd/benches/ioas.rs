//! IOAS map and unmap speed into an IOAS attached to a VT-d domain: 1 GiB of user memory that
//! can only be mapped in 4 KiB pages, and 1 GiB on 2 MiB alignment; a 4 KiB map+unmap pair
//! through the binary interface. Baselines in the same run: the same pair through the typed
//! API, and the core domain's own map and unmap (no IOAS, no pinning), both on a domain
//! attached to nothing (no invalidation) and on one attached to a second device of the same
//! VT-d unit (every unmap invalidates its IOTLB through the queue, as the IOAS's does).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{Buffer, Platform, vtd};
use criterion::Criterion;
use softiommu_iommufd::{Context, MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE};
use softiommu_pgtable::Prot;

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;
const GIB: u64 = 1 << 30;

struct Rig {
    p: Platform,
    ctx: Context,
    ioas: u32,
    buf: Buffer,
}

fn rig() -> Rig {
    // Device 0 is the IOAS's; device 1 carries the attached baseline's bare domain.
    let p = vtd(2);
    let ctx = p.context(1 << 40);
    let ioas = ctx.ioas_alloc().expect("IOAS");
    let dev = ctx.device_bind(p.devs[0]).expect("bind");
    ctx.device_attach(dev, ioas).expect("attach");
    // 1 GiB plus 2 MiB of address space, 2 MiB aligned; never touched, so never populated.
    let buf = Buffer::new((GIB + (2 << 20)) as usize, 2 << 20);
    Rig { p, ctx, ioas, buf }
}

/// Times `iters` rounds of map (timed when `time_map`) and unmap (timed otherwise).
fn rounds(r: &Rig, iters: u64, va: u64, iova: u64, len: u64, time_map: bool) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        r.ctx
            .ioas_map(r.ioas, RW | FIXED, va, len, iova)
            .expect("map");
        let mapped = t.elapsed();
        let t = Instant::now();
        r.ctx.ioas_unmap(r.ioas, iova, len).expect("unmap");
        spent += if time_map { mapped } else { t.elapsed() };
    }
    spent
}

fn gigabyte(c: &mut Criterion) {
    let r = rig();
    let mut g = c.benchmark_group("ioas 1 GiB");
    g.sample_size(10);
    let va2m = r.buf.addr(0);
    // IOVA 4 KiB off the address's 2 MiB phase: no 2 MiB entry can be used.
    let iova4k = 0x4000_1000;
    g.bench_function("map 4 KiB-backed", |b| {
        b.iter_custom(|n| rounds(&r, n, va2m, iova4k, GIB, true))
    });
    g.bench_function("unmap 4 KiB-backed", |b| {
        b.iter_custom(|n| rounds(&r, n, va2m, iova4k, GIB, false))
    });
    g.bench_function("map 2 MiB-aligned", |b| {
        b.iter_custom(|n| rounds(&r, n, va2m, 0x4000_0000, GIB, true))
    });
    g.bench_function("unmap 2 MiB-aligned", |b| {
        b.iter_custom(|n| rounds(&r, n, va2m, 0x4000_0000, GIB, false))
    });
    // Baseline: the domain alone, the same 1 GiB on 2 MiB alignment.
    let domain =
        r.p.host
            .iommu()
            .new_paging(r.p.devs[0], Default::default())
            .expect("domain");
    g.bench_function("baseline: domain map 2 MiB-aligned", |b| {
        b.iter_custom(|n| {
            let mut spent = Duration::ZERO;
            for _ in 0..n {
                let t = Instant::now();
                domain
                    .map_sync(0x4000_0000, va2m, GIB, Prot::RW)
                    .expect("map");
                spent += t.elapsed();
                domain.unmap_sync(0x4000_0000, GIB).expect("unmap");
            }
            spent
        })
    });
    g.finish();
}

fn pair(c: &mut Criterion) {
    let r = rig();
    let mut g = c.benchmark_group("ioas 4 KiB pair");
    let va = r.buf.addr(0);
    let mut map = common::bytes_of(&iommufd_bindings::iommu_ioas_map {
        size: 40,
        flags: RW | FIXED,
        ioas_id: r.ioas,
        __reserved: 0,
        user_va: va,
        length: 4096,
        iova: 0x10_0000,
    });
    let mut unmap = common::bytes_of(&iommufd_bindings::iommu_ioas_unmap {
        size: 24,
        ioas_id: r.ioas,
        iova: 0x10_0000,
        length: 4096,
    });
    let map_cmd = u64::from(softiommu_iommufd::iommufd_ioctl(0x85));
    let unmap_cmd = u64::from(softiommu_iommufd::iommufd_ioctl(0x86));
    g.bench_function("map+unmap, binary interface", |b| {
        b.iter(|| {
            r.ctx.ioctl(map_cmd, map.as_mut_ptr() as u64).expect("map");
            r.ctx
                .ioctl(unmap_cmd, unmap.as_mut_ptr() as u64)
                .expect("unmap");
        })
    });
    g.bench_function("map+unmap, typed API", |b| {
        b.iter(|| {
            r.ctx
                .ioas_map(r.ioas, RW | FIXED, black_box(va), 4096, 0x10_0000)
                .expect("map");
            r.ctx.ioas_unmap(r.ioas, 0x10_0000, 4096).expect("unmap");
        })
    });
    let domain =
        r.p.host
            .iommu()
            .new_paging(r.p.devs[0], Default::default())
            .expect("domain");
    g.bench_function("baseline: domain map+unmap", |b| {
        b.iter(|| {
            domain
                .map_sync(0x10_0000, black_box(va), 4096, Prot::RW)
                .expect("map");
            domain.unmap_sync(0x10_0000, 4096).expect("unmap");
        })
    });
    let attached =
        r.p.host
            .iommu()
            .new_paging(r.p.devs[1], Default::default())
            .expect("domain");
    r.p.host
        .iommu()
        .attach(r.p.devs[1], &attached)
        .expect("attach");
    g.bench_function("baseline: attached domain map+unmap", |b| {
        b.iter(|| {
            attached
                .map_sync(0x10_0000, black_box(va), 4096, Prot::RW)
                .expect("map");
            attached.unmap_sync(0x10_0000, 4096).expect("unmap");
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    gigabyte(&mut c);
    pair(&mut c);
    c.final_summary();
}
