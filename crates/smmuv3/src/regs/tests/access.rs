//! Access rules: sizes, alignment, unknown offsets, read-only registers, 32-bit halves of
//! 64-bit registers, the two pages, registers that exist only with a feature, reset values.

use super::*;

#[test]
fn reset_values() {
    let f = full();
    for reg in [
        SMMU_CR0,
        SMMU_CR0ACK,
        SMMU_CR1,
        SMMU_CR2,
        SMMU_STATUSR,
        SMMU_IRQ_CTRL,
        SMMU_IRQ_CTRLACK,
        SMMU_GERROR,
        SMMU_GERRORN,
        SMMU_STRTAB_BASE_CFG,
        SMMU_CMDQ_PROD,
        SMMU_CMDQ_CONS,
        SMMU_EVENTQ_PROD,
        SMMU_EVENTQ_CONS,
        SMMU_PRIQ_PROD,
        SMMU_PRIQ_CONS,
    ] {
        assert_eq!(f.mmio_read(reg, 4), 0, "{reg:#x}");
    }
    assert_eq!(
        f.mmio_read(SMMU_GBPA, 4),
        0x1000,
        "bypass, SHCFG use incoming"
    );
    for reg in [
        SMMU_STRTAB_BASE,
        SMMU_CMDQ_BASE,
        SMMU_EVENTQ_BASE,
        SMMU_PRIQ_BASE,
        SMMU_GERROR_IRQ_CFG0,
    ] {
        assert_eq!(f.mmio_read(reg, 8), 0, "{reg:#x}");
    }
}

#[test]
fn id_registers_ignore_writes() {
    let mut f = full();
    let before: Vec<u64> = (0..8).map(|i| f.mmio_read(i * 4, 4)).collect();
    for i in 0..8 {
        assert!(f.mmio_write(i * 4, 4, u64::MAX).is_empty());
    }
    for i in 0..4 {
        assert!(f.mmio_write(i * 8, 8, u64::MAX).is_empty());
    }
    let after: Vec<u64> = (0..8).map(|i| f.mmio_read(i * 4, 4)).collect();
    assert_eq!(before, after);
}

#[test]
fn read_only_registers_ignore_writes() {
    let mut f = full();
    for reg in [SMMU_CR0ACK, SMMU_IRQ_CTRLACK, SMMU_GERROR, SMMU_STATUSR] {
        f.mmio_write(reg, 4, u64::MAX);
        assert_eq!(f.mmio_read(reg, 4), 0, "{reg:#x}");
    }
}

#[test]
fn halves_of_64_bit_registers() {
    let mut f = full();
    f.mmio_write(SMMU_STRTAB_BASE, 4, 0x8765_4340);
    f.mmio_write(SMMU_STRTAB_BASE + 4, 4, 0x4000_0012);
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE, 8), 0x4000_0012_8765_4340);
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE, 4), 0x8765_4340);
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE + 4, 4), 0x4000_0012);
    // A 32-bit write changes only its half.
    f.mmio_write(SMMU_STRTAB_BASE, 4, 0);
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE, 8), 0x4000_0012_0000_0000);
    f.mmio_write(SMMU_CMDQ_BASE, 8, 0x4000_1234_5678_9008);
    assert_eq!(f.mmio_read(SMMU_CMDQ_BASE + 4, 4), 0x4000_1234);
}

#[test]
fn a_64_bit_access_to_two_32_bit_registers_reaches_both() {
    let mut f = full();
    f.mmio_write(SMMU_CMDQ_BASE, 8, 0x10_0000 | 8);
    f.mmio_write(SMMU_CMDQ_PROD, 8, 5 | 3 << 32);
    assert_eq!(f.mmio_read(SMMU_CMDQ_PROD, 4), 5);
    assert_eq!(f.mmio_read(SMMU_CMDQ_CONS, 4), 3);
    assert_eq!(f.mmio_read(SMMU_CMDQ_PROD, 8), 5 | 3 << 32);
    // IDR0 and IDR1 read as one doubleword.
    let both = f.mmio_read(SMMU_IDR0, 8);
    assert_eq!(
        both,
        f.mmio_read(SMMU_IDR0, 4) | f.mmio_read(SMMU_IDR1, 4) << 32
    );
}

#[test]
fn bad_sizes_and_alignment_read_zero_and_write_nothing() {
    let mut f = full();
    for (off, size) in [
        (SMMU_IDR0 + 2, 4),
        (SMMU_STRTAB_BASE + 4, 8),
        (SMMU_IDR0, 2),
        (SMMU_IDR0, 1),
        (SMMU_IDR0, 16),
        (SMMU_IDR0, 0),
    ] {
        assert_eq!(f.mmio_read(off, size), 0, "{off:#x}/{size}");
    }
    let on = u64::from(Cr0::new().with_smmuen(true).into_bits());
    assert!(f.mmio_write(SMMU_CR0 + 1, 4, on).is_empty());
    assert!(f.mmio_write(SMMU_CR0, 2, on).is_empty());
    assert!(f.mmio_write(SMMU_CR0, 1, on).is_empty());
    assert!(f.mmio_write(SMMU_STRTAB_BASE + 4, 8, u64::MAX).is_empty());
    assert_eq!(f.cr0(), Cr0::new());
    assert_eq!(f.mmio_read(SMMU_STRTAB_BASE, 8), 0);
}

