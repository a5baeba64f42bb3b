//! The platforms the scenarios run on: this process's memory under a VT-d or an SMMUv3 unit
//! brought up by its driver, with devices behind it, and helpers to call the binary
//! interface with the kernel's structures.

#![allow(dead_code)]

pub mod dsa;

use std::sync::Arc;

use softiommu_core::{DeviceCaps, DeviceDesc, DeviceId, Iommu, Mem, Rid, TableAlloc, Topology};
use softiommu_iommufd::{Context, Credentials, Host, iommufd_ioctl};
use softiommu_mem::{HostMemory, PageAlloc};

/// A host whose devices sit behind one IOMMU unit.
pub struct Platform {
    pub host: Arc<Host>,
    pub devs: Vec<DeviceId>,
    /// The unit's side of the bus, where functions' requests go.
    pub upstream: Arc<dyn softiommu_devices::bus::Upstream>,
}

fn topology(iommu: &Iommu, instance: softiommu_core::InstanceId, n: u8) -> Vec<DeviceId> {
    let devices = (0..n)
        .map(|i| DeviceDesc {
            rid: Rid::new(0, 0, 3 + i, 0),
            instance,
            caps: DeviceCaps::default(),
            bridge: None,
            alias: None,
        })
        .collect();
    let topo = Topology {
        bridges: vec![],
        devices,
    };
    iommu.add_devices(&topo).expect("devices")
}

fn base() -> (Arc<HostMemory>, Mem, TableAlloc) {
    let mem = Arc::new(HostMemory::new(64 << 20).expect("table arena"));
    let m: Mem = mem.clone();
    let (base, size) = mem.table_range();
    let tables: TableAlloc = Arc::new(PageAlloc::new(m.clone(), base, size).expect("allocator"));
    (mem, m, tables)
}

/// `n` devices behind a scalable-mode VT-d unit.
pub fn vtd(n: u8) -> Platform {
    use softiommu_vtd::driver::VtdDriver;
    use softiommu_vtd::model::VtdUnit;
    use softiommu_vtd::regs::VtdParams;
    let (mem, m, tables) = base();
    let unit = Arc::new(
        VtdUnit::new(
            VtdParams::default(),
            m.clone(),
            Arc::new(|_, _, _| {}),
            Arc::new(|_| {}),
        )
        .expect("unit"),
    );
    let upstream: Arc<dyn softiommu_devices::bus::Upstream> = unit.clone();
    let driver = Arc::new(VtdDriver::new(unit, m.clone(), tables.clone()).expect("driver"));
    let iommu = Arc::new(Iommu::new(m, tables));
    let inst = iommu.add_instance(driver);
    let devs = topology(&iommu, inst, n);
    Platform {
        host: Host::new(mem, iommu),
        devs,
        upstream,
    }
}

impl Platform {
    /// A context for an unprivileged user with `memlock` bytes of locked memory.
    pub fn context(&self, memlock: u64) -> Context {
        let cred = Credentials {
            memlock_limit: Some(memlock),
            ..Credentials::default()
        };
        Context::new(self.host.clone(), cred)
    }
}

/// The bytes of a kernel structure.
pub fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    let mut out = vec![0u8; std::mem::size_of::<T>()];
    // SAFETY: the bindings' structures are plain integers without padding; `out` has room
    // for exactly one `T`.
    unsafe {
        std::ptr::copy_nonoverlapping((v as *const T).cast::<u8>(), out.as_mut_ptr(), out.len())
    };
    out
}

/// A kernel structure from the first bytes of `b`.
pub fn from_bytes<T: Copy + Default>(b: &[u8]) -> T {
    let mut v = T::default();
    let n = b.len().min(std::mem::size_of::<T>());
    // SAFETY: any bytes are a valid value of the bindings' integer structures; at most
    // `size_of::<T>()` bytes are copied.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (&raw mut v).cast::<u8>(), n) };
    v
}

/// `ioctl(fd, _IO(';', nr), &v)` with the kernel structure `v`, which is updated with what
/// the call wrote back. Returns the errno on failure.
pub fn call<T: Copy + Default>(ctx: &Context, nr: u32, v: &mut T) -> Result<i64, i32> {
    let mut buf = bytes_of(v);
    let r = ctx.ioctl(u64::from(iommufd_ioctl(nr)), buf.as_mut_ptr() as u64);
    *v = from_bytes(&buf);
    r.map_err(|e| e.errno())
}

/// A page-aligned buffer of this process's memory.
pub struct Buffer {
    ptr: *mut u8,
    len: usize,
    layout: std::alloc::Layout,
}

impl Buffer {
    /// `len` bytes (a multiple of 4 KiB), aligned to `align`, zeroed.
    pub fn new(len: usize, align: usize) -> Buffer {
        let layout = std::alloc::Layout::from_size_align(len, align).expect("layout");
        // SAFETY: a non-zero-sized layout.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Buffer { ptr, len, layout }
    }

