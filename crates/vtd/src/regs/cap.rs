//! VER_REG, CAP_REG and ECAP_REG (rev 5.10), and the instance parameters they report.

use bitfield_struct::bitfield;
use thiserror::Error;

use super::queue::Vccap;
use super::{FRCD_REG, IVA_REG, MAX_FAULT_RECORDS};

/// VER_REG (000h): architecture version.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct Ver {
    /// Minor version number.
    #[bits(4)]
    pub minor: u8,
    /// Major version number.
    #[bits(4)]
    pub major: u8,
    #[bits(24)]
    __: u32,
}

/// The version this model reports: 5.0, the architecture of specification rev 5.x.
pub const VERSION: Ver = Ver::new().with_major(5).with_minor(0);

/// CAP_REG (008h): capabilities.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Cap {
    /// ND: domain-ID width is 4 + 2·ND bits.
    #[bits(3)]
    pub nd: u8,
    /// Bit 3, reserved (was AFL).
    #[bits(1)]
    __: u8,
    /// RWBF: software must flush the write buffer.
    pub rwbf: bool,
    /// PLMR: protected low-memory region.
    pub plmr: bool,
    /// PHMR: protected high-memory region.
    pub phmr: bool,
    /// CM: caching mode (not-present and erroneous entries may be cached).
    pub cm: bool,
    /// SAGAW: second-stage widths, bit 1 = 39-bit (3-level), bit 2 = 48-bit (4-level),
    /// bit 3 = 57-bit (5-level).
    #[bits(5)]
    pub sagaw: u8,
    #[bits(3)]
    __: u8,
    /// MGAW: maximum guest address width − 1.
    #[bits(6)]
    pub mgaw: u8,
    /// ZLR: zero-length reads to write-only pages are allowed.
    pub zlr: bool,
    /// Bit 23, reads 0 (was ISOCH).
    #[bits(1)]
    __: u8,
    /// FRO: offset of the first fault recording register, in 16-byte units.
    #[bits(10)]
    pub fro: u16,
    /// SSLPS: second-stage large pages, bit 0 = 2 MiB, bit 1 = 1 GiB.
    #[bits(4)]
    pub sslps: u8,
    #[bits(1)]
    __: u8,
    /// PSI: page-selective IOTLB invalidation.
    pub psi: bool,
    /// NFR: number of fault recording registers − 1.
    pub nfr: u8,
    /// MAMV: maximum address mask value of a page-selective IOTLB invalidation.
    #[bits(6)]
    pub mamv: u8,
    /// DWD: write draining (deprecated; reads 1).
    pub dwd: bool,
    /// DRD: read draining (deprecated; reads 1).
    pub drd: bool,
    /// FS1GP: first-stage 1 GiB pages.
    pub fs1gp: bool,
    #[bits(2)]
    __: u8,
    /// PI: posted interrupts.
    pub pi: bool,
    /// FS5LP: first-stage 5-level paging.
    pub fs5lp: bool,
    /// ECMDS: enhanced command interface.
    pub ecmds: bool,
    /// ESIRTPS: SIRTP also invalidates the interrupt-remapping caches.
    pub esirtps: bool,
    /// ESRTPS: SRTP also invalidates every translation cache.
    pub esrtps: bool,
}

