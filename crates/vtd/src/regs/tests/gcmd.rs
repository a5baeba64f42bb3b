//! GCMD sequences: a write is the new state of the level bits; one-shots trigger.

use super::*;

fn gcmd(f: &mut RegisterFile, v: Gcmd) -> Vec<Action> {
    f.write(GCMD_REG, 4, v.into_bits().into())
}

/// What Linux writes to change one bit: GSTS without the one-shots, with `bit` set or
/// cleared.
fn linux_gcmd(f: &mut RegisterFile, bit: Gcmd, on: bool) -> Vec<Action> {
    let keep = f.read(GSTS_REG, 4) as u32 & 0x96ff_ffff;
    let v = if on {
        keep | bit.into_bits()
    } else {
        keep & !bit.into_bits()
    };
    f.write(GCMD_REG, 4, v.into())
}

#[test]
fn enable_and_disable_translation() {
    let (mut f, _) = file();
    let te = Gcmd::new().with_te(true);
    assert_eq!(
        linux_gcmd(&mut f, te, true),
        vec![Action::EnableTranslation(true)]
    );
    assert!(f.gsts().te());
    assert_eq!(f.read(GSTS_REG, 4), 0x8000_0000);
    // Writing the same state again does nothing.
    assert!(linux_gcmd(&mut f, te, true).is_empty());
    assert_eq!(
        linux_gcmd(&mut f, te, false),
        vec![Action::EnableTranslation(false)]
    );
    assert_eq!(f.read(GSTS_REG, 4), 0);
}

#[test]
fn srtp_is_a_one_shot() {
    let (mut f, _) = file();
    let rt = RtAddr::new().with_rta(0x1_2345).with_ttm(Ttm::Scalable);
    f.write(RTADDR_REG, 8, rt.into_bits());
    assert_eq!(f.root_table(), RtAddr::new(), "not latched before SRTP");
    let a = linux_gcmd(&mut f, Gcmd::new().with_srtp(true), true);
    assert_eq!(a, vec![Action::SetRootTable { rtaddr: rt }]);
    assert_eq!(f.root_table(), rt);
    assert!(!f.gsts().srtp(), "RTPS is clear until completion");
    f.complete_root_table();
    assert_eq!(f.read(GSTS_REG, 4), 0x4000_0000);
    // Software's next writes drop bit 30, which neither re-latches nor clears RTPS.
    f.write(RTADDR_REG, 8, 0x9999_9000);
    let a = linux_gcmd(&mut f, Gcmd::new().with_te(true), true);
    assert_eq!(a, vec![Action::EnableTranslation(true)]);
    assert_eq!(f.root_table(), rt);
    assert_eq!(f.read(GSTS_REG, 4), 0xc000_0000);
    // A second SRTP, with translation on (CAP.ESRTPS=1), latches the new value.
    let a = linux_gcmd(&mut f, Gcmd::new().with_srtp(true), true);
    assert_eq!(
        a,
        vec![Action::SetRootTable {
            rtaddr: RtAddr::from_bits(0x9999_9000)
        }]
    );
    assert_eq!(f.read(GSTS_REG, 4), 0x8000_0000);
}

#[test]
fn srtp_and_te_in_one_write_latch_before_enabling() {
    let (mut f, _) = file();
    let a = gcmd(&mut f, Gcmd::new().with_srtp(true).with_te(true));
    assert_eq!(
        a,
        vec![
            Action::SetRootTable {
                rtaddr: RtAddr::new()
            },
            Action::EnableTranslation(true)
        ]
    );
}

#[test]
fn qie_disable_resets_iqh() {
    let (mut f, _) = file();
    f.write(IQA_REG, 8, 0x5_0000_0000 | 1 << 11);
    let qie = Gcmd::new().with_qie(true);
    assert_eq!(
        linux_gcmd(&mut f, qie, true),
        vec![Action::EnableQueue(true)]
    );
    assert!(f.gsts().qie());
    f.write(IQT_REG, 8, 0x40);
    f.set_iq_head(0x40);
    assert_eq!(f.read(IQH_REG, 8), 0x40);
    assert_eq!(
        linux_gcmd(&mut f, qie, false),
        vec![Action::EnableQueue(false)]
    );
    assert_eq!(f.read(IQH_REG, 8), 0);
    assert_eq!(f.read(IQT_REG, 8), 0x40, "the tail is kept");
    assert!(!f.gsts().qie());
}

