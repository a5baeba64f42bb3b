//! PASID directory entries, PASID-table entries, and the index arithmetic that finds a PASID's
//! entry: the directory is indexed by PASID\[19:6\], each 4 KiB table by PASID\[5:0\].

use bitfield_struct::bitfield;

use super::{StructCaps, beyond_width, memory_access, page_address};
use crate::fault::FaultReason;
use softiommu_mem::{AddressSpace, MemError};

/// Bytes in a PASID directory entry.
pub const PASID_DIR_ENTRY_SIZE: u64 = 8;

/// Bytes in a PASID-table entry.
pub const PASID_ENTRY_SIZE: u64 = 64;

/// The PASID directory index of `pasid`: PASID\[19:6\].
pub const fn pasid_dir_index(pasid: u32) -> u32 {
    (pasid >> 6) & 0x3FFF
}

/// The PASID-table index of `pasid`: PASID\[5:0\].
pub const fn pasid_table_index(pasid: u32) -> u32 {
    pasid & 0x3F
}

/// The number of entries in a PASID directory whose context entry has PDTS `pdts` (a 3-bit
/// field): 2^(PDTS+7).
pub const fn pasid_dir_entries(pdts: u8) -> u32 {
    1 << ((pdts & 7) + 7)
}

/// The address of `pasid`'s PASID-table entry in the table `dir` points at.
pub const fn pasid_entry_address(dir: &PasidDirEntry, pasid: u32) -> u64 {
    dir.table()
        .wrapping_add(pasid_table_index(pasid) as u64 * PASID_ENTRY_SIZE)
}

/// A PASID directory entry (64 bits): a table of 64 PASID-table entries.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PasidDirEntry {
    /// P: present.
    pub p: bool,
    /// FPD: fault processing disable; evaluated even when P=0.
    pub fpd: bool,
    /// Bits 11:2, reserved.
    #[bits(10, access = RO)]
    rsvd: u16,
    /// SMPTBLPTR: address bits 63:12 of the 4 KiB PASID table.
    #[bits(52)]
    pub smptblptr: u64,
}

impl PasidDirEntry {
    /// The byte address of the PASID table.
    pub const fn table(&self) -> u64 {
        page_address(self.smptblptr())
    }

    /// Checks the entry: SPD.2 when P=0; SPD.3 for bits 11:2 or SMPTBLPTR bits at or above HAW.
    pub fn check(&self, caps: &StructCaps) -> Result<(), FaultReason> {
        if !self.p() {
            return Err(FaultReason::Spd2);
        }
        if self.rsvd() != 0 || beyond_width(self.smptblptr(), caps.haw) {
            return Err(FaultReason::Spd3);
        }
        Ok(())
    }

    /// Reads the entry at `pa`; fails with the memory error when it cannot be fetched.
    pub fn read<M: AddressSpace + ?Sized>(mem: &M, pa: u64) -> Result<PasidDirEntry, MemError> {
        Ok(PasidDirEntry::from_bits(mem.load_u64(pa)?))
    }

    /// Writes the entry at `pa`.
    pub fn write<M: AddressSpace + ?Sized>(&self, mem: &M, pa: u64) -> Result<(), MemError> {
        mem.store_u64(pa, self.into_bits())
    }
}

/// The PASID granular translation type (PGTT) of a PASID-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pgtt {
    /// 001b: first-stage translation only (needs ECAP.FSTS).
    FirstStage,
    /// 010b: second-stage translation only (needs ECAP.SSTS).
    SecondStage,
    /// 011b: nested, first stage over second stage (needs ECAP.NEST).
    Nested,
    /// 100b: pass-through (needs ECAP.PT).
    PassThrough,
    /// 000b or 101b–111b: reserved (the 3-bit value).
    Reserved(u8),
}

