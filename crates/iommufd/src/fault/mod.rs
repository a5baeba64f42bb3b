//! Fault queues: the page-request groups of the HWPTs linked to one, handed to the user as
//! the kernel's `struct iommu_hwpt_pgfault` records on a file descriptor, and answered with
//! `struct iommu_hwpt_page_response` records written back.
//!
//! The descriptor is one end of a Unix stream socket pair; the library keeps the other end.
//! A group's records are written to it when the group arrives, each with the group's
//! cookie; a small service thread of the queue sends what did not fit, reads the responses
//! the user writes, and answers each group through the core, which has the driver send the
//! page group response to the device. An unmodified program reads, writes and polls the
//! descriptor as it would the kernel's; [`Context::fault_read`] and
//! [`Context::fault_write`] are the same operations with the kernel's errors for malformed
//! calls (a short write, an unknown cookie, a bad code), which a plain socket cannot report.

pub(crate) mod service;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{DeviceId, FaultHandler, Iommu, PageRequest, PageResponse, ResponseCode};

use crate::context::Context;
use crate::error::{Result, err};
use crate::objects::Object;

/// Size of `struct iommu_hwpt_pgfault`.
pub const PGFAULT_SIZE: usize = 40;
/// Size of `struct iommu_hwpt_page_response`.
pub const PAGE_RESPONSE_SIZE: usize = 8;
/// `IOMMU_PGFAULT_FLAGS_PASID_VALID`.
pub const PGFAULT_FLAGS_PASID_VALID: u32 = 1 << 0;
/// `IOMMU_PGFAULT_FLAGS_LAST_PAGE`.
pub const PGFAULT_FLAGS_LAST_PAGE: u32 = 1 << 1;
/// `IOMMU_PGFAULT_PERM_READ`.
pub const PGFAULT_PERM_READ: u32 = 1 << 0;
/// `IOMMU_PGFAULT_PERM_WRITE`.
pub const PGFAULT_PERM_WRITE: u32 = 1 << 1;
/// `IOMMU_PGFAULT_PERM_EXEC`.
pub const PGFAULT_PERM_EXEC: u32 = 1 << 2;
/// `IOMMU_PGFAULT_PERM_PRIV`.
pub const PGFAULT_PERM_PRIV: u32 = 1 << 3;
/// `IOMMUFD_PAGE_RESP_SUCCESS`.
pub const PAGE_RESP_SUCCESS: u32 = 0;
/// `IOMMUFD_PAGE_RESP_INVALID`.
pub const PAGE_RESP_INVALID: u32 = 1;

/// A group delivered to the user and not answered yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    device: DeviceId,
    pasid: Option<u32>,
    group: u16,
}

/// What the service thread and the core's page-request path share.
#[derive(Default)]
struct State {
    next_cookie: u32,
    /// Record bytes not yet taken by the socket.
    outbox: VecDeque<u8>,
    /// Groups delivered, by cookie.
    pending: BTreeMap<u32, Pending>,
    /// The context's id of each device attached to a HWPT of the queue.
    devices: HashMap<DeviceId, u32>,
    /// Response bytes read that do not make a whole record yet.
    inbox: Vec<u8>,
    /// The user closed its descriptor: groups are answered Invalid at once.
    user_closed: bool,
    /// The queue is being destroyed.
    stop: bool,
}

/// The part of a fault queue the core's page-request path and the service thread use.
pub(crate) struct Shared {
    iommu: Arc<Iommu>,
    /// The library's end of the socket pair.
    ours: OwnedFd,
    /// An eventfd that wakes the service thread.
    wake: OwnedFd,
    st: Mutex<State>,
}

/// A fault queue (`IOMMU_FAULT_QUEUE_ALLOC`): the object HWPTs send their page-request
/// groups to, and the descriptor the user reads them from.
pub struct FaultQueue {
    shared: Arc<Shared>,
    /// The user's end of the socket pair (the user closes it).
    user_fd: RawFd,
    /// What the user's end is (device, inode), to tell it from a later file of that number.
    user_id: (u64, u64),
    thread: Option<std::thread::JoinHandle<()>>,
    /// The process that started the service thread: a child forked since has a copy of
    /// the queue but not the thread.
    owner: u32,
}

