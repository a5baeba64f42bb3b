//! CR0/CR0ACK, CR1, CR2, GBPA, IRQ_CTRL and the stream table registers: what a write changes,
//! what it sets in motion, and what it may not change while the SMMU is enabled.

use super::*;

fn on() -> Cr0 {
    Cr0::new()
}

#[test]
fn cr0_is_acknowledged_at_once_with_one_action_per_change() {
    let mut f = full();
    let all = on()
        .with_smmuen(true)
        .with_priqen(true)
        .with_eventqen(true)
        .with_cmdqen(true)
        .with_atschk(true);
    assert_eq!(
        cr0(&mut f, all),
        vec![
            Action::SmmuEnable(true),
            Action::PriQueueEnable(true),
            Action::EventQueueEnable(true),
            Action::CommandQueueEnable(true),
            Action::AtsCheck(true),
        ]
    );
    assert_eq!(f.mmio_read(SMMU_CR0ACK, 4), 0x1f);
    assert_eq!(f.cr0ack(), all);
    // Writing the same value again changes nothing.
    assert!(cr0(&mut f, all).is_empty());
    // Turning only the command queue off reports only that.
    assert_eq!(
        cr0(&mut f, all.with_cmdqen(false)),
        vec![Action::CommandQueueEnable(false)]
    );
    assert_eq!(f.mmio_read(SMMU_CR0ACK, 4), 0x17);
}

#[test]
fn cr0_fields_the_smmu_lacks_stay_zero() {
    let mut f = minimal();
    // PRIQEN needs PRI, ATSCHK needs ATS, VMW needs IDR0.VMW; bits 31:9 are reserved.
    let actions = f.mmio_write(SMMU_CR0, 4, u64::from(u32::MAX));
    assert_eq!(f.mmio_read(SMMU_CR0, 4), 0b1101);
    assert_eq!(f.mmio_read(SMMU_CR0ACK, 4), 0b1101);
    assert_eq!(actions.len(), 3);
    let mut f = full();
    f.mmio_write(SMMU_CR0, 4, u64::from(u32::MAX));
    assert_eq!(f.mmio_read(SMMU_CR0ACK, 4), 0x1f, "no VMW");
}

#[test]
fn cr1_fields_are_guarded_by_their_enables() {
    let mut f = full();
    f.mmio_write(SMMU_CR1, 4, 0xfff);
    assert_eq!(f.mmio_read(SMMU_CR1, 4), 0xfff);
    // With the event queue on, only the TABLE fields change.
    cr0(&mut f, on().with_eventqen(true));
    f.mmio_write(SMMU_CR1, 4, 0);
    assert_eq!(f.cr1(), Cr1::from_bits(0x03f));
    // With the SMMU on too, nothing changes.
    cr0(&mut f, on().with_eventqen(true).with_smmuen(true));
    f.mmio_write(SMMU_CR1, 4, 0xfff);
    assert_eq!(f.cr1(), Cr1::from_bits(0x03f));
    // With only the SMMU on, the QUEUE fields change.
    cr0(&mut f, on().with_smmuen(true));
    f.mmio_write(SMMU_CR1, 4, 0x555);
    assert_eq!(f.cr1(), Cr1::from_bits(0x015));
}

#[test]
fn cr2_is_read_only_while_enabled() {
    let mut f = full();
    f.mmio_write(SMMU_CR2, 4, u64::from(u32::MAX));
    // E2H (with Hyp) and RECINVSID; PTM needs BTM, REC_CFG_ATS needs ATSRECERR.
    assert_eq!(f.mmio_read(SMMU_CR2, 4), 0b11);
    cr0(&mut f, on().with_smmuen(true));
    f.mmio_write(SMMU_CR2, 4, 0);
    assert_eq!(f.mmio_read(SMMU_CR2, 4), 0b11);
    let mut f = minimal();
    f.mmio_write(SMMU_CR2, 4, u64::from(u32::MAX));
    assert_eq!(
        f.cr2(),
        Cr2::new().with_recinvsid(true),
        "no E2H without Hyp"
    );
}

