//! What the trap tests share: a handler that records every access against a page of
//! backing bytes, and scenarios run in a child process.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::Arc;

use parking_lot::Mutex;

use softiommu_preload::trap::{MmioHandler, PortalStatus, PortalWrite, TrapWindow};

/// One access a [`Recorder`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A load: offset, size.
    Read(u64, usize),
    /// A store: offset, size, value.
    Write(u64, usize, u64),
    /// A 64-byte portal store: offset, how, dword 0 of the data.
    Portal(u64, PortalWrite, u32),
}

/// A device of 4 KiB of little-endian registers that logs each access; its portals (the
/// second page) take or refuse enqueues as `accept` says.
pub struct Recorder {
    pub bytes: Mutex<Vec<u8>>,
    pub log: Mutex<Vec<Seen>>,
    pub portal_data: Mutex<Vec<[u8; 64]>>,
    pub accept: Mutex<bool>,
}

/// Offset of the portal page of a [`Recorder`].
pub const PORTALS: u64 = 0x1000;

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            bytes: Mutex::new(vec![0; 4096]),
            log: Mutex::new(Vec::new()),
            portal_data: Mutex::new(Vec::new()),
            accept: Mutex::new(true),
        })
    }

    /// A window of two pages (registers, portals) served by `r`.
    pub fn window(r: &Arc<Recorder>) -> TrapWindow {
        TrapWindow::map(8192, r.clone()).expect("a trapped window")
    }

    /// Sets the register bytes at `off`.
    pub fn set(&self, off: usize, data: &[u8]) {
        self.bytes.lock()[off..off + data.len()].copy_from_slice(data);
    }

    /// The log so far, emptied.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.log.lock())
    }
}

impl MmioHandler for Recorder {
    fn read(&self, offset: u64, size: usize) -> u64 {
        self.log.lock().push(Seen::Read(offset, size));
        let b = self.bytes.lock();
        let mut v = [0u8; 8];
        let o = offset as usize;
        if o + size <= b.len() {
            v[..size].copy_from_slice(&b[o..o + size]);
        }
        u64::from_le_bytes(v)
    }

    fn write(&self, offset: u64, size: usize, value: u64) {
        self.log.lock().push(Seen::Write(offset, size, value));
        let mut b = self.bytes.lock();
        let o = offset as usize;
        if o + size <= b.len() {
            b[o..o + size].copy_from_slice(&value.to_le_bytes()[..size]);
        }
    }

    fn portal(&self, offset: u64, data: &[u8; 64], how: PortalWrite) -> Option<PortalStatus> {
        if offset < PORTALS {
            return None;
        }
        let d0 = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        self.log.lock().push(Seen::Portal(offset, how, d0));
        self.portal_data.lock().push(*data);
        Some(if *self.accept.lock() {
            PortalStatus::Accepted
        } else {
            PortalStatus::Retry
        })
    }
}

/// The variable telling a test binary started by [`child`] which scenario to run.
const SCENARIO: &str = "SOFTIOMMU_TRAP_SCENARIO";

/// Runs `body` in a fresh process (this test binary, running only test `test`), so that it
/// may crash or exit: returns that process's output. In the child, runs `body` and exits 0
/// when it returns.
pub fn child(test: &str, body: impl FnOnce()) -> Output {
    if std::env::var(SCENARIO).is_ok_and(|s| s == test) {
        body();
        std::process::exit(0);
    }
    let exe = std::env::current_exe().expect("the test binary");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, test)
        .output()
        .expect("the child runs")
}

/// The signal that killed a child, if one did.
pub fn killed_by(out: &Output) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal()
}
