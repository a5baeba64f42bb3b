//! The remapping unit from the fuzzer's bytes: register accesses of any offset and width,
//! root, context and PASID structures and page tables written word by word, invalidation
//! descriptors queued, DMA and page requests.

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use softiommu_mem::fuzz::{check_translation, known_or_any, mmio_offset, mmio_width};
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::fuzz::access;
use softiommu_pgtable::{Access, PageTable, Prot};

use crate::desc::{PageRequest, PageRequestQw0, PageRequestQw1};
use crate::model::{Request, VtdUnit};
use crate::regs::{
    FECTL_REG, FSTS_REG, GCMD_REG, GSTS_REG, IQA_REG, IQT_REG, PQA_REG, REG_SET_SIZE, RTADDR_REG,
    VtdParams,
};
use crate::structs::{
    ContextEntry, ContextQw0, ContextQw1, PasidDirEntry, PasidEntry, ScalableRootEntry,
    pasid_dir_index, pasid_table_index, root_entry_address,
};

/// Memory: structures in the first pages, table pages from `[TABLES, MEM)`.
const MEM: u64 = 8 << 20;
const TABLES: u64 = 4 << 20;
const ROOT: u64 = 0x1000;
const CONTEXT: u64 = 0x2000;
const DIR: u64 = 0x3000;
const PASIDS: u64 = 0x4000;
const IQ: u64 = 0x5000;
const PQ: u64 = 0x6000;
/// The requesters whose context entries the setup writes (bus 0).
const SIDS: [u16; 2] = [0x0010, 0x0018];
/// Where the setup maps pages, in both page tables.
const IOVA: u64 = 0x1000_0000;

const TE: u32 = 1 << 31;
const SRTP: u32 = 1 << 30;
const QIE: u32 = 1 << 26;

/// Runs a unit whose capabilities, structures and requests come from the bytes. The unit must
/// answer every access and request without panicking; a translation covers the rest of one
/// 4 KiB page at most, and the registers keep answering.
pub fn unit(data: &[u8]) {
    let _ = run(&mut Unstructured::new(data));
}

fn params(u: &mut Unstructured<'_>) -> Result<VtdParams> {
    let mut p = VtdParams::default();
    let flags: u32 = u.arbitrary()?;
    let bit = |n: u32| flags & 1 << n != 0;
    // Mostly the default unit; a quarter of the time, any combination of features.
    if flags >> 30 == 3 {
        p.first_stage = bit(0);
        p.fs_5level = bit(1);
        p.fs_1g = bit(2);
        p.second_stage = bit(3);
        p.ss_3level = bit(4);
        p.ss_4level = bit(5);
        p.ss_5level = bit(6);
        p.ss_2m = bit(7);
        p.ss_1g = bit(8);
        p.ss_ad = bit(9);
        p.nesting = bit(10);
        p.pass_through = bit(11);
        p.device_tlb = bit(12);
        p.page_requests = bit(13);
        p.queued_invalidation = bit(14);
        p.caching_mode = bit(15);
        p.virtual_command = bit(16);
        p.snoop_control = bit(17);
        p.interrupt_remapping = bit(18);
        p.scalable_mode = !bit(19);
        p.pasid_bits = u.int_in_range(0..=20)?;
        p.fault_records = u.int_in_range(0..=300)?;
        p.mgaw = u.int_in_range(30..=60)?;
        p.haw = u.int_in_range(30..=54)?;
        p.domain_id_bits = u.int_in_range(2..=17)?;
    }
    Ok(p)
}

/// The unit, its memory and its tables.
struct Rig {
    mem: Arc<RamArena>,
    unit: VtdUnit<Arc<RamArena>>,
    ss_root: u64,
    fs_root: u64,
    /// Pages of the page tables, for stray writes.
    table_pages: Vec<u64>,
    /// The page tables the setup mapped, kept for the whole run.
    _tables: (
        PageTable<VtdSs, Arc<RamArena>>,
        PageTable<X86, Arc<RamArena>>,
    ),
}

