//! Shared virtual addressing with real bytes (S9 of `docs/design.md`): a process address
//! space bound to the engine at a PASID, moves on a shared WQ with block on fault, ATS and
//! PRI enabled in the function. A page the process has not touched comes back from the ATC
//! as a translation without access; the engine sends a page request, the IOMMU queues it
//! and raises its page-request interrupt, whose handler has the core route the request to
//! the address space's fault handler; the answer goes back through the driver as a page
//! group response, and the engine retries or reports the fault.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{Engine, StopOnDrop, WqSpec, pattern, platform};
use crate::testing::harness::{Harness, Platform};
use crate::{Mm, Pasid};
use softiommu_devices::bus::{PageRequest, PageResponseCode};
use softiommu_devices::dsa::{CompletionRecord, Descriptor, Enqcmd, Status};
use softiommu_pgtable::{Format, Prot};

/// Where the process keeps the source, the destination and the completion records.
const SRC: u64 = 0x5000_0000;
const DST: u64 = 0x6000_0000;
const CR: u64 = 0x7000_0000;
/// Outstanding page requests the function may have.
const ALLOCATION: u32 = 8;
/// How long a page request waits for its response: only a broken path waits that long.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` while a thread serves the page-request interrupt of instance `inst` of `p` as an
/// OS's threaded interrupt handler does: at each interrupt the core has the driver take
/// what the hardware queued and routes every request to its address space's fault handler
/// ([`Iommu::page_request_event`](crate::Iommu::page_request_event)). Returns what `f`
/// returned and how many requests the core routed.
pub fn serving_page_requests<R>(p: &Platform, inst: usize, f: impl FnOnce() -> R) -> (R, usize) {
    let line = p
        .page_request_irq(inst)
        .expect("the harness wires the page-request interrupt");
    let instance = p.inst[inst];
    let flag = AtomicBool::new(false);
    let seen = line.raised();
    std::thread::scope(|s| {
        let handler = s.spawn(|| {
            let (mut seen, mut routed) = (seen, 0);
            while let Some(n) = line.wait_past(seen, &flag) {
                seen = n;
                routed += p.iommu.page_request_event(instance).expect("the instance");
            }
            routed
        });
        let r = {
            let _stop = StopOnDrop {
                flag: &flag,
                line: Some(&line),
            };
            f()
        };
        (r, handler.join().expect("the page-request handler"))
    })
}

/// A process whose address space is bound to an engine: the engine's WQ 0 is shared with
/// block on fault, WQ 1 shared without; ATS and PRI are enabled in the function; the
/// completion record's page is present.
struct Process {
    p: Platform,
    e: Engine,
    mm: Arc<Mm>,
    pasid: Pasid,
    /// The process's page size.
    g: u64,
    cr_pa: u64,
}

impl Process {
    fn new(h: &dyn Harness) -> Process {
        let p = platform(h);
        let e = Engine::new(&p, 0);
        e.enable_ats();
        e.enable_pri(ALLOCATION, RESPONSE_TIMEOUT);
        let shared = |bof| WqSpec {
            pasid: None,
            shared: true,
            bof,
        };
        e.bring_up_wqs(&[shared(true), shared(false)]);
        let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
        let pasid = p.iommu.sva_bind(e.dev, &mm).unwrap();
        let g = mm.format().geometry().granule();
        mm.mmap(CR, g, Prot::RW).unwrap();
        mm.populate(CR, g).unwrap();
        let cr_pa = mm.lookup(CR).unwrap();
        Process {
            p,
            e,
            mm,
            pasid,
            g,
            cr_pa,
        }
    }

