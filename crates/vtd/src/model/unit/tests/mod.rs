//! The unit as a driver sees it: everything through MMIO and memory.

use std::sync::Arc;

use parking_lot::Mutex;
use proptest::prelude::*;
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::{Access, PageTable, Prot};

use super::*;
use crate::desc::{
    Descriptor, InvWait, InvWaitQw0, InvWaitQw1, IotlbGranularity, IotlbInv, IotlbInvQw0,
    IotlbInvQw1, PageGroupResp, PageGroupRespQw0, PageGroupRespQw1, PageRequest, PageRequestQw0,
    PageRequestQw1,
};
use crate::model::DescriptorCounts;
use crate::regs::{
    Event, FEADDR_REG, FECTL_REG, FEDATA_REG, FRCD_REG, FSTS_REG, GCMD_REG, GSTS_REG, ICS_REG,
    IECTL_REG, IQA_REG, IQERCD_REG, IQH_REG, IQT_REG, PECTL_REG, PQA_REG, PQH_REG, PQT_REG,
    PRS_REG, RTADDR_REG, VCMD_REG, VCRSP_REG,
};
use crate::structs::testutil::ss_entry;
use crate::structs::{
    ContextEntry, ContextQw0, ContextQw1, PasidDirEntry, PasidEntry, ScalableRootEntry,
    pasid_dir_index, pasid_table_index, root_entry_address,
};

mod chaos;
mod endpoint;

const MEM: u64 = 32 << 20;
const SID: u16 = 0x0310;
/// A second device whose context entry sets FPD.
const SID_FPD: u16 = 0x0318;

const TE: u32 = 1 << 31;
const SRTP: u32 = 1 << 30;
const QIE: u32 = 1 << 26;

type Log<T> = Arc<Mutex<Vec<T>>>;

struct Rig {
    mem: Arc<RamArena>,
    alloc: Arc<PageAlloc<Arc<RamArena>>>,
    unit: VtdUnit<Arc<RamArena>>,
    irqs: Log<(Event, u64, u32)>,
    dev: Log<DeviceMessage>,
    pasid_table: u64,
    iq: u64,
    pq: u64,
}

fn req(sid: u16, pasid: Option<u32>, addr: u64, access: Access) -> Request {
    Request {
        sid,
        pasid,
        addr,
        access,
    }
}

