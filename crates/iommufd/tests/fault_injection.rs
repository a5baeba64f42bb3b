//! Every allocation and pin point made to fail in turn, through the map, copy, attach,
//! PASID, access, device and mdev paths: the call returns the error, nothing leaks (pins, locked pages, table pages,
//! objects, mappings), and the context stays usable.

mod common;

use common::{Buffer, Platform, vtd_with};
use softiommu_core::DeviceCaps;
use std::sync::Arc;

use softiommu_iommufd::{
    ACCESS_NEEDS_PIN_PAGES, Access, AccessOps, Context, Error, HWPT_ALLOC_PASID,
    MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE,
};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;

/// An access owner that unpins whatever it is told to.
struct Unpinner;

impl AccessOps for Unpinner {
    fn unmap(&self, access: &Access, iova: u64, length: u64) {
        let last = iova.saturating_add(length.saturating_sub(1));
        for (i, l) in access.pinned() {
            if i <= last && i + l > iova {
                let _ = access.unpin_pages(i, l);
            }
        }
    }
}

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
        let attached = step(&ioases, &mut || ctx.device_attach(d1, b)).is_some();
        step(&ioases, &mut || ctx.hwpt_alloc(d1, b, 0));
        // A HWPT made for PASIDs, at the RID and at a PASID.
        let hp = step(&ioases, &mut || ctx.hwpt_alloc(d1, b, HWPT_ALLOC_PASID));
        if let (Some(hp), true) = (hp, attached) {
            step(&ioases, &mut || ctx.device_replace(d1, hp));
            step(&ioases, &mut || ctx.device_pasid_attach(d1, 9, hp));
        }
    }
    if let (Some(d0), Some(b), true) = (d0, b, attached) {
        step(&ioases, &mut || ctx.device_replace(d0, b));
    }
    // The access paths: create, pin (shared with the domains' pins, or first), copy by IOVA,
    // move to the other IOAS, and an unmap that the owner's callback lets through.
    let mut access: Option<Arc<Access>> = None;
    if let Some(a) = a {
        step(&ioases, &mut || {
            access = Some(ctx.access_create(a, ACCESS_NEEDS_PIN_PAGES, Arc::new(Unpinner))?);
            Ok(0)
        });
    }
    if let (Some(acc), true) = (&access, mapped) {
        let pinned = step(&ioases, &mut || {
            acc.pin_pages(0x10_1000, 0x2000, true)
                .map(|v| v.len() as u32)
        });
        step(&ioases, &mut || {
            acc.write(0x10_1800, b"through the access").map(|()| 0)
        });
        if pinned.is_some() {
            step(&ioases, &mut || {
                acc.unpin_pages(0x10_1000, 0x2000).map(|()| 0)
            });
        }
        step(&ioases, &mut || {
            acc.pin_pages(0x10_3000, 0x1000, false).map(|_| 0)
        });
        if let Some(a) = a {
            step(&ioases, &mut || {
                ctx.ioas_unmap(a, 0x10_0000, 64 << 10).map(|_| 0)
            });
        }
        if let Some(b) = b {
            step(&ioases, &mut || ctx.access_replace_ioas(acc, b).map(|()| 0));
        }
    }
    failed
}

#[test]
fn every_failure_point_fails_cleanly_and_leaves_the_context_usable() {
    let caps = DeviceCaps {
        pasid_bits: 20,
        ..DeviceCaps::default()
    };
    let p = vtd_with(2, caps);
    let bufs = [Buffer::new(64 << 10, 4096), Buffer::new(2 << 20, 2 << 20)];
    // A clean run counts the points. The driver keeps each device's own structures (its
    // context and PASID tables) once made, so the baseline is taken after it.
    let ctx = p.context(1 << 30);
    p.host.faults().fail_nth(0);
    assert_eq!(scenario(&p, &ctx, &bufs), 0);
    let points = p.host.faults().passed();
    assert!(points >= 18, "only {points} failure points on the paths");
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

/// The mdev paths: bind, attach to an IOAS (an automatic domain for the parent's PASID, or
/// an access), a HWPT of the mdev's own, and a move onto it. Each failure point fails one
/// call, leaves the state as it was, and nothing is left once the file is closed.
fn mdev_sweep(p: &Platform) {
    use softiommu_core::Rid;
    use softiommu_devices::dsa::{DsaConfig, DsaFunction};
    use softiommu_iommufd::vfio::{MdevParent, VfioPci};

    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = Arc::new(DsaFunction::new(DsaConfig::default(), port, rid).expect("engine"));
    let parent = MdevParent::new(&vfio, p.devs[0], rid, f).expect("parent");
    let name = parent.create().expect("mdev");
    let buf = Buffer::new(64 << 10, 4096);
    let run = |ctx: &Arc<Context>| -> usize {
        let dev = parent.open(&name).expect("open");
        let mut failed = 0;
        let mut step = |f: &mut dyn FnMut() -> Result<u32, Error>| -> Option<u32> {
            let before = state(p, ctx, &[]);
            match f() {
                Ok(v) => Some(v),
                Err(e) => {
                    assert_eq!(e.errno(), libc::ENOMEM, "{e}");
                    assert_eq!(
                        state(p, ctx, &[]),
                        before,
                        "a failed call changed the state: {e}"
                    );
                    failed += 1;
                    None
                }
            }
        };
        let ioas = step(&mut || ctx.ioas_alloc());
        let id = step(&mut || dev.bind_iommufd(ctx));
        if let (Some(ioas), Some(id)) = (ioas, id) {
            step(&mut || {
                ctx.ioas_map(ioas, RW | FIXED, buf.addr(0), 64 << 10, 0x10_0000)
                    .map(|_| 0)
            });
            step(&mut || dev.attach_pt(ioas));
            if parent.uses_pasid() {
                let h = step(&mut || ctx.hwpt_alloc(id, ioas, HWPT_ALLOC_PASID));
                if let Some(h) = h {
                    step(&mut || dev.attach_pt(h));
                }
            }
            step(&mut || dev.attach_pt(ioas));
        }
        drop(dev);
        failed
    };
    let ctx = Arc::new(p.context(1 << 30));
    p.host.faults().fail_nth(0);
    assert_eq!(run(&ctx), 0);
    let points = p.host.faults().passed();
    assert!(points >= 4, "only {points} failure points");
    drop(ctx);
    let tables = p.host.iommu().tables().stats().allocated;
    for n in 1..=points {
        let ctx = Arc::new(p.context(1 << 30));
        p.host.faults().fail_nth(n);
        assert_eq!(run(&ctx), 1, "point {n} of {points}");
        p.host.faults().fail_nth(0);
        drop(ctx);
        assert_eq!(p.host.pinned_pages(), 0, "pins leaked at point {n}");
        assert_eq!(
            p.host.user_locked_pages(1000),
            0,
            "charge leaked at point {n}"
        );
        assert_eq!(
            p.host.iommu().tables().stats().allocated,
            tables,
            "table pages leaked at point {n}"
        );
    }
    // Still usable afterwards.
    let ctx = Arc::new(p.context(1 << 30));
    assert_eq!(run(&ctx), 0);
}

#[test]
fn every_failure_point_of_the_mdev_paths_fails_cleanly() {
    let caps = DeviceCaps {
        pasid_bits: 20,
        ..DeviceCaps::default()
    };
    mdev_sweep(&vtd_with(1, caps));
    mdev_sweep(&vtd_with(1, DeviceCaps::default()));
}
