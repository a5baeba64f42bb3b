//! Copies through an upstream: run by run, stopping exactly at a fault.

use std::sync::Arc;

use proptest::prelude::*;
use softiommu_mem::{AddressSpace, RamArena};

use super::*;

const RAM: u64 = 0x10_0000;

fn ram() -> RamArena {
    RamArena::new(0, RAM).expect("arena")
}

/// An upstream that maps I/O page n to physical page `(n * 7) % 64` for the first 32 pages,
/// leaves page 5 read-only, terminates page 6 without an error, and refuses everything else.
struct Scattered {
    mem: RamArena,
}

impl Scattered {
    fn phys(iova: u64) -> u64 {
        ((iova >> 12) * 7 % 64) << 12 | (iova & 0xfff)
    }
}

impl Upstream for Scattered {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        let page = req.addr >> 12;
        if page >= 32 {
            return Err(DmaFault::UnsupportedRequest);
        }
        if page == 6 {
            return Err(DmaFault::ReadAsZero);
        }
        let rights = if page == 5 {
            Rights {
                read: true,
                ..Rights::NONE
            }
        } else {
            Rights::READ_WRITE
        };
        if !rights.allow(req) {
            return Err(DmaFault::UnsupportedRequest);
        }
        Ok(Translation {
            addr: Self::phys(req.addr),
            len: 0x1000 - (req.addr & 0xfff),
            rights,
        })
    }

    fn memory(&self) -> &dyn AddressSpace {
        &self.mem
    }

    fn ats_translate(&self, _req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        Err(AtsFailure::UnsupportedRequest)
    }

    fn page_request(&self, _req: &PageRequest) {}

    fn msi(&self, _rid: u16, _msg: MsiMessage) -> Result<(), DmaFault> {
        Err(DmaFault::UnsupportedRequest)
    }

    fn attach(&self, _rid: u16, _endpoint: Arc<dyn Endpoint>) {}

    fn detach(&self, _rid: u16) {}
}

#[test]
fn direct_bus_reaches_physical_memory() {
    let bus = Direct::new(ram());
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    bus.dma_write(&DmaRequest::write(1, 0x3f00, 0), &data)
        .expect("write");
    let mut back = vec![0u8; data.len()];
    bus.dma_read(&DmaRequest::read(1, 0x3f00, 0), &mut back)
        .expect("read");
    assert_eq!(back, data);
    // Past the end of memory the copy stops with a completer abort at the first bad byte.
    let err = bus
        .dma_write(&DmaRequest::write(1, RAM - 8, 0), &[0u8; 16])
        .expect_err("beyond memory");
    assert_eq!(err.fault, DmaFault::CompleterAbort);
    assert_eq!(
        bus.ats_translate(&AtsRequest {
            rid: 1,
            pasid: None,
            addr: 0,
            no_write: false,
        }),
        Err(AtsFailure::UnsupportedRequest)
    );
    bus.msi(
        1,
        MsiMessage {
            addr: 0x100,
            data: 0x4321,
        },
    )
    .expect("msi");
    assert_eq!(bus.memory().load_u64(0x100).expect("load") as u32, 0x4321);
}

#[test]
fn copy_follows_each_translated_run() {
    let bus = Scattered { mem: ram() };
    let data: Vec<u8> = (0..0x3000u32).map(|i| (i * 13) as u8).collect();
    bus.dma_write(&DmaRequest::write(1, 0x800, 0), &data)
        .expect("write");
    for (i, b) in data.iter().enumerate() {
        let mut one = [0u8];
        bus.mem
            .read(Scattered::phys(0x800 + i as u64), &mut one)
            .expect("read back");
        assert_eq!(one[0], *b, "byte {i}");
    }
    let mut back = vec![0u8; data.len()];
    bus.dma_read(&DmaRequest::read(1, 0x800, 0), &mut back)
        .expect("read");
    assert_eq!(back, data);
}

#[test]
fn write_stops_exactly_at_the_fault() {
    let bus = Scattered { mem: ram() };
    // Pages 3 and 4 are writable, page 5 read-only.
    let err = bus
        .dma_write(&DmaRequest::write(1, 0x3100, 0), &[0xaa; 0x2000])
        .expect_err("read-only page");
    assert_eq!(err.addr, 0x5000);
    assert_eq!(err.done, 0x1f00);
    assert_eq!(err.fault, DmaFault::UnsupportedRequest);
    let mut page5 = [0u8; 0x1000];
    bus.mem
        .read(Scattered::phys(0x5000), &mut page5)
        .expect("read");
    assert!(
        page5.iter().all(|&b| b == 0),
        "nothing written past the fault"
    );
}

#[test]
fn terminated_page_reads_zeros_and_drops_writes() {
    let bus = Scattered { mem: ram() };
    bus.mem.fill(0, RAM, 0x55).expect("fill");
    let mut buf = [0xffu8; 0x1800];
    bus.dma_read(&DmaRequest::read(1, 0x5800, 0), &mut buf)
        .expect("read");
    assert!(buf[..0x800].iter().all(|&b| b == 0x55));
    assert!(buf[0x800..].iter().all(|&b| b == 0), "page 6 reads as zero");
    bus.dma_write(&DmaRequest::write(1, 0x6000, 0), &[1u8; 0x1000])
        .expect("discarded write");
    let mut after = [0u8; 0x1000];
    bus.mem
        .read(Scattered::phys(0x6000), &mut after)
        .expect("read");
    assert!(after.iter().all(|&b| b == 0x55));
}

proptest! {
    #[test]
    fn copies_never_panic_and_fault_only_outside_the_map(
        addr in any::<u64>(), len in 0usize..0x3000, write in any::<bool>()
    ) {
        let bus = Scattered { mem: ram() };
        let mut buf = vec![0u8; len];
        let r = if write {
            bus.dma_write(&DmaRequest::write(1, addr, 0), &buf)
        } else {
            bus.dma_read(&DmaRequest::read(1, addr, 0), &mut buf)
        };
        if let Err(e) = r {
            prop_assert!(e.done < len as u64);
            prop_assert_eq!(e.addr, addr.wrapping_add(e.done));
            let page = e.addr >> 12;
            prop_assert!(page >= 32 || (write && page == 5));
        }
    }
}

#[test]
fn a_run_lengthens_only_over_runs_that_follow_it() {
    // Pages at 0x1000.. follow 0x9000.. for two pages, then jump.
    let map = |a: u64| match a {
        0x2000 => Some((0xa000, 0x1000)),
        0x3000 => Some((0xb000, 0x1000)),
        0x4000 => Some((0x7000, 0x1000)),
        _ => None,
    };
    assert_eq!(lengthen_run(0x1800, 0x9800, 0x800, 0x10000, map), 0x2800);
    assert_eq!(lengthen_run(0x1800, 0x9800, 0x800, 0x800, map), 0x800);
    assert_eq!(lengthen_run(0x1800, 0x9800, 0x800, 0x900, map), 0x1800);
    // An empty run never extends, and the top of either space ends the run.
    assert_eq!(
        lengthen_run(0x1800, 0x9800, 0x800, 0x10000, |_| Some((0xa000, 0))),
        0x800
    );
    assert_eq!(
        lengthen_run(u64::MAX - 0xfff, 0, 0x1000, 0x10000, |_| Some((
            0x1000, 0x1000
        ))),
        0x1000
    );
    assert_eq!(
        lengthen_run(0, u64::MAX - 0xfff, 0x1000, 0x10000, |_| Some((0, 0x1000))),
        0x1000
    );
}