impl Rig {
    /// Structures in memory, then the driver's bring-up through MMIO only: fault and
    /// completion events unmasked, root table latched, queue enabled; translation stays off.
    fn new(params: VtdParams) -> Rig {
        let mem = Arc::new(RamArena::new(0, MEM).unwrap());
        let alloc = Arc::new(PageAlloc::new(mem.clone(), 8 << 20, MEM - (8 << 20)).unwrap());
        let irqs: Log<(Event, u64, u32)> = Arc::default();
        let dev: Log<DeviceMessage> = Arc::default();
        let i = irqs.clone();
        let d = dev.clone();
        let unit = VtdUnit::new(
            params,
            mem.clone(),
            Arc::new(move |e, a, v| i.lock().push((e, a, v))),
            Arc::new(move |m| d.lock().push(m)),
        )
        .unwrap();
        let root = alloc.alloc(4096).unwrap();
        let ctx_table = alloc.alloc(4096).unwrap();
        let dir = alloc.alloc(4096).unwrap();
        let pasid_table = alloc.alloc(4096).unwrap();
        let iq = alloc.alloc(4096).unwrap();
        let pq = alloc.alloc(4096).unwrap();
        ScalableRootEntry::new(Some(ctx_table), None)
            .write(&*mem, root_entry_address(root, (SID >> 8) as u8))
            .unwrap();
        for (sid, fpd) in [(SID, false), (SID_FPD, true)] {
            let ctx = ContextEntry {
                qw0: ContextQw0::new()
                    .with_p(true)
                    .with_fpd(fpd)
                    .with_dte(true)
                    .with_paside(true)
                    .with_pre(true)
                    .with_pdts(0)
                    .with_pasiddirptr(dir >> 12),
                qw1: ContextQw1::new(),
                qw2: 0,
                qw3: 0,
            };
            ctx.write(&*mem, ctx_table + u64::from(sid as u8 & 0x7f) * 32)
                .unwrap();
        }
        PasidDirEntry::new()
            .with_p(true)
            .with_smptblptr(pasid_table >> 12)
            .write(&*mem, dir + u64::from(pasid_dir_index(0)) * 8)
            .unwrap();
        let rig = Rig {
            mem,
            alloc,
            unit,
            irqs,
            dev,
            pasid_table,
            iq,
            pq,
        };
        let u = &rig.unit;
        u.mmio_write(FEDATA_REG, 4, 0x41);
        u.mmio_write(FEADDR_REG, 4, 0xfee0_0000);
        u.mmio_write(FECTL_REG, 4, 0);
        u.mmio_write(IECTL_REG, 4, 0);
        u.mmio_write(PECTL_REG, 4, 0);
        u.mmio_write(RTADDR_REG, 8, root | 1 << 10);
        u.mmio_write(GCMD_REG, 4, u64::from(SRTP));
        assert_ne!(u.mmio_read(GSTS_REG, 4) as u32 & SRTP, 0, "GSTS.RTPS");
        u.mmio_write(IQA_REG, 8, iq | 1 << 11);
        u.mmio_write(IQT_REG, 8, 0);
        rig.gcmd(QIE, true);
        assert_ne!(u.mmio_read(GSTS_REG, 4) as u32 & QIE, 0, "GSTS.QIES");
        u.mmio_write(PQA_REG, 8, pq);
        rig
    }

    /// A GCMD write as Linux builds it: GSTS without the one-shot bits, `bit` set or clear.
    fn gcmd(&self, bit: u32, on: bool) {
        let sts = self.unit.mmio_read(GSTS_REG, 4) as u32 & 0x96ff_ffff;
        let v = if on { sts | bit } else { sts & !bit };
        self.unit.mmio_write(GCMD_REG, 4, u64::from(v));
    }

    fn set_pasid(&self, pasid: u32, e: PasidEntry) {
        e.write(
            &*self.mem,
            self.pasid_table + u64::from(pasid_table_index(pasid)) * 64,
        )
        .unwrap();
    }

    fn ss_table(&self) -> PageTable<VtdSs, Arc<RamArena>> {
        let f = VtdSs::new(VtdSsConfig::default()).unwrap();
        PageTable::new(f, self.alloc.clone()).unwrap()
    }

    fn iqh(&self) -> u64 {
        self.unit.mmio_read(IQH_REG, 8)
    }

    fn iqt(&self) -> u64 {
        self.unit.mmio_read(IQT_REG, 8)
    }

    fn iqei(&self) -> u64 {
        self.unit.mmio_read(IQERCD_REG, 8) & 0xf
    }

    fn iqe(&self) -> bool {
        self.unit.mmio_read(FSTS_REG, 4) & 1 << 4 != 0
    }

    /// Writes `descs` at the tail and moves the tail past them.
    fn submit(&self, descs: &[[u64; 4]]) {
        let mut tail = self.iqt();
        for d in descs {
            for (k, w) in d.iter().enumerate() {
                self.mem
                    .write(self.iq + tail + 8 * k as u64, &w.to_le_bytes())
                    .unwrap();
            }
            tail = (tail + 32) % 4096;
        }
        self.unit.mmio_write(IQT_REG, 8, tail);
    }

    fn read_u32(&self, at: u64) -> u32 {
        let mut b = [0u8; 4];
        self.mem.read(at, &mut b).unwrap();
        u32::from_le_bytes(b)
    }
}

