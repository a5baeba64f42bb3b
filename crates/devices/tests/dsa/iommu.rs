//! A small IOMMU for the ATS and PRI tests: a page map per PASID, translation requests
//! answered from it, translated requests let through and recorded, and page requests
//! answered as the test chooses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use softiommu_devices::bus::{
    AddressType, AtsFailure, AtsRequest, AtsTranslation, DmaFault, DmaRequest, Endpoint,
    MsiMessage, PageRequest, PageResponse, PageResponseCode, Rights, Translation, Upstream,
};
use softiommu_mem::{AddressSpace, RamArena};

/// A read-write translation completion of the 4 KiB page holding `addr` to the page at `pa`.
pub fn page_completion(addr: u64, pa: u64) -> AtsTranslation {
    AtsTranslation {
        untranslated: addr & !0xfff,
        translated: pa & !0xfff,
        size_log2: 12,
        rights: Rights::READ_WRITE,
        global: false,
        untranslated_only: false,
    }
}

/// How the IOMMU answers page requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prs {
    /// Maps the page (to the physical page of the same address) and answers Success from
    /// within the page request.
    MapNow,
    /// Maps the page and answers Success from another thread a little later.
    MapLater,
    /// Answers Invalid Request.
    Invalid,
    /// Answers Response Failure.
    Failure,
    /// Never answers.
    Never,
}

/// The test IOMMU.
pub struct Iommu {
    mem: Arc<RamArena>,
    /// IOVA page to physical page, per PASID.
    map: Mutex<HashMap<(Option<u32>, u64), u64>>,
    /// Physical pages whose translation an invalidation has retired.
    pub retired: Mutex<HashSet<u64>>,
    /// Translated accesses to a retired page.
    pub stale: AtomicUsize,
    /// Translated accesses.
    pub translated: AtomicUsize,
    /// Translated accesses that carried a PASID prefix.
    pub translated_with_pasid: AtomicUsize,
    /// Microseconds a translated access takes before it reaches memory (widens races).
    pub access_delay_us: AtomicUsize,
    /// Untranslated requests.
    pub untranslated: AtomicUsize,
    /// Translation requests.
    pub ats: AtomicUsize,
    /// Page requests received.
    pub page_requests: Mutex<Vec<PageRequest>>,
    /// How page requests are answered.
    pub prs: Mutex<Prs>,
    /// Holds translated writes to one physical page until the gate opens.
    pub gate: Mutex<Option<Arc<Gate>>>,
    endpoint: Mutex<Option<Arc<dyn Endpoint>>>,
}

/// Holds translated writes to one physical page until opened, and tells when one arrived.
pub struct Gate {
    page: u64,
    /// (a write arrived, the gate is open)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Gate {
    /// A closed gate for the writes to the page holding `pa`.
    pub fn new(pa: u64) -> Arc<Gate> {
        Arc::new(Gate {
            page: pa >> 12,
            state: Mutex::new((false, false)),
            changed: Condvar::new(),
        })
    }

    /// Waits until a write reached the gate.
    pub fn wait_arrival(&self) {
        let mut s = self.state.lock();
        while !s.0 {
            self.changed.wait(&mut s);
        }
    }

    /// Lets every write through from now on.
    pub fn open(&self) {
        self.state.lock().1 = true;
        self.changed.notify_all();
    }

    /// A write to `pa` arrives: held while the gate is closed.
    fn pass(&self, pa: u64) {
        if pa >> 12 != self.page {
            return;
        }
        let mut s = self.state.lock();
        s.0 = true;
        self.changed.notify_all();
        while !s.1 {
            self.changed.wait(&mut s);
        }
    }
}