/// The access bits of a request as `IOMMU_PGFAULT_PERM_*`.
fn perm_of(r: &PageRequest) -> u32 {
    let mut p = PGFAULT_PERM_READ;
    if r.access.write {
        p |= PGFAULT_PERM_WRITE;
    }
    if r.access.exec {
        p |= PGFAULT_PERM_EXEC;
    }
    if r.access.privileged {
        p |= PGFAULT_PERM_PRIV;
    }
    p
}

/// `struct iommu_hwpt_pgfault` of request `r` of device `dev_id` in group `cookie`; the
/// last of its group carries `LAST_PAGE`.
fn record(r: &PageRequest, dev_id: u32, cookie: u32, last: bool) -> [u8; PGFAULT_SIZE] {
    let mut flags = 0;
    if r.pasid.is_some() {
        flags |= PGFAULT_FLAGS_PASID_VALID;
    }
    if last {
        flags |= PGFAULT_FLAGS_LAST_PAGE;
    }
    let mut b = [0u8; PGFAULT_SIZE];
    let words = [
        flags,
        dev_id,
        r.pasid.unwrap_or(0),
        u32::from(r.group),
        perm_of(r),
        0,
    ];
    for (i, w) in words.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
    }
    b[24..32].copy_from_slice(&(r.addr & !0xfff).to_ne_bytes());
    // `length` is a hint the kernel leaves at 0.
    b[36..40].copy_from_slice(&cookie.to_ne_bytes());
    b
}

impl Shared {
    /// Sends the answer `code` for `p` to its device.
    fn answer(&self, p: Pending, code: ResponseCode) {
        // The device may be gone: then no answer can reach it.
        let _ = self.iommu.page_response(PageResponse {
            device: p.device,
            pasid: p.pasid,
            group: p.group,
            code,
        });
    }

    /// Answers Invalid every pending group `drop_it` selects.
    fn answer_invalid_where(&self, mut drop_it: impl FnMut(&Pending) -> bool) {
        let gone: Vec<Pending> = {
            let mut st = self.st.lock();
            let cookies: Vec<u32> = st
                .pending
                .iter()
                .filter(|(_, p)| drop_it(p))
                .map(|(&c, _)| c)
                .collect();
            cookies
                .iter()
                .filter_map(|c| st.pending.remove(c))
                .collect()
        };
        for p in gone {
            self.answer(p, ResponseCode::Invalid);
        }
    }

    /// Takes one response: `EINVAL` for a code other than success and invalid or a cookie
    /// of no pending group; otherwise the group is answered.
    fn respond(&self, cookie: u32, code: u32) -> Result<()> {
        let code = match code {
            PAGE_RESP_SUCCESS => ResponseCode::Success,
            PAGE_RESP_INVALID => ResponseCode::Invalid,
            _ => return err(libc::EINVAL, "a response code is success or invalid"),
        };
        let Some(p) = self.st.lock().pending.remove(&cookie) else {
            return err(libc::EINVAL, "no fault group with that cookie");
        };
        self.answer(p, code);
        Ok(())
    }
}

impl FaultHandler for Shared {
    fn page_request_group(&self, group: Vec<PageRequest>) {
        let Some(first) = group.first().copied() else {
            return;
        };
        let pending = Pending {
            device: first.device,
            pasid: first.pasid,
            group: first.group,
        };
        let refused = {
            let mut st = self.st.lock();
            match st.devices.get(&first.device).copied() {
                Some(dev_id) if !st.user_closed && !st.stop => {
                    let cookie = st.next_cookie;
                    st.next_cookie = st.next_cookie.wrapping_add(1);
                    let n = group.len();
                    for (i, r) in group.iter().enumerate() {
                        let rec = record(r, dev_id, cookie, i + 1 == n);
                        st.outbox.extend(rec);
                    }
                    st.pending.insert(cookie, pending);
                    service::flush(self.ours.as_raw_fd(), &mut st.outbox);
                    false
                }
                _ => true,
            }
        };
        if refused {
            self.answer(pending, ResponseCode::Invalid);
        } else {
            service::wake(&self.wake);
        }
    }
}

