//! One faulting instruction emulated on the window it touches.

use std::sync::atomic::{AtomicU64, Ordering};

use iced_x86::{Decoder, DecoderOptions, Instruction, Register};

use super::decode::{self, Extend, Op, PortalKind, Source};
use super::regs;
use super::{MmioHandler, PortalStatus, PortalWrite, registry};

/// The longest x86 instruction.
const MAX_INSN: usize = 15;

/// What became of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The access was performed and the thread steps past the instruction.
    Emulated,
    /// The fault is not on a window, or is an access the protection the program asked for
    /// there refuses: it belongs to whoever handled it before (or the default action).
    NotOurs,
    /// The fault is on a window but the instruction cannot be emulated there.
    Unemulated {
        /// The instruction's address.
        rip: u64,
        /// Its first bytes (as many as could be read, up to 15).
        bytes: [u8; MAX_INSN],
        /// How many of `bytes` are the instruction's (or were read).
        len: usize,
        /// The window address it touched.
        addr: u64,
        /// Why it could not be emulated.
        why: &'static str,
    },
}

/// The PASID `enqcmd` carries (bit 63: one is set), as the processor's IA32_PASID.
static ENQCMD_PASID: AtomicU64 = AtomicU64::new(0);

/// Sets the PASID that emulated `enqcmd`s carry (`None`: this process has none, and an
/// `enqcmd` to a window cannot be emulated, as the instruction faults without one).
pub fn set_enqcmd_pasid(pasid: Option<u32>) {
    let v = pasid.map_or(0, |p| (1 << 63) | u64::from(p & 0xf_ffff));
    ENQCMD_PASID.store(v, Ordering::Relaxed);
}

fn enqcmd_pasid() -> Option<u32> {
    let v = ENQCMD_PASID.load(Ordering::Relaxed);
    (v >> 63 == 1).then_some((v & 0xf_ffff) as u32)
}

/// Decodes one instruction, so that the decoder's tables are built before any fault needs
/// them (they are built on first use, with much stack).
pub(super) fn prime_decoder() {
    let _ = Decoder::new(64, &[0x90], DecoderOptions::NONE).decode();
}

/// Reads `buf.len()` bytes at `addr` of this process through the kernel: false when any is
/// unmapped or inaccessible (never a fault).
fn read_checked(addr: u64, buf: &mut [u8]) -> bool {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the kernel checks the remote range and fails instead of faulting; `local` is
    // the caller's live buffer.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == buf.len() as isize
}

/// The instruction bytes at `rip`: up to 15, fewer where the next page cannot be read.
///
/// # Safety
/// `rip` is the address of an instruction the thread was executing (so its page is mapped
/// and readable).
unsafe fn fetch(rip: u64) -> ([u8; MAX_INSN], usize) {
    let mut bytes = [0u8; MAX_INSN];
    let in_page = (4096 - (rip & 4095)) as usize;
    if in_page >= MAX_INSN {
        // SAFETY: the 15 bytes lie in the instruction's own page, which the caller promises
        // is readable.
        unsafe { std::ptr::copy_nonoverlapping(rip as *const u8, bytes.as_mut_ptr(), MAX_INSN) };
        return (bytes, MAX_INSN);
    }
    if read_checked(rip, &mut bytes) {
        return (bytes, MAX_INSN);
    }
    // SAFETY: as above, the bytes up to the end of the instruction's page.
    unsafe { std::ptr::copy_nonoverlapping(rip as *const u8, bytes.as_mut_ptr(), in_page) };
    (bytes, in_page)
}

/// The instruction's memory operand `op` as an address, from the saved registers (`None`
/// for an FS/GS-relative one).
fn address(instr: &Instruction, op: u32, gregs: &[i64]) -> Option<u64> {
    instr.virtual_address(op, 0, |r, _, _| match r {
        Register::ES | Register::CS | Register::SS | Register::DS => Some(0),
        _ => regs::get(gregs, r),
    })
}

/// The window holding the `size` bytes at `addr`: its handler, the offset in it and the
/// protection the program asked for.
fn target(addr: u64, size: usize) -> Option<(std::sync::Arc<dyn MmioHandler>, u64, i32)> {
    let (base, len, h, prot) = registry::window_and_prot(addr)?;
    let off = addr - base;
    (off + size as u64 <= len).then_some((h, off, prot))
}

