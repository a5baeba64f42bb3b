//! vEVENTQs: a vIOMMU's queue of events for its guest, read from a file descriptor as the
//! kernel's records (`struct iommufd_vevent_header` followed by the type's payload), with
//! the kernel's depth, sequence numbers and lost-events header.
//!
//! The descriptor is one end of a Unix stream socket pair. An event is written to it when
//! it happens, so an unmodified program polls and reads it as it would the kernel's. The
//! library keeps a duplicate of the user's end to see how many bytes are still unread
//! there, which tells how many events the queue holds.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use softiommu_core::{DeviceId, EventHandler};

use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::objects::Object;
use crate::viommu::Viommu;

/// `IOMMU_VEVENTQ_TYPE_DEFAULT`: no type (refused).
pub const VEVENTQ_TYPE_DEFAULT: u32 = 0;
/// `IOMMU_VEVENTQ_TYPE_ARM_SMMUV3`: SMMUv3 event records (`struct iommu_vevent_arm_smmuv3`).
pub const VEVENTQ_TYPE_ARM_SMMUV3: u32 = 1;
/// `IOMMU_VEVENTQ_FLAG_LOST_EVENTS`: events were lost after the previous one.
pub const VEVENTQ_FLAG_LOST_EVENTS: u32 = 1;
/// Size of `struct iommufd_vevent_header`.
pub const VEVENT_HEADER_SIZE: usize = 8;

/// What the queue wrote to the socket and the user has not read in full.
#[derive(Default)]
struct State {
    /// Sequence number of the next event.
    sequence: u32,
    /// Bytes written since the queue was made.
    written: u64,
    /// For each record not yet read in full: where it ends (in `written` bytes) and
    /// whether it is a lost-events header.
    unread: VecDeque<(u64, bool)>,
}

/// A vEVENTQ (`IOMMU_VEVENTQ_ALLOC`).
pub struct Veventq {
    /// The vIOMMU, kept busy by its queue.
    _viommu: Arc<Viommu>,
    pub(crate) kind: u32,
    depth: u32,
    /// The user's end (the user closes it).
    user_fd: RawFd,
    /// A duplicate of the user's end, to count its unread bytes.
    peer: OwnedFd,
    /// The library's end.
    ours: OwnedFd,
    st: Mutex<State>,
}

impl Veventq {
    /// The user's descriptor.
    pub fn fd(&self) -> RawFd {
        self.user_fd
    }

    /// Bytes the user has not read yet.
    fn unread_bytes(&self) -> u64 {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int into `n`.
        let r = unsafe { libc::ioctl(self.peer.as_raw_fd(), libc::FIONREAD, &mut n) };
        if r < 0 { 0 } else { n.max(0) as u64 }
    }

