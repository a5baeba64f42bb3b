//! End-to-end scenarios with real bytes: a DSA-compatible copy engine
//! ([`softiommu_devices::dsa`]) whose DMA goes through an IOMMU model's bus
//! ([`Upstream`]), under the driver a [`Harness`] runs, with domains made and mapped through
//! the core. Each scenario is a `pub fn(&dyn Harness)`; a driver crate whose harness returns
//! [`Platform::upstream`] (and, for the SVA scenarios, [`Platform::page_request_irq`]) runs
//! them all with [`dsa_tests!`](crate::dsa_tests).
//!
//! They cover moves through paging domains and their faults (`scenarios`), how far one
//! translation of a long request reaches (`runs`), engines moving while the mappings change
//! (`stress`), ATC invalidations racing moves with ATS on (`atc`), shared virtual addressing
//! with page requests resolved by the core's fault handler (`sva`, S9), and peer-to-peer
//! behind switches and bridges with and without ACS (`p2p`, S2).

#![allow(clippy::unwrap_used)]

mod atc;
mod bench;
mod p2p;
mod runs;
mod scenarios;
mod stress;
mod sva;

pub use atc::*;
pub use bench::*;
pub use p2p::*;
pub use runs::*;
pub use scenarios::*;
pub use stress::*;
pub use sva::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::IrqLine;
use super::harness::{DEV, Harness, InstSpec, Platform};
use crate::{DeviceId, Topology};
use softiommu_devices::bus::Upstream;
use softiommu_devices::dsa::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{
    CompletionRecord, Descriptor, Dsa, DsaConfig, DsaFunction, Enqcmd, ExecMode, Status, Submit,
};
use softiommu_devices::pci::AccessSize;
use softiommu_devices::pci::regs::{ext_cap_id, offset};
use softiommu_devices::testing::Tap;

/// One copy engine on a platform: a PCI function with the engine behind it, added to the
/// core as a device at the function's requester ID, whose requests go through a [`Tap`] to
/// the bus of the instance it sits behind.
pub struct Engine {
    /// The engine.
    pub dsa: Arc<Dsa>,
    /// The PCI function: configuration space, and the port that holds the ATC and the
    /// outstanding page requests.
    pub function: DsaFunction,
    /// What passed between the function and the IOMMU.
    pub tap: Arc<Tap>,
    /// The core's handle of the function.
    pub dev: DeviceId,
    /// Its requester ID.
    pub rid: u16,
}

/// How [`Engine::bring_up_wqs`] configures one work queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WqSpec {
    /// A dedicated WQ's PASID (none: its requests carry no PASID); a shared WQ takes the
    /// PASID of each ENQCMD.
    pub pasid: Option<u32>,
    /// Shared (ENQCMD) rather than dedicated (MOVDIR64B).
    pub shared: bool,
    /// Block on fault enabled: a descriptor that asks for it waits for page requests.
    pub bof: bool,
}

impl Engine {
    /// A new engine (synchronous execution) behind instance `inst` of `p`, added to the core
    /// as a device with 20-bit PASIDs, ATS and page requests; configuration space as a
    /// driver's probe leaves it: memory space, bus mastering and PASIDs enabled, ATS and PRI
    /// not yet.
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
    /// instance's bus, or a switch port or bridge in front of it), known to the core as
    /// `dev`; configuration space as [`Engine::new`] leaves it.
    pub fn on(up: Arc<dyn Upstream>, rid: u16, dev: DeviceId) -> Engine {
        let cfg = DsaConfig {
            mode: ExecMode::Synchronous,
            ..DsaConfig::default()
        };
        let tap = Tap::new(up);
        let function = DsaFunction::new(cfg, tap.clone(), rid).expect("the engine's function");
        let e = Engine {
            dsa: function.dsa().clone(),
            function,
            tap,
            dev,
            rid,
        };
        // Memory space and bus master enable.
        e.config(u32::from(offset::COMMAND), 0x6);
        let pasid = e.ext_cap(ext_cap_id::PASID);
        e.config(pasid + 6, 1);
        e
    }

    /// Writes the 16-bit configuration register at `at`.
    fn config(&self, at: u32, value: u32) {
        self.function.config_write(at, AccessSize::Word, value);
    }

    /// Where extended capability `id` is, as a driver walks the list.
    fn ext_cap(&self, id: u16) -> u32 {
        let mut at = 0x100;
        while at != 0 {
            let h = self.function.config_read(at, AccessSize::Dword);
            if h & 0xffff == u32::from(id) {
                return at;
            }
            at = h >> 20;
        }
        panic!("the engine has extended capability {id:#x}");
    }

    /// Enables ATS in the function's ATS capability (smallest translation unit 4 KiB), as
    /// the IOMMU driver does for a device it lets use ATS: from now on the engine's accesses
    /// go through its ATC.
    pub fn enable_ats(&self) {
        let ats = self.ext_cap(ext_cap_id::ATS);
        self.config(ats + 6, 1 << 15);
    }

    /// Enables PRI in the function's PRI capability with `allocation` outstanding page
    /// requests; a page request waits up to `timeout` for its response.
    pub fn enable_pri(&self, allocation: u32, timeout: std::time::Duration) {
        let pri = self.ext_cap(ext_cap_id::PRI);
        self.function
            .config_write(pri + 0xc, AccessSize::Dword, allocation);
        self.config(pri + 4, 1);
        self.function.port().set_page_response_timeout(timeout);
    }