/// Emulates the instruction the interrupted thread of `uc` faulted at, when the fault is on a
/// trapped window: `signal` is `SIGSEGV` (with `addr` the faulting data address) or `SIGILL`
/// (`addr` unused: only `movdir64b`, `enqcmd`, `enqcmds` and `movdiri` to a window are
/// served, the instructions a processor may lack). On
/// [`Outcome::Emulated`] the registers, flags and RIP in `uc` are those after the
/// instruction; otherwise `uc` is unchanged.
///
/// # Safety
/// `uc` is the context of a thread stopped at an instruction (as the kernel hands a signal
/// handler, or one built to look like it): its RIP points at readable code.
pub unsafe fn emulate_fault(signal: libc::c_int, addr: u64, uc: &mut libc::ucontext_t) -> Outcome {
    let gregs = &mut uc.uc_mcontext.gregs;
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let on_window = signal == libc::SIGSEGV && registry::window_at(addr).is_some();
    // SAFETY: the caller promises RIP points at the stopped instruction.
    let (bytes, avail) = unsafe { fetch(rip) };
    let instr = Decoder::with_ip(64, &bytes[..avail], rip, DecoderOptions::NONE).decode();
    let fail = |why, len: usize| {
        if on_window {
            Outcome::Unemulated {
                rip,
                bytes,
                len,
                addr,
                why,
            }
        } else {
            Outcome::NotOurs
        }
    };
    if instr.is_invalid() {
        return fail("not a valid instruction", avail);
    }
    let len = instr.len();
    let Some(op) = decode::classify(&instr) else {
        return fail("not an emulated load or store", len);
    };
    // The address the instruction stores to or loads from.
    let dest = match op {
        Op::Portal { dst, .. } => regs::get(gregs, dst),
        Op::Load { .. } | Op::Store { .. } => address(&instr, op.mem_operand(), gregs),
    };
    // SIGILL brings only the instructions this processor may lack, aimed at a window.
    let ours = match signal {
        libc::SIGSEGV => on_window,
        libc::SIGILL => {
            matches!(op, Op::Portal { .. }) || instr.mnemonic() == iced_x86::Mnemonic::Movdiri
        }
        _ => false,
    };
    let size = match op {
        Op::Portal { .. } => 64,
        Op::Load { size, .. } | Op::Store { size, .. } => size,
    };
    let Some(dest) = dest else {
        return fail("the address cannot be computed", len);
    };
    let Some((h, off, prot)) = target(dest, size).filter(|_| ours) else {
        return fail("the access is not inside the window", len);
    };
    // An access the program's protection refuses is its own fault, as on the device's
    // pages the kernel would map.
    let needs = match op {
        Op::Load { .. } => libc::PROT_READ,
        Op::Store { .. } | Op::Portal { .. } => libc::PROT_WRITE,
    };
    if prot & needs == 0 {
        return Outcome::NotOurs;
    }
    // From here on the instruction is the window's, whichever signal brought it.
    let fail = |why| Outcome::Unemulated {
        rip,
        bytes,
        len,
        addr: dest,
        why,
    };
    let done = match op {
        Op::Portal { kind, .. } => {
            if dest % 64 != 0 {
                return fail("the destination is not 64-byte aligned");
            }
            let mut data = [0u8; 64];
            let src = address(&instr, 1, gregs);
            if !src.is_some_and(|s| read_checked(s, &mut data)) {
                return fail("the source cannot be read");
            }
            let how = match kind {
                PortalKind::Movdir64b => PortalWrite::Movdir64b,
                PortalKind::Enqcmd => {
                    let Some(pasid) = enqcmd_pasid() else {
                        return fail("enqcmd without a PASID");
                    };
                    data[..4].copy_from_slice(&pasid.to_le_bytes());
                    PortalWrite::Enqcmd {
                        pasid,
                        privileged: false,
                    }
                }
                PortalKind::Enqcmds => {
                    let d0 = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                    data[..4].copy_from_slice(&(d0 & 0x800f_ffff).to_le_bytes());
                    PortalWrite::Enqcmd {
                        pasid: d0 & 0xf_ffff,
                        privileged: d0 >> 31 == 1,
                    }
                }
            };
            let Some(status) = h.portal(off, &data, how) else {
                return fail("no portal at the destination");
            };
            if kind != PortalKind::Movdir64b {
                // ZF tells a retry; CF, PF, AF, SF and OF are cleared.
                let fl = &mut gregs[libc::REG_EFL as usize];
                *fl &= !0x8d5;
                if status == PortalStatus::Retry {
                    *fl |= 0x40;
                }
            }
            true
        }
        Op::Load { dst, size, extend } => {
            let raw = regs::truncate(h.read(off, size), size);
            let v = match extend {
                Extend::Sign => regs::sign_extend(raw, size),
                Extend::None | Extend::Zero => raw,
            };
            regs::set(gregs, dst, v).is_some()
        }
        Op::Store { src, size } => {
            let v = match src {
                Source::Imm(v) => Some(v),
                Source::Reg(r) => regs::get(gregs, r),
            };
            v.map(|v| h.write(off, size, regs::truncate(v, size)))
                .is_some()
        }
    };
    if !done {
        return fail("bad register operand");
    }
    gregs[libc::REG_RIP as usize] = instr.next_ip() as i64;
    Outcome::Emulated
}
