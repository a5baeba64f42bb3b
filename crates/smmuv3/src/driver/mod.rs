//! The SMMUv3 driver: puts one SMMU under the softiommu core, touching only its registers
//! (through MMIO) and the structures in memory it walks, as Linux's arm-smmu-v3 does. The
//! behaviour ids (S6, S7, S8) are those of `docs/design.md`.
//!
//! - Bring-up ([`SmmuDriver::new`]): IDR0/1/3/5 read; incoming transactions aborted through
//!   GBPA; a stream table (two-level with IDR0.ST_LEVEL, else linear, of every abort STE);
//!   the command queue enabled, `CMD_CFGI_ALL` and `CMD_TLBI_NSNH_ALL`; the event queue and
//!   (with IDR0.PRI) the PRI queue; each CR0 enable followed by CR0ACK polling; SMMUEN last.
//! - Per device: an STE. Its CD table (S6) is the device's, made at the first use of stage 1
//!   at the RID or at a PASID and kept until the device is released; linear, or two-level
//!   when the SubstreamID bits need more than one leaf.
//! - What a RID translates through is the STE: abort (blocked) or bypass (identity) while no
//!   CD is in use; the CD table with S1DSS terminate, bypass or CD 0 (a stage-1 domain) once
//!   one is, so that PASIDs keep working whatever the RID does (S7); stage 2 alone for a
//!   stage-2 domain; stage 1 + 2 for a nested domain, the user's CD table over the parent's
//!   stage 2 (S8). A PASID is a CD: a stage-1 paging domain, or an SVA address space with a
//!   CD pointing at its process table. A single user stage-1 table over a parent
//!   (`NestedData::Stage1`) is refused: stage 2 is per stream, so SMMUv3 nests whole CD
//!   tables.
//! - The entries are Linux's: a CD has TTB0 only (EPD1), write-back inner-shareable walks,
//!   the MAIR of the table's format (its AttrIndx 0 non-cacheable, 1 write-back, 2
//!   Device-nGnRE), R, A and ASET (DMA and SVA alike); a stage-1 STE has S1STALLD on an SMMU
//!   whose faults can stall (no PCI master is stall-enabled); stage-2 and nested STEs have
//!   S2PTW and S2R, and nested ones MEV.
//! - A map sends no command: SMMUv3 caches no not-present entries, so the core's
//!   `flush_map` is left to its default; an unmap sends its TLB invalidation and `CMD_SYNC`,
//!   then the ATCs'.
//! - Per (domain, SMMU): an ASID for stage-1 domains, a VMID for stage-2 and nested ones,
//!   taken at the first attach and given back at the last detach; an SMMU out of them
//!   refuses the attach with [`CoreError::Exhausted`].
//! - Every change of a live STE or CD is made so that the SMMU never walks it torn: where
//!   the SMMU reads only word 0 of the old entry (not valid, abort, bypass) the other words
//!   go first and word 0 last, where it reads only word 0 of the new one word 0 goes first;
//!   a single word changes with one store; otherwise V goes off, the words change, and word
//!   0 comes back. Each step is closed by `CMD_CFGI_STE`/`CMD_CFGI_CD` and a `CMD_SYNC`
//!   completed by an MSI write the driver polls (CONS passing the sync without MSIs); a
//!   command the SMMU refuses is skipped and recorded ([`SmmuDriver::command_errors`]).
//! - ATS (EATS full) is on in the STEs the driver makes for a device and SMMU that have it;
//!   a user's nested STE has it where its user asks (`NestedData::PasidTable::ats`, the
//!   vSTE's EATS: split-stage and reserved values refused). The ATCs of devices whose STE has
//!   it are invalidated after each TLB invalidation is complete.
//! - Dirty tracking is stage 1's, with IDR0.HTTU reporting Access flag and dirty-state
//!   updates and IDR0.COHACC coherent table accesses: a domain made for it has CD.HA and
//!   CD.HD and its writable leaves mapped writable-clean (DBM, read-only), so that the first
//!   DMA write makes them dirty. Clearing makes them writable-clean again; the flush the
//!   caller makes then (`CMD_TLBI_NH_VA` of the leaves, and the ATCs) drops TLB entries
//!   cached dirty, which later writes would otherwise hit without marking the page.
//! - Events are drained from the event queue after each refused DMA ([`SmmuDriver::events`]);
//!   page requests travel SMMU → PRI queue → driver → core, and the answer goes back as
//!   `CMD_PRI_RESP`.
//!
//! The SMMU is reached through an [`SmmuHw`]. One that misbehaves gets a
//! [`CoreError::Hardware`] after a bounded wait, never a hang or a panic; the bounds count
//! polls, each followed by a spin-loop hint:
//!
//! - Bring-up refuses ID register values no SMMU reports (IDR0.TTENDIAN 0b01, STALL_MODEL
//!   0b11, ST_LEVEL above 0b01; IDR1.SIDSIZE above 32, SSIDSIZE above 20, a queue size
//!   above 2^19 entries) with [`HwError::BadRegister`] before writing any register, and a
//!   big-endian-only SMMU as not supported. Each CR0 change reads CR0ACK at most 10 000
//!   times, the GBPA update reads GBPA at most 10 000 times, then [`HwError::Timeout`]. A
//!   failed bring-up leaves its pages allocated: the SMMU may still point at them.
//! - A command batch waits for room (CMDQ_CONS read at most 100 000 times per command,
//!   PROD published again after each read) and for its `CMD_SYNC` (the MSI word, or
//!   CMDQ_CONS without MSIs, polled at most 100 000 times); a command error is recovered
//!   from at most once per command of the batch. Past these bounds the call fails with
//!   [`HwError::Timeout`] (room, sync) or [`HwError::BadRegister`] (GERROR.CMDQ_ERR raised
//!   more often, or a CMDQ_CONS with bits set above the wrap bit). The next call starts
//!   afresh: it succeeds once the SMMU works the queue again, and meanwhile fails within the
//!   same bounds.
//! - Calls that cannot return the error (STE and CD updates, whose stores stand; flushes;
//!   PRI responses) record it; [`SmmuDriver::hardware_errors`] lists the first 64.
//! - An event or PRI queue whose PROD or CONS has bits set above the wrap bit reads nothing
//!   and is left as it is, recording the error; garbage in the queues is dropped (events
//!   that do not decode), routed to the core, or refused, as any record the driver reads.

