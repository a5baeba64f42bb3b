//! What every context of one process shares: its memory, the IOMMU core, the pins on its
//! pages, the locked-memory accounts of its users, and the failure points tests can trip.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use softiommu_core::Iommu;
use softiommu_mem::HostMemory;

use crate::error::{Error, Result, err};
use crate::spans::SpanCounts;

/// The page size of user memory: pins, accounting and IOVA alignment count in these.
pub const PAGE_SIZE: u64 = softiommu_mem::HOST_PAGE;

/// Who a context acts for, as the kernel would see the process that opened `/dev/iommu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user whose locked-memory count pays for pins in the per-user mode.
    pub uid: u32,
    /// The process (its address space) whose count pays in the per-process mode.
    pub mm: u64,
    /// `RLIMIT_MEMLOCK` in bytes; `None` when the process may lock without limit
    /// (`CAP_IPC_LOCK`), which is also the kernel's "no accounting" mode.
    pub memlock_limit: Option<u64>,
    /// Whether the process holds `CAP_SYS_RESOURCE` (needed to change the accounting mode).
    pub sys_resource: bool,
}

impl Default for Credentials {
    /// An unprivileged user with the common default limit of 8 MiB.
    fn default() -> Credentials {
        Credentials {
            uid: 1000,
            mm: 1,
            memlock_limit: Some(8 << 20),
            sys_resource: false,
        }
    }
}

/// Which count pays for pinned pages (`IOMMU_OPTION_RLIMIT_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountMode {
    /// The user's count, checked against the limit (`/dev/iommu`'s default).
    User,
    /// The process's count, checked against the limit (VFIO's default).
    Mm,
}

/// Who pays for one set of pages: fixed when the pages are created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Payer {
    mode: Option<AccountMode>,
    uid: u32,
    mm: u64,
    limit_pages: u64,
}

impl Payer {
    pub(crate) fn new(cred: &Credentials, mode: AccountMode) -> Payer {
        Payer {
            mode: cred.memlock_limit.map(|_| mode),
            uid: cred.uid,
            mm: cred.mm,
            limit_pages: cred.memlock_limit.map_or(u64::MAX, |l| l / PAGE_SIZE),
        }
    }
}

/// Ordered maps: a process has few users and address spaces, and looking one up costs less
/// than hashing its id on every pin.
#[derive(Default)]
struct Accounts {
    user_locked: BTreeMap<u32, u64>,
    mm_locked: BTreeMap<u64, u64>,
    mm_pinned: BTreeMap<u64, u64>,
}

/// Counts the failure points a call passes, and makes the n-th one fail: the hook a test
/// uses to check that every allocation and pin can fail cleanly.
#[derive(Default)]
pub struct FailPoints {
    passed: AtomicU64,
    fail_at: AtomicU64,
}

impl FailPoints {
    /// Makes the `n`-th point passed from now fail (1 = the next one); 0 disarms.
    pub fn fail_nth(&self, n: u64) {
        self.passed.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// Points passed since the last [`fail_nth`](FailPoints::fail_nth).
    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::SeqCst)
    }

    /// Passes a point: the injected failure (`ENOMEM`) if this is the one armed.
    pub(crate) fn check(&self, what: &'static str) -> Result<()> {
        let n = self.passed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_at.load(Ordering::SeqCst) == n {
            Err(Error::new(libc::ENOMEM, what))
        } else {
            Ok(())
        }
    }
}

/// Which devices are bound, and which context owns each group.
#[derive(Default)]
pub(crate) struct Bindings {
    pub(crate) devices: std::collections::HashSet<softiommu_core::DeviceId>,
    pub(crate) groups: HashMap<softiommu_core::GroupId, (u64, u32)>,
}

/// The state every context of this process shares.
pub struct Host {
    pub(crate) bindings: Mutex<Bindings>,
    mem: Arc<HostMemory>,
    iommu: Arc<Iommu>,
    pins: Mutex<SpanCounts>,
    accounts: Mutex<Accounts>,
    faults: FailPoints,
    /// The mock IOMMU of the test channel, on hosts made with [`Host::with_mock`].
    pub(crate) mock: Option<crate::selftest::Mock>,
}

