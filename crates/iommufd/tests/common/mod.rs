//! The platforms the scenarios run on: this process's memory under a VT-d or an SMMUv3 unit
//! brought up by its driver, with devices behind it, and helpers to call the binary
//! interface with the kernel's structures.

#![allow(dead_code)]

pub mod dsa;
pub mod events;
pub mod mock;
pub mod pri;
pub mod wq;

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

fn topology(
    iommu: &Iommu,
    instance: softiommu_core::InstanceId,
    n: u8,
    caps: DeviceCaps,
) -> Vec<DeviceId> {
    let devices = (0..n)
        .map(|i| DeviceDesc {
            rid: Rid::new(0, 0, 3 + i, 0),
            instance,
            caps,
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

/// An SMMUv3 with every feature (checking mode on) over `m`, brought up by its driver
/// with `tables`: the driver, the unit as the devices' upstream, and a channel that hears
/// of each interrupt `irq` the unit raises.
fn smmu_signalled(
    m: &Mem,
    tables: &TableAlloc,
    irq: softiommu_smmuv3::regs::Irq,
) -> (
    Arc<dyn softiommu_core::IommuDriver>,
    Arc<dyn softiommu_devices::bus::Upstream>,
    std::sync::mpsc::Receiver<()>,
) {
    use softiommu_smmuv3::driver::SmmuDriver;
    use softiommu_smmuv3::model::SmmuUnit;
    use softiommu_smmuv3::regs::{Interrupt, SmmuParams};
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = parking_lot::Mutex::new(tx);
    let unit = Arc::new(
        SmmuUnit::new(
            SmmuParams::full(),
            m.clone(),
            Arc::new(move |i: Interrupt| {
                if i.irq == irq {
                    let _ = tx.lock().send(());
                }
            }),
        )
        .expect("unit"),
    );
    unit.set_checking(true);
    let upstream: Arc<dyn softiommu_devices::bus::Upstream> = unit.clone();
    let driver = Arc::new(SmmuDriver::new(unit, m.clone(), tables.clone()).expect("driver"));
    (driver, upstream, rx)
}

/// A fresh private anonymous read-write mapping of `len` bytes of this process (the caller
/// unmaps it); asserts the call succeeded.
pub fn anon_map(len: usize) -> *mut libc::c_void {
    // SAFETY: a new mapping the kernel places; no existing memory is touched.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(at, libc::MAP_FAILED);
    at
}

/// `n` devices behind a scalable-mode VT-d unit.
pub fn vtd(n: u8) -> Platform {
    vtd_with(n, DeviceCaps::default())
}

/// `n` devices with capabilities `caps` behind a scalable-mode VT-d unit.
pub fn vtd_with(n: u8, caps: DeviceCaps) -> Platform {
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
    platform(mem, m, tables, driver, upstream, n, caps)
}

/// `n` devices behind an SMMUv3 with every feature, in its checking mode.
pub fn smmu(n: u8) -> Platform {
    smmu_with(n, DeviceCaps::default())
}

/// `n` devices with capabilities `caps` behind an SMMUv3 with every feature.
pub fn smmu_with(n: u8, caps: DeviceCaps) -> Platform {
    use softiommu_smmuv3::driver::SmmuDriver;
    use softiommu_smmuv3::model::SmmuUnit;
    use softiommu_smmuv3::regs::SmmuParams;
    let (mem, m, tables) = base();
    let unit =
        Arc::new(SmmuUnit::new(SmmuParams::full(), m.clone(), Arc::new(|_| {})).expect("unit"));
    unit.set_checking(true);
    let upstream: Arc<dyn softiommu_devices::bus::Upstream> = unit.clone();
    let driver = Arc::new(SmmuDriver::new(unit, m.clone(), tables.clone()).expect("driver"));
    platform(mem, m, tables, driver, upstream, n, caps)
}

/// A host whose core has `driver`'s one instance, with `n` devices behind it.
fn platform(
    mem: Arc<HostMemory>,
    m: Mem,
    tables: TableAlloc,
    driver: Arc<dyn softiommu_core::IommuDriver>,
    upstream: Arc<dyn softiommu_devices::bus::Upstream>,
    n: u8,
    caps: DeviceCaps,
) -> Platform {
    let iommu = Arc::new(Iommu::new(m, tables));
    let inst = iommu.add_instance(driver);
    let devs = topology(&iommu, inst, n, caps);
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
/// A guest's physical memory: `len` bytes of this process at host address `host`, seen
/// from guest-physical address `gpa` (how a VMM's guest RAM sits in an IOAS).
pub struct GuestView {
    pub mem: Arc<HostMemory>,
    pub host: u64,
    pub gpa: u64,
    pub len: u64,
}

impl GuestView {
    fn at(&self, pa: u64, len: u64) -> softiommu_mem::Result<u64> {
        let off = pa.wrapping_sub(self.gpa);
        if pa < self.gpa || off.checked_add(len).is_none_or(|e| e > self.len) {
            return Err(softiommu_mem::MemError::OutOfRange { addr: pa, len });
        }
        Ok(self.host + off)
    }
}

impl softiommu_mem::AddressSpace for GuestView {
    fn words(
        &self,
        pa: u64,
        count: usize,
    ) -> softiommu_mem::Result<&[std::sync::atomic::AtomicU64]> {
        let at = self.at(pa, count as u64 * 8)?;
        if !at.is_multiple_of(8) {
            return Err(softiommu_mem::MemError::Unaligned { addr: pa, align: 8 });
        }
        // SAFETY: `at .. at + 8 * count` lies in the test's buffer, which outlives the view
        // (each test keeps its `Buffer` until the end), and is 8-byte aligned; the guest's
        // table words are only ever accessed as `u64`s.
        Ok(unsafe { std::slice::from_raw_parts(at as *const std::sync::atomic::AtomicU64, count) })
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> softiommu_mem::Result<()> {
        let at = self.at(pa, buf.len() as u64)?;
        self.mem.read(at, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> softiommu_mem::Result<()> {
        let at = self.at(pa, buf.len() as u64)?;
        self.mem.write(at, buf)
    }
}

/// `IOMMU_VIOMMU_ALLOC` of type `ty` for device `dev` over nesting parent `hwpt`: the new
/// vIOMMU's id.
pub fn viommu_alloc(ctx: &Context, dev: u32, hwpt: u32, ty: u32) -> Result<u32, i32> {
    let mut c = iommufd_bindings::iommu_viommu_alloc {
        size: 40,
        type_: ty,
        dev_id: dev,
        hwpt_id: hwpt,
        ..Default::default()
    };
    call(ctx, 0x90, &mut c).map(|_| c.out_viommu_id)
}

/// `IOMMU_VDEVICE_ALLOC` of device `dev` on `viommu` with virtual id `virt_id`: the new
/// vDEVICE's id.
pub fn vdevice_alloc(ctx: &Context, viommu: u32, dev: u32, virt_id: u64) -> Result<u32, i32> {
    let mut c = iommufd_bindings::iommu_vdevice_alloc {
        size: 24,
        viommu_id: viommu,
        dev_id: dev,
        virt_id,
        ..Default::default()
    };
    call(ctx, 0x91, &mut c).map(|_| c.out_vdevice_id)
}

/// `IOMMU_HWPT_ALLOC` with `data` of `data_type`; the new HWPT's id.
pub fn hwpt_alloc(
    ctx: &Context,
    dev: u32,
    pt: u32,
    flags: u32,
    data_type: u32,
    data: &[u8],
) -> Result<u32, i32> {
    hwpt_alloc_fault(ctx, dev, pt, flags, data_type, data, 0)
}

/// `IOMMU_HWPT_ALLOC` with `data` of `data_type` and `fault_id` in the structure (used
/// when `flags` has `IOMMU_HWPT_FAULT_ID_VALID`); the new HWPT's id.
pub fn hwpt_alloc_fault(
    ctx: &Context,
    dev: u32,
    pt: u32,
    flags: u32,
    data_type: u32,
    data: &[u8],
    fault_id: u32,
) -> Result<u32, i32> {
    let mut c = iommufd_bindings::iommu_hwpt_alloc {
        size: 48,
        flags,
        dev_id: dev,
        pt_id: pt,
        data_type,
        data_len: data.len() as u32,
        data_uptr: data.as_ptr() as u64,
        fault_id,
        ..Default::default()
    };
    call(ctx, 0x89, &mut c).map(|_| c.out_hwpt_id)
}

/// `IOMMU_HWPT_INVALIDATE` of `entries` (each `entry_len` bytes) of `data_type` on `id`:
/// the call's result and the entry count written back.
pub fn invalidate(
    ctx: &Context,
    id: u32,
    data_type: u32,
    entry_len: u32,
    entries: &[u8],
) -> (Result<i64, i32>, u32) {
    let num = (entries.len() as u32).checked_div(entry_len).unwrap_or(0);
    let mut c = iommufd_bindings::iommu_hwpt_invalidate {
        size: 32,
        hwpt_id: id,
        data_uptr: entries.as_ptr() as u64,
        data_type,
        entry_len,
        entry_num: num,
        __reserved: 0,
    };
    let r = call(ctx, 0x8d, &mut c);
    (r, c.entry_num)
}

/// An IOAS (made through the binary interface) with `len` bytes of `buf` mapped at `iova`.
pub fn ioas_with(ctx: &Context, buf: &Buffer, len: u64, iova: u64) -> u32 {
    let mut a = iommufd_bindings::iommu_ioas_alloc {
        size: 12,
        ..Default::default()
    };
    call(ctx, 0x81, &mut a).expect("IOAS_ALLOC");
    let mut m = iommufd_bindings::iommu_ioas_map {
        size: 40,
        flags: 7,
        ioas_id: a.out_ioas_id,
        user_va: buf.addr(0),
        length: len,
        iova,
        ..Default::default()
    };
    call(ctx, 0x85, &mut m).expect("IOAS_MAP");
    a.out_ioas_id
}

/// `IOMMU_DESTROY` of `id`.
pub fn destroy(ctx: &Context, id: u32) -> Result<i64, i32> {
    let mut d = iommufd_bindings::iommu_destroy { size: 8, id };
    call(ctx, 0x80, &mut d)
}
