//! Context entries: one per device function, in the context tables the root entries point at.

use bitfield_struct::bitfield;

use super::pasid::{PASID_DIR_ENTRY_SIZE, pasid_dir_entries, pasid_dir_index};
use super::{StructCaps, beyond_width, memory_access, page_address};
use crate::fault::FaultReason;

/// Bits 63:0 of a scalable-mode context entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct ContextQw0 {
    /// P: present. Every other field but FPD is ignored when P=0.
    pub p: bool,
    /// FPD: fault processing disable; evaluated even when P=0.
    pub fpd: bool,
    /// DTE: device-TLB enable; when 0, translation requests and translated requests are
    /// blocked (needs ECAP.DT).
    pub dte: bool,
    /// PASIDE: requests-with-PASID allowed (needs ECAP.PASID).
    pub paside: bool,
    /// PRE: page requests allowed; needs DTE=1 (and ECAP.PRS).
    pub pre: bool,
    /// HPTE: host-permission-table check for translated requests (needs ECAP.HPTS).
    pub hpte: bool,
    /// EPTR: translated requests with PASID allowed; needs PASIDE=1 (and ECAP.PTRS).
    pub eptr: bool,
    /// Bits 8:7, reserved.
    #[bits(2, access = RO)]
    rsvd: u8,
    /// PDTS: the PASID directory has 2^(PDTS+7) entries.
    #[bits(3)]
    pub pdts: u8,
    /// PASIDDIRPTR: address bits 63:12 of the PASID directory (a host physical address).
    #[bits(52)]
    pub pasiddirptr: u64,
}

/// Bits 127:64 of a scalable-mode context entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct ContextQw1 {
    /// RID_PASID: the PASID used for requests without a PASID (needs ECAP.RPS; 0 otherwise).
    #[bits(20)]
    pub rid_pasid: u32,
    /// RID_PRIV: requests without a PASID are supervisor requests (needs ECAP.RPRIVS). Older
    /// Linux sets this bit together with RID_PASID.
    pub rid_priv: bool,
    /// Bits 127:85, reserved.
    #[bits(43, access = RO)]
    rsvd: u64,
}

/// A scalable-mode context entry (256 bits): whether the function may use PASIDs, device-TLBs
/// and page requests, and where its PASID directory is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextEntry {
    /// Bits 63:0: P, FPD, DTE, PASIDE, PRE, HPTE, EPTR, PDTS, PASIDDIRPTR.
    pub qw0: ContextQw0,
    /// Bits 127:64: RID_PASID, RID_PRIV.
    pub qw1: ContextQw1,
    /// Bits 191:128, reserved.
    pub qw2: u64,
    /// Bits 255:192, reserved.
    pub qw3: u64,
}

impl ContextEntry {
    /// The entry held in `words` (bits 63:0 first).
    pub const fn from_words(words: [u64; 4]) -> ContextEntry {
        ContextEntry {
            qw0: ContextQw0::from_bits(words[0]),
            qw1: ContextQw1::from_bits(words[1]),
            qw2: words[2],
            qw3: words[3],
        }
    }

    /// The entry as 64-bit words, bits 63:0 first.
    pub const fn to_words(&self) -> [u64; 4] {
        [
            self.qw0.into_bits(),
            self.qw1.into_bits(),
            self.qw2,
            self.qw3,
        ]
    }

    /// The byte address of the PASID directory.
    pub const fn pasid_dir(&self) -> u64 {
        page_address(self.qw0.pasiddirptr())
    }

    /// The number of entries in the PASID directory: 2^(PDTS+7).
    pub const fn pasid_dir_entries(&self) -> u32 {
        pasid_dir_entries(self.qw0.pdts())
    }

    /// The PASID that requests without a PASID use: RID_PASID, or 0 when the unit does not
    /// support RID_PASID.
    pub const fn effective_rid_pasid(&self, caps: &StructCaps) -> u32 {
        if caps.rps { self.qw1.rid_pasid() } else { 0 }
    }