impl Host {
    /// A host over this process's memory `mem` and the IOMMU core `iommu`, whose physical
    /// memory must be `mem` (a physical address is a host address).
    pub fn new(mem: Arc<HostMemory>, iommu: Arc<Iommu>) -> Arc<Host> {
        Host::build(mem, iommu, None)
    }

    /// A host with or without the test channel's mock IOMMU.
    pub(crate) fn build(
        mem: Arc<HostMemory>,
        iommu: Arc<Iommu>,
        mock: Option<crate::selftest::Mock>,
    ) -> Arc<Host> {
        Arc::new(Host {
            bindings: Mutex::new(Bindings::default()),
            mem,
            iommu,
            pins: Mutex::new(SpanCounts::new()),
            accounts: Mutex::new(Accounts::default()),
            faults: FailPoints::default(),
            mock,
        })
    }

    /// This process's memory.
    pub fn mem(&self) -> &Arc<HostMemory> {
        &self.mem
    }

    /// The IOMMU core.
    pub fn iommu(&self) -> &Arc<Iommu> {
        &self.iommu
    }

    /// The failure points, for tests.
    pub fn faults(&self) -> &FailPoints {
        &self.faults
    }

    /// How many sets of pages hold a pin on the page at host address `addr`.
    pub fn pins_of(&self, addr: u64) -> u32 {
        self.pins.lock().count(addr / PAGE_SIZE)
    }

    /// Pages pinned by anything.
    pub fn pinned_pages(&self) -> u64 {
        self.sweep_test_accesses();
        self.pins.lock().pages_in_use()
    }

    /// Pages charged to `uid`'s locked-memory count.
    pub fn user_locked_pages(&self, uid: u32) -> u64 {
        self.accounts
            .lock()
            .user_locked
            .get(&uid)
            .copied()
            .unwrap_or(0)
    }

    /// Pages charged to process `mm`'s locked-memory count.
    pub fn mm_locked_pages(&self, mm: u64) -> u64 {
        self.accounts
            .lock()
            .mm_locked
            .get(&mm)
            .copied()
            .unwrap_or(0)
    }

    /// Pages process `mm` has pinned (counted whatever the mode).
    pub fn mm_pinned_pages(&self, mm: u64) -> u64 {
        self.accounts
            .lock()
            .mm_pinned
            .get(&mm)
            .copied()
            .unwrap_or(0)
    }

    /// Charges `pages` to `payer`; `ENOMEM` over its limit.
    pub(crate) fn charge(&self, payer: &Payer, pages: u64) -> Result<()> {
        self.faults.check("charging locked memory")?;
        let mut a = self.accounts.lock();
        let count = match payer.mode {
            None => None,
            Some(AccountMode::User) => Some(a.user_locked.entry(payer.uid).or_default()),
            Some(AccountMode::Mm) => Some(a.mm_locked.entry(payer.mm).or_default()),
        };
        if let Some(count) = count {
            let new = count.saturating_add(pages);
            if new > payer.limit_pages {
                return err(
                    libc::ENOMEM,
                    "over the locked-memory limit (RLIMIT_MEMLOCK)",
                );
            }
            *count = new;
        }
        *a.mm_pinned.entry(payer.mm).or_default() += pages;
        Ok(())
    }

    /// Gives back `pages` charged to `payer`.
    pub(crate) fn uncharge(&self, payer: &Payer, pages: u64) {
        let mut a = self.accounts.lock();
        let count = match payer.mode {
            None => None,
            Some(AccountMode::User) => a.user_locked.get_mut(&payer.uid),
            Some(AccountMode::Mm) => a.mm_locked.get_mut(&payer.mm),
        };
        if let Some(c) = count {
            *c = c.saturating_sub(pages);
        }
        if let Some(c) = a.mm_pinned.get_mut(&payer.mm) {
            *c = c.saturating_sub(pages);
        }
    }

    /// Records pins on host pages `pages` (page numbers).
    pub(crate) fn pin_pages(&self, pages: Range<u64>) {
        self.pins.lock().add(pages);
    }

    /// Drops pins on host pages `pages`.
    pub(crate) fn unpin_pages(&self, pages: Range<u64>) {
        self.pins.lock().remove(pages);
    }
}
