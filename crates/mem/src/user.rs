//! Copies between this process's memory and a buffer that survive a bad address: a fault
//! inside the copy becomes an error instead of killing the process, as the kernel's user
//! copies do with their exception tables.
//!
//! On x86-64 the copy is one `rep movsb` at a known address. A `SIGSEGV`/`SIGBUS` handler,
//! installed once, moves a fault at exactly that instruction to a fixup that returns the bytes
//! left; every other fault goes on to the handler that was there before (the default action
//! if none), so the process's own fault handling is unchanged. A program that replaces the
//! handler later must chain to the one it replaces, as with any runtime that recovers from
//! faults. Elsewhere the copy goes through `process_vm_readv`/`writev` on this process.

/// Copies `len` bytes from `src` to `dst`; returns the bytes left uncopied (0 on success).
/// A fault on either side stops the copy.
///
/// # Safety
/// `dst` and `src` may be any addresses; the caller must only promise that no Rust reference
/// to the destination bytes is alive across the call (they may change under it).
pub(crate) unsafe fn copy(dst: u64, src: u64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    imp::copy(dst, src, len)
}

/// Reads the aligned 64-bit word at `addr` in one access; `None` when the access faults.
///
/// # Safety
/// `addr` may be any 8-byte-aligned address.
pub(crate) unsafe fn load(addr: u64) -> Option<u64> {
    imp::load(addr)
}

/// Writes the aligned 64-bit word at `addr` in one access; `false` when the access faults.
///
/// # Safety
/// As [`copy`], for the 8 bytes at `addr` (8-byte aligned).
pub(crate) unsafe fn store(addr: u64, value: u64) -> bool {
    imp::store(addr, value)
}

