//! Command errors: the queue stops at the failing command with its CERROR, GERROR.CMDQ_ERR is
//! activated, and consumption resumes once software acknowledges it.

use super::*;
use crate::cmd::*;

/// A `CMD_PREFETCH_CONFIG`: legal, and harmless.
fn nop() -> [u64; 2] {
    Command::PrefetchConfig(PrefetchConfig::new()).encode()
}

/// The words of a `CMD_SYNC` that signals nothing.
fn sync() -> [u64; 2] {
    Command::CmdSync(CmdSync::new()).encode()
}

/// Submits nop, `bad`, nop and checks the queue stopped on `bad` (index 1 past `start`) with
/// `code`, then that replacing it and acknowledging lets the rest run.
fn stops_and_resumes(rig: &Rig, bad: [u64; 2], code: Cerror) {
    rig.take_irqs();
    let start = rig.cmdq_cons().rd();
    rig.submit_words(&[nop(), bad, nop(), sync()]);
    let cons = rig.cmdq_cons();
    assert_eq!(cons.rd(), start + 1, "CONS on the failing command");
    assert_eq!(cons.err(), code.code());
    assert!(rig.active_gerrors().cmdq_err());
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].irq, Irq::Gerror);
    // Nothing moves while the error is active, even if PROD is written again.
    rig.submit_words(&[]);
    assert_eq!(rig.cmdq_cons().rd(), start + 1);
    let syncs = rig.unit.stats().syncs;
    // Software overwrites the command and acknowledges.
    let at = rig.cmdq + u64::from(start + 1) * 16;
    rig.mem.store_u64(at, nop()[0]).unwrap();
    rig.mem.store_u64(at + 8, nop()[1]).unwrap();
    rig.ack_gerrors();
    assert!(!rig.active_gerrors().cmdq_err());
    assert!(rig.cmdq_drained());
    assert_eq!(rig.unit.stats().syncs, syncs + 1);
}

#[test]
fn cerror_ill_for_a_reserved_opcode_stops_and_resumes() {
    let rig = Rig::new();
    stops_and_resumes(&rig, [0x7f, 0], Cerror::Ill);
}

#[test]
fn cerror_ill_for_reserved_bits_ssec_and_missing_features() {
    let rig = Rig::new();
    let mut w = sync();
    w[1] |= 1; // MSIAddress bits 1:0 are reserved.
    stops_and_resumes(&rig, w, Cerror::Ill);
    let mut w = Command::CfgiSte(CfgiSte::new()).encode();
    w[0] |= 1 << 10; // SSec on the Non-secure queue.
    stops_and_resumes(&rig, w, Cerror::Ill);
    // No stage 2 on the minimal SMMU: CMD_TLBI_S12_VMALL is illegal.
    let small = Rig::with_params(SmmuParams::minimal());
    stops_and_resumes(
        &small,
        Command::TlbiS12Vmall(TlbiS12Vmall::new()).encode(),
        Cerror::Ill,
    );
}

#[test]
fn cerror_abt_when_the_queue_is_not_in_memory() {
    let rig = Rig::new();
    rig.w32(SMMU_CR0, cr0_all().with_cmdqen(false).into_bits());
    rig.set_queue_base(SMMU_CMDQ_BASE, UNBACKED, CMDQ_LOG2);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    rig.w32(SMMU_CMDQ_PROD, 1);
    let cons = rig.cmdq_cons();
    assert_eq!((cons.rd(), cons.err()), (0, Cerror::Abt.code()));
    assert!(rig.active_gerrors().cmdq_err());
    // Moved back to memory (queue disabled, CONS kept), the command runs once acknowledged.
    rig.w32(SMMU_CR0, cr0_all().with_cmdqen(false).into_bits());
    rig.set_queue_base(SMMU_CMDQ_BASE, rig.cmdq, CMDQ_LOG2);
    rig.mem.store_u64(rig.cmdq, sync()[0]).unwrap();
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    rig.ack_gerrors();
    assert!(rig.cmdq_drained());
}

/// A device whose ATC invalidations time out.
struct DeadAtc;

impl DeviceSink for DeadAtc {
    fn invalidate_atc(&self, _: u32, _: AtcInvalidation) -> AtcCompletion {
        AtcCompletion::Failed
    }
    fn page_response(&self, _: u32, _: Option<u32>, _: u16, _: crate::pri::PriResponse) {}
    fn resume(&self, _: u32, _: u16, _: ResumeAction) {}
}

#[test]
fn cerror_atc_inv_sync_stops_at_the_sync_after_a_failed_atc_invalidation() {
    let rig = Rig::new();
    rig.unit.attach_device(7, Arc::new(DeadAtc));
    let c = AtcInv::new();
    let inv = Command::AtcInv(AtcInv {
        dw0: c.dw0.with_sid(7),
        ..c
    });
    rig.submit_words(&[inv.encode(), sync(), nop()]);
    let cons = rig.cmdq_cons();
    assert_eq!((cons.rd(), cons.err()), (1, Cerror::AtcInvSync.code()));
    assert_eq!(rig.unit.stats().syncs, 0);
    // Acknowledged, the same CMD_SYNC completes (the failure was reported once).
    rig.ack_gerrors();
    assert!(rig.cmdq_drained());
    assert_eq!(rig.unit.stats().syncs, 1);
}

#[test]
fn an_aborted_gerror_msi_is_itself_a_global_error_and_nothing_is_delivered() {
    let rig = Rig::new();
    rig.w32(SMMU_IRQ_CTRL, 0);
    rig.w64(SMMU_GERROR_IRQ_CFG0, UNBACKED);
    rig.w32(
        SMMU_IRQ_CTRL,
        IrqCtrl::new().with_gerror_irqen(true).into_bits(),
    );
    rig.take_irqs();
    rig.submit_words(&[[0x7f, 0]]);
    let active = rig.active_gerrors();
    assert!(active.cmdq_err() && active.msi_gerror_abt_err());
    assert!(rig.take_irqs().is_empty());
}
