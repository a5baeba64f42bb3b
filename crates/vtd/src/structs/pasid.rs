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
    /// A present second-stage-only entry (PGTT 010): tables at `root` with address width
    /// `aw` (AW: 1 for 3 levels, 2 for 4, 3 for 5), domain `did`; everything else zero.
    pub fn second_stage(root: u64, aw: u8, did: u16) -> PasidEntry {
        PasidEntry {
            qw0: PasidQw0::new()
                .with_p(true)
                .with_aw(aw)
                .with_pgtt(Pgtt::SecondStage)
                .with_ssptptr(root >> 12),
            qw1: PasidQw1::new().with_did(did),
            ..PasidEntry::default()
        }
    }

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
mod tests;