fn wait(status_at: u64, data: u32, irq: bool) -> [u64; 4] {
    Descriptor::Wait(InvWait {
        qw0: InvWaitQw0::new()
            .with_sw(true)
            .with_if_flag(irq)
            .with_status_data(data),
        qw1: InvWaitQw1::new().with_status_address(status_at),
    })
    .encode()
}

#[test]
fn driver_bring_up_then_translation() {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table();
    ss.map(0x1000_0000, 0x20_0000, 0x2000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    // Translation off: requests pass untouched.
    let t = rig
        .unit
        .translate(req(SID, None, 0x1000_1234, Access::READ))
        .unwrap();
    assert_eq!(t.pa, 0x1000_1234);
    rig.gcmd(TE, true);
    assert_ne!(rig.unit.mmio_read(GSTS_REG, 4) as u32 & TE, 0, "GSTS.TES");
    let t = rig
        .unit
        .translate(req(SID, None, 0x1000_1234, Access::WRITE))
        .unwrap();
    assert_eq!(t.pa, 0x20_1234);
    assert!(rig.irqs.lock().is_empty());
}

#[test]
fn legacy_root_table_faults_rta1() {
    let rig = Rig::new(VtdParams::default());
    rig.unit.mmio_write(RTADDR_REG, 8, 0x10_0000); // TTM=00b.
    rig.unit.mmio_write(GCMD_REG, 4, u64::from(SRTP | QIE));
    assert_ne!(rig.unit.mmio_read(GSTS_REG, 4) as u32 & SRTP, 0);
    rig.gcmd(TE, true);
    let f = rig
        .unit
        .translate(req(SID, None, 0x1000, Access::READ))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Rta1);
    assert_eq!(rig.unit.mmio_read(FRCD_REG + 8, 8) >> 32 & 0xff, 0x30);
}

#[test]
fn iotlb_psi_through_the_queue_with_a_wait() {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table();
    ss.map(0x1000_0000, 0x20_0000, 0x2000, Prot::READ).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    rig.gcmd(TE, true);
    let r = req(SID, None, 0x1000_1000, Access::READ);
    assert_eq!(rig.unit.translate(r).unwrap().pa, 0x20_1000);
    ss.unmap(0x1000_0000, 0x2000).unwrap();
    // Still cached: nothing was invalidated.
    assert_eq!(rig.unit.translate(r).unwrap().pa, 0x20_1000);
    let status = rig.alloc.alloc(4096).unwrap();
    let psi = Descriptor::Iotlb(IotlbInv {
        qw0: IotlbInvQw0::new()
            .with_g(IotlbGranularity::Page)
            .with_did(7),
        qw1: IotlbInvQw1::new().with_am(1).with_addr(0x1000_0000 >> 12),
    })
    .encode();
    rig.submit(&[psi, wait(status, 0xc0ffee, true)]);
    assert_eq!(rig.read_u32(status), 0xc0ffee);
    assert_eq!(rig.unit.mmio_read(ICS_REG, 4) & 1, 1, "ICS.IWC");
    assert_eq!(rig.iqh(), rig.iqt());
    assert_eq!(rig.iqh(), 64);
    assert!(
        rig.irqs
            .lock()
            .iter()
            .any(|&(e, _, _)| e == Event::InvalidationCompletion)
    );
    let f = rig.unit.translate(r).unwrap_err();
    assert_eq!(f.reason, FaultReason::Sss2);
}

