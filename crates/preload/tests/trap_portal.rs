//! 64-byte stores to work-queue portals: `movdir64b`, `enqcmd` and `enqcmds` emitted by the
//! program (raising SIGILL on processors without them, as here) and handed to the decoder
//! as a `SIGSEGV` on the portal (as on processors with them), with ENQCMD's status in ZF.

mod trap_common;

use std::arch::asm;

use softiommu_preload::trap::{
    Outcome, PortalWrite, UNEMULATED_EXIT, emulate_fault, register, set_enqcmd_pasid, unregister,
};
use trap_common::{PORTALS, Recorder, Seen, child};

/// The PASID every test of this file gives `enqcmd` (one process-wide value).
const PASID: u32 = 0x1234;

/// A 64-byte aligned descriptor whose dword 0 is `d0` and the rest counts up.
#[repr(C, align(64))]
struct Desc([u8; 64]);

fn desc(d0: u32) -> Desc {
    let mut d = Desc([0; 64]);
    for (i, b) in d.0.iter_mut().enumerate() {
        *b = i as u8;
    }
    d.0[..4].copy_from_slice(&d0.to_le_bytes());
    d
}

/// `movdir64b rax, [rsi]`.
///
/// # Safety
/// `dst` is a portal of a window.
unsafe fn movdir64b(dst: u64, src: &Desc) {
    // SAFETY: the caller's promise; the source is a live 64-byte buffer.
    unsafe { asm!(".byte 0x66, 0x0f, 0x38, 0xf8, 0x06", in("rax") dst, in("rsi") src.0.as_ptr()) };
}

/// `enqcmd rax, [rsi]` (`enqcmds` when `supervisor`): ZF, set when the portal refused.
///
/// # Safety
/// As [`movdir64b`].
unsafe fn enqcmd(dst: u64, src: &Desc, supervisor: bool) -> bool {
    let zf: u8;
    // SAFETY: as for movdir64b; the flags are declared clobbered (asm's default).
    unsafe {
        if supervisor {
            asm!(".byte 0xf3, 0x0f, 0x38, 0xf8, 0x06", "setz {z}",
                in("rax") dst, in("rsi") src.0.as_ptr(), z = out(reg_byte) zf);
        } else {
            asm!(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x06", "setz {z}",
                in("rax") dst, in("rsi") src.0.as_ptr(), z = out(reg_byte) zf);
        }
    }
    zf == 1
}

#[test]
fn movdir64b_stores_64_bytes_to_the_portal() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let d = desc(0xdead_0001);
    // SAFETY: the second page of the window is the recorder's portals.
    unsafe { movdir64b(w.base() + PORTALS + 0x40, &d) };
    assert_eq!(
        r.take(),
        [Seen::Portal(0x1040, PortalWrite::Movdir64b, 0xdead_0001)]
    );
    assert_eq!(r.portal_data.lock()[0], d.0);
}

#[test]
fn enqcmd_carries_the_pasid_and_answers_in_zf() {
    set_enqcmd_pasid(Some(PASID));
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let d = desc(0x8000_0077);
    let portal = w.base() + PORTALS;
    // SAFETY: a portal of the window.
    let retry = unsafe { enqcmd(portal, &d, false) };
    assert!(!retry, "an accepted descriptor clears ZF");
    *r.accept.lock() = false;
    // SAFETY: as above.
    let retry = unsafe { enqcmd(portal, &d, false) };
    assert!(retry, "a refused descriptor sets ZF");
    // The processor's PASID replaces dword 0 (and clears the privilege bit).
    let how = PortalWrite::Enqcmd {
        pasid: PASID,
        privileged: false,
    };
    assert_eq!(
        r.take(),
        [
            Seen::Portal(0x1000, how, PASID),
            Seen::Portal(0x1000, how, PASID)
        ]
    );
    assert_eq!(r.portal_data.lock()[1][4..], d.0[4..]);
}

#[test]
fn enqcmds_takes_pasid_and_privilege_from_the_descriptor() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let d = desc(0x8000_0042);
    // SAFETY: a portal of the window.
    let retry = unsafe { enqcmd(w.base() + PORTALS + 0x80, &d, true) };
    assert!(!retry);
    let how = PortalWrite::Enqcmd {
        pasid: 0x42,
        privileged: true,
    };
    assert_eq!(r.take(), [Seen::Portal(0x1080, how, 0x8000_0042)]);
}

