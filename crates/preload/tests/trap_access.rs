//! Loads and stores of every width through a trapped window, as the program's own
//! instructions make them, against a handler that records each access.

mod trap_common;

use std::arch::asm;

use trap_common::{Recorder, Seen};

#[test]
fn loads_of_every_width_reach_the_handler_and_fill_the_register() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    r.set(0x10, &0x8877_6655_4433_2211u64.to_le_bytes());
    let p = w.ptr::<u8>();
    let (mut b, mut h, mut d, mut q): (u64, u64, u64, u64);
    // SAFETY: loads from the window, served by the trap; the registers are declared.
    unsafe {
        b = u64::MAX;
        asm!("mov {v:l}, byte ptr [{p} + 0x10]", p = in(reg) p, v = inout(reg) b);
        h = u64::MAX;
        asm!("mov {v:x}, word ptr [{p} + 0x10]", p = in(reg) p, v = inout(reg) h);
        d = u64::MAX;
        asm!("mov {v:e}, dword ptr [{p} + 0x10]", p = in(reg) p, v = inout(reg) d);
        asm!("mov {v}, qword ptr [{p} + 0x10]", p = in(reg) p, v = out(reg) q);
    }
    // 8 and 16-bit loads keep the rest of the register; a 32-bit one clears the upper half.
    assert_eq!(b, 0xffff_ffff_ffff_ff11);
    assert_eq!(h, 0xffff_ffff_ffff_2211);
    assert_eq!(d, 0x4433_2211);
    assert_eq!(q, 0x8877_6655_4433_2211);
    assert_eq!(
        r.take(),
        [
            Seen::Read(0x10, 1),
            Seen::Read(0x10, 2),
            Seen::Read(0x10, 4),
            Seen::Read(0x10, 8)
        ]
    );
}

#[test]
fn high_byte_and_extended_registers_and_indexed_addresses() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    r.set(0x40, &[0xab, 0xcd]);
    let p = w.ptr::<u8>();
    let mut rax: u64 = 0x1111_1111_1111_1111;
    let r9: u64;
    // SAFETY: loads from the window; AH is bits 15:8 of RAX.
    unsafe {
        asm!("mov ah, byte ptr [{p} + {i}*8]", p = in(reg) p, i = in(reg) 8u64, inout("rax") rax);
        asm!("movzx r9d, word ptr [{p} + 0x40]", p = in(reg) p, out("r9") r9);
    }
    assert_eq!(rax, 0x1111_1111_1111_ab11);
    assert_eq!(r9, 0xcdab);
    assert_eq!(r.take(), [Seen::Read(0x40, 1), Seen::Read(0x40, 2)]);
}

#[test]
fn stores_of_every_width_from_registers_reach_the_handler() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let p = w.ptr::<u8>();
    let v: u64 = 0x0102_0304_0506_0708;
    // SAFETY: stores to the window, served by the trap.
    unsafe {
        asm!("mov byte ptr [{p} + 1], {v:l}", p = in(reg) p, v = in(reg) v);
        asm!("mov word ptr [{p} + 2], {v:x}", p = in(reg) p, v = in(reg) v);
        asm!("mov dword ptr [{p} + 4], {v:e}", p = in(reg) p, v = in(reg) v);
        asm!("mov qword ptr [{p} + 8], {v}", p = in(reg) p, v = in(reg) v);
        asm!("mov byte ptr [{p} + 16], ah", p = in(reg) p, in("rax") v);
        asm!("movdiri dword ptr [{p} + 20], {v:e}", p = in(reg) p, v = in(reg) v);
    }
    assert_eq!(
        r.take(),
        [
            Seen::Write(1, 1, 0x08),
            Seen::Write(2, 2, 0x0708),
            Seen::Write(4, 4, 0x0506_0708),
            Seen::Write(8, 8, v),
            Seen::Write(16, 1, 0x07),
            Seen::Write(20, 4, 0x0506_0708),
        ]
    );
    // What was stored reads back through ordinary loads.
    // SAFETY: loads from the window.
    let back = unsafe { std::ptr::read_volatile(w.ptr::<u64>().add(1)) };
    assert_eq!(back, v);
}

