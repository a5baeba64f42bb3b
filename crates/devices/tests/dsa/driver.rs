//! Bring-up and every operation as a driver uses them.

use softiommu_devices::dsa::regs::{self, Command, DeviceState, GenSts, WqCfgState};
use softiommu_devices::dsa::{
    DEVICE_ID, DescFlags, Descriptor, DsaConfig, ExecMode, Opcode, Status, Submit, crc32c,
};
use softiommu_mem::AddressSpace;

use crate::harness::{RAM, Rig, WqSetup};

const SRC: u64 = 0x1_0000;
const DST: u64 = 0x4_0000;
const CR: u64 = 0x8_0000;

fn ok(rig: &Rig, cr: u64) {
    let r = rig.cr(cr);
    assert_eq!(r.status, Status::Success as u8, "record {r:?}");
}

#[test]
fn driver_bring_up_and_move() {
    let rig = Rig::new();
    assert_eq!(DEVICE_ID, 0x0b25);
    assert_eq!(rig.dsa.read32(regs::VERSION), 0x100);
    let gcap = regs::GenCap::from_bits(rig.dsa.read64(regs::GENCAP));
    assert!(gcap.cmd_cap() && gcap.block_on_fault());
    assert_eq!(gcap.max_xfer_shift(), 31);
    let wqcap = regs::WqCap::from_bits(rig.dsa.read64(regs::WQCAP));
    assert_eq!((wqcap.num_wqs(), wqcap.total_wq_size()), (8, 128));
    assert_eq!(rig.dsa.read64(regs::ENGCAP), 4);
    let opcap = rig.dsa.read64(regs::OPCAP);
    assert_eq!(opcap & 0x0b, 0x0b, "no-op, batch and memmove in OPCAP");
    assert_eq!(rig.dsa.read32(regs::CMDCAP) & (1 << 13), 0);

    rig.bring_up(&[WqSetup::dedicated(), WqSetup::shared()]);
    let sts = GenSts::from_bits(rig.dsa.read32(regs::GENSTS));
    assert_eq!(sts.state(), DeviceState::Enabled as u8);
    let st = WqCfgState::from_bits(rig.dsa.read32(rig.wqcfg(0, 6)));
    assert_eq!(st.wq_state(), 1);

    let data = rig.pattern(SRC, 10_000, 7);
    let mut d = Descriptor::memmove(SRC, DST, 10_000).with_completion(CR);
    d.set_flags(d.flags().with_rci(true));
    d.int_handle = 3;
    assert_eq!(rig.movdir(0, &d), Submit::Accepted);
    let r = rig.cr(CR);
    assert_eq!(r.status, Status::Success as u8);
    assert_eq!(rig.bytes(DST, 10_000), data);
    assert_eq!(*rig.irqs.lock(), vec![3]);

    // The shared WQ takes ENQCMD, not MOVDIR64B.
    let d2 = Descriptor::memmove(SRC, DST + 0x8000, 64).with_completion(CR + 32);
    assert_eq!(rig.movdir(1, &d2), Submit::Dropped);
    assert_eq!(rig.enqcmd(1, &d2, 5), Submit::Accepted);
    ok(&rig, CR + 32);
    assert_eq!(
        rig.enqcmd(0, &d2, 5),
        Submit::Retry,
        "ENQCMD to a dedicated WQ"
    );
}

