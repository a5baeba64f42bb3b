//! The three interrupt events (fault, invalidation completion, page request) and the rule
//! they share.

use super::layout::{EventAddr, EventCtl, EventData};

/// An interrupt event of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The fault event (FECTL/FEDATA/FEADDR/FEUADDR): fault records, primary fault
    /// overflow and invalidation-queue errors.
    Fault,
    /// The invalidation-completion event (IECTL/IEDATA/IEADDR/IEUADDR): ICS.IWC.
    InvalidationCompletion,
    /// The page-request event (PECTL/PEDATA/PEADDR/PEUADDR): PRS.PPR.
    PageRequest,
}

/// Where the unit's interrupt messages go; implemented by the embedder.
///
/// It is called while the register file is being changed, so it must not call back into
/// the register file.
pub trait InterruptSink: Send + Sync {
    /// Delivers the message `data` to the MSI address `addr` for event `which`.
    fn interrupt(&self, which: Event, addr: u64, data: u32);
}

impl<F: Fn(Event, u64, u32) + Send + Sync> InterruptSink for F {
    fn interrupt(&self, which: Event, addr: u64, data: u32) {
        self(which, addr, data)
    }
}

/// The control, data, address and upper-address registers of one event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRegs {
    pub(crate) ctl: EventCtl,
    pub(crate) data: EventData,
    pub(crate) addr: EventAddr,
    pub(crate) uaddr: u32,
}

impl EventRegs {
    /// The reset state: masked, nothing pending.
    pub(crate) const fn new() -> Self {
        Self {
            ctl: EventCtl::new().with_im(true),
            data: EventData::new(),
            addr: EventAddr::new(),
            uaddr: 0,
        }
    }

    /// The MSI address.
    pub(crate) fn msi_addr(&self) -> u64 {
        u64::from(self.uaddr) << 32 | u64::from(self.addr.ma()) << 2
    }

    fn send(&mut self, which: Event, sink: &dyn InterruptSink) {
        self.ctl.set_ip(false);
        sink.interrupt(which, self.msi_addr(), self.data.into_bits());
    }

    /// A new interrupt condition of the event's group; `already` says whether a status bit
    /// of the group was set before it.
    pub(crate) fn condition(&mut self, already: bool, which: Event, sink: &dyn InterruptSink) {
        if already {
            return;
        }
        self.ctl.set_ip(true);
        if !self.ctl.im() {
            self.send(which, sink);
        }
    }

    /// A software write of the control register: IM is writable, IP is not; unmasking with
    /// IP set sends the pending message.
    pub(crate) fn write_ctl(&mut self, v: EventCtl, which: Event, sink: &dyn InterruptSink) {
        self.ctl.set_im(v.im());
        if !self.ctl.im() && self.ctl.ip() {
            self.send(which, sink);
        }
    }

    /// Every status bit of the group is clear: nothing is pending any more.
    pub(crate) fn status_cleared(&mut self) {
        self.ctl.set_ip(false);
    }
}