/// A context as the kernel hands a handler: RIP at `code`, the given registers.
fn context(code: &[u8], set: &[(libc::c_int, u64)]) -> libc::ucontext_t {
    // SAFETY: ucontext_t is plain data; all zeroes is a valid value.
    let mut uc: libc::ucontext_t = unsafe { std::mem::zeroed() };
    uc.uc_mcontext.gregs[libc::REG_RIP as usize] = code.as_ptr() as i64;
    uc.uc_mcontext.gregs[libc::REG_EFL as usize] = 0x8d5 | 0x202;
    for &(r, v) in set {
        uc.uc_mcontext.gregs[r as usize] = v as i64;
    }
    uc
}

#[test]
fn the_decoder_path_serves_a_portal_fault_as_a_processor_with_the_instructions_raises_it() {
    set_enqcmd_pasid(Some(PASID));
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let d = desc(7);
    let portal = w.base() + PORTALS + 0xc0;
    let src = d.0.as_ptr() as u64;
    for (code, refuse) in [
        (vec![0x66, 0x0f, 0x38, 0xf8, 0x06, 0x90], false),
        (vec![0xf2, 0x0f, 0x38, 0xf8, 0x06, 0x90], false),
        (vec![0xf2, 0x0f, 0x38, 0xf8, 0x06, 0x90], true),
    ] {
        *r.accept.lock() = !refuse;
        let mut uc = context(&code, &[(libc::REG_RAX, portal), (libc::REG_RSI, src)]);
        // SAFETY: RIP points at the live code bytes.
        let out = unsafe { emulate_fault(libc::SIGSEGV, portal, &mut uc) };
        assert_eq!(out, Outcome::Emulated);
        let g = &uc.uc_mcontext.gregs;
        assert_eq!(g[libc::REG_RIP as usize], code.as_ptr() as i64 + 5);
        let fl = g[libc::REG_EFL as usize] as u64;
        if code[0] == 0x66 {
            // movdir64b leaves the flags alone.
            assert_eq!(fl, 0x8d5 | 0x202);
        } else {
            assert_eq!(fl & 0x40 != 0, refuse, "ZF is the retry status");
            assert_eq!(fl & 0x895, 0, "the other status flags are cleared");
        }
    }
    assert_eq!(r.take().len(), 3);
}

#[test]
fn the_decoder_path_serves_a_load_and_leaves_other_faults_alone() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    r.set(8, &0x55aa_u16.to_le_bytes());
    // movzx ecx, word ptr [rdi+8]; nop
    let code = [0x0f, 0xb7, 0x4f, 0x08, 0x90];
    let at = w.base();
    let mut uc = context(&code, &[(libc::REG_RDI, at), (libc::REG_RCX, u64::MAX)]);
    // SAFETY: RIP points at the live code bytes.
    let out = unsafe { emulate_fault(libc::SIGSEGV, at + 8, &mut uc) };
    assert_eq!(out, Outcome::Emulated);
    assert_eq!(uc.uc_mcontext.gregs[libc::REG_RCX as usize], 0x55aa);
    assert_eq!(
        uc.uc_mcontext.gregs[libc::REG_RIP as usize],
        code.as_ptr() as i64 + 4
    );
    // A fault elsewhere, and an illegal instruction that is no portal store, are not ours.
    let mut uc = context(&code, &[(libc::REG_RDI, 0x1000)]);
    // SAFETY: as above.
    let out = unsafe { emulate_fault(libc::SIGSEGV, 0x1008, &mut uc) };
    assert_eq!(out, Outcome::NotOurs);
    let ud2 = [0x0f, 0x0b];
    let mut uc = context(&ud2, &[]);
    // SAFETY: as above.
    let out = unsafe { emulate_fault(libc::SIGILL, 0, &mut uc) };
    assert_eq!(out, Outcome::NotOurs);
    assert_eq!(r.take(), [Seen::Read(8, 2)]);
}

