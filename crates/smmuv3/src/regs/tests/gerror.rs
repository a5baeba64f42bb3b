//! GERROR/GERRORN: errors are active while the two differ; the SMMU toggles GERROR, software
//! toggles GERRORN.

use super::*;

fn eventq_abt() -> Gerror {
    Gerror::new().with_eventq_abt_err(true)
}

#[test]
fn activation_toggles_gerror_once() {
    let mut f = full();
    assert_eq!(f.activate_gerror(eventq_abt()), None, "GERROR_IRQEN clear");
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0b100);
    assert_eq!(f.active_gerrors(), eventq_abt());
    // Already active: no second toggle.
    f.activate_gerror(eventq_abt());
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0b100);
    // Acknowledge, then a new occurrence toggles GERROR back to 0 and is active again.
    let acked = f.mmio_write(SMMU_GERRORN, 4, 0b100);
    assert_eq!(acked, vec![Action::GerrorAcknowledged(eventq_abt())]);
    assert_eq!(f.active_gerrors(), Gerror::new());
    f.activate_gerror(eventq_abt());
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0);
    assert_eq!(f.active_gerrors(), eventq_abt());
    assert_eq!(f.gerrorn(), eventq_abt());
}

#[test]
fn several_errors_at_once_and_acknowledged_separately() {
    let mut f = full();
    msi(&mut f, SMMU_GERROR_IRQ_CFG0, 0x8000, 7);
    f.mmio_write(SMMU_IRQ_CTRL, 4, 1);
    let both = Gerror::new().with_msi_cmdq_abt_err(true).with_sfm_err(true);
    let irq = f.activate_gerror(both).unwrap();
    assert_eq!(irq.irq, Irq::Gerror);
    assert_eq!(irq.msi.map(|m| (m.addr, m.data)), Some((0x8000, 7)));
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0x110);
    // Acknowledging one leaves the other active.
    f.mmio_write(SMMU_GERRORN, 4, 0x100);
    assert_eq!(
        f.active_gerrors(),
        Gerror::new().with_msi_cmdq_abt_err(true)
    );
    // Activating both again toggles only the inactive one, and still interrupts.
    assert!(f.activate_gerror(both).is_some());
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0x010);
    assert_eq!(f.active_gerrors(), both);
}

#[test]
fn errors_of_absent_features_never_activate() {
    let mut f = minimal();
    let absent = Gerror::new()
        .with_priq_abt_err(true)
        .with_msi_cmdq_abt_err(true)
        .with_msi_eventq_abt_err(true)
        .with_msi_priq_abt_err(true)
        .with_msi_gerror_abt_err(true);
    assert_eq!(f.activate_gerror(absent), None);
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0);
    // Nor can software write them into GERRORN; bit 1 and bits 31:9 are reserved too.
    f.mmio_write(SMMU_GERRORN, 4, u64::from(u32::MAX));
    assert_eq!(f.mmio_read(SMMU_GERRORN, 4), 0b1_0000_0101);
}

#[test]
fn gerrorn_reads_back_what_software_wrote() {
    let mut f = full();
    // Toggling an inactive error is software's mistake; the register keeps the value and the
    // error counts as active (the specification allows either).
    assert!(f.mmio_write(SMMU_GERRORN, 4, 1).is_empty());
    assert_eq!(f.mmio_read(SMMU_GERRORN, 4), 1);
    assert!(f.active_gerrors().cmdq_err());
    // The SMMU cannot activate it again while it counts as active.
    assert_eq!(f.activate_gerror(Gerror::new().with_cmdq_err(true)), None);
    assert_eq!(f.mmio_read(SMMU_GERROR, 4), 0);
}
