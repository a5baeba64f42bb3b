//! What the SMMU can do, as the driver read it from the ID registers at bring-up, and the
//! table formats it chooses and accepts from that.

use softiommu_core::{CoreError, HwError, Result};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::{Granule, oas_bits};
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};

use crate::regs::{Httu, Idr0, Idr1, Idr3, Idr5, ST_LEVEL_TWO, StallModel, TTENDIAN_LITTLE};

/// The ID registers, and what the driver derives from them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hw {
    pub(super) idr0: Idr0,
    pub(super) idr1: Idr1,
    pub(super) idr3: Idr3,
    pub(super) idr5: Idr5,
    /// Output address size in bits.
    pub(super) oas: u8,
    /// ASID width (8 or 16).
    pub(super) asid_bits: u8,
    /// VMID width (8 or 16).
    pub(super) vmid_bits: u8,
    /// The OS page size: the granule of new domains where the SMMU has it.
    pub(super) page: Granule,
}

/// Stage-1 input width of the driver's domains (Linux's VA_BITS for the device's page
/// tables).
pub(super) const S1_IA_BITS: u8 = 48;
/// Stage-2 input width of nesting parents: a guest's IPA space.
pub(super) const S2_IA_BITS: u8 = 40;

/// Largest log2 of a queue's entries IDR1 may report (CMDQS, EVENTQS, PRIQS).
const MAX_QUEUE_LOG2: u8 = 19;

/// Refuses IDR0/IDR1 values no conforming SMMU reports: reserved encodings and widths beyond
/// the architecture's.
fn check_ids(idr0: Idr0, idr1: Idr1) -> Result<()> {
    let bad = |register, value: u32, why| {
        Err(CoreError::Hardware(HwError::BadRegister {
            register,
            value: u64::from(value),
            why,
        }))
    };
    let (i0, i1) = (idr0.into_bits(), idr1.into_bits());
    if idr0.ttendian() == 1 {
        return bad("IDR0", i0, "TTENDIAN 0b01 is reserved");
    }
    if idr0.stall_model() == StallModel::Reserved {
        return bad("IDR0", i0, "STALL_MODEL 0b11 is reserved");
    }
    if idr0.st_level() > ST_LEVEL_TWO {
        return bad("IDR0", i0, "ST_LEVEL above 0b01 is reserved");
    }
    if idr1.sidsize() > 32 {
        return bad("IDR1", i1, "SIDSIZE above 32");
    }
    if idr1.ssidsize() > 20 {
        return bad("IDR1", i1, "SSIDSIZE above 20");
    }
    if idr1.cmdqs().max(idr1.eventqs()).max(idr1.priqs()) > MAX_QUEUE_LOG2 {
        return bad("IDR1", i1, "a queue size above 2^19 entries");
    }
    Ok(())
}

impl Hw {
    /// The ID registers as read.
    pub(super) fn new(idr0: Idr0, idr1: Idr1, idr3: Idr3, idr5: Idr5, page: Granule) -> Result<Hw> {
        check_ids(idr0, idr1)?;
        if !matches!(idr0.ttendian(), 0 | TTENDIAN_LITTLE) {
            return Err(CoreError::NotSupported(
                "little-endian translation tables (IDR0.TTENDIAN)",
            ));
        }
        if idr0.ttf() & 0b10 == 0 {
            return Err(CoreError::NotSupported(
                "AArch64 translation tables (IDR0.TTF)",
            ));
        }
        if !idr0.s1p() && !idr0.s2p() {
            return Err(CoreError::NotSupported(
                "a translation stage (IDR0.S1P/S2P)",
            ));
        }
        let oas = oas_bits(idr5.oas())
            .ok_or(CoreError::NotSupported("the output size IDR5.OAS reports"))?;
        Ok(Hw {
            idr0,
            idr1,
            idr3,
            idr5,
            oas: oas.min(48),
            asid_bits: if idr0.asid16() { 16 } else { 8 },
            vmid_bits: if idr0.vmid16() { 16 } else { 8 },
            page,
        })
    }

    /// StreamID width.
    pub(super) fn sid_bits(&self) -> u8 {
        self.idr1.sidsize().min(32)
    }

    /// SubstreamID (PASID) width; 0 without stage 1, where CDs are never used.
    pub(super) fn ssid_bits(&self) -> u8 {
        if self.idr0.s1p() {
            self.idr1.ssidsize().min(20)
        } else {
            0
        }
    }

    /// Two-level stream tables are available.
    pub(super) fn two_level_st(&self) -> bool {
        self.idr0.st_level() == ST_LEVEL_TWO
    }

    /// Stalls are the only fault model (then CD.S must be 1); Linux does not take such an
    /// SMMU for PCI devices, and neither does this driver.
    pub(super) fn stall_forced(&self) -> bool {
        self.idr0.stall_model() == StallModel::StallForced
    }