mod attach;
mod cdtab;
mod cmdq;
mod flush;
mod guest;
mod hw;
mod ops;
mod queues;
mod strtab;
mod teardown;

pub use cdtab::stage1_cd;
pub use cmdq::CommandErrorReport;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use softiommu_core::{CoreError, DeviceId, DeviceInfo, DomainId, HwError, Mem, Result, TableAlloc};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::formats::arm::Granule;

use crate::cmd::{CfgiSteRange, Command, TlbiEl2All, TlbiNsnhAll};
use crate::event::Event;
use crate::model::{Fault, Request, Translated};
use crate::regs::{
    Cr0, Cr1, Cr2, Gbpa, Idr0, Idr1, Idr3, Idr5, IrqCtrl, SMMU_CMDQ_BASE, SMMU_CMDQ_CONS,
    SMMU_CMDQ_PROD, SMMU_CR0, SMMU_CR0ACK, SMMU_CR1, SMMU_CR2, SMMU_GBPA, SMMU_IDR0, SMMU_IDR1,
    SMMU_IDR3, SMMU_IDR5, SMMU_IRQ_CTRL, SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG,
};
use crate::ste::Ste;

use attach::{IdPool, Programmed};
use cdtab::CdTable;
use cmdq::Cmdq;
use hw::Hw;
use queues::{EventQueue, PriQueue};
use strtab::{EntryKind, Strtab};

/// How many times a register acknowledgement (CR0ACK, GBPA.UPDATE) is polled.
const POLLS: u32 = 10_000;

/// The SMMU as the driver sees it: its register frame, and the device side of the bus (the
/// DMA and page requests devices send, which a driver never makes itself but the core's
/// device-side calls route through the driver).
pub trait SmmuHw: Send + Sync {
    /// A read of `size` bytes (4 or 8) at `offset` in the 128 KiB register frame.
    fn mmio_read(&self, offset: u64, size: u32) -> u64;
    /// A write of `size` bytes (4 or 8) at `offset` in the register frame.
    fn mmio_write(&self, offset: u64, size: u32, value: u64);
    /// A device's DMA request, as the SMMU translates it.
    fn translate(&self, req: Request) -> std::result::Result<Translated, Fault>;
    /// A function's page request message, as it reaches the SMMU on the bus.
    fn page_request(&self, req: &softiommu_devices::bus::PageRequest);
}

/// A device under the driver.
#[derive(Debug)]
struct Dev {
    info: DeviceInfo,
    /// Its StreamID (the PCI requester ID).
    sid: u32,
    /// Where its STE is, and the STE as written.
    ste_at: u64,
    ste: Ste,
    /// SubstreamID bits the device and the SMMU share.
    ssid_bits: u8,
    /// Its CD table, made at the first use of stage 1.
    cd: Option<CdTable>,
    /// What the RID translates through.
    rid: Programmed,
    /// What each PASID translates through.
    pasids: HashMap<u32, Programmed>,
    /// The device and the SMMU have ATS: STEs enable it (EATS) where their user lets them.
    ats: bool,
    /// Page requests can come from it.
    pri: bool,
}

