//! The interrupted thread's general-purpose registers in its saved context, read and
//! written with the x86-64 rules for partial registers.

use iced_x86::Register;

/// The `gregs` slot of a 64-bit register.
fn slot(full: Register) -> Option<usize> {
    let r = match full {
        Register::RAX => libc::REG_RAX,
        Register::RCX => libc::REG_RCX,
        Register::RDX => libc::REG_RDX,
        Register::RBX => libc::REG_RBX,
        Register::RSP => libc::REG_RSP,
        Register::RBP => libc::REG_RBP,
        Register::RSI => libc::REG_RSI,
        Register::RDI => libc::REG_RDI,
        Register::R8 => libc::REG_R8,
        Register::R9 => libc::REG_R9,
        Register::R10 => libc::REG_R10,
        Register::R11 => libc::REG_R11,
        Register::R12 => libc::REG_R12,
        Register::R13 => libc::REG_R13,
        Register::R14 => libc::REG_R14,
        Register::R15 => libc::REG_R15,
        _ => return None,
    };
    Some(r as usize)
}

fn high_byte(r: Register) -> bool {
    matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
}

fn mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

/// The value of `r` (any general-purpose register, of any width).
pub(super) fn get(gregs: &[i64], r: Register) -> Option<u64> {
    let full = *gregs.get(slot(r.full_register())?)? as u64;
    Some(if high_byte(r) {
        (full >> 8) & 0xff
    } else {
        full & mask(r.size())
    })
}

/// Writes `value` into `r`: a 32-bit register clears the upper half, 8 and 16-bit ones keep
/// the other bits.
pub(super) fn set(gregs: &mut [i64], r: Register, value: u64) -> Option<()> {
    let g = gregs.get_mut(slot(r.full_register())?)?;
    let old = *g as u64;
    let new = if high_byte(r) {
        (old & !0xff00) | ((value & 0xff) << 8)
    } else {
        match r.size() {
            8 => value,
            4 => value & 0xffff_ffff,
            n => (old & !mask(n)) | (value & mask(n)),
        }
    };
    *g = new as i64;
    Some(())
}

/// Sign-extends the low `from` bytes of `v` to 64 bits.
pub(super) fn sign_extend(v: u64, from: usize) -> u64 {
    let shift = 64 - from * 8;
    (((v << shift) as i64) >> shift) as u64
}

/// Keeps the low `size` bytes of `v`.
pub(super) fn truncate(v: u64, size: usize) -> u64 {
    v & mask(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_registers_follow_the_architecture() {
        let mut g = [0i64; 23];
        g[libc::REG_RAX as usize] = 0x1122_3344_5566_7788;
        assert_eq!(get(&g, Register::AH), Some(0x77));
        assert_eq!(get(&g, Register::AX), Some(0x7788));
        set(&mut g, Register::AH, 0xab).unwrap();
        assert_eq!(g[libc::REG_RAX as usize] as u64, 0x1122_3344_5566_ab88);
        set(&mut g, Register::AX, 0xcdef).unwrap();
        assert_eq!(g[libc::REG_RAX as usize] as u64, 0x1122_3344_5566_cdef);
        set(&mut g, Register::EAX, 0xffff_ffff).unwrap();
        assert_eq!(g[libc::REG_RAX as usize] as u64, 0xffff_ffff);
        set(&mut g, Register::R9L, 0x5a).unwrap();
        assert_eq!(get(&g, Register::R9), Some(0x5a));
        assert_eq!(sign_extend(0x80, 1), 0xffff_ffff_ffff_ff80);
        assert_eq!(sign_extend(0x7fff, 2), 0x7fff);
    }
}
