//! Memory as a nested stage-1 walk sees it: every table address is an IPA, translated by
//! stage 2 (CLASS=TT) before the descriptor is read or atomically updated.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_mem::{AddressSpace, MappedSpace, MemError};
use softiommu_pgtable::Access;

use super::context::Ctx;
use super::translate::{Fault, Request, TranslationUnit};
use super::walk::S2Cfg;
use crate::event::EventClass;
use crate::ste::Ste;

/// Stage 2 under a nested stage-1 walk: the translation of each table access, the fault that
/// stopped the walk, and the physical address of the last access.
pub(super) struct S2View<'a, M: AddressSpace> {
    unit: &'a TranslationUnit<M>,
    req: &'a Request,
    ctx: &'a Ctx,
    /// The context's STE, decoded once for every table access.
    ste: Ste,
    cached: bool,
    generation: u64,
    fault: OnceLock<Fault>,
    last_pa: AtomicU64,
}

impl<'a, M: AddressSpace> S2View<'a, M> {
    pub(super) fn new(
        unit: &'a TranslationUnit<M>,
        req: &'a Request,
        ctx: &'a Ctx,
        cached: bool,
        generation: u64,
    ) -> S2View<'a, M> {
        S2View {
            unit,
            req,
            ctx,
            ste: ctx.ste(),
            cached,
            generation,
            fault: OnceLock::new(),
            last_pa: AtomicU64::new(0),
        }
    }

    /// The physical address of a table access at `ipa`; a stage-2 fault (a write needs
    /// stage-2 write rights: the stage-1 Access flag and dirty updates) stops the walk.
    fn host(&self, ipa: u64, len: u64, write: bool) -> Result<u64, MemError> {
        let out = MemError::OutOfRange { addr: ipa, len };
        if (ipa & 0xfff) + len > 0x1000 {
            return Err(out);
        }
        let access = if write { Access::WRITE } else { Access::READ };
        let s2c = S2Cfg {
            ste: &self.ste,
            vmid: self.ctx.vmid,
            slot: self.ctx.s2_slot(),
        };
        match self.unit.stage2(
            self.req,
            s2c,
            ipa,
            access,
            EventClass::Tt,
            self.cached,
            self.generation,
        ) {
            Ok(w) => {
                self.last_pa.store(w.pa, Ordering::Relaxed);
                Ok(w.pa)
            }
            Err(f) => {
                let _ = self.fault.set(f);
                Err(out)
            }
        }
    }

    /// The stage-2 fault that stopped the walk, if one did.
    pub(super) fn fault(&self) -> Option<Fault> {
        self.fault.get().copied()
    }

    /// The physical address of the last table access.
    pub(super) fn last_pa(&self) -> u64 {
        self.last_pa.load(Ordering::Relaxed)
    }

    /// Memory as the stage-1 walk sees it.
    pub(super) fn space(&'a self) -> impl AddressSpace + 'a {
        MappedSpace::new(&self.unit.mem, move |ipa, len, write| {
            self.host(ipa, len, write)
        })
    }
}
