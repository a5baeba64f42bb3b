//! Fault reasons: the FR field of a fault recording register (rev 5.10 Table 30), for legacy
//! and scalable mode.
//!
//! | FR | Name | Q | Condition | Model |
//! |---|---|---|---|---|
//! | 1h | LRT.2 | no | Legacy root entry not present (P=0) | no (a) |
//! | 2h | LCT.2 | yes | Legacy context entry not present (P=0) | no (a) |
//! | 3h | LCT.4 | yes | Invalid legacy context entry: AW or TT unsupported, or the SSPTPTR fetch failed | no (a) |
//! | 4h | LGN.1 | yes | Input address beyond MGAW, AW or HAW | no (a) |
//! | 5h | LGN.2 | yes | Write without write permission | no (a) |
//! | 6h | LGN.3 | yes | Read without read permission | no (a) |
//! | 7h | LSS.1 | no | Second-stage paging entry access error | no (a) |
//! | 8h | LRT.1 | no | Root table access error | no (a) |
//! | 9h | LCT.1 | no | Context table access error | no (a) |
//! | Ah | LRT.3 | no | Reserved bits set in a legacy root entry | no (a) |
//! | Bh | LCT.3 | yes | Reserved bits set in a legacy context entry | no (a) |
//! | Ch | LSS.2 | yes | Reserved bits set in a second-stage paging entry | no (a) |
//! | Dh | LCT.5 | yes | TT blocks translation requests or translated requests | no (a) |
//! | Eh | LGN.4 | yes | Output address in the interrupt range (FEEx_xxxxh) | no (a) |
//! | 30h | RTA.1 | no | Bad RTADDR programming (TTM=10b, TTM=11b without ADMS, TTM=01b without SMTS, SSIRWE in legacy mode) | yes |
//! | 31h | RTA.2 | no | TTM=00b and the request carries a PASID | yes |
//! | 32h | RTA.3 | no | TTM=00b and a page request arrives | yes |
//! | 33h | RTA.4 | no | Request while in abort-DMA mode (TTM=11b) | no (b) |
//! | 34h | RTA.5 | no | ER=1 request-with-PASID to hardware with major version ≥ 8 | no (c) |
//! | 38h | SRT.1 | no | Scalable-mode root entry access error | yes |
//! | 39h | SRT.2 | no | Root entry LP or UP (the half used) is 0 | yes |
//! | 3Ah | SRT.3 | no | Reserved bits set in a scalable-mode root entry | yes |
//! | 40h | SCT.1 | no | Scalable-mode context entry access error | yes |
//! | 41h | SCT.2 | yes | Context entry not present (P=0) | yes |
//! | 42h | SCT.3 | yes | Reserved bits set in a scalable-mode context entry | yes |
//! | 43h | SCT.4 | yes | Invalid context entry: PRE=1 with DTE=0, EPTR=1 with PASIDE=0, or RID_PASID beyond PDTS | yes |
//! | 44h | SCT.5 | yes | DTE=0 for a translation request or a translated request | yes |
//! | 45h | SCT.6 | yes | PASIDE=0 for a request-with-PASID | yes |
//! | 46h | SCT.7 | yes | PASID beyond the PASID directory size (PDTS) | yes |
//! | 47h | SCT.8 | yes | PRE=0 for a page request | yes |
//! | 48h | SCT.9 | yes | Request-with-PASID whose PASID equals RID_PASID | yes |
//! | 49h | SCT.10 | yes | EPTR=0 for a translated request-with-PASID | yes |
//! | 50h | SPD.1 | no | PASID directory entry access error | yes |
//! | 51h | SPD.2 | yes | PASID directory entry not present (P=0) | yes |
//! | 52h | SPD.3 | yes | Reserved bits set in a PASID directory entry | yes |
//! | 58h | SPT.1 | no | PASID-table entry access error | yes |
//! | 59h | SPT.2 | yes | PASID-table entry not present (P=0) | yes |
//! | 5Ah | SPT.3 | yes | Reserved bits set in a PASID-table entry | yes |
//! | 5Bh | SPT.4 | yes | Invalid PASID-table entry: AW, PGTT or FSPM unsupported, or nested FSPTPTR beyond MGAW | yes |
//! | 5Ch | SPT.5 | yes | ER=1 request with ERS=0 (major version ≤ 7) | yes |
//! | 5Dh | SPT.6 | yes | Supervisor request with SRE=0 | yes |
//! | 60h | SPT.9 | yes | Host permission table size exceeded | no (e) |
//! | 70h | SFS.1 | no | First-stage paging entry access error | yes |
//! | 71h | SFS.2 | yes | First-stage paging entry not present (P=0) | yes |
//! | 72h | SFS.3 | yes | Reserved bits set in a first-stage paging entry | yes |
//! | 73h | SFS.4 | no | Access error fetching the first-stage root (FSPTPTR) | yes |
//! | 74h | SFS.5 | yes | Nested: first-stage ADDR beyond MGAW or AW | yes |
//! | 75h | SFS.6 | yes | Nested: no second-stage read permission for the first-stage root | yes |
//! | 76h | SFS.7 | yes | Nested: no second-stage read permission for a first-stage entry | yes |
//! | 77h | SFS.8 | yes | Nested: no second-stage write permission for a first-stage A/D update | yes |
//! | 78h | SSS.1 | no | Second-stage paging entry access error | yes |
//! | 79h | SSS.2 | yes | Second-stage entry with R=W=0, or the cumulative permissions fail | yes |
//! | 7Ah | SSS.3 | yes | Reserved bits set in a second-stage paging entry | yes |
//! | 7Bh | SSS.4 | no | Access error fetching the second-stage root (SSPTPTR) | yes |
//! | 7Ch | SSS.5 | yes | Second-stage A/D update needed without a snooped walk | no (f) |
//! | 7Dh | SSS.6 | no | Second-stage A/D update failed | yes |
//! | 80h | SGN.1 | yes | Non-canonical input address (first stage) | yes |
//! | 81h | SGN.2 | yes | User request to a supervisor page (U/S) | yes |
//! | 83h | SGN.4 | yes | Address beyond HAW (translated request or pass-through) | yes |
//! | 84h | SGN.5 | yes | Address beyond MGAW or AW (second stage) | yes |
//! | 85h | SGN.6 | yes | Write without write permission | yes |
//! | 86h | SGN.7 | yes | Read without read permission | yes |
//! | 87h | SGN.8 | yes | Output address in the interrupt range | yes |
//! | 89h | SGN.10 | yes | PASID wider than the supported PASID size (PSS) | yes |
//! | 90h | SFS.9 | yes | First-stage A/D update needed without a snooped walk | no (f) |
//! | 91h | SFS.10 | no | First-stage A/D update failed | yes |
//!
//! **Model** says whether the model raises the fault; each one it raises has a test named
//! after it in `tests/fault_reasons`, which also checks this column. Those it does not raise:
//!
//! - (a) Legacy-mode translation is not modelled: with a legacy root table latched every
//!   request faults with RTA.1, or RTA.2 when it carries a PASID (page requests: RTA.3).
//! - (b) The unit has no abort-DMA mode (ECAP.ADMS=0): TTM=11b is bad programming, RTA.1.
//! - (c) VER reports major version 5, so an execute request with a PASID faults with SPT.5.
//! - (e) The unit has no host permission tables (ECAP.HPTS=0).
//! - (f) The unit snoops every page-walk access, PWSNP or not (its memory is coherent), so
//!   an Accessed/Dirty update is never needed without snooping.
//!
//! **Q** says whether the fault is *qualified*: a qualified fault is not recorded when the
//! applicable fault-processing-disable bit is 1 (the context entry's FPD in legacy mode; the
//! context, PASID-directory or PASID-table entry's in scalable mode). The specification's
//! rule is that the access-error faults and the root-table and RTA faults are not qualified
//! and every other fault is. Where a code's text leaves this open the model chooses:
//!
//! - LCT.4 (3h) covers both bad field values and an SSPTPTR fetch error under one code; it is
//!   qualified, since its usual cause is a context entry whose FPD is well defined.
//! - The reserved-bit faults of entries below the root (LCT.3, SCT.3, SPD.3, SPT.3) are
//!   qualified: the entry was fetched, so its FPD bit is available.
//! - The failed-A/D-update faults (SSS.6, SFS.10) are access errors: the atomic update of
//!   memory failed. They are not qualified.
//!
//! The interrupt-remapping reasons (20h–2Bh) and the host-permission-table faults (A0h–A5h)
//! are outside this enumeration.

