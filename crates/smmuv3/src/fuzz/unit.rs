//! The SMMU from the fuzzer's bytes: accesses of any offset and width on both register pages,
//! STEs, L1 descriptors, CDs and page tables written word by word, commands queued, DMA of
//! every kind, page requests, and the event and PRI queues consumed.

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use softiommu_mem::fuzz::{check_translation, known_or_any, mmio_offset, mmio_width};
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::fuzz::access;
use softiommu_pgtable::{Access, PageTable, Prot};

use crate::driver::stage1_cd;
use crate::model::{Request, RequestKind, SmmuUnit};
use crate::pri::{PageRequest, PriAccess, PriDw0, PriDw1};
use crate::regs::{
    Httu, SMMU_CMDQ_BASE, SMMU_CMDQ_PROD, SMMU_CR0, SMMU_CR2, SMMU_EVENTQ_BASE, SMMU_GERROR,
    SMMU_IRQ_CTRL, SMMU_PAGE1, SMMU_PRIQ_BASE, SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG, SmmuParams,
    StallModel,
};
use crate::ste::{Ste, SteConfig};

/// Memory: structures in the first pages, table pages from `[TABLES, MEM)`.
const MEM: u64 = 8 << 20;
const TABLES: u64 = 4 << 20;
/// A linear stream table of 256 STEs (16 KiB), or the L1 table of a two-level one.
const STRTAB: u64 = 0x1_0000;
/// A page for level-2 stream tables, CD tables and L1 CD tables the fuzzer points at.
const SPARE: [u64; 4] = [0x2_0000, 0x2_1000, 0x2_2000, 0x2_3000];
/// The CD page of the stage-1 and nested streams.
const CDS: u64 = 0x3_0000;
const CMDQ: u64 = 0x4_0000;
const EVTQ: u64 = 0x5_0000;
const PRIQ: u64 = 0x6_0000;
/// Queue sizes (log2 of entries): 4 KiB each.
const CMDQ_LOG2: u64 = 8;
const EVTQ_LOG2: u64 = 7;
const PRIQ_LOG2: u64 = 8;
/// Stage-1, stage-2 and nested streams.
const SIDS: [u32; 3] = [0x10, 0x11, 0x12];
/// Where the setup maps pages, in every table.
const IOVA: u64 = 0x1000_0000;

/// Runs an SMMU whose parameters, structures and requests come from the bytes. It must answer
/// every access and request without panicking, a translation must cover the rest of one
/// page at most, and the registers must keep answering.
pub fn unit(data: &[u8]) {
    let _ = run(&mut Unstructured::new(data));
}

fn params(u: &mut Unstructured<'_>) -> Result<SmmuParams> {
    let mut p = SmmuParams::full();
    let flags: u32 = u.arbitrary()?;
    let bit = |n: u32| flags & 1 << n != 0;
    // Mostly the full SMMU; a quarter of the time, any combination of features.
    if flags >> 30 == 3 {
        p.stage1 = !bit(0);
        p.stage2 = bit(1);
        p.hyp = bit(2);
        p.two_level_stream_table = bit(3);
        p.two_level_cd = bit(4);
        p.ats = bit(5);
        p.pri = bit(6);
        p.terminate_aborts = bit(7);
        p.gran4k = !bit(8);
        p.gran16k = bit(9);
        p.gran64k = bit(10);
        p.msi = bit(11);
        p.sev = bit(12);
        p.coherent = bit(13);
        p.asid16 = bit(14);
        p.vmid16 = bit(15);
        p.range_invalidation = bit(16);
        p.stall_model = *u.choose(&[
            StallModel::StallAndTerminate,
            StallModel::TerminateOnly,
            StallModel::StallForced,
        ])?;
        p.httu = *u.choose(&[
            Httu::None,
            Httu::Access,
            Httu::AccessDirty,
            Httu::AccessDirtyTable,
        ])?;
        p.sid_bits = u.int_in_range(0..=33)?;
        p.ssid_bits = u.int_in_range(0..=21)?;
        p.oas_bits = u.int_in_range(30..=53)?;
        p.cmdq_log2 = u.int_in_range(0..=20)?;
        p.evtq_log2 = u.int_in_range(0..=20)?;
        p.priq_log2 = u.int_in_range(0..=20)?;
        p.stall_max = u.arbitrary()?;
    }
    Ok(p)
}

/// The SMMU, its memory and the pages the fuzzer writes into.
struct Rig {
    mem: Arc<RamArena>,
    unit: SmmuUnit<Arc<RamArena>>,
    /// Pages of the page tables, for stray writes.
    table_pages: Vec<u64>,
    /// The page tables the setup mapped, kept for the whole run.
    _tables: (
        PageTable<ArmS1, Arc<RamArena>>,
        PageTable<ArmS2, Arc<RamArena>>,
    ),
    /// Addresses a pointer the fuzzer writes may name.
    targets: Vec<u64>,
}

