//! `opendir` of softiommu's directories: a directory stream of this library's own, which
//! `readdir` and the other stream functions recognise by its address.

use std::ffi::{c_char, c_int, c_long};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{DIR, dirent, dirent64};

use super::{guarded, node};
use crate::real::{self, set_errno};
use crate::state::State;
use crate::vfs::Node;

/// An open listing.
struct Stream {
    entries: Vec<(Vec<u8>, u8)>,
    pos: usize,
    ent: dirent64,
}

/// The streams open now, by address.
static STREAMS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Their number: while 0, a stream call costs one load.
static OPEN: AtomicUsize = AtomicUsize::new(0);

fn ours(d: *mut DIR) -> Option<*mut Stream> {
    if OPEN.load(Ordering::Acquire) == 0 {
        return None;
    }
    let s = STREAMS.lock().unwrap_or_else(|e| e.into_inner());
    s.contains(&(d as usize)).then_some(d.cast::<Stream>())
}

fn kind(n: Option<&Node>) -> u8 {
    match n {
        Some(Node::Dir(_)) => libc::DT_DIR,
        Some(Node::Link(_)) => libc::DT_LNK,
        Some(Node::Dev(_)) => libc::DT_CHR,
        _ => libc::DT_REG,
    }
}

fn open_stream(s: &State, path: &str, names: &[String]) -> *mut DIR {
    let mut entries = vec![
        (b".".to_vec(), libc::DT_DIR),
        (b"..".to_vec(), libc::DT_DIR),
    ];
    for name in names {
        let n = s.vfs.get(&format!("{path}/{name}"), false).map(|(_, n)| n);
        entries.push((name.as_bytes().to_vec(), kind(n)));
    }
    // SAFETY: an all-zero `struct dirent64` is a valid value.
    let ent = unsafe { std::mem::zeroed() };
    let p = Box::into_raw(Box::new(Stream {
        entries,
        pos: 0,
        ent,
    }));
    STREAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(p as usize);
    OPEN.fetch_add(1, Ordering::AcqRel);
    p.cast()
}

/// `opendir`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut DIR {
    // SAFETY: the caller's path, per the C contract.
    match unsafe { node(path, true) } {
        Some((s, p, Node::Dir(names))) => {
            guarded(std::ptr::null_mut(), || open_stream(s, &p, names))
        }
        Some(_) => {
            set_errno(libc::ENOTDIR);
            std::ptr::null_mut()
        }
        // SAFETY: the caller's argument, passed on.
        None => unsafe { real::opendir()(path) },
    }
}

/// The next entry of stream `s`, or null at the end.
///
/// # Safety
/// `s` is a live stream of this library's, used by one thread at a time as POSIX asks.
unsafe fn next(s: *mut Stream) -> *mut dirent64 {
    // SAFETY: per this function's contract.
    let s = unsafe { &mut *s };
    let Some((name, ty)) = s.entries.get(s.pos) else {
        return std::ptr::null_mut();
    };
    s.pos += 1;
    let n = name.len().min(s.ent.d_name.len() - 1);
    for (d, b) in s
        .ent
        .d_name
        .iter_mut()
        .zip(name[..n].iter().chain(std::iter::repeat(&0)))
    {
        *d = *b as c_char;
    }
    s.ent.d_ino = s.pos as u64;
    s.ent.d_off = s.pos as i64;
    s.ent.d_reclen = std::mem::size_of::<dirent64>() as u16;
    s.ent.d_type = *ty;
    &mut s.ent
}

/// `readdir` (on this target `struct dirent` is `struct dirent64`).
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readdir(d: *mut DIR) -> *mut dirent {
    match ours(d) {
        // SAFETY: a live stream of this library's.
        Some(s) => unsafe { next(s) }.cast(),
        // SAFETY: the caller's stream, passed on.
        None => unsafe { real::readdir()(d) },
    }
}

/// `readdir64`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readdir64(d: *mut DIR) -> *mut dirent64 {
    match ours(d) {
        // SAFETY: a live stream of this library's.
        Some(s) => unsafe { next(s) },
        // SAFETY: the caller's stream, passed on.
        None => unsafe { real::readdir64()(d) },
    }
}

/// `closedir`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn closedir(d: *mut DIR) -> c_int {
    let Some(s) = ours(d) else {
        // SAFETY: the caller's stream, passed on.
        return unsafe { real::closedir()(d) };
    };
    STREAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| *p != s as usize);
    OPEN.fetch_sub(1, Ordering::AcqRel);
    // SAFETY: made by `Box::into_raw` in `open_stream` and taken out of the list above, so
    // freed once.
    drop(unsafe { Box::from_raw(s) });
    0
}

/// `dirfd`: a listing of softiommu's has no descriptor (`ENOTSUP`).
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dirfd(d: *mut DIR) -> c_int {
    if ours(d).is_some() {
        set_errno(libc::ENOTSUP);
        return -1;
    }
    // SAFETY: the caller's stream, passed on.
    unsafe { real::dirfd()(d) }
}

/// `rewinddir`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rewinddir(d: *mut DIR) {
    match ours(d) {
        // SAFETY: a live stream of this library's.
        Some(s) => unsafe { (*s).pos = 0 },
        // SAFETY: the caller's stream, passed on.
        None => unsafe { real::rewinddir()(d) },
    }
}

/// `telldir`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn telldir(d: *mut DIR) -> c_long {
    match ours(d) {
        // SAFETY: a live stream of this library's.
        Some(s) => unsafe { (*s).pos as c_long },
        // SAFETY: the caller's stream, passed on.
        None => unsafe { real::telldir()(d) },
    }
}

/// `seekdir`.
///
/// # Safety
/// The C function's contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn seekdir(d: *mut DIR, at: c_long) {
    match ours(d) {
        // SAFETY: a live stream of this library's.
        Some(s) => unsafe { (*s).pos = usize::try_from(at).unwrap_or(0) },
        // SAFETY: the caller's stream, passed on.
        None => unsafe { real::seekdir()(d, at) },
    }
}