#[test]
fn queue_errors_stop_at_the_bad_descriptor() {
    let rig = Rig::new(VtdParams::default());
    let status = rig.alloc.alloc(4096).unwrap();
    // Invalid type (0h) after a good wait: IQEI 3, IQH on the bad one.
    rig.submit(&[wait(status, 1, false), [0, 0, 0, 0], wait(status, 2, false)]);
    assert!(rig.iqe());
    assert_eq!(rig.iqei(), 3);
    assert_eq!(rig.iqh(), 32);
    assert_eq!(rig.read_u32(status), 1);
    assert!(
        rig.irqs
            .lock()
            .iter()
            .any(|&(e, a, d)| e == Event::Fault && a == 0xfee0_0000 && d == 0x41)
    );
    // Fix it, clear IQE: the queue runs on.
    rig.mem.write(rig.iq + 32, &[0u8; 32]).unwrap();
    for (k, w) in wait(status, 3, false).iter().enumerate() {
        rig.mem
            .write(rig.iq + 32 + 8 * k as u64, &w.to_le_bytes())
            .unwrap();
    }
    rig.unit.mmio_write(FSTS_REG, 4, 1 << 4);
    assert!(!rig.iqe());
    assert_eq!(rig.iqh(), 96);
    assert_eq!(rig.read_u32(status), 2);

    // A reserved bit (iotlb_inv_dsc bit 8): IQEI 4.
    let bad = IotlbInv {
        qw0: IotlbInvQw0::new().with_g(IotlbGranularity::Global),
        qw1: IotlbInvQw1::new(),
    }
    .to_words();
    rig.submit(&[[bad[0] | 1 << 8, 0, 0, 0]]);
    assert!(rig.iqe());
    assert_eq!(rig.iqei(), 4);
    assert_eq!(rig.iqh(), 96);
    rig.mem.write(rig.iq + 96, &[0u8; 32]).unwrap();
    for (k, w) in bad.iter().enumerate() {
        rig.mem
            .write(rig.iq + 96 + 8 * k as u64, &w.to_le_bytes())
            .unwrap();
    }
    rig.unit.mmio_write(FSTS_REG, 4, 1 << 4);
    assert_eq!(rig.iqh(), 128);

    // A tail not on a 256-bit boundary: IQEI 6, IQH stays.
    rig.unit.mmio_write(IQT_REG, 8, 128 + 16);
    assert!(rig.iqe());
    assert_eq!(rig.iqei(), 6);
    assert_eq!(rig.iqh(), 128);
}

#[test]
fn queue_fetch_error_is_iqei_2() {
    let rig = Rig::new(VtdParams::default());
    rig.gcmd(QIE, false);
    rig.unit.mmio_write(IQA_REG, 8, (MEM + 0x10_0000) | 1 << 11);
    rig.gcmd(QIE, true);
    rig.unit.mmio_write(IQT_REG, 8, 32);
    assert!(rig.iqe());
    assert_eq!(rig.iqei(), 2);
    assert_eq!(rig.iqh(), 0);
}

#[test]
fn faults_are_recorded_and_signalled() {
    let rig = Rig::new(VtdParams::default());
    rig.gcmd(TE, true);
    // PASID 5 has no PASID-table entry: SPT.2.
    let access = Access {
        write: false,
        exec: false,
        privileged: true,
    };
    let f = rig
        .unit
        .translate(req(SID, Some(5), 0x1234_5678, access))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Spt2);
    assert!(f.record);
    let fsts = rig.unit.mmio_read(FSTS_REG, 4);
    assert_eq!(fsts & 2, 2, "PPF");
    assert_eq!(fsts >> 8 & 0xff, 0, "FRI");
    let lo = rig.unit.mmio_read(FRCD_REG, 8);
    let hi = rig.unit.mmio_read(FRCD_REG + 8, 8);
    assert_eq!(lo, 0x1234_5000, "FI");
    assert_eq!(hi & 0xffff, u64::from(SID), "SID");
    assert_eq!(hi >> 32 & 0xff, 0x59, "FR");
    assert_eq!(hi >> 31 & 1, 1, "PP");
    assert_eq!(hi >> 40 & 0xf_ffff, 5, "PV");
    assert_eq!(hi >> 29 & 1, 1, "PRIV");
    assert_eq!(hi >> 62 & 1, 1, "T1: read");
    assert_eq!(hi >> 28 & 1, 0, "T2");
    assert_eq!(hi >> 63, 1, "F");
    assert_eq!(
        rig.irqs.lock().as_slice(),
        &[(Event::Fault, 0xfee0_0000, 0x41)]
    );
    // Clearing F through MMIO empties the record.
    rig.unit.mmio_write(FRCD_REG + 12, 4, 1 << 31);
    assert_eq!(rig.unit.mmio_read(FSTS_REG, 4) & 2, 0);
}