    /// A move of `len` bytes from `src` to `dst` on WQ `wq`, the descriptor asking for block
    /// on fault with `bof`, submitted by ENQCMD with the process's PASID, while the
    /// page-request interrupt is served; the completion record and the requests routed.
    fn memmove(
        &self,
        wq: u32,
        (src, dst, len): (u64, u64, u64),
        bof: bool,
    ) -> (CompletionRecord, usize) {
        let mut d = Descriptor::memmove(src, dst, len as u32).with_completion(CR);
        d.set_flags(d.flags().with_block_on_fault(bof));
        let enq = Enqcmd {
            pasid: self.pasid,
            privileged: false,
        };
        serving_page_requests(&self.p, 0, || {
            self.e.run(&self.p, wq, &d, Some(enq), self.cr_pa)
        })
    }

    /// The process maps `src_pages` pages at SRC and `dst_pages` at DST, and writes a
    /// pattern seeded by `seed` into the first `written` pages at SRC (which makes them
    /// present); returns the pattern.
    fn buffers(&self, (src_pages, written): (u64, u64), dst_pages: u64, seed: u8) -> Vec<u8> {
        let g = self.g;
        self.mm.mmap(SRC, src_pages * g, Prot::RW).unwrap();
        self.mm.mmap(DST, dst_pages * g, Prot::RW).unwrap();
        self.mm.populate(SRC, written * g).unwrap();
        let data = pattern((written * g) as usize, seed);
        self.write(SRC, &data);
        data
    }

    /// The physical address of each page of `[addr, addr + len)`, where present.
    fn pages(&self, addr: u64, len: u64) -> Vec<Option<u64>> {
        (addr / self.g..(addr + len).div_ceil(self.g))
            .map(|n| self.mm.lookup(n * self.g))
            .collect()
    }

    /// Copies between the process's memory at `addr` and `buf`, page by page, as the CPU
    /// sees it (every page present).
    fn access(&self, addr: u64, len: usize, mut f: impl FnMut(u64, std::ops::Range<usize>)) {
        let mut done = 0;
        while done < len {
            let at = addr + done as u64;
            let n = (self.g - at % self.g).min((len - done) as u64) as usize;
            let pa = self.mm.lookup(at).expect("a present page");
            f(pa, done..done + n);
            done += n;
        }
    }

    /// The process writes `data` at `addr`.
    fn write(&self, addr: u64, data: &[u8]) {
        self.access(addr, data.len(), |pa, r| {
            self.p.mem().write(pa, &data[r]).unwrap()
        });
    }

    /// The process reads `len` bytes at `addr`.
    fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.access(addr, len, |pa, r| {
            self.p.mem().read(pa, &mut out[r]).unwrap()
        });
        out
    }

    /// The (page address, write) of each page request the function sent, checking that each
    /// carried the process's PASID, unprivileged, and ended its group.
    fn page_requests(&self) -> Vec<(u64, bool)> {
        let reqs: Vec<PageRequest> = self.e.tap.page_requests();
        for r in &reqs {
            let pasid = r.pasid.map(|p| (p.pasid, p.privileged, p.execute));
            assert_eq!(
                (r.rid, pasid, r.last),
                (self.e.rid, Some((self.pasid, false, false)), true),
                "{r:?}"
            );
        }
        reqs.iter().map(|r| (r.addr, r.write)).collect()
    }

    /// The codes of the page responses the function received, checking that each answered
    /// one of its requests (PASID and group index).
    fn page_responses(&self) -> Vec<PageResponseCode> {
        let reqs = self.e.tap.page_requests();
        let resps = self.e.tap.page_responses();
        for r in &resps {
            let asked = reqs.iter().any(|q| q.prgi == r.prgi);
            assert!(
                asked && r.rid == self.e.rid && r.pasid == Some(self.pasid),
                "{r:?}"
            );
        }
        resps.iter().map(|r| r.code).collect()
    }
}