#[test]
fn immediate_stores_of_every_width() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let p = w.ptr::<u8>();
    // SAFETY: stores to the window, served by the trap.
    unsafe {
        asm!("mov byte ptr [{p}], 0x5a", p = in(reg) p);
        asm!("mov word ptr [{p} + 2], 0x1234", p = in(reg) p);
        asm!("mov dword ptr [{p} + 4], 0xdeadbeef", p = in(reg) p);
        // A 32-bit immediate sign-extended to 64 bits.
        asm!("mov qword ptr [{p} + 8], -2", p = in(reg) p);
    }
    assert_eq!(
        r.take(),
        [
            Seen::Write(0, 1, 0x5a),
            Seen::Write(2, 2, 0x1234),
            Seen::Write(4, 4, 0xdead_beef),
            Seen::Write(8, 8, u64::MAX - 1),
        ]
    );
}

#[test]
fn zero_and_sign_extending_loads() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    r.set(0, &[0x80, 0xff, 0x00, 0x80, 0x01, 0x00, 0x00, 0x80]);
    let p = w.ptr::<u8>();
    let (zb, zw, sb, sw, sd, sbw): (u64, u64, u64, u64, u64, u64);
    // SAFETY: loads from the window.
    unsafe {
        asm!("movzx {v:e}, byte ptr [{p}]", p = in(reg) p, v = out(reg) zb);
        asm!("movzx {v}, word ptr [{p}]", p = in(reg) p, v = out(reg) zw);
        asm!("movsx {v}, byte ptr [{p}]", p = in(reg) p, v = out(reg) sb);
        asm!("movsx {v:e}, word ptr [{p} + 2]", p = in(reg) p, v = out(reg) sw);
        asm!("movsxd {v}, dword ptr [{p} + 4]", p = in(reg) p, v = out(reg) sd);
        let mut x: u64 = 0x7777_7777_7777_7777;
        asm!("movsx {v:x}, byte ptr [{p}]", p = in(reg) p, v = inout(reg) x);
        sbw = x;
    }
    assert_eq!(zb, 0x80);
    assert_eq!(zw, 0xff80);
    assert_eq!(sb, 0xffff_ffff_ffff_ff80);
    assert_eq!(sw, 0xffff_8000);
    assert_eq!(sd, 0xffff_ffff_8000_0001);
    assert_eq!(sbw, 0x7777_7777_7777_ff80);
    let sizes: Vec<usize> = r
        .take()
        .iter()
        .map(|s| match s {
            Seen::Read(_, n) => *n,
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, [1, 2, 1, 2, 4, 1]);
}

#[test]
fn many_threads_at_once_each_see_their_own_registers() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let base = w.base();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                let p = (base + t * 8) as *mut u64;
                for i in 0..200u64 {
                    let v = (t << 32) | i;
                    // SAFETY: a store and a load of this thread's own word of the window.
                    unsafe {
                        std::ptr::write_volatile(p, v);
                        assert_eq!(std::ptr::read_volatile(p), v);
                    }
                }
            });
        }
    });
    assert_eq!(r.take().len(), 4 * 200 * 2);
}

#[test]
fn a_dropped_window_is_no_longer_served() {
    let r = Recorder::new();
    let w = Recorder::window(&r);
    let base = w.base();
    assert!(softiommu_preload::trap::window_at(base).is_some());
    drop(w);
    assert!(softiommu_preload::trap::window_at(base).is_none());
    // Overlapping registrations are refused.
    let w = Recorder::window(&r);
    let e = softiommu_preload::trap::register(w.base() + 4096, 4096, r.clone());
    assert_eq!(e.map_err(|e| e.raw_os_error()), Err(Some(libc::EEXIST)));
}