use std::fmt;

macro_rules! fault_reasons {
    ($( $var:ident = $code:literal, $name:literal, $qualified:literal, $desc:literal; )*) => {
        /// A fault reason: the value of FRCD.FR for a DMA-remapping fault.
        ///
        /// The variants are named after the specification's codes (`Sct2` is SCT.2); each
        /// one's discriminant is its FR value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum FaultReason {
            $(
                #[doc = concat!($name, ": ", $desc, ".")]
                $var = $code,
            )*
        }

        impl FaultReason {
            /// Every fault reason, in order of FR value.
            pub const ALL: &'static [FaultReason] = &[$(FaultReason::$var,)*];

            /// The fault reason whose FR value is `code`, if there is one.
            pub const fn from_code(code: u8) -> Option<FaultReason> {
                match code {
                    $($code => Some(FaultReason::$var),)*
                    _ => None,
                }
            }

            /// The specification's name of the condition, such as `"SCT.2"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(FaultReason::$var => $name,)*
                }
            }

            /// One line saying what the condition is.
            pub const fn description(self) -> &'static str {
                match self {
                    $(FaultReason::$var => $desc,)*
                }
            }

            /// Whether the fault is qualified: suppressed when the applicable FPD bit is 1.
            pub const fn qualified(self) -> bool {
                match self {
                    $(FaultReason::$var => $qualified,)*
                }
            }
        }
    };
}

