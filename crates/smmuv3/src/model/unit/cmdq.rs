//! The command queue: fetching commands from memory, checking them, and what each one does to
//! the caches and devices.

use softiommu_mem::AddressSpace;

use super::{AtcCompletion, AtcInvalidation, Inner, SmmuUnit, Stalled};
use crate::cmd::{CMD_BYTES, Cerror, Command, ResumeAction};
use crate::model::{InvalidationScope, TlbiRange};

/// The range fields of a TLB invalidation by address.
fn tlbi_range(dw0: crate::cmd::TlbiDw0, dw1: crate::cmd::TlbiDw1) -> TlbiRange {
    TlbiRange {
        addr: dw1.address(),
        num: dw0.num(),
        scale: dw0.scale(),
        tg: dw1.tg(),
        ttl: dw1.ttl(),
    }
}

impl<M: AddressSpace> SmmuUnit<M> {
    /// Consumes commands while the register file says the queue is ready: CONS moves past
    /// each one carried out; one that cannot be fetched, is illegal or fails stops the queue
    /// with CONS on it and its CERROR recorded.
    pub(super) fn process_commands(&self, inner: &mut Inner) {
        while inner.regs.cmdq_ready() {
            let at = inner.regs.cmdq().cons_address();
            let mut bytes = [0u8; CMD_BYTES as usize];
            let result = match self.engine.memory().read(at, &mut bytes) {
                Err(_) => Err(Cerror::Abt),
                Ok(()) => {
                    let mut lo = [0u8; 8];
                    let mut hi = [0u8; 8];
                    lo.copy_from_slice(&bytes[..8]);
                    hi.copy_from_slice(&bytes[8..]);
                    let words = [u64::from_le_bytes(lo), u64::from_le_bytes(hi)];
                    Command::decode(words, &self.cmd_caps)
                        .map_err(|e| e.cerror())
                        .and_then(|cmd| self.execute(inner, cmd))
                }
            };
            match result {
                Ok(()) => inner.regs.command_consumed(),
                Err(err) => {
                    if let Some(i) = inner.regs.command_error(err) {
                        self.signal(inner, i);
                    }
                    return;
                }
            }
        }
    }

    /// Carries out one legal command, and counts it.
    fn execute(&self, inner: &mut Inner, cmd: Command) -> Result<(), Cerror> {
        tracing::debug!(target: "smmuv3", command = ?cmd, "command queue");
        let caches = self.engine.caches();
        let scope = match cmd {
            Command::CfgiSte(c) => Some(InvalidationScope::Ste {
                sid: c.dw0.sid(),
                leaf: c.dw1.leaf(),
            }),
            Command::CfgiSteRange(c) if c.is_all() => Some(InvalidationScope::All),
            Command::CfgiSteRange(c) => Some(InvalidationScope::SteRange {
                sid: c.dw0.sid(),
                range: c.dw1.range(),
            }),
            Command::CfgiCd(c) => Some(InvalidationScope::Cd {
                sid: c.dw0.sid(),
                ssid: c.dw0.ssid(),
                leaf: c.dw1.leaf(),
            }),
            Command::CfgiCdAll(c) => Some(InvalidationScope::CdAll { sid: c.dw0.sid() }),
            Command::TlbiNhAll(c) => Some(InvalidationScope::NhAll { vmid: c.dw0.vmid() }),
            Command::TlbiNhAsid(c) => Some(InvalidationScope::NhAsid {
                vmid: c.dw0.vmid(),
                asid: c.dw0.asid(),
            }),
            Command::TlbiNhVa(c) => Some(InvalidationScope::NhVa {
                vmid: c.dw0.vmid(),
                asid: c.dw0.asid(),
                range: tlbi_range(c.dw0, c.dw1),
                leaf: c.dw1.leaf(),
            }),
            Command::TlbiNhVaa(c) => Some(InvalidationScope::NhVaa {
                vmid: c.dw0.vmid(),
                range: tlbi_range(c.dw0, c.dw1),
                leaf: c.dw1.leaf(),
            }),
            Command::TlbiS12Vmall(c) => Some(InvalidationScope::S12Vmall { vmid: c.dw0.vmid() }),
            Command::TlbiS2Ipa(c) => Some(InvalidationScope::S2Ipa {
                vmid: c.dw0.vmid(),
                range: tlbi_range(c.dw0, c.dw1),
                leaf: c.dw1.leaf(),
            }),
            Command::TlbiNsnhAll(_) => Some(InvalidationScope::NsnhAll),
            _ => None,
        };
        if let Some(scope) = scope {
            caches.invalidate(scope);
        }
        match cmd {
            Command::AtcInv(c) => {
                let sid = c.dw0.sid();
                let inv = AtcInvalidation {
                    pasid: c.pasid(),
                    global: c.dw0.global(),
                    addr: c.start(),
                    span_log2: c.span_log2(),
                };
                if let Some(dev) = self.device(sid)
                    && dev.invalidate_atc(sid, inv) == AtcCompletion::Failed
                {
                    inner.atc_failed = true;
                }
            }
            Command::PriResp(c) => {
                let sid = c.dw0.sid();
                if let Some(dev) = self.device(sid) {
                    dev.page_response(sid, c.pasid(), c.dw1.prgi(), c.response());
                }
            }
            Command::Resume(c) => {
                let s = Stalled {
                    sid: c.dw0.sid(),
                    stag: c.dw1.stag(),
                };
                // A RESUME that names no stalled request is ignored.
                if let Some(i) = inner.stalled.iter().position(|x| *x == s) {
                    inner.stalled.remove(i);
                    if let Some(dev) = self.device(s.sid) {
                        dev.resume(s.sid, s.stag, c.action());
                    }
                }
            }
            Command::StallTerm(c) => {
                let sid = c.dw0.sid();
                let (gone, kept) = inner.stalled.iter().partition(|s| s.sid == sid);
                inner.stalled = kept;
                let gone: Vec<Stalled> = gone;
                if let Some(dev) = self.device(sid) {
                    for s in gone {
                        dev.resume(sid, s.stag, ResumeAction::Terminate { abort: true });
                    }
                }
            }
            Command::CmdSync(c) => {
                if std::mem::take(&mut inner.atc_failed) {
                    return Err(Cerror::AtcInvSync);
                }
                if let Some(i) = inner.regs.sync_interrupt(&c) {
                    self.signal(inner, i);
                }
            }
            _ => {}
        }
        inner.tally.count(&cmd);
        Ok(())
    }
}