/// ECAP_REG (010h): extended capabilities.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Ecap {
    /// C: page-walk coherency for root, context, PASID and interrupt-remapping tables (and
    /// legacy second-stage tables).
    pub c: bool,
    /// QI: queued invalidation.
    pub qi: bool,
    /// DT: device-TLBs (ATS).
    pub dt: bool,
    /// IR: interrupt remapping.
    pub ir: bool,
    /// EIM: extended (x2APIC) interrupt mode.
    pub eim: bool,
    /// Bit 5, reads 0.
    #[bits(1)]
    __: u8,
    /// PT: pass-through.
    pub pt: bool,
    /// SC: snoop control.
    pub sc: bool,
    /// IRO: offset of IVA_REG and IOTLB_REG, in 16-byte units.
    #[bits(10)]
    pub iro: u16,
    #[bits(2)]
    __: u8,
    /// MHMV: maximum handle mask value of an interrupt-entry-cache invalidation.
    #[bits(4)]
    pub mhmv: u8,
    /// Bit 24, reads 0 (was ECS).
    #[bits(1)]
    __: u8,
    /// MTS: memory type support.
    pub mts: bool,
    /// NEST: nested translation.
    pub nest: bool,
    /// Bit 27, reserved (was DIS).
    #[bits(1)]
    __: u8,
    /// Bit 28, reads 0 (was the ECS-era PASID bit).
    #[bits(1)]
    __: u8,
    /// PRS: page requests.
    pub prs: bool,
    /// ERS: execute requests (planned for deprecation; reads 0 here).
    pub ers: bool,
    /// SRS: supervisor requests.
    pub srs: bool,
    #[bits(1)]
    __: u8,
    /// NWFS: no-write flag in translation requests.
    pub nwfs: bool,
    /// EAFS: extended-accessed flag.
    pub eafs: bool,
    /// PSS: PASID width − 1.
    #[bits(5)]
    pub pss: u8,
    /// PASID: requests with a PASID.
    pub pasid: bool,
    /// DIT: device-TLB invalidation throttle.
    pub dit: bool,
    /// PDS: page-request drain (inv_wait_dsc.PD).
    pub pds: bool,
    /// SMTS: scalable-mode translation.
    pub smts: bool,
    /// VCS: virtual command interface.
    pub vcs: bool,
    /// SSADS: second-stage accessed and dirty bits.
    pub ssads: bool,
    /// SSTS: second-stage translation (PGTT 010).
    pub ssts: bool,
    /// FSTS: first-stage translation (PGTT 001).
    pub fsts: bool,
    /// SMPWCS: scalable-mode page-walk coherency.
    pub smpwcs: bool,
    /// RPS: the context entry's RID_PASID.
    pub rps: bool,
    /// TDXCS: TDX Connect.
    pub tdxcs: bool,
    /// PMS: performance monitoring.
    pub pms: bool,
    /// ADMS: abort-DMA mode (TTM 11).
    pub adms: bool,
    /// RPRIVS: the context entry's RID_PRIV.
    pub rprivs: bool,
    #[bits(1)]
    __: u8,
    /// HPTS: host permission tables.
    pub hpts: bool,
    /// PTRS: PASID in translated requests.
    pub ptrs: bool,
    /// SSIRWS: second-stage IR/IW bits.
    pub ssirws: bool,
    /// SMS: stop markers.
    pub sms: bool,
    /// HPT1GPS: host permission table 1 GiB pages.
    pub hpt1gps: bool,
    /// RDTS: RDT configuration register.
    pub rdts: bool,
    /// EIMER: only x2APIC mode is allowed.
    pub eimer: bool,
    /// IRREQ: MSI requests are blocked while interrupt remapping is disabled.
    pub irreq: bool,
    #[bits(1)]
    __: u8,
}

/// The maximum address mask value this model reports: 18, a 1 GiB page.
pub const MAMV: u8 = 18;

/// The maximum handle mask value reported with interrupt remapping.
pub const MHMV: u8 = 0xf;

/// The configurable capabilities of one remapping unit.
///
/// Capabilities that are not listed are fixed: the unit is coherent (C, SMPWCS), needs no
/// write-buffer flush (RWBF=0), has no protected memory regions, posted interrupts, memory
/// types, performance monitoring or enhanced commands, reports no deprecated feature
/// (ERS, DRD and DWD aside, which read 1), and its SRTP invalidates every translation cache
/// (ESRTPS=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VtdParams {
    /// Scalable-mode translation (ECAP.SMTS).
    pub scalable_mode: bool,
    /// PASID width in bits (ECAP.PSS + 1); 0 when requests with a PASID are not supported.
    pub pasid_bits: u8,
    /// First-stage translation with 4-level tables (ECAP.FSTS).
    pub first_stage: bool,
    /// First-stage 5-level tables (CAP.FS5LP; reported only with `first_stage`).
    pub fs_5level: bool,
    /// First-stage 1 GiB pages (CAP.FS1GP; reported only with `first_stage`).
    pub fs_1g: bool,
    /// Second-stage translation in scalable mode (ECAP.SSTS).
    pub second_stage: bool,
    /// Second-stage (and legacy) 3-level, 39-bit tables (CAP.SAGAW bit 1).
    pub ss_3level: bool,
    /// Second-stage (and legacy) 4-level, 48-bit tables (CAP.SAGAW bit 2).
    pub ss_4level: bool,
    /// Second-stage (and legacy) 5-level, 57-bit tables (CAP.SAGAW bit 3).
    pub ss_5level: bool,
    /// Second-stage 2 MiB pages (CAP.SSLPS bit 0).
    pub ss_2m: bool,
    /// Second-stage 1 GiB pages (CAP.SSLPS bit 1; needs `ss_2m`).
    pub ss_1g: bool,
    /// Second-stage accessed and dirty bits (ECAP.SSADS; reported only with
    /// `second_stage`).
    pub ss_ad: bool,
    /// Nested translation (ECAP.NEST).
    pub nesting: bool,
    /// Pass-through (ECAP.PT).
    pub pass_through: bool,
    /// Device-TLBs (ECAP.DT).
    pub device_tlb: bool,
    /// Page requests (ECAP.PRS, with page-request drain, ECAP.PDS).
    pub page_requests: bool,
    /// Queued invalidation (ECAP.QI).
    pub queued_invalidation: bool,
    /// Caching mode (CAP.CM).
    pub caching_mode: bool,
    /// The virtual command interface (ECAP.VCS) with every command in VCCAP.
    pub virtual_command: bool,
    /// Snoop control (ECAP.SC).
    pub snoop_control: bool,
    /// Interrupt remapping with x2APIC mode (ECAP.IR, EIM; CAP.ESIRTPS).
    pub interrupt_remapping: bool,
    /// Number of fault recording registers (CAP.NFR + 1), 1 to [`MAX_FAULT_RECORDS`].
    pub fault_records: u16,
    /// Maximum guest address width (CAP.MGAW + 1), 32 to 57.
    pub mgaw: u8,
    /// Host address width: physical address bits, 32 to 52 (reported by the platform, not
    /// by a register).
    pub haw: u8,
    /// Domain-ID width (4 + 2·CAP.ND): 4, 6, 8, 10, 12, 14 or 16.
    pub domain_id_bits: u8,
}

