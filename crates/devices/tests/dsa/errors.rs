//! Every bad configuration ends in its CMDSTS code; every bad descriptor in its status, or in
//! SWERR when no completion record can carry it.

use softiommu_devices::dsa::regs::{self, CmdErr, Command, SwErr0, SwErr1};
use softiommu_devices::dsa::{DescFlags, Descriptor, DsaConfig, Opcode, Status, Submit};
use softiommu_mem::AddressSpace;

use crate::harness::{Rig, WqSetup};

const SRC: u64 = 0x1_0000;
const DST: u64 = 0x4_0000;
const CR: u64 = 0x8_0000;

#[test]
fn bad_configurations() {
    let rig = Rig::new();
    let e = |c, op| rig.cmd(c, op);
    assert_eq!(e(Command::ResetDevice, 0), 0);
    rig.dsa.write32(regs::CMD, 13 << 20);
    assert_eq!(
        rig.dsa.read32(regs::CMDSTS) & 0xff,
        CmdErr::InvalidCmd as u8 as u32
    );
    assert_eq!(e(Command::EnableWq, 0), CmdErr::DevNotEnabled as u8);
    assert_eq!(e(Command::DisableDevice, 0), CmdErr::DisDevNotEnabled as u8);
    assert_eq!(e(Command::DisableWq, 1), CmdErr::WqNotEnabled as u8);
    // WQ sizes over the total.
    rig.write_wq(
        0,
        &WqSetup {
            size: 100,
            ..WqSetup::dedicated()
        },
    );
    rig.write_wq(
        1,
        &WqSetup {
            size: 100,
            ..WqSetup::dedicated()
        },
    );
    rig.dsa.write64(rig.grpcfg(0, 0), 0b11);
    rig.dsa.write64(rig.grpcfg(0, 4), 1);
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::WqSizeErange as u8);
    rig.write_wq(
        1,
        &WqSetup {
            size: 0,
            ..WqSetup::dedicated()
        },
    );
    // A group with WQs and no engine.
    rig.dsa.write64(rig.grpcfg(0, 4), 0);
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::GrpConfig as u8);
    // A WQ in two groups; an engine in two groups; a WQ in no group.
    rig.dsa.write64(rig.grpcfg(0, 4), 1);
    rig.dsa.write64(rig.grpcfg(1, 0), 1);
    rig.dsa.write64(rig.grpcfg(1, 4), 2);
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::GrpConfig3 as u8);
    rig.dsa.write64(rig.grpcfg(1, 0), 0);
    rig.dsa.write64(rig.grpcfg(1, 4), 1);
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::GrpConfig4 as u8);
    rig.dsa.write64(rig.grpcfg(1, 0), 0);
    rig.dsa.write64(rig.grpcfg(1, 4), 0);
    rig.write_wq(
        2,
        &WqSetup {
            size: 4,
            ..WqSetup::dedicated()
        },
    );
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::GrpConfig2 as u8);
    rig.write_wq(
        2,
        &WqSetup {
            size: 0,
            ..WqSetup::dedicated()
        },
    );
    rig.dsa.set_bus_master(false);
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::BusMasterEn as u8);
    rig.dsa.set_bus_master(true);
    assert_eq!(e(Command::EnableDevice, 0), 0);
    assert_eq!(e(Command::EnableDevice, 0), CmdErr::DevEnabled as u8);
    // Enabling WQs: unconfigured, out of range, limits over the caps, PASID off.
    assert_eq!(e(Command::EnableWq, 1), CmdErr::WqSize as u8);
    assert_eq!(e(Command::EnableWq, 8), CmdErr::InvalidWqIdx as u8);
    assert_eq!(e(Command::DisableWq, 1 << 9), CmdErr::InvalidWqIdx as u8);
    rig.write_wq(
        0,
        &WqSetup {
            size: 8,
            batch_shift: 11,
            ..WqSetup::dedicated()
        },
    );
    assert_eq!(e(Command::EnableWq, 0), CmdErr::MaxBatchSize as u8);
    let limits = regs::WqCfgLimits::new()
        .with_max_xfer_shift(31)
        .with_max_batch_shift(5);
    rig.dsa.write32(rig.wqcfg(0, 3), limits.into_bits());
    rig.dsa.set_pasid_enabled(false);
    rig.write_wq(
        0,
        &WqSetup {
            size: 8,
            ..WqSetup::shared()
        },
    );
    assert_eq!(e(Command::EnableWq, 0), CmdErr::PasidEn as u8);
    rig.dsa.set_pasid_enabled(true);
    assert_eq!(e(Command::EnableWq, 0), 0);
    assert_eq!(e(Command::EnableWq, 0), CmdErr::WqEnabled as u8);
    // An enabled WQ's configuration does not change.
    rig.dsa.write32(rig.wqcfg(0, 0), 99);
    assert_eq!(rig.dsa.read32(rig.wqcfg(0, 0)), 8);
    // Nor GRPCFG while the device is enabled.
    rig.dsa.write64(rig.grpcfg(0, 4), 0xf);
    assert_eq!(rig.dsa.read64(rig.grpcfg(0, 4)), 1);
    assert_eq!(e(Command::DisableDevice, 0), 0);
    let st = regs::WqCfgState::from_bits(rig.dsa.read32(rig.wqcfg(0, 6)));
    assert_eq!(st.wq_state(), 0, "disabling the device disables its WQs");
}

