//! Writes with side effects: GCMD, the register-based invalidation registers and IQT.

use super::super::{Action, Ccmd, Gcmd, IotlbReg, Iqei, Iqh, Iqt, Ttm};
use super::RegisterFile;

impl RegisterFile {
    /// GCMD: the value written is the new state of the level bits, and a 1 in a one-shot
    /// bit is a command. One-shots are carried out first, then the level changes, TE last.
    pub(super) fn write_gcmd(&mut self, cmd: Gcmd, out: &mut Vec<Action>) {
        let mut sts = self.gsts;
        if cmd.srtp() {
            self.root_table = self.rtaddr;
            sts.set_srtp(false);
            out.push(Action::SetRootTable {
                rtaddr: self.root_table,
            });
        }
        if cmd.sirtp() && self.ir() {
            self.ir_table = self.irta;
            sts.set_sirtp(false);
            out.push(Action::SetIrTable {
                irta: self.ir_table,
            });
        }
        // WBF is ignored: CAP.RWBF=0.
        if self.qi() && cmd.qie() != sts.qie() {
            sts.set_qie(cmd.qie());
            if !cmd.qie() {
                self.iqh = Iqh::new();
            }
            out.push(Action::EnableQueue(cmd.qie()));
        }
        if self.ir() && cmd.ire() != sts.ire() {
            sts.set_ire(cmd.ire());
            out.push(Action::EnableInterruptRemapping(cmd.ire()));
        }
        if self.ir() {
            sts.set_cfi(cmd.cfi());
        }
        if cmd.te() != sts.te() {
            sts.set_te(cmd.te());
            out.push(Action::EnableTranslation(cmd.te()));
        }
        if !sts.te() && !sts.ire() {
            self.fault_idx = 0;
        }
        self.gsts = sts;
    }

    /// Whether the register-based invalidation interface is in use: legacy mode with the
    /// queue disabled.
    pub(super) fn register_invalidation(&self) -> bool {
        self.root_table.ttm() == Ttm::Legacy && !self.gsts.qie()
    }

    pub(super) fn write_ccmd(&mut self, w: Ccmd, high: bool, out: &mut Vec<Action>) {
        let mut c = Ccmd::new()
            .with_did(w.did())
            .with_sid(w.sid())
            .with_fm(w.fm())
            .with_cirg(w.cirg())
            .with_caig(self.ccmd.caig());
        if high && w.icc() {
            if self.register_invalidation() && w.cirg() != 0 {
                c.set_caig(w.cirg());
                out.push(Action::ContextCacheInvalidate(c));
            } else {
                c.set_caig(0);
            }
        }
        self.ccmd = c;
    }

    pub(super) fn write_iotlb(&mut self, w: IotlbReg, high: bool, out: &mut Vec<Action>) {
        let mut r = IotlbReg::new()
            .with_did(w.did())
            .with_dw(w.dw())
            .with_dr(w.dr())
            .with_iirg(w.iirg())
            .with_iaig(self.iotlb.iaig());
        if high && w.ivt() {
            if self.register_invalidation() && w.iirg() != 0 {
                r.set_iaig(w.iirg());
                out.push(Action::IotlbInvalidate {
                    cmd: r.with_ivt(true),
                    iva: self.iva,
                });
            } else {
                r.set_iaig(0);
            }
        }
        self.iotlb = r;
    }

    /// Why `t` is not a valid tail for the queue IQA describes, if it is not.
    pub(super) fn tail_error(&self, t: Iqt) -> Option<Iqei> {
        let offset = u64::from(t.qt()) * 16;
        if self.iqa.dw() && !offset.is_multiple_of(32) {
            Some(Iqei::TailMisaligned)
        } else if offset >= self.iqa.size_bytes() {
            Some(Iqei::InvalidTail)
        } else {
            None
        }
    }

    /// IQT: the tail reads back as written; an invalid one raises a queue error instead of
    /// reaching the model.
    pub(super) fn write_iqt(&mut self, w: Iqt, low: bool, out: &mut Vec<Action>) {
        self.iqt = Iqt::new().with_qt(w.qt());
        if !low {
            return;
        }
        match self.tail_error(self.iqt) {
            Some(e) => self.set_queue_error(e),
            None => out.push(Action::TailWritten(u64::from(self.iqt.qt()) * 16)),
        }
    }
}
