//! The trace of `softiommu exec --trace` on standard error: each call on softiommu's
//! descriptors with its decoded arguments and result, each trapped BAR access, and the
//! `tracing` events of the hardware models and the core (faults, invalidations, page
//! requests and responses), one line each, prefixed `softiommu:`.
//!
//! Off unless [`ENV_TRACE`](crate::config::ENV_TRACE) is set: then nothing is formatted,
//! and no subscriber is installed, so the models' events cost what a disabled `tracing`
//! call site costs.

use std::ffi::c_int;
use std::fmt::{Debug, Write as _};
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::field::{Field, Visit};
use tracing::span;

use crate::config::ENV_TRACE;
use crate::state::Obj;

/// 0: not looked at yet, 1: off, 2: on.
static ON: AtomicU8 = AtomicU8::new(0);

/// Whether the trace is on (read from the environment once).
pub(crate) fn on() -> bool {
    match ON.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => {
            let on = std::env::var_os(ENV_TRACE).is_some_and(|v| !v.is_empty() && v != "0");
            ON.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

/// Writes one line to standard error (the raw system call: no interposed function, no
/// buffer shared with the program's own `stderr`).
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let mut s = String::from("softiommu: ");
    let _ = s.write_fmt(args);
    s.push('\n');
    // SAFETY: write(2) of a live buffer of `s.len()` bytes to descriptor 2.
    unsafe { libc::syscall(libc::SYS_write, 2, s.as_ptr(), s.len()) };
}

/// The subscriber that prints every event of the models and the core as one line.
struct Stderr;

/// An event's message and its other fields as `name=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl tracing::Subscriber for Stderr {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        line(format_args!(
            "{}: {}{}",
            event.metadata().target(),
            f.message,
            f.rest
        ));
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Installs the subscriber when the trace is on; run as the library is loaded.
extern "C" fn init() {
    let _ = std::panic::catch_unwind(|| {
        if on() {
            let _ = tracing::dispatcher::set_global_default(tracing::Dispatch::new(Stderr));
        }
    });
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

/// How a field of an argument structure is shown.
#[derive(Clone, Copy)]
enum Show {
    /// A `u32` in decimal.
    Dec,
    /// A `u32` in hexadecimal.
    Hex,
    /// A `u64` in hexadecimal.
    Hex64,
}

use Show::{Dec, Hex, Hex64};

/// A field: its name, byte offset and form.
type F = (&'static str, u64, Show);

/// What the argument of an ioctl is.
#[derive(Clone, Copy)]
enum Arg {
    /// None, or one the trace does not decode.
    None,
    /// An integer passed by value.
    Value(&'static str),
    /// A pointer to an `int`.
    IntAt(&'static str),
    /// A pointer to a NUL-terminated string.
    Str(&'static str),
    /// A pointer to a structure with these fields.
    Fields(&'static [F]),
}

/// iommufd's commands from `0x80`: name and argument.
const IOMMUFD: [(&str, Arg); 21] = [
    ("IOMMU_DESTROY", Arg::Fields(&[("id", 4, Dec)])),
    (
        "IOMMU_IOAS_ALLOC",
        Arg::Fields(&[("flags", 4, Hex), ("out_ioas_id", 8, Dec)]),
    ),
    (
        "IOMMU_IOAS_ALLOW_IOVAS",
        Arg::Fields(&[("ioas_id", 4, Dec), ("num_iovas", 8, Dec)]),
    ),
    (
        "IOMMU_IOAS_COPY",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("dst_ioas_id", 8, Dec),
            ("src_ioas_id", 12, Dec),
            ("length", 16, Hex64),
            ("dst_iova", 24, Hex64),
            ("src_iova", 32, Hex64),
        ]),
    ),
    (
        "IOMMU_IOAS_IOVA_RANGES",
        Arg::Fields(&[("ioas_id", 4, Dec), ("num_iovas", 8, Dec)]),
    ),
    (
        "IOMMU_IOAS_MAP",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("ioas_id", 8, Dec),
            ("user_va", 16, Hex64),
            ("length", 24, Hex64),
            ("iova", 32, Hex64),
        ]),
    ),
    (
        "IOMMU_IOAS_UNMAP",
        Arg::Fields(&[
            ("ioas_id", 4, Dec),
            ("iova", 8, Hex64),
            ("length", 16, Hex64),
        ]),
    ),
    (
        "IOMMU_OPTION",
        Arg::Fields(&[
            ("option_id", 4, Dec),
            ("object_id", 12, Dec),
            ("val64", 16, Hex64),
        ]),
    ),
    ("IOMMU_VFIO_IOAS", Arg::Fields(&[("ioas_id", 4, Dec)])),
    (
        "IOMMU_HWPT_ALLOC",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("dev_id", 8, Dec),
            ("pt_id", 12, Dec),
            ("out_hwpt_id", 16, Dec),
            ("data_type", 24, Hex),
            ("fault_id", 40, Dec),
        ]),
    ),
    (
        "IOMMU_GET_HW_INFO",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("dev_id", 8, Dec),
            ("data_len", 12, Dec),
            ("out_data_type", 24, Dec),
        ]),
    ),
    (
        "IOMMU_HWPT_SET_DIRTY_TRACKING",
        Arg::Fields(&[("flags", 4, Hex), ("hwpt_id", 8, Dec)]),
    ),
    (
        "IOMMU_HWPT_GET_DIRTY_BITMAP",
        Arg::Fields(&[
            ("hwpt_id", 4, Dec),
            ("flags", 8, Hex),
            ("iova", 16, Hex64),
            ("length", 24, Hex64),
            ("page_size", 32, Hex64),
        ]),
    ),
    (
        "IOMMU_HWPT_INVALIDATE",
        Arg::Fields(&[
            ("hwpt_id", 4, Dec),
            ("data_type", 16, Dec),
            ("entry_len", 20, Dec),
            ("entry_num", 24, Dec),
        ]),
    ),
    (
        "IOMMU_FAULT_QUEUE_ALLOC",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("out_fault_id", 8, Dec),
            ("out_fault_fd", 12, Dec),
        ]),
    ),
    (
        "IOMMU_IOAS_MAP_FILE",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("ioas_id", 8, Dec),
            ("fd", 12, Dec),
            ("start", 16, Hex64),
            ("length", 24, Hex64),
            ("iova", 32, Hex64),
        ]),
    ),
    (
        "IOMMU_VIOMMU_ALLOC",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("type", 8, Dec),
            ("dev_id", 12, Dec),
            ("hwpt_id", 16, Dec),
            ("out_viommu_id", 20, Dec),
        ]),
    ),
    (
        "IOMMU_VDEVICE_ALLOC",
        Arg::Fields(&[
            ("viommu_id", 4, Dec),
            ("dev_id", 8, Dec),
            ("out_vdevice_id", 12, Dec),
            ("virt_id", 16, Hex64),
        ]),
    ),
    ("IOMMU_IOAS_CHANGE_PROCESS", Arg::None),
    (
        "IOMMU_VEVENTQ_ALLOC",
        Arg::Fields(&[
            ("flags", 4, Hex),
            ("viommu_id", 8, Dec),
            ("type", 12, Dec),
            ("veventq_depth", 16, Dec),
            ("out_veventq_id", 20, Dec),
            ("out_veventq_fd", 24, Dec),
        ]),
    ),
    ("IOMMU_HW_QUEUE_ALLOC", Arg::None),
];