fn setup(u: &mut Unstructured<'_>) -> Result<Option<Rig>> {
    let params = params(u)?;
    let Ok(mem) = RamArena::new(0, MEM).map(Arc::new) else {
        return Ok(None);
    };
    let Ok(alloc) = PageAlloc::new(mem.clone(), TABLES, MEM - TABLES).map(Arc::new) else {
        return Ok(None);
    };
    let Ok(unit) = VtdUnit::new(
        params,
        mem.clone(),
        Arc::new(|_, _, _| {}),
        Arc::new(|_| {}),
    ) else {
        return Ok(None);
    };
    let (Ok(ss), Ok(fs)) = (
        VtdSs::new(VtdSsConfig::default()),
        X86::new(X86Config::default()),
    ) else {
        return Ok(None);
    };
    let (Ok(mut ss), Ok(mut fs)) = (
        PageTable::new(ss, alloc.clone()),
        PageTable::new(fs, alloc.clone()),
    ) else {
        return Ok(None);
    };
    let pages = u.int_in_range(1u64..=64)?;
    let _ = ss.map(IOVA, 0x20_0000, pages << 12, Prot::RW);
    let _ = fs.map(IOVA, 0x40_0000, pages << 12, Prot::RW);
    if u.arbitrary()? {
        let _ = ss.map(0x4000_0000, 0x4000_0000, 1 << 30, Prot::READ);
    }
    // Well-formed structures the fuzzer then changes: two requesters, PASIDs 0 to 3.
    let _ = ScalableRootEntry::new(Some(CONTEXT), None).write(&*mem, root_entry_address(ROOT, 0));
    for (i, sid) in SIDS.into_iter().enumerate() {
        let ctx = ContextEntry {
            qw0: ContextQw0::new()
                .with_p(true)
                .with_fpd(i == 1)
                .with_dte(true)
                .with_paside(true)
                .with_pre(true)
                .with_pdts(0)
                .with_pasiddirptr(DIR >> 12),
            qw1: ContextQw1::new(),
            qw2: 0,
            qw3: 0,
        };
        let _ = ctx.write(&*mem, CONTEXT + u64::from(sid as u8) * 32);
    }
    let _ = PasidDirEntry::new()
        .with_p(true)
        .with_smptblptr(PASIDS >> 12)
        .write(&*mem, DIR + u64::from(pasid_dir_index(0)) * 8);
    let _ = PasidEntry::second_stage(ss.root(), 2, 1).write(&*mem, pasid_entry(0));
    let rig = Rig {
        ss_root: ss.root(),
        fs_root: fs.root(),
        table_pages: (TABLES..TABLES + 64 * 4096).step_by(4096).collect(),
        mem,
        unit,
        _tables: (ss, fs),
    };
    // PASIDs 1 to 4: first stage, second stage (4-level), pass-through, nested; present.
    for (pasid, pgtt, aw) in [(1, 1, 0), (2, 2, 2), (3, 4, 0), (4, 3, 2)] {
        rig.retarget(pasid, 1 | aw << 2 | pgtt << 6, 1 + u64::from(pasid), 0)?;
    }
    // The bring-up a driver makes, then translation on (unless the bytes say otherwise).
    let un = &rig.unit;
    un.mmio_write(FECTL_REG, 4, 0);
    un.mmio_write(RTADDR_REG, 8, ROOT | 1 << 10);
    un.mmio_write(GCMD_REG, 4, u64::from(SRTP));
    un.mmio_write(IQA_REG, 8, IQ | 1 << 11);
    un.mmio_write(IQT_REG, 8, 0);
    rig.gcmd(QIE, true);
    un.mmio_write(PQA_REG, 8, PQ);
    if u.ratio(7u8, 8u8)? {
        rig.gcmd(TE, true);
    }
    Ok(Some(rig))
}

fn pasid_entry(pasid: u32) -> u64 {
    PASIDS + u64::from(pasid_table_index(pasid)) * 64
}

impl Rig {
    /// A GCMD write as a driver builds it: GSTS without the one-shot bits, `bit` set or clear.
    fn gcmd(&self, bit: u32, on: bool) {
        let sts = self.unit.mmio_read(GSTS_REG, 4) as u32 & 0x96ff_ffff;
        let v = if on { sts | bit } else { sts & !bit };
        self.unit.mmio_write(GCMD_REG, 4, u64::from(v));
    }

    /// Rewrites PASID entry `pasid` (0 to 7) with both tables and the low bits the fuzzer
    /// gives: the low 12 bits of QW0 (P, FPD, AW, PGTT, SSADE), the DID, and the low 12 bits
    /// of QW2 (SRE, FSPM, WPE, EAFE).
    fn retarget(&self, pasid: u32, qw0_low: u16, did: u64, qw2_low: u16) -> Result<()> {
        let at = pasid_entry(pasid);
        let words = [
            self.ss_root | u64::from(qw0_low & 0xfff),
            did,
            self.fs_root | u64::from(qw2_low & 0xfff),
        ];
        for (i, w) in words.into_iter().enumerate() {
            let _ = self.mem.store_u64(at + 8 * i as u64, w);
        }
        Ok(())
    }
}