/// S9 with real bytes: a move with block on fault across three source pages, of which the
/// process has touched two, into three destination pages it has never touched. Each
/// missing page costs one page request; the core's fault handler makes it present (a zeroed
/// page) and answers Success; the engine retries, and the move completes with the bytes the
/// process had, zeros where it had none.
pub fn an_sva_move_with_block_on_fault_has_the_core_make_its_pages_present(h: &dyn Harness) {
    let s = Process::new(h);
    let g = s.g;
    let data = s.buffers((3, 2), 3, 11);
    assert_eq!(s.pages(SRC + 2 * g, g), [None]);
    assert_eq!(s.pages(DST, 3 * g), [None, None, None]);

    let len = 3 * g - 500;
    let (r, routed) = s.memmove(0, (SRC + 200, DST + 300, len), true);
    assert_eq!(
        (r.status, r.bytes_completed),
        (Status::Success as u8, 0),
        "{r:?}"
    );
    let mut want = vec![0u8; 3 * g as usize];
    want[300..300 + data.len() - 200].copy_from_slice(&data[200..]);
    assert!(
        s.read(DST, 3 * g as usize) == want,
        "the process's bytes, zeros from the page it never touched, nothing else"
    );
    // One request per missing page, in the order the move met them: the destination's
    // pages, then the source's last page.
    assert_eq!(
        s.page_requests(),
        [
            (DST, true),
            (DST + g, true),
            (DST + 2 * g, true),
            (SRC + 2 * g, false)
        ]
    );
    assert_eq!(s.page_responses(), [PageResponseCode::Success; 4]);
    assert_eq!(routed, 4, "every request reached the core");
    assert!(
        s.pages(SRC, 3 * g)
            .iter()
            .chain(&s.pages(DST, 3 * g))
            .all(Option::is_some)
    );
}

/// A move with block on fault that runs out of the process's mappings: the page inside
/// one is made present and its bytes land; the core's handler refuses the page outside,
/// the response is Invalid Request, and the descriptor ends with a page-fault completion
/// record at that page with the bytes moved before it. Nothing is mapped there.
pub fn an_sva_move_past_the_process_s_mappings_ends_in_a_page_fault(h: &dyn Harness) {
    let s = Process::new(h);
    let g = s.g;
    let data = s.buffers((1, 1), 1, 5);

    let (r, routed) = s.memmove(0, (SRC, DST + g - 1000, 2000), true);
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr, r.fault_info & 1),
        (Status::PageFaultIr as u8, 1000, DST + g, 1),
        "{r:?}"
    );
    let mut want = vec![0u8; g as usize];
    want[g as usize - 1000..].copy_from_slice(&data[..1000]);
    assert!(
        s.read(DST, g as usize) == want,
        "the bytes before the fault"
    );
    assert_eq!(s.page_requests(), [(DST, true), (DST + g, true)]);
    assert_eq!(
        s.page_responses(),
        [PageResponseCode::Success, PageResponseCode::InvalidRequest]
    );
    assert_eq!(routed, 2);
    assert_eq!(
        s.pages(DST + g, g),
        [None],
        "nothing mapped outside the mappings"
    );
}

/// Without block on fault — the descriptor does not ask for it, or its WQ does not allow
/// it — a missing page sends no page request: the completion record reports the fault at
/// the page and nothing becomes present. The same move with block on fault then completes.
pub fn an_sva_move_without_block_on_fault_sends_no_page_request(h: &dyn Harness) {
    let s = Process::new(h);
    let g = s.g;
    let data = s.buffers((1, 1), 1, 9);

    for (wq, bof) in [(0, false), (1, true), (1, false)] {
        let (r, routed) = s.memmove(wq, (SRC, DST, 256), bof);
        assert_eq!(
            (r.status, r.bytes_completed, r.fault_addr, r.fault_info & 1),
            (Status::PageFaultNoBof as u8, 0, DST, 1),
            "WQ {wq}, descriptor block on fault {bof}: {r:?}"
        );
        assert_eq!(routed, 0);
    }
    assert_eq!(s.page_requests(), []);
    assert_eq!(s.page_responses(), []);
    assert_eq!(s.pages(DST, g), [None]);

    let (r, routed) = s.memmove(0, (SRC, DST, 256), true);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(s.read(DST, 256), data[..256]);
    assert_eq!((s.page_requests(), routed), (vec![(DST, true)], 1));
}
