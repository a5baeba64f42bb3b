//! Values the fuzz bodies of several crates choose from the bytes the same way, and the check
//! both hardware models' translations must pass.

use arbitrary::{Result, Unstructured};

/// A register offset: mostly one of `regs` (or a few bytes into it), else anywhere in a
/// register set of `set_size` bytes and a little past it, else any offset at all.
pub fn mmio_offset(u: &mut Unstructured<'_>, regs: &[u64], set_size: u64) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 | 1 => *u.choose(regs)? + u64::from(u.int_in_range(0u8..=7)?),
        2 => u64::from(u.arbitrary::<u16>()?) % (set_size + 0x40),
        _ => u.arbitrary()?,
    })
}

/// An access width: mostly 4 or 8 bytes, else any.
pub fn mmio_width(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0..=3 => 4,
        4..=5 => 8,
        _ => u.arbitrary()?,
    })
}

/// Three times in four one of `known` (a requester the setup made, say), else any value.
pub fn known_or_any<'a, T>(u: &mut Unstructured<'a>, known: &[T]) -> Result<T>
where
    T: Copy + arbitrary::Arbitrary<'a>,
{
    if u.ratio(3u8, 4u8)? {
        u.choose(known).copied()
    } else {
        u.arbitrary()
    }
}

/// Asserts what every translation a hardware model answers must be: `len` bytes from `pa`,
/// 1 to `max`, ending at a 4 KiB boundary (the end of the page or block that maps them).
pub fn check_translation(pa: u64, len: u64, max: u64, what: &dyn std::fmt::Debug) {
    assert!(
        (1..=max).contains(&len),
        "translation of {what:?} covers {len:#x} bytes"
    );
    assert_eq!(
        pa.wrapping_add(len) % 4096,
        0,
        "translation of {what:?} ends inside a page: {pa:#x}+{len:#x}"
    );
}
