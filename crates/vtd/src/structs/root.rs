//! Root entries: one per bus, 256 of them in the 4 KiB table RTADDR points at.

use bitfield_struct::bitfield;

use super::{StructCaps, beyond_width, memory_access, page_address};
use crate::fault::FaultReason;

/// Bytes in a root entry (legacy or scalable).
pub const ROOT_ENTRY_SIZE: u64 = 16;

/// Bytes in a scalable-mode context entry.
const SM_CONTEXT_ENTRY_SIZE: u64 = 32;

/// Bytes in a legacy context entry.
const LEGACY_CONTEXT_ENTRY_SIZE: u64 = 16;

/// The address of the root entry for `bus` in the root table at `rta` (RTADDR.RTA as a byte
/// address).
pub const fn root_entry_address(rta: u64, bus: u8) -> u64 {
    rta.wrapping_add(bus as u64 * ROOT_ENTRY_SIZE)
}

/// Bits 63:0 of a scalable-mode root entry: the context table for devfn 0–127.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct ScalableRootQw0 {
    /// LP: the lower context table is present.
    pub lp: bool,
    /// Bits 11:1, reserved.
    #[bits(11, access = RO)]
    rsvd: u16,
    /// LCTP: address bits 63:12 of the context table for devfn 0–127.
    #[bits(52)]
    pub lctp: u64,
}

/// Bits 127:64 of a scalable-mode root entry: the context table for devfn 128–255.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct ScalableRootQw1 {
    /// UP: the upper context table is present.
    pub up: bool,
    /// Bits 75:65, reserved.
    #[bits(11, access = RO)]
    rsvd: u16,
    /// UCTP: address bits 63:12 of the context table for devfn 128–255 (indexed by
    /// devfn & 7Fh).
    #[bits(52)]
    pub uctp: u64,
}

/// A scalable-mode root entry (128 bits): two context tables of 128 scalable context entries,
/// one for each half of the bus's devfn range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScalableRootEntry {
    /// Bits 63:0: LP and LCTP.
    pub qw0: ScalableRootQw0,
    /// Bits 127:64: UP and UCTP.
    pub qw1: ScalableRootQw1,
}

impl ScalableRootEntry {
    /// An entry pointing at the given lower and upper context tables (4 KiB-aligned byte
    /// addresses; a half without a table is not present).
    pub const fn new(lower: Option<u64>, upper: Option<u64>) -> ScalableRootEntry {
        let mut qw0 = ScalableRootQw0::new();
        if let Some(a) = lower {
            qw0 = qw0.with_lp(true).with_lctp(a / super::PAGE_SIZE);
        }
        let mut qw1 = ScalableRootQw1::new();
        if let Some(a) = upper {
            qw1 = qw1.with_up(true).with_uctp(a / super::PAGE_SIZE);
        }
        ScalableRootEntry { qw0, qw1 }
    }

    /// The entry held in `words` (bits 63:0 first).
    pub const fn from_words(words: [u64; 2]) -> ScalableRootEntry {
        ScalableRootEntry {
            qw0: ScalableRootQw0::from_bits(words[0]),
            qw1: ScalableRootQw1::from_bits(words[1]),
        }
    }

    /// The entry as 64-bit words, bits 63:0 first.
    pub const fn to_words(&self) -> [u64; 2] {
        [self.qw0.into_bits(), self.qw1.into_bits()]
    }

    /// The context table that holds `devfn`'s entry, or `None` when that half is not present.
    pub const fn context_table_for(&self, devfn: u8) -> Option<u64> {
        if devfn < 0x80 {
            if self.qw0.lp() {
                Some(page_address(self.qw0.lctp()))
            } else {
                None
            }
        } else if self.qw1.up() {
            Some(page_address(self.qw1.uctp()))
        } else {
            None
        }
    }

    /// The address of `devfn`'s scalable context entry, or `None` when its half is not present.
    pub const fn context_entry_address(&self, devfn: u8) -> Option<u64> {
        match self.context_table_for(devfn) {
            Some(table) => Some(table.wrapping_add((devfn & 0x7F) as u64 * SM_CONTEXT_ENTRY_SIZE)),
            None => None,
        }
    }

    /// Checks the reserved bits of each present half: bits 11:1 and LCTP bits at or above HAW
    /// when LP=1, bits 75:65 and UCTP bits at or above HAW when UP=1 (SRT.3). A half that is not
    /// present is not looked at; its absence is SRT.2, found by [`Self::lookup`].
    pub fn check(&self, caps: &StructCaps) -> Result<(), FaultReason> {
        let lower_bad =
            self.qw0.lp() && (self.qw0.rsvd() != 0 || beyond_width(self.qw0.lctp(), caps.haw));
        let upper_bad =
            self.qw1.up() && (self.qw1.rsvd() != 0 || beyond_width(self.qw1.uctp(), caps.haw));
        if lower_bad || upper_bad {
            return Err(FaultReason::Srt3);
        }
        Ok(())
    }

