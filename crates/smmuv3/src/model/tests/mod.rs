//! The translation engine against stream tables, CDs and page tables built in memory as a
//! driver builds them.

use std::sync::Arc;

pub(super) use softiommu_mem::AddressSpace;

use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::{Access, PageTable};

use super::*;
use crate::cd::Cd;
use crate::event::{Event, EventId};
use crate::ste::{Ste, SteConfig, StreamTable};

mod caches;
mod configs;
mod controls;
mod events;
mod nested;
mod proptests;
mod stream;

/// Bytes of RAM the rigs have, from physical address 0.
pub(super) const MEM: u64 = 256 << 20;
/// The StreamID most tests use.
pub(super) const SID: u32 = 0x10;
/// Table pages come from [ALLOC, MEM); data lives below.
const ALLOC: u64 = 64 << 20;

pub(super) type Mem = Arc<RamArena>;

/// RAM, a page allocator, a unit over them with a linear stream table of 256 STEs, enabled,
/// recording C_BAD_STREAMID.
pub(super) struct Rig {
    pub mem: Mem,
    pub alloc: Arc<PageAlloc<Mem>>,
    pub unit: TranslationUnit<Mem>,
    pub strtab: u64,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_caps(ModelCaps::default())
    }

    pub fn with_caps(caps: ModelCaps) -> Rig {
        let mem = Arc::new(RamArena::new(0, MEM).unwrap());
        let alloc = Arc::new(PageAlloc::new(mem.clone(), ALLOC, MEM - ALLOC).unwrap());
        let unit = TranslationUnit::new(caps, mem.clone()).unwrap();
        let strtab = alloc.alloc(256 * 64).unwrap();
        unit.set_stream_table(StreamTable::linear(strtab, 8));
        unit.enable(true);
        unit.set_record_invalid_sid(true);
        Rig {
            mem,
            alloc,
            unit,
            strtab,
        }
    }

    /// A zeroed 4 KiB page.
    pub fn page(&self) -> u64 {
        self.alloc.alloc(4096).unwrap()
    }

    /// Writes `sid`'s STE into the linear table.
    pub fn set_ste(&self, sid: u32, ste: &Ste) {
        ste.write(&*self.mem, self.strtab + u64::from(sid) * 64)
            .unwrap();
    }

    /// Writes a CD at `at`.
    pub fn set_cd(&self, at: u64, cd: &Cd) {
        cd.write(&*self.mem, at).unwrap();
    }

    /// An empty stage-1 table: 4 KiB granule, 48-bit input and output.
    pub fn s1(&self) -> PageTable<ArmS1, Mem> {
        self.s1_with(ArmS1Config::default())
    }

    pub fn s1_with(&self, cfg: ArmS1Config) -> PageTable<ArmS1, Mem> {
        PageTable::new(ArmS1::new(cfg).unwrap(), self.alloc.clone()).unwrap()
    }

    /// An empty stage-2 table: 4 KiB granule, 40-bit IPA, 48-bit output.
    pub fn s2(&self) -> PageTable<ArmS2, Mem> {
        self.s2_with(ArmS2Config::auto(Granule::K4, 40, 48).unwrap())
    }

    pub fn s2_with(&self, cfg: ArmS2Config) -> PageTable<ArmS2, Mem> {
        PageTable::new(ArmS2::new(cfg).unwrap(), self.alloc.clone()).unwrap()
    }

    /// A stage-1 stream `sid` whose one CD (at a new page) points at `table` with `asid`.
    pub fn s1_stream(&self, sid: u32, table: &PageTable<ArmS1, Mem>, asid: u16) -> u64 {
        let at = self.page();
        self.set_cd(at, &cd_for(table.format(), table.root(), asid));
        self.set_ste(sid, &s1_ste(at));
        at
    }

    pub fn translate(
        &self,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Result<Translated, Fault> {
        self.unit.translate(Request::new(sid, ssid, addr, access))
    }

    /// The output address of a read of `addr` by `sid`.
    pub fn read(&self, sid: u32, addr: u64) -> Result<u64, Fault> {
        self.translate(sid, None, addr, Access::READ).map(|t| t.pa)
    }

    /// The event a read of `addr` by `sid` raises.
    pub fn read_event(&self, sid: u32, ssid: Option<u32>, addr: u64) -> Event {
        event(self.translate(sid, ssid, addr, Access::READ))
    }
}

/// The CD Linux writes for a stage-1 table of format `f` at `root`.
pub(super) fn cd_for(f: &ArmS1, root: u64, asid: u16) -> Cd {
    Cd::for_table(f, root, asid)
}

/// A stage-1 STE whose S1ContextPtr is `cd`.
pub(super) fn s1_ste(cd: u64) -> Ste {
    Ste::with_config(SteConfig::S1Translate).with_s1_context_ptr(cd)
}

/// `ste` with stage-2 fields for `table` and `vmid`, recording faults.
pub(super) fn with_s2(ste: Ste, f: &ArmS2, root: u64, vmid: u16) -> Ste {
    ste.with_s2_table(f, root, vmid)
}

/// A nested STE: stage 1 through the CD at `cd`, stage 2 through `s2`, tagged `vmid`.
pub(super) fn nested_ste(cd: u64, s2: &PageTable<ArmS2, Mem>, vmid: u16) -> Ste {
    let mut ste = with_s2(s1_ste(cd), s2.format(), s2.root(), vmid);
    ste.dw0 = ste.dw0.with_config(SteConfig::Nested);
    ste
}

/// The event a request raised.
pub(super) fn event(r: Result<Translated, Fault>) -> Event {
    r.expect_err("a fault")
        .event
        .expect("a fault with an event")
}

/// The event number a request raised.
pub(super) fn id(r: Result<Translated, Fault>) -> EventId {
    event(r).id
}

/// An unprivileged instruction fetch.
pub(super) const FETCH: Access = Access {
    write: false,
    exec: true,
    privileged: false,
};
