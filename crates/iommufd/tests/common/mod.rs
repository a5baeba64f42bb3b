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