/// Everything behind the driver's lock.
#[derive(Debug)]
struct State {
    cmdq: Cmdq,
    strtab: Strtab,
    evtq: EventQueue,
    priq: Option<PriQueue>,
    devices: HashMap<DeviceId, Dev>,
    asids: IdPool,
    vmids: IdPool,
    /// Events drained from the event queue, oldest first (the last 1024).
    events: Vec<Event>,
    /// Stage-1 faults of streams with a user's nested STE, not yet taken by the core (the
    /// last 1024).
    user_events: std::collections::VecDeque<softiommu_core::DeviceEvent>,
    /// The hardware errors met, oldest first (the first 64).
    hw_errors: Vec<HwError>,
}

/// Hardware errors kept for [`SmmuDriver::hardware_errors`].
const HW_ERRORS_KEPT: usize = 64;

impl State {
    /// Records a hardware error met where the caller cannot be told.
    fn hw_error(&mut self, e: HwError) {
        if self.hw_errors.len() < HW_ERRORS_KEPT {
            self.hw_errors.push(e);
        }
    }
}

/// The driver of one SMMUv3, implementing [`IommuDriver`](softiommu_core::IommuDriver) for the
/// softiommu core.
pub struct SmmuDriver {
    unit: Arc<dyn SmmuHw>,
    mem: Mem,
    alloc: TableAlloc,
    hw: Hw,
    /// TLB invalidations after maps too (see [`SmmuDriver::set_tlbi_on_map`]).
    tlbi_on_map: AtomicBool,
    state: Mutex<State>,
}

impl std::fmt::Debug for SmmuDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmmuDriver")
            .field("hw", &self.hw)
            .finish_non_exhaustive()
    }
}

/// Log2 of the command queue's entries (4 KiB).
const CMDQ_LOG2: u8 = 8;

impl SmmuDriver {
    /// Brings `unit` up as the module documentation describes, for an OS with 4 KiB pages.
    /// Structures live in `mem`, their pages come from `alloc`.
    pub fn new(unit: Arc<dyn SmmuHw>, mem: Mem, alloc: TableAlloc) -> Result<SmmuDriver> {
        Self::with_page_size(unit, mem, alloc, Granule::K4)
    }

    /// [`new`](Self::new) for an OS whose page size is `page`: new paging domains use that
    /// granule where the SMMU walks it (Linux's `PAGE_SIZE` choice).
    pub fn with_page_size(
        unit: Arc<dyn SmmuHw>,
        mem: Mem,
        alloc: TableAlloc,
        page: Granule,
    ) -> Result<SmmuDriver> {
        let r = |off| unit.mmio_read(off, 4) as u32;
        let hw = Hw::new(
            Idr0::from_bits(r(SMMU_IDR0)),
            Idr1::from_bits(r(SMMU_IDR1)),
            Idr3::from_bits(r(SMMU_IDR3)),
            Idr5::from_bits(r(SMMU_IDR5)),
            page,
        )?;
        if hw.stall_forced() {
            return Err(CoreError::NotSupported("an SMMU that only stalls faults"));
        }
        let strtab = Strtab::new(&mem, &alloc, hw.sid_bits(), hw.two_level_st())?;
        let cmdq_base = alloc.alloc(4096)?;
        let sync_word = alloc.alloc(4096)?;
        let cmdq = Cmdq::new(
            cmdq_base,
            CMDQ_LOG2.min(hw.idr1.cmdqs()),
            sync_word,
            hw.idr0.msi(),
        );
        let evtq = EventQueue::alloc_events(&alloc, hw.idr1.eventqs())?;
        let priq = if hw.idr0.pri() {
            Some(PriQueue::alloc_pri(&alloc, hw.idr1.priqs())?)
        } else {
            None
        };
        let d = SmmuDriver {
            unit,
            mem,
            alloc,
            hw,
            tlbi_on_map: AtomicBool::new(false),
            state: Mutex::new(State {
                cmdq,
                strtab,
                evtq,
                priq,
                devices: HashMap::new(),
                asids: IdPool::new(hw.asid_bits),
                vmids: IdPool::new(hw.vmid_bits),
                events: Vec::new(),
                user_events: std::collections::VecDeque::new(),
                hw_errors: Vec::new(),
            }),
        };
        d.reset()?;
        Ok(d)
    }

