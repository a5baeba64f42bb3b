//! Every allocation and pin point made to fail in turn, through the map, copy, attach and
//! device paths: the call returns the error, nothing leaks (pins, locked pages, table pages,
//! objects, mappings), and the context stays usable.

mod common;

use common::{Buffer, Platform, vtd};
use softiommu_iommufd::{Context, Error, MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;

/// What a failed call must leave as it found it.
#[derive(Debug, PartialEq, Eq)]
struct State {
    pinned: u64,
    locked: u64,
    table_bytes: u64,
    objects: usize,
    mappings: Vec<Vec<(u64, u64)>>,
}

fn state(p: &Platform, ctx: &Context, ioases: &[u32]) -> State {
    State {
        pinned: p.host.pinned_pages(),
        locked: p.host.user_locked_pages(1000),
        table_bytes: p.host.iommu().tables().stats().allocated,
        objects: ctx.object_count(),
        mappings: ioases
            .iter()
            .map(|&i| ctx.ioas_mappings(i).unwrap_or_default())
            .collect(),
    }
}

/// The scenario, one step at a time; each step that fails must leave the state unchanged.
/// Returns how many steps failed.
fn scenario(p: &Platform, ctx: &Context, bufs: &[Buffer; 2]) -> usize {
    let mut failed = 0;
    let mut ioases: Vec<u32> = Vec::new();
    let mut step = |ioases: &[u32], f: &mut dyn FnMut() -> Result<u32, Error>| -> Option<u32> {
        let before = state(p, ctx, ioases);
        match f() {
            Ok(v) => Some(v),
            Err(e) => {
                assert_eq!(e.errno(), libc::ENOMEM, "{e}");
                assert_eq!(
                    state(p, ctx, ioases),
                    before,
                    "a failed call changed the state: {e}"
                );
                failed += 1;
                None
            }
        }
    };
    let a = step(&ioases, &mut || ctx.ioas_alloc());
    let b = step(&ioases, &mut || ctx.ioas_alloc());
    ioases.extend(a.iter().chain(b.iter()));
    let mut mapped = false;
    if let Some(a) = a {
        mapped = step(&ioases, &mut || {
            ctx.ioas_map(a, RW | FIXED, bufs[0].addr(0), 64 << 10, 0x10_0000)
                .map(|_| 0)
        })
        .is_some();
    }
    let d0 = step(&ioases, &mut || ctx.device_bind(p.devs[0]));
    let d1 = step(&ioases, &mut || ctx.device_bind(p.devs[1]));
    let mut attached = false;
    if let (Some(d0), Some(a)) = (d0, a) {
        attached = step(&ioases, &mut || ctx.device_attach(d0, a)).is_some();
        step(&ioases, &mut || {
            ctx.ioas_map(a, RW | FIXED, bufs[1].addr(0), 2 << 20, 0x40_0000)
                .map(|_| 0)
        });
    }
    if let (Some(a), Some(b), true) = (a, b, mapped) {
        step(&ioases, &mut || {
            ctx.ioas_copy(b, a, RW | FIXED, 0x20_0000, 0x10_0000, 64 << 10)
                .map(|_| 0)
        });
    }
    if let (Some(d1), Some(b)) = (d1, b) {
        step(&ioases, &mut || ctx.device_attach(d1, b));
        step(&ioases, &mut || ctx.hwpt_alloc(d1, b, 0));
    }
    if let (Some(d0), Some(b), true) = (d0, b, attached) {
        step(&ioases, &mut || ctx.device_replace(d0, b));
    }
    failed
}

#[test]
fn every_failure_point_fails_cleanly_and_leaves_the_context_usable() {
    let p = vtd(2);
    let bufs = [Buffer::new(64 << 10, 4096), Buffer::new(2 << 20, 2 << 20)];
    // A clean run counts the points. The driver keeps each device's own structures (its
    // context and PASID tables) once made, so the baseline is taken after it.
    let ctx = p.context(1 << 30);
    p.host.faults().fail_nth(0);
    assert_eq!(scenario(&p, &ctx, &bufs), 0);
    let points = p.host.faults().passed();
    assert!(points >= 15, "only {points} failure points on the paths");
    drop(ctx);
    let empty = (0, p.host.iommu().tables().stats().allocated);
    assert_eq!(p.host.pinned_pages(), 0);

    for n in 1..=points {
        let ctx = p.context(1 << 30);
        p.host.faults().fail_nth(n);
        let failed = scenario(&p, &ctx, &bufs);
        assert_eq!(failed, 1, "point {n} of {points} failed {failed} calls");
        // Still usable: the whole scenario runs again in the same context.
        p.host.faults().fail_nth(0);
        let again = Context::new(p.host.clone(), ctx.credentials());
        drop(ctx);
        assert_eq!(scenario(&p, &again, &bufs), 0, "after point {n}");
        drop(again);
        assert_eq!(p.host.pinned_pages(), 0, "pins leaked at point {n}");
        assert_eq!(
            p.host.user_locked_pages(1000),
            0,
            "charge leaked at point {n}"
        );
        assert_eq!(
            p.host.iommu().tables().stats().allocated,
            empty.1,
            "table pages leaked at point {n}"
        );
    }
}
