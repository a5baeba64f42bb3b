//! `ioctl`, `read` and `write` on softiommu's descriptors: the binary entry points of
//! iommufd and VFIO, with the errno the kernel sets.

use std::ffi::{c_int, c_ulong, c_void};

use softiommu_iommufd::vfio::VfioDevice;

use super::{copy_in, copy_out, guarded, ret, ret_size};
use crate::real;
use crate::state::{Obj, Table, lookup, state};

/// The most a single `read` or `write` of a device file moves (a shorter count is a valid
/// answer, which the caller continues from).
const CHUNK: usize = 1 << 20;

/// `ioctl`: the object's binary entry point, or the real call.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    let Some(obj) = lookup(fd) else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::ioctl()(fd, request, arg) };
    };
    let (cmd, arg): (u64, u64) = (request, arg as u64);
    guarded(-1, || {
        let r = match &obj {
            Obj::Iommu(ctx) => ctx.ioctl(cmd, arg),
            Obj::Group(g) => g.ioctl(cmd, arg, &Table),
            Obj::Device(d) => d.ioctl_with_files(cmd, arg, &Table),
        };
        let r = r.map_err(|e| e.errno());
        if crate::trace::on() {
            crate::trace::ioctl(fd, &obj, cmd, arg, &r, &|at, buf| {
                state().is_some_and(|s| copy_in(s, at, buf).is_ok())
            });
        }
        // The kernel's handlers answer an `int`.
        ret(r.map(|v| v as c_int))
    })
}

/// Reads `len` bytes of `dev` at `off` into the caller's `buf`.
fn dev_read(dev: &VfioDevice, off: i64, buf: *mut c_void, len: usize) -> Result<isize, c_int> {
    let s = state().ok_or(libc::EBADF)?;
    let off = u64::try_from(off).map_err(|_| libc::EINVAL)?;
    let mut tmp = vec![0u8; len.min(CHUNK)];
    let n = dev.read(off, &mut tmp).map_err(|e| e.errno())?;
    copy_out(s, buf as u64, &tmp[..n.min(tmp.len())])?;
    Ok(n as isize)
}

/// Writes `len` bytes of the caller's `buf` to `dev` at `off`.
fn dev_write(dev: &VfioDevice, off: i64, buf: *const c_void, len: usize) -> Result<isize, c_int> {
    let s = state().ok_or(libc::EBADF)?;
    let off = u64::try_from(off).map_err(|_| libc::EINVAL)?;
    let mut tmp = vec![0u8; len.min(CHUNK)];
    copy_in(s, buf as u64, &mut tmp)?;
    let n = dev.write(off, &tmp).map_err(|e| e.errno())?;
    Ok(n as isize)
}

/// A read or write at the descriptor's own position, which it then moves past the bytes.
fn at_position(fd: c_int, f: impl FnOnce(i64) -> Result<isize, c_int>) -> Result<isize, c_int> {
    // SAFETY: lseek on the caller's descriptor; no pointer is passed.
    let pos = unsafe { real::lseek()(fd, 0, libc::SEEK_CUR) };
    let n = f(pos)?;
    // SAFETY: as above.
    unsafe { real::lseek()(fd, pos + n as i64, libc::SEEK_SET) };
    Ok(n)
}

/// What a read (`buf` mutable) or write answers on `obj`; `None`: not softiommu's.
fn rw(obj: &Obj, fd: c_int, off: Option<i64>, buf: usize, len: usize, write: bool) -> isize {
    guarded(-1, || {
        let r = match obj {
            // The kernel's iommufd and group files have no read or write.
            Obj::Iommu(_) | Obj::Group(_) => Err(libc::EINVAL),
            Obj::Device(d) => {
                let f = |at| {
                    if write {
                        dev_write(d, at, buf as *const c_void, len)
                    } else {
                        dev_read(d, at, buf as *mut c_void, len)
                    }
                };
                match off {
                    Some(at) => f(at),
                    None => at_position(fd, f),
                }
            }
        };
        if crate::trace::on() {
            let call = match (write, off) {
                (false, None) => "read",
                (true, None) => "write",
                (false, Some(_)) => "pread",
                (true, Some(_)) => "pwrite",
            };
            let at = off.map_or_else(String::new, |o| {
                format!(", region {}+{:#x}", o >> 40, o & ((1 << 40) - 1))
            });
            let res = crate::trace::result(&r);
            crate::trace::line(format_args!("{call}({fd}, {len}{at}) = {res}"));
        }
        ret_size(r)
    })
}

macro_rules! rw_forms {
    ($($name:ident($ptr:ty $(, $off:ident)?) $write:expr;)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: a device file's regions, or the real call.")]
        ///
        /// # Safety
        /// The C function's contract.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: $ptr, len: usize $(, $off: i64)?) -> isize {
            let Some(obj) = lookup(fd) else {
                // SAFETY: the caller's arguments, passed on.
                return unsafe { real::$name()(fd, buf, len $(, $off)?) };
            };
            #[allow(unused_mut, unused_assignments)]
            let mut off = None;
            $(off = Some($off);)?
            rw(&obj, fd, off, buf as usize, len, $write)
        }
    )*};
}

rw_forms! {
    read(*mut c_void) false;
    write(*const c_void) true;
    pread(*mut c_void, off) false;
    pread64(*mut c_void, off) false;
    pwrite(*const c_void, off) true;
    pwrite64(*const c_void, off) true;
}