#[test]
fn every_operation() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::dedicated()]);
    let run = |d: Descriptor, cr: u64| {
        assert_eq!(rig.movdir(0, &d.with_completion(cr)), Submit::Accepted);
        rig.cr(cr)
    };
    // Fill.
    let r = run(Descriptor::memfill(0x0807_0605_0403_0201, DST + 3, 13), CR);
    assert_eq!(r.status, 1);
    assert_eq!(
        rig.bytes(DST + 3, 13),
        [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5]
    );
    // Compare: equal, then different at byte 100.
    rig.pattern(SRC, 256, 1);
    rig.pattern(DST, 256, 1);
    let r = run(Descriptor::compare(SRC, DST, 256), CR + 0x20);
    assert_eq!((r.status, r.result), (1, 0));
    rig.mem.write(DST + 100, &[0xee]).unwrap();
    let r = run(Descriptor::compare(SRC, DST, 256), CR + 0x40);
    assert_eq!((r.status, r.result, r.bytes_completed), (1, 1, 100));
    // Compare with check result expecting equality: success with false predicate.
    let mut d = Descriptor::compare(SRC, DST, 256);
    d.set_flags(DescFlags::new().with_check_result(true));
    let r = run(d, CR + 0x60);
    assert_eq!(r.status, Status::SuccessPred as u8);
    // Compare pattern.
    rig.mem.fill(SRC, 64, 0xab).unwrap();
    let r = run(
        Descriptor::compare_pattern(SRC, 0xabab_abab_abab_abab, 64),
        CR + 0x80,
    );
    assert_eq!((r.status, r.result), (1, 0));
    let r = run(
        Descriptor::compare_pattern(SRC, 0xabab_abab_abab_ab00, 64),
        CR + 0xa0,
    );
    assert_eq!((r.result, r.bytes_completed), (1, 0));
    // Dualcast: destinations share bits 11:0.
    let data = rig.pattern(SRC, 300, 9);
    let r = run(
        Descriptor::dualcast(SRC, DST + 0x10, DST + 0x2010, 300),
        CR + 0xc0,
    );
    assert_eq!(r.status, 1);
    assert_eq!(rig.bytes(DST + 0x10, 300), data);
    assert_eq!(rig.bytes(DST + 0x2010, 300), data);
    // CRC-32C, the standard check value from seed 0, and chained.
    rig.mem.write(SRC, b"123456789").unwrap();
    let r = run(Descriptor::crc_gen(SRC, 9, 0), CR + 0xe0);
    assert_eq!((r.status, r.crc_value()), (1, 0xe306_9283));
    let r = run(
        Descriptor::crc_gen(SRC + 4, 5, crc32c(0, b"1234")),
        CR + 0x100,
    );
    assert_eq!(r.crc_value(), 0xe306_9283);
    // The seed read from memory.
    rig.mem
        .write(DST, &crc32c(0, b"1234").to_le_bytes())
        .unwrap();
    let mut d = Descriptor::crc_gen(SRC + 4, 5, 0);
    d.set_flags(DescFlags::new().with_op_specific(1));
    d.op_specific[8..16].copy_from_slice(&DST.to_le_bytes());
    assert_eq!(run(d, CR + 0x120).crc_value(), 0xe306_9283);
    // Cache flush, no-op, drain.
    assert_eq!(
        run(Descriptor::cache_flush(DST, 4096), CR + 0x140).status,
        1
    );
    assert_eq!(run(Descriptor::new(Opcode::Noop), CR + 0x160).status, 1);
    assert_eq!(run(Descriptor::new(Opcode::Drain), CR + 0x180).status, 1);
}

#[test]
fn success_writes_no_record_without_rcr_and_error_does() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::dedicated()]);
    rig.mem.fill(CR, 64, 0x5a).unwrap();
    let mut d = Descriptor::memmove(SRC, DST, 8);
    d.completion_addr = CR;
    d.set_flags(DescFlags::new().with_crav(true));
    rig.movdir(0, &d);
    assert_eq!(rig.bytes(CR, 1), [0x5a]);
    d.header.set_opcode(0x3f);
    rig.movdir(0, &d);
    assert_eq!(rig.cr(CR).status, Status::BadOpcode as u8);
}

