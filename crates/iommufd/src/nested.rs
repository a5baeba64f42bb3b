//! The user's stage-1 data of a nested HWPT, checked as the kernel's drivers check it and
//! turned into the core's [`NestedData`]: a VT-d first-stage table, or an SMMUv3 nested STE.

use softiommu_core::{Domain, HwInfo, NestedData};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::x86::{X86, X86Config};

use crate::error::{Error, Result, err};

/// `IOMMU_VTD_S1_SRE`: supervisor requests.
pub const VTD_S1_SRE: u64 = 1 << 0;
/// `IOMMU_VTD_S1_EAFE`: extended access flag.
pub const VTD_S1_EAFE: u64 = 1 << 1;
/// `IOMMU_VTD_S1_WPE`: write protect.
pub const VTD_S1_WPE: u64 = 1 << 2;

/// CAP.MGAW, bits 21:16: the widest guest address, minus one.
fn cap_mgaw(cap: u64) -> u8 {
    ((cap >> 16) & 0x3f) as u8 + 1
}
/// CAP.FS1GP, bit 56: first-stage 1 GiB pages.
const CAP_FS1GP: u64 = 1 << 56;
/// ECAP.SRS, bit 31: supervisor requests.
const ECAP_SRS: u64 = 1 << 31;
/// ECAP.EAFS, bit 34: extended access flag.
const ECAP_EAFS: u64 = 1 << 34;

/// The input width of `parent`'s table, in bits.
fn parent_bits(parent: &Domain) -> Result<u8> {
    let aperture = parent.with_table(|t| t.aperture()).map_err(Error::from)?;
    let end = aperture.end.max(2);
    Ok((64 - (end - 1).leading_zeros()) as u8)
}

/// The nested data of a VT-d `struct iommu_hwpt_vtd_s1` on a unit with identification
/// registers `hw`, over `parent`: the address width must be 48 or 57 bits, SRE and EAFE need
/// the unit's ECAP.SRS and ECAP.EAFS (`EINVAL`), and unknown flags are `EOPNOTSUPP`.
pub(crate) fn vtd_stage1(
    hw: HwInfo,
    parent: &Domain,
    flags: u64,
    pgtbl_addr: u64,
    addr_width: u32,
) -> Result<NestedData> {
    let HwInfo::Vtd { cap, ecap } = hw else {
        return err(libc::EOPNOTSUPP, "not a VT-d unit");
    };
    if flags & !(VTD_S1_SRE | VTD_S1_EAFE | VTD_S1_WPE) != 0 {
        return err(libc::EOPNOTSUPP, "unknown VT-d stage-1 flags");
    }
    if flags & VTD_S1_SRE != 0 && ecap & ECAP_SRS == 0 {
        return err(libc::EINVAL, "supervisor requests need ECAP.SRS");
    }
    if flags & VTD_S1_EAFE != 0 && ecap & ECAP_EAFS == 0 {
        return err(libc::EINVAL, "the extended access flag needs ECAP.EAFS");
    }
    let levels = match addr_width {
        48 => 4,
        57 => 5,
        _ => return err(libc::EINVAL, "a stage-1 address width is 48 or 57 bits"),
    };
    if pgtbl_addr & 0xfff != 0 {
        return err(libc::EINVAL, "the stage-1 root is not 4 KiB aligned");
    }
    let haw = cap_mgaw(cap).min(parent_bits(parent)?);
    let format = X86::new(X86Config {
        levels,
        haw,
        pages_1g: cap & CAP_FS1GP != 0,
        wpe: flags & VTD_S1_WPE != 0,
        dirty_tracking: false,
    })
    .map_err(|_| Error::new(libc::EINVAL, "no stage-1 format for that width"))?;
    Ok(NestedData::Stage1 {
        format: format.into(),
        root: pgtbl_addr,
    })
}