impl Default for VtdParams {
    /// A modern scalable-mode unit: 48-bit MGAW and HAW, 3- and 4-level second stage,
    /// 4- and 5-level first stage, 20-bit PASIDs, 16-bit domain-IDs, 8 fault records, and
    /// every listed feature except caching mode, the virtual command interface and
    /// interrupt remapping.
    fn default() -> Self {
        Self {
            scalable_mode: true,
            pasid_bits: 20,
            first_stage: true,
            fs_5level: true,
            fs_1g: true,
            second_stage: true,
            ss_3level: true,
            ss_4level: true,
            ss_5level: false,
            ss_2m: true,
            ss_1g: true,
            ss_ad: true,
            nesting: true,
            pass_through: true,
            device_tlb: true,
            page_requests: true,
            queued_invalidation: true,
            caching_mode: false,
            virtual_command: false,
            snoop_control: true,
            interrupt_remapping: false,
            fault_records: 8,
            mgaw: 48,
            haw: 48,
            domain_id_bits: 16,
        }
    }
}

/// Why a set of parameters is not a unit the specification allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParamsError {
    /// A numeric parameter is outside its range.
    #[error("{what} is {value}, outside {min}..={max}")]
    OutOfRange {
        /// The parameter.
        what: &'static str,
        /// Its value.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// The domain-ID width is not 4 + 2·ND.
    #[error("domain-ID width {0} is not 4 + 2·ND bits")]
    DomainIdBits(u8),
    /// A feature is enabled without one it depends on.
    #[error("{feature} needs {needs}")]
    Needs {
        /// The feature enabled.
        feature: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// No second-stage table depth is supported (SAGAW would be 0).
    #[error("no second-stage table depth is enabled")]
    NoSecondStageDepth,
    /// MGAW is wider than the deepest second-stage table translates.
    #[error("MGAW {mgaw} is wider than the deepest second-stage table ({max} bits)")]
    MgawTooWide {
        /// MGAW asked for.
        mgaw: u8,
        /// Input width of the deepest supported table.
        max: u8,
    },
}

fn range(what: &'static str, value: u32, min: u32, max: u32) -> Result<(), ParamsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ParamsError::OutOfRange {
            what,
            value,
            min,
            max,
        })
    }
}

fn needs(ok: bool, feature: &'static str, needs: &'static str) -> Result<(), ParamsError> {
    if ok {
        Ok(())
    } else {
        Err(ParamsError::Needs { feature, needs })
    }
}

