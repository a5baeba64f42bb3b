//! Each command reaching the caches or the device, and `CMD_SYNC` completion.

use super::*;
use crate::cmd::*;
use crate::pri::PriResponse;

#[test]
fn tlbi_nh_asid_with_sync_drops_a_stale_translation() {
    let (rig, mut s1) = Rig::mapped();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000));
    s1.unmap(0x4000_0000, 0x1000).unwrap();
    s1.map(0x4000_0000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    // Cached: the old translation stands until the driver invalidates.
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000));
    let c = TlbiNhAsid::new();
    rig.submit_sync(Command::TlbiNhAsid(TlbiNhAsid {
        dw0: c.dw0.with_asid(1),
        ..c
    }));
    assert!(rig.cmdq_drained());
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x20_0000));
}

#[test]
fn pri_resp_reaches_the_device() {
    let rig = Rig::new();
    let c = PriResp::new();
    let resp = Command::PriResp(PriResp {
        dw0: c.dw0.with_sid(SID).with_ssv(true).with_ssid(5),
        dw1: c.dw1.with_prgi(0x1a3).with_resp(PriResponse::Success),
    });
    rig.submit(&[resp]);
    assert_eq!(
        rig.take_msgs(),
        [DeviceMessage::PageResponse {
            sid: SID,
            pasid: Some(5),
            prgi: 0x1a3,
            response: PriResponse::Success,
        }]
    );
    assert_eq!(rig.unit.stats().commands.get(PriResp::OPCODE), 1);
}

/// Builds a TLB invalidation with VMID `vmid`, ASID `asid` and address `addr` (where the
/// command has them).
macro_rules! tlbi {
    ($ty:ident, $vmid:expr, $asid:expr) => {{
        let c = $ty::new();
        Command::$ty($ty {
            dw0: c.dw0.with_vmid($vmid).with_asid($asid),
            ..c
        })
    }};
    ($ty:ident, $vmid:expr, $asid:expr, $addr:expr) => {{
        let c = $ty::new();
        Command::$ty($ty {
            dw0: c.dw0.with_vmid($vmid).with_asid($asid),
            dw1: c.dw1.with_addr($addr >> 12),
        })
    }};
}

/// Maps 0x4000_0000 elsewhere behind the TLB's back, then checks the stale translation is
/// seen until `cmd` and a `CMD_SYNC` run, and gone after (or kept, when `reaches` is false).
fn tlbi_drops_stale(cmd: Command, reaches: bool) {
    let (rig, mut s1) = Rig::mapped();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000));
    s1.unmap(0x4000_0000, 0x1000).unwrap();
    s1.map(0x4000_0000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000), "stale before");
    rig.submit_sync(cmd);
    assert!(rig.cmdq_drained());
    let want = if reaches { 0x20_0000 } else { 0x10_0000 };
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(want), "{}", cmd.name());
}

#[test]
fn each_stage1_tlb_invalidation_drops_the_stale_entry() {
    tlbi_drops_stale(tlbi!(TlbiNhAll, 0, 0), true);
    tlbi_drops_stale(tlbi!(TlbiNhAsid, 0, 1), true);
    tlbi_drops_stale(tlbi!(TlbiNhVa, 0, 1, 0x4000_0000u64), true);
    tlbi_drops_stale(tlbi!(TlbiNhVaa, 0, 0, 0x4000_0000u64), true);
    tlbi_drops_stale(tlbi!(TlbiS12Vmall, 0, 0), true);
    tlbi_drops_stale(Command::TlbiNsnhAll(TlbiNsnhAll::new()), true);
}

#[test]
fn a_tlb_invalidation_of_something_else_leaves_the_stale_entry() {
    tlbi_drops_stale(tlbi!(TlbiNhAsid, 0, 2), false);
    tlbi_drops_stale(tlbi!(TlbiNhVa, 0, 1, 0x4000_1000u64), false);
    tlbi_drops_stale(tlbi!(TlbiS12Vmall, 3, 0), false);
    tlbi_drops_stale(Command::CfgiCdAll(CfgiCdAll::new()), false);
}