#[test]
fn fpd_suppresses_qualified_faults() {
    let rig = Rig::new(VtdParams::default());
    rig.gcmd(TE, true);
    let f = rig
        .unit
        .translate(req(SID_FPD, Some(9), 0x4000, Access::WRITE))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Spt2);
    assert!(!f.record);
    assert_eq!(rig.unit.mmio_read(FRCD_REG + 8, 8) >> 63, 0);
    assert_eq!(rig.unit.mmio_read(FSTS_REG, 4) & 2, 0);
    assert!(rig.irqs.lock().is_empty());
}

fn page_req(prgi: u16, lpig: bool, page: u64) -> PageRequest {
    PageRequest {
        qw0: PageRequestQw0::new()
            .with_pp(true)
            .with_rid(SID)
            .with_pasid(3),
        qw1: PageRequestQw1::new()
            .with_rdr(true)
            .with_lpig(lpig)
            .with_prgi(prgi)
            .with_addr(page),
    }
}

#[test]
fn page_requests_fill_the_queue_then_overflow() {
    let rig = Rig::new(VtdParams::default());
    let first = page_req(1, false, 0x42);
    rig.unit.page_request(first);
    let mut w = [0u64; 4];
    for (k, x) in w.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        rig.mem.read(rig.pq + 8 * k as u64, &mut b).unwrap();
        *x = u64::from_le_bytes(b);
    }
    assert_eq!(PageRequest::decode(w), Ok(first));
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 32);
    assert_eq!(rig.unit.mmio_read(PRS_REG, 4) & 1, 1, "PPR");
    assert_eq!(
        rig.irqs
            .lock()
            .iter()
            .filter(|e| e.0 == Event::PageRequest)
            .count(),
        1
    );
    // 128 entries hold 127 requests.
    for i in 1..127 {
        rig.unit.page_request(page_req(2, false, i));
    }
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 127 * 32);
    assert_eq!(rig.unit.mmio_read(PRS_REG, 4) & 2, 0);
    // Full: dropped, PRO set, and the last of a group answered with Success.
    rig.unit.page_request(page_req(4, true, 0x99));
    assert_eq!(rig.unit.mmio_read(PRS_REG, 4) & 2, 2, "PRO");
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 127 * 32);
    let success = DeviceMessage::PageResponse {
        sid: SID,
        pasid: Some(3),
        prgi: 4,
        code: ResponseCode::Success,
    };
    assert_eq!(rig.dev.lock().as_slice(), &[success]);
    // Software consumes everything; PRO still set drops the next one too.
    rig.unit.mmio_write(PQH_REG, 8, 127 * 32);
    rig.unit.page_request(page_req(5, true, 0x9a));
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 127 * 32);
    assert_eq!(rig.dev.lock().len(), 2);
    // Cleared, the queue accepts again (and wraps).
    rig.unit.mmio_write(PRS_REG, 4, 3);
    rig.unit.page_request(page_req(6, false, 0x9b));
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 0);
    assert_eq!(rig.unit.mmio_read(PRS_REG, 4), 1);
}

#[test]
fn a_page_request_for_the_last_page_is_queued_after_its_invalidation() {
    let rig = Rig::new(VtdParams::default());
    let ss = rig.ss_table();
    rig.set_pasid(3, ss_entry(ss.root(), 7));
    rig.gcmd(TE, true);
    let last = page_req(1, false, (1 << 52) - 1);
    rig.unit.page_request(last);
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 32);
    let mut w = [0u64; 4];
    for (k, x) in w.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        rig.mem.read(rig.pq + 8 * k as u64, &mut b).unwrap();
        *x = u64::from_le_bytes(b);
    }
    assert_eq!(PageRequest::decode(w), Ok(last));
    assert_eq!(rig.unit.stats().implicit_invalidations, 1);
}

