//! The commands software writes to CMD, and the CMDSTS codes they end with.

use super::device::{Dsa, Regs};
use super::exec::Effects;
use super::regs::{CmdErr, CmdReg, CmdSts, Command, DeviceState, INTC_CMD};
use super::wq::Pending;

/// What to do with the queued descriptors a command touches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    Drain,
    Abort,
}

impl Flush {
    /// What command `cmd` does to the queued descriptors it names.
    fn of(cmd: Command) -> Self {
        match cmd {
            Command::AbortAll | Command::AbortWq | Command::ResetWq | Command::AbortPasid => {
                Self::Abort
            }
            _ => Self::Drain,
        }
    }
}

impl Dsa {
    /// Runs command `c` and sets CMDSTS; returns the work and interrupts it leaves.
    pub(crate) fn command(&self, r: &mut Regs, c: CmdReg) -> Effects {
        let mut fx = Effects::default();
        let err = match Command::from_u8(c.cmd()) {
            None => CmdErr::InvalidCmd,
            Some(cmd) => self.do_command(r, cmd, c.operand(), &mut fx),
        };
        r.cmdsts = CmdSts::new().with_err(err as u8).into_bits();
        if c.int_req() {
            r.intcause |= INTC_CMD;
            fx.irqs.push(0);
        }
        fx
    }

    fn do_command(&self, r: &mut Regs, cmd: Command, op: u32, fx: &mut Effects) -> CmdErr {
        use Command::*;
        let all = || -> Vec<usize> { (0..usize::from(self.cfg.num_wqs)).collect() };
        match cmd {
            EnableDevice => self.enable_device(r),
            DisableDevice => {
                if r.state != DeviceState::Enabled {
                    return CmdErr::DisDevNotEnabled;
                }
                flush(r, &all(), Flush::Drain, None, fx);
                r.wqs.iter_mut().for_each(|q| q.enabled = false);
                r.state = DeviceState::Disabled;
                CmdErr::Success
            }
            DrainAll | AbortAll => {
                flush(r, &all(), Flush::of(cmd), None, fx);
                CmdErr::Success
            }
            ResetDevice => {
                self.reset_all(r);
                CmdErr::Success
            }
            EnableWq => self.enable_wq(r, op as usize),
            DisableWq | DrainWq | AbortWq | ResetWq => {
                let block = ((op >> 16) & 0xf) as usize;
                let wqs: Vec<usize> = (0..16)
                    .filter(|b| op & (1 << b) != 0)
                    .map(|b| block * 16 + b)
                    .collect();
                if wqs.iter().any(|&w| w >= r.wqs.len()) || wqs.is_empty() {
                    return CmdErr::InvalidWqIdx;
                }
                if r.state != DeviceState::Enabled && cmd != ResetWq {
                    return CmdErr::WqNotEnabled;
                }
                if cmd == DisableWq && wqs.iter().any(|&w| !r.wqs[w].enabled) {
                    return CmdErr::WqNotEnabled;
                }
                flush(r, &wqs, Flush::of(cmd), None, fx);
                for &w in &wqs {
                    match cmd {
                        DisableWq => r.wqs[w].enabled = false,
                        ResetWq => r.wqs[w] = super::wq::WorkQueue::reset(super::device::opcap()),
                        _ => {}
                    }
                }
                CmdErr::Success
            }
            DrainPasid | AbortPasid => {
                flush(r, &all(), Flush::of(cmd), Some(op), fx);
                CmdErr::Success
            }
        }
    }

    fn enable_device(&self, r: &mut Regs) -> CmdErr {
        if r.state == DeviceState::Enabled {
            return CmdErr::DevEnabled;
        }
        if !self.bus_master() {
            return CmdErr::BusMasterEn;
        }
        let total: u32 = r.wqs.iter().map(|q| u32::from(q.size())).sum();
        if total > u32::from(self.cfg.total_wq_size) {
            return CmdErr::WqSizeErange;
        }
        for g in &r.grpcfg {
            if g[0] != 0 && g[4] == 0 {
                return CmdErr::GrpConfig;
            }
        }
        for (w, q) in r.wqs.iter().enumerate() {
            let groups = r.grpcfg.iter().filter(|g| g[0] & (1 << w) != 0).count();
            if groups > 1 {
                return CmdErr::GrpConfig3;
            }
            if groups == 0 && q.size() != 0 {
                return CmdErr::GrpConfig2;
            }
        }
        for e in 0..self.cfg.num_engines {
            if r.grpcfg.iter().filter(|g| g[4] & (1 << e) != 0).count() > 1 {
                return CmdErr::GrpConfig4;
            }
        }
        r.state = DeviceState::Enabled;
        CmdErr::Success
    }

    fn enable_wq(&self, r: &mut Regs, w: usize) -> CmdErr {
        if w >= r.wqs.len() {
            return CmdErr::InvalidWqIdx;
        }
        if r.state != DeviceState::Enabled {
            return CmdErr::DevNotEnabled;
        }
        let in_group = r.grpcfg.iter().any(|g| g[0] & (1 << w) != 0 && g[4] != 0);
        let q = &r.wqs[w];
        let m = q.mode();
        let l = q.limits();
        let others: u32 = r
            .wqs
            .iter()
            .enumerate()
            .filter(|(i, o)| *i != w && o.enabled)
            .map(|(_, o)| u32::from(o.size()))
            .sum();
        let err = if q.enabled {
            CmdErr::WqEnabled
        } else if q.size() == 0 || others + u32::from(q.size()) > u32::from(self.cfg.total_wq_size)
        {
            CmdErr::WqSize
        } else if !in_group {
            CmdErr::GrpConfig
        } else if (!m.dedicated() || m.pasid_en()) && !self.pasid_enabled() {
            CmdErr::PasidEn
        } else if l.max_batch_shift() > self.cfg.max_batch_shift {
            CmdErr::MaxBatchSize
        } else if l.max_xfer_shift() > self.cfg.max_xfer_shift {
            CmdErr::MaxXferSize
        } else {
            CmdErr::Success
        };
        if err == CmdErr::Success {
            r.wqs[w].enabled = true;
        }
        err
    }
}

/// Takes the queued descriptors of `wqs` (of PASID `pasid` only, when given); drained ones
/// become work to run, aborted ones are dropped without a completion record.
fn flush(r: &mut Regs, wqs: &[usize], how: Flush, pasid: Option<u32>, fx: &mut Effects) {
    for &w in wqs {
        let Some(q) = r.wqs.get_mut(w) else { continue };
        let (take, keep): (Vec<Pending>, Vec<Pending>) = q
            .queue
            .drain(..)
            .partition(|p| pasid.is_none() || p.ctx.pasid == pasid);
        q.queue.extend(keep);
        if how == Flush::Drain {
            fx.jobs.extend(take);
        }
    }
}