    /// The SMMU driven.
    pub fn unit(&self) -> &Arc<dyn SmmuHw> {
        &self.unit
    }

    /// With `on`, each map is followed by the TLB invalidation of its range and a
    /// `CMD_SYNC`, as after an unmap: the option of a guest whose vSMMU's translations the
    /// VMM shadows, which then hears of new mappings as VT-d caching mode makes it hear.
    /// Off by default (an SMMU caches no not-present entries).
    pub fn set_tlbi_on_map(&self, on: bool) {
        self.tlbi_on_map.store(on, Ordering::Relaxed);
    }

    /// Whether maps are followed by TLB invalidations ([`set_tlbi_on_map`](Self::set_tlbi_on_map)).
    pub fn tlbi_on_map(&self) -> bool {
        self.tlbi_on_map.load(Ordering::Relaxed)
    }

    /// The commands the SMMU refused and the driver skipped, oldest first (the first 64).
    pub fn command_errors(&self) -> Vec<CommandErrorReport> {
        self.state.lock().cmdq.errors.clone()
    }

    /// Drains the event queue and returns every event drained so far, oldest first (the
    /// last 1024), and whether the queue overflowed since bring-up.
    pub fn events(&self) -> (Vec<Event>, bool) {
        let mut st = self.state.lock();
        self.drain_events(&mut st);
        (st.events.clone(), st.evtq.overflowed)
    }

    /// Submits `cmds` through the command queue, closed by a `CMD_SYNC`, and waits for them.
    /// A command the SMMU refuses is skipped and recorded in
    /// [`command_errors`](Self::command_errors), and the call fails with
    /// [`CoreError::Driver`]; the others still complete. An SMMU that does not complete the
    /// batch fails it with [`CoreError::Hardware`] (see the module documentation).
    pub fn submit(&self, cmds: &[Command]) -> Result<()> {
        self.run(&mut self.state.lock(), cmds)
    }

    /// The ASID `domain` has on this SMMU, while it is attached here at stage 1.
    pub fn asid_of(&self, domain: DomainId) -> Option<u16> {
        self.state.lock().asids.get(domain)
    }

    /// The VMID `domain` (a stage-2 or nested domain) has on this SMMU while attached here.
    pub fn vmid_of(&self, domain: DomainId) -> Option<u16> {
        self.state.lock().vmids.get(domain)
    }

    /// The hardware errors the driver met where no caller could be told (a `CMD_SYNC` that
    /// timed out under an STE update or a flush, an event or PRI queue whose pointers were out
    /// of range), oldest first (the first 64).
    pub fn hardware_errors(&self) -> Vec<HwError> {
        self.state.lock().hw_errors.clone()
    }

    /// Runs `cmds` through the command queue; a hardware error is also recorded for
    /// [`hardware_errors`](Self::hardware_errors), since most callers cannot return it.
    fn run(&self, st: &mut State, cmds: &[Command]) -> Result<()> {
        let r = st.cmdq.run(&*self.unit, &self.mem, cmds);
        if let Err(CoreError::Hardware(e)) = &r {
            st.hw_error(e.clone());
        }
        r
    }

    fn r32(&self, off: u64) -> u32 {
        self.unit.mmio_read(off, 4) as u32
    }