/// Atomically replaces the aligned word at `addr` with `new` if it holds `current`:
/// `Some(Ok(old))` when it did, `Some(Err(seen))` when it held something else, `None` when
/// the access faults.
///
/// # Safety
/// As [`store`].
pub(crate) unsafe fn cmpxchg(addr: u64, current: u64, new: u64) -> Option<Result<u64, u64>> {
    imp::cmpxchg(addr, current, new)
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::mem::MaybeUninit;
    use std::sync::Once;

    std::arch::global_asm!(
        ".pushsection .text.softiommu_mem_user_copy,\"ax\",@progbits",
        ".globl softiommu_mem_user_copy",
        ".type softiommu_mem_user_copy,@function",
        "softiommu_mem_user_copy:",
        "    mov rcx, rdx",
        ".globl softiommu_mem_user_copy_insn",
        "softiommu_mem_user_copy_insn:",
        "    rep movsb",
        "    xor eax, eax",
        "    ret",
        ".globl softiommu_mem_user_copy_fixup",
        "softiommu_mem_user_copy_fixup:",
        "    mov rax, rcx",
        "    ret",
        ".size softiommu_mem_user_copy, . - softiommu_mem_user_copy",
        // load(addr: rdi, out: rsi) -> 0 or 1 on a fault
        ".globl softiommu_mem_user_load",
        ".type softiommu_mem_user_load,@function",
        "softiommu_mem_user_load:",
        ".globl softiommu_mem_user_load_insn",
        "softiommu_mem_user_load_insn:",
        "    mov rax, [rdi]",
        "    mov [rsi], rax",
        "    xor eax, eax",
        "    ret",
        ".size softiommu_mem_user_load, . - softiommu_mem_user_load",
        // store(addr: rdi, value: rsi) -> 0 or 1 on a fault
        ".globl softiommu_mem_user_store",
        ".type softiommu_mem_user_store,@function",
        "softiommu_mem_user_store:",
        ".globl softiommu_mem_user_store_insn",
        "softiommu_mem_user_store_insn:",
        "    mov [rdi], rsi",
        "    xor eax, eax",
        "    ret",
        ".size softiommu_mem_user_store, . - softiommu_mem_user_store",
        // cmpxchg(addr: rdi, current: rsi, new: rdx, seen: rcx) -> 0 or 1 on a fault
        ".globl softiommu_mem_user_cmpxchg",
        ".type softiommu_mem_user_cmpxchg,@function",
        "softiommu_mem_user_cmpxchg:",
        "    mov rax, rsi",
        ".globl softiommu_mem_user_cmpxchg_insn",
        "softiommu_mem_user_cmpxchg_insn:",
        "    lock cmpxchg [rdi], rdx",
        "    mov [rcx], rax",
        "    xor eax, eax",
        "    ret",
        ".size softiommu_mem_user_cmpxchg, . - softiommu_mem_user_cmpxchg",
        // Where a fault in the three single-word accesses resumes.
        ".globl softiommu_mem_user_word_fixup",
        "softiommu_mem_user_word_fixup:",
        "    mov eax, 1",
        "    ret",
        ".popsection",
    );

    unsafe extern "C" {
        /// `rep movsb` of `len` bytes; returns the count left when a fault stopped it.
        fn softiommu_mem_user_copy(dst: *mut u8, src: *const u8, len: usize) -> usize;
        /// The `rep movsb` instruction.
        static softiommu_mem_user_copy_insn: u8;
        /// Where a fault at that instruction resumes.
        static softiommu_mem_user_copy_fixup: u8;
        /// One 8-byte load into `*out`; 1 when it faulted.
        fn softiommu_mem_user_load(addr: *const u64, out: *mut u64) -> u32;
        /// One 8-byte store; 1 when it faulted.
        fn softiommu_mem_user_store(addr: *mut u64, value: u64) -> u32;
        /// `lock cmpxchg`, the word seen into `*seen`; 1 when it faulted.
        fn softiommu_mem_user_cmpxchg(
            addr: *mut u64,
            current: u64,
            new: u64,
            seen: *mut u64,
        ) -> u32;
        static softiommu_mem_user_load_insn: u8;
        static softiommu_mem_user_store_insn: u8;
        static softiommu_mem_user_cmpxchg_insn: u8;
        /// Where a fault in one of the three word accesses resumes.
        static softiommu_mem_user_word_fixup: u8;
    }

    /// The handlers that were installed before ours, written once before ours goes in.
    static mut PREVIOUS: [MaybeUninit<libc::sigaction>; 2] = [MaybeUninit::zeroed(); 2];
    static INSTALL: Once = Once::new();

    fn slot(sig: libc::c_int) -> usize {
        usize::from(sig == libc::SIGBUS)
    }

    extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid `ucontext_t` to an SA_SIGINFO handler; the two
        // statics are code addresses; PREVIOUS was written before this handler went in and
        // is never written again.
        unsafe {
            let uc = uctx.cast::<libc::ucontext_t>();
            let rip = &mut (*uc).uc_mcontext.gregs[libc::REG_RIP as usize];
            let at = *rip as u64;
            if at == (&raw const softiommu_mem_user_copy_insn) as u64 {
                *rip = (&raw const softiommu_mem_user_copy_fixup) as i64;
                return;
            }
            if at == (&raw const softiommu_mem_user_load_insn) as u64
                || at == (&raw const softiommu_mem_user_store_insn) as u64
                || at == (&raw const softiommu_mem_user_cmpxchg_insn) as u64
            {
                *rip = (&raw const softiommu_mem_user_word_fixup) as i64;
                return;
            }
            let prev = *(&raw const PREVIOUS)
                .cast::<libc::sigaction>()
                .add(slot(sig));
            let h = prev.sa_sigaction;
            if h == libc::SIG_DFL || h == libc::SIG_IGN {
                // Back to the default action; the faulting instruction runs again and gets it.
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
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

    fn install() {
        INSTALL.call_once(|| {
            for sig in [libc::SIGSEGV, libc::SIGBUS] {
                // SAFETY: sigaction with a zeroed structure filled in here; PREVIOUS is
                // written before the handler that reads it is installed, under the Once.
                unsafe {
                    let prev = (&raw mut PREVIOUS).cast::<libc::sigaction>().add(slot(sig));
                    libc::sigaction(sig, std::ptr::null(), prev);
                    let mut act: libc::sigaction = std::mem::zeroed();
                    act.sa_sigaction = on_fault as *const () as usize;
                    act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                    libc::sigemptyset(&mut act.sa_mask);
                    libc::sigaction(sig, &act, std::ptr::null_mut());
                }
            }
        });
    }

    pub(super) fn copy(dst: u64, src: u64, len: usize) -> usize {
        install();
        // SAFETY: the copy may fault; the handler installed above turns a fault at its one
        // memory instruction into a return of the bytes left.
        unsafe { softiommu_mem_user_copy(dst as *mut u8, src as *const u8, len) }
    }

    pub(super) fn load(addr: u64) -> Option<u64> {
        install();
        let mut out = 0u64;
        // SAFETY: a fault at the load is recovered by the handler; `out` is a local.
        let bad = unsafe { softiommu_mem_user_load(addr as *const u64, &mut out) };
        (bad == 0).then_some(out)
    }

    pub(super) fn store(addr: u64, value: u64) -> bool {
        install();
        // SAFETY: a fault at the store is recovered by the handler.
        unsafe { softiommu_mem_user_store(addr as *mut u64, value) == 0 }
    }

    pub(super) fn cmpxchg(addr: u64, current: u64, new: u64) -> Option<Result<u64, u64>> {
        install();
        let mut seen = 0u64;
        // SAFETY: a fault at the compare-exchange is recovered by the handler; `seen` is a
        // local.
        let bad = unsafe { softiommu_mem_user_cmpxchg(addr as *mut u64, current, new, &mut seen) };
        if bad != 0 {
            return None;
        }
        Some(if seen == current { Ok(seen) } else { Err(seen) })
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub(super) fn copy(dst: u64, src: u64, len: usize) -> usize {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let local = libc::iovec {
            iov_base: dst as *mut libc::c_void,
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: src as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: the kernel checks both ranges and fails with EFAULT instead of faulting.
        // Reading `src` into `dst` within this process is a read of `remote` into `local`.
        let done = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        len - usize::try_from(done).unwrap_or(0).min(len)
    }

    pub(super) fn load(addr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        (copy(b.as_mut_ptr() as u64, addr, 8) == 0).then(|| u64::from_ne_bytes(b))
    }

    pub(super) fn store(addr: u64, value: u64) -> bool {
        let b = value.to_ne_bytes();
        copy(addr, b.as_ptr() as u64, 8) == 0
    }

    /// Serialises the compare-exchanges that have no single instruction here.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    pub(super) fn cmpxchg(addr: u64, current: u64, new: u64) -> Option<Result<u64, u64>> {
        let _serial = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = load(addr)?;
        if seen != current {
            return Some(Err(seen));
        }
        store(addr, new).then_some(Ok(seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_that_faults_stops_and_says_how_much_was_left() {
        let src = vec![7u8; 8192];
        let mut dst = vec![0u8; 8192];
        // SAFETY: both buffers are live and no reference to `dst` is held across the call.
        let left = unsafe { copy(dst.as_mut_ptr() as u64, src.as_ptr() as u64, 8192) };
        assert_eq!(left, 0);
        assert!(dst.iter().all(|&b| b == 7));
        // SAFETY: page 0 is never mapped; the copy faults and reports it.
        let left = unsafe { copy(dst.as_mut_ptr() as u64, 0x100, 64) };
        assert_eq!(left, 64);
        // SAFETY: as above, the destination being the bad side.
        let left = unsafe { copy(0x100, src.as_ptr() as u64, 64) };
        assert_eq!(left, 64);
    }

    #[test]
    fn single_words_are_read_written_and_exchanged_or_fault() {
        let word = Box::new(std::sync::atomic::AtomicU64::new(5));
        let at = word.as_ptr() as u64;
        // SAFETY: `word` is live and aligned; page 0 is never mapped.
        unsafe {
            assert_eq!(load(at), Some(5));
            assert!(store(at, 9));
            assert_eq!(cmpxchg(at, 1, 2), Some(Err(9)));
            assert_eq!(cmpxchg(at, 9, 11), Some(Ok(9)));
            assert_eq!(load(0x100), None);
            assert!(!store(0x100, 1));
            assert_eq!(cmpxchg(0x100, 0, 1), None);
        }
        assert_eq!(word.load(std::sync::atomic::Ordering::SeqCst), 11);
    }

    #[test]
    fn a_fault_part_way_leaves_the_rest() {
        // Two pages, the second inaccessible: a copy across the boundary stops there.
        // SAFETY: a fresh anonymous mapping, checked, unmapped at the end.
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
        // SAFETY: the second page of the mapping above.
        assert_eq!(
            unsafe { libc::mprotect(at.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE) },
            0
        );
        let mut dst = vec![0u8; 200];
        // SAFETY: the copy faults at the protected page and reports the bytes left.
        let left = unsafe { copy(dst.as_mut_ptr() as u64, at as u64 + 4000, 200) };
        assert_eq!(left, 104);
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(at, 8192) };
    }

    #[test]
    fn faults_elsewhere_still_reach_the_previous_handler() {
        // A child process dereferences a null pointer after the handler is installed: it must
        // die of SIGSEGV as it would without it.
        // SAFETY: fork in a test; the child only makes async-signal-safe calls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let mut d = [0u8; 1];
            // SAFETY: installs the handler (the copy faults and is recovered).
            unsafe { copy(d.as_mut_ptr() as u64, 0x10, 1) };
            // SAFETY: a deliberate fault outside the copy.
            unsafe { std::ptr::read_volatile(0x10 as *const u8) };
            // SAFETY: not reached when the fault kills the child.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waits for the child made above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFSIGNALED(status), "status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSEGV);
    }
}
