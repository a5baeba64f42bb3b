//! The check the end-to-end ATC race scenario makes — memory retired once an ATC
//! invalidation completed must never be written again ([`Retired`]) — against a function that
//! completes invalidations too early: it catches the stale write such a function lets
//! through, and passes the engine's own ATC, which waits for the accesses in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use softiommu_devices::bus::{
    AtcInvalidation, AtcInvalidationStatus, Endpoint, PageResponse, Upstream,
};
use softiommu_devices::dsa::{BusPort, Descriptor, DsaConfig, Status};
use softiommu_devices::testing::{Retired, StrayWrite};

use crate::ats::{CR, CR_PA, DST, DST_PA, SRC, SRC_PA, rig};
use crate::harness::{RID, WqSetup};
use crate::iommu::{Gate, Prs};

/// Where the destination page is when the move starts (where the rig maps DST), and
/// where it is moved to.
const OLD_PA: u64 = DST_PA;
const NEW_PA: u64 = 0x9_0000;
const GUARD: u8 = 0xee;

/// A function that reports an ATC invalidation complete as soon as it arrives: the
/// invalidation itself runs in the background, and the accesses using the translation go
/// on after the IOMMU was told they were over.
struct Early {
    port: Arc<BusPort>,
    behind: Mutex<Vec<JoinHandle<()>>>,
}

impl Endpoint for Early {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        let (port, inv) = (self.port.clone(), *inv);
        self.behind.lock().push(std::thread::spawn(move || {
            port.invalidate_atc(&inv);
        }));
        AtcInvalidationStatus::Completed
    }

    fn page_response(&self, resp: &PageResponse) {
        self.port.page_response(resp);
    }
}

/// One page moved into DST while DST is remapped from OLD_PA to NEW_PA: the move's write to
/// OLD_PA is held at a gate while another thread invalidates the ATC and, once the
/// invalidation reports completion, retires OLD_PA. With `early` the function completes
/// the invalidation at once and the gate opens only after the retirement; otherwise the
/// engine's own ATC answers and the gate opens at once. Returns what the check finds once a
/// further move has run.
fn remap_under_a_held_write(early: bool) -> Result<(), StrayWrite> {
    let (rig, iommu) = rig(DsaConfig::default(), Prs::Never, None);
    let rig = Arc::new(rig);
    rig.bring_up(&[WqSetup::dedicated()]);
    let data = rig.pattern(SRC_PA, 0x1000, 5);
    let early = early.then(|| {
        let e = Arc::new(Early {
            port: rig.port.clone(),
            behind: Mutex::new(Vec::new()),
        });
        iommu.attach(RID, e.clone());
        e
    });
    let gate = Gate::new(OLD_PA);
    *iommu.gate.lock() = Some(gate.clone());
    let mv = Descriptor::memmove(SRC, DST, 0x1000).with_completion(CR);
    let mover = {
        let rig = rig.clone();
        std::thread::spawn(move || {
            rig.movdir(0, &mv);
            rig.cr(CR_PA)
        })
    };
    gate.wait_arrival();
    // The write holds the ATC's translation of DST to OLD_PA. Remap, invalidate, retire.
    iommu.map(None, DST, NEW_PA, 1);
    let retired = Arc::new(Retired::new(GUARD));
    let done = Arc::new(AtomicBool::new(false));
    let invalidator = {
        let (rig, ep, retired, done) =
            (rig.clone(), iommu.endpoint(), retired.clone(), done.clone());
        std::thread::spawn(move || {
            let inv = AtcInvalidation {
                rid: RID,
                pasid: None,
                global: false,
                addr: DST,
                size_log2: 12,
            };
            assert_eq!(ep.invalidate_atc(&inv), AtcInvalidationStatus::Completed);
            retired.retire(&*rig.mem, OLD_PA, 0x1000);
            done.store(true, SeqCst);
        })
    };
    if early.is_some() {
        // An early function completes without waiting for the held write.
        while !done.load(SeqCst) {
            std::thread::yield_now();
        }
    }
    gate.open();
    assert_eq!(mover.join().expect("mover").status, Status::Success as u8);
    invalidator.join().expect("invalidator");
    if let Some(e) = early {
        for t in e.behind.lock().drain(..) {
            t.join().expect("background invalidation");
        }
    }
    // Later moves land in the new page.
    rig.movdir(0, &mv);
    assert_eq!(rig.cr(CR_PA).status, Status::Success as u8);
    assert_eq!(rig.bytes(NEW_PA, 0x1000), data);
    retired.check(&*rig.mem)
}

#[test]
fn the_retired_page_check_catches_a_function_that_completes_invalidations_early() {
    // The held write lands after the retirement: its first byte is the pattern's (seed 5).
    assert_eq!(
        remap_under_a_held_write(true),
        Err(StrayWrite {
            addr: OLD_PA,
            byte: 5
        })
    );
}

#[test]
fn the_engine_s_atc_passes_the_retired_page_check() {
    assert_eq!(remap_under_a_held_write(false), Ok(()));
}
