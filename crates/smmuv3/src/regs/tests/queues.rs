//! The queue registers: bases, producers and consumers, what software may write when, and
//! the model's reports of commands consumed or refused and records written or lost.

use super::*;
use crate::cmd::{Cerror, CmdSync, SyncSignal};

/// A full SMMU with a 16-entry command queue at 0x10000, a 4-entry event queue at 0x20000 and
/// a 4-entry PRI queue at 0x30000.
fn with_queues() -> RegisterFile {
    let mut f = full();
    f.mmio_write(SMMU_CMDQ_BASE, 8, 0x1_0000 | 4);
    f.mmio_write(SMMU_EVENTQ_BASE, 8, 0x2_0000 | 2);
    f.mmio_write(SMMU_PRIQ_BASE, 8, 0x3_0000 | 2);
    f
}

fn enable(f: &mut RegisterFile, c: Cr0) {
    cr0(f, c);
}

fn queues_on() -> Cr0 {
    Cr0::new()
        .with_smmuen(true)
        .with_cmdqen(true)
        .with_eventqen(true)
        .with_priqen(true)
}

#[test]
fn queue_bases_are_guarded_by_their_enables() {
    let mut f = with_queues();
    enable(&mut f, queues_on());
    for (base, was) in [
        (SMMU_CMDQ_BASE, 0x1_0000 | 4),
        (SMMU_EVENTQ_BASE, 0x2_0000 | 2),
        (SMMU_PRIQ_BASE, 0x3_0000 | 2),
    ] {
        f.mmio_write(base, 8, 0x9_0000);
        assert_eq!(f.mmio_read(base, 8), was, "{base:#x}");
    }
    // PRIQ_BASE is guarded by PRIQEN itself, not by its effective value.
    enable(&mut f, Cr0::new().with_priqen(true));
    f.mmio_write(SMMU_PRIQ_BASE, 8, 0x9_0000);
    assert_eq!(f.mmio_read(SMMU_PRIQ_BASE, 8), 0x3_0000 | 2);
    assert!(!f.priq_effective());
}

#[test]
fn queue_base_keeps_what_was_written_within_the_output_size() {
    let mut f = minimal();
    f.mmio_write(SMMU_CMDQ_BASE, 8, u64::MAX);
    // RA, ADDR 39:5 (40-bit output), LOG2SIZE as written.
    assert_eq!(f.mmio_read(SMMU_CMDQ_BASE, 8), 0x4000_00ff_ffff_ffff);
    // Used, LOG2SIZE is capped at IDR1.CMDQS = 8.
    let q = f.cmdq();
    assert_eq!(q.log2size(), 8);
    assert_eq!(q.base(), 0xff_ffff_f000);
}

#[test]
fn positions_keep_only_index_and_wrap_bits() {
    let mut f = with_queues();
    f.mmio_write(SMMU_CMDQ_PROD, 4, 0xffff_fffe);
    assert_eq!(f.mmio_read(SMMU_CMDQ_PROD, 4), 0x1e);
    f.mmio_write(SMMU_CMDQ_CONS, 4, 0xffff_fff1);
    // ERR is the SMMU's; software's write of it is ignored.
    assert_eq!(f.mmio_read(SMMU_CMDQ_CONS, 4), 0x11);
    f.mmio_write(SMMU_EVENTQ_PROD, 4, u64::from(u32::MAX));
    assert_eq!(
        f.mmio_read(SMMU_EVENTQ_PROD, 4),
        0x8000_0007,
        "WR and OVFLG"
    );
    f.mmio_write(SMMU_EVENTQ_CONS, 4, u64::from(u32::MAX));
    assert_eq!(
        f.mmio_read(SMMU_EVENTQ_CONS, 4),
        0x8000_0007,
        "RD and OVACKFLG"
    );
    // Shrinking the queue truncates the positions.
    f.mmio_write(SMMU_CMDQ_BASE, 8, 0x1_0000 | 2);
    assert_eq!(f.mmio_read(SMMU_CMDQ_PROD, 4), 0x6);
    assert_eq!(f.mmio_read(SMMU_CMDQ_CONS, 4), 0x1);
}

