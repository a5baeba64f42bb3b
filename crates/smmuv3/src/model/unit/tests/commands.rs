//! Each command reaching the caches or the device, and `CMD_SYNC` completion.

use super::*;
use crate::cmd::*;
use crate::pri::PriResponse;

#[test]
fn tlbi_nh_asid_with_sync_drops_a_stale_translation() {
    let (rig, mut s1) = Rig::mapped();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000));
    s1.unmap(0x4000_0000, 0x1000).unwrap();
    s1.map(0x4000_0000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    // Cached: the old translation stands until the driver invalidates.
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x10_0000));
    let c = TlbiNhAsid::new();
    rig.submit_sync(Command::TlbiNhAsid(TlbiNhAsid {
        dw0: c.dw0.with_asid(1),
        ..c
    }));
    assert!(rig.cmdq_drained());
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x20_0000));
}

#[test]
fn pri_resp_reaches_the_device() {
    let rig = Rig::new();
    let c = PriResp::new();
    let resp = Command::PriResp(PriResp {
        dw0: c.dw0.with_sid(SID).with_ssv(true).with_ssid(5),
        dw1: c.dw1.with_prgi(0x1a3).with_resp(PriResponse::Success),
    });
    rig.submit(&[resp]);
    assert_eq!(
        rig.take_msgs(),
        [DeviceMessage::PageResponse {
            sid: SID,
            pasid: Some(5),
            prgi: 0x1a3,
            response: PriResponse::Success,
        }]
    );
    assert_eq!(rig.unit.stats().commands.get(PriResp::OPCODE), 1);
}