#[test]
fn page_group_responses_and_dev_tlb_reach_the_device() {
    let rig = Rig::new(VtdParams::default());
    let resp = Descriptor::PageGroupResponse(PageGroupResp {
        qw0: PageGroupRespQw0::new()
            .with_pp(true)
            .with_rid(SID)
            .with_pasid(3)
            .with_rc(ResponseCode::InvalidRequest),
        qw1: PageGroupRespQw1::new().with_prgi(7),
    })
    .encode();
    let dev_tlb = crate::desc::DevTlbInv {
        qw0: crate::desc::DevTlbInvQw0::new().with_sid(SID),
        qw1: crate::desc::DevTlbInvQw1::new()
            .with_s(true)
            .with_addr(0x1001),
    }
    .to_words();
    rig.submit(&[resp, dev_tlb]);
    assert!(!rig.iqe());
    assert_eq!(
        rig.dev.lock().as_slice(),
        &[
            DeviceMessage::PageResponse {
                sid: SID,
                pasid: Some(3),
                prgi: 7,
                code: ResponseCode::InvalidRequest,
            },
            DeviceMessage::InvalidateAtc {
                sid: SID,
                pasid: None,
                addr: 0x100_0000,
                pages: 4,
            },
        ]
    );
}

#[test]
fn virtual_commands_allocate_and_free_pasids() {
    let params = VtdParams {
        virtual_command: true,
        pasid_bits: 2,
        ..VtdParams::default()
    };
    let rig = Rig::new(params);
    let vcmd = |cmd: u64, oa: u64| {
        rig.unit.mmio_write(VCMD_REG, 8, oa << 16 | cmd);
        let r = rig.unit.mmio_read(VCRSP_REG, 8);
        assert_eq!(r & 1, 0, "IP clear");
        ((r >> 1 & 0x7f) as u8, r >> 16)
    };
    assert_eq!(vcmd(1, 0), (0, 1));
    assert_eq!(vcmd(1, 0), (0, 2));
    assert_eq!(vcmd(1, 0), (0, 3));
    assert_eq!(vcmd(1, 0), (16, 0), "no PASID left");
    assert_eq!(vcmd(2, 2), (0, 0));
    assert_eq!(vcmd(2, 2), (16, 0), "already free");
    assert_eq!(vcmd(2, 0), (16, 0), "PASID 0 is never allocated");
    assert_eq!(vcmd(2, 1 << 20), (16, 0), "out of range");
    assert_eq!(vcmd(1, 0), (0, 2));
    assert_eq!(vcmd(0, 0), (0, 0), "null");
    assert_eq!(vcmd(9, 0), (1, 0), "undefined");
}

/// A platform allocator handing out PASIDs from a list and taking back only those.
struct ListAllocator(Mutex<(Vec<u32>, Vec<u32>)>);

impl PasidAllocator for ListAllocator {
    fn alloc(&self) -> Option<u32> {
        let mut s = self.0.lock();
        let p = s.0.pop()?;
        s.1.push(p);
        Some(p)
    }

    fn free(&self, pasid: u32) -> bool {
        let mut s = self.0.lock();
        match s.1.iter().position(|&p| p == pasid) {
            Some(i) => {
                s.1.remove(i);
                s.0.push(pasid);
                true
            }
            None => false,
        }
    }
}

