//! The configurable capabilities of one SMMU and the ID register values they give.

use softiommu_pgtable::formats::arm::oas_encoding;
use thiserror::Error;

use super::idr::{
    Httu, Idr0, Idr1, Idr2, Idr3, Idr5, ST_LEVEL_TWO, StallModel, TTENDIAN_LITTLE, TTF_AARCH64,
};
use crate::queue::MAX_LOG2SIZE;

/// The configurable capabilities of one SMMU.
///
/// Fixed for every instance: AArch64 tables only (IDR0.TTF = 0b10), little-endian walks
/// (TTENDIAN = 0b10), no broadcast TLB maintenance, ATOS, VATOS, VMID wildcards, dormant hint,
/// RME, MPAM, ECMDQ or preset tables and queues, no attribute overrides, 48-bit virtual
/// addresses, and no split-stage ATS (IDR0.NS1ATS = 1 where ATS meets both stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SmmuParams {
    /// Stage 1 translation (IDR0.S1P).
    pub stage1: bool,
    /// Stage 2 translation (IDR0.S2P). With `stage1`, nested translation too.
    pub stage2: bool,
    /// Hypervisor stage 1 contexts and the `CMD_TLBI_EL2_*` commands (IDR0.Hyp; needs both
    /// stages).
    pub hyp: bool,
    /// Two-level stream tables (IDR0.ST_LEVEL = 0b01); required when `sid_bits` ≥ 7.
    pub two_level_stream_table: bool,
    /// Two-level context descriptor tables (IDR0.CD2L; needs `stage1`).
    pub two_level_cd: bool,
    /// StreamID width, 0 to 32 (IDR1.SIDSIZE).
    pub sid_bits: u8,
    /// SubstreamID (PASID) width, 0 to 20 (IDR1.SSIDSIZE); 0 = no substreams.
    pub ssid_bits: u8,
    /// PCIe ATS (IDR0.ATS).
    pub ats: bool,
    /// The page request interface and its queue (IDR0.PRI; needs `ats`).
    pub pri: bool,
    /// Fault models offered (IDR0.STALL_MODEL); not [`StallModel::Reserved`].
    pub stall_model: StallModel,
    /// Terminated transactions are always aborted, CD.A must be 1 (IDR0.TERM_MODEL).
    pub terminate_aborts: bool,
    /// 4 KiB granule (IDR5.GRAN4K).
    pub gran4k: bool,
    /// 16 KiB granule (IDR5.GRAN16K).
    pub gran16k: bool,
    /// 64 KiB granule (IDR5.GRAN64K).
    pub gran64k: bool,
    /// Output (physical) address width in bits: 32, 36, 40, 42, 44 or 48 (IDR5.OAS).
    pub oas_bits: u8,
    /// Hardware Access flag and dirty state updates (IDR0.HTTU).
    pub httu: Httu,
    /// Message-signalled interrupts, including the `CMD_SYNC` MSI write (IDR0.MSI).
    pub msi: bool,
    /// WFE wake-up events, `CMD_SYNC` with CS = SIG_SEV (IDR0.SEV).
    pub sev: bool,
    /// Coherent access to tables, queues and MSIs (IDR0.COHACC).
    pub coherent: bool,
    /// 16-bit ASIDs (IDR0.ASID16).
    pub asid16: bool,
    /// 16-bit VMIDs (IDR0.VMID16).
    pub vmid16: bool,
    /// Range-based TLB invalidation and the level hint (IDR3.RIL).
    pub range_invalidation: bool,
    /// log2 of the largest command queue, at most 19 (IDR1.CMDQS).
    pub cmdq_log2: u8,
    /// log2 of the largest event queue, at most 19 (IDR1.EVENTQS).
    pub evtq_log2: u8,
    /// log2 of the largest PRI queue, at most 19 (IDR1.PRIQS; reported as 0 without `pri`).
    pub priq_log2: u8,
    /// Most stalled transactions outstanding at once (IDR5.STALL_MAX; reported as 0 without
    /// stalls).
    pub stall_max: u16,
}