impl Pgtt {
    /// The type encoded by the 3-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> Pgtt {
        match bits & 7 {
            1 => Pgtt::FirstStage,
            2 => Pgtt::SecondStage,
            3 => Pgtt::Nested,
            4 => Pgtt::PassThrough,
            v => Pgtt::Reserved(v),
        }
    }

    /// The 3-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            Pgtt::FirstStage => 1,
            Pgtt::SecondStage => 2,
            Pgtt::Nested => 3,
            Pgtt::PassThrough => 4,
            Pgtt::Reserved(v) => v,
        }
    }

    /// Whether translation walks the first-stage table (FSPTPTR, FSPM).
    pub const fn uses_first_stage(self) -> bool {
        matches!(self, Pgtt::FirstStage | Pgtt::Nested)
    }

    /// Whether translation walks the second-stage table (SSPTPTR, AW).
    pub const fn uses_second_stage(self) -> bool {
        matches!(self, Pgtt::SecondStage | Pgtt::Nested)
    }

    /// Whether the unit supports this type.
    pub const fn supported(self, caps: &StructCaps) -> bool {
        match self {
            Pgtt::FirstStage => caps.fsts,
            Pgtt::SecondStage => caps.ssts,
            Pgtt::Nested => caps.nest,
            Pgtt::PassThrough => caps.pt,
            Pgtt::Reserved(_) => false,
        }
    }
}

/// The first-stage paging mode (FSPM) of a PASID-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fspm {
    /// 00b: 4-level paging, 48-bit input.
    FourLevel,
    /// 01b: 5-level paging, 57-bit input (needs CAP.FS5LP).
    FiveLevel,
    /// 10b or 11b: reserved (the 2-bit value).
    Reserved(u8),
}

impl Fspm {
    /// The mode encoded by the 2-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> Fspm {
        match bits & 3 {
            0 => Fspm::FourLevel,
            1 => Fspm::FiveLevel,
            v => Fspm::Reserved(v),
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            Fspm::FourLevel => 0,
            Fspm::FiveLevel => 1,
            Fspm::Reserved(v) => v,
        }
    }

    /// The number of first-stage levels, or `None` for a reserved value.
    pub const fn levels(self) -> Option<u8> {
        match self {
            Fspm::FourLevel => Some(4),
            Fspm::FiveLevel => Some(5),
            Fspm::Reserved(_) => None,
        }
    }
}

/// Bits 63:0 of a PASID-table entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PasidQw0 {
    /// P: present.
    pub p: bool,
    /// FPD: fault processing disable; evaluated even when P=0 (FPD in the context or directory
    /// entry overrides it).
    pub fpd: bool,
    /// AW: second-stage width, 1 = 39-bit (3-level), 2 = 48-bit (4-level), 3 = 57-bit
    /// (5-level).
    #[bits(3)]
    pub aw: u8,
    /// Bit 5, reserved (SSEE in rev 3.x).
    #[bits(1, access = RO)]
    rsvd5: u8,
    /// PGTT: which tables translate.
    #[bits(3)]
    pub pgtt: Pgtt,
    /// SSADE: second-stage accessed/dirty bits (needs ECAP.SSADS).
    pub ssade: bool,
    /// Bits 11:10, reserved.
    #[bits(2, access = RO)]
    rsvd10: u8,
    /// SSPTPTR: address bits 63:12 of the second-stage table (ignored for PGTT 001b and 100b).
    #[bits(52)]
    pub ssptptr: u64,
}

/// Bits 127:64 of a PASID-table entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PasidQw1 {
    /// DID: domain identifier tagging the IOTLB and paging-structure caches.
    pub did: u16,
    /// Bits 86:80, reserved.
    #[bits(7, access = RO)]
    rsvd80: u8,
    /// PWSNP: page-walk snoop (needs ECAP.SMPWCS).
    pub pwsnp: bool,
    /// PGSNP: page snoop, forces snooped accesses (needs ECAP.SC).
    pub pgsnp: bool,
    /// CD: cache disable (needs ECAP.MTS).
    pub cd: bool,
    /// EMTE: extended memory type enable, use the second-stage EMT (needs ECAP.MTS).
    pub emte: bool,
    /// Bits 95:91, reserved (EMT, PWT, PCD in rev 3.x).
    #[bits(5, access = RO)]
    rsvd91: u8,
    /// PAT: eight 4-bit page-attribute-table entries (needs ECAP.MTS).
    pub pat: u32,
}