    /// The address of the PASID directory entry for `pasid`: SGN.10 when `pasid` is wider than
    /// PSS allows, SCT.7 when it is beyond the directory's 2^(PDTS+7) entries.
    pub fn pasid_dir_entry_address(
        &self,
        pasid: u32,
        caps: &StructCaps,
    ) -> Result<u64, FaultReason> {
        if !caps.pasid_in_range(pasid) {
            return Err(FaultReason::Sgn10);
        }
        let index = pasid_dir_index(pasid);
        if index >= self.pasid_dir_entries() {
            return Err(FaultReason::Sct7);
        }
        Ok(self
            .pasid_dir()
            .wrapping_add(u64::from(index) * PASID_DIR_ENTRY_SIZE))
    }

    /// Checks the entry as a walk does, in this order:
    ///
    /// 1. SCT.2 when P=0 (the caller reads FPD, which is valid regardless);
    /// 2. SCT.3 for reserved bits: 8:7, 255:85, PASIDDIRPTR bits at or above HAW, and the
    ///    fields whose capability is absent (DTE without DT, PASIDE without PASID, PRE without
    ///    PRS, HPTE without HPTS, EPTR without PTRS, RID_PASID without RPS, RID_PRIV without
    ///    RPRIVS);
    /// 3. SCT.4 for invalid combinations: PRE=1 with DTE=0, EPTR=1 with PASIDE=0, or a RID_PASID
    ///    whose directory index is beyond PDTS.
    pub fn check(&self, caps: &StructCaps) -> Result<(), FaultReason> {
        let (q0, q1) = (self.qw0, self.qw1);
        if !q0.p() {
            return Err(FaultReason::Sct2);
        }
        let reserved = q0.rsvd() != 0
            || q1.rsvd() != 0
            || self.qw2 != 0
            || self.qw3 != 0
            || beyond_width(q0.pasiddirptr(), caps.haw)
            || (q0.dte() && !caps.dt)
            || (q0.paside() && !caps.pasid)
            || (q0.pre() && !caps.prs)
            || (q0.hpte() && !caps.hpts)
            || (q0.eptr() && !caps.ptrs)
            || (q1.rid_pasid() != 0 && !caps.rps)
            || (q1.rid_priv() && !caps.rprivs);
        if reserved {
            return Err(FaultReason::Sct3);
        }
        let invalid = (q0.pre() && !q0.dte())
            || (q0.eptr() && !q0.paside())
            || pasid_dir_index(self.effective_rid_pasid(caps)) >= self.pasid_dir_entries();
        if invalid {
            return Err(FaultReason::Sct4);
        }
        Ok(())
    }
}
memory_access!(ContextEntry, 4);

/// The translation type of a legacy context entry (TT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TranslationType {
    /// 00b: untranslated requests are translated; translation and translated requests are
    /// blocked.
    UntranslatedOnly,
    /// 01b: as 00b, and device-TLB requests are allowed (needs ECAP.DT).
    DeviceTlb,
    /// 10b: untranslated requests pass through untranslated (needs ECAP.PT).
    PassThrough,
    /// 11b: reserved.
    Reserved,
}

impl TranslationType {
    /// The type encoded by the 2-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> TranslationType {
        match bits & 3 {
            0 => TranslationType::UntranslatedOnly,
            1 => TranslationType::DeviceTlb,
            2 => TranslationType::PassThrough,
            _ => TranslationType::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            TranslationType::UntranslatedOnly => 0,
            TranslationType::DeviceTlb => 1,
            TranslationType::PassThrough => 2,
            TranslationType::Reserved => 3,
        }
    }
}

/// Bits 63:0 of a legacy context entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct LegacyContextQw0 {
    /// P: present.
    pub p: bool,
    /// FPD: fault processing disable; evaluated even when P=0.
    pub fpd: bool,
    /// TT: translation type.
    #[bits(2)]
    pub tt: TranslationType,
    /// Bits 11:4, reserved.
    #[bits(8, access = RO)]
    rsvd: u8,
    /// SSPTPTR: address bits 63:12 of the second-stage table (ignored for pass-through).
    #[bits(52)]
    pub ssptptr: u64,
}

/// Bits 127:64 of a legacy context entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct LegacyContextQw1 {
    /// AW: second-stage width, 1 = 39-bit, 2 = 48-bit, 3 = 57-bit.
    #[bits(3)]
    pub aw: u8,
    /// Bits 70:67, ignored by hardware.
    #[bits(4)]
    _ign: u8,
    /// Bit 71, reserved.
    #[bits(1, access = RO)]
    rsvd_lo: u8,
    /// DID: domain identifier.
    pub did: u16,
    /// Bits 127:88, reserved.
    #[bits(40, access = RO)]
    rsvd_hi: u64,
}