impl SmmuParams {
    /// A full-featured SMMU: both stages (and so nesting) with EL2 contexts, two-level stream
    /// and CD tables, 16-bit StreamIDs, 20-bit SubstreamIDs, ATS and PRI, stall and terminate
    /// models (terminated transactions abort), all three granules, 48-bit output, Access flag
    /// and dirty updates, MSIs, coherent access, 16-bit ASIDs and VMIDs, range invalidation and
    /// queues of up to 2^19 entries.
    pub const fn full() -> SmmuParams {
        SmmuParams {
            stage1: true,
            stage2: true,
            hyp: true,
            two_level_stream_table: true,
            two_level_cd: true,
            sid_bits: 16,
            ssid_bits: 20,
            ats: true,
            pri: true,
            stall_model: StallModel::StallAndTerminate,
            terminate_aborts: true,
            gran4k: true,
            gran16k: true,
            gran64k: true,
            oas_bits: 48,
            httu: Httu::AccessDirty,
            msi: true,
            sev: false,
            coherent: true,
            asid16: true,
            vmid16: true,
            range_invalidation: true,
            cmdq_log2: MAX_LOG2SIZE,
            evtq_log2: MAX_LOG2SIZE,
            priq_log2: MAX_LOG2SIZE,
            stall_max: 64,
        }
    }

    /// A minimal SMMU: stage 1 only, a linear stream table of 6-bit StreamIDs, one CD per
    /// stream, no ATS, PRI or stalls, the 4 KiB granule, 40-bit output, no hardware table
    /// updates, wired interrupts only, non-coherent, 8-bit ASIDs, no range invalidation, a
    /// 256-entry command queue and a 128-entry event queue.
    pub const fn minimal() -> SmmuParams {
        SmmuParams {
            stage1: true,
            stage2: false,
            hyp: false,
            two_level_stream_table: false,
            two_level_cd: false,
            sid_bits: 6,
            ssid_bits: 0,
            ats: false,
            pri: false,
            stall_model: StallModel::TerminateOnly,
            terminate_aborts: true,
            gran4k: true,
            gran16k: false,
            gran64k: false,
            oas_bits: 40,
            httu: Httu::None,
            msi: false,
            sev: false,
            coherent: false,
            asid16: false,
            vmid16: false,
            range_invalidation: false,
            cmdq_log2: 8,
            evtq_log2: 7,
            priq_log2: 0,
            stall_max: 0,
        }
    }

    /// Whether nested (stage 1 then stage 2) translation is available: both stages are.
    pub const fn nesting(&self) -> bool {
        self.stage1 && self.stage2
    }

    /// Checks that the parameters describe an SMMU the specification (and this model)
    /// allows.
    pub fn validate(&self) -> Result<(), ParamsError> {
        let widths = [
            ("sid_bits", self.sid_bits, 32),
            ("ssid_bits", self.ssid_bits, 20),
            ("cmdq_log2", self.cmdq_log2, MAX_LOG2SIZE),
            ("evtq_log2", self.evtq_log2, MAX_LOG2SIZE),
            ("priq_log2", self.priq_log2, MAX_LOG2SIZE),
        ];
        if let Some(&(what, value, max)) = widths.iter().find(|w| w.1 > w.2) {
            return Err(ParamsError::OutOfRange {
                what,
                value,
                min: 0,
                max,
            });
        }
        if oas_encoding(self.oas_bits).is_none() || self.oas_bits > 48 {
            return Err(ParamsError::Oas(self.oas_bits));
        }
        if self.stall_model == StallModel::Reserved {
            return Err(ParamsError::ReservedStallModel);
        }
        // (holds, feature, what it needs)
        let rules = [
            (self.stage1 || self.stage2, "an SMMU", "stage 1 or stage 2"),
            (
                !self.hyp || self.nesting(),
                "EL2 contexts",
                "stage 1 and stage 2",
            ),
            (
                self.two_level_stream_table || self.sid_bits < 7,
                "StreamIDs of 7 bits or more",
                "two-level stream tables",
            ),
            (
                !self.two_level_cd || self.stage1,
                "two-level CD tables",
                "stage 1",
            ),
            (!self.pri || self.ats, "PRI", "ATS"),
            (
                self.gran4k || self.gran16k || self.gran64k,
                "an SMMU",
                "a translation granule",
            ),
        ];
        match rules.iter().find(|r| !r.0) {
            Some(&(_, feature, needs)) => Err(ParamsError::Needs { feature, needs }),
            None => Ok(()),
        }
    }

