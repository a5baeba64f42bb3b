//! What the copy-engine benchmarks run: one engine behind a harness's instance, its RID
//! attached to a paging domain that maps a source, a destination and a completion record.

use super::{Engine, pattern, platform};
use crate::PagingRequest;
use crate::testing::harness::{Harness, PAGE, Platform};
use softiommu_devices::dsa::{Descriptor, Opcode, Status};
use softiommu_pgtable::Prot;

const SRC: u64 = 0x4000_0000;
const DST: u64 = 0x8000_0000;
const CR: u64 = 0xc000_0000;

/// A buffer of host memory that starts on a page boundary, for the `memcpy` baseline.
pub struct PageAligned {
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl PageAligned {
    /// `len` bytes of `byte` starting on a 4 KiB boundary.
    pub fn new(len: usize, byte: u8) -> PageAligned {
        let buf = vec![byte; len + PAGE as usize];
        let at = buf.as_ptr().align_offset(PAGE as usize);
        PageAligned { buf, at, len }
    }

    /// The bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

/// One synchronous engine with `max` bytes of source and destination mapped.
pub struct MoveBench {
    p: Platform,
    e: Engine,
    cr_pa: u64,
    dst_pa: u64,
}

impl MoveBench {
    /// An engine on a platform of harness `h`, with `max` bytes (a multiple of
    /// [`PAGE`]) mapped at the source and the destination.
    pub fn new(h: &dyn Harness, max: u64) -> MoveBench {
        let p = platform(h);
        let e = Engine::new(&p, 0);
        e.bring_up(&[None]);
        let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
        p.iommu.attach(e.dev, &d).unwrap();
        let (src_pa, dst_pa, cr_pa) = (p.alloc(max), p.alloc(max), p.alloc(PAGE));
        p.mem().write(src_pa, &pattern(max as usize, 9)).unwrap();
        d.map_sync(SRC, src_pa, max, Prot::RW).unwrap();
        d.map_sync(DST, dst_pa, max, Prot::RW).unwrap();
        d.map_sync(CR, cr_pa, PAGE, Prot::RW).unwrap();
        MoveBench {
            p,
            e,
            cr_pa,
            dst_pa,
        }
    }

    /// Submits `d` with its completion record and checks that it succeeded.
    fn run(&self, d: Descriptor) {
        self.p.mem().write(self.cr_pa, &[0]).unwrap();
        self.e
            .dsa
            .portal_write(0, &d.with_completion(CR).to_bytes(), None);
        let mut status = [0u8];
        self.p.mem().read(self.cr_pa, &mut status).unwrap();
        assert_eq!(status[0], Status::Success as u8);
    }

    /// One memory move of `len` bytes from the source to the destination, to completion.
    pub fn memmove(&self, len: u32) {
        self.run(Descriptor::memmove(SRC, DST, len));
    }

    /// One no-op descriptor, submitted and completed.
    pub fn noop(&self) {
        self.run(Descriptor::new(Opcode::Noop));
    }

    /// The first `len` bytes of the destination equal the source's.
    pub fn check(&self, len: usize) -> bool {
        self.p.read(self.dst_pa, len) == pattern(len, 9)
    }
}
