//! The threaded mode: one thread per engine taking descriptors from the WQs.

use std::cell::Cell;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::device::{Dsa, ExecMode, Regs};
use super::exec::{Effects, execute};
use super::wq::Pending;

thread_local! {
    /// This thread is an engine thread (whose own descriptor a wait would never see end).
    static ON_ENGINE: Cell<bool> = const { Cell::new(false) };
}

/// The engine threads of one device; dropping it stops and joins them.
#[derive(Debug)]
pub struct Engines {
    dsa: Arc<Dsa>,
    threads: Vec<JoinHandle<()>>,
}

impl Dsa {
    /// Starts one thread per engine (threaded mode only: otherwise no thread starts).
    pub fn start_engines(self: &Arc<Self>) -> Engines {
        let n = if self.cfg.mode == ExecMode::Threaded {
            usize::from(self.cfg.num_engines)
        } else {
            0
        };
        self.regs.lock().stop = false;
        let threads = (0..n)
            .map(|_| {
                let dsa = self.clone();
                std::thread::spawn(move || dsa.engine_loop())
            })
            .collect();
        Engines {
            dsa: self.clone(),
            threads,
        }
    }

    /// Takes the next descriptor of an enabled WQ none of whose descriptors is running.
    fn take(r: &mut Regs) -> Option<(usize, Pending)> {
        let n = r.wqs.len();
        for k in 0..n {
            let w = (r.next_wq + k) % n;
            let q = &mut r.wqs[w];
            if !q.busy
                && let Some(p) = q.queue.pop_front()
            {
                q.busy = true;
                r.next_wq = (w + 1) % n;
                r.inflight += 1;
                return Some((w, p));
            }
        }
        None
    }

    fn engine_loop(&self) {
        ON_ENGINE.with(|e| e.set(true));
        loop {
            let (w, job) = {
                let mut r = self.regs.lock();
                loop {
                    if r.stop {
                        return;
                    }
                    if let Some(j) = Self::take(&mut r) {
                        break j;
                    }
                    self.work.wait(&mut r);
                }
            };
            let fx = execute(self.dma(), &job.ctx, &job.desc);
            self.run(Effects {
                jobs: Vec::new(),
                ..fx
            });
            let mut r = self.regs.lock();
            if let Some(q) = r.wqs.get_mut(w) {
                q.busy = false;
            }
            r.inflight -= 1;
            self.work.notify_one();
            self.idle.notify_all();
        }
    }

    /// Waits until no engine thread is running a descriptor (and, with `empty`, until no
    /// WQ holds one, while engine threads are running).
    pub(crate) fn wait_idle(&self, empty: bool) {
        if ON_ENGINE.with(Cell::get) {
            return;
        }
        let mut r = self.regs.lock();
        loop {
            let queued = empty && !r.stop && r.wqs.iter().any(|q| !q.queue.is_empty());
            if r.inflight == 0 && !queued {
                return;
            }
            self.idle.wait(&mut r);
        }
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.dsa.regs.lock().stop = true;
        self.dsa.work.notify_all();
        self.dsa.idle.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
