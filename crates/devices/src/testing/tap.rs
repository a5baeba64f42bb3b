//! A tap on the bus between one function and its upstream: what the function sends (page
//! requests, translation requests, translated requests) is counted or recorded, what it is
//! sent (completed ATC invalidations, page responses) is recorded, and everything passes on
//! unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;
use softiommu_mem::AddressSpace;

use super::BusLog;
use crate::bus::{
    AddressType, AtcInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest, AtsTranslation,
    DmaError, DmaFault, DmaRequest, Endpoint, MsiMessage, PageRequest, PageResponse, StallOutcome,
    Translation, Upstream,
};

/// An [`Upstream`] that passes every request to another and records the traffic both ways.
/// A function built on it attaches through it: the endpoint it attaches receives what the
/// real upstream sends, after the tap recorded it.
pub struct Tap {
    upstream: Arc<dyn Upstream>,
    received: Arc<BusLog>,
    page_requests: Mutex<Vec<PageRequest>>,
    translation_requests: AtomicU64,
    translated: AtomicU64,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("received", &self.received)
            .field("page_requests", &self.page_requests.lock().len())
            .finish_non_exhaustive()
    }
}

impl Tap {
    /// A tap in front of `upstream`, with nothing recorded yet.
    pub fn new(upstream: Arc<dyn Upstream>) -> Arc<Tap> {
        Arc::new(Tap {
            upstream,
            received: Arc::default(),
            page_requests: Mutex::new(Vec::new()),
            translation_requests: AtomicU64::new(0),
            translated: AtomicU64::new(0),
        })
    }

    /// The page requests the function sent, oldest first.
    pub fn page_requests(&self) -> Vec<PageRequest> {
        self.page_requests.lock().clone()
    }

    /// The page responses the function received, oldest first. Each is recorded before
    /// the function gets it, so a function that acted on a response finds it here.
    pub fn page_responses(&self) -> Vec<PageResponse> {
        self.received.responses.lock().clone()
    }

    /// The ATC invalidations the function completed, oldest first. Each is recorded once
    /// the function completed it and before the upstream learns so.
    pub fn invalidations(&self) -> Vec<AtcInvalidation> {
        self.received.invalidations.lock().clone()
    }

    /// ATS translation requests the function sent.
    pub fn translation_requests(&self) -> u64 {
        self.translation_requests.load(Relaxed)
    }

    /// Translated DMA requests (addresses from the function's ATC) the function sent.
    pub fn translated_requests(&self) -> u64 {
        self.translated.load(Relaxed)
    }

    fn count(&self, req: &DmaRequest) {
        if req.at == AddressType::Translated {
            self.translated.fetch_add(1, Relaxed);
        }
    }
}

impl Upstream for Tap {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        self.upstream.translate(req)
    }

    fn memory(&self) -> &dyn AddressSpace {
        self.upstream.memory()
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        self.translation_requests.fetch_add(1, Relaxed);
        self.upstream.ats_translate(req)
    }

    fn page_request(&self, req: &PageRequest) {
        self.page_requests.lock().push(*req);
        self.upstream.page_request(req);
    }

    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.upstream.msi(rid, msg)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        let tee = Tee {
            log: self.received.clone(),
            endpoint,
        };
        self.upstream.attach(rid, Arc::new(tee));
    }

    fn detach(&self, rid: u16) {
        self.upstream.detach(rid);
    }

    fn dma_read(&self, req: &DmaRequest, buf: &mut [u8]) -> Result<(), DmaError> {
        self.count(req);
        self.upstream.dma_read(req, buf)
    }

    fn dma_write(&self, req: &DmaRequest, data: &[u8]) -> Result<(), DmaError> {
        self.count(req);
        self.upstream.dma_write(req, data)
    }
}

/// The endpoint the upstream sees: records each message, then hands it to the function.
struct Tee {
    log: Arc<BusLog>,
    endpoint: Arc<dyn Endpoint>,
}

