//! Access rules: sizes, alignment, unknown offsets, read-only bits, 32-bit halves of 64-bit
//! registers, reset values.

use super::*;

#[test]
fn reset_values() {
    let (f, _) = file();
    assert_eq!(f.read(VER_REG, 4), 0x50);
    let cap = VtdParams::default().cap().unwrap().into_bits();
    let ecap = VtdParams::default().ecap().unwrap().into_bits();
    assert_eq!(f.read(CAP_REG, 8), cap);
    assert_eq!(f.read(ECAP_REG, 8), ecap);
    assert_eq!(f.read(GSTS_REG, 4), 0);
    assert_eq!(f.read(FSTS_REG, 4), 0);
    for ctl in [FECTL_REG, IECTL_REG, PECTL_REG] {
        assert_eq!(f.read(ctl, 4), 0x8000_0000, "IM resets to 1");
    }
    for reg in [
        RTADDR_REG, IQH_REG, IQT_REG, IQA_REG, PQH_REG, PQT_REG, PQA_REG,
    ] {
        assert_eq!(f.read(reg, 8), 0);
    }
}

#[test]
fn halves_of_64_bit_registers_read_as_dwords() {
    let (f, _) = file();
    let cap = f.read(CAP_REG, 8);
    assert_eq!(f.read(CAP_REG, 4), cap & 0xffff_ffff);
    assert_eq!(f.read(CAP_REG + 4, 4), cap >> 32);
    let ecap = f.read(ECAP_REG, 8);
    assert_eq!(f.read(ECAP_REG + 4, 4), ecap >> 32);
}

#[test]
fn qword_read_of_two_dword_registers() {
    let (mut f, _) = file();
    f.write(FEDATA_REG, 4, 0x41);
    f.write(FEADDR_REG, 4, 0xfee0_0000);
    assert_eq!(f.read(FEDATA_REG - 4, 8), 0x41 << 32 | 0x8000_0000);
    // GCMD (write-only) and GSTS.
    f.write(GCMD_REG, 4, 1 << 31);
    assert_eq!(f.read(GCMD_REG, 8), 0x8000_0000 << 32);
}

#[test]
fn bad_sizes_and_alignment_read_zero_and_write_nothing() {
    let (mut f, _) = file();
    for (off, size) in [
        (CAP_REG + 2, 4),
        (CAP_REG + 4, 8),
        (CAP_REG, 2),
        (CAP_REG, 1),
        (CAP_REG, 16),
    ] {
        assert_eq!(f.read(off, size), 0, "{off:#x}/{size}");
    }
    assert!(f.write(GCMD_REG + 1, 4, u64::MAX).is_empty());
    assert!(f.write(GCMD_REG, 2, u64::MAX).is_empty());
    assert!(f.write(RTADDR_REG + 4, 8, u64::MAX).is_empty());
    assert_eq!(f.gsts(), Gsts::new());
    assert_eq!(f.read(RTADDR_REG, 8), 0);
}

#[test]
fn unknown_offsets_read_zero() {
    let (mut f, _) = file();
    for off in [
        0x004u64,
        0x030,
        0x058,
        0x064,
        0x078,
        0x098,
        0x0f0,
        0x100,
        0x300,
        0x400,
        0xdc0,
        // No virtual command interface by default.
        VCMD_REG,
        VCCAP_REG,
        // Past the last fault record (8 by default).
        FRCD_REG + 8 * 16,
        0xffc,
        0x1000,
        u64::MAX - 7,
    ] {
        assert!(f.write(off, 4, u64::MAX).is_empty());
        assert_eq!(f.read(off, 4), 0, "{off:#x}");
        if off.is_multiple_of(8) {
            assert_eq!(f.read(off, 8), 0, "{off:#x}");
        }
    }
    // IRTA without interrupt remapping.
    f.write(IRTA_REG, 8, 0x1234_5000);
    assert_eq!(f.read(IRTA_REG, 8), 0);
}

