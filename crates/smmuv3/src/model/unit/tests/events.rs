//! Events written to the event queue through the unit, in the specification's format, and
//! the queue's overflow and abort behaviour.

use super::*;

#[test]
fn f_translation_is_written_in_the_spec_format_with_an_interrupt() {
    let (rig, _s1) = Rig::mapped();
    rig.take_irqs();
    assert_eq!(rig.read_fault(SID, 0x5000_0123), EventId::Translation);
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].irq, Irq::EventQueue);
    let w = rig.take_event_words();
    assert_eq!(w.len(), 1);
    let w = w[0];
    // DW0: EventID 7:0, StreamID 63:32; DW1: RnW 35, CLASS 41:40 = IN; DW2: InputAddr.
    assert_eq!(w[0] & 0xff, 0x10);
    assert_eq!(w[0] >> 32, u64::from(SID));
    assert_eq!(w[1] >> 35 & 1, 1);
    assert_eq!(w[1] >> 40 & 3, 0b10);
    assert_eq!(w[2], 0x5000_0123);
}

#[test]
fn overflow_toggles_ovflg_once_and_loses_the_event() {
    let (rig, _s1) = Rig::mapped();
    let cap = 1u32 << EVTQ_LOG2;
    for i in 0..cap + 2 {
        rig.read_fault(SID, 0x5000_0000 + u64::from(i) * 0x1000);
    }
    let prod = QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD));
    assert!(prod.ovflg(), "overflow reported");
    let events = rig.take_events();
    assert_eq!(events.len(), cap as usize, "only what fitted");
    assert_eq!(
        events[cap as usize - 1].addr,
        0x5000_0000 + u64::from(cap - 1) * 0x1000
    );
    // Acknowledged, the next event is written and a later overflow toggles OVFLG back.
    let cons = QueueCons::from_bits(rig.r32(SMMU_EVENTQ_CONS)).with_ovackflg(true);
    rig.w32(SMMU_EVENTQ_CONS, cons.into_bits());
    for _ in 0..cap + 1 {
        rig.read_fault(SID, 0x6000_0000);
    }
    assert!(!QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).ovflg());
    assert_eq!(rig.take_events().len(), cap as usize);
}

#[test]
fn eventq_abt_err_when_the_queue_is_not_in_memory() {
    let (rig, _s1) = Rig::mapped();
    rig.w32(SMMU_CR0, cr0_all().with_eventqen(false).into_bits());
    rig.set_queue_base(SMMU_EVENTQ_BASE, UNBACKED, EVTQ_LOG2);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    rig.take_irqs();
    assert_eq!(rig.read_fault(SID, 0x5000_0000), EventId::Translation);
    assert!(rig.active_gerrors().eventq_abt_err());
    assert_eq!(rig.take_irqs()[0].irq, Irq::Gerror);
    assert_eq!(QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).wr(), 0);
}

#[test]
fn nothing_is_written_while_the_event_queue_is_disabled() {
    let (rig, _s1) = Rig::mapped();
    rig.w32(SMMU_CR0, cr0_all().with_eventqen(false).into_bits());
    assert_eq!(rig.read_fault(SID, 0x5000_0000), EventId::Translation);
    assert!(rig.take_events().is_empty());
    assert!(!QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).ovflg());
}