#[test]
fn gbpa_changes_only_with_update() {
    let mut f = full();
    let abort = Gbpa::new().with_abort(true).with_shcfg(1);
    // Without UPDATE the write is ignored.
    assert!(
        f.mmio_write(SMMU_GBPA, 4, u64::from(abort.into_bits()))
            .is_empty()
    );
    assert_eq!(f.gbpa(), GBPA_RESET);
    // With UPDATE the attributes change and the update completes at once.
    let actions = f.mmio_write(SMMU_GBPA, 4, u64::from(abort.with_update(true).into_bits()));
    assert_eq!(actions, vec![Action::GbpaUpdate(abort)]);
    assert_eq!(f.mmio_read(SMMU_GBPA, 4), u64::from(abort.into_bits()));
    assert!(!f.gbpa().update());
    // Reserved bits are dropped.
    f.mmio_write(SMMU_GBPA, 4, u64::from(u32::MAX));
    assert_eq!(f.mmio_read(SMMU_GBPA, 4), 0x001f_3f1f);
}

#[test]
fn irq_ctrl_is_acknowledged_and_reported() {
    let mut f = full();
    let en = IrqCtrl::new()
        .with_gerror_irqen(true)
        .with_eventq_irqen(true);
    let actions = f.mmio_write(SMMU_IRQ_CTRL, 4, u64::from(en.into_bits()));
    assert_eq!(actions, vec![Action::IrqCtrlChanged(en)]);
    assert_eq!(f.mmio_read(SMMU_IRQ_CTRLACK, 4), 0b101);
    assert!(
        f.mmio_write(SMMU_IRQ_CTRL, 4, u64::from(en.into_bits()))
            .is_empty()
    );
    let mut f = minimal();
    f.mmio_write(SMMU_IRQ_CTRL, 4, 7);
    assert_eq!(
        f.mmio_read(SMMU_IRQ_CTRLACK, 4),
        0b101,
        "no PRIQ_IRQEN without PRI"
    );
}

#[test]
fn irq_configuration_is_guarded_by_its_enable() {
    let mut f = full();
    f.mmio_write(SMMU_GERROR_IRQ_CFG0, 8, 0x1000);
    f.mmio_write(SMMU_GERROR_IRQ_CFG1, 4, 1);
    f.mmio_write(SMMU_IRQ_CTRL, 4, 1);
    f.mmio_write(SMMU_GERROR_IRQ_CFG0, 8, 0x2000);
    f.mmio_write(SMMU_GERROR_IRQ_CFG1, 4, 2);
    f.mmio_write(SMMU_GERROR_IRQ_CFG2, 4, 0x3f);
    assert_eq!(f.mmio_read(SMMU_GERROR_IRQ_CFG0, 8), 0x1000);
    assert_eq!(f.mmio_read(SMMU_GERROR_IRQ_CFG1, 4), 1);
    assert_eq!(f.mmio_read(SMMU_GERROR_IRQ_CFG2, 4), 0);
    // The event queue's configuration is guarded by its own enable only.
    f.mmio_write(SMMU_EVENTQ_IRQ_CFG1, 4, 9);
    assert_eq!(f.mmio_read(SMMU_EVENTQ_IRQ_CFG1, 4), 9);
}

#[test]
fn stream_table_registers_are_read_only_while_enabled() {
    let mut f = full();
    f.mmio_write(SMMU_STRTAB_BASE, 8, 0x4000_0000_8000_0000);
    f.mmio_write(SMMU_STRTAB_BASE_CFG, 4, 1 << 16 | 8 << 6 | 16);
    cr0(&mut f, on().with_smmuen(true));
    f.mmio_write(SMMU_STRTAB_BASE, 8, 0x9000_0000);
    f.mmio_write(SMMU_STRTAB_BASE_CFG, 4, 0);
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE, 8), 0x4000_0000_8000_0000);
    assert_eq!(f.strtab_base_cfg().log2size(), 16);
    let t = f.stream_table();
    assert_eq!(
        (t.base, t.two_level, t.log2size, t.split),
        (0x8000_0000, true, 16, 8)
    );
    // Disabled again, the registers are writable.
    cr0(&mut f, on());
    f.mmio_write(SMMU_STRTAB_BASE, 8, 0x9000_0000);
    assert_eq!(f.strtab_base().address(), 0x9000_0000);
}

#[test]
fn stream_table_base_is_cut_to_the_output_size() {
    let mut f = minimal();
    f.mmio_write(SMMU_STRTAB_BASE, 8, u64::MAX);
    // ADDR 39:6 (40-bit output) and RA.
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE, 8), 0x4000_00ff_ffff_ffc0);
    // A linear-only SMMU keeps FMT and SPLIT at 0.
    f.mmio_write(SMMU_STRTAB_BASE_CFG, 4, u64::from(u32::MAX));
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE_CFG, 4), 0x3f);
    assert!(!f.stream_table().two_level);
    assert_eq!(f.stream_table().log2size, 6, "capped by SIDSIZE");
}
