//! A trapped 4-byte MMIO read beside a bare SIGSEGV round trip (a handler that only steps
//! past the faulting instruction), both measured in the same run. The handler behind the
//! window answers a constant, so the figure is the trap's own cost.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use softiommu_preload::trap::{MmioHandler, TrapWindow};

/// A device whose every register reads as one value.
struct Constant;

impl MmioHandler for Constant {
    fn read(&self, _offset: u64, _size: usize) -> u64 {
        0x1234_5678
    }

    fn write(&self, _offset: u64, _size: usize, _value: u64) {}
}

/// The page the bare handler answers.
static BARE_PAGE: AtomicU64 = AtomicU64::new(0);
/// The handler installed before the bare one (the trap's), for every other fault.
static mut BEFORE: libc::sigaction = unsafe { std::mem::zeroed() };

/// The bare round trip: a fault on BARE_PAGE steps past its 2-byte `mov eax, [rdi]`.
extern "C" fn bare(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel's siginfo and ucontext; BEFORE was written before this handler went
    // in and is an SA_SIGINFO handler (the trap's).
    unsafe {
        if (*info).si_addr() as u64 & !4095 == BARE_PAGE.load(Ordering::Relaxed) {
            let uc = uctx.cast::<libc::ucontext_t>();
            (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] += 2;
            return;
        }
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            std::mem::transmute(BEFORE.sa_sigaction);
        f(sig, info, uctx);
    }
}

type Sigaction =
    unsafe extern "C" fn(libc::c_int, *const libc::sigaction, *mut libc::sigaction) -> libc::c_int;

/// The C library's own `sigaction`: this binary links the preload library, whose
/// `sigaction` would keep the trap's handler first, and the bare handler is to be first.
fn libc_sigaction() -> Sigaction {
    // SAFETY: a NUL-terminated name; the C library has the function.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"sigaction".as_ptr()) };
    assert!(!p.is_null(), "the C library's sigaction");
    // SAFETY: `p` is `sigaction`, whose prototype this is.
    unsafe { std::mem::transmute::<*mut libc::c_void, Sigaction>(p) }
}

fn setup() -> (TrapWindow, u64) {
    let w = TrapWindow::map(4096, Arc::new(Constant)).expect("a window");
    // SAFETY: a fresh inaccessible page for the bare handler.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    } as u64;
    BARE_PAGE.store(page, Ordering::Relaxed);
    // SAFETY: sigaction with a structure filled in here; BEFORE is written before the bare
    // handler that reads it goes in.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = bare as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
        libc::sigemptyset(&mut act.sa_mask);
        libc_sigaction()(libc::SIGSEGV, &act, &raw mut BEFORE);
    }
    (w, page)
}

/// `mov eax, [rdi]` (2 bytes) at `at`.
fn load(at: u64) -> u32 {
    let v: u32;
    // SAFETY: `at` is the trapped window or the bare page; either handler steps past.
    unsafe { std::arch::asm!("mov eax, dword ptr [rdi]", in("rdi") at, out("eax") v) };
    v
}

fn per_op(at: u64, n: u32) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        black_box(load(black_box(at)));
    }
    t.elapsed() / n
}

fn bench(c: &mut Criterion) {
    let (w, page) = setup();
    assert_eq!(load(w.base()), 0x1234_5678);
    let mut g = c.benchmark_group("trap");
    g.bench_function("bare SIGSEGV round trip", |b| {
        b.iter(|| load(black_box(page)))
    });
    g.bench_function("trapped 4-byte MMIO read", |b| {
        b.iter(|| load(black_box(w.base())))
    });
    g.finish();
    // The two side by side, interleaved, for the ratio.
    let (mut bare, mut trapped) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..5 {
        bare += per_op(page, 20_000);
        trapped += per_op(w.base(), 20_000);
    }
    println!(
        "bare SIGSEGV round trip {:?}/op, trapped 4-byte MMIO read {:?}/op, ratio {:.2}",
        bare / 5,
        trapped / 5,
        trapped.as_secs_f64() / bare.as_secs_f64()
    );
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