#[test]
fn tlbi_s2_ipa_drops_a_stale_stage2_entry() {
    use softiommu_pgtable::formats::arm::Granule;
    use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
    let rig = Rig::new();
    let cfg = ArmS2Config::auto(Granule::K4, 40, 48).unwrap();
    let mut s2 = PageTable::new(ArmS2::new(cfg).unwrap(), rig.alloc.clone()).unwrap();
    s2.map(0x8000_0000, 0x10_0000, 0x1000, Prot::RW).unwrap();
    let ste = crate::ste::Ste::with_config(crate::ste::SteConfig::S2Translate);
    rig.set_ste(
        SID,
        &crate::model::tests::with_s2(ste, s2.format(), s2.root(), 5),
    );
    assert_eq!(rig.read(SID, 0x8000_0000), Ok(0x10_0000));
    s2.unmap(0x8000_0000, 0x1000).unwrap();
    s2.map(0x8000_0000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(rig.read(SID, 0x8000_0000), Ok(0x10_0000));
    rig.submit_sync(tlbi!(TlbiS2Ipa, 4, 0, 0x8000_0000u64));
    assert_eq!(rig.read(SID, 0x8000_0000), Ok(0x10_0000), "other VMID");
    rig.submit_sync(tlbi!(TlbiS2Ipa, 5, 0, 0x8000_0000u64));
    assert_eq!(rig.read(SID, 0x8000_0000), Ok(0x20_0000));
}

/// Rewrites `SID`'s CD to a table (ASID 2) that maps 0x4000_0000 to 0x30_0000, then checks
/// the old context is used until `cmd` and a `CMD_SYNC` run, and the new one after (or the
/// old, when `reaches` is false).
fn cfgi_drops_stale(cmd: Command, reaches: bool) {
    let (rig, _s1) = Rig::mapped();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000));
    let mut other = rig.s1();
    other.map(0x4000_0000, 0x30_0000, 0x1000, Prot::RW).unwrap();
    let cd_at = crate::ste::Ste::read(&*rig.mem, rig.strtab + u64::from(SID) * 64)
        .unwrap()
        .s1_context_ptr();
    cd_for(other.format(), other.root(), 2)
        .write(&*rig.mem, cd_at)
        .unwrap();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000), "stale before");
    rig.submit_sync(cmd);
    let want = if reaches { 0x30_0000 } else { 0x10_0000 };
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(want), "{}", cmd.name());
}

/// A configuration invalidation of StreamID `sid` with `dw1` (Leaf or Range).
macro_rules! cfgi {
    ($ty:ident, $sid:expr) => {{
        let c = $ty::new();
        Command::$ty($ty {
            dw0: c.dw0.with_sid($sid),
            ..c
        })
    }};
    ($ty:ident, $sid:expr, $range:expr) => {{
        let c = $ty::new();
        Command::$ty($ty {
            dw0: c.dw0.with_sid($sid),
            dw1: c.dw1.with_range($range),
        })
    }};
}

#[test]
fn each_configuration_invalidation_drops_the_stale_context() {
    cfgi_drops_stale(cfgi!(CfgiSte, SID), true);
    cfgi_drops_stale(cfgi!(CfgiSteRange, SID + 3, 3), true);
    cfgi_drops_stale(Command::CfgiSteRange(CfgiSteRange::all()), true);
    cfgi_drops_stale(cfgi!(CfgiCd, SID), true);
    cfgi_drops_stale(cfgi!(CfgiCdAll, SID), true);
}

#[test]
fn a_configuration_invalidation_of_another_stream_leaves_the_stale_context() {
    cfgi_drops_stale(cfgi!(CfgiSte, SID + 1), false);
    cfgi_drops_stale(cfgi!(CfgiSteRange, SID + 2, 0), false);
    cfgi_drops_stale(cfgi!(CfgiCdAll, SID - 1), false);
    cfgi_drops_stale(Command::PrefetchConfig(PrefetchConfig::new()), false);
}

#[test]
fn cmd_sync_with_an_msi_address_writes_the_data_to_memory() {
    let rig = Rig::new();
    let flag = rig.page() + 0x40;
    rig.submit(&[Command::CmdSync(CmdSync::msi(flag, 0xfeed_beef))]);
    let mut b = [0u8; 4];
    rig.mem.read(flag, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0xfeed_beef);
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].irq, Irq::CmdSync);
    assert_eq!(
        irqs[0].msi.map(|m| (m.addr, m.data)),
        Some((flag, 0xfeed_beef))
    );
}

#[test]
fn cmd_sync_signals_the_wired_interrupt_without_msis() {
    // No IDR0.MSI: SIG_IRQ is the wired CMD_SYNC interrupt, and memory is left alone.
    let rig = Rig::with_params(SmmuParams::minimal());
    let flag = rig.page();
    rig.submit(&[Command::CmdSync(CmdSync::msi(flag, 7))]);
    assert_eq!(rig.mem.load_u64(flag).unwrap(), 0);
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!((irqs[0].irq, irqs[0].msi), (Irq::CmdSync, None));
    // SIG_NONE: nothing at all.
    rig.submit(&[Command::CmdSync(CmdSync::new())]);
    assert!(rig.take_irqs().is_empty());
    assert_eq!(rig.unit.stats().syncs, 2);
}