    /// Writes CR0 and polls CR0ACK until it agrees (Linux's `arm_smmu_write_reg_sync`).
    fn write_cr0(&self, cr0: Cr0) -> Result<()> {
        self.unit
            .mmio_write(SMMU_CR0, 4, u64::from(cr0.into_bits()));
        for _ in 0..POLLS {
            if self.r32(SMMU_CR0ACK) == cr0.into_bits() {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        Err(CoreError::Hardware(HwError::Timeout {
            what: "CR0ACK following CR0",
            polls: POLLS,
        }))
    }

    /// GBPA with `abort`, through the UPDATE handshake.
    fn set_gbpa_abort(&self, abort: bool) -> Result<()> {
        let g = Gbpa::from_bits(self.r32(SMMU_GBPA))
            .with_abort(abort)
            .with_update(true);
        self.unit.mmio_write(SMMU_GBPA, 4, u64::from(g.into_bits()));
        for _ in 0..POLLS {
            if !Gbpa::from_bits(self.r32(SMMU_GBPA)).update() {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        Err(CoreError::Hardware(HwError::Timeout {
            what: "GBPA.UPDATE clearing",
            polls: POLLS,
        }))
    }

    /// Linux's `arm_smmu_device_reset`.
    fn reset(&self) -> Result<()> {
        // Off first, if something left it on; transactions abort while it is set up.
        if Cr0::from_bits(self.r32(SMMU_CR0)).smmuen() {
            self.write_cr0(Cr0::new())?;
        }
        self.set_gbpa_abort(true)?;
        self.write_cr0(Cr0::new())?;
        let cr1 = Cr1::new()
            .with_queue_ic(1)
            .with_queue_oc(1)
            .with_queue_sh(3)
            .with_table_ic(1)
            .with_table_oc(1)
            .with_table_sh(3);
        self.unit
            .mmio_write(SMMU_CR1, 4, u64::from(cr1.into_bits()));
        let cr2 = Cr2::new().with_recinvsid(true).with_ptm(self.hw.idr0.btm());
        self.unit
            .mmio_write(SMMU_CR2, 4, u64::from(cr2.into_bits()));
        let mut st = self.state.lock();
        let (base, cfg) = st.strtab.registers();
        self.unit.mmio_write(SMMU_STRTAB_BASE, 8, base);
        self.unit
            .mmio_write(SMMU_STRTAB_BASE_CFG, 4, u64::from(cfg));
        self.unit
            .mmio_write(SMMU_CMDQ_BASE, 8, st.cmdq.base.into_bits());
        self.unit
            .mmio_write(SMMU_CMDQ_PROD, 4, u64::from(st.cmdq.prod_bits()));
        self.unit.mmio_write(SMMU_CMDQ_CONS, 4, 0);
        let mut cr0 = Cr0::new().with_cmdqen(true);
        self.write_cr0(cr0)?;
        // Whatever was cached before is gone.
        let mut inv = vec![
            Command::CfgiSteRange(CfgiSteRange::all()),
            Command::TlbiNsnhAll(TlbiNsnhAll::new()),
        ];
        if self.hw.idr0.hyp() {
            inv.push(Command::TlbiEl2All(TlbiEl2All::new()));
        }
        self.run(&mut st, &inv)?;
        self.evtq_enable(&st.evtq);
        cr0 = cr0.with_eventqen(true);
        self.write_cr0(cr0)?;
        if let Some(q) = &st.priq {
            self.priq_enable(q);
            cr0 = cr0.with_priqen(true);
            self.write_cr0(cr0)?;
        }
        if self.hw.idr0.ats() {
            cr0 = cr0.with_atschk(true);
            self.write_cr0(cr0)?;
        }
        let irq = IrqCtrl::new()
            .with_gerror_irqen(true)
            .with_eventq_irqen(true)
            .with_priq_irqen(st.priq.is_some());
        self.unit
            .mmio_write(SMMU_IRQ_CTRL, 4, u64::from(irq.into_bits()));
        drop(st);
        self.write_cr0(cr0.with_smmuen(true))
    }

    /// Changes the live entry at `at` of `kind` from `old` to `new` without letting the
    /// SMMU see it torn ([`strtab::update_steps`]); `used` says what the SMMU reads of each.
    /// The stores stand once made: a refused invalidation is recorded, not returned.
    fn write_entry(
        &self,
        st: &mut State,
        kind: EntryKind,
        at: u64,
        (old, new): ([u64; 8], [u64; 8]),
        used: (strtab::Used, strtab::Used),
    ) -> Result<()> {
        for step in strtab::update_steps(old, new, used, kind.valid_bit()) {
            for (i, w) in step {
                self.mem.store_u64(at + 8 * i as u64, w)?;
            }
            let _ = self.run(st, &[kind.cfgi()]);
        }
        Ok(())
    }

    /// Writes `dev`'s STE.
    fn write_ste(&self, st: &mut State, id: DeviceId, new: Ste) -> Result<()> {
        let Some(d) = st.devices.get(&id) else {
            return Err(CoreError::NoDevice(id));
        };
        let (sid, at, old) = (d.sid, d.ste_at, d.ste);
        let used = (strtab::Used::ste(&old), strtab::Used::ste(&new));
        let words = (old.to_words(), new.to_words());
        self.write_entry(st, EntryKind::Ste(sid), at, words, used)?;
        if let Some(d) = st.devices.get_mut(&id) {
            d.ste = new;
        }
        Ok(())
    }
}

impl<M: AddressSpace + Send + Sync + 'static> SmmuHw for crate::model::SmmuUnit<M> {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        crate::model::SmmuUnit::mmio_read(self, offset, size)
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        crate::model::SmmuUnit::mmio_write(self, offset, size, value)
    }

    fn translate(&self, req: Request) -> std::result::Result<Translated, Fault> {
        crate::model::SmmuUnit::translate(self, req)
    }

    fn page_request(&self, req: &softiommu_devices::bus::PageRequest) {
        softiommu_devices::bus::Upstream::page_request(self, req);
    }
}