/// The kernel's test channel.
const TEST_CMD: (&str, Arg) = (
    "IOMMU_TEST_CMD",
    Arg::Fields(&[("op", 4, Dec), ("id", 8, Dec)]),
);

/// VFIO's commands from 100 that every descriptor answers.
fn vfio_common(nr: u64) -> Option<(&'static str, Arg)> {
    Some(match nr {
        100 => ("VFIO_GET_API_VERSION", Arg::None),
        101 => ("VFIO_CHECK_EXTENSION", Arg::Value("extension")),
        _ => return None,
    })
}

/// VFIO's container commands.
fn vfio_container(nr: u64) -> Option<(&'static str, Arg)> {
    Some(match nr {
        102 => ("VFIO_SET_IOMMU", Arg::Value("type")),
        112 => (
            "VFIO_IOMMU_GET_INFO",
            Arg::Fields(&[("flags", 4, Hex), ("iova_pgsizes", 8, Hex64)]),
        ),
        113 => (
            "VFIO_IOMMU_MAP_DMA",
            Arg::Fields(&[
                ("flags", 4, Hex),
                ("vaddr", 8, Hex64),
                ("iova", 16, Hex64),
                ("size", 24, Hex64),
            ]),
        ),
        114 => (
            "VFIO_IOMMU_UNMAP_DMA",
            Arg::Fields(&[("flags", 4, Hex), ("iova", 8, Hex64), ("size", 16, Hex64)]),
        ),
        115 => ("VFIO_IOMMU_ENABLE", Arg::None),
        116 => ("VFIO_IOMMU_DISABLE", Arg::None),
        117 => ("VFIO_IOMMU_DIRTY_PAGES", Arg::Fields(&[("flags", 4, Hex)])),
        _ => return vfio_common(nr),
    })
}

