//! The function's page requests: group indexes within the PRI allocation, and the wait for
//! each group's response.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::bus::{PRGI_MAX, PageResponse, PageResponseCode};

/// How long a page request waits for its response unless told otherwise.
pub const DEFAULT_PAGE_RESPONSE_TIMEOUT: Duration = Duration::from_millis(100);

/// One outstanding page request group.
#[derive(Clone, Copy, Debug)]
struct Group {
    /// The PASID the request carried.
    pasid: Option<u32>,
    /// The response, once it arrived.
    answer: Option<PageResponseCode>,
    /// The requester stopped waiting; the index stays allocated until its response.
    abandoned: bool,
}

#[derive(Debug)]
struct State {
    /// PRI Enable.
    enabled: bool,
    /// Outstanding Page Request Allocation.
    allocation: u32,
    /// Response Failure recorded (page requests stop until software clears it).
    failed: bool,
    /// A Response Failure not yet reported to configuration space.
    new_failure: bool,
    /// An unexpected group index not yet reported to configuration space.
    unexpected: bool,
    /// Outstanding groups by index.
    groups: HashMap<u16, Group>,
    /// Where the search for a free index starts.
    next: u16,
    /// How long a request waits for its response.
    timeout: Duration,
}

/// The page request side of a function.
#[derive(Debug)]
pub(crate) struct Pri {
    state: Mutex<State>,
    /// Signalled when a response arrives.
    answered: Condvar,
}

/// What became of a page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PriOutcome {
    /// The request could not be sent: PRI off, failed, or no group index free in time.
    NotSent,
    /// The response arrived with this code.
    Answered(PageResponseCode),
    /// No response arrived in time.
    TimedOut,
}

impl Default for Pri {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                enabled: false,
                allocation: 0,
                failed: false,
                new_failure: false,
                unexpected: false,
                groups: HashMap::new(),
                next: 0,
                timeout: DEFAULT_PAGE_RESPONSE_TIMEOUT,
            }),
            answered: Condvar::new(),
        }
    }
}

impl Pri {
    /// Takes configuration space's PRI state: Enable, the allocation and Response Failure.
    pub fn configure(&self, enabled: bool, allocation: u32, failed: bool) {
        let mut s = self.state.lock();
        if s.enabled && !enabled {
            // Disabling PRI forgets every outstanding request.
            s.groups.clear();
        }
        s.enabled = enabled;
        s.allocation = allocation.min(u32::from(PRGI_MAX) + 1);
        s.failed = failed || s.new_failure;
        self.answered.notify_all();
    }

    /// Sets how long a request waits for its response.
    pub fn set_timeout(&self, t: Duration) {
        self.state.lock().timeout = t;
    }

    /// Takes the PRI status events not yet recorded in configuration space: (Response
    /// Failure, Unexpected Page Request Group Index).
    pub fn take_events(&self) -> (bool, bool) {
        let mut s = self.state.lock();
        let ev = (s.new_failure, s.unexpected);
        s.new_failure = false;
        s.unexpected = false;
        ev
    }

    /// Allocates a group index, sends the request through `send` (which may deliver the
    /// response before it returns), and waits for the response.
    pub fn request(&self, pasid: Option<u32>, send: impl FnOnce(u16)) -> PriOutcome {
        let mut s = self.state.lock();
        let deadline = Instant::now() + s.timeout;
        let prgi = loop {
            if !s.enabled || s.failed || s.allocation == 0 {
                return PriOutcome::NotSent;
            }
            if (s.groups.len() as u32) < s.allocation
                && let Some(i) = (0..=PRGI_MAX)
                    .map(|k| (s.next + k) % (PRGI_MAX + 1))
                    .find(|i| !s.groups.contains_key(i))
            {
                break i;
            }
            if self.answered.wait_until(&mut s, deadline).timed_out() {
                return PriOutcome::NotSent;
            }
        };
        s.next = (prgi + 1) % (PRGI_MAX + 1);
        s.groups.insert(
            prgi,
            Group {
                pasid,
                answer: None,
                abandoned: false,
            },
        );
        drop(s);
        send(prgi);
        let mut s = self.state.lock();
        loop {
            let Some(g) = s.groups.get(&prgi).copied() else {
                // PRI was disabled meanwhile.
                return PriOutcome::NotSent;
            };
            if let Some(code) = g.answer {
                s.groups.remove(&prgi);
                self.answered.notify_all();
                return PriOutcome::Answered(code);
            }
            if self.answered.wait_until(&mut s, deadline).timed_out() {
                if let Some(g) = s.groups.get_mut(&prgi) {
                    if let Some(code) = g.answer {
                        s.groups.remove(&prgi);
                        return PriOutcome::Answered(code);
                    }
                    g.abandoned = true;
                }
                return PriOutcome::TimedOut;
            }
        }
    }

    /// Takes a page group response: it answers the outstanding group it names, or is
    /// recorded as unexpected.
    pub fn respond(&self, resp: &PageResponse) {
        let mut s = self.state.lock();
        let matches = s
            .groups
            .get(&resp.prgi)
            .is_some_and(|g| g.answer.is_none() && (resp.pasid.is_none() || resp.pasid == g.pasid));
        if !matches {
            s.unexpected = true;
            return;
        }
        if resp.code == PageResponseCode::ResponseFailure {
            s.failed = true;
            s.new_failure = true;
        }
        let abandoned = s.groups.get(&resp.prgi).is_some_and(|g| g.abandoned);
        if abandoned {
            s.groups.remove(&resp.prgi);
        } else if let Some(g) = s.groups.get_mut(&resp.prgi) {
            g.answer = Some(resp.code);
        }
        self.answered.notify_all();
    }

    /// Forgets every outstanding request (function level reset).
    pub fn reset(&self) {
        let mut s = self.state.lock();
        s.groups.clear();
        s.failed = false;
        s.new_failure = false;
        s.unexpected = false;
        self.answered.notify_all();
    }
}