#[test]
fn page_fault_stops_exactly_at_the_fault() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::dedicated()]);
    // The destination runs 100 bytes past the end of RAM.
    let data = rig.pattern(SRC, 5000, 3);
    let dst = RAM - 4900;
    let r = {
        rig.movdir(0, &Descriptor::memmove(SRC, dst, 5000).with_completion(CR));
        rig.cr(CR)
    };
    assert_eq!(r.status, Status::PageFaultNoBof as u8);
    assert_eq!(
        (r.bytes_completed, r.fault_addr, r.fault_info & 1),
        (4900, RAM, 1)
    );
    assert_eq!(rig.bytes(dst, 4900), data[..4900]);
    // A read fault in the middle of a page of the source.
    let src = RAM - 10;
    rig.movdir(
        0,
        &Descriptor::memmove(src, DST, 64).with_completion(CR + 32),
    );
    let r = rig.cr(CR + 32);
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr, r.fault_info),
        (3, 10, RAM, 0)
    );
    // Block on fault with nobody answering page requests: an Invalid response.
    let mut d = Descriptor::memmove(src, DST, 64).with_completion(CR + 64);
    d.set_flags(d.flags().with_block_on_fault(true));
    let rig2 = Rig::new();
    rig2.bring_up(&[WqSetup {
        bof: true,
        ..WqSetup::dedicated()
    }]);
    rig2.movdir(0, &d);
    assert_eq!(rig2.cr(CR + 64).status, Status::PageFaultIr as u8);
}

#[test]
fn batch_with_fence() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::dedicated()]);
    let list = 0x2_0000u64;
    let data = rig.pattern(SRC, 128, 5);
    let good = Descriptor::memmove(SRC, DST, 128).with_completion(CR + 0x40);
    let mut bad = Descriptor::memmove(SRC, DST, 128).with_completion(CR + 0x60);
    bad.header.set_opcode(0x30);
    let mut fenced = Descriptor::memfill(1, DST + 0x1000, 8).with_completion(CR + 0x80);
    fenced.set_flags(fenced.flags().with_fence(true));
    for (i, d) in [good, bad, fenced].iter().enumerate() {
        rig.mem.write(list + 64 * i as u64, &d.to_bytes()).unwrap();
    }
    rig.movdir(0, &Descriptor::batch(list, 3).with_completion(CR));
    let r = rig.cr(CR);
    assert_eq!((r.status, r.bytes_completed), (Status::BatchFail as u8, 2));
    assert_eq!(rig.bytes(DST, 128), data);
    assert_eq!(rig.cr(CR + 0x60).status, Status::BadOpcode as u8);
    assert_eq!(
        rig.cr(CR + 0x80).status,
        0,
        "the fenced descriptor never ran"
    );
    // Without the failure the whole batch succeeds.
    rig.mem.write(list + 64, &good.to_bytes()).unwrap();
    rig.movdir(0, &Descriptor::batch(list, 3).with_completion(CR));
    assert_eq!((rig.cr(CR).status, rig.cr(CR).bytes_completed), (1, 3));
    // A list past the end of RAM.
    rig.movdir(0, &Descriptor::batch(RAM - 64, 2).with_completion(CR));
    let r = rig.cr(CR);
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::BatchPageFault as u8, RAM)
    );
}