impl Iommu {
    /// An IOMMU over `mem` with nothing mapped.
    pub fn new(mem: Arc<RamArena>, prs: Prs) -> Arc<Self> {
        Arc::new(Self {
            mem,
            map: Mutex::new(HashMap::new()),
            retired: Mutex::new(HashSet::new()),
            stale: AtomicUsize::new(0),
            translated: AtomicUsize::new(0),
            translated_with_pasid: AtomicUsize::new(0),
            access_delay_us: AtomicUsize::new(0),
            untranslated: AtomicUsize::new(0),
            ats: AtomicUsize::new(0),
            page_requests: Mutex::new(Vec::new()),
            prs: Mutex::new(prs),
            gate: Mutex::new(None),
            endpoint: Mutex::new(None),
        })
    }

    /// Maps `pages` pages at `iova` of `pasid` to `pa`.
    pub fn map(&self, pasid: Option<u32>, iova: u64, pa: u64, pages: u64) {
        let mut m = self.map.lock();
        for i in 0..pages {
            m.insert((pasid, (iova >> 12) + i), pa + (i << 12));
        }
    }

    /// The attached endpoint.
    pub fn endpoint(&self) -> Arc<dyn Endpoint> {
        self.endpoint.lock().clone().expect("attached")
    }

    fn lookup(&self, pasid: Option<u32>, addr: u64) -> Option<u64> {
        self.map.lock().get(&(pasid, addr >> 12)).copied()
    }
}

impl Upstream for Iommu {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        let in_page = 0x1000 - (req.addr & 0xfff);
        if req.at == AddressType::Translated {
            self.translated.fetch_add(1, SeqCst);
            if req.pasid.is_some() {
                self.translated_with_pasid.fetch_add(1, SeqCst);
            }
            let delay = self.access_delay_us.load(SeqCst) as u64;
            if delay > 0 {
                std::thread::sleep(Duration::from_micros(delay));
            }
            let gate = self.gate.lock().clone();
            if let Some(g) = gate.filter(|_| req.is_write()) {
                g.pass(req.addr);
            }
            if self.retired.lock().contains(&(req.addr >> 12)) {
                self.stale.fetch_add(1, SeqCst);
            }
            return Ok(Translation {
                addr: req.addr,
                len: in_page,
                rights: Rights::READ_WRITE,
            });
        }
        self.untranslated.fetch_add(1, SeqCst);
        let pa = self
            .lookup(req.pasid.map(|p| p.pasid), req.addr)
            .ok_or(DmaFault::UnsupportedRequest)?;
        Ok(Translation {
            addr: pa | (req.addr & 0xfff),
            len: in_page,
            rights: Rights::READ_WRITE,
        })
    }

    fn memory(&self) -> &dyn AddressSpace {
        &*self.mem
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        self.ats.fetch_add(1, SeqCst);
        Ok(match self.lookup(req.pasid.map(|p| p.pasid), req.addr) {
            Some(pa) => page_completion(req.addr, pa),
            None => AtsTranslation::no_access(req.addr),
        })
    }

    fn page_request(&self, req: &PageRequest) {
        self.page_requests.lock().push(*req);
        let pasid = req.pasid.map(|p| p.pasid);
        let resp = |code| PageResponse {
            rid: req.rid,
            pasid,
            prgi: req.prgi,
            code,
        };
        let ep = self.endpoint();
        match *self.prs.lock() {
            Prs::MapNow => {
                self.map(pasid, req.addr, req.addr & !0xfff, 1);
                ep.page_response(&resp(PageResponseCode::Success));
            }
            Prs::MapLater => {
                self.map(pasid, req.addr, req.addr & !0xfff, 1);
                let r = resp(PageResponseCode::Success);
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    ep.page_response(&r);
                });
            }
            Prs::Invalid => ep.page_response(&resp(PageResponseCode::InvalidRequest)),
            Prs::Failure => ep.page_response(&resp(PageResponseCode::ResponseFailure)),
            Prs::Never => {}
        }
    }

    fn msi(&self, _rid: u16, _msg: MsiMessage) -> Result<(), DmaFault> {
        Ok(())
    }

    fn attach(&self, _rid: u16, endpoint: Arc<dyn Endpoint>) {
        *self.endpoint.lock() = Some(endpoint);
    }

    fn detach(&self, _rid: u16) {
        *self.endpoint.lock() = None;
    }
}