/// Bits 191:128 of a PASID-table entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PasidQw2 {
    /// SRE: supervisor requests enable (needs ECAP.SRS).
    pub sre: bool,
    /// Bit 129, reserved (ERE in rev 3.x).
    #[bits(1, access = RO)]
    rsvd129: u8,
    /// FSPM: first-stage paging mode.
    #[bits(2)]
    pub fspm: Fspm,
    /// WPE: write-protect enable; supervisor writes also need R/W=1.
    pub wpe: bool,
    /// Bits 134:133, ignored (NXE and SMEP in rev 3.x; older Linux sets NXE).
    #[bits(2)]
    _ign: u8,
    /// EAFE: extended-accessed flag enable (needs ECAP.EAFS).
    pub eafe: bool,
    /// Bits 139:136, reserved.
    #[bits(4, access = RO)]
    rsvd136: u8,
    /// FSPTPTR: address bits 63:12 of the first-stage root table (PML4 or PML5); a guest
    /// physical address when PGTT is nested.
    #[bits(52)]
    pub fsptptr: u64,
}

/// Bits 319:256 of a PASID-table entry: the host permission table (all reserved without
/// ECAP.HPTS).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PasidQw4 {
    /// HPTSZ: host permission table size.
    #[bits(2)]
    pub hptsz: u8,
    /// HPTPFD: host permission table prefetch disable.
    pub hptpfd: bool,
    /// Bits 267:259, reserved.
    #[bits(9, access = RO)]
    rsvd: u16,
    /// HPTPTR: address bits 63:12 of the host permission table.
    #[bits(52)]
    pub hptptr: u64,
}

/// Bits 383:320 of a PASID-table entry (all reserved without ECAP.HPTS).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PasidQw5 {
    /// HPTDID: host permission table domain identifier.
    pub hptdid: u16,
    /// Bits 383:336, reserved.
    #[bits(48, access = RO)]
    rsvd: u64,
}

/// A scalable-mode PASID-table entry (512 bits): how requests with one PASID are translated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasidEntry {
    /// Bits 63:0: P, FPD, AW, PGTT, SSADE, SSPTPTR.
    pub qw0: PasidQw0,
    /// Bits 127:64: DID, PWSNP, PGSNP, CD, EMTE, PAT.
    pub qw1: PasidQw1,
    /// Bits 191:128: SRE, FSPM, WPE, EAFE, FSPTPTR.
    pub qw2: PasidQw2,
    /// Bits 255:192, reserved.
    pub qw3: u64,
    /// Bits 319:256: HPTSZ, HPTPFD, HPTPTR.
    pub qw4: PasidQw4,
    /// Bits 383:320: HPTDID.
    pub qw5: PasidQw5,
    /// Bits 447:384, reserved.
    pub qw6: u64,
    /// Bits 511:448, reserved.
    pub qw7: u64,
}

impl PasidEntry {
    /// The entry held in `words` (bits 63:0 first).
    pub const fn from_words(words: [u64; 8]) -> PasidEntry {
        PasidEntry {
            qw0: PasidQw0::from_bits(words[0]),
            qw1: PasidQw1::from_bits(words[1]),
            qw2: PasidQw2::from_bits(words[2]),
            qw3: words[3],
            qw4: PasidQw4::from_bits(words[4]),
            qw5: PasidQw5::from_bits(words[5]),
            qw6: words[6],
            qw7: words[7],
        }
    }

    /// The entry as 64-bit words, bits 63:0 first.
    pub const fn to_words(&self) -> [u64; 8] {
        [
            self.qw0.into_bits(),
            self.qw1.into_bits(),
            self.qw2.into_bits(),
            self.qw3,
            self.qw4.into_bits(),
            self.qw5.into_bits(),
            self.qw6,
            self.qw7,
        ]
    }

    /// The byte address of the second-stage table.
    pub const fn ss_table(&self) -> u64 {
        page_address(self.qw0.ssptptr())
    }

    /// The address of the first-stage root table (a guest physical address when nested).
    pub const fn fs_table(&self) -> u64 {
        page_address(self.qw2.fsptptr())
    }

    /// The byte address of the host permission table.
    pub const fn hpt_table(&self) -> u64 {
        page_address(self.qw4.hptptr())
    }

    /// The number of second-stage levels AW encodes (3, 4 or 5), or `None` for a reserved AW.
    pub const fn ss_levels(&self) -> Option<u8> {
        match self.qw0.aw() {
            aw @ 1..=3 => Some(aw + 2),
            _ => None,
        }
    }