    /// The address of `devfn`'s context entry after the checks a walk makes: SRT.3 for reserved
    /// bits ([`Self::check`]), then SRT.2 when the half holding `devfn` is not present.
    pub fn lookup(&self, devfn: u8, caps: &StructCaps) -> Result<u64, FaultReason> {
        self.check(caps)?;
        self.context_entry_address(devfn).ok_or(FaultReason::Srt2)
    }
}
memory_access!(ScalableRootEntry, 2);

/// Bits 63:0 of a legacy root entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct LegacyRootQw0 {
    /// P: the context table is present.
    pub p: bool,
    /// Bits 11:1, reserved.
    #[bits(11, access = RO)]
    rsvd: u16,
    /// CTP: address bits 63:12 of the bus's context table (256 legacy context entries).
    #[bits(52)]
    pub ctp: u64,
}

/// A legacy-mode root entry (128 bits): one context table of 256 legacy context entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyRootEntry {
    /// Bits 63:0: P and CTP.
    pub qw0: LegacyRootQw0,
    /// Bits 127:64, reserved.
    pub qw1: u64,
}

impl LegacyRootEntry {
    /// A present entry pointing at the context table at `table` (a 4 KiB-aligned byte address).
    pub const fn new(table: u64) -> LegacyRootEntry {
        LegacyRootEntry {
            qw0: LegacyRootQw0::new()
                .with_p(true)
                .with_ctp(table / super::PAGE_SIZE),
            qw1: 0,
        }
    }

    /// The entry held in `words` (bits 63:0 first).
    pub const fn from_words(words: [u64; 2]) -> LegacyRootEntry {
        LegacyRootEntry {
            qw0: LegacyRootQw0::from_bits(words[0]),
            qw1: words[1],
        }
    }

    /// The entry as 64-bit words, bits 63:0 first.
    pub const fn to_words(&self) -> [u64; 2] {
        [self.qw0.into_bits(), self.qw1]
    }

    /// The address of `devfn`'s legacy context entry, or `None` when the entry is not present.
    pub const fn context_entry_address(&self, devfn: u8) -> Option<u64> {
        if self.qw0.p() {
            Some(
                page_address(self.qw0.ctp()).wrapping_add(devfn as u64 * LEGACY_CONTEXT_ENTRY_SIZE),
            )
        } else {
            None
        }
    }

