//! Faults that are not on a trapped window: they reach the program's own handler, the
//! handler installed before, or the default action, as if the trap were not there; and
//! `softiommu-mem`'s fault-recovering user copy keeps working whichever handler went in
//! first. Each scenario runs in a child process.

mod trap_common;

use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_mem::{AddressSpace, HostMemory};
use softiommu_preload::trap::UNEMULATED_EXIT;
use trap_common::{Recorder, child, killed_by};

/// The page the program's own handler makes accessible, and how often it ran.
static OWN_PAGE: AtomicU64 = AtomicU64::new(0);
static OWN_RUNS: AtomicU64 = AtomicU64::new(0);
/// The handler the program's own handler replaced, for the one that chains.
static mut REPLACED: libc::sigaction = unsafe { std::mem::zeroed() };

/// A fresh inaccessible page.
fn protected_page() -> u64 {
    // SAFETY: a fresh anonymous mapping.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(at, libc::MAP_FAILED);
    at as u64
}

/// The program's handler: a fault on OWN_PAGE opens the page and counts; any other fault
/// goes to the handler it replaced when `chain`, else to the default action.
fn own_handler(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void, chain: bool) {
    // SAFETY: the kernel's siginfo; mprotect on the program's own page; REPLACED was written
    // before this handler went in.
    unsafe {
        let addr = (*info).si_addr() as u64 & !4095;
        if addr == OWN_PAGE.load(Ordering::SeqCst) {
            libc::mprotect(addr as *mut _, 4096, libc::PROT_READ | libc::PROT_WRITE);
            OWN_RUNS.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let prev = REPLACED;
        if chain && prev.sa_flags & libc::SA_SIGINFO != 0 && prev.sa_sigaction > 1 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(prev.sa_sigaction);
            return f(sig, info, uctx);
        }
        libc::signal(sig, libc::SIG_DFL);
    }
}

extern "C" fn own_alone(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    own_handler(sig, info, uctx, false)
}

extern "C" fn own_chaining(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    own_handler(sig, info, uctx, true)
}

/// Installs the program's own SIGSEGV handler.
fn install_own(chain: bool) {
    // SAFETY: sigaction with a zeroed structure filled in here; REPLACED is written before
    // the handler that reads it goes in.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = if chain {
            own_chaining as *const () as usize
        } else {
            own_alone as *const () as usize
        };
        act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGSEGV, &act, &raw mut REPLACED);
    }
}

/// Touches the program's own protected page: its handler must open it.
fn touch_own_page() {
    let page = protected_page();
    OWN_PAGE.store(page, Ordering::SeqCst);
    // SAFETY: the first store faults and the program's handler opens the page.
    unsafe { std::ptr::write_volatile(page as *mut u64, 42) };
    // SAFETY: the page is open now.
    assert_eq!(unsafe { std::ptr::read_volatile(page as *const u64) }, 42);
    assert_eq!(OWN_RUNS.load(Ordering::SeqCst), 1);
}

/// A load through a window must reach its recorder.
fn mmio_works() {
    let r = Recorder::new();
    r.set(0, &[0x5a]);
    let w = Recorder::window(&r);
    // SAFETY: a load from the window.
    let v = unsafe { std::ptr::read_volatile(w.ptr::<u8>()) };
    assert_eq!(v, 0x5a);
}

/// Dereferences page 0: the caller expects the process to die of it.
fn null_fault() {
    // SAFETY: a deliberate fault.
    unsafe { std::ptr::read_volatile(0x10 as *const u8) };
}

