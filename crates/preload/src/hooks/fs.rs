//! `readlink`, the `stat` family and `access` on softiommu's files.

use std::ffi::{c_char, c_int, c_uint};

use super::{copy_out, guarded, node, ret, ret_size};
use crate::real;
use crate::state::State;
use crate::vfs::{DevNode, Node};

/// The mode, size, link count and device numbers of `n`.
fn attrs(n: &Node) -> (u32, u64, u64, (u32, u32)) {
    match n {
        Node::Dir(names) => (libc::S_IFDIR | 0o755, 0, 2 + names.len() as u64, (0, 0)),
        Node::File(b) => (libc::S_IFREG | 0o444, b.len() as u64, 1, (0, 0)),
        Node::Config(_) => (libc::S_IFREG | 0o444, 4096, 1, (0, 0)),
        Node::Link(t) => (libc::S_IFLNK | 0o777, t.len() as u64, 1, (0, 0)),
        // Misc devices for /dev/iommu and /dev/vfio/vfio (VFIO's minor is 196); groups and
        // device files on majors of their own, as the kernel allocates them.
        Node::Dev(d) => {
            let rdev = match d {
                DevNode::Iommu => (10, 123),
                DevNode::Container => (10, 196),
                DevNode::Group(g) => (510, *g),
                DevNode::Cdev(k) => (511, *k as u32),
            };
            (libc::S_IFCHR | 0o666, 0, 1, rdev)
        }
    }
}

/// An inode number for `path`: stable within a run.
fn ino(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish() | 1
}

/// Fills the caller's `struct stat` at `buf` for `n` at `path`.
fn fill_stat(s: &State, path: &str, n: &Node, buf: *mut libc::stat) -> Result<c_int, c_int> {
    let (mode, size, nlink, (major, minor)) = attrs(n);
    // SAFETY: an all-zero `struct stat` is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = mode;
    st.st_size = size as i64;
    st.st_nlink = nlink;
    st.st_ino = ino(path);
    st.st_rdev = libc::makedev(major, minor);
    st.st_blksize = 4096;
    // SAFETY: `st` is a plain structure of integers; its bytes are read as such.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&raw const st).cast::<u8>(),
            std::mem::size_of::<libc::stat>(),
        )
    };
    copy_out(s, buf as u64, bytes).map(|()| 0)
}

/// Fills the caller's `struct statx` at `buf`.
fn fill_statx(s: &State, path: &str, n: &Node, buf: *mut libc::statx) -> Result<c_int, c_int> {
    let (mode, size, nlink, (major, minor)) = attrs(n);
    // SAFETY: an all-zero `struct statx` is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    st.stx_mask = libc::STATX_BASIC_STATS;
    st.stx_mode = mode as u16;
    st.stx_size = size;
    st.stx_nlink = nlink as u32;
    st.stx_ino = ino(path);
    st.stx_rdev_major = major;
    st.stx_rdev_minor = minor;
    st.stx_blksize = 4096;
    // SAFETY: as in `fill_stat`.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&raw const st).cast::<u8>(),
            std::mem::size_of::<libc::statx>(),
        )
    };
    copy_out(s, buf as u64, bytes).map(|()| 0)
}

macro_rules! stat_forms {
    ($($name:ident($($dir:ident)?; $($flags:ident)?) follow $follow:expr;)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: softiommu's files, or the real call.")]
        ///
        /// # Safety
        /// The C function's contract.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($dir: c_int,)? path: *const c_char, buf: *mut libc::stat $(, $flags: c_int)?) -> c_int {
            #[allow(unused_mut, unused_assignments)]
            let mut follow = $follow;
            $(follow = $flags & libc::AT_SYMLINK_NOFOLLOW == 0;)?
            // SAFETY: the caller's path, per the C contract.
            match unsafe { node(path, follow) } {
                Some((s, p, n)) => guarded(-1, || ret(fill_stat(s, &p, n, buf))),
                // SAFETY: the caller's arguments, passed on.
                None => unsafe { real::$name()($($dir,)? path, buf $(, $flags)?) },
            }
        }
    )*};
}

stat_forms! {
    stat(;) follow true;
    stat64(;) follow true;
    lstat(;) follow false;
    lstat64(;) follow false;
    fstatat(dirfd; flags) follow true;
    fstatat64(dirfd; flags) follow true;
}

/// `statx`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    buf: *mut libc::statx,
) -> c_int {
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // SAFETY: the caller's path, per the C contract.
    match unsafe { node(path, follow) } {
        Some((s, p, n)) => guarded(-1, || ret(fill_statx(s, &p, n, buf))),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::statx()(dirfd, path, flags, mask, buf) },
    }
}

/// What `access` answers for `n`: read-only files and directories refuse writing, files
/// refuse executing.
fn check_access(n: &Node, mode: c_int) -> Result<c_int, c_int> {
    let writes = mode & libc::W_OK != 0;
    let execs = mode & libc::X_OK != 0;
    match n {
        Node::File(_) | Node::Config(_) if writes || execs => Err(libc::EACCES),
        Node::Dir(_) if writes => Err(libc::EACCES),
        Node::Dev(_) if execs => Err(libc::EACCES),
        _ => Ok(0),
    }
}

/// `access`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    // SAFETY: the caller's path, per the C contract.
    match unsafe { node(path, true) } {
        Some((_, _, n)) => ret(check_access(n, mode)),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::access()(path, mode) },
    }
}

/// `faccessat`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn faccessat(
    dirfd: c_int,
    path: *const c_char,
    mode: c_int,
    flags: c_int,
) -> c_int {
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // SAFETY: the caller's path, per the C contract.
    match unsafe { node(path, follow) } {
        Some((_, _, n)) => ret(check_access(n, mode)),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::faccessat()(dirfd, path, mode, flags) },
    }
}

/// A link's target into the caller's `buf` of `size` bytes (cut, without a NUL, as
/// `readlink` does); `EINVAL` for what is not a link.
fn link_target(s: &State, n: &Node, buf: *mut c_char, size: usize) -> Result<isize, c_int> {
    let Node::Link(t) = n else {
        return Err(libc::EINVAL);
    };
    let k = t.len().min(size);
    copy_out(s, buf as u64, &t.as_bytes()[..k])?;
    Ok(k as isize)
}

/// `readlink`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize {
    // SAFETY: the caller's path, per the C contract.
    match unsafe { node(path, false) } {
        Some((s, _, n)) => guarded(-1, || ret_size(link_target(s, n, buf, size))),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::readlink()(path, buf, size) },
    }
}

/// `readlinkat`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlinkat(
    dirfd: c_int,
    path: *const c_char,
    buf: *mut c_char,
    size: usize,
) -> isize {
    // SAFETY: the caller's path, per the C contract.
    match unsafe { node(path, false) } {
        Some((s, _, n)) => guarded(-1, || ret_size(link_target(s, n, buf, size))),
        // SAFETY: the caller's arguments, passed on.
        None => unsafe { real::readlinkat()(dirfd, path, buf, size) },
    }
}
