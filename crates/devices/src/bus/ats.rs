//! Address Translation Services: a function's translation requests and their completions,
//! and the IOMMU's invalidations of the function's address translation cache (ATC).

use thiserror::Error;

use super::types::{PasidPrefix, Rights};

/// Smallest translation ATS hands out: 4 KiB.
pub const ATS_PAGE_LOG2: u8 = 12;

/// An ATS Translation Request: the function's ATC asks the IOMMU to translate the page at
/// `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtsRequest {
    /// Requester ID.
    pub rid: u16,
    /// The PASID prefix, when the request carries one (its execute and privileged bits ask
    /// for those rights).
    pub pasid: Option<PasidPrefix>,
    /// The untranslated address (bits below 12 are ignored).
    pub addr: u64,
    /// No Write: the function asks for read-only access, so the IOMMU need not make the page
    /// writable (nor set its dirty state).
    pub no_write: bool,
}

/// A successful translation completion. Rights with neither read nor write mean the
/// translation is not available (the function may then issue a page request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtsTranslation {
    /// The untranslated address the translation starts at (aligned to its size).
    pub untranslated: u64,
    /// The translated address of `untranslated` (aligned to the size).
    pub translated: u64,
    /// log2 of the bytes the translation covers (12 or more).
    pub size_log2: u8,
    /// Rights (R, W, Exe, Priv).
    pub rights: Rights,
    /// Global: valid for every PASID of the function.
    pub global: bool,
    /// Untranslated access only (U): the function must send untranslated requests for the
    /// range, not translated ones.
    pub untranslated_only: bool,
}

impl AtsTranslation {
    /// The completion for a page with no translation (R=W=0), covering the 4 KiB at `addr`.
    pub const fn no_access(addr: u64) -> AtsTranslation {
        let page = addr & !((1 << ATS_PAGE_LOG2) - 1);
        AtsTranslation {
            untranslated: page,
            translated: 0,
            size_log2: ATS_PAGE_LOG2,
            rights: Rights::NONE,
            global: false,
            untranslated_only: false,
        }
    }

    /// Whether the completion grants read or write access.
    pub const fn is_available(&self) -> bool {
        self.rights.read || self.rights.write
    }

    /// The bytes the translation covers.
    pub const fn size(&self) -> u64 {
        if self.size_log2 >= 64 {
            u64::MAX
        } else {
            1 << self.size_log2
        }
    }

    /// The translated address of `addr`, when `addr` falls in the translation.
    pub fn translate(&self, addr: u64) -> Option<u64> {
        let off = addr.checked_sub(self.untranslated)?;
        (off < self.size()).then(|| self.translated.wrapping_add(off))
    }
}

/// A translation request that failed with an error completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum AtsFailure {
    /// Unsupported Request: the function may not use ATS (or the request is malformed).
    #[error("ATS translation request: unsupported request")]
    UnsupportedRequest,
    /// Completer Abort: the IOMMU could not read its translation structures.
    #[error("ATS translation request: completer abort")]
    CompleterAbort,
}

/// An invalidation of part of a function's ATC, as the IOMMU sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtcInvalidation {
    /// Requester ID of the function whose ATC is invalidated.
    pub rid: u16,
    /// With a PASID, translations of that PASID go; without one, translations of the range
    /// go whatever PASID they were made for, and those made without a PASID.
    pub pasid: Option<u32>,
    /// Global Invalidate: with a PASID, the range goes for every PASID (and without one).
    pub global: bool,
    /// First byte of the range (aligned to its size).
    pub addr: u64,
    /// log2 of the range's bytes (12 to 64; 64 is the whole address space).
    pub size_log2: u8,
}

impl AtcInvalidation {
    /// Whether the range covers `[addr, addr + len)` in part.
    pub fn overlaps(&self, addr: u64, len: u64) -> bool {
        if self.size_log2 >= 64 {
            return true;
        }
        let size = 1u64 << self.size_log2;
        let start = self.addr & !(size - 1);
        let end = start.saturating_add(size - 1);
        let last = addr.saturating_add(len.max(1) - 1);
        addr <= end && last >= start
    }

    /// Whether a translation made for `pasid` (or without one) is in the invalidation's PASID
    /// scope.
    pub fn applies_to(&self, pasid: Option<u32>) -> bool {
        match self.pasid {
            Some(p) if !self.global => pasid == Some(p),
            _ => true,
        }
    }
}

/// What a function answered to an ATC invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtcInvalidationStatus {
    /// The invalidation completed: nothing the function does from now on uses the
    /// invalidated translations.
    Completed,
    /// The function did not complete it (a completion timeout).
    TimedOut,
}

