//! The body of the `trap_instruction` fuzz target: any instruction bytes, stopped at as if
//! they had faulted on a trapped window, with every general register aimed into the window.
//! The emulation must decode, refuse or perform the access through the window's handler,
//! and never touch memory outside it or step the instruction pointer anywhere but past the
//! instruction.

use std::sync::{Arc, OnceLock};

use super::{MmioHandler, Outcome, TrapWindow, emulate_fault};

/// The window's size: two pages.
const WINDOW: usize = 8192;

/// A handler that answers loads with a pattern and drops stores.
struct Pattern;

impl MmioHandler for Pattern {
    fn read(&self, offset: u64, size: usize) -> u64 {
        let v = offset.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if size >= 8 {
            v
        } else {
            v & ((1u64 << (size * 8)) - 1)
        }
    }

    fn write(&self, _offset: u64, _size: usize, _value: u64) {}
}

fn window() -> Option<&'static TrapWindow> {
    static W: OnceLock<Option<TrapWindow>> = OnceLock::new();
    W.get_or_init(|| TrapWindow::map(WINDOW, Arc::new(Pattern)).ok())
        .as_ref()
}

/// One input: byte 0 picks the faulting offset in the window, byte 1 where the registers
/// point, byte 2 the signal; the rest (up to 15 bytes) is the instruction, padded with
/// `int3`.
pub fn instruction(data: &[u8]) {
    let Some(w) = window() else {
        return;
    };
    let base = w.base();
    let [off, regs, sig, code @ ..] = data else {
        return;
    };
    let mut text = [0xccu8; 64];
    let n = code.len().min(15);
    text[..n].copy_from_slice(&code[..n]);
    // SAFETY: an all-zero `ucontext_t` is a valid value of the plain C structure.
    let mut uc: libc::ucontext_t = unsafe { std::mem::zeroed() };
    let aim = base + u64::from(*regs) * 16;
    for r in 0..=libc::REG_RSP as usize {
        uc.uc_mcontext.gregs[r] = aim as i64;
    }
    let rip = text.as_ptr() as u64;
    uc.uc_mcontext.gregs[libc::REG_RIP as usize] = rip as i64;
    let signal = if sig & 1 == 0 {
        libc::SIGSEGV
    } else {
        libc::SIGILL
    };
    let addr = base + u64::from(*off) * 32;
    // SAFETY: RIP points at 64 readable bytes of this frame, as a stopped thread's would.
    let outcome = unsafe { emulate_fault(signal, addr, &mut uc) };
    let after = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64;
    match outcome {
        Outcome::Emulated => assert!(
            (rip + 1..=rip + 15).contains(&after),
            "RIP stepped to {after:#x} from {rip:#x}"
        ),
        _ => assert_eq!(after, rip, "RIP moved for an access not emulated"),
    }
}
