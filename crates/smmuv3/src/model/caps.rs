//! What one SMMU implements, as the ID registers report it: the parameters that decide which
//! STE and CD configurations are legal and how the engine translates.

use softiommu_pgtable::formats::arm::{Granule, oas_bits, oas_encoding};
use thiserror::Error;

/// Hardware updates of the Access flag and dirty state (IDR0.HTTU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Httu {
    /// 00: none; setting CD.HA/HD or STE.S2HA/S2HD is ILLEGAL.
    None,
    /// 01: the Access flag only; HD/S2HD is ILLEGAL.
    Access,
    /// 10: the Access flag and dirty state.
    AccessDirty,
}

/// How faulting transactions may be held (IDR0.STALL_MODEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StallModel {
    /// 00: stall and terminate are both supported; CD.S and STE.S2S choose.
    StallAndTerminate,
    /// 01: terminate only; CD.S=1 or STE.S2S=1 is ILLEGAL.
    TerminateOnly,
    /// 10: stall is forced; CD.S=0 or STE.S2S=0 is ILLEGAL.
    StallForced,
}

/// Capabilities rejected by [`ModelCaps::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unsupported SMMU parameters: {0}")]
pub struct CapsError(pub &'static str);

/// The parameters of one SMMU, as its ID registers give them (the register file maps IDR0,
/// IDR1 and IDR5 onto these fields and back).
///
/// Fixed for this model and therefore not parameters: VMSAv8-64 tables only (IDR0.TTF = 10),
/// little-endian walks only (IDR0.TTENDIAN = 10), 48-bit virtual addresses (IDR5.VAX = 0), no
/// hierarchical-attribute disable (IDR3.HAD = 0), no small translation tables (IDR3.STT = 0),
/// no EL2 stream worlds (IDR0.HYP = 0), no Secure state. The intermediate address size (IAS)
/// equals the OAS, as it does without VMSAv8-32 support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelCaps {
    /// IDR0.S1P: stage-1 translation.
    pub s1p: bool,
    /// IDR0.S2P: stage-2 translation. With both stages, nested translation (STE.Config 111)
    /// is supported, as the architecture requires.
    pub s2p: bool,
    /// IDR1.SIDSIZE: StreamID bits (0 to 32).
    pub sid_bits: u8,
    /// IDR1.SSIDSIZE: SubstreamID bits (0 to 20); 0 means no substreams.
    pub ssid_bits: u8,
    /// IDR5.OAS decoded: output (and intermediate) address bits, 32 to 48.
    pub oas_bits: u8,
    /// IDR5.GRAN4K: 4 KiB translation granule.
    pub gran4k: bool,
    /// IDR5.GRAN16K: 16 KiB translation granule.
    pub gran16k: bool,
    /// IDR5.GRAN64K: 64 KiB translation granule.
    pub gran64k: bool,
    /// IDR0.HTTU: hardware Access flag and dirty state updates.
    pub httu: Httu,
    /// IDR0.ST_LEVEL = 01: two-level stream tables.
    pub two_level_ste: bool,
    /// IDR0.CD2L: two-level CD tables.
    pub two_level_cd: bool,
    /// IDR0.ATS: PCIe ATS (STE.EATS is IGNORED without it).
    pub ats: bool,
    /// IDR0.NS1ATS = 0: split-stage ATS (STE.EATS = 10) is supported.
    pub split_ats: bool,
    /// IDR0.ASID16: 16-bit ASIDs (otherwise CD.ASID\[15:8\] must be zero).
    pub asid16: bool,
    /// IDR0.VMID16: 16-bit VMIDs (otherwise STE.S2VMID\[15:8\] must be zero).
    pub vmid16: bool,
    /// IDR0.STALL_MODEL.
    pub stall_model: StallModel,
    /// IDR0.TERM_MODEL = 1: terminated transactions always abort; CD.A = 0 is ILLEGAL.
    pub term_abort: bool,
}

