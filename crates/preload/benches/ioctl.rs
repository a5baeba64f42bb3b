//! An ioctl round trip through the preload library beside a bare `ioctl` on an ordinary
//! descriptor, all measured in the same run.
//!
//! The benchmark runs itself again with the built library in `LD_PRELOAD` and the
//! configuration `softiommu exec` sets, so its calls to `open`, `ioctl` and the rest reach
//! the library's interposed functions exactly as an unmodified program's do. Measured:
//! - `bare ioctl (system call)`: `FIONREAD` on a pipe as a raw system call, past every hook;
//! - `bare ioctl through the hook`: the same through `ioctl`, which the library hands on;
//! - `fstat`: a system call that does next to nothing, for scale (the library's table of
//!   descriptors costs none per call);
//! - `IOAS map+unmap 4 KiB`: `IOMMU_IOAS_MAP` then `IOMMU_IOAS_UNMAP` of one page on
//!   `/dev/iommu`, an IOAS with no device (pinning and the IOAS's areas, no page table);
//! - `type1 MAP_DMA+UNMAP_DMA 4 KiB`: the same through a type1 container with the copy
//!   engine's group attached, so each call also fills and clears the VT-d domain's page
//!   table and invalidates the IOTLB.

use std::ffi::CStr;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use iommufd_bindings::iommufd as uapi;

const IOAS_ALLOC: u64 = (uapi::IOMMUFD_TYPE as u64) << 8 | uapi::IOMMUFD_CMD_IOAS_ALLOC as u64;
const IOAS_MAP: u64 = (uapi::IOMMUFD_TYPE as u64) << 8 | uapi::IOMMUFD_CMD_IOAS_MAP as u64;
const IOAS_UNMAP: u64 = (uapi::IOMMUFD_TYPE as u64) << 8 | uapi::IOMMUFD_CMD_IOAS_UNMAP as u64;
/// VFIO's `_IO(';', 100 + n)` numbers.
const VFIO_SET_CONTAINER: u64 = 0x3b00 | 104;
const VFIO_SET_IOMMU: u64 = 0x3b00 | 102;
const VFIO_MAP_DMA: u64 = 0x3b00 | 113;
const VFIO_UNMAP_DMA: u64 = 0x3b00 | 114;
const VFIO_TYPE1V2: u64 = 3;
const IOVA: u64 = 1 << 30;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

static mut PAGE: Page = Page([0; 4096]);

/// The page the mappings map.
fn page() -> u64 {
    (&raw const PAGE) as u64
}

fn open(path: &CStr) -> i32 {
    // SAFETY: a NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) };
    assert!(fd >= 0, "open {path:?}");
    fd
}

/// `ioctl(fd, cmd, arg)` through the library's hook; the errno on failure.
fn ioctl<T>(fd: i32, cmd: u64, arg: &mut T) -> Result<(), i32> {
    // SAFETY: `arg` is a live structure of the size the command reads and writes.
    let r = unsafe { libc::ioctl(fd, cmd, (arg as *mut T).cast::<libc::c_void>()) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(())
    }
}

/// `/dev/iommu` and an IOAS on it.
fn iommufd() -> (i32, u32) {
    let fd = open(c"/dev/iommu");
    let mut alloc = uapi::iommu_ioas_alloc {
        size: size_of::<uapi::iommu_ioas_alloc>() as u32,
        ..Default::default()
    };
    ioctl(fd, IOAS_ALLOC, &mut alloc).expect("IOAS_ALLOC");
    (fd, alloc.out_ioas_id)
}

fn ioas_map_unmap(fd: i32, ioas: u32) {
    let mut map = uapi::iommu_ioas_map {
        size: size_of::<uapi::iommu_ioas_map>() as u32,
        flags: uapi::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_FIXED_IOVA
            | uapi::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_READABLE
            | uapi::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_WRITEABLE,
        ioas_id: ioas,
        user_va: page(),
        length: 4096,
        iova: IOVA,
        ..Default::default()
    };
    ioctl(fd, IOAS_MAP, &mut map).expect("IOAS_MAP");
    let mut unmap = uapi::iommu_ioas_unmap {
        size: size_of::<uapi::iommu_ioas_unmap>() as u32,
        ioas_id: ioas,
        iova: IOVA,
        length: 4096,
    };
    ioctl(fd, IOAS_UNMAP, &mut unmap).expect("IOAS_UNMAP");
}

