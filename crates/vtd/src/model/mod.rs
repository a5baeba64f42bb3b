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

pub use ats::{AtsDisposition, AtsGrant};
pub use caches::{Caches, IotlbScope};
pub use stats::{DescriptorCounts, SHARDS, UnitStats};
pub use translate::{Fault, ModelCaps, Request, StaleTranslation, Translated, TranslationUnit};
pub use unit::{DeviceMessage, DeviceSink, UnitError, VtdUnit, model_caps};