#[test]
fn an_aborted_cmd_sync_msi_is_a_global_error() {
    let rig = Rig::new();
    rig.take_irqs();
    rig.submit(&[Command::CmdSync(CmdSync::msi(UNBACKED, 1))]);
    assert!(rig.cmdq_drained(), "the CMD_SYNC itself completes");
    assert!(rig.active_gerrors().msi_cmdq_abt_err());
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].irq, Irq::Gerror);
}

#[test]
fn atc_inv_reaches_the_device_with_its_span() {
    let rig = Rig::new();
    let c = AtcInv::new();
    let inv = Command::AtcInv(AtcInv {
        dw0: c
            .dw0
            .with_sid(SID)
            .with_ssv(true)
            .with_ssid(9)
            .with_global(true),
        dw1: c.dw1.with_size(2).with_addr(0x1234_5000 >> 12),
    });
    rig.submit(&[inv, Command::CmdSync(CmdSync::new())]);
    assert_eq!(
        rig.take_msgs(),
        [DeviceMessage::InvalidateAtc {
            sid: SID,
            inv: AtcInvalidation {
                pasid: Some(9),
                global: true,
                addr: 0x1234_4000,
                span_log2: 14,
            },
        }]
    );
    // No device on another StreamID: the invalidation completes all the same.
    let c = AtcInv::new();
    rig.submit(&[
        Command::AtcInv(AtcInv {
            dw0: c.dw0.with_sid(99),
            ..c
        }),
        Command::CmdSync(CmdSync::new()),
    ]);
    assert!(rig.cmdq_drained() && rig.take_msgs().is_empty());
}

#[test]
fn resume_and_stall_term_reach_the_stalled_requests_device() {
    let (rig, _s1) = Rig::stalling();
    let stag = |addr| {
        rig.read(SID, addr)
            .unwrap_err()
            .stalled()
            .expect("a stalled request")
    };
    let (a, b, c) = (stag(0x5000_0000), stag(0x5000_1000), stag(0x5000_2000));
    // The stall events are recorded with their STAGs.
    let events = rig.take_events();
    assert_eq!(
        events.iter().map(|e| e.stall).collect::<Vec<_>>(),
        [Some(a), Some(b), Some(c)]
    );
    let r = Resume::new();
    let resume = |stag: u16, ac: bool| {
        Command::Resume(Resume {
            dw0: r.dw0.with_sid(SID).with_ac(ac),
            dw1: r.dw1.with_stag(stag),
        })
    };
    rig.submit(&[resume(b, true), resume(b, true), resume(0x7777, false)]);
    let st = StallTerm::new();
    rig.submit(&[Command::StallTerm(StallTerm {
        dw0: st.dw0.with_sid(SID),
        ..st
    })]);
    let term = ResumeAction::Terminate { abort: true };
    assert_eq!(
        rig.take_msgs(),
        [
            DeviceMessage::Resume {
                sid: SID,
                stag: b,
                action: ResumeAction::Retry
            },
            DeviceMessage::Resume {
                sid: SID,
                stag: a,
                action: term
            },
            DeviceMessage::Resume {
                sid: SID,
                stag: c,
                action: term
            },
        ]
    );
}

#[test]
fn counters_count_commands_syncs_and_tlbi_batches() {
    let rig = Rig::new();
    let sync = Command::CmdSync(CmdSync::new());
    let all = Command::TlbiNsnhAll(TlbiNsnhAll::new());
    rig.submit(&[all, all, sync, sync, all, sync]);
    rig.submit(&[Command::CfgiSteRange(CfgiSteRange::all()), sync]);
    let s = rig.unit.stats();
    assert_eq!(s.commands.get(TlbiNsnhAll::OPCODE), 3);
    assert_eq!(s.commands.get(CfgiSteRange::OPCODE), 1);
    assert_eq!(s.commands.tlbi(), 3);
    assert_eq!(s.commands.total(), 8);
    assert_eq!((s.syncs, s.tlbi_batches), (4, 2));
}

#[test]
fn tlb_hits_and_walks_are_counted_only_while_counting_is_on() {
    let (rig, _s1) = Rig::mapped();
    rig.read(SID, 0x4000_0000).unwrap();
    rig.read(SID, 0x4000_0000).unwrap();
    assert_eq!((rig.unit.stats().tlb_hits, rig.unit.stats().walks), (0, 0));
    rig.unit.set_stats(true);
    rig.submit_sync(Command::TlbiNsnhAll(TlbiNsnhAll::new()));
    rig.read(SID, 0x4000_0000).unwrap();
    rig.read(SID, 0x4000_0008).unwrap();
    rig.read(SID, 0x4000_0010).unwrap();
    let s = rig.unit.stats();
    assert_eq!((s.tlb_hits, s.walks), (2, 1));
}