impl FaultQueue {
    /// A new queue whose service thread runs until the queue is dropped.
    fn new(iommu: Arc<Iommu>) -> Result<FaultQueue> {
        let (user, ours) = service::socket_pair()?;
        let user_id = service::identity(user.as_raw_fd())
            .ok_or(crate::error::Error::new(libc::EMFILE, "no socket pair"))?;
        let wake = service::eventfd()?;
        let shared = Arc::new(Shared {
            iommu,
            ours,
            wake,
            st: Mutex::new(State::default()),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("iommufd-fault".into())
            .spawn(move || service::run(&s))
            .map_err(|_| crate::error::Error::new(libc::ENOMEM, "no service thread"))?;
        use std::os::fd::IntoRawFd;
        Ok(FaultQueue {
            shared,
            user_fd: user.into_raw_fd(),
            user_id,
            thread: Some(thread),
            owner: std::process::id(),
        })
    }

    /// The user's descriptor.
    pub fn fd(&self) -> RawFd {
        self.user_fd
    }

    /// The handler the linked HWPTs' domains send their groups to.
    pub(crate) fn handler(&self) -> Arc<dyn FaultHandler> {
        self.shared.clone()
    }

    /// Device `dev` (the context's id `dev_id`) is attached to a HWPT of this queue.
    pub(crate) fn add_device(&self, dev: DeviceId, dev_id: u32) {
        self.shared.st.lock().devices.insert(dev, dev_id);
    }

    /// Device `dev` left a HWPT of this queue: its groups not answered yet are answered
    /// Invalid, as the kernel does.
    pub(crate) fn remove_device(&self, dev: DeviceId) {
        self.shared.st.lock().devices.remove(&dev);
        self.shared.answer_invalid_where(|p| p.device == dev);
    }

    /// Groups delivered and not answered yet.
    pub fn pending(&self) -> usize {
        self.shared.st.lock().pending.len()
    }
}

impl Drop for FaultQueue {
    fn drop(&mut self) {
        self.shared.st.lock().stop = true;
        service::wake(&self.shared.wake);
        if let Some(t) = self.thread.take() {
            if self.owner == std::process::id() {
                let _ = t.join();
            } else {
                // A forked child's copy: the thread runs in the parent only, and its
                // handle here names nothing to join or detach.
                std::mem::forget(t);
            }
        }
        self.shared.answer_invalid_where(|_| true);
    }
}

impl Context {
    pub(crate) fn fault_queue(&self, id: u32) -> Result<Arc<FaultQueue>> {
        match self.object(id)? {
            Object::Fault(f) => Ok(f),
            _ => err(libc::ENOENT, "not a fault queue"),
        }
    }

    /// `IOMMU_FAULT_QUEUE_ALLOC`: a new fault queue; returns its id and the descriptor the
    /// user reads faults from and writes responses to (non-blocking, close-on-exec; the
    /// caller owns it).
    pub fn fault_queue_alloc(&self) -> Result<(u32, RawFd)> {
        self.host().faults().check("allocating a fault queue")?;
        let q = Arc::new(FaultQueue::new(self.host().iommu().clone())?);
        let fd = q.fd();
        match self.insert(Object::Fault(q)) {
            Ok(id) => Ok((id, fd)),
            Err(e) => {
                service::close(fd);
                Err(e)
            }
        }
    }

    /// `read(2)` on fault queue `id`'s descriptor, with the kernel's rule: a length that is
    /// not a multiple of the record size is `ESPIPE`. Returns the bytes read, 0 when no
    /// record is waiting; `EBADF` once the user closed the descriptor.
    pub fn fault_read(&self, id: u32, buf: &mut [u8]) -> Result<usize> {
        let q = self.fault_queue(id)?;
        if !buf.len().is_multiple_of(PGFAULT_SIZE) {
            return err(libc::ESPIPE, "a read takes whole fault records");
        }
        service::read_records(q.user_fd, q.user_id, buf)
    }

    /// `write(2)` of responses to fault queue `id`, with the kernel's rules: a length that
    /// is not a multiple of the response size is `ESPIPE`; a bad code or an unknown cookie
    /// stops the write, which returns the bytes taken before it or, if none, `EINVAL`.
    pub fn fault_write(&self, id: u32, buf: &[u8]) -> Result<usize> {
        let q = self.fault_queue(id)?;
        if !buf.len().is_multiple_of(PAGE_RESPONSE_SIZE) {
            return err(libc::ESPIPE, "a write takes whole responses");
        }
        let mut done = 0;
        for r in buf.chunks_exact(PAGE_RESPONSE_SIZE) {
            let word = |i: usize| u32::from_ne_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
            if let Err(e) = q.shared.respond(word(0), word(4)) {
                return if done == 0 { Err(e) } else { Ok(done) };
            }
            done += PAGE_RESPONSE_SIZE;
        }
        Ok(done)
    }
}