#[test]
fn the_decoder_path_serves_absolute_and_rip_relative_addresses() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    r.set(0x20, &0xcafe_f00d_u32.to_le_bytes());
    // mov eax, dword ptr [moffs64]
    let mut moffs = vec![0xa1];
    moffs.extend_from_slice(&(w.base() + 0x20).to_le_bytes());
    let mut uc = context(&moffs, &[(libc::REG_RAX, u64::MAX)]);
    // SAFETY: RIP points at the live code bytes.
    let out = unsafe { emulate_fault(libc::SIGSEGV, w.base() + 0x20, &mut uc) };
    assert_eq!(out, Outcome::Emulated);
    assert_eq!(uc.uc_mcontext.gregs[libc::REG_RAX as usize], 0xcafe_f00d);
    assert_eq!(r.take(), [Seen::Read(0x20, 4)]);
    // mov dword ptr [rip + disp32], 7, its bytes in the page after a window of one page so
    // that the displacement reaches back into it.
    // SAFETY: a fresh mapping of two pages; the first is made inaccessible below.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(at, libc::MAP_FAILED);
    let base = at as u64;
    // SAFETY: the first page of the mapping above.
    assert_eq!(unsafe { libc::mprotect(at, 4096, libc::PROT_NONE) }, 0);
    register(base, 4096, r.clone()).expect("a window");
    let code_at = base + 4096;
    let disp = (base + 0x30).wrapping_sub(code_at + 10) as u32;
    let mut code = vec![0xc7, 0x05];
    code.extend_from_slice(&disp.to_le_bytes());
    code.extend_from_slice(&7u32.to_le_bytes());
    // SAFETY: the second page of the mapping, readable and writable.
    let bytes = unsafe { std::slice::from_raw_parts_mut(code_at as *mut u8, 4096) };
    bytes[..10].copy_from_slice(&code);
    let mut uc = context(&bytes[..10], &[]);
    // SAFETY: RIP points at the code bytes in the live page.
    let out = unsafe { emulate_fault(libc::SIGSEGV, base + 0x30, &mut uc) };
    assert_eq!(out, Outcome::Emulated);
    assert_eq!(r.take(), [Seen::Write(0x30, 4, 7)]);
    assert_eq!(
        uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64,
        code_at + 10
    );
    assert!(unregister(base).is_some());
    // SAFETY: the mapping made above, no longer used.
    unsafe { libc::munmap(at, 8192) };
}

#[test]
fn movdir64b_to_ordinary_memory_still_raises_sigill() {
    let out = child("movdir64b_to_ordinary_memory_still_raises_sigill", || {
        let r = Recorder::new();
        let _w = Recorder::window(&r);
        let d = desc(0);
        let mut plain = Desc([0; 64]);
        // SAFETY: a movdir64b to ordinary memory: this processor lacks it, so SIGILL.
        unsafe { movdir64b(plain.0.as_mut_ptr() as u64, &d) };
    });
    // Where the processor has the instruction, the store simply happens.
    let plain_store = out.status.success();
    assert!(
        plain_store || trap_common::killed_by(&out) == Some(libc::SIGILL),
        "{out:?}"
    );
}

#[test]
fn enqcmd_without_a_pasid_is_reported_and_stops_the_program() {
    let out = child(
        "enqcmd_without_a_pasid_is_reported_and_stops_the_program",
        || {
            set_enqcmd_pasid(None);
            let r = Recorder::new();
            let w = Recorder::window(&r);
            // SAFETY: a portal of the window.
            unsafe { enqcmd(w.base() + PORTALS, &desc(0), false) };
        },
    );
    assert_eq!(out.status.code(), Some(UNEMULATED_EXIT), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("enqcmd without a PASID"), "{err}");
    assert!(err.contains("bytes: f2 0f 38 f8 06"), "{err}");
}

#[test]
fn a_portal_store_where_there_is_no_portal_is_reported() {
    let out = child(
        "a_portal_store_where_there_is_no_portal_is_reported",
        || {
            let r = Recorder::new();
            let w = Recorder::window(&r);
            // SAFETY: the register page of the window, which has no portal.
            unsafe { movdir64b(w.base() + 0x40, &desc(0)) };
        },
    );
    assert_eq!(out.status.code(), Some(UNEMULATED_EXIT), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no portal at the destination"), "{err}");
}