#[test]
fn unknown_offsets_are_raz_wi() {
    let mut f = full();
    for off in [
        0x030u64,
        0x04c,
        0x058,
        0x078,
        0x08c,
        0x0e0,
        0x100,
        0x118,
        0xfd0,
        0x8000,
        0x8020,
        SMMU_PAGE1,
        SMMU_PAGE1 + 0x20,
        SMMU_PAGE1 + 0x98,
        SMMU_PAGE1 + 0xa0,
        SMMU_FRAME_SIZE,
        SMMU_FRAME_SIZE + 0xa8,
        u64::MAX - 7,
    ] {
        assert!(f.mmio_write(off, 4, u64::MAX).is_empty(), "{off:#x}");
        assert!(f.mmio_write(off, 8, u64::MAX).is_empty(), "{off:#x}");
        assert_eq!(f.mmio_read(off, 4), 0, "{off:#x}");
        assert_eq!(f.mmio_read(off, 8), 0, "{off:#x}");
    }
    // Nothing moved.
    assert_eq!(f.cr0(), Cr0::new());
    assert_eq!(f.gerror(), Gerror::new());
}

#[test]
fn page_1_queue_registers_have_page_0_aliases() {
    let mut f = full();
    f.mmio_write(SMMU_EVENTQ_BASE, 8, 0x20_0000 | 5);
    f.mmio_write(SMMU_PRIQ_BASE, 8, 0x30_0000 | 5);
    f.mmio_write(SMMU_EVENTQ_PROD, 4, 3);
    assert_eq!(f.mmio_read(SMMU_EVENTQ_PROD_PAGE0, 4), 3);
    f.mmio_write(SMMU_EVENTQ_CONS_PAGE0, 4, 2);
    assert_eq!(f.mmio_read(SMMU_EVENTQ_CONS, 4), 2);
    f.mmio_write(SMMU_PRIQ_PROD_PAGE0, 4, 7);
    f.mmio_write(SMMU_PRIQ_CONS, 4, 6);
    assert_eq!(f.mmio_read(SMMU_PRIQ_PROD, 4), 7);
    assert_eq!(f.mmio_read(SMMU_PRIQ_CONS_PAGE0, 4), 6);
    assert_eq!(f.eventq().len(), 1);
    assert_eq!(f.priq().len(), 1);
}

#[test]
fn pri_registers_exist_only_with_pri() {
    let mut f = minimal();
    for reg in [SMMU_PRIQ_BASE, SMMU_PRIQ_IRQ_CFG0] {
        f.mmio_write(reg, 8, u64::MAX);
        assert_eq!(f.mmio_read(reg, 8), 0, "{reg:#x}");
    }
    for reg in [
        SMMU_PRIQ_PROD,
        SMMU_PRIQ_CONS,
        SMMU_PRIQ_IRQ_CFG1,
        SMMU_PRIQ_IRQ_CFG2,
    ] {
        assert!(f.mmio_write(reg, 4, u64::MAX).is_empty());
        assert_eq!(f.mmio_read(reg, 4), 0, "{reg:#x}");
    }
}

#[test]
fn msi_registers_exist_only_with_msi() {
    let p = SmmuParams {
        msi: false,
        ..SmmuParams::full()
    };
    let mut f = file_with(p);
    for reg in [
        SMMU_GERROR_IRQ_CFG0,
        SMMU_EVENTQ_IRQ_CFG0,
        SMMU_PRIQ_IRQ_CFG0,
    ] {
        f.mmio_write(reg, 8, u64::MAX);
        f.mmio_write(reg + 8, 8, u64::MAX);
        assert_eq!(f.mmio_read(reg, 8), 0, "{reg:#x}");
    }
    assert_eq!(f.mmio_read(SMMU_GERROR_IRQ_CFG1, 4), 0);
    assert_eq!(f.mmio_read(SMMU_EVENTQ_IRQ_CFG2, 4), 0);
    // PRIQ_IRQ_CFG2.LO stays: it does not depend on MSIs.
    assert_eq!(f.mmio_read(SMMU_PRIQ_IRQ_CFG2, 4), 1 << 31);
}

#[test]
fn irq_configuration_is_kept_as_written() {
    let mut f = full();
    f.mmio_write(SMMU_EVENTQ_IRQ_CFG0, 4, 0xfee0_0013);
    f.mmio_write(SMMU_EVENTQ_IRQ_CFG0 + 4, 4, 0x00ff_0012);
    f.mmio_write(SMMU_EVENTQ_IRQ_CFG1, 4, 0xdead_beef);
    f.mmio_write(SMMU_EVENTQ_IRQ_CFG2, 4, u64::MAX);
    // ADDR 55:2 cut to the 48-bit output size; CFG2 keeps SH and MemAttr (LO is PRIQ's).
    assert_eq!(f.mmio_read(SMMU_EVENTQ_IRQ_CFG0, 8), 0x12_fee0_0010);
    assert_eq!(f.mmio_read(SMMU_EVENTQ_IRQ_CFG1, 4), 0xdead_beef);
    assert_eq!(f.mmio_read(SMMU_EVENTQ_IRQ_CFG2, 4), 0x3f);
    f.mmio_write(SMMU_PRIQ_IRQ_CFG2, 4, u64::MAX);
    assert_eq!(f.mmio_read(SMMU_PRIQ_IRQ_CFG2, 4), 0x8000_003f);
    let msi = f.eventq_irq_cfg().msi().unwrap();
    assert_eq!(
        msi,
        MsiWrite {
            addr: 0x12_fee0_0010,
            data: 0xdead_beef,
            mem_attr: 0xf,
            sh: 3
        }
    );
}
