//! The unit shared between threads: devices translating while software invalidates.

use super::*;
use crate::cmd::{TlbiNhAsid, TlbiNsnhAll};

#[test]
fn the_unit_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SmmuUnit<Mem>>();
    check::<SmmuUnit<Arc<dyn AddressSpace>>>();
}

#[test]
fn translations_and_faults_run_while_commands_invalidate() {
    let (rig, _s1) = Rig::mapped();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let rig = &rig;
            s.spawn(move || {
                for i in 0..200u64 {
                    assert_eq!(rig.read(SID, 0x4000_0000 + i * 8), Ok(0x10_0000 + i * 8));
                    // A fault now and then, recorded under the lock.
                    if i % 50 == t {
                        rig.read(SID, 0x5000_0000).unwrap_err();
                    }
                }
            });
        }
        for _ in 0..50 {
            rig.submit(&[
                Command::TlbiNsnhAll(TlbiNsnhAll::new()),
                Command::TlbiNhAsid(TlbiNhAsid::new()),
                Command::CmdSync(CmdSync::new()),
            ]);
        }
    });
    assert!(rig.cmdq_drained());
    assert_eq!(rig.unit.stats().syncs, 50);
}