    /// Sends `bytes` whole, or nothing.
    fn send(&self, bytes: &[u8]) -> bool {
        // SAFETY: sends from `bytes`, a live slice of its length.
        let n = unsafe {
            libc::send(
                self.ours.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        n == bytes.len() as isize
    }

    /// Reports an event whose payload is `data`: queued with the next sequence number if
    /// the queue holds fewer than its depth of events; otherwise the event is lost, and a
    /// lost-events header is queued unless one is already the last thing unread.
    pub(crate) fn report(&self, data: &[u8]) {
        let mut st = self.st.lock();
        let consumed = st.written.saturating_sub(self.unread_bytes());
        while st.unread.front().is_some_and(|&(end, _)| end <= consumed) {
            st.unread.pop_front();
        }
        let events = st.unread.iter().filter(|(_, lost)| !lost).count();
        let seq = st.sequence;
        st.sequence = (st.sequence + 1) & i32::MAX as u32;
        let full = events >= self.depth as usize;
        if full && st.unread.back().is_some_and(|&(_, lost)| lost) {
            return;
        }
        let mut rec = Vec::with_capacity(VEVENT_HEADER_SIZE + data.len());
        let flags = if full { VEVENTQ_FLAG_LOST_EVENTS } else { 0 };
        rec.extend_from_slice(&flags.to_ne_bytes());
        rec.extend_from_slice(&seq.to_ne_bytes());
        if !full {
            rec.extend_from_slice(data);
        }
        // A socket that takes no more loses the event, as a queue out of memory does.
        if !self.send(&rec) && !full {
            let mut lost = [0u8; VEVENT_HEADER_SIZE];
            lost[..4].copy_from_slice(&VEVENTQ_FLAG_LOST_EVENTS.to_ne_bytes());
            lost[4..].copy_from_slice(&seq.to_ne_bytes());
            if self.send(&lost) {
                st.written += VEVENT_HEADER_SIZE as u64;
                let end = st.written;
                st.unread.push_back((end, true));
            }
            return;
        }
        st.written += rec.len() as u64;
        let end = st.written;
        st.unread.push_back((end, full));
    }
}

/// The events of a nested domain made through a vIOMMU, for that vIOMMU's queues.
pub(crate) struct ViommuEvents(pub(crate) Weak<Viommu>);

impl EventHandler for ViommuEvents {
    fn device_event(&self, device: DeviceId, record: &[u64]) {
        let Some(viommu) = self.0.upgrade() else {
            return;
        };
        let Some(vsid) = viommu.virt_id_of(device) else {
            return;
        };
        let Some(q) = viommu.veventq(VEVENTQ_TYPE_ARM_SMMUV3) else {
            return;
        };
        // The record with the guest's StreamID in place of the host's (word 0, 63:32).
        let mut data = Vec::with_capacity(32);
        for (i, &w) in record.iter().take(4).enumerate() {
            let w = if i == 0 {
                (w & 0xffff_ffff) | (vsid << 32)
            } else {
                w
            };
            data.extend_from_slice(&w.to_le_bytes());
        }
        q.report(&data);
    }
}

impl Context {
    /// `IOMMU_VEVENTQ_ALLOC`: a queue of `depth` events of type `kind` on vIOMMU
    /// `viommu_id`; returns its id and the descriptor the user reads events from
    /// (non-blocking, close-on-exec; the caller owns it). Flags and the default type are
    /// `EOPNOTSUPP`, a depth of 0 `EINVAL`, a second queue of one type on a vIOMMU
    /// `EEXIST`.
    pub fn veventq_alloc(
        &self,
        viommu_id: u32,
        kind: u32,
        depth: u32,
        flags: u32,
    ) -> Result<(u32, RawFd)> {
        if flags != 0 || kind == VEVENTQ_TYPE_DEFAULT {
            return err(libc::EOPNOTSUPP, "vEVENTQ flags or the default type");
        }
        if depth == 0 {
            return err(libc::EINVAL, "a vEVENTQ holds at least one event");
        }
        let viommu = self.viommu(viommu_id)?;
        self.host().faults().check("allocating a vEVENTQ")?;
        let mut queues = viommu.veventqs.lock();
        queues.retain(|w| w.strong_count() > 0);
        if queues
            .iter()
            .filter_map(Weak::upgrade)
            .any(|q| q.kind == kind)
        {
            return err(libc::EEXIST, "the vIOMMU has a vEVENTQ of that type");
        }
        let (user, ours) = socket_pair()?;
        // SAFETY: dup(2) of a descriptor this call owns; a failure is checked below.
        let dup = unsafe { libc::fcntl(user.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return err(libc::EMFILE, "no descriptor for the vEVENTQ");
        }
        // SAFETY: `dup` was just made and is owned by nothing else.
        let peer = unsafe { OwnedFd::from_raw_fd(dup) };
        let q = Arc::new(Veventq {
            _viommu: viommu.clone(),
            kind,
            depth,
            user_fd: user.into_raw_fd(),
            peer,
            ours,
            st: Mutex::new(State::default()),
        });
        let fd = q.fd();
        queues.push(Arc::downgrade(&q));
        drop(queues);
        match self.insert(Object::Veventq(q)) {
            Ok(id) => Ok((id, fd)),
            Err(e) => {
                // SAFETY: the descriptor never reached the caller.
                unsafe { libc::close(fd) };
                Err(e)
            }
        }
    }
}

/// A connected pair of Unix stream sockets, close-on-exec and non-blocking.
fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: `fds` has room for the two descriptors socketpair(2) writes.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::new(libc::EMFILE, "no socket pair for the vEVENTQ"));
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
