//! The VT-d unit's translation engine: the walk from root table to page, its caches, and the
//! fault each failure raises.

mod ats;
mod caches;
mod checks;
mod nested;
mod stats;
#[cfg(test)]
mod tests;
mod translate;
mod unit;

/// The interrupt address range: a write there is an interrupt request, never DMA.
pub const INTERRUPT_WINDOW: std::ops::RangeInclusive<u64> = 0xfee0_0000..=0xfeef_ffff;

pub use ats::{AtsDisposition, AtsGrant};
pub use caches::{Caches, IotlbScope};
pub use stats::{DescriptorCounts, SHARDS, UnitStats};
pub use translate::{Fault, ModelCaps, Request, StaleTranslation, Translated, TranslationUnit};
pub use unit::{DeviceMessage, DeviceSink, PasidAllocator, UnitError, VtdUnit, model_caps};