fault_reasons! {
    Lrt2 = 0x01, "LRT.2", false, "legacy root entry not present";
    Lct2 = 0x02, "LCT.2", true, "legacy context entry not present";
    Lct4 = 0x03, "LCT.4", true, "invalid legacy context entry (AW or TT unsupported, or SSPTPTR fetch error)";
    Lgn1 = 0x04, "LGN.1", true, "input address beyond MGAW, AW or HAW";
    Lgn2 = 0x05, "LGN.2", true, "write without write permission";
    Lgn3 = 0x06, "LGN.3", true, "read without read permission";
    Lss1 = 0x07, "LSS.1", false, "second-stage paging entry access error";
    Lrt1 = 0x08, "LRT.1", false, "root table access error";
    Lct1 = 0x09, "LCT.1", false, "context table access error";
    Lrt3 = 0x0A, "LRT.3", false, "reserved bits set in a legacy root entry";
    Lct3 = 0x0B, "LCT.3", true, "reserved bits set in a legacy context entry";
    Lss2 = 0x0C, "LSS.2", true, "reserved bits set in a second-stage paging entry";
    Lct5 = 0x0D, "LCT.5", true, "translation type blocks translation or translated requests";
    Lgn4 = 0x0E, "LGN.4", true, "output address in the interrupt range";
    Rta1 = 0x30, "RTA.1", false, "bad root table address programming (TTM or SSIRWE)";
    Rta2 = 0x31, "RTA.2", false, "request with PASID in legacy mode";
    Rta3 = 0x32, "RTA.3", false, "page request in legacy mode";
    Rta4 = 0x33, "RTA.4", false, "request in abort-DMA mode";
    Rta5 = 0x34, "RTA.5", false, "execute request with PASID to hardware with major version 8 or later";
    Srt1 = 0x38, "SRT.1", false, "scalable-mode root entry access error";
    Srt2 = 0x39, "SRT.2", false, "scalable-mode root entry half not present (LP or UP is 0)";
    Srt3 = 0x3A, "SRT.3", false, "reserved bits set in a scalable-mode root entry";
    Sct1 = 0x40, "SCT.1", false, "scalable-mode context entry access error";
    Sct2 = 0x41, "SCT.2", true, "scalable-mode context entry not present";
    Sct3 = 0x42, "SCT.3", true, "reserved bits set in a scalable-mode context entry";
    Sct4 = 0x43, "SCT.4", true, "invalid context entry (PRE without DTE, EPTR without PASIDE, or RID_PASID beyond PDTS)";
    Sct5 = 0x44, "SCT.5", true, "device-TLB disabled (DTE=0) for a translation or translated request";
    Sct6 = 0x45, "SCT.6", true, "requests with PASID disabled (PASIDE=0)";
    Sct7 = 0x46, "SCT.7", true, "PASID beyond the PASID directory size";
    Sct8 = 0x47, "SCT.8", true, "page requests disabled (PRE=0)";
    Sct9 = 0x48, "SCT.9", true, "explicit PASID equal to RID_PASID";
    Sct10 = 0x49, "SCT.10", true, "translated requests with PASID disabled (EPTR=0)";
    Spd1 = 0x50, "SPD.1", false, "PASID directory entry access error";
    Spd2 = 0x51, "SPD.2", true, "PASID directory entry not present";
    Spd3 = 0x52, "SPD.3", true, "reserved bits set in a PASID directory entry";
    Spt1 = 0x58, "SPT.1", false, "PASID-table entry access error";
    Spt2 = 0x59, "SPT.2", true, "PASID-table entry not present";
    Spt3 = 0x5A, "SPT.3", true, "reserved bits set in a PASID-table entry";
    Spt4 = 0x5B, "SPT.4", true, "invalid PASID-table entry (AW, PGTT or FSPM unsupported, or nested FSPTPTR beyond MGAW)";
    Spt5 = 0x5C, "SPT.5", true, "execute request with execute requests unsupported";
    Spt6 = 0x5D, "SPT.6", true, "supervisor request with supervisor requests disabled (SRE=0)";
    Spt9 = 0x60, "SPT.9", true, "host permission table size exceeded";
    Sfs1 = 0x70, "SFS.1", false, "first-stage paging entry access error";
    Sfs2 = 0x71, "SFS.2", true, "first-stage paging entry not present";
    Sfs3 = 0x72, "SFS.3", true, "reserved bits set in a first-stage paging entry";
    Sfs4 = 0x73, "SFS.4", false, "access error fetching the first-stage root";
    Sfs5 = 0x74, "SFS.5", true, "nested: first-stage address beyond MGAW or AW";
    Sfs6 = 0x75, "SFS.6", true, "nested: no second-stage read permission for the first-stage root";
    Sfs7 = 0x76, "SFS.7", true, "nested: no second-stage read permission for a first-stage entry";
    Sfs8 = 0x77, "SFS.8", true, "nested: no second-stage write permission for a first-stage A/D update";
    Sss1 = 0x78, "SSS.1", false, "second-stage paging entry access error";
    Sss2 = 0x79, "SSS.2", true, "second-stage entry not present or cumulative permissions fail";
    Sss3 = 0x7A, "SSS.3", true, "reserved bits set in a second-stage paging entry";
    Sss4 = 0x7B, "SSS.4", false, "access error fetching the second-stage root";
    Sss5 = 0x7C, "SSS.5", true, "second-stage A/D update needed without a snooped walk";
    Sss6 = 0x7D, "SSS.6", false, "second-stage A/D update failed";
    Sgn1 = 0x80, "SGN.1", true, "non-canonical input address";
    Sgn2 = 0x81, "SGN.2", true, "user request to a supervisor page";
    Sgn4 = 0x83, "SGN.4", true, "address beyond the host address width";
    Sgn5 = 0x84, "SGN.5", true, "address beyond MGAW or AW";
    Sgn6 = 0x85, "SGN.6", true, "write without write permission";
    Sgn7 = 0x86, "SGN.7", true, "read without read permission";
    Sgn8 = 0x87, "SGN.8", true, "output address in the interrupt range";
    Sgn10 = 0x89, "SGN.10", true, "PASID wider than the supported PASID size";
    Sfs9 = 0x90, "SFS.9", true, "first-stage A/D update needed without a snooped walk";
    Sfs10 = 0x91, "SFS.10", false, "first-stage A/D update failed";
}