fn setup(u: &mut Unstructured<'_>) -> Result<Option<Rig>> {
    let params = params(u)?;
    let Ok(mem) = RamArena::new(0, MEM).map(Arc::new) else {
        return Ok(None);
    };
    let Ok(alloc) = PageAlloc::new(mem.clone(), TABLES, MEM - TABLES).map(Arc::new) else {
        return Ok(None);
    };
    let Ok(unit) = SmmuUnit::new(params, mem.clone(), Arc::new(|_| {})) else {
        return Ok(None);
    };
    for sid in SIDS {
        unit.attach_device(sid, Arc::new(|_| {}));
    }
    let s1 = ArmS1::new(ArmS1Config {
        oa_bits: 44,
        ha: u.arbitrary()?,
        hd: u.arbitrary()?,
        ..ArmS1Config::default()
    });
    let s2 = ArmS2Config::auto(Granule::K4, 40, 44).and_then(ArmS2::new);
    let (Ok(s1), Ok(s2)) = (s1, s2) else {
        return Ok(None);
    };
    let (Ok(mut t1), Ok(mut t2)) = (
        PageTable::new(s1.clone(), alloc.clone()),
        PageTable::new(s2.clone(), alloc.clone()),
    ) else {
        return Ok(None);
    };
    let pages = u.int_in_range(1u64..=64)?;
    let _ = t1.map(IOVA, 0x20_0000, pages << 12, Prot::RW);
    let _ = t2.map(IOVA, 0x40_0000, pages << 12, Prot::RW);
    // The nested stream's stage 1 reads its tables through stage 2, identity-mapped.
    let _ = t2.map(TABLES, TABLES, MEM - TABLES, Prot::RW);
    let _ = t2.map(0x20_0000, 0x20_0000, 0x20_0000, Prot::RW);
    let _ = stage1_cd(&s1, t1.root(), 1, false).write(&*mem, CDS);
    let stes = [
        Ste::with_config(SteConfig::S1Translate).with_s1_context_ptr(CDS),
        Ste::with_config(SteConfig::S2Translate).with_s2_table(&s2, t2.root(), 2),
        {
            let mut ste = Ste::with_config(SteConfig::S1Translate)
                .with_s1_context_ptr(CDS)
                .with_s2_table(&s2, t2.root(), 3);
            ste.dw0 = ste.dw0.with_config(SteConfig::Nested);
            ste
        },
    ];
    for (sid, ste) in SIDS.into_iter().zip(stes) {
        let _ = ste.write(&*mem, STRTAB + u64::from(sid) * 64);
    }
    let rig = Rig {
        table_pages: (TABLES..TABLES + 64 * 4096).step_by(4096).collect(),
        targets: [STRTAB, CDS, t1.root(), t2.root()]
            .into_iter()
            .chain(SPARE)
            .collect(),
        mem,
        unit,
        _tables: (t1, t2),
    };
    // The bring-up a driver makes.
    let un = &rig.unit;
    un.mmio_write(SMMU_STRTAB_BASE, 8, STRTAB);
    un.mmio_write(SMMU_STRTAB_BASE_CFG, 4, 8);
    un.mmio_write(SMMU_CMDQ_BASE, 8, CMDQ | CMDQ_LOG2);
    un.mmio_write(SMMU_EVENTQ_BASE, 8, EVTQ | EVTQ_LOG2);
    un.mmio_write(SMMU_PRIQ_BASE, 8, PRIQ | PRIQ_LOG2);
    un.mmio_write(SMMU_IRQ_CTRL, 4, 7);
    un.mmio_write(SMMU_CR2, 4, 1 << 1);
    // SMMUEN, PRIQEN, EVENTQEN, CMDQEN (unless the bytes leave some off).
    let cr0 = if u.ratio(7u8, 8u8)? {
        0xf
    } else {
        u.int_in_range(0..=0x1f)?
    };
    un.mmio_write(SMMU_CR0, 4, cr0);
    Ok(Some(rig))
}

