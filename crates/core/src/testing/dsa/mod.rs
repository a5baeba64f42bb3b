//! End-to-end scenarios with real bytes: a DSA-compatible copy engine
//! ([`softiommu_devices::dsa`]) whose DMA goes through an IOMMU model's bus
//! ([`Upstream`]), under the driver a [`Harness`] runs, with domains made and mapped through
//! the core. Each scenario is a `pub fn(&dyn Harness)`; a driver crate whose harness returns
//! [`Platform::upstream`] runs them all with [`dsa_tests!`](crate::dsa_tests).

#![allow(clippy::unwrap_used)]

mod bench;
mod runs;
mod p2p;
mod scenarios;
mod stress;

pub use bench::*;
pub use runs::*;
pub use p2p::*;
pub use scenarios::*;
pub use stress::*;

use std::sync::Arc;

use super::harness::{DEV, Harness, InstSpec, Platform};
use crate::{DeviceId, Topology};
use softiommu_devices::bus::Upstream;
use softiommu_devices::dsa::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{
    BusPort, CompletionRecord, Descriptor, Dsa, DsaConfig, ExecMode, Status,
};

/// One copy engine on a platform: a device of the core at the engine's requester ID, whose
/// DMA goes through the bus of the instance it sits behind.
pub struct Engine {
    /// The engine.
    pub dsa: Arc<Dsa>,
    /// The core's handle of the function.
    pub dev: DeviceId,
    /// Its requester ID.
    pub rid: u16,
    /// Its port onto the bus (ATS, page requests).
    pub port: Arc<BusPort>,
}

impl Engine {
    /// A new engine (synchronous execution) behind instance `inst` of `p`, added to the core
    /// as a device with 20-bit PASIDs, ATS and page requests.
    pub fn new(p: &Platform, inst: usize) -> Engine {
        let up: Arc<dyn Upstream> = p
            .upstream(inst)
            .expect("the harness's driver runs a model with a bus");
        let desc = p.desc(inst, DEV);
        let rid = desc.rid.source_id();
        let topo = Topology {
            bridges: Vec::new(),
            devices: vec![desc],
        };
        let dev = p.add_topology(&topo).expect("engine added")[0];
        Engine::on(up, rid, dev)
    }

    /// A new engine (synchronous execution) whose requests carry `rid` and go to `up` (the
    /// instance's bus, or a bridge in front of it), known to the core as `dev`.
    pub fn on(up: Arc<dyn Upstream>, rid: u16, dev: DeviceId) -> Engine {
        let cfg = DsaConfig {
            mode: ExecMode::Synchronous,
            ..DsaConfig::default()
        };
        let port = Arc::new(BusPort::new(up, rid));
        let dsa = Arc::new(Dsa::new(cfg, port.clone(), None));
        Engine {
            dsa,
            dev,
            rid,
            port,
        }
    }

    /// Runs a command and returns CMDSTS's error code.
    fn cmd(&self, cmd: Command, operand: u32) -> u8 {
        let c = CmdReg::new().with_cmd(cmd as u8).with_operand(operand);
        self.dsa.write32(regs::CMD, c.into_bits());
        regs::CmdSts::from_bits(self.dsa.read32(regs::CMDSTS)).err()
    }

    /// Brings the engine up as a driver does: reset, every WQ and engine in group 0, one
    /// dedicated WQ per entry of `pasids` (with that PASID, or none), enable the device and
    /// each WQ. Panics on a CMDSTS error.
    pub fn bring_up(&self, pasids: &[Option<u32>]) {
        assert_eq!(self.cmd(Command::ResetDevice, 0), 0);
        let t = regs::TableOffsets::from_bits(self.dsa.read64(regs::TABLE_OFFSET));
        let wqcfg_size = 32u64 << regs::WqCap::from_bits(self.dsa.read64(regs::WQCAP)).wqcfg_size();
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.dsa.read64(regs::ENGCAP) & 0xff;
        self.dsa.write64(grpcfg, (1 << pasids.len()) - 1);
        self.dsa.write64(grpcfg + 32, (1 << engines) - 1);
        for (i, pasid) in pasids.iter().enumerate() {
            let at = u64::from(t.wqcfg()) * regs::TABLE_MULT + i as u64 * wqcfg_size;
            let mode = WqCfgMode::new()
                .with_dedicated(true)
                .with_priority(10)
                .with_pasid(pasid.unwrap_or(0))
                .with_pasid_en(pasid.is_some());
            let limits = WqCfgLimits::new()
                .with_max_xfer_shift(21)
                .with_max_batch_shift(5);
            self.dsa.write32(at, 16);
            self.dsa.write32(at + 8, mode.into_bits());
            self.dsa.write32(at + 12, limits.into_bits());
        }
        self.dsa.write32(regs::GENCTRL, 1);
        assert_eq!(self.cmd(Command::EnableDevice, 0), 0);
        for i in 0..pasids.len() {
            assert_eq!(self.cmd(Command::EnableWq, i as u32), 0, "enable WQ {i}");
        }
    }