#[test]
fn read_only_registers_ignore_writes() {
    let (mut f, _) = file();
    let dwords = [VER_REG, GSTS_REG];
    let qwords = [CAP_REG, ECAP_REG, IQH_REG, IQERCD_REG];
    let snapshot = |f: &RegisterFile| -> Vec<u64> {
        let mut v: Vec<u64> = dwords.iter().map(|&r| f.read(r, 4)).collect();
        v.extend(qwords.iter().map(|&r| f.read(r, 8)));
        v
    };
    let before = snapshot(&f);
    for r in dwords {
        assert!(f.write(r, 4, u64::MAX).is_empty());
    }
    for r in qwords {
        assert!(f.write(r, 8, u64::MAX).is_empty());
        assert!(f.write(r, 4, u64::MAX).is_empty());
        assert!(f.write(r + 4, 4, u64::MAX).is_empty());
    }
    assert_eq!(before, snapshot(&f));
}

#[test]
fn rtaddr_as_two_dwords_low_first() {
    let (mut f, _) = file();
    let v: u64 = 0x0000_00ab_cdef_1000 | 1 << 10;
    f.write(RTADDR_REG, 4, v & 0xffff_ffff);
    assert_eq!(f.read(RTADDR_REG, 8), v & 0xffff_ffff);
    f.write(RTADDR_REG + 4, 4, v >> 32);
    assert_eq!(f.read(RTADDR_REG, 8), v);
    assert_eq!(f.rtaddr().ttm(), Ttm::Scalable);
    assert_eq!(f.rtaddr().address(), 0xab_cdef_1000);
    // Equal to one QWORD write.
    let (mut g, _) = file();
    g.write(RTADDR_REG, 8, v);
    assert_eq!(g.read(RTADDR_REG, 8), v);
    assert_eq!(f.read(RTADDR_REG + 4, 4), v >> 32);
}

#[test]
fn rtaddr_drops_reserved_bits_and_bits_above_haw() {
    let (mut f, _) = file();
    f.write(RTADDR_REG, 8, u64::MAX);
    // 48-bit HAW: RTA is 47:12; TTM both bits; SSIRWE needs SSIRWS; 9:8 and 6:0 reserved.
    assert_eq!(f.read(RTADDR_REG, 8), 0x0000_ffff_ffff_f000 | 0b11 << 10);
}

#[test]
fn event_data_and_address_registers() {
    let (mut f, _) = file();
    f.write(FEDATA_REG, 4, 0xffff_ffff);
    // Without EIM, only the 16-bit IMD is writable.
    assert_eq!(f.read(FEDATA_REG, 4), 0xffff);
    f.write(FEADDR_REG, 4, 0xffff_ffff);
    assert_eq!(f.read(FEADDR_REG, 4), 0xffff_fffc);
    f.write(FEUADDR_REG, 4, 0x1234_5678);
    assert_eq!(f.read(FEUADDR_REG, 4), 0x1234_5678);
    // IP is read-only.
    f.write(FECTL_REG, 4, 0x4000_0000);
    assert_eq!(f.read(FECTL_REG, 4), 0);
    // With EIM, the whole data register.
    let (mut g, _) = file_with(all_params());
    g.write(IEDATA_REG, 4, 0xffff_ffff);
    assert_eq!(g.read(IEDATA_REG, 4), 0xffff_ffff);
    // A QWORD write of two DWORD registers writes both.
    g.write(PEADDR_REG, 8, 0x0000_0001_fee0_1000);
    assert_eq!(g.read(PEADDR_REG, 4), 0xfee0_1000);
    assert_eq!(g.read(PEUADDR_REG, 4), 1);
}

