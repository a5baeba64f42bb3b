//! Memory as a nested stage-1 walk sees it: every table address is an IPA, translated by
//! stage 2 (CLASS=TT) before the descriptor is read or atomically updated.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_mem::{AddressSpace, MappedSpace, MemError};
use softiommu_pgtable::Access;

use super::context::Ctx;
use super::translate::{Fault, Request, TranslationUnit};
use crate::event::EventClass;
use crate::ste::Ste;

/// Stage 2 under a nested stage-1 walk: the translation of each table access, the fault that
/// stopped the walk, and the physical address of the last access.
pub(super) struct S2View<'a, M: AddressSpace, A: ?Sized> {
    unit: &'a TranslationUnit<M>,
    /// The memory the walk reads and updates.
    mem: &'a A,
    req: &'a Request,
    ctx: &'a Ctx,
    /// The context's STE, decoded once for every table access.
    ste: Ste,
    cached: bool,
    generation: u64,
    trace: S2Trace,
}

/// What a nested stage-1 walk met at stage 2: the fault that stopped it and the physical
/// address of its last table access.
#[derive(Default)]
pub(super) struct S2Trace {
    fault: OnceLock<Fault>,
    last_pa: AtomicU64,
}

impl S2Trace {
    /// The stage-2 fault that stopped the walk, if one did.
    pub(super) fn fault(&self) -> Option<Fault> {
        self.fault.get().copied()
    }

    /// The physical address of the last table access.
    pub(super) fn last_pa(&self) -> u64 {
        self.last_pa.load(Ordering::Relaxed)
    }
}

impl<'a, M: AddressSpace, A: AddressSpace + ?Sized> S2View<'a, M, A> {
    pub(super) fn new(
        unit: &'a TranslationUnit<M>,
        mem: &'a A,
        req: &'a Request,
        ctx: &'a Ctx,
        cached: bool,
        generation: u64,
    ) -> S2View<'a, M, A> {
        S2View {
            unit,
            mem,
            req,
            ctx,
            ste: ctx.ste(),
            cached,
            generation,
            trace: S2Trace::default(),
        }
    }

    /// The physical address of a table access at `ipa`; a stage-2 fault (a write needs
    /// stage-2 write rights: the stage-1 Access flag and dirty updates) stops the walk.
    fn host(&self, ipa: u64, len: u64, write: bool) -> Result<u64, MemError> {
        let out = MemError::OutOfRange { addr: ipa, len };
        if len > 0x1000 - (ipa & 0xfff) {
            return Err(out);
        }
        let access = if write { Access::WRITE } else { Access::READ };
        let s2c = self.ctx.s2cfg(&self.ste);
        match self.unit.stage2(
            self.mem,
            self.req,
            s2c,
            ipa,
            access,
            EventClass::Tt,
            self.cached,
            self.generation,
        ) {
            Ok(w) => {
                self.trace.last_pa.store(w.pa, Ordering::Relaxed);
                Ok(w.pa)
            }
            Err(f) => {
                let _ = self.trace.fault.set(f);
                Err(out)
            }
        }
    }

    /// What the walk met at stage 2.
    pub(super) fn trace(&self) -> &S2Trace {
        &self.trace
    }

    /// Memory as the stage-1 walk sees it.
    pub(super) fn space(&'a self) -> impl AddressSpace + 'a {
        MappedSpace::new(self.mem, move |ipa, len, write| self.host(ipa, len, write))
    }
}