    /// Faults can stall (IDR0.STALL_MODEL 00 or 10: Linux's ARM_SMMU_FEAT_STALLS): a stage-1
    /// STE of a master that is not stall-enabled (no PCI device is) disables stalls with
    /// S1STALLD.
    pub(super) fn stalls(&self) -> bool {
        self.idr0.stall_model().stalls()
    }

    /// Whether `g` is a granule the SMMU walks.
    pub(super) fn granule_ok(&self, g: Granule) -> bool {
        match g {
            Granule::K4 => self.idr5.gran4k(),
            Granule::K16 => self.idr5.gran16k(),
            Granule::K64 => self.idr5.gran64k(),
        }
    }

    /// The granule of new domains: the OS page size where the SMMU has it, else the smallest
    /// it has.
    pub(super) fn granule(&self) -> Result<Granule> {
        [self.page, Granule::K4, Granule::K16, Granule::K64]
            .into_iter()
            .find(|&g| self.granule_ok(g))
            .ok_or(CoreError::NotSupported("a translation granule (IDR5)"))
    }

    /// Page sizes the driver's domains map with: the granule and its block sizes.
    pub(super) fn page_sizes(&self) -> u64 {
        let mut s = 0;
        if self.idr5.gran4k() {
            s |= (1 << 12) | (1 << 21) | (1 << 30);
        }
        if self.idr5.gran16k() {
            s |= (1 << 14) | (1 << 25);
        }
        if self.idr5.gran64k() {
            s |= (1 << 16) | (1 << 29);
        }
        s
    }

    /// The SMMU updates the dirty state of stage-1 leaves (IDR0.HTTU of 0b10 or more), with
    /// accesses to the tables coherent with the CPU's (IDR0.COHACC), as Linux requires before
    /// it lets hardware write the tables it reads and clears.
    pub(super) fn dirty_ok(&self) -> bool {
        self.idr0.s1p()
            && self.idr0.cohacc()
            && matches!(self.idr0.httu(), Httu::AccessDirty | Httu::AccessDirtyTable)
    }

    /// The stage-1 format of new paging domains; with `dirty`, one the SMMU marks dirty
    /// (CD.HA and CD.HD, writable leaves mapped writable-clean).
    pub(super) fn s1_format(&self, dirty: bool) -> Result<AnyFormat> {
        if !self.idr0.s1p() {
            return Err(CoreError::NotSupported("stage-1 translation"));
        }
        if dirty && !self.dirty_ok() {
            return Err(CoreError::NotSupported(
                "coherent hardware dirty-state updates (IDR0.HTTU, COHACC)",
            ));
        }
        Ok(ArmS1::new(ArmS1Config {
            granule: self.granule()?,
            ia_bits: S1_IA_BITS,
            oa_bits: self.oas,
            ha: dirty,
            hd: dirty,
        })?
        .into())
    }

    /// The stage-2 format of new paging domains (nesting parents, or every domain of a
    /// stage-2-only SMMU).
    pub(super) fn s2_format(&self) -> Result<AnyFormat> {
        if !self.idr0.s2p() {
            return Err(CoreError::NotSupported("stage-2 translation"));
        }
        let ia = S2_IA_BITS.min(self.oas);
        Ok(ArmS2::new(ArmS2Config::auto(self.granule()?, ia, self.oas)?)?.into())
    }

    /// Whether the SMMU walks the stage-1 table format `f`; the reason when not.
    pub(super) fn check_s1(&self, f: &AnyFormat) -> std::result::Result<ArmS1, &'static str> {
        let AnyFormat::ArmS1(f) = f else {
            return Err("a stage-1 table must be in the Arm VMSAv8-64 stage-1 format");
        };
        if !self.idr0.s1p() {
            return Err("no stage-1 translation (IDR0.S1P)");
        }
        let c = f.config();
        if !self.granule_ok(c.granule) {
            return Err("a granule this SMMU does not walk (IDR5)");
        }
        if c.oa_bits > self.oas {
            return Err("output wider than this SMMU's OAS");
        }
        if c.ha && self.idr0.httu() == Httu::None {
            return Err("no hardware Access flag updates (IDR0.HTTU)");
        }
        if c.ha && c.hd && !self.dirty_ok() {
            return Err("no coherent hardware dirty-state updates (IDR0.HTTU, COHACC)");
        }
        Ok(f.clone())
    }

    /// Whether the SMMU walks the stage-2 table format `f`; the reason when not.
    pub(super) fn check_s2(&self, f: &AnyFormat) -> std::result::Result<ArmS2, &'static str> {
        let AnyFormat::ArmS2(f) = f else {
            return Err("a stage-2 table must be in the Arm VMSAv8-64 stage-2 format");
        };
        if !self.idr0.s2p() {
            return Err("no stage-2 translation (IDR0.S2P)");
        }
        let c = f.config();
        if !self.granule_ok(c.granule) {
            return Err("a granule this SMMU does not walk (IDR5)");
        }
        if c.oa_bits > self.oas || c.ia_bits > self.oas {
            return Err("addresses wider than this SMMU's OAS");
        }
        Ok(f.clone())
    }
}
