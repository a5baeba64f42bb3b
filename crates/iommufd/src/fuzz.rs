//! The body of the `iommufd_ioctl` fuzz target: any sequence of ioctls, with any numbers and
//! structure bytes, on a context over the core's reference driver with two devices and the
//! test channel's mock IOMMU (so `IOMMU_TEST_CMD` makes mock devices too); plus the device
//! calls that give the ioctls domains to fill, reads and writes of fault queues (whose
//! descriptors, like a vEVENTQ's, are closed as soon as they are made), PASID attaches, and
//! accesses (pins, copies by IOVA, moves, and unmaps that call their owner back). Pointers in
//! the structures are aimed
//! into a sandbox of this function's own (or at unmapped memory), since the interface, like
//! the kernel, reads and writes wherever a caller's pointer says.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use softiommu_core::reference::{RefConfig, RefIommu};
use softiommu_core::{DeviceCaps, DeviceDesc, DeviceId, Iommu, Mem, Rid, TableAlloc, Topology};
use softiommu_mem::{HostMemory, PageAlloc};

use crate::Context;
use crate::access::{ACCESS_NEEDS_PIN_PAGES, Access, AccessOps};
use crate::host::{Credentials, Host};

/// An access owner that unpins what it is told to, or (if `stubborn`) keeps its pins.
struct Owner {
    stubborn: bool,
}

impl AccessOps for Owner {
    fn unmap(&self, access: &Access, iova: u64, length: u64) {
        if self.stubborn {
            return;
        }
        let last = iova.saturating_add(length.saturating_sub(1));
        for (i, l) in access.pinned() {
            if i <= last && i.saturating_add(l - 1) >= iova {
                let _ = access.unpin_pages(i, l);
            }
        }
    }
}

/// The access calls: create, pin, unpin, read, write, move, destroy.
fn access_op(ctx: &Context, accesses: &mut Vec<Arc<Access>>, input: &mut Input<'_>) {
    let op = input.byte();
    let id = u32::from(input.byte() % 8);
    let iova = u64::from_le_bytes([input.byte(), input.byte(), input.byte(), 0, 0, 0, 0, 0]) << 8;
    let len = u64::from(input.byte()) << (input.byte() % 13);
    let pick = accesses
        .get(usize::from(op / 8) % accesses.len().max(1))
        .cloned();
    match (op % 8, pick) {
        (0, _) if accesses.len() < 4 => {
            let flags = u32::from(op / 8 % 3);
            let owner = Arc::new(Owner {
                stubborn: op & 0x80 != 0,
            });
            if let Ok(a) = ctx.access_create(id, flags & (ACCESS_NEEDS_PIN_PAGES | 2), owner) {
                accesses.push(a);
            }
        }
        (1, Some(a)) => {
            let _ = a.pin_pages(iova, len, op & 0x40 != 0);
        }
        (2, Some(a)) => {
            if let Some(&(i, l)) = a.pinned().first() {
                let _ = a.unpin_pages(i, l);
            }
        }
        (3, Some(a)) => {
            let mut buf = vec![0u8; (len as usize).min(1 << 14)];
            let _ = a.read(iova, &mut buf);
        }
        (4, Some(a)) => {
            let buf = vec![0x5a_u8; (len as usize).min(1 << 14)];
            let _ = a.write(iova, &buf);
        }
        (5, Some(a)) => {
            let _ = ctx.access_replace_ioas(&a, id);
        }
        (6, Some(a)) => {
            a.destroy();
            accesses.retain(|x| !Arc::ptr_eq(x, &a));
        }
        _ => {
            let _ = ctx.ioas_unmap(id, iova, len);
        }
    }
}