impl Default for ModelCaps {
    /// Everything the model can do: both stages, 16-bit StreamIDs, 20-bit SubstreamIDs, a
    /// 48-bit OAS, all three granules, Access flag and dirty updates, two-level stream and CD
    /// tables, ATS with split stages, 16-bit ASIDs and VMIDs, stall and terminate, abort on
    /// termination.
    fn default() -> Self {
        ModelCaps {
            s1p: true,
            s2p: true,
            sid_bits: 16,
            ssid_bits: 20,
            oas_bits: 48,
            gran4k: true,
            gran16k: true,
            gran64k: true,
            httu: Httu::AccessDirty,
            two_level_ste: true,
            two_level_cd: true,
            ats: true,
            split_ats: true,
            asid16: true,
            vmid16: true,
            stall_model: StallModel::StallAndTerminate,
            term_abort: true,
        }
    }
}

impl ModelCaps {
    /// Refuses parameters the model cannot take: an OAS other than 32, 36, 40, 42, 44 or 48
    /// bits, more than 32 StreamID or 20 SubstreamID bits, no granule, or no stage at all.
    pub fn check(&self) -> Result<(), CapsError> {
        match oas_encoding(self.oas_bits) {
            Some(_) if self.oas_bits <= 48 => {}
            _ => return Err(CapsError("OAS must be 32, 36, 40, 42, 44 or 48 bits")),
        }
        if self.sid_bits > 32 {
            return Err(CapsError("at most 32 StreamID bits"));
        }
        if self.ssid_bits > 20 {
            return Err(CapsError("at most 20 SubstreamID bits"));
        }
        if !(self.gran4k || self.gran16k || self.gran64k) {
            return Err(CapsError("at least one translation granule"));
        }
        if !(self.s1p || self.s2p) {
            return Err(CapsError("at least one translation stage"));
        }
        Ok(())
    }

    /// Whether STE.Config 111 (stage 1 nested over stage 2) is legal: both stages exist.
    pub const fn nesting(&self) -> bool {
        self.s1p && self.s2p
    }

    /// The intermediate address size: the OAS (VMSAv8-32 is not implemented).
    pub const fn ias_bits(&self) -> u8 {
        self.oas_bits
    }

    /// Whether translation tables of granule `g` are supported (IDR5.GRANxx).
    pub const fn granule_supported(&self, g: Granule) -> bool {
        match g {
            Granule::K4 => self.gran4k,
            Granule::K16 => self.gran16k,
            Granule::K64 => self.gran64k,
        }
    }

    /// The effective output width of a CD.IPS or STE.S2PS encoding: min(encoding, OAS), with
    /// the reserved 111 behaving as 110 (52 bits) before the cap.
    #[inline]
    pub fn effective_ps(&self, encoding: u8) -> u8 {
        let bits = oas_bits(encoding.min(6)).unwrap_or(52);
        bits.min(self.oas_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_parameters_are_refused() {
        let c = ModelCaps::default();
        assert_eq!(c.check(), Ok(()));
        assert!(c.nesting());
        assert_eq!(c.ias_bits(), 48);
        for (field, bad) in [
            ("oas", ModelCaps { oas_bits: 52, ..c }),
            ("oas", ModelCaps { oas_bits: 39, ..c }),
            ("sid", ModelCaps { sid_bits: 33, ..c }),
            ("ssid", ModelCaps { ssid_bits: 21, ..c }),
            (
                "granule",
                ModelCaps {
                    gran4k: false,
                    gran16k: false,
                    gran64k: false,
                    ..c
                },
            ),
            (
                "stage",
                ModelCaps {
                    s1p: false,
                    s2p: false,
                    ..c
                },
            ),
        ] {
            assert!(bad.check().is_err(), "{field}");
        }
        let s1 = ModelCaps { s2p: false, ..c };
        assert!(s1.check().is_ok() && !s1.nesting());
    }

    #[test]
    fn effective_output_size_is_capped_to_the_oas() {
        let c = ModelCaps {
            oas_bits: 40,
            ..ModelCaps::default()
        };
        assert_eq!(c.effective_ps(0), 32);
        assert_eq!(c.effective_ps(2), 40);
        assert_eq!(c.effective_ps(5), 40);
        assert_eq!(c.effective_ps(7), 40);
        let wide = ModelCaps::default();
        assert_eq!(wide.effective_ps(6), 48);
        assert_eq!(wide.effective_ps(7), 48);
        assert_eq!(wide.effective_ps(3), 42);
        assert!(wide.granule_supported(Granule::K16));
        let only4k = ModelCaps {
            gran16k: false,
            gran64k: false,
            ..wide
        };
        assert!(!only4k.granule_supported(Granule::K64));
    }
}
