//! The VMM's service of a shadowed device's I/O page faults.
//!
//! A shadowed device is attached to a paging HWPT over the shadow IOAS, allocated with a
//! fault queue (`IOMMU_HWPT_FAULT_ID_VALID`), and its work queue blocks on faults: a DMA to
//! a page the IOAS lacks becomes a page request, which the host's IOMMU core routes to the
//! queue. A thread of the VMM reads the queue's `struct iommu_hwpt_pgfault` records from its
//! descriptor and asks the shadow about each page: a page the guest's tables map (the
//! shadow was behind, e.g. the guest forgot an invalidation) is mirrored and the group
//! answered success, and the device retries; any other is recorded in the guest's vIOMMU as
//! its hardware would record the fault, and the group answered invalid, so the device ends
//! the descriptor with a page-fault completion record. The device waits for the answer, so
//! the service never waits on the guest's own thread.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use softiommu_iommufd::{
    Context, HWPT_FAULT_ID_VALID, HwptData, PAGE_RESP_INVALID, PAGE_RESP_SUCCESS,
    PGFAULT_FLAGS_LAST_PAGE, PGFAULT_PERM_WRITE, PGFAULT_SIZE,
};

use crate::{Error, Result};

/// What the VMM does with one page of a page request: `true` when the page is now
/// reachable (the request is answered success), `false` when the guest maps nothing there
/// and the fault was reported to the guest's vIOMMU.
pub(crate) trait PageServer: Send + Sync + 'static {
    /// Serves the page at device address `addr` for a read, or a write when `write`.
    fn serve(&self, addr: u64, write: bool) -> bool;
}

/// A fault queue and the VMM thread serving it.
pub(crate) struct FaultService {
    /// The queue's id in the VMM's context.
    fault_id: u32,
    /// Wakes the thread to stop.
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultService")
            .field("fault_id", &self.fault_id)
            .finish_non_exhaustive()
    }
}

impl FaultService {
    /// A fault queue in `ctx` and a paging HWPT for bound device `dev_id` over IOAS `ioas`,
    /// made with `flags` besides the fault queue's, whose page requests go to it; the thread serving the queue through `server` runs
    /// until the service is dropped. Returns the service and the HWPT's id, for the VMM to
    /// attach the device to.
    pub(crate) fn start(
        ctx: &Context,
        (dev_id, ioas): (u32, u32),
        flags: u32,
        server: Arc<dyn PageServer>,
    ) -> Result<(FaultService, u32)> {
        let (fault_id, fd) = ctx.fault_queue_alloc()?;
        // SAFETY: the call made `fd` for its caller, who owns it; nothing else closes it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let flags = flags | HWPT_FAULT_ID_VALID;
        let hwpt = match ctx.hwpt_alloc_with(dev_id, ioas, flags, HwptData::None, fault_id) {
            Ok(h) => h,
            Err(e) => {
                // The queue goes back with the refusal; its descriptor closes here.
                let _ = ctx.destroy(fault_id);
                return Err(e.into());
            }
        };
        let wake = eventfd()?;
        let stop = wake.as_raw_fd();
        let thread = std::thread::Builder::new()
            .name("vmm-faults".into())
            .spawn(move || run(&fd, stop, &*server))
            .map_err(|e| Error::Host(format!("no fault-queue thread: {e}")))?;
        let service = FaultService {
            fault_id,
            wake,
            thread: Some(thread),
        };
        Ok((service, hwpt))
    }
}

impl Drop for FaultService {
    fn drop(&mut self) {
        let one = 1u64;
        // SAFETY: writes the 8 bytes of `one` to the eventfd this service owns.
        unsafe { libc::write(self.wake.as_raw_fd(), (&raw const one).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A new eventfd.
fn eventfd() -> Result<OwnedFd> {
    // SAFETY: eventfd(2) takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Host("no eventfd for the fault service".into()));
    }
    // SAFETY: the descriptor was just made and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One record of `struct iommu_hwpt_pgfault`: the fields the VMM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PgFault {
    flags: u32,
    perm: u32,
    addr: u64,
    cookie: u32,
}

impl PgFault {
    fn parse(b: &[u8]) -> Option<PgFault> {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
        };
        let addr = u64::from_ne_bytes(b.get(24..32)?.try_into().ok()?);
        Some(PgFault {
            flags: word(0)?,
            perm: word(16)?,
            addr,
            cookie: word(36)?,
        })
    }
}

/// The thread: waits for records on `fd` (or the stop signal on `stop`), serves each page
/// and answers each group once its last page is served. The descriptor closes with the
/// thread, which answers what is still pending invalid.
fn run(fd: &OwnedFd, stop: RawFd, server: &dyn PageServer) {
    let fd = fd.as_raw_fd();
    let mut buf = vec![0u8; 16 * PGFAULT_SIZE];
    let mut partial: Vec<u8> = Vec::new();
    // Whether the group being read so far was all served.
    let mut group_ok = true;
    loop {
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is an array of two pollfds, as the count says.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            continue;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
            && fds[0].revents & libc::POLLIN == 0
        {
            return;
        }
        // SAFETY: reads at most `buf.len()` bytes into `buf`, a live buffer of that length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else { continue };
        if n == 0 {
            return;
        }
        partial.extend_from_slice(&buf[..n]);
        let whole = partial.len() / PGFAULT_SIZE * PGFAULT_SIZE;
        let records: Vec<u8> = partial.drain(..whole).collect();
        for rec in records.chunks_exact(PGFAULT_SIZE) {
            let Some(f) = PgFault::parse(rec) else {
                continue;
            };
            let write = f.perm & PGFAULT_PERM_WRITE != 0;
            group_ok &= server.serve(f.addr, write);
            if f.flags & PGFAULT_FLAGS_LAST_PAGE != 0 {
                let code = if group_ok {
                    PAGE_RESP_SUCCESS
                } else {
                    PAGE_RESP_INVALID
                };
                respond(fd, f.cookie, code);
                group_ok = true;
            }
        }
    }
}

/// Writes one `struct iommu_hwpt_page_response` to `fd`.
fn respond(fd: RawFd, cookie: u32, code: u32) {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&cookie.to_ne_bytes());
    b[4..].copy_from_slice(&code.to_ne_bytes());
    // SAFETY: writes the 8 bytes of `b`. A response the descriptor does not take leaves
    // the group to time out in the device, which then ends the descriptor with a fault.
    unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
}

#[cfg(test)]
mod tests {
    use super::PgFault;

    #[test]
    fn a_record_s_fields_are_read_from_their_places() {
        let mut b = [0u8; 40];
        b[..4].copy_from_slice(&2u32.to_ne_bytes());
        b[16..20].copy_from_slice(&3u32.to_ne_bytes());
        b[24..32].copy_from_slice(&0x7040_0000u64.to_ne_bytes());
        b[36..40].copy_from_slice(&9u32.to_ne_bytes());
        let f = PgFault::parse(&b).unwrap_or_else(|| panic!("a whole record"));
        assert_eq!(
            f,
            PgFault {
                flags: 2,
                perm: 3,
                addr: 0x7040_0000,
                cookie: 9
            }
        );
        assert_eq!(PgFault::parse(&b[..39]), None);
    }
}