    /// The host address of byte `off`.
    pub fn addr(&self, off: usize) -> u64 {
        self.ptr as u64 + off as u64
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live allocation of `len` bytes owned by this buffer.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, and freed only here.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// The binary interface's IOAS calls, as a program makes them.
pub mod ops {
    use super::call;
    use iommufd_bindings as k;
    use softiommu_iommufd::Context;

    /// `IOMMU_IOAS_ALLOC`.
    pub fn ioas_alloc(ctx: &Context) -> u32 {
        let mut c = k::iommu_ioas_alloc {
            size: 12,
            ..Default::default()
        };
        call(ctx, 0x81, &mut c).expect("IOAS_ALLOC");
        c.out_ioas_id
    }

    /// `IOMMU_IOAS_MAP`; the IOVA or the errno.
    pub fn map(
        ctx: &Context,
        ioas: u32,
        flags: u32,
        va: u64,
        len: u64,
        iova: u64,
    ) -> Result<u64, i32> {
        let mut c = k::iommu_ioas_map {
            size: 40,
            flags,
            ioas_id: ioas,
            __reserved: 0,
            user_va: va,
            length: len,
            iova,
        };
        call(ctx, 0x85, &mut c).map(|_| c.iova)
    }

    /// `IOMMU_IOAS_UNMAP`; the bytes unmapped or the errno.
    pub fn unmap(ctx: &Context, ioas: u32, iova: u64, len: u64) -> Result<u64, i32> {
        let mut c = k::iommu_ioas_unmap {
            size: 24,
            ioas_id: ioas,
            iova,
            length: len,
        };
        call(ctx, 0x86, &mut c).map(|_| c.length)
    }

    /// `IOMMU_IOAS_COPY`; the destination IOVA or the errno.
    pub fn copy(
        ctx: &Context,
        dst: u32,
        src: u32,
        flags: u32,
        dst_iova: u64,
        src_iova: u64,
        len: u64,
    ) -> Result<u64, i32> {
        let mut c = k::iommu_ioas_copy {
            size: 40,
            flags,
            dst_ioas_id: dst,
            src_ioas_id: src,
            length: len,
            dst_iova,
            src_iova,
        };
        call(ctx, 0x83, &mut c).map(|_| c.dst_iova)
    }

    /// `IOMMU_IOAS_ALLOW_IOVAS` with `ranges` (first, last).
    pub fn allow(ctx: &Context, ioas: u32, ranges: &[(u64, u64)]) -> Result<(), i32> {
        let arr: Vec<k::iommu_iova_range> = ranges
            .iter()
            .map(|&(start, last)| k::iommu_iova_range { start, last })
            .collect();
        let mut c = k::iommu_ioas_allow_iovas {
            size: 24,
            ioas_id: ioas,
            num_iovas: arr.len() as u32,
            __reserved: 0,
            allowed_iovas: arr.as_ptr() as u64,
        };
        let r = call(ctx, 0x82, &mut c).map(|_| ());
        drop(arr);
        r
    }

    /// `IOMMU_IOAS_IOVA_RANGES` with room for `room` ranges: the ranges written, the total,
    /// the alignment, and the errno if any.
    pub fn ranges(ctx: &Context, ioas: u32, room: u32) -> (Vec<(u64, u64)>, u32, u64, Option<i32>) {
        let mut arr = vec![k::iommu_iova_range::default(); room as usize];
        let mut c = k::iommu_ioas_iova_ranges {
            size: 32,
            ioas_id: ioas,
            num_iovas: room,
            __reserved: 0,
            allowed_iovas: arr.as_mut_ptr() as u64,
            out_iova_alignment: 0,
        };
        let r = call(ctx, 0x84, &mut c);
        let arr = std::hint::black_box(arr);
        let written = (c.num_iovas.min(room)) as usize;
        let got = arr[..written].iter().map(|r| (r.start, r.last)).collect();
        (got, c.num_iovas, c.out_iova_alignment, r.err())
    }

    /// `IOMMU_OPTION`: `(option, op, object, value)`; the value read back or the errno.
    pub fn option(
        ctx: &Context,
        option_id: u32,
        op: u16,
        object_id: u32,
        val64: u64,
    ) -> Result<u64, i32> {
        let mut c = k::iommu_option {
            size: 24,
            option_id,
            op,
            __reserved: 0,
            object_id,
            val64,
        };
        call(ctx, 0x87, &mut c).map(|_| c.val64)
    }

    /// `IOMMU_DESTROY`.
    pub fn destroy(ctx: &Context, id: u32) -> Result<(), i32> {
        let mut c = k::iommu_destroy { size: 8, id };
        call(ctx, 0x80, &mut c).map(|_| ())
    }
}