/// A host over the reference driver with `n` devices and the test channel's mock IOMMU, or
/// `None` if this process cannot make one (out of memory).
pub fn reference_host(cfg: RefConfig, n: u8) -> Option<(Arc<Host>, Vec<DeviceId>)> {
    let mem = Arc::new(HostMemory::new(16 << 20).ok()?);
    let m: Mem = mem.clone();
    let (base, size) = mem.table_range();
    let tables: TableAlloc = Arc::new(PageAlloc::new(m.clone(), base, size).ok()?);
    let iommu = Arc::new(Iommu::new(m.clone(), tables));
    let instance = iommu.add_instance(RefIommu::new(cfg, m).ok()?);
    let devices = (0..n)
        .map(|i| DeviceDesc {
            rid: Rid::new(0, 0, 3 + i, 0),
            instance,
            caps: DeviceCaps::default(),
            bridge: None,
            alias: None,
        })
        .collect();
    let devs = iommu
        .add_devices(&Topology {
            bridges: vec![],
            devices,
        })
        .ok()?;
    Some((Host::with_mock(mem, iommu).ok()?, devs))
}

/// `IOMMU_TEST_CMD`'s number.
const TEST_CMD: u32 = 0xa0;

/// Bytes of the sandbox the structures' pointers are aimed into.
const SANDBOX: usize = 256 << 10;

/// Reads the fuzz input a piece at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

/// Offsets of the pointer fields (user addresses) and the fd field of each command's
/// structure, by command number.
fn pointer_fields(nr: u32) -> (&'static [usize], Option<usize>) {
    match nr {
        0x82 | 0x84 => (&[16], None), // ALLOW_IOVAS, IOVA_RANGES: the range array
        0x85 => (&[16], None),        // IOAS_MAP: user_va
        0x8f => (&[], Some(12)),      // IOAS_MAP_FILE: fd
        // IOMMU_TEST_CMD: CHECK_REFS' uptr, CHECK_MAP's uptr, DIRTY's bitmap.
        0xa0 => (&[24, 32, 48], None),
        _ => (&[], None),
    }
}