/// VFIO's group commands.
fn vfio_group(nr: u64) -> Option<(&'static str, Arg)> {
    Some(match nr {
        103 => ("VFIO_GROUP_GET_STATUS", Arg::Fields(&[("flags", 4, Hex)])),
        104 => ("VFIO_GROUP_SET_CONTAINER", Arg::IntAt("container")),
        105 => ("VFIO_GROUP_UNSET_CONTAINER", Arg::None),
        106 => ("VFIO_GROUP_GET_DEVICE_FD", Arg::Str("name")),
        _ => return vfio_common(nr),
    })
}

/// VFIO's device commands.
fn vfio_device(nr: u64) -> Option<(&'static str, Arg)> {
    Some(match nr {
        107 => (
            "VFIO_DEVICE_GET_INFO",
            Arg::Fields(&[
                ("flags", 4, Hex),
                ("num_regions", 8, Dec),
                ("num_irqs", 12, Dec),
            ]),
        ),
        108 => (
            "VFIO_DEVICE_GET_REGION_INFO",
            Arg::Fields(&[
                ("flags", 4, Hex),
                ("index", 8, Dec),
                ("size", 16, Hex64),
                ("offset", 24, Hex64),
            ]),
        ),
        109 => (
            "VFIO_DEVICE_GET_IRQ_INFO",
            Arg::Fields(&[("flags", 4, Hex), ("index", 8, Dec), ("count", 12, Dec)]),
        ),
        110 => (
            "VFIO_DEVICE_SET_IRQS",
            Arg::Fields(&[
                ("flags", 4, Hex),
                ("index", 8, Dec),
                ("start", 12, Dec),
                ("count", 16, Dec),
            ]),
        ),
        111 => ("VFIO_DEVICE_RESET", Arg::None),
        112 => (
            "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
            Arg::Fields(&[("flags", 4, Hex), ("count", 8, Dec)]),
        ),
        113 => (
            "VFIO_DEVICE_PCI_HOT_RESET",
            Arg::Fields(&[("flags", 4, Hex), ("count", 8, Dec)]),
        ),
        117 => ("VFIO_DEVICE_FEATURE", Arg::Fields(&[("flags", 4, Hex)])),
        118 => (
            "VFIO_DEVICE_BIND_IOMMUFD",
            Arg::Fields(&[
                ("flags", 4, Hex),
                ("iommufd", 8, Dec),
                ("out_devid", 12, Dec),
            ]),
        ),
        119 => (
            "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            Arg::Fields(&[("flags", 4, Hex), ("pt_id", 8, Dec), ("pasid", 12, Dec)]),
        ),
        120 => (
            "VFIO_DEVICE_DETACH_IOMMUFD_PT",
            Arg::Fields(&[("flags", 4, Hex), ("pasid", 8, Dec)]),
        ),
        _ => return vfio_common(nr),
    })
}