impl VtdParams {
    /// Checks that the parameters describe a unit the specification allows.
    pub fn validate(&self) -> Result<(), ParamsError> {
        range(
            "fault_records",
            self.fault_records.into(),
            1,
            MAX_FAULT_RECORDS.into(),
        )?;
        range("mgaw", self.mgaw.into(), 32, 57)?;
        range("haw", self.haw.into(), 32, 52)?;
        range("pasid_bits", self.pasid_bits.into(), 0, 20)?;
        range("domain_id_bits", self.domain_id_bits.into(), 4, 16)?;
        if !self.domain_id_bits.is_multiple_of(2) {
            return Err(ParamsError::DomainIdBits(self.domain_id_bits));
        }
        let deepest = if self.ss_5level {
            57
        } else if self.ss_4level {
            48
        } else if self.ss_3level {
            39
        } else {
            return Err(ParamsError::NoSecondStageDepth);
        };
        if self.mgaw > deepest {
            return Err(ParamsError::MgawTooWide {
                mgaw: self.mgaw,
                max: deepest,
            });
        }
        needs(
            self.ss_2m || !self.ss_1g,
            "1 GiB second-stage pages",
            "2 MiB second-stage pages",
        )?;
        let sm = self.scalable_mode;
        needs(
            self.queued_invalidation || !sm,
            "scalable mode",
            "queued invalidation",
        )?;
        needs(
            sm || !self.first_stage,
            "first-stage translation",
            "scalable mode",
        )?;
        needs(
            sm || !self.second_stage,
            "second-stage translation",
            "scalable mode",
        )?;
        needs(sm || self.pasid_bits == 0, "PASIDs", "scalable mode")?;
        needs(
            !self.nesting || (sm && self.first_stage && self.second_stage),
            "nested translation",
            "scalable mode with first- and second-stage translation",
        )?;
        needs(
            !self.page_requests || (sm && self.device_tlb),
            "page requests",
            "scalable mode and device-TLBs",
        )?;
        needs(
            !self.virtual_command || (sm && self.pasid_bits > 0),
            "the virtual command interface",
            "scalable mode and PASIDs",
        )?;
        Ok(())
    }

    /// The CAP_REG value of this unit.
    pub fn cap(&self) -> Result<Cap, ParamsError> {
        self.validate()?;
        Ok(self.cap_unchecked())
    }

    /// The ECAP_REG value of this unit.
    pub fn ecap(&self) -> Result<Ecap, ParamsError> {
        self.validate()?;
        Ok(self.ecap_unchecked())
    }

    /// The VCCAP_REG value of this unit (0 without the virtual command interface).
    pub fn vccap(&self) -> Vccap {
        let on = self.virtual_command;
        Vccap::new().with_ns(on).with_pas(on).with_fps(on)
    }

    /// CAP_REG from parameters that passed [`VtdParams::validate`].
    pub(crate) fn cap_unchecked(&self) -> Cap {
        let sagaw = u8::from(self.ss_3level) << 1
            | u8::from(self.ss_4level) << 2
            | u8::from(self.ss_5level) << 3;
        let sslps = u8::from(self.ss_2m) | u8::from(self.ss_1g) << 1;
        Cap::new()
            .with_nd((self.domain_id_bits.saturating_sub(4) / 2) & 7)
            .with_cm(self.caching_mode)
            .with_sagaw(sagaw)
            .with_mgaw(self.mgaw.saturating_sub(1) & 0x3f)
            .with_fro((FRCD_REG / 16) as u16)
            .with_sslps(sslps)
            .with_psi(true)
            .with_nfr(self.fault_records.saturating_sub(1).min(255) as u8)
            .with_mamv(MAMV)
            .with_dwd(true)
            .with_drd(true)
            .with_fs1gp(self.first_stage && self.fs_1g)
            .with_fs5lp(self.first_stage && self.fs_5level)
            .with_esirtps(self.interrupt_remapping)
            .with_esrtps(true)
    }

    /// ECAP_REG from parameters that passed [`VtdParams::validate`].
    pub(crate) fn ecap_unchecked(&self) -> Ecap {
        let sm = self.scalable_mode;
        let pasid = sm && self.pasid_bits > 0;
        let ir = self.interrupt_remapping;
        Ecap::new()
            .with_c(true)
            .with_qi(self.queued_invalidation)
            .with_dt(self.device_tlb)
            .with_ir(ir)
            .with_eim(ir)
            .with_pt(self.pass_through)
            .with_sc(self.snoop_control)
            .with_iro((IVA_REG / 16) as u16)
            .with_mhmv(if ir { MHMV } else { 0 })
            .with_nest(self.nesting)
            .with_prs(self.page_requests)
            .with_pss(if pasid {
                (self.pasid_bits - 1) & 0x1f
            } else {
                0
            })
            .with_pasid(pasid)
            .with_pds(self.page_requests)
            .with_smts(sm)
            .with_vcs(self.virtual_command)
            .with_ssads(sm && self.second_stage && self.ss_ad)
            .with_ssts(sm && self.second_stage)
            .with_fsts(sm && self.first_stage)
            .with_smpwcs(sm)
    }
}