#[test]
fn virtual_commands_take_pasids_from_the_platform_allocator() {
    let params = VtdParams {
        virtual_command: true,
        pasid_bits: 8,
        ..VtdParams::default()
    };
    let rig = Rig::new(params);
    // 0x1ff is wider than 8 bits: given back and reported as none left.
    let list = Arc::new(ListAllocator(Mutex::new((vec![0x42, 0x1ff], vec![]))));
    rig.unit.set_pasid_allocator(Some(list.clone()));
    let vcmd = |cmd: u64, oa: u64| {
        rig.unit.mmio_write(VCMD_REG, 8, oa << 16 | cmd);
        rig.unit.mmio_read(VCRSP_REG, 8)
    };
    // VCRSP known answers: RSLT in 63:16, SC in 7:1, IP (bit 0) clear.
    assert_eq!(vcmd(1, 0), 16 << 1, "a PASID beyond the width");
    assert_eq!(list.0.lock().0, vec![0x42, 0x1ff], "given back");
    list.0.lock().0.retain(|&p| p != 0x1ff);
    assert_eq!(vcmd(1, 0), 0x42 << 16, "the platform's PASID");
    assert_eq!(vcmd(1, 0), 16 << 1, "none left");
    assert_eq!(vcmd(2, 0x43), 16 << 1, "not handed out");
    assert_eq!(vcmd(2, 0x1_0000), 16 << 1, "beyond the width, not asked");
    assert_eq!(vcmd(2, 0x42), 0);
    assert_eq!(list.0.lock().1, Vec::<u32>::new());
    // Without the allocator the unit's own space answers again.
    rig.unit.set_pasid_allocator(None);
    assert_eq!(vcmd(1, 0), 1 << 16);
}

#[test]
fn an_injected_fault_is_recorded_as_the_units_own() {
    let params = VtdParams {
        fault_records: 2,
        ..VtdParams::default()
    };
    let rig = Rig::new(params);
    let fault = |addr: u64| FaultRecord {
        sid: SID,
        addr,
        reason: 0x5b,
        kind: RequestKind::Write,
        at: AddressType::Untranslated,
        pasid: Some(7),
        privileged: false,
        execute: false,
    };
    assert!(rig.unit.inject_fault(fault(0x7000_1234)));
    assert_eq!(rig.unit.mmio_read(FRCD_REG, 8), 0x7000_1000);
    // F, T1 = 0 (write), PV 7, FR 5Bh, PP, SID: known answer of the high word.
    assert_eq!(
        rig.unit.mmio_read(FRCD_REG + 8, 8),
        1 << 63 | 7 << 40 | 0x5b << 32 | 1 << 31 | u64::from(SID)
    );
    assert_eq!(rig.unit.mmio_read(FSTS_REG, 4) & 2, 2, "PPF");
    assert_eq!(rig.irqs.lock().len(), 1, "the fault event");
    assert!(rig.unit.inject_fault(fault(0x8000_0000)));
    // Both records in use: the third sets PFO and is dropped.
    assert!(!rig.unit.inject_fault(fault(0x9000_0000)));
    assert_eq!(rig.unit.mmio_read(FSTS_REG, 4) & 3, 3, "PFO and PPF");
    assert_eq!(rig.unit.mmio_read(FRCD_REG + 16, 8), 0x8000_0000);
}

/// Random descriptors, biased towards valid types and sparse fields.
fn descriptor() -> impl Strategy<Value = [u64; 4]> {
    let sparse = (0u64..12, any::<u64>(), any::<u64>()).prop_map(|(ty, a, b)| {
        // Keep the type, a granularity, and DID/SID/PASID-ish fields.
        [ty | (a & 0x0fff_ffff_ffff_0030), b & !(0x3f << 6), 0, 0]
    });
    prop_oneof![sparse, any::<[u64; 4]>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_descriptors_progress_or_stop_with_an_error(
        descs in proptest::collection::vec(descriptor(), 1..8)
    ) {
        let rig = Rig::new(VtdParams::default());
        rig.submit(&descs);
        let (iqh, iqt) = (rig.iqh(), rig.iqt());
        if rig.iqe() {
            let code = rig.iqei();
            prop_assert!((1..=7).contains(&code));
            prop_assert!(iqh < iqt);
            prop_assert_eq!(iqh % 32, 0);
            // IQH is on a descriptor that does not decode — as it stands in memory now (a
            // random wait descriptor may have written its status over a later one).
            let at = rig.iq + iqh;
            let mut bad = [0u64; 4];
            for (i, w) in bad.iter_mut().enumerate() {
                *w = rig.mem.load_u64(at + 8 * i as u64).unwrap();
            }
            let mode = crate::desc::QueueMode { scalable: true, dw256: true };
            let caps = crate::desc::DescCaps {
                dit: false, pds: true, prs: true, hpts: false, mamv: crate::regs::MAMV,
            };
            prop_assert!(Descriptor::decode(bad, mode, &caps).is_err());
        } else {
            prop_assert_eq!(iqh, iqt);
        }
    }
}

#[test]
fn the_unit_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<VtdUnit<Arc<RamArena>>>();
}