#[test]
fn producers_and_consumers_software_may_not_write_while_enabled() {
    let mut f = with_queues();
    enable(&mut f, queues_on());
    // The command queue's CONS and the output queues' PROD belong to the SMMU while enabled.
    for reg in [SMMU_CMDQ_CONS, SMMU_EVENTQ_PROD, SMMU_PRIQ_PROD] {
        f.mmio_write(reg, 4, 1);
        assert_eq!(f.mmio_read(reg, 4), 0, "{reg:#x}");
    }
    // Software's own positions stay writable, and each write is reported.
    assert_eq!(
        f.mmio_write(SMMU_CMDQ_PROD, 4, 3),
        vec![Action::CommandProducerWritten]
    );
    assert_eq!(
        f.mmio_write(SMMU_EVENTQ_CONS, 4, 0),
        vec![Action::EventConsumerWritten]
    );
    assert_eq!(
        f.mmio_write(SMMU_PRIQ_CONS, 4, 0),
        vec![Action::PriConsumerWritten]
    );
    assert_eq!(f.cmdq().len(), 3);
}

#[test]
fn commands_are_consumed_while_the_queue_is_ready() {
    let mut f = with_queues();
    f.mmio_write(SMMU_CMDQ_PROD, 4, 2);
    assert!(!f.cmdq_ready(), "disabled");
    enable(&mut f, Cr0::new().with_cmdqen(true));
    assert!(f.cmdq_ready());
    assert_eq!(f.cmdq().cons_address(), 0x1_0000);
    f.command_consumed();
    assert_eq!(f.cmdq().cons_address(), 0x1_0010);
    f.command_consumed();
    assert!(!f.cmdq_ready(), "empty");
    assert_eq!(f.mmio_read(SMMU_CMDQ_CONS, 4), 2);
}

#[test]
fn a_command_error_stops_the_queue_until_acknowledged() {
    let mut f = with_queues();
    enable(&mut f, Cr0::new().with_cmdqen(true));
    f.mmio_write(SMMU_IRQ_CTRL, 4, 1);
    f.mmio_write(SMMU_CMDQ_PROD, 4, 1);
    let irq = f.command_error(Cerror::Ill);
    assert_eq!(irq.map(|i| i.irq), Some(Irq::Gerror));
    // CONS still points at the command; ERR says why.
    assert_eq!(f.mmio_read(SMMU_CMDQ_CONS, 4), 1 << 24);
    assert_eq!(f.cmdq_cons().err(), Cerror::Ill.code());
    assert!(f.active_gerrors().cmdq_err());
    assert!(!f.cmdq_ready());
    // A second error while the first is active toggles nothing and signals nothing.
    assert_eq!(f.command_error(Cerror::Abt), None);
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 1);
    // Acknowledging restarts consumption.
    let actions = f.mmio_write(SMMU_GERRORN, 4, 1);
    assert_eq!(
        actions,
        vec![Action::GerrorAcknowledged(
            Gerror::new().with_cmdq_err(true)
        )]
    );
    assert!(f.cmdq_ready());
}

#[test]
fn events_fill_the_queue_then_overflow() {
    let mut f = with_queues();
    assert_eq!(f.event_slot(), OutputSlot::Disabled);
    enable(&mut f, Cr0::new().with_eventqen(true));
    f.mmio_write(SMMU_IRQ_CTRL, 4, 0b100);
    for i in 0..4u64 {
        assert_eq!(f.event_slot(), OutputSlot::Free(0x2_0000 + i * 32));
        let irq = f.event_written();
        // Only the write that makes the queue non-empty interrupts.
        assert_eq!(irq.is_some(), i == 0, "record {i}");
    }
    assert_eq!(f.event_slot(), OutputSlot::Full);
    assert_eq!(f.event_written(), None, "a full queue takes nothing");
    assert_eq!(f.mmio_read(SMMU_EVENTQ_PROD, 4), 0b100);
    // The first loss toggles OVFLG; later ones leave it until software acknowledges.
    f.event_overflow();
    assert!(f.eventq_overflow_active());
    f.event_overflow();
    assert_eq!(f.mmio_read(SMMU_EVENTQ_PROD, 4), 0x8000_0004);
    // Software consumes everything and acknowledges the overflow in one write.
    f.mmio_write(SMMU_EVENTQ_CONS, 4, 0x8000_0004);
    assert!(!f.eventq_overflow_active());
    assert_eq!(f.event_slot(), OutputSlot::Free(0x2_0000));
    // An overflow while software has not caught up toggles OVFLG back.
    for _ in 0..4 {
        f.event_written();
    }
    f.event_overflow();
    assert_eq!(f.mmio_read(SMMU_EVENTQ_PROD, 4), 0);
    assert!(f.eventq_overflow_active());
}