    /// A memory move of `len` bytes from `src` to `dst` (device addresses) on WQ `wq`, its
    /// completion record at device address `cr` (physical `cr_pa`), run to completion;
    /// returns the record.
    pub fn memmove(
        &self,
        p: &Platform,
        wq: u32,
        (src, dst, len): (u64, u64, u32),
        (cr, cr_pa): (u64, u64),
    ) -> CompletionRecord {
        p.mem().fill(cr_pa, 32, 0).unwrap();
        let d = Descriptor::memmove(src, dst, len).with_completion(cr);
        self.dsa
            .portal_write(u64::from(wq) * regs::WQ_PORTALS_SIZE, &d.to_bytes(), None);
        let b: [u8; 32] = p.read(cr_pa, 32).try_into().unwrap();
        let r = CompletionRecord::from_bytes(&b);
        assert_ne!(r.status, Status::None as u8, "the move completed");
        r
    }
}

/// A platform of one full instance (PASIDs, ATS, page requests) of harness `h`.
pub fn platform(h: &dyn Harness) -> Platform {
    h.platform(&[InstSpec::full()])
}

/// `len` bytes of a pattern seeded by `seed`.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Defines `mod $module` with one `#[test]` per end-to-end scenario, each running it on
/// `$harness` (an expression evaluated inside the module, which sees the invoking module's
/// items through `use super::*`).
#[macro_export]
macro_rules! dsa_tests {
    ($module:ident, $harness:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn a_move_through_a_paging_domain() {
                $crate::testing::dsa::a_move_through_a_paging_domain(&$harness)
            }
            #[test]
            fn a_move_into_an_unmapped_page_faults_and_stops_there() {
                $crate::testing::dsa::a_move_into_an_unmapped_page_faults_and_stops_there(&$harness)
            }
            #[test]
            fn two_wqs_on_two_pasids_move_only_within_their_domains() {
                $crate::testing::dsa::two_wqs_on_two_pasids_move_only_within_their_domains(
                    &$harness,
                )
            }
            #[test]
            fn four_engines_never_write_outside_what_was_mapped() {
                $crate::testing::dsa::four_engines_never_write_outside_what_was_mapped(&$harness)
            }
            #[test]
            fn a_translation_covers_following_pages_only_while_they_are_cached_alike() {
                $crate::testing::dsa::a_translation_covers_following_pages_only_while_they_are_cached_alike(&$harness)
            }
            #[test]
            fn peer_to_peer_without_acs_goes_straight_to_the_peer() {
                $crate::testing::dsa::peer_to_peer_without_acs_goes_straight_to_the_peer(&$harness)
            }
            #[test]
            fn peer_to_peer_with_acs_goes_through_the_iommu() {
                $crate::testing::dsa::peer_to_peer_with_acs_goes_through_the_iommu(&$harness)
            }
            #[test]
            fn peer_to_peer_with_ats_goes_straight_under_direct_translated_p2p() {
                $crate::testing::dsa::peer_to_peer_with_ats_goes_straight_under_direct_translated_p2p(
                    &$harness,
                )
            }
            #[test]
            fn a_function_behind_a_pcie_to_pci_bridge_is_seen_with_the_bridges_rid() {
                $crate::testing::dsa::a_function_behind_a_pcie_to_pci_bridge_is_seen_with_the_bridges_rid(
                    &$harness,
                )
            }
        }
    };
}

/// Defines the criterion benchmarks of the copy engine on `$harness` and their `main`, for a
/// bench target with `harness = false` (the invoking crate depends on `criterion`): memory
/// moves of 4 KiB, 64 KiB and 2 MiB on IOTLB hits beside `memcpy` (`copy_from_slice`) of
/// the same sizes, as throughput, and one no-op descriptor's round trip from submission to
/// completion record in the synchronous mode. `$model` names the IOMMU in the bench IDs.
#[macro_export]
macro_rules! dsa_benches {
    ($model:literal, $harness:expr) => {
        fn dsa_benches(c: &mut criterion::Criterion) {
            use criterion::{BenchmarkId, Throughput};
            use std::hint::black_box;
            const SIZES: [(&str, u32); 3] =
                [("4KiB", 4 << 10), ("64KiB", 64 << 10), ("2MiB", 2 << 20)];
            let rig = $crate::testing::dsa::MoveBench::new(&$harness, 2 << 20);
            let mut g = c.benchmark_group("memmove");
            for (name, len) in SIZES {
                g.throughput(Throughput::Bytes(u64::from(len)));
                // Page-aligned, as the engine's buffers are: a copy between buffers whose
                // offsets within a page differ can be many times slower on some processors.
                let (mut src, mut dst) = (
                    $crate::testing::dsa::PageAligned::new(len as usize, 0x5a),
                    $crate::testing::dsa::PageAligned::new(len as usize, 0),
                );
                g.bench_function(BenchmarkId::new("memcpy", name), |b| {
                    b.iter(|| {
                        dst.bytes_mut().copy_from_slice(black_box(src.bytes_mut()));
                        black_box(dst.bytes_mut());
                    })
                });
                g.bench_function(BenchmarkId::new(concat!("dsa-", $model), name), |b| {
                    b.iter(|| rig.memmove(black_box(len)))
                });
                rig.memmove(len);
                assert!(rig.check(len as usize), "the moves copy the source");
            }
            g.finish();
            c.bench_function(concat!("round_trip/dsa-", $model, "/noop"), |b| {
                b.iter(|| rig.noop())
            });
        }

        criterion::criterion_group! {
            name = benches;
            config = criterion::Criterion::default()
                .sample_size(20)
                .warm_up_time(std::time::Duration::from_millis(300))
                .measurement_time(std::time::Duration::from_secs(1));
            targets = dsa_benches
        }
        criterion::criterion_main!(benches);
    };
}
