//! The SMMU's translation engine: the walk from the stream table through STE and CD to the
//! stage-1 and stage-2 page tables, its caches, the event each failure raises, and the
//! checking mode that compares every TLB hit with a fresh walk; and [`SmmuUnit`], the whole
//! SMMU as software and devices see it (registers, command, event and PRI queues, over the
//! engine).

mod caches;
mod caps;
mod context;
mod formats;
mod nested;
mod stream;
#[cfg(test)]
mod tests;
mod tlb;
mod translate;
mod unit;
mod walk;

pub use caches::{Caches, InvalidationScope, TlbiRange};
pub use caps::{CapsError, Httu, ModelCaps, StallModel};
pub use translate::{
    Checking, Fault, Request, RequestKind, StaleTranslation, Translated, TranslationUnit,
};
pub use unit::{
    AtcCompletion, AtcInvalidation, CommandCounts, DeviceMessage, DeviceSink, InterruptSink,
    PageRequestOutcome, SmmuUnit, UnitError, UnitStats,
};