#[test]
fn one_changed_bit_changes_only_that_bit() {
    let (mut f, _) = file_with(all_params());
    // Everything on: IRTA latched, IR, compatibility format, queue, translation.
    f.write(IRTA_REG, 8, 0x7000 | 0xf);
    let a = linux_gcmd(&mut f, Gcmd::new().with_sirtp(true), true);
    assert_eq!(
        a,
        vec![Action::SetIrTable {
            irta: Irta::from_bits(0x7000 | 0xf)
        }]
    );
    f.complete_ir_table();
    linux_gcmd(&mut f, Gcmd::new().with_srtp(true), true);
    f.complete_root_table();
    for bit in [
        Gcmd::new().with_qie(true),
        Gcmd::new().with_ire(true),
        Gcmd::new().with_cfi(true),
        Gcmd::new().with_te(true),
    ] {
        linux_gcmd(&mut f, bit, true);
    }
    let all = f.read(GSTS_REG, 4) as u32;
    assert_eq!(all, 0xc780_0000, "TES RTPS QIES IRES IRTPS CFIS");
    // Toggle each level bit in turn: only it changes, with exactly one action (none for
    // CFI).
    let levels = [
        (
            Gcmd::new().with_te(true),
            Some(Action::EnableTranslation(false)),
        ),
        (Gcmd::new().with_qie(true), Some(Action::EnableQueue(false))),
        (
            Gcmd::new().with_ire(true),
            Some(Action::EnableInterruptRemapping(false)),
        ),
        (Gcmd::new().with_cfi(true), None),
    ];
    for (bit, action) in levels {
        let before = f.read(GSTS_REG, 4) as u32;
        let a = linux_gcmd(&mut f, bit, false);
        assert_eq!(a, action.into_iter().collect::<Vec<_>>());
        assert_eq!(f.read(GSTS_REG, 4) as u32, before & !bit.into_bits());
        let a = linux_gcmd(&mut f, bit, true);
        assert_eq!(a.len(), usize::from(action.is_some()));
        assert_eq!(f.read(GSTS_REG, 4) as u32, before);
    }
}

#[test]
fn interrupt_remapping_bits_need_ir() {
    let (mut f, _) = file();
    let a = gcmd(
        &mut f,
        Gcmd::new().with_ire(true).with_sirtp(true).with_cfi(true),
    );
    assert!(a.is_empty());
    assert_eq!(f.read(GSTS_REG, 4), 0);
}

#[test]
fn wbf_is_ignored_without_rwbf() {
    let (mut f, _) = file();
    assert!(gcmd(&mut f, Gcmd::new().with_wbf(true)).is_empty());
    assert_eq!(f.read(GSTS_REG, 4), 0);
}

#[test]
fn reserved_gcmd_bits_do_not_reach_gsts() {
    let (mut f, _) = file();
    f.write(GCMD_REG, 4, 0x307f_ffff);
    assert_eq!(f.read(GSTS_REG, 4), 0);
}

#[test]
fn fault_index_resets_when_te_and_ire_are_off() {
    let (mut f, _) = file();
    linux_gcmd(&mut f, Gcmd::new().with_te(true), true);
    let rec = FaultRecord {
        sid: 1,
        addr: 0x1000,
        reason: 0x38,
        kind: RequestKind::Write,
        at: AddressType::Untranslated,
        pasid: None,
        privileged: false,
        execute: false,
    };
    assert!(f.record_fault(rec));
    assert!(f.record_fault(rec));
    // Clear both records, turn translation off and on: the next fault goes to record 0.
    f.write(FRCD_REG + 12, 4, 1 << 31);
    f.write(FRCD_REG + 16 + 8, 8, 1 << 63);
    linux_gcmd(&mut f, Gcmd::new().with_te(true), false);
    linux_gcmd(&mut f, Gcmd::new().with_te(true), true);
    assert!(f.record_fault(rec));
    assert!(f.fault_record(0).unwrap().f());
    assert!(!f.fault_record(2).unwrap().f());
    assert_eq!(f.fsts().fri(), 0);
}