#[test]
fn queued_mode_full_shared_wq_retries_and_drain_runs() {
    let rig = Rig::with(DsaConfig {
        mode: ExecMode::Queued,
        ..DsaConfig::default()
    });
    rig.bring_up(&[WqSetup {
        size: 4,
        threshold: 2,
        ..WqSetup::shared()
    }]);
    let d = Descriptor::memfill(0x1111_1111_1111_1111, DST, 64).with_completion(CR);
    let limited = |rig: &Rig| {
        let enq = softiommu_devices::dsa::Enqcmd {
            pasid: 1,
            privileged: false,
        };
        rig.dsa.submit(0, 0x1000, &d.to_bytes(), Some(enq))
    };
    assert_eq!(limited(&rig), Submit::Accepted);
    assert_eq!(limited(&rig), Submit::Accepted);
    assert_eq!(
        limited(&rig),
        Submit::Retry,
        "limited portal over its threshold"
    );
    assert_eq!(rig.enqcmd(0, &d, 1), Submit::Accepted);
    assert_eq!(rig.enqcmd(0, &d, 2), Submit::Accepted);
    assert_eq!(rig.enqcmd(0, &d, 2), Submit::Retry, "WQ full");
    let st = WqCfgState::from_bits(rig.dsa.read32(rig.wqcfg(0, 6)));
    assert_eq!(st.occupancy(), 4);
    assert_eq!(rig.cr(CR).status, 0);
    // Abort PASID 2's descriptors, drain the rest.
    assert_eq!(rig.cmd(Command::AbortPasid, 2), 0);
    assert_eq!(rig.cmd(Command::DrainWq, 1), 0);
    assert_eq!(rig.cr(CR).status, 1);
    assert_eq!(rig.dsa.run_pending(), 0);
    assert_eq!(rig.enqcmd(0, &d, 2), Submit::Accepted);
    assert_eq!(rig.dsa.run_pending(), 1);
}

#[test]
fn command_interrupt_and_swerr_interrupt() {
    let rig = Rig::new();
    rig.bring_up(&[WqSetup::dedicated()]);
    rig.dsa
        .write32(regs::CMD, (Command::DrainAll as u32) << 20 | 1 << 31);
    assert_eq!(
        rig.dsa.read32(regs::INTCAUSE) & regs::INTC_CMD,
        regs::INTC_CMD
    );
    rig.dsa.write32(regs::INTCAUSE, regs::INTC_CMD);
    assert_eq!(rig.dsa.read32(regs::INTCAUSE), 0);
    assert_eq!(*rig.irqs.lock(), vec![0]);
}

/// Length of the `i`th move of a submitter.
fn move_len(i: u64) -> u64 {
    1 + (i * 331) % 0x4000
}

#[test]
fn threaded_engines_move_from_many_submitters() {
    let rig = Rig::with(DsaConfig {
        mode: ExecMode::Threaded,
        ..DsaConfig::default()
    });
    let engines = rig.dsa.start_engines();
    rig.bring_up(&[WqSetup::dedicated(); 4]);
    let srcs: Vec<Vec<u8>> = (0..4)
        .map(|t| rig.pattern(SRC + t * 0x4000, 0x4000, t as u8))
        .collect();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let rig = &rig;
            s.spawn(move || {
                for i in 0..50u64 {
                    let len = move_len(i);
                    let dst = DST + t * 0x1_0000 + (i % 2) * 0x8000;
                    let cr = CR + (t * 64 + i) * 32;
                    let d =
                        Descriptor::memmove(SRC + t * 0x4000, dst, len as u32).with_completion(cr);
                    while rig.movdir(t as u32, &d) != Submit::Accepted {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    // A drain of everything returns once every descriptor has completed.
    assert_eq!(rig.cmd(Command::DrainAll, 0), 0);
    rig.dsa.run_pending();
    for t in 0..4u64 {
        for i in 0..50u64 {
            assert_eq!(
                rig.cr(CR + (t * 64 + i) * 32).status,
                1,
                "wq {t} descriptor {i}"
            );
        }
        let len = move_len(49);
        let got = rig.bytes(DST + t * 0x1_0000 + 0x8000, len as usize);
        assert_eq!(got, srcs[t as usize][..len as usize]);
    }
    drop(engines);
    // Without engine threads, work waits in the WQ.
    let d = Descriptor::new(Opcode::Noop).with_completion(CR);
    rig.mem.write(CR, &[0; 32]).unwrap();
    assert_eq!(rig.movdir(0, &d), Submit::Accepted);
    assert_eq!(rig.cr(CR).status, 0);
    let _engines = rig.dsa.start_engines();
    rig.dsa.run_pending();
    assert_eq!(rig.cr(CR).status, 1);
}