/// Runs `data` as a sequence of calls; panics only on a broken invariant (a leak).
pub fn ioctls(data: &[u8]) {
    let Some((host, devs)) = reference_host(RefConfig::default(), 2) else {
        return;
    };
    let mut sandbox = vec![0u8; SANDBOX];
    let sandbox_at = sandbox.as_mut_ptr() as u64;
    // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
    let raw = unsafe { libc::memfd_create(c"fuzz".as_ptr(), 0) };
    if raw < 0 {
        return;
    }
    // SAFETY: a new descriptor this function owns.
    let memfd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate on the descriptor just made.
    if unsafe { libc::ftruncate(memfd.as_raw_fd(), 1 << 20) } != 0 {
        return;
    }
    let cred = Credentials {
        memlock_limit: Some(1 << 20),
        sys_resource: true,
        ..Credentials::default()
    };
    let ctx = Context::new(host.clone(), cred);
    let mut input = Input(data);
    let mut arg = vec![0u8; 128];
    let mut accesses: Vec<Arc<Access>> = Vec::new();
    let mut access_fds: Vec<i32> = Vec::new();
    for _ in 0..64 {
        if input.0.is_empty() {
            break;
        }
        let op = input.byte();
        let id = u32::from(input.byte() % 8);
        // The top quarter of op bytes: accesses, PASID attach and HWPT allocation.
        if op >= 0xc0 {
            match op % 4 {
                0 | 1 => access_op(&ctx, &mut accesses, &mut input),
                2 => {
                    let pasid = u32::from(input.byte());
                    let pt = u32::from(input.byte() % 8);
                    let _ = match (op >> 2) % 4 {
                        0 => ctx.device_pasid_attach(id, pasid, pt),
                        1 => ctx.device_pasid_replace(id, pasid, pt),
                        2 => ctx.device_pasid_detach(id, pasid).map(|()| 0),
                        _ => ctx.device_pasid_hwpt(id, pasid).map(|h| h.unwrap_or(0)),
                    };
                }
                _ => {
                    let pt = u32::from(input.byte() % 8);
                    let _ = ctx.hwpt_alloc(id, pt, u32::from(input.byte() % 16));
                }
            }
            continue;
        }
        match op % 10 {
            0 => {
                let _ = ctx.device_bind(devs[usize::from(op / 8 % 2)]);
            }
            1 => {
                let _ = ctx.device_attach(id, u32::from(input.byte() % 8));
            }
            2 => {
                let _ = ctx.device_replace(id, u32::from(input.byte() % 8));
            }
            3 => {
                let _ = ctx.device_detach(id);
            }
            4 => {
                // Responses written to a fault queue, whole or not.
                let n = usize::from(input.byte() % 40);
                let body = input.take(n);
                let _ = ctx.fault_write(id, &body);
            }
            5 => {
                let mut buf = vec![0u8; usize::from(input.byte() % 4) * 40 + usize::from(op & 1)];
                let _ = ctx.fault_read(id, &mut buf);
            }
            _ => {
                let pick = input.byte();
                let nr = if pick >= 0xf0 {
                    TEST_CMD
                } else {
                    0x78 + u32::from(pick % 0x30)
                };
                let size = match input.byte() % 4 {
                    0 => u32::from(input.byte()),
                    _ => 24 + 8 * u32::from(input.byte() % 8),
                };
                arg.fill(0);
                let body = input.take(arg.len());
                arg[..body.len()].copy_from_slice(&body);
                let framed = arg[0] & 3 != 0;
                arg[..4].copy_from_slice(&size.to_ne_bytes());
                if nr == TEST_CMD && framed {
                    // Mostly a well-framed test command with a known op.
                    arg[..4].copy_from_slice(&72u32.to_ne_bytes());
                    let (op, mut id) = (u32::from(1 + arg[4] % 23), u32::from(arg[8] % 8));
                    // The access ops name an access by the descriptor it was given.
                    if matches!(op, 6 | 7 | 8 | 11) && !access_fds.is_empty() {
                        id = access_fds[usize::from(arg[9]) % access_fds.len()] as u32;
                    }
                    arg[4..8].copy_from_slice(&op.to_ne_bytes());
                    arg[8..12].copy_from_slice(&id.to_ne_bytes());
                }
                let (ptrs, fd) = pointer_fields(nr);
                for &at in ptrs {
                    let mut v = [0u8; 8];
                    v.copy_from_slice(&arg[at..at + 8]);
                    let v = u64::from_ne_bytes(v);
                    // Into the sandbox, or (top bit) at the unmapped first page.
                    let aimed = if v >> 63 != 0 {
                        v & 0xfff
                    } else {
                        sandbox_at + (v % (SANDBOX as u64 / 2))
                    };
                    arg[at..at + 8].copy_from_slice(&aimed.to_ne_bytes());
                }
                if let Some(at) = fd {
                    let n = if arg[at] & 1 == 0 {
                        memfd.as_raw_fd()
                    } else {
                        -1
                    };
                    arg[at..at + 4].copy_from_slice(&n.to_ne_bytes());
                }
                let cmd = u64::from(crate::iommufd_ioctl(nr));
                let r = ctx.ioctl(cmd, arg.as_mut_ptr() as u64);
                // The descriptors a fault queue or a vEVENTQ hands out are the caller's.
                let fd_at = match nr {
                    0x8e => Some(12),
                    0x93 => Some(24),
                    _ => None,
                };
                let op = u32::from_ne_bytes([arg[4], arg[5], arg[6], arg[7]]);
                if r.is_ok() && nr == TEST_CMD && op == 5 {
                    // An access's descriptor, kept for the access ops until the end.
                    access_fds.push(i32::from_ne_bytes([arg[16], arg[17], arg[18], arg[19]]));
                }
                if let (Ok(_), Some(at)) = (r, fd_at) {
                    let mut v = [0u8; 4];
                    v.copy_from_slice(&arg[at..at + 4]);
                    // SAFETY: the descriptor the call just made for this caller.
                    unsafe { libc::close(i32::from_ne_bytes(v)) };
                }
            }
        }
    }
    drop(accesses);
    for fd in access_fds {
        // SAFETY: a descriptor the test channel made for this caller.
        unsafe { libc::close(fd) };
    }
    drop(ctx);
    drop(sandbox);
    assert_eq!(host.pinned_pages(), 0, "pins outlived their context");
    assert_eq!(
        host.user_locked_pages(cred.uid),
        0,
        "charge outlived its context"
    );
    assert_eq!(
        host.mm_locked_pages(cred.mm),
        0,
        "charge outlived its context"
    );
}