#[test]
fn page_requests_wait_for_an_acknowledged_overflow() {
    let mut f = with_queues();
    enable(&mut f, Cr0::new().with_priqen(true));
    assert_eq!(f.page_request_slot(), OutputSlot::Disabled, "SMMUEN = 0");
    enable(&mut f, Cr0::new().with_priqen(true).with_smmuen(true));
    f.mmio_write(SMMU_IRQ_CTRL, 4, 0b010);
    assert!(f.page_request_written(false).is_some(), "became non-empty");
    assert!(f.page_request_written(true).is_none());
    assert_eq!(
        f.page_request_overflow(true),
        None,
        "no interrupt without LO"
    );
    // An outstanding overflow blocks the queue although entries are free.
    assert_eq!(f.page_request_slot(), OutputSlot::Full);
    f.mmio_write(SMMU_PRIQ_CONS, 4, 0x8000_0002);
    assert_eq!(f.page_request_slot(), OutputSlot::Free(0x3_0000 + 2 * 16));
}

#[test]
fn last_only_pri_interrupts() {
    let mut f = with_queues();
    enable(&mut f, queues_on());
    msi(&mut f, SMMU_PRIQ_IRQ_CFG0, 0xfee0_0000, 0x42);
    f.mmio_write(SMMU_PRIQ_IRQ_CFG2, 4, 1 << 31 | 0x31);
    f.mmio_write(SMMU_IRQ_CTRL, 4, 0b010);
    assert_eq!(f.page_request_written(false), None, "LO: not the last");
    let irq = f.page_request_written(true).unwrap();
    assert_eq!(
        irq,
        Interrupt {
            irq: Irq::PriQueue,
            msi: Some(MsiWrite {
                addr: 0xfee0_0000,
                data: 0x42,
                mem_attr: 1,
                sh: 3
            })
        }
    );
    // A lost Last request interrupts too.
    f.page_request_written(false);
    f.page_request_written(false);
    assert_eq!(f.page_request_slot(), OutputSlot::Full);
    assert!(f.page_request_overflow(true).is_some());
    assert!(f.page_request_overflow(false).is_none());
}

#[test]
fn cmd_sync_signals_with_its_own_msi() {
    let sync = CmdSync::msi(0x4_0000, 0xabcd);
    let want = Interrupt {
        irq: Irq::CmdSync,
        msi: Some(MsiWrite {
            addr: 0x4_0000,
            data: 0xabcd,
            mem_attr: 0xf,
            sh: 3,
        }),
    };
    // Not gated by IRQ_CTRL.
    assert_eq!(full().sync_interrupt(&sync), Some(want));
    // Without MSIs: the wired interrupt only.
    assert_eq!(
        minimal().sync_interrupt(&sync),
        Some(Interrupt {
            irq: Irq::CmdSync,
            msi: None
        })
    );
    let mut none = sync;
    none.dw0 = none.dw0.with_cs(SyncSignal::None);
    assert_eq!(full().sync_interrupt(&none), None);
    none.dw0 = none.dw0.with_cs(SyncSignal::Sev);
    assert_eq!(full().sync_interrupt(&none), None);
}

#[test]
fn interrupts_follow_their_enables_and_msi_configuration() {
    let mut f = with_queues();
    enable(&mut f, Cr0::new().with_eventqen(true));
    assert_eq!(f.event_written(), None, "EVENTQ_IRQEN clear");
    f.mmio_write(SMMU_EVENTQ_CONS, 4, 1);
    f.mmio_write(SMMU_IRQ_CTRL, 4, 0b100);
    // No MSI address: the wired interrupt only.
    assert_eq!(
        f.event_written(),
        Some(Interrupt {
            irq: Irq::EventQueue,
            msi: None
        })
    );
    // Without IDR0.MSI there is never an MSI write.
    let mut f = file_with(SmmuParams::minimal());
    f.mmio_write(SMMU_EVENTQ_BASE, 8, 0x2_0000 | 2);
    enable(&mut f, Cr0::new().with_eventqen(true));
    f.mmio_write(SMMU_IRQ_CTRL, 4, 0b100);
    f.mmio_write(SMMU_EVENTQ_IRQ_CFG0, 8, 0xfee0_0000);
    assert_eq!(f.event_written().and_then(|i| i.msi), None);
}