    /// The IDR0 value.
    pub fn idr0(&self) -> Idr0 {
        Idr0::new()
            .with_s2p(self.stage2)
            .with_s1p(self.stage1)
            .with_ttf(TTF_AARCH64)
            .with_cohacc(self.coherent)
            .with_httu(self.httu)
            .with_hyp(self.hyp && self.nesting())
            .with_ats(self.ats)
            .with_ns1ats(self.ats && self.nesting())
            .with_asid16(self.asid16)
            .with_msi(self.msi)
            .with_sev(self.sev)
            .with_pri(self.pri && self.ats)
            .with_vmid16(self.vmid16)
            .with_cd2l(self.two_level_cd && self.stage1)
            .with_ttendian(TTENDIAN_LITTLE)
            .with_stall_model(self.stall_model)
            .with_term_model(self.terminate_aborts)
            .with_st_level(if self.two_level_stream_table {
                ST_LEVEL_TWO
            } else {
                0
            })
    }

    /// The IDR1 value.
    pub fn idr1(&self) -> Idr1 {
        Idr1::new()
            .with_sidsize(self.sid_bits.min(32))
            .with_ssidsize(self.ssid_bits.min(20))
            .with_priqs(if self.pri {
                self.priq_log2.min(MAX_LOG2SIZE)
            } else {
                0
            })
            .with_eventqs(self.evtq_log2.min(MAX_LOG2SIZE))
            .with_cmdqs(self.cmdq_log2.min(MAX_LOG2SIZE))
    }

    /// The IDR2 value (no VATOS page).
    pub fn idr2(&self) -> Idr2 {
        Idr2::new()
    }

    /// The IDR3 value.
    pub fn idr3(&self) -> Idr3 {
        Idr3::new().with_ril(self.range_invalidation)
    }

    /// The IDR5 value.
    pub fn idr5(&self) -> Idr5 {
        let stall_max = if self.stall_model.stalls() {
            self.stall_max
        } else {
            0
        };
        Idr5::new()
            .with_oas(oas_encoding(self.oas_bits).unwrap_or(0) & 7)
            .with_gran4k(self.gran4k)
            .with_gran16k(self.gran16k)
            .with_gran64k(self.gran64k)
            .with_stall_max(stall_max)
    }

    /// The mask of physical address bits below the output size.
    pub(crate) fn oas_mask(&self) -> u64 {
        let bits = u32::from(self.oas_bits.min(63));
        (1u64 << bits) - 1
    }
}

impl Default for SmmuParams {
    /// [`SmmuParams::full`].
    fn default() -> Self {
        SmmuParams::full()
    }
}

/// Why a set of parameters is not an SMMU the specification (or this model) allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParamsError {
    /// A numeric parameter is outside its range.
    #[error("{what} is {value}, outside {min}..={max}")]
    OutOfRange {
        /// The parameter.
        what: &'static str,
        /// Its value.
        value: u8,
        /// Smallest allowed value.
        min: u8,
        /// Largest allowed value.
        max: u8,
    },
    /// The output size has no OAS encoding, or is 52 bits (the walker does not do 52-bit
    /// output).
    #[error("output address size {0} is not 32, 36, 40, 42, 44 or 48 bits")]
    Oas(u8),
    /// The stall model is the reserved encoding 0b11.
    #[error("the stall model 0b11 is reserved")]
    ReservedStallModel,
    /// A feature is enabled without one it depends on.
    #[error("{feature} needs {needs}")]
    Needs {
        /// The feature enabled.
        feature: &'static str,
        /// What it needs.
        needs: &'static str,
    },
}