/// STE word 0: V.
const STE0_V: u64 = 1;
/// STE word 0: Config, bits 3:1.
const STE0_CFG_SHIFT: u32 = 1;
/// STE word 0: S1Fmt, bits 5:4.
const STE0_S1FMT_SHIFT: u32 = 4;
/// STE word 0: S1ContextPtr, bits 51:6.
const STE0_S1CTXPTR: u64 = ((1 << 52) - 1) & !0x3f;
/// STE word 0: S1CDMax, bits 63:59.
const STE0_S1CDMAX_SHIFT: u32 = 59;
/// What a user may set in word 0: V, Config, S1Fmt, S1ContextPtr, S1CDMax.
const STE0_ALLOWED: u64 = STE0_V | 0x7 << 1 | 0x3 << 4 | STE0_S1CTXPTR | 0x1f << 59;
/// What a user may set in word 1: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS.
const STE1_ALLOWED: u64 = 0xff | 1 << 27 | 0x3 << 28;
/// STE word 1: EATS, bits 29:28.
const STE1_EATS_SHIFT: u32 = 28;

/// Config: abort.
const CFG_ABORT: u64 = 0b000;
/// Config: bypass.
const CFG_BYPASS: u64 = 0b100;
/// Config: stage 1 translates, stage 2 bypassed (here: the parent's stage 2).
const CFG_S1: u64 = 0b101;

/// What a user's nested STE asks for.
#[derive(Debug)]
pub(crate) enum Vste {
    /// No DMA (V = 0, or Config abort).
    Abort,
    /// Translated as the nesting parent translates.
    Bypass,
    /// The user's CD table over the parent.
    Stage1(Box<NestedData>),
}

/// Decodes the user's STE words `ste` over `parent`: fields a user may not set, a Config
/// other than abort, bypass and stage 1, or an EATS other than none and full are `EIO`.
/// An invalid STE (V = 0) aborts whatever else it holds. A CD table of several entries must
/// be linear (S1Fmt 0) here: `EOPNOTSUPP` otherwise.
pub(crate) fn arm_vste(ste: [u64; 2], parent: &Domain) -> Result<Vste> {
    let [w0, w1] = ste;
    if w0 & STE0_V == 0 {
        return Ok(Vste::Abort);
    }
    if w0 & !STE0_ALLOWED != 0 || w1 & !STE1_ALLOWED != 0 {
        return err(libc::EIO, "the STE sets fields a user may not set");
    }
    let cfg = (w0 >> STE0_CFG_SHIFT) & 0x7;
    let eats = (w1 >> STE1_EATS_SHIFT) & 0x3;
    if eats > 1 {
        return err(libc::EIO, "EATS other than abort or full ATS");
    }
    match cfg {
        CFG_ABORT => return Ok(Vste::Abort),
        CFG_BYPASS => return Ok(Vste::Bypass),
        CFG_S1 => {}
        _ => return err(libc::EIO, "a Config other than abort, bypass or stage 1"),
    }
    let cdmax = (w0 >> STE0_S1CDMAX_SHIFT) & 0x1f;
    let s1fmt = (w0 >> STE0_S1FMT_SHIFT) & 0x3;
    if cdmax != 0 && s1fmt != 0 {
        return err(libc::EOPNOTSUPP, "only linear CD tables are nested");
    }
    let oa_bits = [48u8, 44, 42, 40, 36, 32]
        .into_iter()
        .find(|&b| b <= parent_bits(parent).unwrap_or(32))
        .unwrap_or(32);
    let format = ArmS1::new(ArmS1Config {
        granule: Granule::K4,
        ia_bits: 48,
        oa_bits,
        ha: false,
        hd: false,
    })
    .map_err(|_| Error::new(libc::EINVAL, "no stage-1 format for the parent"))?;
    Ok(Vste::Stage1(Box::new(NestedData::PasidTable {
        format: AnyFormat::from(format),
        root: w0 & STE0_S1CTXPTR,
        entries: 1 << cdmax,
        ats: eats as u8,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_masks_are_the_architecture_fields() {
        // V, Config 3:1, S1Fmt 5:4, S1ContextPtr 51:6, S1CDMax 63:59.
        assert_eq!(STE0_ALLOWED, 0xf80f_ffff_ffff_ffff);
        // S1DSS 1:0, S1CIR 3:2, S1COR 5:4, S1CSH 7:6, S1STALLD 27, EATS 29:28.
        assert_eq!(STE1_ALLOWED, 0x3800_00ff);
    }
}