#[test]
fn virtual_command_interface() {
    let (mut f, _) = file_with(all_params());
    assert_eq!(f.read(VCCAP_REG, 8), 0b111);
    let a = f.write(VCMD_REG, 8, u64::from(VCMD_ALLOC_PASID));
    assert_eq!(
        a,
        vec![Action::VirtualCommand {
            cmd: VCMD_ALLOC_PASID,
            operand: 0
        }]
    );
    assert_eq!(f.read(VCRSP_REG, 8), 1, "IP set, the rest cleared");
    // Dropped while in progress.
    assert!(f.write(VCMD_REG, 8, u64::from(VCMD_FREE_PASID)).is_empty());
    assert_eq!(f.read(VCMD_REG, 8), u64::from(VCMD_ALLOC_PASID));
    f.complete_virtual_command(VCMD_SC_SUCCESS, 0x4_2abc);
    assert_eq!(f.read(VCRSP_REG, 8), 0x4_2abc << 16);
    // Free PASID 0xabcde: the PASID in bits 35:16, across both DWORDs of a QWORD write.
    f.write(VCMD_EO_REG, 8, 0x77);
    let a = f.write(VCMD_REG, 8, 0xa_bcde << 16 | u64::from(VCMD_FREE_PASID));
    assert_eq!(
        a,
        vec![Action::VirtualCommand {
            cmd: VCMD_FREE_PASID,
            operand: 0xa_bcde
        }]
    );
    assert_eq!(f.vcmd_operand_b(), 0x77);
    f.complete_virtual_command(VCMD_SC_INVALID_PASID, 0);
    assert_eq!(f.read(VCRSP_REG, 8), 16 << 1);
    assert_eq!(f.vcrsp().sc(), VCMD_SC_INVALID_PASID);
    // The upper DWORD alone issues nothing; the lower one issues the command.
    assert!(f.write(VCMD_REG + 4, 4, 0xf).is_empty());
    let a = f.write(VCMD_REG, 4, 0x1_0000 | u64::from(VCMD_FREE_PASID));
    assert_eq!(
        a,
        vec![Action::VirtualCommand {
            cmd: VCMD_FREE_PASID,
            operand: 0xf_0001
        }]
    );
    // VCRSP and VCCAP are read-only.
    f.write(VCRSP_REG, 8, 0);
    f.write(VCCAP_REG, 8, 0);
    assert_eq!(f.read(VCRSP_REG, 8), 1);
    assert_eq!(f.read(VCCAP_REG, 8), 0b111);
}

#[test]
fn register_based_invalidation_in_legacy_mode_only() {
    let legacy = VtdParams {
        scalable_mode: false,
        pasid_bits: 0,
        first_stage: false,
        second_stage: false,
        nesting: false,
        page_requests: false,
        ..Default::default()
    };
    let (mut f, _) = file_with(legacy);
    f.write(IVA_REG, 8, 0x1234_5000 | 9);
    assert_eq!(f.read(IVA_REG, 8), 0, "write-only");
    // Page-selective, DID 7, as two DWORDs, the trigger in the upper one.
    let cmd = IotlbReg::new().with_ivt(true).with_iirg(0b11).with_did(7);
    assert!(
        f.write(IOTLB_REG, 4, cmd.into_bits() & 0xffff_ffff)
            .is_empty()
    );
    let a = f.write(IOTLB_REG + 4, 4, cmd.into_bits() >> 32);
    assert_eq!(
        a,
        vec![Action::IotlbInvalidate {
            cmd: cmd.with_iaig(0b11),
            iva: Iva::from_bits(0x1234_5000 | 9)
        }]
    );
    let done = IotlbReg::from_bits(f.read(IOTLB_REG, 8));
    assert!(!done.ivt());
    assert_eq!(done.iaig(), 0b11);
    let cc = Ccmd::new().with_icc(true).with_cirg(0b01);
    let a = f.write(CCMD_REG, 8, cc.into_bits());
    assert_eq!(
        a,
        vec![Action::ContextCacheInvalidate(
            cc.with_icc(false).with_caig(0b01)
        )]
    );
    let done = Ccmd::from_bits(f.read(CCMD_REG, 8));
    assert!(!done.icc());
    assert_eq!(done.caig(), 0b01);

    // Scalable mode: ignored, reported with CAIG = IAIG = 00.
    let (mut f, _) = file();
    f.write(
        RTADDR_REG,
        8,
        RtAddr::new().with_ttm(Ttm::Scalable).into_bits(),
    );
    f.write(GCMD_REG, 4, Gcmd::new().with_srtp(true).into_bits().into());
    assert!(f.write(IOTLB_REG, 8, cmd.into_bits()).is_empty());
    assert!(f.write(CCMD_REG, 8, cc.into_bits()).is_empty());
    assert_eq!(IotlbReg::from_bits(f.read(IOTLB_REG, 8)).iaig(), 0);
    assert_eq!(Ccmd::from_bits(f.read(CCMD_REG, 8)).caig(), 0);
    assert!(!Ccmd::from_bits(f.read(CCMD_REG, 8)).icc());
}