impl FaultReason {
    /// The FR value recorded in FRCD for this fault.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Whether the reason belongs to scalable mode (FR 30h and above) rather than legacy mode.
    pub const fn is_scalable(self) -> bool {
        self.code() >= 0x30
    }
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (FR {:#04x}): {}",
            self.name(),
            self.code(),
            self.description()
        )
    }
}

impl std::error::Error for FaultReason {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (FR, name) pair of the specification's tables, written out by hand.
    const TABLE: &[(u8, &str)] = &[
        (0x1, "LRT.2"),
        (0x2, "LCT.2"),
        (0x3, "LCT.4"),
        (0x4, "LGN.1"),
        (0x5, "LGN.2"),
        (0x6, "LGN.3"),
        (0x7, "LSS.1"),
        (0x8, "LRT.1"),
        (0x9, "LCT.1"),
        (0xA, "LRT.3"),
        (0xB, "LCT.3"),
        (0xC, "LSS.2"),
        (0xD, "LCT.5"),
        (0xE, "LGN.4"),
        (0x30, "RTA.1"),
        (0x31, "RTA.2"),
        (0x32, "RTA.3"),
        (0x33, "RTA.4"),
        (0x34, "RTA.5"),
        (0x38, "SRT.1"),
        (0x39, "SRT.2"),
        (0x3A, "SRT.3"),
        (0x40, "SCT.1"),
        (0x41, "SCT.2"),
        (0x42, "SCT.3"),
        (0x43, "SCT.4"),
        (0x44, "SCT.5"),
        (0x45, "SCT.6"),
        (0x46, "SCT.7"),
        (0x47, "SCT.8"),
        (0x48, "SCT.9"),
        (0x49, "SCT.10"),
        (0x50, "SPD.1"),
        (0x51, "SPD.2"),
        (0x52, "SPD.3"),
        (0x58, "SPT.1"),
        (0x59, "SPT.2"),
        (0x5A, "SPT.3"),
        (0x5B, "SPT.4"),
        (0x5C, "SPT.5"),
        (0x5D, "SPT.6"),
        (0x60, "SPT.9"),
        (0x70, "SFS.1"),
        (0x71, "SFS.2"),
        (0x72, "SFS.3"),
        (0x73, "SFS.4"),
        (0x74, "SFS.5"),
        (0x75, "SFS.6"),
        (0x76, "SFS.7"),
        (0x77, "SFS.8"),
        (0x78, "SSS.1"),
        (0x79, "SSS.2"),
        (0x7A, "SSS.3"),
        (0x7B, "SSS.4"),
        (0x7C, "SSS.5"),
        (0x7D, "SSS.6"),
        (0x80, "SGN.1"),
        (0x81, "SGN.2"),
        (0x83, "SGN.4"),
        (0x84, "SGN.5"),
        (0x85, "SGN.6"),
        (0x86, "SGN.7"),
        (0x87, "SGN.8"),
        (0x89, "SGN.10"),
        (0x90, "SFS.9"),
        (0x91, "SFS.10"),
    ];