    /// Runs a command and returns CMDSTS's error code.
    fn cmd(&self, cmd: Command, operand: u32) -> u8 {
        let c = CmdReg::new().with_cmd(cmd as u8).with_operand(operand);
        self.dsa.write32(regs::CMD, c.into_bits());
        regs::CmdSts::from_bits(self.dsa.read32(regs::CMDSTS)).err()
    }

    /// Brings the engine up as a driver does with one dedicated WQ per entry of `pasids`
    /// (with that PASID, or none), without block on fault.
    pub fn bring_up(&self, pasids: &[Option<u32>]) {
        let wqs: Vec<WqSpec> = pasids
            .iter()
            .map(|&pasid| WqSpec {
                pasid,
                ..WqSpec::default()
            })
            .collect();
        self.bring_up_wqs(&wqs);
    }

    /// Brings the engine up as a driver does: reset, every WQ and engine in group 0, the
    /// WQs of `wqs`, enable the device and each WQ. Panics on a CMDSTS error.
    pub fn bring_up_wqs(&self, wqs: &[WqSpec]) {
        assert_eq!(self.cmd(Command::ResetDevice, 0), 0);
        let t = regs::TableOffsets::from_bits(self.dsa.read64(regs::TABLE_OFFSET));
        let wqcfg_size = 32u64 << regs::WqCap::from_bits(self.dsa.read64(regs::WQCAP)).wqcfg_size();
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.dsa.read64(regs::ENGCAP) & 0xff;
        self.dsa.write64(grpcfg, (1 << wqs.len()) - 1);
        self.dsa.write64(grpcfg + 32, (1 << engines) - 1);
        for (i, wq) in wqs.iter().enumerate() {
            let at = u64::from(t.wqcfg()) * regs::TABLE_MULT + i as u64 * wqcfg_size;
            let mode = WqCfgMode::new()
                .with_dedicated(!wq.shared)
                .with_bof(wq.bof)
                .with_priority(10)
                .with_pasid(wq.pasid.unwrap_or(0))
                .with_pasid_en(wq.pasid.is_some());
            let limits = WqCfgLimits::new()
                .with_max_xfer_shift(21)
                .with_max_batch_shift(5);
            self.dsa.write32(at, 16);
            // A shared WQ's limited portals take up to 8 entries.
            self.dsa.write32(at + 4, if wq.shared { 8 } else { 0 });
            self.dsa.write32(at + 8, mode.into_bits());
            self.dsa.write32(at + 12, limits.into_bits());
        }
        self.dsa.write32(regs::GENCTRL, 1);
        assert_eq!(self.cmd(Command::EnableDevice, 0), 0);
        for i in 0..wqs.len() {
            assert_eq!(self.cmd(Command::EnableWq, i as u32), 0, "enable WQ {i}");
        }
    }

    /// A memory move of `len` bytes from `src` to `dst` (device addresses) on dedicated WQ
    /// `wq`, its completion record at device address `cr` (physical `cr_pa`), run to
    /// completion; returns the record.
    pub fn memmove(
        &self,
        p: &Platform,
        wq: u32,
        (src, dst, len): (u64, u64, u32),
        (cr, cr_pa): (u64, u64),
    ) -> CompletionRecord {
        let d = Descriptor::memmove(src, dst, len).with_completion(cr);
        self.run(p, wq, &d, None, cr_pa)
    }

    /// Submits `d` (its completion record at physical `cr_pa`) to WQ `wq`, by MOVDIR64B or,
    /// with `enq`, by ENQCMD; returns the record once the descriptor completed.
    pub fn run(
        &self,
        p: &Platform,
        wq: u32,
        d: &Descriptor,
        enq: Option<Enqcmd>,
        cr_pa: u64,
    ) -> CompletionRecord {
        p.mem().fill(cr_pa, 32, 0).unwrap();
        let portal = u64::from(wq) * regs::WQ_PORTALS_SIZE;
        let taken = self.dsa.portal_write(portal, &d.to_bytes(), enq);
        assert_eq!(taken, Submit::Accepted, "WQ {wq} took the descriptor");
        let b: [u8; 32] = p.read(cr_pa, 32).try_into().unwrap();
        let r = CompletionRecord::from_bytes(&b);
        let swerr = [0, 1, 2, 3].map(|i| self.dsa.read64(regs::SWERR + 8 * i));
        assert_ne!(
            r.status,
            Status::None as u8,
            "the descriptor completed: SWERR {swerr:x?}"
        );
        r
    }
}

/// Sets a stop flag when dropped, and wakes the handlers of `line`, so that the threads
/// looping on the flag end however the code holding it ends, a failed assertion included.
struct StopOnDrop<'a> {
    flag: &'a AtomicBool,
    line: Option<&'a IrqLine>,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Release);
        if let Some(l) = self.line {
            l.wake();
        }
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
            #[test]
            fn an_atc_invalidation_racing_moves_leaves_no_stale_translation() {
                $crate::testing::dsa::an_atc_invalidation_racing_moves_leaves_no_stale_translation(
                    &$harness,
                )
            }
            #[test]
            fn an_sva_move_with_block_on_fault_has_the_core_make_its_pages_present() {
                $crate::testing::dsa::an_sva_move_with_block_on_fault_has_the_core_make_its_pages_present(
                    &$harness,
                )
            }
            #[test]
            fn an_sva_move_past_the_process_s_mappings_ends_in_a_page_fault() {
                $crate::testing::dsa::an_sva_move_past_the_process_s_mappings_ends_in_a_page_fault(
                    &$harness,
                )
            }
            #[test]
            fn an_sva_move_without_block_on_fault_sends_no_page_request() {
                $crate::testing::dsa::an_sva_move_without_block_on_fault_sends_no_page_request(
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
