//! The `SIGSEGV` and `SIGILL` handlers: faults on windows are emulated, the rest go on to the
//! handlers installed before.

use std::fmt::Write as _;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use super::emulate::{Outcome, emulate_fault};

/// The exit status of a process stopped on an instruction that cannot be emulated on a
/// trapped window.
pub const UNEMULATED_EXIT: i32 = 86;

/// The handlers faults that are not ours go to (SIGSEGV, SIGILL): those installed before
/// ours, or those the program installed since through [`program_sigaction`]. Each is a
/// leaked box, never freed, so a handler may read it while another thread replaces it.
static PREVIOUS: [AtomicPtr<libc::sigaction>; 2] = [
    AtomicPtr::new(ptr::null_mut()),
    AtomicPtr::new(ptr::null_mut()),
];
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn slot(sig: libc::c_int) -> usize {
    usize::from(sig == libc::SIGILL)
}

/// Installs the fault handlers (once; later calls do nothing). Registering a window does it.
pub fn install() {
    INSTALL.call_once(|| {
        super::emulate::prime_decoder();
        for sig in [libc::SIGSEGV, libc::SIGILL] {
            // SAFETY: sigaction with zeroed structures filled in here (the old one by the
            // kernel); PREVIOUS is written before the handler that reads it is installed.
            unsafe {
                let mut prev: libc::sigaction = std::mem::zeroed();
                (crate::real::sigaction())(sig, std::ptr::null(), &mut prev);
                PREVIOUS[slot(sig)].store(Box::into_raw(Box::new(prev)), Ordering::Release);
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut act.sa_mask);
                (crate::real::sigaction())(sig, &act, std::ptr::null_mut());
            }
        }
        INSTALLED.store(true, Ordering::Release);
    });
}

/// `sigaction` as the program sees it once the trap is installed, for an interposed
/// `sigaction`/`signal` to call: for `SIGSEGV` and `SIGILL` the trap's handler stays in place
/// and the program's `act` becomes the handler that faults not on a window go to, `old`
/// being the one it replaces. Returns false (nothing done) for any other signal or before
/// the trap is installed, where the real call is to be made.
pub fn program_sigaction(
    sig: libc::c_int,
    act: Option<&libc::sigaction>,
    old: Option<&mut libc::sigaction>,
) -> bool {
    if !(sig == libc::SIGSEGV || sig == libc::SIGILL) || !INSTALLED.load(Ordering::Acquire) {
        return false;
    }
    let cell = &PREVIOUS[slot(sig)];
    let before = match act {
        Some(a) => cell.swap(Box::into_raw(Box::new(*a)), Ordering::AcqRel),
        None => cell.load(Ordering::Acquire),
    };
    if let Some(o) = old {
        // SAFETY: PREVIOUS holds null or a leaked box, never freed.
        *o = unsafe { before.as_ref() }
            .copied()
            .unwrap_or_else(default_action);
    }
    true
}

fn default_action() -> libc::sigaction {
    // SAFETY: sigaction is plain data; zeroes are SIG_DFL with no flags.
    unsafe { std::mem::zeroed() }
}

/// One emulation, handed to [`run_job`] across the stack switch.
struct Job {
    sig: libc::c_int,
    addr: u64,
    uc: *mut libc::ucontext_t,
    outcome: Outcome,
}

extern "C" fn run_job(job: *mut Job) {
    // SAFETY: `job` is the live Job of `on_signal`, whose `uc` is the kernel's context.
    unsafe {
        let j = &mut *job;
        // The device behind a window takes its locks: not while the process forks.
        let _inside = softiommu_iommufd::quiesce::enter();
        j.outcome = emulate_fault(j.sig, j.addr, &mut *j.uc);
    }
}

/// Where the emulation runs: below the interrupted thread's stack pointer (past its red
/// zone) when this handler runs on an alternate signal stack that the thread was not on,
/// so that the device models behind a window have the thread's stack rather than a small
/// alternate one; `None` to stay where we are.
fn emulation_stack(uc: &libc::ucontext_t) -> Option<u64> {
    let here = (&raw const *uc) as u64;
    let alt = uc.uc_stack.ss_sp as u64
        ..(uc.uc_stack.ss_sp as u64).wrapping_add(uc.uc_stack.ss_size as u64);
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as u64;
    (alt.contains(&here) && !alt.contains(&sp)).then(|| (sp - 512) & !15)
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler. Only a fault the
    // kernel raised (si_code > 0) can be a window's.
    let addr = unsafe {
        if (*info).si_code <= 0 {
            return chain(sig, info, uctx);
        }
        (*info).si_addr() as u64
    };
    let mut job = Job {
        sig,
        addr,
        uc: uctx.cast(),
        outcome: Outcome::NotOurs,
    };
    // SAFETY: the kernel's ucontext, read only here.
    let stack = emulation_stack(unsafe { &*job.uc });
    match stack {
        // SAFETY: `sp` lies below everything the interrupted thread uses on its own stack
        // (its red zone included) and is 16-byte aligned; r12 keeps our stack pointer across
        // the call, which only touches `job`.
        Some(sp) => unsafe {
            std::arch::asm!(
                "mov r12, rsp",
                "mov rsp, {sp}",
                "call {f}",
                "mov rsp, r12",
                sp = in(reg) sp,
                f = in(reg) run_job as extern "C" fn(*mut Job),
                in("rdi") &raw mut job,
                out("r12") _,
                clobber_abi("C"),
            );
        },
        None => run_job(&raw mut job),
    }
    let outcome = job.outcome;
    match outcome {
        Outcome::Emulated => {}
        Outcome::NotOurs => {
            // SAFETY: the arguments the kernel gave this handler.
            unsafe { chain(sig, info, uctx) }
        }
        Outcome::Unemulated {
            rip,
            bytes,
            len,
            addr,
            why,
        } => report_and_exit(rip, &bytes[..len], addr, why),
    }
}

/// Hands the signal to the handler installed before ours, or to the default action.
///
/// # Safety
/// The arguments are those the kernel gave our handler.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: PREVIOUS holds null or a leaked box, never freed; a previous handler is called
    // as its flags say it expects.
    unsafe {
        let prev = PREVIOUS[slot(sig)]
            .load(Ordering::Acquire)
            .as_ref()
            .copied()
            .unwrap_or_else(default_action);
        let h = prev.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            // Back to the default action; the instruction runs again and gets it.
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            (crate::real::sigaction())(sig, &dfl, std::ptr::null_mut());
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(h);
            f(sig, info, uctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

/// A message built on the stack, never allocating.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Tells on stderr which instruction could not be emulated, and exits.
fn report_and_exit(rip: u64, bytes: &[u8], addr: u64, why: &str) -> ! {
    let mut l = Line {
        buf: [0; 256],
        len: 0,
    };
    let _ = write!(
        l,
        "softiommu: cannot emulate the instruction at {rip:#x} on MMIO address {addr:#x} ({why}); bytes:"
    );
    for b in bytes {
        let _ = write!(l, " {b:02x}");
    }
    let _ = l.write_str("\n");
    // SAFETY: write and _exit are async-signal-safe; the buffer is live.
    unsafe {
        libc::write(2, l.buf.as_ptr().cast(), l.len);
        libc::_exit(UNEMULATED_EXIT)
    }
}