#[test]
fn wq_too_big_for_what_is_left() {
    let rig = Rig::with(DsaConfig {
        total_wq_size: 32,
        ..DsaConfig::default()
    });
    rig.bring_up(&[WqSetup {
        size: 32,
        ..WqSetup::dedicated()
    }]);
    assert_eq!(rig.cmd(Command::DisableWq, 1), 0);
    rig.write_wq(
        0,
        &WqSetup {
            size: 40,
            ..WqSetup::dedicated()
        },
    );
    assert_eq!(rig.cmd(Command::EnableWq, 0), CmdErr::WqSize as u8);
    // Disabled WQs refuse work.
    let d = Descriptor::new(Opcode::Noop).with_completion(CR);
    assert_eq!(rig.movdir(0, &d), Submit::Dropped);
}

fn status_of(rig: &Rig, d: Descriptor) -> (u8, u32) {
    rig.mem.write(CR, &[0u8; 32]).expect("record in RAM");
    assert_eq!(rig.movdir(0, &d), Submit::Accepted);
    let r = rig.cr(CR);
    (r.status, r.invalid_flags())
}

#[test]
fn bad_descriptors() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup {
        xfer_shift: 12,
        batch_shift: 3,
        ..WqSetup::dedicated()
    }]);
    let mv = Descriptor::memmove(SRC, DST, 64).with_completion(CR);
    let s = |d| status_of(&rig, d).0;
    let mut d = mv;
    d.header.set_opcode(0x07);
    assert_eq!(
        s(d),
        Status::BadOpcode as u8,
        "delta record is not implemented"
    );
    let mut d = mv;
    d.set_flags(d.flags().with_fence(true));
    assert_eq!(status_of(&rig, d), (Status::InvalidFlags as u8, 0x1));
    let mut d = mv;
    d.set_flags(d.flags().with_check_result(true));
    assert_eq!(status_of(&rig, d), (Status::InvalidFlags as u8, 0x80));
    let mut d = mv;
    d.rsvd = 1;
    assert_eq!(s(d), Status::NonzeroReserved as u8);
    let mut d = mv;
    d.op_specific[23] = 1;
    assert_eq!(s(d), Status::NonzeroReserved as u8);
    let mut d = mv;
    d.header.set_rsvd(1);
    assert_eq!(s(d), Status::NonzeroReserved as u8);
    assert_eq!(
        s(Descriptor {
            xfer_size: 4097,
            ..mv
        }),
        Status::XferErange as u8
    );
    assert_eq!(
        s(Descriptor { xfer_size: 0, ..mv }),
        Status::XferErange as u8
    );
    assert_eq!(
        s(Descriptor {
            addr2: SRC + 32,
            ..mv
        }),
        Status::OverlapBuffers as u8
    );
    let b = Descriptor::batch(0x2_0000, 9).with_completion(CR);
    assert_eq!(s(b), Status::DescCountErange as u8);
    assert_eq!(
        s(Descriptor { xfer_size: 1, ..b }),
        Status::DescCountErange as u8
    );
    assert_eq!(
        s(Descriptor {
            addr1: 0x2_0020,
            xfer_size: 2,
            ..b
        }),
        Status::DescListAlign as u8
    );
    let dc = Descriptor::dualcast(SRC, DST, DST + 0x1008, 64).with_completion(CR);
    assert_eq!(s(dc), Status::DualcastAlign as u8);
    let mut d = mv;
    d.set_flags(d.flags().with_rci(true));
    d.int_handle = 9;
    assert_eq!(s(d), Status::IntHandleInvalid as u8);
    let mut d = Descriptor::new(Opcode::Drain).with_completion(CR);
    d.set_flags(d.flags().with_block_on_fault(true));
    assert_eq!(s(d), Status::InvalidFlags as u8);
    // A batch within a batch.
    let list = 0x2_0000u64;
    let inner = Descriptor::batch(list, 2).with_completion(CR + 0x40);
    rig.mem.write(list, &inner.to_bytes()).unwrap();
    rig.mem.write(list + 64, &inner.to_bytes()).unwrap();
    assert_eq!(
        s(Descriptor::batch(list, 2).with_completion(CR)),
        Status::BatchFail as u8
    );
    assert_eq!(rig.cr(CR + 0x40).status, Status::BadOpcode as u8);
    // An operation disabled in the WQ's operation configuration.
    assert_eq!(rig.cmd(Command::DisableWq, 1), 0);
    rig.dsa.write32(rig.wqcfg(0, 8), 0x7f & !(1 << 3));
    assert_eq!(rig.cmd(Command::EnableWq, 0), 0);
    assert_eq!(s(mv), Status::BadOpcode as u8);
}