#[test]
fn stats_count_hits_and_walks_only_while_on() {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table();
    ss.map(0x1000_0000, 0x20_0000, 0x2000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    rig.gcmd(TE, true);
    let r = |page: u64| req(SID, None, 0x1000_0000 + page * 0x1000, Access::READ);
    rig.unit.translate(r(0)).unwrap();
    rig.unit.translate(r(0)).unwrap();
    assert_eq!(
        (rig.unit.stats().iotlb_hits, rig.unit.stats().walks),
        (0, 0)
    );
    rig.unit.set_stats(true);
    rig.unit.translate(r(0)).unwrap(); // Cached before.
    rig.unit.translate(r(1)).unwrap(); // Walks.
    rig.unit.translate(r(1)).unwrap();
    rig.unit.translate(r(5)).unwrap_err(); // Walks and faults.
    let s = rig.unit.stats();
    assert_eq!((s.iotlb_hits, s.walks), (2, 2));
    rig.unit.set_stats(false);
    rig.unit.translate(r(1)).unwrap();
    assert_eq!(rig.unit.stats(), s);
}

#[test]
fn stats_count_descriptors_by_type_and_batches_that_flush_the_iotlb() {
    let rig = Rig::new(VtdParams::default());
    let status = rig.alloc.alloc(4096).unwrap();
    let dsi = Descriptor::Iotlb(IotlbInv {
        qw0: IotlbInvQw0::new()
            .with_g(IotlbGranularity::Domain)
            .with_did(7),
        qw1: IotlbInvQw1::new(),
    })
    .encode();
    let p_iotlb = crate::desc::PIotlbInv {
        qw0: crate::desc::PIotlbInvQw0::new()
            .with_g(crate::desc::PIotlbGranularity::Pasid)
            .with_did(7)
            .with_pasid(3),
        qw1: IotlbInvQw1::new(),
    }
    .to_words();
    let cc = crate::desc::CcInv {
        qw0: crate::desc::CcInvQw0::new().with_g(crate::desc::CcGranularity::Global),
    }
    .to_words();
    let pc = crate::desc::PcInv {
        qw0: crate::desc::PcInvQw0::new().with_g(crate::desc::PcGranularity::Global),
    }
    .to_words();
    // Two IOTLB invalidations in one batch, a batch without any, one with a p_iotlb.
    rig.submit(&[dsi, dsi, wait(status, 1, false)]);
    rig.submit(&[cc, pc, wait(status, 2, false)]);
    rig.submit(&[p_iotlb, wait(status, 3, false)]);
    assert!(!rig.iqe());
    let s = rig.unit.stats();
    assert_eq!(
        s.descriptors,
        DescriptorCounts {
            context_cache: 1,
            iotlb: 2,
            wait: 3,
            pasid_iotlb: 1,
            pasid_cache: 1,
            ..DescriptorCounts::default()
        }
    );
    assert_eq!(s.iotlb_batches, 2);
    assert_eq!((s.register_invalidations, s.implicit_invalidations), (0, 0));
}