    #[test]
    fn every_code_of_the_tables_decodes_to_its_name() {
        assert_eq!(FaultReason::ALL.len(), TABLE.len());
        for &(code, name) in TABLE {
            let r = FaultReason::from_code(code).unwrap();
            assert_eq!(r.code(), code);
            assert_eq!(r.name(), name);
            assert!(!r.description().is_empty());
            assert_eq!(r.is_scalable(), code >= 0x30);
        }
    }

    #[test]
    fn codes_outside_the_tables_are_none() {
        for code in 0..=u8::MAX {
            let known = TABLE.iter().any(|&(c, _)| c == code);
            assert_eq!(FaultReason::from_code(code).is_some(), known, "{code:#x}");
            if let Some(r) = FaultReason::from_code(code) {
                assert_eq!(r.code(), code);
            }
        }
        // Reserved or outside: 0, interrupt remapping, 82h (no-execute in rev 3), 88h, HPT.
        for code in [0x0, 0x20, 0x2B, 0x35, 0x4A, 0x5E, 0x82, 0x88, 0x92, 0xA0] {
            assert_eq!(FaultReason::from_code(code), None);
        }
    }

    #[test]
    fn access_errors_and_root_faults_are_not_qualified() {
        let unqualified = [
            0x1, 0x7, 0x8, 0x9, 0xA, 0x30, 0x31, 0x32, 0x33, 0x34, 0x38, 0x39, 0x3A, 0x40, 0x50,
            0x58, 0x70, 0x73, 0x78, 0x7B, 0x7D, 0x91,
        ];
        for &(code, name) in TABLE {
            let r = FaultReason::from_code(code).unwrap();
            assert_eq!(r.qualified(), !unqualified.contains(&code), "{name}");
        }
        assert!(FaultReason::Sct2.qualified());
        assert!(FaultReason::Spt3.qualified());
        assert!(!FaultReason::Srt3.qualified());
    }

    #[test]
    fn display_names_the_code() {
        let s = FaultReason::Sct4.to_string();
        assert!(s.starts_with("SCT.4 (FR 0x43)"), "{s}");
        assert_eq!(FaultReason::Sgn10.code(), 0x89);
        assert_eq!(FaultReason::Lgn4.code(), 0xE);
    }
}
