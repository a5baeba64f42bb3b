//! Interrupts of VFIO devices: the eventfds a user hands over, and the host's interrupt
//! table, which turns a function's MSI-X write into a signal on the eventfd registered for
//! its message.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
use softiommu_devices::bus::{
    AtsFailure, AtsRequest, AtsTranslation, DmaError, DmaFault, DmaRequest, Endpoint, MsiMessage,
    PageRequest, Translation, Upstream,
};
use softiommu_mem::AddressSpace;

use crate::error::{Result, err};

/// The address window of interrupt messages (x86's local APIC range).
pub const MSI_WINDOW: std::ops::RangeInclusive<u64> = 0xfee0_0000..=0xfeef_ffff;
/// The address the host programs into the vectors it hands out.
pub const MSI_ADDRESS: u64 = 0xfee0_0000;

/// An eventfd the user handed over (a duplicate of the user's descriptor).
pub(crate) struct EventFd(File);

impl EventFd {
    /// Takes a reference on the user's eventfd `fd`: `EBADF` if it is not open, `EINVAL` if
    /// it is not an eventfd.
    pub(crate) fn from_user(fd: i32) -> Result<EventFd> {
        if fd < 0 {
            return err(libc::EBADF, "bad file descriptor");
        }
        // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor number; a closed or invalid
        // number makes it fail with EBADF, and nothing is dereferenced.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return err(libc::EBADF, "bad file descriptor");
        }
        // SAFETY: `dup` is a descriptor this call just made; nothing else owns it.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(dup) });
        let link = std::fs::read_link(format!("/proc/self/fd/{dup}"));
        match link {
            Ok(l) if l.as_os_str() == "anon_inode:[eventfd]" => Ok(EventFd(file)),
            _ => err(libc::EINVAL, "not an eventfd"),
        }
    }

    /// Adds 1 to the eventfd's counter.
    pub(crate) fn signal(&self) {
        // A full counter (EAGAIN) loses nothing a reader would see.
        let _ = (&self.0).write(&1u64.to_ne_bytes());
    }
}

/// The host's interrupt table: which eventfd each message it handed out signals, and for
/// which requester.
#[derive(Default)]
pub struct Irqs {
    table: Mutex<HashMap<u32, (u16, Arc<EventFd>)>>,
    next: AtomicU32,
}

impl Irqs {
    /// An empty table.
    pub fn new() -> Arc<Irqs> {
        Arc::new(Irqs {
            table: Mutex::new(HashMap::new()),
            next: AtomicU32::new(0x20),
        })
    }

    /// A new message datum for requester `rid` that signals `fd`.
    pub(crate) fn alloc(&self, rid: u16, fd: Arc<EventFd>) -> u32 {
        let data = self.next.fetch_add(1, Ordering::Relaxed);
        self.table.lock().insert(data, (rid, fd));
        data
    }

    /// Forgets message datum `data`.
    pub(crate) fn free(&self, data: u32) {
        self.table.lock().remove(&data);
    }

    /// Signals the eventfd of message datum `data`, whoever it was handed out for.
    pub(crate) fn signal(&self, data: u32) {
        let fd = self.table.lock().get(&data).map(|(_, fd)| fd.clone());
        if let Some(fd) = fd {
            fd.signal();
        }
    }

    /// Delivers a message of requester `rid`: only a datum handed out for that requester
    /// signals anything (interrupt remapping checks the source).
    pub(crate) fn deliver(&self, rid: u16, data: u32) {
        let fd = match self.table.lock().get(&data) {
            Some((owner, fd)) if *owner == rid => fd.clone(),
            _ => return,
        };
        fd.signal();
    }

    /// Interrupt messages in front of `inner`: a function whose requests go to the port
    /// gets its MSI-X writes in [`MSI_WINDOW`] delivered through this table; everything else
    /// goes on to `inner`.
    pub fn port(self: &Arc<Self>, inner: Arc<dyn Upstream>) -> Arc<dyn Upstream> {
        Arc::new(MsiPort {
            inner,
            irqs: self.clone(),
        })
    }
}

/// See [`Irqs::port`].
struct MsiPort {
    inner: Arc<dyn Upstream>,
    irqs: Arc<Irqs>,
}

impl Upstream for MsiPort {
    fn translate(&self, req: &DmaRequest) -> std::result::Result<Translation, DmaFault> {
        self.inner.translate(req)
    }

    fn memory(&self) -> &dyn AddressSpace {
        self.inner.memory()
    }

    fn ats_translate(&self, req: &AtsRequest) -> std::result::Result<AtsTranslation, AtsFailure> {
        self.inner.ats_translate(req)
    }

    fn page_request(&self, req: &PageRequest) {
        self.inner.page_request(req)
    }

    fn msi(&self, rid: u16, msg: MsiMessage) -> std::result::Result<(), DmaFault> {
        if MSI_WINDOW.contains(&msg.addr) {
            self.irqs.deliver(rid, msg.data);
            return Ok(());
        }
        self.inner.msi(rid, msg)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.inner.attach(rid, endpoint)
    }

    fn detach(&self, rid: u16) {
        self.inner.detach(rid)
    }

    fn dma_read(&self, req: &DmaRequest, buf: &mut [u8]) -> std::result::Result<(), DmaError> {
        self.inner.dma_read(req, buf)
    }

    fn dma_write(&self, req: &DmaRequest, data: &[u8]) -> std::result::Result<(), DmaError> {
        self.inner.dma_write(req, data)
    }
}