impl Endpoint for Tee {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        let status = self.endpoint.invalidate_atc(inv);
        if status == AtcInvalidationStatus::Completed {
            self.log.invalidations.lock().push(*inv);
        }
        status
    }

    fn page_response(&self, resp: &PageResponse) {
        self.log.responses.lock().push(*resp);
        self.endpoint.page_response(resp);
    }

    fn resume(&self, rid: u16, tag: u16, outcome: StallOutcome) {
        self.endpoint.resume(rid, tag, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Direct, PasidPrefix, Rights};
    use softiommu_mem::RamArena;

    /// An endpoint that answers every invalidation with `status`.
    struct Answers(AtcInvalidationStatus, Mutex<Vec<PageResponse>>);

    impl Endpoint for Answers {
        fn invalidate_atc(&self, _: &AtcInvalidation) -> AtcInvalidationStatus {
            self.0
        }
        fn page_response(&self, resp: &PageResponse) {
            self.1.lock().push(*resp);
        }
    }

    /// A bus that sends one invalidation and one page response to the endpoint of 8 for
    /// every page request, and answers translation requests.
    struct Echo(Direct<Arc<RamArena>>);

    impl Upstream for Echo {
        fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
            self.0.translate(req)
        }
        fn memory(&self) -> &dyn AddressSpace {
            self.0.memory()
        }
        fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
            Ok(AtsTranslation {
                translated: req.addr,
                rights: Rights::READ_WRITE,
                ..AtsTranslation::no_access(req.addr)
            })
        }
        fn page_request(&self, req: &PageRequest) {
            self.0.page_request(req);
        }
        fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
            self.0.msi(rid, msg)
        }
        fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
            let inv = AtcInvalidation {
                rid,
                pasid: None,
                global: false,
                addr: 0,
                size_log2: 12,
            };
            endpoint.invalidate_atc(&inv);
            endpoint.page_response(&PageResponse {
                rid,
                pasid: Some(3),
                prgi: 1,
                code: crate::bus::PageResponseCode::Success,
            });
            self.0.attach(rid, endpoint);
        }
        fn detach(&self, rid: u16) {
            self.0.detach(rid);
        }
    }

    #[test]
    fn the_tap_records_both_ways_and_passes_everything_on() {
        let mem = Arc::new(RamArena::new(0, 1 << 20).expect("arena"));
        let tap = Tap::new(Arc::new(Echo(Direct::new(mem.clone()))));
        for status in [
            AtcInvalidationStatus::TimedOut,
            AtcInvalidationStatus::Completed,
        ] {
            let ep = Arc::new(Answers(status, Mutex::new(Vec::new())));
            tap.attach(8, ep.clone());
            assert_eq!(ep.1.lock().len(), 1, "the response reached the function");
        }
        assert_eq!(tap.invalidations().len(), 1, "only the completed one");
        assert_eq!(tap.page_responses().len(), 2);

        let req = PageRequest::for_access(8, Some(PasidPrefix::new(3)), 0x5000, true, 1, true);
        tap.page_request(&req);
        assert_eq!(tap.page_requests(), vec![req]);
        let t = tap.ats_translate(&AtsRequest {
            rid: 8,
            pasid: None,
            addr: 0x7000,
            no_write: false,
        });
        assert_eq!(t.map(|t| t.translated), Ok(0x7000));
        assert_eq!(tap.translation_requests(), 1);

        let w = DmaRequest::write(8, 0x100, 4);
        tap.dma_write(&w, &[1, 2, 3, 4]).expect("written");
        tap.dma_write(&w.translated(), &[5, 6]).expect("written");
        let mut got = [0u8; 4];
        tap.dma_read(&DmaRequest::read(8, 0x100, 4), &mut got)
            .expect("read");
        assert_eq!(got, [5, 6, 3, 4]);
        assert_eq!(tap.translated_requests(), 1);
    }
}