/// A legacy-mode context entry (128 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyContextEntry {
    /// Bits 63:0: P, FPD, TT, SSPTPTR.
    pub qw0: LegacyContextQw0,
    /// Bits 127:64: AW, DID.
    pub qw1: LegacyContextQw1,
}

impl LegacyContextEntry {
    /// The entry held in `words` (bits 63:0 first).
    pub const fn from_words(words: [u64; 2]) -> LegacyContextEntry {
        LegacyContextEntry {
            qw0: LegacyContextQw0::from_bits(words[0]),
            qw1: LegacyContextQw1::from_bits(words[1]),
        }
    }

    /// The entry as 64-bit words, bits 63:0 first.
    pub const fn to_words(&self) -> [u64; 2] {
        [self.qw0.into_bits(), self.qw1.into_bits()]
    }

    /// The byte address of the second-stage table.
    pub const fn ss_table(&self) -> u64 {
        page_address(self.qw0.ssptptr())
    }

    /// Checks the entry: LCT.2 when P=0; LCT.3 for reserved bits (11:4, 71, 127:88, and
    /// SSPTPTR bits at or above HAW unless TT is pass-through); LCT.4 for TT 11b, a TT whose
    /// capability is absent (DT, PT), or, when the second stage is used, an AW that SAGAW does
    /// not report.
    pub fn check(&self, caps: &StructCaps) -> Result<(), FaultReason> {
        let (q0, q1) = (self.qw0, self.qw1);
        if !q0.p() {
            return Err(FaultReason::Lct2);
        }
        let tt = q0.tt();
        let uses_ss = matches!(
            tt,
            TranslationType::UntranslatedOnly | TranslationType::DeviceTlb
        );
        if q0.rsvd() != 0
            || q1.rsvd_lo() != 0
            || q1.rsvd_hi() != 0
            || (uses_ss && beyond_width(q0.ssptptr(), caps.haw))
        {
            return Err(FaultReason::Lct3);
        }
        let tt_ok = match tt {
            TranslationType::UntranslatedOnly => true,
            TranslationType::DeviceTlb => caps.dt,
            TranslationType::PassThrough => caps.pt,
            TranslationType::Reserved => false,
        };
        if !tt_ok || (uses_ss && !caps.aw_supported(q1.aw())) {
            return Err(FaultReason::Lct4);
        }
        Ok(())
    }
}
memory_access!(LegacyContextEntry, 2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::testutil::{TakeCap, arena, bare_caps, full_caps};
    use proptest::prelude::*;

    /// A valid scalable context entry: P, PASIDE, PDTS=7, directory at 0x4_5000.
    fn good() -> [u64; 4] {
        // P (0) | PASIDE (3) | PDTS=7 (11:9) | PASIDDIRPTR (63:12).
        [1 | 1 << 3 | 7 << 9 | 0x4_5000, 0, 0, 0]
    }

    #[test]
    fn scalable_context_encodes_as_the_spec_lays_it_out() {
        let e = ContextEntry {
            qw0: ContextQw0::new()
                .with_p(true)
                .with_fpd(true)
                .with_dte(true)
                .with_paside(true)
                .with_pre(true)
                .with_hpte(true)
                .with_eptr(true)
                .with_pdts(5)
                .with_pasiddirptr(0x1234_5000 >> 12),
            qw1: ContextQw1::new()
                .with_rid_pasid(0xABCDE)
                .with_rid_priv(true),
            ..Default::default()
        };
        // P (0) | FPD (1) | DTE (2) | PASIDE (3) | PRE (4) | HPTE (5) | EPTR (6) | PDTS=5 (11:9)
        // | PASIDDIRPTR (63:12).
        let want_qw0 =
            1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 5 << 9 | 0x1234_5000;
        // RID_PASID (83:64) | RID_PRIV (84).
        let want_qw1 = 0xABCDE | 1 << 20;
        assert_eq!(e.to_words(), [want_qw0, want_qw1, 0, 0]);
        assert_eq!(ContextEntry::from_words([want_qw0, want_qw1, 0, 0]), e);
        assert_eq!(e.pasid_dir(), 0x1234_5000);
        assert_eq!(e.pasid_dir_entries(), 1 << 12);
    }

    #[test]
    fn scalable_context_decodes_hand_built_words() {
        let e = ContextEntry::from_words([0x8000_0000 | 3 << 9 | 1 << 4 | 1 << 2 | 1, 0x42, 0, 0]);
        assert!(e.qw0.p() && e.qw0.dte() && e.qw0.pre());
        assert!(!e.qw0.fpd() && !e.qw0.paside() && !e.qw0.hpte() && !e.qw0.eptr());
        assert_eq!(e.qw0.pdts(), 3);
        assert_eq!(e.pasid_dir(), 0x8000_0000);
        assert_eq!(e.pasid_dir_entries(), 1024);
        assert_eq!(e.qw1.rid_pasid(), 0x42);
        assert!(!e.qw1.rid_priv());
        assert_eq!(e.effective_rid_pasid(&full_caps()), 0x42);
        assert_eq!(e.effective_rid_pasid(&bare_caps()), 0);
        assert_eq!(e.check(&full_caps()), Ok(()));
    }

    #[test]
    fn scalable_context_not_present_is_sct2_whatever_else() {
        let caps = full_caps();
        assert_eq!(ContextEntry::default().check(&caps), Err(FaultReason::Sct2));
        let e = ContextEntry::from_words([!1, u64::MAX, u64::MAX, u64::MAX]);
        assert_eq!(e.check(&caps), Err(FaultReason::Sct2));
        assert!(e.qw0.fpd());
    }

    #[test]
    fn scalable_context_reserved_bits_are_sct3() {
        let caps = full_caps(); // HAW 48
        assert_eq!(ContextEntry::from_words(good()).check(&caps), Ok(()));
        // (word, bit) of every always-reserved bit: 8:7, PASIDDIRPTR 63:48, 127:85, 255:128.
        let mut bits: Vec<(usize, u32)> = vec![(0, 7), (0, 8)];
        bits.extend((48..64).map(|b| (0, b)));
        bits.extend((21..64).map(|b| (1, b)));
        bits.extend((0..64).map(|b| (2, b)));
        bits.extend((0..64).map(|b| (3, b)));
        for (word, bit) in bits {
            let mut w = good();
            w[word] |= 1 << bit;
            let e = ContextEntry::from_words(w);
            assert_eq!(
                e.check(&caps),
                Err(FaultReason::Sct3),
                "bit {}",
                word as u32 * 64 + bit
            );
        }
    }

    #[test]
    fn scalable_context_fields_without_their_capability_are_reserved() {
        let full = full_caps();
        // (word, bit, capability taken away).
        let cases: [(usize, u32, TakeCap); 8] = [
            (0, 2, |c| c.dt = false),
            (0, 3, |c| c.pasid = false),
            (0, 4, |c| c.prs = false),
            (0, 5, |c| c.hpts = false),
            (0, 6, |c| c.ptrs = false),
            (1, 0, |c| c.rps = false),
            (1, 19, |c| c.rps = false),
            (1, 20, |c| c.rprivs = false),
        ];
        for (word, bit, take) in cases {
            let mut w = good();
            w[word] |= 1 << bit;
            if (word, bit) == (0, 4) {
                w[0] |= 1 << 2; // PRE needs DTE.
            }
            let e = ContextEntry::from_words(w);
            assert_eq!(e.check(&full), Ok(()), "bit {}", word as u32 * 64 + bit);
            let mut caps = full;
            take(&mut caps);
            assert_eq!(
                e.check(&caps),
                Err(FaultReason::Sct3),
                "bit {}",
                word as u32 * 64 + bit
            );
        }
        // A narrower HAW reserves more pointer bits.
        let mut w = good();
        w[0] |= 1 << 40;
        assert_eq!(ContextEntry::from_words(w).check(&full), Ok(()));
        assert_eq!(
            ContextEntry::from_words(w).check(&StructCaps { haw: 39, ..full }),
            Err(FaultReason::Sct3)
        );
    }

    #[test]
    fn every_bit_is_a_field_or_reserved() {
        let caps = full_caps();
        // DTE (2), PASIDE (3), PDTS=7, so that every single field flip stays valid.
        let base = [good()[0] | 1 << 2, 0, 0, 0];
        let rsvd: Vec<u32> = [7..=8, 48..=63, 85..=255].into_iter().flatten().collect();
        for bit in 0..256u32 {
            let mut w = base;
            w[(bit / 64) as usize] ^= 1 << (bit % 64);
            let got = ContextEntry::from_words(w).check(&caps);
            let want = match bit {
                0 => Err(FaultReason::Sct2),
                b if rsvd.contains(&b) => Err(FaultReason::Sct3),
                _ => Ok(()),
            };
            assert_eq!(got, want, "bit {bit}");
        }
    }

    #[test]
    fn rid_priv_bit_84_is_accepted_when_supported() {
        // Older Linux writes bit 84 along with RID_PASID.
        let mut w = good();
        w[1] = 1 << 20;
        let e = ContextEntry::from_words(w);
        assert!(e.qw1.rid_priv());
        assert_eq!(e.check(&full_caps()), Ok(()));
        let no_rprivs = StructCaps {
            rprivs: false,
            ..full_caps()
        };
        assert_eq!(e.check(&no_rprivs), Err(FaultReason::Sct3));
    }

    #[test]
    fn invalid_context_combinations_are_sct4() {
        let caps = full_caps();
        // PRE (4) without DTE (2).
        let mut w = good();
        w[0] |= 1 << 4;
        assert_eq!(
            ContextEntry::from_words(w).check(&caps),
            Err(FaultReason::Sct4)
        );
        w[0] |= 1 << 2;
        assert_eq!(ContextEntry::from_words(w).check(&caps), Ok(()));
        // EPTR (6) without PASIDE (3).
        let mut w = good();
        w[0] = (w[0] & !(1 << 3)) | 1 << 6;
        assert_eq!(
            ContextEntry::from_words(w).check(&caps),
            Err(FaultReason::Sct4)
        );
        w[0] |= 1 << 3;
        assert_eq!(ContextEntry::from_words(w).check(&caps), Ok(()));
        // RID_PASID beyond PDTS: PDTS=0 gives 128 directory entries, PASIDs 0..=0x1FFF.
        let mut w = good();
        w[0] &= !(7 << 9);
        w[1] = 0x1FFF;
        assert_eq!(ContextEntry::from_words(w).check(&caps), Ok(()));
        w[1] = 0x2000;
        assert_eq!(
            ContextEntry::from_words(w).check(&caps),
            Err(FaultReason::Sct4)
        );
        // Reserved bits are reported before invalid combinations.
        w[0] |= 1 << 7;
        assert_eq!(
            ContextEntry::from_words(w).check(&caps),
            Err(FaultReason::Sct3)
        );
    }

    #[test]
    fn pasid_directory_lookup_from_the_context() {
        let caps = full_caps();
        let mut w = good();
        w[0] &= !(7 << 9); // PDTS=0: 128 entries.
        let e = ContextEntry::from_words(w);
        assert_eq!(e.pasid_dir_entry_address(0, &caps), Ok(0x4_5000));
        // PASID 0x1FC0: directory index 7Fh.
        assert_eq!(
            e.pasid_dir_entry_address(0x1FC0, &caps),
            Ok(0x4_5000 + 0x7F * 8)
        );
        assert_eq!(
            e.pasid_dir_entry_address(0x2000, &caps),
            Err(FaultReason::Sct7)
        );
        assert_eq!(
            e.pasid_dir_entry_address(0x10_0000, &caps),
            Err(FaultReason::Sgn10)
        );
        let narrow = StructCaps { pss: 9, ..caps };
        assert_eq!(
            e.pasid_dir_entry_address(0x3FF, &narrow),
            Ok(0x4_5000 + 0xF * 8)
        );
        assert_eq!(
            e.pasid_dir_entry_address(0x400, &narrow),
            Err(FaultReason::Sgn10)
        );
    }

    #[test]
    fn legacy_context_encodes_and_checks() {
        let caps = full_caps();
        let e = LegacyContextEntry {
            qw0: LegacyContextQw0::new()
                .with_p(true)
                .with_fpd(true)
                .with_tt(TranslationType::DeviceTlb)
                .with_ssptptr(0x9_9000 >> 12),
            qw1: LegacyContextQw1::new().with_aw(2).with_did(0xBEEF),
        };
        // P (0) | FPD (1) | TT=01b (3:2) | SSPTPTR (63:12).
        let want_qw0 = 1 | 1 << 1 | 1 << 2 | 0x9_9000;
        // AW=2 (66:64) | DID (87:72).
        let want_qw1 = 2 | 0xBEEF << 8;
        assert_eq!(e.to_words(), [want_qw0, want_qw1]);
        assert_eq!(LegacyContextEntry::from_words([want_qw0, want_qw1]), e);
        assert_eq!(e.ss_table(), 0x9_9000);
        assert_eq!(e.check(&caps), Ok(()));
        // Ignored bits 70:67 are accepted.
        let ign = LegacyContextEntry::from_words([want_qw0, want_qw1 | 0xF << 3]);
        assert_eq!(ign.check(&caps), Ok(()));
        assert_eq!(
            LegacyContextEntry::default().check(&caps),
            Err(FaultReason::Lct2)
        );
        // Reserved: 11:4, SSPTPTR 63:48, 71, 127:88.
        for bit in (4..12).chain(48..64) {
            let r = LegacyContextEntry::from_words([want_qw0 | 1 << bit, want_qw1]);
            assert_eq!(r.check(&caps), Err(FaultReason::Lct3), "bit {bit}");
        }
        for bit in std::iter::once(7).chain(24..64) {
            let r = LegacyContextEntry::from_words([want_qw0, want_qw1 | 1 << bit]);
            assert_eq!(r.check(&caps), Err(FaultReason::Lct3), "bit {}", 64 + bit);
        }
        // TT 11b, TT 01b without DT, TT 10b without PT, unsupported AW.
        let tt = |t: u64| LegacyContextEntry::from_words([(want_qw0 & !0xC) | t << 2, want_qw1]);
        assert_eq!(tt(3).check(&caps), Err(FaultReason::Lct4));
        assert_eq!(tt(0).check(&caps), Ok(()));
        assert_eq!(tt(2).check(&caps), Ok(()));
        let bare = StructCaps {
            haw: 48,
            ..bare_caps()
        };
        assert_eq!(tt(1).check(&bare), Err(FaultReason::Lct4));
        assert_eq!(tt(2).check(&bare), Err(FaultReason::Lct4));
        assert_eq!(tt(0).check(&bare), Ok(()));
        for aw in [0u64, 4, 5, 6, 7] {
            let r = LegacyContextEntry::from_words([want_qw0, (want_qw1 & !7) | aw]);
            assert_eq!(r.check(&caps), Err(FaultReason::Lct4), "aw {aw}");
        }
        let aw3 = LegacyContextEntry::from_words([want_qw0, (want_qw1 & !7) | 3]);
        assert_eq!(aw3.check(&caps), Ok(()));
        assert_eq!(aw3.check(&bare), Err(FaultReason::Lct4));
        // Pass-through ignores AW and SSPTPTR.
        let pt = LegacyContextEntry::from_words([2 << 2 | 1 | 0xFFFF_0000_0000_0000, 0]);
        assert_eq!(pt.check(&caps), Ok(()));
    }

    #[test]
    fn context_entries_round_trip_through_memory() {
        let mem = arena();
        let e = ContextEntry::from_words(good());
        e.write(&mem, 0x2000 + 5 * 32).unwrap();
        assert_eq!(ContextEntry::read(&mem, 0x2000 + 5 * 32).unwrap(), e);
        let l = LegacyContextEntry::from_words([1 | 0x5000, 2]);
        l.write(&mem, 0x3010).unwrap();
        assert_eq!(LegacyContextEntry::read(&mem, 0x3010).unwrap(), l);
        assert!(ContextEntry::read(&mem, 1 << 40).is_err());
        assert!(ContextEntry::read(&mem, 0x2004).is_err());
    }

    proptest! {
        #[test]
        fn checks_never_panic(w: [u64; 4], pasid: u32, haw in 0u8..=70, pss in 0u8..=40, sagaw: u8) {
            let caps = StructCaps { haw, pss, sagaw, ..full_caps() };
            let e = ContextEntry::from_words(w);
            let _ = e.check(&caps);
            let _ = e.check(&bare_caps());
            let _ = e.pasid_dir_entry_address(pasid, &caps);
            prop_assert_eq!(e.to_words(), w);
            let l = LegacyContextEntry::from_words([w[0], w[1]]);
            let _ = l.check(&caps);
            let _ = l.check(&bare_caps());
            prop_assert_eq!(l.to_words(), [w[0], w[1]]);
        }
    }
}