/// Offsets of the registers software writes, and the edges of the register set.
const REGS: [u64; 16] = [
    GCMD_REG, RTADDR_REG, 0x028, FSTS_REG, FECTL_REG, 0x080, IQT_REG, IQA_REG, 0x09c, 0x0c0, 0x0c8,
    PQA_REG, 0x0dc, 0x508, 0x600, 0xe00,
];

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let Some(rig) = setup(u)? else {
        return Ok(());
    };
    let un = &rig.unit;
    while !u.is_empty() {
        match u.int_in_range(0u8..=9)? {
            0 | 1 => un.mmio_write(
                mmio_offset(u, &REGS, REG_SET_SIZE)?,
                mmio_width(u)?,
                u.arbitrary()?,
            ),
            2 => {
                let _ = un.mmio_read(mmio_offset(u, &REGS, REG_SET_SIZE)?, mmio_width(u)?);
            }
            3 => {
                // A word of the structures, the queues or the tables.
                let page = match u.int_in_range(0u8..=7)? {
                    0 => ROOT,
                    1 => CONTEXT,
                    2 => DIR,
                    3 => PASIDS,
                    4 => IQ,
                    5 => PQ,
                    _ => *u.choose(&rig.table_pages)?,
                };
                let at = page + u64::from(u.int_in_range(0u16..=511)?) * 8;
                let _ = rig.mem.store_u64(at, u.arbitrary()?);
            }
            4 => rig.retarget(
                u.int_in_range(0..=7)?,
                u.arbitrary()?,
                u.arbitrary()?,
                u.arbitrary()?,
            )?,
            5 => {
                // Descriptors at the tail, then the tail moved past them.
                let tail = un.mmio_read(IQT_REG, 8) & 0xff0;
                let n = u.int_in_range(1u64..=4)?;
                for i in 0..n {
                    for k in 0..4 {
                        let at = IQ + (tail + 32 * i + 8 * k) % 4096;
                        let _ = rig.mem.store_u64(at, u.arbitrary()?);
                    }
                }
                un.mmio_write(IQT_REG, 8, (tail + 32 * n) % 4096);
            }
            6 | 7 => dma(&rig, u)?,
            8 => page_request(&rig, u)?,
            _ => match u.int_in_range(0u8..=2)? {
                0 => un.set_checking(u.arbitrary()?),
                1 => un.set_stats(u.arbitrary()?),
                _ => {
                    let _ = (un.stats(), un.stale_reports());
                }
            },
        }
        // The registers still answer, and so does a plain request.
        let _ = un.mmio_read(FSTS_REG, 4);
        let _ = un.translate(Request {
            sid: SIDS[0],
            pasid: None,
            addr: IOVA,
            access: Access::READ,
        });
    }
    Ok(())
}

fn pasid(u: &mut Unstructured<'_>) -> Result<Option<u32>> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => None,
        1 | 2 => Some(u.int_in_range(0..=7)?),
        _ => Some(u.arbitrary()?),
    })
}

fn address(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 | 1 => IOVA + u64::from(u.arbitrary::<u32>()? % (80 << 12)),
        2 => 0x4000_0000 + u64::from(u.arbitrary::<u32>()?),
        _ => u.arbitrary()?,
    })
}

fn dma(rig: &Rig, u: &mut Unstructured<'_>) -> Result<()> {
    let req = Request {
        access: access(u)?,
        sid: known_or_any(u, &SIDS)?,
        pasid: pasid(u)?,
        addr: address(u)?,
    };
    if let Ok(t) = rig.unit.translate(req) {
        check_translation(t.pa, t.len, 1 << 30, &req);
    }
    Ok(())
}

fn page_request(rig: &Rig, u: &mut Unstructured<'_>) -> Result<()> {
    let (mut qw0, mut qw1): (u64, u64) = (u.arbitrary()?, u.arbitrary()?);
    if u.ratio(3u8, 4u8)? {
        // A well-formed request of a known requester, with the rest from the bytes.
        let p = pasid(u)?;
        let q0 = PageRequestQw0::from_bits(qw0)
            .with_rid(known_or_any(u, &SIDS)?)
            .with_pp(p.is_some())
            .with_pasid(p.unwrap_or(0) & 0xf_ffff);
        qw0 = q0.into_bits();
        let page = address(u)? >> 12;
        qw1 = (qw1 & 0xfff) | page << 12;
    }
    rig.unit.page_request(PageRequest {
        qw0: PageRequestQw0::from_bits(qw0),
        qw1: PageRequestQw1::from_bits(qw1),
    });
    Ok(())
}