/// The name and argument of `request` on `obj`, if it is one of the commands the object's
/// file answers (`_IO(';', nr)`).
fn command(obj: &Obj, request: u64) -> Option<(&'static str, Arg)> {
    if request >> 8 != u64::from(b';') {
        return None;
    }
    let nr = request & 0xff;
    match obj {
        Obj::Iommu(_) => match nr {
            0xa0 => Some(TEST_CMD),
            0x80..=0x94 => {
                let (name, arg) = IOMMUFD[(nr - 0x80) as usize];
                Some((name, arg))
            }
            _ => vfio_container(nr),
        },
        Obj::Group(_) => vfio_group(nr),
        Obj::Device(_) => vfio_device(nr),
    }
}

/// A call's result as the trace shows it: the value, or -1 and the errno's name.
pub(crate) fn result<T: std::fmt::Display>(r: &Result<T, c_int>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("-1 {}", errno_name(*e)),
    }
}

/// The name of errno `e`.
fn errno_name(e: c_int) -> String {
    let known = [
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::EIO, "EIO"),
        (libc::ENXIO, "ENXIO"),
        (libc::E2BIG, "E2BIG"),
        (libc::EBADF, "EBADF"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::EACCES, "EACCES"),
        (libc::EFAULT, "EFAULT"),
        (libc::EBUSY, "EBUSY"),
        (libc::EEXIST, "EEXIST"),
        (libc::ENODEV, "ENODEV"),
        (libc::EINVAL, "EINVAL"),
        (libc::EMFILE, "EMFILE"),
        (libc::ENOTTY, "ENOTTY"),
        (libc::ENOSPC, "ENOSPC"),
        (libc::ERANGE, "ERANGE"),
        (libc::EOPNOTSUPP, "EOPNOTSUPP"),
        (libc::EOVERFLOW, "EOVERFLOW"),
        (libc::ETIMEDOUT, "ETIMEDOUT"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == e)
        .map_or_else(|| format!("errno {e}"), |(_, s)| (*s).to_string())
}

/// One traced `ioctl` on `fd`, open on `obj`: `read` copies the caller's memory (false
/// where it is not readable), so the arguments are shown as they are after the call.
pub(crate) fn ioctl(
    fd: c_int,
    obj: &Obj,
    request: u64,
    arg: u64,
    result: &Result<i64, c_int>,
    read: &dyn Fn(u64, &mut [u8]) -> bool,
) {
    let (name, what) = match command(obj, request) {
        Some((n, a)) => (n.to_string(), a),
        None => (format!("{request:#x}"), Arg::Value("arg")),
    };
    let mut args = String::new();
    match what {
        Arg::None => {}
        Arg::Value(n) => {
            let _ = write!(args, " {n}={arg:#x}");
        }
        Arg::IntAt(n) => {
            let mut b = [0u8; 4];
            if read(arg, &mut b) {
                let _ = write!(args, " {n}={}", i32::from_ne_bytes(b));
            }
        }
        Arg::Str(n) => {
            let mut b = [0u8; 64];
            let len = (0..b.len())
                .take_while(|&i| read(arg.wrapping_add(i as u64), &mut b[i..=i]) && b[i] != 0)
                .count();
            let _ = write!(args, " {n}={:?}", String::from_utf8_lossy(&b[..len]));
        }
        Arg::Fields(fields) => {
            for (n, off, show) in fields {
                let _ = match show {
                    Dec | Hex => {
                        let mut b = [0u8; 4];
                        if !read(arg.wrapping_add(*off), &mut b) {
                            break;
                        }
                        let v = u32::from_ne_bytes(b);
                        match show {
                            Dec => write!(args, " {n}={v}"),
                            _ => write!(args, " {n}={v:#x}"),
                        }
                    }
                    Hex64 => {
                        let mut b = [0u8; 8];
                        if !read(arg.wrapping_add(*off), &mut b) {
                            break;
                        }
                        write!(args, " {n}={:#x}", u64::from_ne_bytes(b))
                    }
                };
            }
        }
    }
    let res = self::result(result);
    line(format_args!("ioctl({fd}, {name}{{{args} }}) = {res}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_named() {
        assert_eq!(errno_name(libc::EINVAL), "EINVAL");
        assert_eq!(errno_name(4095), "errno 4095");
    }
}
