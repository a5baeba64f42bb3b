//! `open` and its forms: softiommu's device nodes give a real descriptor recorded as the
//! object they open; its sysfs files a memory file with their contents.

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::sync::Arc;

use softiommu_iommufd::{AccountMode, Context};

use super::{guarded, node, ret};
use crate::real::{self, new_fd};
use crate::state::{Obj, State, fresh, insert};
use crate::vfs::{DevNode, Node};

/// Opens `n` as `flags` ask.
fn open_node(s: &State, n: &Node, flags: c_int) -> Result<c_int, c_int> {
    let writes = flags & libc::O_ACCMODE != libc::O_RDONLY;
    let p = &s.platform;
    let (name, obj): (&CStr, Obj) = match n {
        Node::Dev(DevNode::Iommu) => (
            c"iommufd",
            Obj::Iommu(Arc::new(Context::new(p.host.clone(), s.cred))),
        ),
        Node::Dev(DevNode::Container) => {
            let c = Context::with_mode(p.host.clone(), s.cred, AccountMode::Mm);
            (c"vfio-container", Obj::Iommu(Arc::new(c)))
        }
        Node::Dev(DevNode::Group(g)) => {
            let group = p.groups.get(*g as usize).ok_or(libc::ENOENT)?;
            let g = p.vfio.open_group(*group).map_err(|e| e.errno())?;
            (c"vfio-group", Obj::Group(Arc::new(g)))
        }
        Node::Dev(DevNode::Cdev(k)) => {
            let d = p.devices.get(*k).ok_or(libc::ENOENT)?;
            let dev = p.vfio.open_device(&d.name).map_err(|e| e.errno())?;
            (c"vfio-device", Obj::Device(Arc::new(dev)))
        }
        Node::File(_) | Node::Config(_) if writes => return Err(libc::EACCES),
        Node::File(bytes) => return memory_file(bytes, flags),
        Node::Config(k) => {
            let d = p.devices.get(*k).ok_or(libc::ENOENT)?;
            let cfg: Vec<u8> = (0..4096u32)
                .step_by(4)
                .flat_map(|off| {
                    let size = softiommu_devices::pci::AccessSize::Dword;
                    d.function.config_read(off, size).to_le_bytes()
                })
                .collect();
            return memory_file(&cfg, flags);
        }
        Node::Dir(_) if writes => return Err(libc::EISDIR),
        // Directories are listed through `opendir`, not read through a descriptor.
        Node::Dir(_) => return Err(libc::EOPNOTSUPP),
        Node::Link(_) => return Err(libc::ELOOP),
    };
    let fd = new_fd(name, flags)?;
    drop(insert(fd, obj));
    Ok(fd)
}

/// A memory file holding `bytes`, positioned at its start.
fn memory_file(bytes: &[u8], flags: c_int) -> Result<c_int, c_int> {
    let fd = new_fd(c"sysfs", flags)?;
    // SAFETY: writes `bytes`, a valid buffer, to the descriptor just made.
    let n = unsafe { real::pwrite()(fd, bytes.as_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        // SAFETY: closes the descriptor just made, which nothing else knows.
        unsafe { real::close()(fd) };
        return Err(libc::EIO);
    }
    Ok(fd)
}

/// The body of every form: `Some` if `path` is softiommu's (only absolute paths are, so
/// the directory descriptor of the `at` forms does not matter).
///
/// # Safety
/// `path` is null or a NUL-terminated string.
unsafe fn open_ours(path: *const c_char, flags: c_int) -> Option<c_int> {
    // SAFETY: `path` as the caller promises.
    let (s, p, n) = unsafe { node(path, flags & libc::O_NOFOLLOW == 0) }?;
    Some(guarded(-1, || {
        let r = open_node(s, n, flags);
        if crate::trace::on() {
            let res = crate::trace::result(&r);
            crate::trace::line(format_args!("open({p}, {flags:#x}) = {res}"));
        }
        ret(r)
    }))
}

macro_rules! open_forms {
    ($($name:ident($($dir:ident)?) with mode;)* ; $($name2:ident($($dir2:ident)?);)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: softiommu's files, or the real one.")]
            ///
            /// # Safety
            /// The C function's contract.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name($($dir: c_int,)? path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
                // SAFETY: the caller's path, per the C contract.
                match unsafe { open_ours(path, flags) } {
                    Some(r) => r,
                    None => {
                        // SAFETY: the caller's arguments, passed on unchanged.
                        let r = unsafe { real::$name()($($dir,)? path, flags, mode) };
                        fresh(r);
                        r
                    }
                }
            }
        )*
        $(
            #[doc = concat!("`", stringify!($name2), "` (fortified): softiommu's files, or the real one.")]
            ///
            /// # Safety
            /// The C function's contract.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name2($($dir2: c_int,)? path: *const c_char, flags: c_int) -> c_int {
                // SAFETY: the caller's path, per the C contract.
                match unsafe { open_ours(path, flags) } {
                    Some(r) => r,
                    None => {
                        // SAFETY: the caller's arguments, passed on unchanged.
                        let r = unsafe { real::$name2()($($dir2,)? path, flags) };
                        fresh(r);
                        r
                    }
                }
            }
        )*
    };
}

open_forms! {
    open() with mode;
    open64() with mode;
    openat(dirfd) with mode;
    openat64(dirfd) with mode;
    ;
    __open_2();
    __open64_2();
    __openat_2(dirfd);
    __openat64_2(dirfd);
}