    /// Checks the entry as a walk does, in this order:
    ///
    /// 1. SPT.2 when P=0 (the caller reads FPD, which is valid regardless);
    /// 2. SPT.3 for reserved bits: 5, 11:10, 86:80, 95:91, 129, 139:136, 255:192, 511:384,
    ///    and the fields whose capability is absent (SSADE without SSADS, PWSNP without SMPWCS,
    ///    PGSNP without SC, CD/EMTE/PAT without MTS, SRE without SRS, EAFE without EAFS, bits
    ///    383:256 without HPTS; with HPTS, bits 267:259, 383:336 and HPTPTR bits at or above
    ///    HAW), SSPTPTR bits at or above HAW when the second stage is used, and FSPTPTR bits
    ///    at or above HAW for first-stage-only translation;
    /// 3. SPT.4 for unsupported values: a reserved or unsupported PGTT, an AW that SAGAW does
    ///    not report when the second stage is used, a reserved FSPM or 5-level FSPM without
    ///    FS5LP when the first stage is used, or a nested FSPTPTR at or above MGAW.
    ///
    /// Bits 134:133 (NXE and SMEP in rev 3.x) are ignored.
    pub fn check(&self, caps: &StructCaps) -> Result<(), FaultReason> {
        let (q0, q1, q2, q4, q5) = (self.qw0, self.qw1, self.qw2, self.qw4, self.qw5);
        if !q0.p() {
            return Err(FaultReason::Spt2);
        }
        let pgtt = q0.pgtt();
        let (fs, ss) = (pgtt.uses_first_stage(), pgtt.uses_second_stage());
        let hpt_reserved = if caps.hpts {
            q4.rsvd() != 0 || q5.rsvd() != 0 || beyond_width(q4.hptptr(), caps.haw)
        } else {
            q4.into_bits() != 0 || q5.into_bits() != 0
        };
        let reserved = q0.rsvd5() != 0
            || q0.rsvd10() != 0
            || q1.rsvd80() != 0
            || q1.rsvd91() != 0
            || q2.rsvd129() != 0
            || q2.rsvd136() != 0
            || self.qw3 != 0
            || self.qw6 != 0
            || self.qw7 != 0
            || hpt_reserved
            || (q0.ssade() && !caps.ssads)
            || (q1.pwsnp() && !caps.smpwcs)
            || (q1.pgsnp() && !caps.sc)
            || ((q1.cd() || q1.emte() || q1.pat() != 0) && !caps.mts)
            || (q2.sre() && !caps.srs)
            || (q2.eafe() && !caps.eafs)
            || (ss && beyond_width(q0.ssptptr(), caps.haw))
            || (pgtt == Pgtt::FirstStage && beyond_width(q2.fsptptr(), caps.haw));
        if reserved {
            return Err(FaultReason::Spt3);
        }
        let fspm_ok = match q2.fspm() {
            Fspm::FourLevel => true,
            Fspm::FiveLevel => caps.fs5lp,
            Fspm::Reserved(_) => false,
        };
        let invalid = !pgtt.supported(caps)
            || (ss && !caps.aw_supported(q0.aw()))
            || (fs && !fspm_ok)
            || (pgtt == Pgtt::Nested && beyond_width(q2.fsptptr(), caps.mgaw));
        if invalid {
            return Err(FaultReason::Spt4);
        }
        Ok(())
    }
}
memory_access!(PasidEntry, 8);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::testutil::{TakeCap, arena, bare_caps, full_caps};
    use proptest::prelude::*;

    /// A valid second-stage-only entry: P, AW=2, PGTT=010b, SSPTPTR 0x5000, DID 7.
    fn ss_only() -> [u64; 8] {
        // P (0) | AW=2 (4:2) | PGTT=2 (8:6) | SSPTPTR (63:12); DID (79:64).
        [1 | 2 << 2 | 2 << 6 | 0x5000, 7, 0, 0, 0, 0, 0, 0]
    }

    /// A valid first-stage-only entry: P, PGTT=001b, FSPTPTR 0x6000, DID 9.
    fn fs_only() -> [u64; 8] {
        // P (0) | PGTT=1 (8:6); DID (79:64); FSPTPTR (191:140).
        [1 | 1 << 6, 9, 0x6000, 0, 0, 0, 0, 0]
    }

    fn check(w: [u64; 8], caps: &StructCaps) -> Result<(), FaultReason> {
        PasidEntry::from_words(w).check(caps)
    }

    /// `w` with bit `bit` (numbered across the whole 512-bit entry) set.
    fn with_bit(mut w: [u64; 8], bit: u32) -> [u64; 8] {
        w[(bit / 64) as usize] |= 1 << (bit % 64);
        w
    }

    #[test]
    fn index_arithmetic() {
        assert_eq!(pasid_dir_index(0xF_FFFF), 0x3FFF);
        assert_eq!(pasid_dir_index(0x12345), 0x48D);
        assert_eq!(pasid_table_index(0x12345), 0x05);
        assert_eq!(pasid_dir_entries(0), 128);
        assert_eq!(pasid_dir_entries(7), 16384);
        let dir = PasidDirEntry::new()
            .with_p(true)
            .with_smptblptr(0x7_7000 >> 12);
        assert_eq!(pasid_entry_address(&dir, 0x12345), 0x7_7000 + 5 * 64);
        assert_eq!(pasid_entry_address(&dir, 0x3F), 0x7_7000 + 63 * 64);
    }

    #[test]
    fn pasid_directory_entry_encodes_and_checks() {
        let caps = full_caps();
        let e = PasidDirEntry::new()
            .with_p(true)
            .with_fpd(true)
            .with_smptblptr(0xABC_D000 >> 12);
        // P (0) | FPD (1) | SMPTBLPTR (63:12).
        assert_eq!(e.into_bits(), 1 | 1 << 1 | 0xABC_D000);
        assert_eq!(e.table(), 0xABC_D000);
        assert_eq!(e.check(&caps), Ok(()));
        assert_eq!(
            PasidDirEntry::from_bits(0x1000).check(&caps),
            Err(FaultReason::Spd2)
        );
        assert_eq!(
            PasidDirEntry::from_bits(!1).check(&caps),
            Err(FaultReason::Spd2)
        );
        for bit in (2..12).chain(48..64) {
            let r = PasidDirEntry::from_bits(e.into_bits() | 1 << bit);
            assert_eq!(r.check(&caps), Err(FaultReason::Spd3), "bit {bit}");
        }
        let mem = arena();
        e.write(&mem, 0x8008).unwrap();
        assert_eq!(PasidDirEntry::read(&mem, 0x8008).unwrap(), e);
        assert!(PasidDirEntry::read(&mem, 1 << 40).is_err());
    }

    #[test]
    fn pasid_entry_encodes_as_the_spec_lays_it_out() {
        let e = PasidEntry {
            qw0: PasidQw0::new()
                .with_p(true)
                .with_fpd(true)
                .with_aw(3)
                .with_pgtt(Pgtt::Nested)
                .with_ssade(true)
                .with_ssptptr(0x1_2345_6000 >> 12),
            qw1: PasidQw1::new()
                .with_did(0xBEEF)
                .with_pwsnp(true)
                .with_pgsnp(true)
                .with_cd(true)
                .with_emte(true)
                .with_pat(0x0706_0504),
            qw2: PasidQw2::new()
                .with_sre(true)
                .with_fspm(Fspm::FiveLevel)
                .with_wpe(true)
                .with_eafe(true)
                .with_fsptptr(0xF_E000 >> 12),
            qw4: PasidQw4::new()
                .with_hptsz(2)
                .with_hptpfd(true)
                .with_hptptr(0x33_3000 >> 12),
            qw5: PasidQw5::new().with_hptdid(0x1234),
            ..Default::default()
        };
        // P (0) | FPD (1) | AW=3 (4:2) | PGTT=011b (8:6) | SSADE (9) | SSPTPTR (63:12).
        let want_qw0 = 1 | 1 << 1 | 3 << 2 | 3 << 6 | 1 << 9 | 0x1_2345_6000;
        // DID (79:64) | PWSNP (87) | PGSNP (88) | CD (89) | EMTE (90) | PAT (127:96).
        let want_qw1 = 0xBEEF | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26 | 0x0706_0504 << 32;
        // SRE (128) | FSPM=01b (131:130) | WPE (132) | EAFE (135) | FSPTPTR (191:140).
        let want_qw2 = 1 | 1 << 2 | 1 << 4 | 1 << 7 | 0xF_E000;
        // HPTSZ=2 (257:256) | HPTPFD (258) | HPTPTR (319:268).
        let want_qw4 = 2 | 1 << 2 | 0x33_3000;
        // HPTDID (335:320).
        let want_qw5 = 0x1234;
        let want = [want_qw0, want_qw1, want_qw2, 0, want_qw4, want_qw5, 0, 0];
        assert_eq!(e.to_words(), want);
        assert_eq!(PasidEntry::from_words(want), e);
        assert_eq!(e.ss_table(), 0x1_2345_6000);
        assert_eq!(e.fs_table(), 0xF_E000);
        assert_eq!(e.hpt_table(), 0x33_3000);
        assert_eq!(e.ss_levels(), Some(5));
        assert_eq!(e.qw2.fspm().levels(), Some(5));
        assert_eq!(e.check(&full_caps()), Ok(()));
    }

    #[test]
    fn pasid_entry_decodes_hand_built_words() {
        let e = PasidEntry::from_words(ss_only());
        assert!(e.qw0.p() && !e.qw0.fpd());
        assert_eq!(e.qw0.pgtt(), Pgtt::SecondStage);
        assert_eq!(e.ss_levels(), Some(4));
        assert_eq!(e.ss_table(), 0x5000);
        assert_eq!(e.qw1.did(), 7);
        assert_eq!(e.qw2.fspm(), Fspm::FourLevel);
        let f = PasidEntry::from_words(fs_only());
        assert_eq!(f.qw0.pgtt(), Pgtt::FirstStage);
        assert_eq!(f.fs_table(), 0x6000);
        assert_eq!(f.qw1.did(), 9);
        assert_eq!(f.ss_levels(), None);
        for (bits, pgtt) in [
            (0u8, Pgtt::Reserved(0)),
            (1, Pgtt::FirstStage),
            (2, Pgtt::SecondStage),
            (3, Pgtt::Nested),
            (4, Pgtt::PassThrough),
            (5, Pgtt::Reserved(5)),
            (7, Pgtt::Reserved(7)),
        ] {
            assert_eq!(Pgtt::from_bits(bits), pgtt);
            assert_eq!(pgtt.into_bits(), bits);
        }
        assert_eq!(Fspm::from_bits(2), Fspm::Reserved(2));
        assert_eq!(Fspm::Reserved(3).into_bits(), 3);
    }

    #[test]
    fn pasid_entry_not_present_is_spt2_whatever_else() {
        let caps = full_caps();
        assert_eq!(PasidEntry::default().check(&caps), Err(FaultReason::Spt2));
        let e = PasidEntry::from_words([!1, !0, !0, !0, !0, !0, !0, !0]);
        assert_eq!(e.check(&caps), Err(FaultReason::Spt2));
        assert!(e.qw0.fpd());
    }

    #[test]
    fn pasid_entry_reserved_bits_are_spt3() {
        let caps = full_caps(); // HAW 48, HPTS
        assert_eq!(check(ss_only(), &caps), Ok(()));
        assert_eq!(check(fs_only(), &caps), Ok(()));
        // Always reserved: 5, 11:10, 86:80, 95:91, 129, 139:136, 255:192, 267:259 (with HPTS),
        // 383:336, 511:384.
        let mut bits: Vec<u32> = vec![5, 10, 11, 129];
        bits.extend(80..=86);
        bits.extend(91..=95);
        bits.extend(136..=139);
        bits.extend(192..=255);
        bits.extend(259..=267);
        bits.extend(336..=511);
        // HPTPTR at or above HAW.
        bits.extend(304..=319);
        for &bit in &bits {
            assert_eq!(
                check(with_bit(ss_only(), bit), &caps),
                Err(FaultReason::Spt3),
                "bit {bit}"
            );
            assert_eq!(
                check(with_bit(fs_only(), bit), &caps),
                Err(FaultReason::Spt3),
                "bit {bit}"
            );
        }
        // SSPTPTR at or above HAW when the second stage is used; ignored for first stage only.
        for bit in 48..=63 {
            assert_eq!(
                check(with_bit(ss_only(), bit), &caps),
                Err(FaultReason::Spt3),
                "bit {bit}"
            );
            assert_eq!(check(with_bit(fs_only(), bit), &caps), Ok(()), "bit {bit}");
        }
        // FSPTPTR at or above HAW for first stage only; ignored for second stage only.
        for bit in 176..=191 {
            assert_eq!(
                check(with_bit(fs_only(), bit), &caps),
                Err(FaultReason::Spt3),
                "bit {bit}"
            );
            assert_eq!(check(with_bit(ss_only(), bit), &caps), Ok(()), "bit {bit}");
        }
    }

    #[test]
    fn every_bit_is_a_field_or_reserved() {
        let caps = full_caps();
        let rsvd: Vec<u32> = [
            5..=5,
            10..=11,
            48..=63, // SSPTPTR at or above HAW 48.
            80..=86,
            91..=95,
            129..=129,
            136..=139,
            192..=255,
            259..=267,
            304..=319, // HPTPTR at or above HAW 48.
            336..=511,
        ]
        .into_iter()
        .flatten()
        .collect();
        // Flips that make an unsupported value: AW 2 -> 0 or 6, PGTT 010b -> 000b or 110b.
        let invalid = [3, 4, 7, 8];
        for bit in 0..512u32 {
            let mut w = ss_only();
            w[(bit / 64) as usize] ^= 1 << (bit % 64);
            let got = check(w, &caps);
            let want = match bit {
                0 => Err(FaultReason::Spt2),
                b if rsvd.contains(&b) => Err(FaultReason::Spt3),
                b if invalid.contains(&b) => Err(FaultReason::Spt4),
                _ => Ok(()),
            };
            assert_eq!(got, want, "bit {bit}");
        }
    }

    #[test]
    fn pasid_entry_fields_without_their_capability_are_reserved() {
        let full = full_caps();
        // (bit, capability taken away).
        let cases: [(u32, TakeCap); 13] = [
            (9, |c| c.ssads = false),
            (87, |c| c.smpwcs = false),
            (88, |c| c.sc = false),
            (89, |c| c.mts = false),
            (90, |c| c.mts = false),
            (96, |c| c.mts = false),
            (127, |c| c.mts = false),
            (128, |c| c.srs = false),
            (135, |c| c.eafs = false),
            (256, |c| c.hpts = false),
            (258, |c| c.hpts = false),
            (268, |c| c.hpts = false),
            (320, |c| c.hpts = false),
        ];
        for (bit, take) in cases {
            let w = with_bit(ss_only(), bit);
            assert_eq!(check(w, &full), Ok(()), "bit {bit}");
            let mut caps = full;
            take(&mut caps);
            assert_eq!(check(w, &caps), Err(FaultReason::Spt3), "bit {bit}");
        }
    }

    #[test]
    fn rev3_bits_133_and_134_are_ignored() {
        // Linux ≤ 6.x sets NXE (133); SMEP was 134.
        for caps in [
            full_caps(),
            StructCaps {
                ssts: true,
                ..bare_caps()
            },
        ] {
            for w in [
                with_bit(ss_only(), 133),
                with_bit(with_bit(ss_only(), 133), 134),
            ] {
                assert_eq!(check(w, &caps), Ok(()));
            }
        }
        // Reserved rev-3.x bits stay reserved: SLEE (5), EMT/PWT/PCD (95:91), ERE (129).
        for bit in [5, 91, 93, 94, 95, 129] {
            assert_eq!(
                check(with_bit(ss_only(), bit), &full_caps()),
                Err(FaultReason::Spt3)
            );
        }
    }

    #[test]
    fn unsupported_pgtt_aw_and_fspm_are_spt4() {
        let full = full_caps();
        let pgtt = |w: [u64; 8], v: u64| {
            let mut w = w;
            w[0] = (w[0] & !(7 << 6)) | v << 6;
            w
        };
        for v in [0, 5, 6, 7] {
            assert_eq!(
                check(pgtt(ss_only(), v), &full),
                Err(FaultReason::Spt4),
                "pgtt {v}"
            );
        }
        for v in 1..=4 {
            assert_eq!(check(pgtt(ss_only(), v), &full), Ok(()), "pgtt {v}");
        }
        let without: [(u64, TakeCap); 4] = [
            (1, |c| c.fsts = false),
            (2, |c| c.ssts = false),
            (3, |c| c.nest = false),
            (4, |c| c.pt = false),
        ];
        for (v, take) in without {
            let mut caps = full;
            take(&mut caps);
            assert_eq!(
                check(pgtt(ss_only(), v), &caps),
                Err(FaultReason::Spt4),
                "pgtt {v}"
            );
        }
        // AW: only the SAGAW widths, and only when the second stage is used.
        let aw = |w: [u64; 8], v: u64| {
            let mut w = w;
            w[0] = (w[0] & !(7 << 2)) | v << 2;
            w
        };
        for v in [0, 4, 5, 6, 7] {
            assert_eq!(
                check(aw(ss_only(), v), &full),
                Err(FaultReason::Spt4),
                "aw {v}"
            );
            assert_eq!(
                check(aw(pgtt(ss_only(), 3), v), &full),
                Err(FaultReason::Spt4)
            );
            assert_eq!(check(aw(fs_only(), v), &full), Ok(()), "aw {v}");
            assert_eq!(check(aw(pgtt(ss_only(), 4), v), &full), Ok(()), "aw {v}");
        }
        let four_only = StructCaps {
            sagaw: 0b0100,
            ..full
        };
        assert_eq!(check(aw(ss_only(), 3), &four_only), Err(FaultReason::Spt4));
        assert_eq!(check(aw(ss_only(), 1), &four_only), Err(FaultReason::Spt4));
        assert_eq!(check(aw(ss_only(), 2), &four_only), Ok(()));
        // FSPM: 5-level needs FS5LP; 10b and 11b are reserved; ignored without a first stage.
        let fspm = |w: [u64; 8], v: u64| {
            let mut w = w;
            w[2] = (w[2] & !(3 << 2)) | v << 2;
            w
        };
        assert_eq!(check(fspm(fs_only(), 1), &full), Ok(()));
        let no_5lp = StructCaps {
            fs5lp: false,
            ..full
        };
        assert_eq!(check(fspm(fs_only(), 1), &no_5lp), Err(FaultReason::Spt4));
        for v in [2, 3] {
            assert_eq!(
                check(fspm(fs_only(), v), &full),
                Err(FaultReason::Spt4),
                "fspm {v}"
            );
            assert_eq!(check(fspm(ss_only(), v), &full), Ok(()), "fspm {v}");
        }
        // Nested: FSPTPTR is a GPA checked against MGAW (SPT.4), not HAW (SPT.3).
        let nested = |fsptptr: u64| {
            let mut w = pgtt(ss_only(), 3);
            w[2] = fsptptr;
            w
        };
        let caps = StructCaps { mgaw: 39, ..full };
        assert_eq!(check(nested(0x7F_FFFF_F000), &caps), Ok(()));
        assert_eq!(check(nested(0x80_0000_0000), &caps), Err(FaultReason::Spt4));
        // Reserved bits are reported before unsupported values.
        assert_eq!(
            check(with_bit(pgtt(ss_only(), 0), 5), &full),
            Err(FaultReason::Spt3)
        );
    }

    #[test]
    fn pasid_entry_round_trips_through_memory() {
        let mem = arena();
        let e = PasidEntry::from_words(ss_only());
        let dir = PasidDirEntry::new()
            .with_p(true)
            .with_smptblptr(0x9000 >> 12);
        let at = pasid_entry_address(&dir, 0x4C5);
        e.write(&mem, at).unwrap();
        assert_eq!(PasidEntry::read(&mem, at).unwrap(), e);
        assert!(PasidEntry::read(&mem, (1 << 24) - 32).is_err());
    }

    proptest! {
        #[test]
        fn checks_never_panic(
            w: [u64; 8],
            pasid: u32,
            haw in 0u8..=70,
            mgaw in 0u8..=70,
            sagaw: u8,
        ) {
            let caps = StructCaps { haw, mgaw, sagaw, ..full_caps() };
            let e = PasidEntry::from_words(w);
            let _ = e.check(&caps);
            let _ = e.check(&bare_caps());
            let _ = e.ss_levels();
            prop_assert_eq!(e.to_words(), w);
            let d = PasidDirEntry::from_bits(w[0]);
            let _ = d.check(&caps);
            let _ = pasid_entry_address(&d, pasid);
            prop_assert!(pasid_dir_index(pasid) < 1 << 14);
        }
    }
}