#[test]
fn a_fault_outside_any_window_reaches_the_handler_installed_before() {
    let out = child(
        "a_fault_outside_any_window_reaches_the_handler_installed_before",
        || {
            install_own(false);
            mmio_works();
            touch_own_page();
        },
    );
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_program_that_installs_its_handler_after_ours_gets_its_own_faults() {
    let out = child(
        "a_program_that_installs_its_handler_after_ours_gets_its_own_faults",
        || {
            mmio_works();
            install_own(true);
            touch_own_page();
            // Its handler chains to ours, so the windows still work.
            mmio_works();
            null_fault();
        },
    );
    assert_eq!(killed_by(&out), Some(libc::SIGSEGV), "{out:?}");
}

#[test]
fn with_no_other_handler_a_fault_gets_the_default_action() {
    let out = child(
        "with_no_other_handler_a_fault_gets_the_default_action",
        || {
            mmio_works();
            null_fault();
        },
    );
    assert_eq!(killed_by(&out), Some(libc::SIGSEGV), "{out:?}");
}

#[test]
fn with_no_other_handler_an_illegal_instruction_gets_the_default_action() {
    let out = child(
        "with_no_other_handler_an_illegal_instruction_gets_the_default_action",
        || {
            mmio_works();
            // SAFETY: a deliberate illegal instruction.
            unsafe { std::arch::asm!("ud2") };
        },
    );
    assert_eq!(killed_by(&out), Some(libc::SIGILL), "{out:?}");
}

/// mem's user copy: a read of a protected page is an error, a read of good memory works.
fn user_copy_recovers() {
    let mem = HostMemory::new(1 << 20).expect("host memory");
    let bad = protected_page();
    let mut buf = [0u8; 16];
    assert!(mem.read(bad, &mut buf).is_err());
    let good = [7u8; 16];
    mem.read(good.as_ptr() as u64, &mut buf)
        .expect("a readable buffer");
    assert_eq!(buf, good);
    assert!(mem.load_u64(bad).is_err());
}

#[test]
fn mem_user_copy_recovers_when_installed_before_the_trap() {
    let out = child(
        "mem_user_copy_recovers_when_installed_before_the_trap",
        || {
            user_copy_recovers();
            mmio_works();
            user_copy_recovers();
            null_fault();
        },
    );
    assert_eq!(killed_by(&out), Some(libc::SIGSEGV), "{out:?}");
}

#[test]
fn mem_user_copy_recovers_when_installed_after_the_trap() {
    let out = child(
        "mem_user_copy_recovers_when_installed_after_the_trap",
        || {
            mmio_works();
            user_copy_recovers();
            mmio_works();
            null_fault();
        },
    );
    assert_eq!(killed_by(&out), Some(libc::SIGSEGV), "{out:?}");
}

#[test]
fn an_instruction_that_cannot_be_emulated_is_reported_and_stops_the_program() {
    let out = child(
        "an_instruction_that_cannot_be_emulated_is_reported_and_stops_the_program",
        || {
            let r = Recorder::new();
            let w = Recorder::window(&r);
            // SAFETY: `add [rdi], eax` on the window: a read-modify-write is not emulated.
            unsafe { std::arch::asm!(".byte 0x01, 0x07", in("rdi") w.base(), in("eax") 1) };
        },
    );
    assert_eq!(out.status.code(), Some(UNEMULATED_EXIT), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot emulate the instruction at 0x"),
        "{err}"
    );
    assert!(err.contains("bytes: 01 07"), "{err}");
}

#[test]
fn an_access_running_past_the_window_is_reported() {
    let out = child("an_access_running_past_the_window_is_reported", || {
        let r = Recorder::new();
        let w = Recorder::window(&r);
        let last = w.base() + w.len() - 4;
        // SAFETY: an 8-byte load of which half lies past the window.
        unsafe { std::ptr::read_unaligned(last as *const u64) };
    });
    assert_eq!(out.status.code(), Some(UNEMULATED_EXIT), "{out:?}");
}

/// A device whose every access needs much stack, as a model's deeper paths do.
struct DeepStack;

impl softiommu_preload::trap::MmioHandler for DeepStack {
    fn read(&self, offset: u64, _size: usize) -> u64 {
        let scratch = std::hint::black_box([offset as u8; 256 * 1024]);
        u64::from(scratch[1000]) + u64::from(scratch[200_000])
    }

    fn write(&self, _offset: u64, _size: usize, _value: u64) {}
}

#[test]
fn a_window_is_served_when_the_handler_runs_on_a_small_alternate_stack() {
    let out = child(
        "a_window_is_served_when_the_handler_runs_on_a_small_alternate_stack",
        || {
            let w = softiommu_preload::trap::TrapWindow::map(4096, std::sync::Arc::new(DeepStack))
                .expect("a window");
            let base = w.base();
            // A thread with an 16 KiB alternate signal stack (the handler runs there), and
            // 8 MiB of its own.
            let t = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || {
                    let mut alt = vec![0u8; 16 * 1024];
                    let ss = libc::stack_t {
                        ss_sp: alt.as_mut_ptr().cast(),
                        ss_flags: 0,
                        ss_size: alt.len(),
                    };
                    // SAFETY: the buffer outlives every use below; the old stack is not
                    // needed back.
                    assert_eq!(unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) }, 0);
                    // SAFETY: a load from the window.
                    let v = unsafe { std::ptr::read_volatile((base + 3) as *const u8) };
                    let off = libc::stack_t {
                        ss_sp: std::ptr::null_mut(),
                        ss_flags: libc::SS_DISABLE,
                        ss_size: 0,
                    };
                    // SAFETY: disables the alternate stack before its buffer goes.
                    unsafe { libc::sigaltstack(&off, std::ptr::null_mut()) };
                    drop(alt);
                    v
                })
                .expect("a thread");
            assert_eq!(t.join().expect("the thread"), 6);
        },
    );
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_handler_the_program_installs_through_the_trap_keeps_windows_served() {
    let out = child(
        "a_handler_the_program_installs_through_the_trap_keeps_windows_served",
        || {
            mmio_works();
            // What an interposed sigaction does with the program's call: its handler (which
            // does not chain) takes the faults that are not the trap's.
            // SAFETY: sigaction is plain data.
            let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
            act.sa_sigaction = own_alone as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO;
            // SAFETY: as above.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            assert!(softiommu_preload::trap::program_sigaction(
                libc::SIGSEGV,
                Some(&act),
                Some(&mut old)
            ));
            assert!(!softiommu_preload::trap::program_sigaction(
                libc::SIGBUS,
                Some(&act),
                None
            ));
            touch_own_page();
            mmio_works();
            // Asked back, the program sees its own handler.
            // SAFETY: as above.
            let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
            softiommu_preload::trap::program_sigaction(libc::SIGSEGV, None, Some(&mut now));
            assert_eq!(now.sa_sigaction, own_alone as *const () as usize);
            null_fault();
        },
    );
    assert_eq!(killed_by(&out), Some(libc::SIGSEGV), "{out:?}");
}
