//! An interrupt line from a hardware model to the OS, as a platform wires it: the model's
//! interrupt sink raises it, and a handler thread waits for it.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};

/// One interrupt line: a count of the interrupts raised on it, which handlers wait on.
/// Raising it only counts and wakes, so a model may raise it with its own locks held.
#[derive(Debug, Default)]
pub struct IrqLine {
    raised: Mutex<u64>,
    changed: Condvar,
}

impl IrqLine {
    /// A line nothing has raised yet.
    pub fn new() -> IrqLine {
        IrqLine::default()
    }

    /// One interrupt.
    pub fn raise(&self) {
        *self.raised.lock() += 1;
        self.changed.notify_all();
    }

    /// Interrupts raised so far.
    pub fn raised(&self) -> u64 {
        *self.raised.lock()
    }

    /// Waits until more than `seen` interrupts were raised, and returns how many; `None`
    /// once `stop` is set (whoever sets it calls [`IrqLine::wake`] afterwards).
    pub fn wait_past(&self, seen: u64, stop: &AtomicBool) -> Option<u64> {
        let mut n = self.raised.lock();
        loop {
            if stop.load(Ordering::Acquire) {
                return None;
            }
            if *n > seen {
                return Some(*n);
            }
            self.changed.wait(&mut n);
        }
    }

    /// Wakes the handlers waiting on the line so that they look at their stop flag.
    pub fn wake(&self) {
        let _held = self.raised.lock();
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_handler_sees_every_interrupt_and_stops_when_told() {
        let line = Arc::new(IrqLine::new());
        let stop = Arc::new(AtomicBool::new(false));
        line.raise();
        assert_eq!(line.wait_past(0, &stop), Some(1));
        let (l, s) = (line.clone(), stop.clone());
        let handler = std::thread::spawn(move || {
            let mut seen = 1;
            while let Some(n) = l.wait_past(seen, &s) {
                seen = n;
            }
            seen
        });
        line.raise();
        line.raise();
        // Stopping is seen whenever the handler looks: it has seen 1 to 3 interrupts.
        stop.store(true, Ordering::Release);
        line.wake();
        let seen = handler.join().expect("handler");
        assert!((1..=3).contains(&seen));
        assert_eq!(line.raised(), 3);
    }
}
