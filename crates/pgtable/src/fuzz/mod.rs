//! Bodies of the fuzz targets over page tables (feature `fuzzing`): each takes the fuzzer's
//! bytes, never panics on any of them unless the library misbehaves, and is what the
//! cargo-fuzz targets and the replay test call.
//!
//! - [`walk`]: hardware walks over table memory the bytes write, in every format;
//! - [`ops`]: map/unmap/translate/dirty sequences on a [`PageTable`](crate::PageTable) checked
//!   against [`Model`], intervals in a `BTreeMap` (the model tests use too).

mod model;
mod ops;
mod walk;

pub use model::Model;
pub use ops::ops;
pub use walk::walk;

use arbitrary::{Result, Unstructured};

use crate::formats::any::AnyFormat;
use crate::formats::arm::Granule;
use crate::formats::arm_s1::{ArmS1, ArmS1Config};
use crate::formats::arm_s2::{ArmS2, ArmS2Config};
use crate::formats::vtd_ss::{VtdSs, VtdSsConfig};
use crate::formats::x86::{X86, X86Config};
use crate::prot::{Access, Prot};

/// A format configuration from the bytes, any of the four formats with any of their settings
/// (rejected settings included: the constructors must refuse them with an error). `Ok(None)`
/// when the constructor refused.
pub fn format(u: &mut Unstructured<'_>) -> Result<Option<AnyFormat>> {
    let granule = |g: u8| match g % 3 {
        0 => Granule::K4,
        1 => Granule::K16,
        _ => Granule::K64,
    };
    Ok(match u.int_in_range(0u8..=3)? {
        0 => X86::new(X86Config {
            levels: u.int_in_range(3u8..=6)?,
            haw: u.int_in_range(30u8..=54)?,
            pages_1g: u.arbitrary()?,
            wpe: u.arbitrary()?,
            dirty_tracking: u.arbitrary()?,
        })
        .ok()
        .map(AnyFormat::from),
        1 => VtdSs::new(VtdSsConfig {
            levels: u.int_in_range(2u8..=6)?,
            haw: u.int_in_range(30u8..=54)?,
            pages_2m: u.arbitrary()?,
            pages_1g: u.arbitrary()?,
            snoop_ctl: u.arbitrary()?,
            ad: u.arbitrary()?,
        })
        .ok()
        .map(AnyFormat::from),
        2 => ArmS1::new(ArmS1Config {
            granule: granule(u.arbitrary()?),
            ia_bits: u.int_in_range(20u8..=52)?,
            oa_bits: u.int_in_range(30u8..=52)?,
            ha: u.arbitrary()?,
            hd: u.arbitrary()?,
        })
        .ok()
        .map(AnyFormat::from),
        _ => {
            let g = granule(u.arbitrary()?);
            let cfg = if u.arbitrary()? {
                ArmS2Config::auto(g, u.int_in_range(20u8..=52)?, u.int_in_range(30u8..=52)?)
            } else {
                ArmS2Config::from_ste(
                    g,
                    u.int_in_range(0u8..=70)?,
                    u.int_in_range(0u8..=3)?,
                    u.int_in_range(30u8..=52)?,
                    u.arbitrary()?,
                    u.arbitrary()?,
                )
            };
            let cfg = cfg.map(|mut c| {
                c.ha = c.ha || u.arbitrary().unwrap_or(false);
                c.hd = c.hd || u.arbitrary().unwrap_or(false);
                c
            });
            cfg.and_then(ArmS2::new).ok().map(AnyFormat::from)
        }
    })
}

/// Any access: read or write, data or instruction, user or supervisor.
pub fn access(u: &mut Unstructured<'_>) -> Result<Access> {
    let b: u8 = u.arbitrary()?;
    Ok(Access {
        write: b & 1 != 0,
        exec: b & 2 != 0,
        privileged: b & 4 != 0,
    })
}

/// Any permissions (those granting neither read nor write included).
pub fn prot(u: &mut Unstructured<'_>) -> Result<Prot> {
    Ok(Prot::from_bits_truncate(u.arbitrary()?))
}