    /// Checks the entry: LRT.2 when P=0; LRT.3 for bits 11:1, bits 127:64 or CTP bits at or
    /// above HAW.
    pub fn check(&self, caps: &StructCaps) -> Result<(), FaultReason> {
        if !self.qw0.p() {
            return Err(FaultReason::Lrt2);
        }
        if self.qw0.rsvd() != 0 || self.qw1 != 0 || beyond_width(self.qw0.ctp(), caps.haw) {
            return Err(FaultReason::Lrt3);
        }
        Ok(())
    }
}
memory_access!(LegacyRootEntry, 2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::testutil::{arena, full_caps};
    use proptest::prelude::*;

    #[test]
    fn scalable_root_encodes_as_the_spec_lays_it_out() {
        let e = ScalableRootEntry::new(Some(0x1234_5000), Some(0xAB_CDEF_0000));
        // QW0: LP (bit 0) | LCTP (63:12).
        let want_qw0 = 1 | 0x1234_5000;
        // QW1: UP (bit 64) | UCTP (127:76).
        let want_qw1 = 1 | 0xAB_CDEF_0000;
        assert_eq!(e.to_words(), [want_qw0, want_qw1]);
        assert_eq!(ScalableRootEntry::from_words([want_qw0, want_qw1]), e);
        assert_eq!(e.context_table_for(0), Some(0x1234_5000));
        assert_eq!(e.context_table_for(0x7F), Some(0x1234_5000));
        assert_eq!(e.context_table_for(0x80), Some(0xAB_CDEF_0000));
        assert_eq!(e.context_entry_address(0x05), Some(0x1234_5000 + 5 * 32));
        assert_eq!(e.context_entry_address(0x85), Some(0xAB_CDEF_0000 + 5 * 32));
        assert_eq!(
            e.context_entry_address(0xFF),
            Some(0xAB_CDEF_0000 + 127 * 32)
        );
        assert_eq!(e.check(&full_caps()), Ok(()));
    }

    #[test]
    fn scalable_root_halves_are_independent() {
        let caps = full_caps();
        let lower = ScalableRootEntry::from_words([0x1234_5001, 0]);
        assert_eq!(lower.context_table_for(0x10), Some(0x1234_5000));
        assert_eq!(lower.context_table_for(0x90), None);
        assert_eq!(lower.lookup(0x10, &caps), Ok(0x1234_5000 + 0x10 * 32));
        assert_eq!(lower.lookup(0x90, &caps), Err(FaultReason::Srt2));
        let upper = ScalableRootEntry::from_words([0, 0x5000 | 1]);
        assert_eq!(upper.lookup(0x10, &caps), Err(FaultReason::Srt2));
        assert_eq!(upper.lookup(0x80, &caps), Ok(0x5000));
    }

    #[test]
    fn scalable_root_reserved_bits_are_srt3() {
        let caps = full_caps(); // HAW 48
        let good = [0x1000 | 1, 0x2000 | 1];
        // Reserved: 11:1; 75:65 (QW1 11:1); LCTP/UCTP at or above HAW (63:48).
        for bit in (1..12).chain(48..64) {
            for word in 0..2 {
                let mut w = good;
                w[word] |= 1 << bit;
                let e = ScalableRootEntry::from_words(w);
                assert_eq!(
                    e.check(&caps),
                    Err(FaultReason::Srt3),
                    "word {word} bit {bit}"
                );
                assert_eq!(e.lookup(0, &caps), Err(FaultReason::Srt3));
            }
        }
        // A half that is not present is not checked.
        let e = ScalableRootEntry::from_words([0x1000 | 1, 0xFFFF_0000_0000_0FFE]);
        assert_eq!(e.check(&caps), Ok(()));
        // A wider HAW makes high pointer bits legal.
        let wide = StructCaps { haw: 52, ..caps };
        let e = ScalableRootEntry::from_words([0x000F_0000_0000_1001, 0]);
        assert_eq!(e.check(&wide), Ok(()));
        assert_eq!(e.check(&caps), Err(FaultReason::Srt3));
    }

    #[test]
    fn legacy_root_encodes_and_checks() {
        let caps = full_caps();
        let e = LegacyRootEntry::new(0x7_7000);
        // P (bit 0) | CTP (63:12).
        assert_eq!(e.to_words(), [1 | 0x7_7000, 0]);
        assert_eq!(e.context_entry_address(3), Some(0x7_7000 + 3 * 16));
        assert_eq!(e.check(&caps), Ok(()));
        assert_eq!(
            LegacyRootEntry::default().check(&caps),
            Err(FaultReason::Lrt2)
        );
        assert_eq!(LegacyRootEntry::default().context_entry_address(0), None);
        for bit in (1..12).chain(48..64) {
            let w = LegacyRootEntry::from_words([e.to_words()[0] | 1 << bit, 0]);
            assert_eq!(w.check(&caps), Err(FaultReason::Lrt3), "bit {bit}");
        }
        for bit in 0..64 {
            let w = LegacyRootEntry::from_words([e.to_words()[0], 1 << bit]);
            assert_eq!(w.check(&caps), Err(FaultReason::Lrt3), "bit {}", 64 + bit);
        }
    }

    #[test]
    fn root_entries_round_trip_through_memory() {
        let mem = arena();
        let at = root_entry_address(0x10_0000, 3);
        assert_eq!(at, 0x10_0000 + 3 * 16);
        let e = ScalableRootEntry::new(Some(0x2000), None);
        e.write(&mem, at).unwrap();
        assert_eq!(ScalableRootEntry::read(&mem, at).unwrap(), e);
        let l = LegacyRootEntry::new(0x3000);
        l.write(&mem, at).unwrap();
        assert_eq!(LegacyRootEntry::read(&mem, at).unwrap(), l);
        // A fetch outside memory is the memory error.
        assert!(ScalableRootEntry::read(&mem, 1 << 40).is_err());
        assert!(LegacyRootEntry::read(&mem, 1 << 40).is_err());
    }

    proptest! {
        #[test]
        fn checks_never_panic(w0: u64, w1: u64, devfn: u8, haw in 0u8..=70) {
            let caps = StructCaps { haw, ..full_caps() };
            let s = ScalableRootEntry::from_words([w0, w1]);
            let _ = s.check(&caps);
            let _ = s.lookup(devfn, &caps);
            prop_assert_eq!(s.to_words(), [w0, w1]);
            let l = LegacyRootEntry::from_words([w0, w1]);
            let _ = l.check(&caps);
            let _ = l.context_entry_address(devfn);
            prop_assert_eq!(l.to_words(), [w0, w1]);
        }
    }
}
