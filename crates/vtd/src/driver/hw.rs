//! What the unit can do, as the driver read it at bring-up, and the table formats it chooses
//! from that.

use softiommu_core::{CoreError, HwError, Result};
use softiommu_pgtable::Format;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};

use crate::regs::{Cap, Ecap};

/// Refuses CAP/ECAP values no conforming unit reports: reserved encodings, widths beyond
/// the architecture's, and capabilities that contradict each other.
pub(super) fn check_ids(cap: Cap, ecap: Ecap) -> Result<()> {
    let bad = |register, value, why| {
        Err(CoreError::Hardware(HwError::BadRegister {
            register,
            value,
            why,
        }))
    };
    let (c, e) = (cap.into_bits(), ecap.into_bits());
    if cap.nd() == 7 {
        return bad("CAP", c, "ND 7 is reserved");
    }
    if !matches!(cap.sslps(), 0 | 1 | 3) {
        return bad("CAP", c, "SSLPS other than 0000, 0001 or 0011");
    }
    if cap.rwbf() && ecap.smts() {
        return bad("CAP", c, "RWBF with ECAP.SMTS");
    }
    if ecap.pasid() && ecap.pss() > 19 {
        return bad("ECAP", e, "PASID width above 20 bits");
    }
    if ecap.nest() && !(ecap.fsts() && ecap.ssts()) {
        return bad("ECAP", e, "NEST without both FSTS and SSTS");
    }
    if ecap.smts() && !ecap.qi() {
        return bad("ECAP", e, "SMTS without QI");
    }
    Ok(())
}

/// What the unit reports, as the driver read it at bring-up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hw {
    pub(super) cap: Cap,
    pub(super) ecap: Ecap,
    /// Host address width.
    pub(super) haw: u8,
    /// CAP.MGAW + 1.
    pub(super) mgaw: u8,
    /// PASID width (0 without ECAP.PASID).
    pub(super) pasid_bits: u8,
    /// Second-stage levels of new paging domains.
    pub(super) ss_levels: Option<u8>,
    /// Domain-ID width.
    pub(super) did_bits: u8,
}

impl Hw {
    /// The AW field of first-stage, pass-through and SVA PASID entries, as Linux fills it
    /// (its `iommu->agaw`): the deepest second-stage table SAGAW reports, up to 57 bits
    /// (1 = 39-bit, 2 = 48-bit, 3 = 57-bit); 0 when SAGAW reports none. The unit does not
    /// walk these entries' AW.
    pub(super) fn agaw(&self) -> u8 {
        (1..=3u8)
            .rev()
            .find(|&b| self.cap.sagaw() & (1 << b) != 0)
            .unwrap_or(0)
    }

    /// PWSNP of every PASID entry: the unit snoops its scalable-mode page walks
    /// (ECAP.SMPWCS, Linux's `ecap_smpwc`), so its walks see the CPU's writes to the tables
    /// without a cache flush. Without SMPWCS the bit is reserved.
    pub(super) fn pwsnp(&self) -> bool {
        self.ecap.smpwcs()
    }

    pub(super) fn ss_sizes(&self) -> u64 {
        let mut s = 1 << 12;
        if self.cap.sslps() & 1 != 0 {
            s |= 1 << 21;
            if self.cap.sslps() & 2 != 0 {
                s |= 1 << 30;
            }
        }
        s
    }

    pub(super) fn fs_sizes(&self) -> u64 {
        (1 << 12) | (1 << 21) | if self.cap.fs1gp() { 1 << 30 } else { 0 }
    }

    pub(super) fn ss_format(&self, dirty: bool) -> Result<AnyFormat> {
        let levels = self
            .ss_levels
            .ok_or(CoreError::NotSupported("second-stage translation"))?;
        Ok(VtdSs::new(VtdSsConfig {
            levels,
            haw: self.haw,
            pages_2m: self.cap.sslps() & 1 != 0,
            pages_1g: self.cap.sslps() & 3 == 3,
            snoop_ctl: self.ecap.sc(),
            ad: dirty,
        })?
        .into())
    }

    pub(super) fn fs_format(&self) -> Result<AnyFormat> {
        Ok(X86::new(X86Config {
            levels: 4,
            haw: self.haw,
            pages_1g: self.cap.fs1gp(),
            wpe: false,
            dirty_tracking: false,
        })?
        .into())
    }

    /// Whether the unit walks first-stage tables of `format`; the reason when not.
    pub(super) fn check_fs(&self, format: &AnyFormat) -> std::result::Result<u8, &'static str> {
        let AnyFormat::X86(f) = format else {
            return Err("a first-stage table must be in the x86-64 format");
        };
        if !self.ecap.fsts() {
            return Err("no first-stage translation");
        }
        let c = f.config();
        if c.levels == 5 && !self.cap.fs5lp() {
            return Err("5-level first-stage tables not supported");
        }
        if c.pages_1g && !self.cap.fs1gp() {
            return Err("first-stage 1 GiB pages not supported");
        }
        if c.haw > self.haw {
            return Err("output width wider than this unit's");
        }
        Ok(c.levels)
    }

    /// Whether the unit walks second-stage tables of `format`; the reason when not.
    pub(super) fn check_ss(
        &self,
        format: &AnyFormat,
    ) -> std::result::Result<VtdSsConfig, &'static str> {
        let AnyFormat::VtdSs(f) = format else {
            return Err("not a VT-d table format");
        };
        if !self.ecap.ssts() {
            return Err("no second-stage translation");
        }
        let c = *f.config();
        if !matches!(c.levels, 3..=5) || self.cap.sagaw() & (1 << (c.levels - 2)) == 0 {
            return Err("second-stage levels SAGAW does not report");
        }
        if format.geometry().ia_bits() > self.mgaw.max(39) {
            return Err("input width wider than MGAW");
        }
        if c.pages_2m && self.cap.sslps() & 1 == 0 || c.pages_1g && self.cap.sslps() & 2 == 0 {
            return Err("second-stage page sizes this unit does not walk");
        }
        if c.ad && !self.ecap.ssads() {
            return Err("no second-stage dirty tracking");
        }
        if c.snoop_ctl && !self.ecap.sc() {
            return Err("no snoop control");
        }
        if c.haw > self.haw {
            return Err("output width wider than this unit's");
        }
        Ok(c)
    }
}