/// Register offsets software uses, on page 0 and page 1.
const REGS: [u64; 16] = [
    SMMU_CR0,
    0x24,
    SMMU_CR2,
    0x44,
    SMMU_IRQ_CTRL,
    SMMU_GERROR,
    0x64,
    SMMU_STRTAB_BASE,
    SMMU_STRTAB_BASE_CFG,
    SMMU_CMDQ_BASE,
    SMMU_CMDQ_PROD,
    0x9c,
    SMMU_EVENTQ_BASE,
    SMMU_PRIQ_BASE,
    SMMU_PAGE1 + 0xa8,
    SMMU_PAGE1 + 0xc8,
];

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let Some(rig) = setup(u)? else {
        return Ok(());
    };
    let un = &rig.unit;
    while !u.is_empty() {
        match u.int_in_range(0u8..=10)? {
            0 | 1 => un.mmio_write(
                mmio_offset(u, &REGS, 2 * SMMU_PAGE1)?,
                mmio_width(u)?,
                u.arbitrary()?,
            ),
            2 => {
                let _ = un.mmio_read(mmio_offset(u, &REGS, 2 * SMMU_PAGE1)?, mmio_width(u)?);
            }
            3 => {
                // A word of the stream table, the CDs, the spare pages, the queues or tables.
                let base = match u.int_in_range(0u8..=5)? {
                    0 => STRTAB + u64::from(u.int_in_range(0u16..=3)?) * 0x1000,
                    1 => CDS,
                    2 => *u.choose(&SPARE)?,
                    3 => *u.choose(&[CMDQ, EVTQ, PRIQ])?,
                    _ => *u.choose(&rig.table_pages)?,
                };
                let at = base + u64::from(u.int_in_range(0u16..=511)?) * 8;
                let _ = rig.mem.store_u64(at, u.arbitrary()?);
            }
            4 => {
                // A pointer: one of the structures, with low bits (valid, sizes) from the bytes.
                let at = *u.choose(&[STRTAB, CDS, SPARE[0], SPARE[1]])?
                    + u64::from(u.int_in_range(0u16..=511)?) * 8;
                let to = *u.choose(&rig.targets)?;
                let low = u64::from(u.arbitrary::<u16>()? & 0xfff);
                let high = u64::from(u.arbitrary::<u8>()?) << 56;
                let _ = rig.mem.store_u64(at, high | to | low);
            }
            5 => {
                // Commands at PROD, then PROD moved past them.
                let prod = un.mmio_read(SMMU_CMDQ_PROD, 4) as u32;
                let n = u.int_in_range(1u32..=4)?;
                let mask = (2u32 << CMDQ_LOG2) - 1;
                for i in 0..n {
                    let idx = (prod + i) & ((1 << CMDQ_LOG2) - 1);
                    let at = CMDQ + u64::from(idx) * 16;
                    let _ = rig.mem.store_u64(at, u.arbitrary()?);
                    let _ = rig.mem.store_u64(at + 8, u.arbitrary()?);
                }
                un.mmio_write(SMMU_CMDQ_PROD, 4, u64::from((prod + n) & mask));
            }
            6..=8 => dma(&rig, u)?,
            9 => page_request(&rig, u)?,
            _ => match u.int_in_range(0u8..=2)? {
                0 => un.set_checking(u.arbitrary()?),
                1 => un.set_stats(u.arbitrary()?),
                _ => {
                    let _ = (un.stats(), un.stale_reports(), un.registers());
                }
            },
        }
        // The registers still answer, and so does a plain request.
        let _ = un.mmio_read(SMMU_GERROR, 4);
        let _ = un.translate(Request::new(SIDS[0], None, IOVA, Access::READ));
    }
    Ok(())
}

fn ssid(u: &mut Unstructured<'_>) -> Result<Option<u32>> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 | 1 => None,
        2 => Some(u.int_in_range(0..=3)?),
        _ => Some(u.arbitrary()?),
    })
}

fn address(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=3)? {
        0..=2 => IOVA + u64::from(u.arbitrary::<u32>()? % (80 << 12)),
        _ => u.arbitrary()?,
    })
}

fn dma(rig: &Rig, u: &mut Unstructured<'_>) -> Result<()> {
    let req = Request {
        access: access(u)?,
        kind: match u.int_in_range(0u8..=3)? {
            0 | 1 => RequestKind::Untranslated,
            2 => RequestKind::Translated,
            _ => RequestKind::TranslationRequest,
        },
        sid: known_or_any(u, &SIDS)?,
        ssid: ssid(u)?,
        addr: address(u)?,
    };
    if let Ok(t) = rig.unit.translate(req) {
        check_translation(t.pa, t.len, 1 << 36, &req);
    }
    Ok(())
}

fn page_request(rig: &Rig, u: &mut Unstructured<'_>) -> Result<()> {
    let req = if u.ratio(3u8, 4u8)? {
        let bits: u8 = u.arbitrary()?;
        PageRequest::new(
            known_or_any(u, &SIDS)?,
            ssid(u)?,
            u.arbitrary()?,
            address(u)?,
            PriAccess {
                read: bits & 1 != 0,
                write: bits & 2 != 0,
                exec: bits & 4 != 0,
                privileged: bits & 8 != 0,
            },
            bits & 16 != 0,
        )
    } else {
        PageRequest {
            dw0: PriDw0::from_bits(u.arbitrary()?),
            dw1: PriDw1::from_bits(u.arbitrary()?),
        }
    };
    let _ = rig.unit.page_request(req);
    Ok(())
}