/// A type1 container holding the copy engine's group.
fn container() -> i32 {
    let mut link = [0u8; 256];
    let path = c"/sys/bus/pci/devices/0000:00:04.0/iommu_group";
    // SAFETY: readlink writes at most `link.len()` bytes into `link`.
    let n = unsafe { libc::readlink(path.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
    assert!(n > 0, "the group link");
    let target = String::from_utf8_lossy(&link[..n as usize]).into_owned();
    let number = target.rsplit('/').next().unwrap_or_default();
    let group = std::ffi::CString::new(format!("/dev/vfio/{number}")).expect("a path");
    let c = open(c"/dev/vfio/vfio");
    let g = open(&group);
    let mut cfd = c;
    ioctl(g, VFIO_SET_CONTAINER, &mut cfd).expect("SET_CONTAINER");
    // SAFETY: VFIO_SET_IOMMU takes its argument by value.
    assert_eq!(unsafe { libc::ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1V2) }, 0);
    c
}

#[repr(C)]
#[derive(Default)]
struct DmaMap {
    argsz: u32,
    flags: u32,
    vaddr: u64,
    iova: u64,
    size: u64,
}

#[repr(C)]
#[derive(Default)]
struct DmaUnmap {
    argsz: u32,
    flags: u32,
    iova: u64,
    size: u64,
}

fn type1_map_unmap(c: i32) {
    let mut map = DmaMap {
        argsz: size_of::<DmaMap>() as u32,
        flags: 3,
        vaddr: page(),
        iova: IOVA,
        size: 4096,
    };
    ioctl(c, VFIO_MAP_DMA, &mut map).expect("MAP_DMA");
    let mut unmap = DmaUnmap {
        argsz: size_of::<DmaUnmap>() as u32,
        iova: IOVA,
        size: 4096,
        ..Default::default()
    };
    ioctl(c, VFIO_UNMAP_DMA, &mut unmap).expect("UNMAP_DMA");
}

/// An ordinary descriptor: the read end of a pipe.
fn pipe() -> i32 {
    let mut p = [0i32; 2];
    // SAFETY: pipe writes two descriptors into `p`.
    assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
    p[0]
}

fn bare_syscall(fd: i32) -> i32 {
    let mut n = 0i32;
    // SAFETY: FIONREAD writes one int into `n`.
    unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::FIONREAD, &mut n) as i32 }
}

fn bare_hooked(fd: i32) -> i32 {
    let mut n = 0i32;
    // SAFETY: as above, through the library's `ioctl`.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }
}

fn bare_fstat(fd: i32) -> i32 {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` into `st`, which is not read.
    unsafe { libc::fstat(fd, st.as_mut_ptr()) }
}

fn per_op(n: u32, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

fn bench(c: &mut Criterion) {
    let ordinary = pipe();
    let (fd, ioas) = iommufd();
    let cont = container();
    let mut g = c.benchmark_group("ioctl");
    g.bench_function("bare ioctl (system call)", |b| {
        b.iter(|| bare_syscall(black_box(ordinary)))
    });
    g.bench_function("bare ioctl through the hook", |b| {
        b.iter(|| bare_hooked(black_box(ordinary)))
    });
    g.bench_function("fstat", |b| b.iter(|| bare_fstat(black_box(ordinary))));
    g.bench_function("IOAS map+unmap 4 KiB", |b| {
        b.iter(|| ioas_map_unmap(black_box(fd), ioas))
    });
    g.bench_function("type1 MAP_DMA+UNMAP_DMA 4 KiB", |b| {
        b.iter(|| type1_map_unmap(black_box(cont)))
    });
    g.finish();
    // Side by side, interleaved, for the ratios.
    let mut t = [Duration::ZERO; 5];
    for _ in 0..5 {
        t[0] += per_op(20_000, || {
            black_box(bare_syscall(ordinary));
        });
        t[1] += per_op(20_000, || {
            black_box(bare_hooked(ordinary));
        });
        t[2] += per_op(5_000, || ioas_map_unmap(fd, ioas));
        t[3] += per_op(5_000, || type1_map_unmap(cont));
        t[4] += per_op(20_000, || {
            black_box(bare_fstat(ordinary));
        });
    }
    let ns = t.map(|d| d.as_nanos() as f64 / 5.0);
    println!(
        "bare ioctl {:.0} ns, through the hook {:.0} ns, fstat {:.0} ns; IOAS map+unmap 4 KiB {:.0} ns ({:.1}x a bare ioctl); type1 MAP_DMA+UNMAP_DMA 4 KiB {:.0} ns ({:.1}x)",
        ns[0],
        ns[1],
        ns[4],
        ns[2],
        ns[2] / ns[0],
        ns[3],
        ns[3] / ns[0]
    );
}

/// Set in the child that runs under the library.
const CHILD: &str = "SOFTIOMMU_BENCH_PRELOADED";

/// Runs this binary again with the library in `LD_PRELOAD` and the configuration
/// `softiommu exec --device dsa@0000:00:04.0` sets; its exit status.
fn under_preload() -> i32 {
    let exe = std::env::current_exe().expect("this binary");
    // The library is built into target/<profile>/deps beside this binary (and copied up
    // one level by builds that ask for it).
    let deps = exe.parent().expect("the binary's directory").to_path_buf();
    let lib = [deps.clone(), deps.join("..")]
        .into_iter()
        .map(|d| d.join("libsoftiommu_preload.so"))
        .find(|l| l.exists())
        .expect("libsoftiommu_preload.so is built beside the benchmark");
    let st = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("LD_PRELOAD", lib)
        .env("SOFTIOMMU_IOMMU", "vtd")
        .env("SOFTIOMMU_DEVICES", "dsa@0000:00:04.0")
        .env(CHILD, "1")
        .status()
        .expect("the benchmark runs");
    st.code().unwrap_or(1)
}

fn main() {
    if std::env::var_os(CHILD).is_none() {
        std::process::exit(under_preload());
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