#[test]
fn privileged_descriptor_on_a_user_wq() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::shared()]);
    let enq = softiommu_devices::dsa::Enqcmd {
        pasid: 3,
        privileged: true,
    };
    let d = Descriptor::new(Opcode::Noop).with_completion(CR);
    assert_eq!(
        rig.dsa.submit(0, 0, &d.to_bytes(), Some(enq)),
        Submit::Accepted
    );
    assert_eq!(rig.cr(CR).status, Status::PrivBad as u8);
}

#[test]
fn errors_without_a_record_go_to_swerr() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::dedicated(), WqSetup::dedicated()]);
    // Misaligned completion record: nothing runs, SWERR says why.
    let mut d = Descriptor::memfill(!0, DST, 64).with_completion(CR + 8);
    rig.movdir(1, &d);
    assert_eq!(rig.bytes(DST, 1), [0], "not executed");
    let s0 = SwErr0::from_bits(rig.swerr()[0]);
    assert!(s0.valid() && s0.wq_idx_valid() && !s0.overflow());
    assert_eq!((s0.error(), s0.wq_idx(), s0.operation()), (0x1b, 1, 0x04));
    assert_eq!(
        *rig.irqs.lock(),
        vec![0],
        "GENCTRL asks for the error interrupt"
    );
    // A second error overflows.
    d.completion_addr = 0;
    d.set_flags(DescFlags::new().with_fence(true));
    rig.movdir(0, &d);
    let s0 = SwErr0::from_bits(rig.swerr()[0]);
    assert!(s0.overflow());
    assert_eq!(s0.error(), 0x1b, "the first error stays");
    rig.dsa.write64(regs::SWERR, 3);
    assert_eq!(rig.swerr()[0] & 3, 0);
    rig.movdir(0, &d);
    let s = rig.swerr();
    assert_eq!(SwErr0::from_bits(s[0]).error(), Status::InvalidFlags as u8);
    assert_eq!(SwErr1::from_bits(s[1]).invalid_flags(), 1);
    rig.dsa.write64(regs::SWERR, 3);
    // A page fault without a record: the address in SWERR.
    let d = Descriptor::memmove(SRC, crate::harness::RAM - 8, 64);
    rig.movdir(0, &d);
    let s = rig.swerr();
    assert_eq!(
        SwErr0::from_bits(s[0]).error(),
        Status::PageFaultNoBof as u8
    );
    assert!(SwErr0::from_bits(s[0]).fault_rw());
    assert_eq!(s[2], crate::harness::RAM);
    rig.dsa.write64(regs::SWERR, 3);
    // The completion record itself beyond RAM.
    let d = Descriptor::new(Opcode::Noop).with_completion(crate::harness::RAM + 0x100);
    rig.movdir(0, &d);
    let s = rig.swerr();
    assert_eq!(
        SwErr0::from_bits(s[0]).error(),
        Status::CrAddrTranslation as u8
    );
}

#[test]
fn mmio_of_any_offset_and_width_answers() {
    let rig = Rig::new();
    for off in (0..0x1100u64).step_by(3) {
        for w in [1usize, 2, 4, 8, 16] {
            let mut b = vec![0u8; w];
            rig.dsa.mmio_read(off, &mut b);
            rig.dsa.mmio_write(off, &b);
        }
    }
    rig.dsa.mmio_write(u64::MAX - 2, &[0xff; 8]);
    rig.dsa.mmio_read(u64::MAX - 2, &mut [0; 8]);
    assert_eq!(rig.dsa.read32(regs::VERSION), 0x100);
}