/// The address field and S bit that encode a naturally aligned range of `2^size_log2` bytes
/// (12 to 63) at `addr` in an ATS completion or invalidation: S=0 is 4 KiB; with S=1 the
/// lowest 0 bit of the address at or above bit 12, at bit n, makes the range `2^(n+1)`
/// bytes.
pub const fn encode_range(addr: u64, size_log2: u8) -> (u64, bool) {
    if size_log2 <= ATS_PAGE_LOG2 {
        return (addr & !0xfff, false);
    }
    let top = if size_log2 >= 64 {
        63
    } else {
        size_log2 as u32 - 1
    };
    let ones = if top >= 63 {
        u64::MAX >> 1
    } else {
        (1u64 << top) - 1
    };
    // Bits 12..top are ones, bit `top` is zero, bits above hold the aligned address.
    let above = if top >= 63 {
        0
    } else {
        addr & !((1u64 << (top + 1)) - 1)
    };
    (above | (ones & !0xfff), true)
}

/// The range an address field and S bit encode: its first byte and log2 of its size.
pub const fn decode_range(field: u64, s: bool) -> (u64, u8) {
    let field = field & !0xfff;
    if !s {
        return (field, ATS_PAGE_LOG2);
    }
    let n = (!(field | 0xfff)).trailing_zeros();
    if n >= 63 {
        return (0, 64);
    }
    let size_log2 = n + 1;
    (field & !((1u64 << size_log2) - 1), size_log2 as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn range_encoding_follows_the_s_bit_rule() {
        // 4 KiB: S=0, the page address as it is.
        assert_eq!(encode_range(0x1234_5000, 12), (0x1234_5000, false));
        // 8 KiB: S=1, bit 12 clear.
        assert_eq!(encode_range(0x2000, 13), (0x2000, true));
        // 16 KiB: S=1, bit 12 set, bit 13 clear.
        assert_eq!(encode_range(0x4000, 14), (0x5000, true));
        // 2 MiB: bits 12..=19 set, bit 20 clear.
        assert_eq!(encode_range(0x4020_0000, 21), (0x402f_f000, true));
        assert_eq!(decode_range(0x402f_f000, true), (0x4020_0000, 21));
        assert_eq!(decode_range(0x5000, true), (0x4000, 14));
        assert_eq!(decode_range(0x5000, false), (0x5000, 12));
        // Every bit from 12 to 62 set: the whole address space.
        assert_eq!(decode_range(0x7fff_ffff_ffff_f000, true), (0, 64));
    }

    proptest! {
        #[test]
        fn range_encoding_round_trips(addr in any::<u64>(), size_log2 in 12u8..=63) {
            let aligned = addr & !((1u64 << size_log2) - 1);
            let (field, s) = encode_range(addr, size_log2);
            prop_assert_eq!(decode_range(field, s), (aligned, size_log2));
        }
    }

    #[test]
    fn invalidation_scope_by_range_and_pasid() {
        let inv = AtcInvalidation {
            rid: 8,
            pasid: Some(3),
            global: false,
            addr: 0x10_0000,
            size_log2: 16,
        };
        assert!(inv.overlaps(0x10_f000, 0x1000));
        assert!(inv.overlaps(0xf_f000, 0x2000));
        assert!(!inv.overlaps(0x11_0000, 0x1000));
        assert!(!inv.overlaps(0xf_f000, 0x1000));
        assert!(inv.applies_to(Some(3)));
        assert!(!inv.applies_to(Some(4)));
        assert!(!inv.applies_to(None));
        let global = AtcInvalidation {
            global: true,
            ..inv
        };
        assert!(global.applies_to(Some(4)) && global.applies_to(None));
        let all = AtcInvalidation {
            pasid: None,
            size_log2: 64,
            ..inv
        };
        assert!(all.applies_to(Some(9)) && all.applies_to(None));
        assert!(all.overlaps(u64::MAX, 1));
    }

    #[test]
    fn completion_translates_inside_its_range_only() {
        let t = AtsTranslation {
            untranslated: 0x20_0000,
            translated: 0x8000_0000,
            size_log2: 21,
            rights: Rights::READ_WRITE,
            global: false,
            untranslated_only: false,
        };
        assert!(t.is_available());
        assert_eq!(t.translate(0x20_1234), Some(0x8000_1234));
        assert_eq!(t.translate(0x40_0000), None);
        assert_eq!(t.translate(0x1f_ffff), None);
        let none = AtsTranslation::no_access(0x1234);
        assert!(!none.is_available());
        assert_eq!((none.untranslated, none.size()), (0x1000, 0x1000));
    }
}
