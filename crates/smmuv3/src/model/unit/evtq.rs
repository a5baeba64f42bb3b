//! The event queue: recording the events of faulting requests.

use softiommu_mem::AddressSpace;

use super::{Inner, SmmuUnit, Stalled};
use crate::event::Event;
use crate::model::Fault;
use crate::regs::{Gerror, OutputSlot};

/// The 32 bytes of an event record as they lie in the queue.
fn record_bytes(e: &Event) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(e.encode()) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    bytes
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// It is in the queue.
    Written,
    /// It was discarded (queue disabled or full, or its write aborted).
    Lost,
}

impl<M: AddressSpace> SmmuUnit<M> {
    /// Records the event of fault `f` and returns the fault as the device sees it: a stall
    /// whose event could not be written (or beyond IDR5.STALL_MAX outstanding) is terminated
    /// at once, its STAG dropped.
    pub(super) fn record(&self, mut f: Fault) -> Fault {
        let Some(event) = f.event else {
            return f;
        };
        tracing::debug!(target: "smmuv3", event = ?event, "fault event");
        self.locked(|inner| {
            let stall = event.stall.filter(|_| inner.stalled.len() < self.stall_max);
            let mut e = event;
            e.stall = stall;
            let written = self.write_event(inner, &e) == Recorded::Written;
            match stall {
                Some(stag) if written => inner.stalled.push(Stalled { sid: e.sid, stag }),
                _ => e.stall = None,
            }
            f.event = Some(e);
        });
        f
    }

    /// Writes event `e` into the event queue as the SMMU records one of its own: lost while
    /// the queue is disabled, an overflow while it is full, EVENTQ_ABT_ERR when the write
    /// aborts, the event queue interrupt when the queue was empty. For a VMM that reports
    /// to a guest events another SMMU recorded for the guest's streams. Returns whether the
    /// record is in the queue.
    pub fn inject_event(&self, e: &Event) -> bool {
        self.locked(|inner| self.write_event(inner, e) == Recorded::Written)
    }

    /// Writes `e` to the event queue: nothing while it is disabled, an overflow while it is
    /// full, EVENTQ_ABT_ERR when the write aborts; the event queue interrupt when the queue
    /// was empty.
    pub(super) fn write_event(&self, inner: &mut Inner, e: &Event) -> Recorded {
        match inner.regs.event_slot() {
            OutputSlot::Disabled => Recorded::Lost,
            OutputSlot::Full => {
                inner.regs.event_overflow();
                Recorded::Lost
            }
            OutputSlot::Free(at) => {
                if self.engine.memory().write(at, &record_bytes(e)).is_err() {
                    self.global_error(inner, Gerror::new().with_eventq_abt_err(true));
                    return Recorded::Lost;
                }
                if let Some(i) = inner.regs.event_written() {
                    self.signal(inner, i);
                }
                Recorded::Written
            }
        }
    }
}
