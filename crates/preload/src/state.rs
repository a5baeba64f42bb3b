//! The process's state: the platform, built on the first call that names one of softiommu's
//! files, and the table of the descriptors that are softiommu's objects.

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use softiommu_iommufd::vfio::{Files, VfioDevice, VfioGroup};
use softiommu_iommufd::{Context, Credentials, Error};

use crate::config::Config;
use crate::platform::Platform;
use crate::vfs::Vfs;

/// What a descriptor of softiommu's is open on.
#[derive(Clone)]
pub(crate) enum Obj {
    /// `/dev/iommu`, or `/dev/vfio/vfio` (a context answering the container interface).
    Iommu(Arc<Context>),
    /// `/dev/vfio/N`.
    Group(Arc<VfioGroup>),
    /// A VFIO device file: `/dev/vfio/devices/vfioN` or one from a group.
    Device(Arc<VfioDevice>),
}

// The table is authoritative: every C library call that closes a descriptor or puts
// another file on its number (`close`, `close_range`, `closefrom`, `fclose`, the `dup`
// family, `fcntl`'s `F_DUPFD`, those system calls through `syscall`) updates it first, so
// a call on a descriptor costs a look-up and no system call. A number the kernel hands out
// afresh through the functions that make descriptors (`open`, `eventfd`, `pipe`, `socket`,
// ...) is dropped from the table, which also catches a close this library never saw (a
// system call made without the C library) once the number is reused that way.
static FDS: RwLock<BTreeMap<c_int, Obj>> = RwLock::new(BTreeMap::new());
/// Entries in `FDS`: while 0, a call on a descriptor costs one load.
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn table() -> std::sync::RwLockWriteGuard<'static, BTreeMap<c_int, Obj>> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

/// The object open on `fd`, if softiommu's.
pub(crate) fn lookup(fd: c_int) -> Option<Obj> {
    if fd < 0 || COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    let t = FDS.read().unwrap_or_else(|e| e.into_inner());
    t.get(&fd).cloned()
}

/// Records `obj` on the new descriptor `fd`; returns what was recorded there before, for
/// the caller to drop outside the table's lock.
#[must_use]
pub(crate) fn insert(fd: c_int, obj: Obj) -> Option<Obj> {
    let old = table().insert(fd, obj);
    if old.is_none() {
        COUNT.fetch_add(1, Ordering::AcqRel);
    }
    old
}

/// Forgets `fd`; returns its object, for the caller to drop outside the table's lock.
#[must_use]
pub(crate) fn forget(fd: c_int) -> Option<Obj> {
    if fd < 0 || COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    let old = table().remove(&fd);
    if old.is_some() {
        COUNT.fetch_sub(1, Ordering::AcqRel);
    }
    old
}

/// After a real call made descriptor `fd` (or failed, `fd` < 0): the number is not one of
/// softiommu's objects, whatever the table held for it.
pub(crate) fn fresh(fd: c_int) {
    drop(forget(fd));
}

/// Forgets descriptors `lo..=hi`; returns their objects.
#[must_use]
pub(crate) fn forget_range(lo: c_int, hi: c_int) -> Vec<Obj> {
    if lo > hi || COUNT.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    let mut t = table();
    let fds: Vec<c_int> = t.range(lo..=hi).map(|(fd, _)| *fd).collect();
    let gone: Vec<Obj> = fds.iter().filter_map(|fd| t.remove(fd)).collect();
    COUNT.fetch_sub(gone.len(), Ordering::AcqRel);
    gone
}

/// Everything built from the configuration.
pub(crate) struct State {
    pub(crate) platform: Platform,
    pub(crate) cred: Credentials,
    pub(crate) vfs: Vfs,
}

static STATE: OnceLock<Result<State, String>> = OnceLock::new();

fn build() -> Result<State, String> {
    let cfg = Config::from_env(|k| std::env::var(k).ok())?;
    let platform = Platform::build(&cfg)?;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` into `lim`.
    let have = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
    let own = (have && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur);
    // SAFETY: these calls take no arguments and cannot fail.
    let (uid, euid, pid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getpid()) };
    let cred = Credentials {
        uid,
        mm: pid as u64,
        memlock_limit: cfg.memlock.or(own),
        sys_resource: euid == 0,
    };
    let vfs = Vfs::build(&platform);
    Ok(State {
        platform,
        cred,
        vfs,
    })
}

/// The state, built on first use; `None` if the configuration cannot be served (said once
/// on standard error), and then everything goes to the real libc.
pub(crate) fn state() -> Option<&'static State> {
    let mut first = false;
    let s = STATE.get_or_init(|| {
        first = true;
        build()
    });
    match s {
        Ok(s) => Some(s),
        Err(e) => {
            if first {
                eprintln!("softiommu: cannot serve /dev/iommu and /dev/vfio: {e}");
            }
            None
        }
    }
}

/// The descriptor table as the binary interface sees it.
pub(crate) struct Table;

impl Files for Table {
    fn context(&self, fd: c_int) -> Option<Arc<Context>> {
        match lookup(fd) {
            Some(Obj::Iommu(c)) => Some(c),
            _ => None,
        }
    }

    fn install(&self, dev: VfioDevice) -> softiommu_iommufd::Result<c_int> {
        // The kernel's device descriptors from a group are close-on-exec.
        let fd = crate::real::new_fd(c"vfio-device", libc::O_CLOEXEC)
            .map_err(|e| Error::new(e, "no descriptor for the device"))?;
        drop(insert(fd, Obj::Device(Arc::new(dev))));
        Ok(fd)
    }
}
