//! Decoding of MMIO accesses: which register an offset names, its size, and what a read
//! returns and a write changes.

use super::super::event::{Event, EventRegs, InterruptSink};
use super::super::layout::{EventAddr, EventCtl, EventData};
use super::super::{
    CAP_REG, CCMD_REG, Ccmd, ECAP_REG, FECTL_REG, FEUADDR_REG, FRCD_REG, FRCD_SIZE, FSTS_REG, Frcd,
    Fsts, GCMD_REG, GSTS_REG, Gcmd, ICS_REG, IECTL_REG, IEUADDR_REG, IOTLB_REG, IQA_REG,
    IQERCD_REG, IQH_REG, IQT_REG, IRTA_REG, IVA_REG, Ics, IotlbReg, Iqa, Iqt, Irta, Iva, PECTL_REG,
    PEUADDR_REG, PQA_REG, PQH_REG, PQT_REG, PRS_REG, Pqa, Pqh, Pqt, Prs, RTADDR_REG, RtAddr,
    VCCAP_REG, VCMD_EO_REG, VCMD_REG, VCRSP_REG, VER_REG, VERSION, Vcmd, Vcrsp,
};
use super::{Action, HIGH, LOW, RegisterFile};

impl RegisterFile {
    /// Reads `size` (4 or 8) bytes at `offset`.
    pub fn read(&self, offset: u64, size: u32) -> u64 {
        match size {
            4 if offset.is_multiple_of(4) => u64::from(self.read_dword(offset)),
            8 if offset.is_multiple_of(8) => match self.read_qword_reg(offset) {
                Some(v) => v,
                None => {
                    u64::from(self.read_dword(offset))
                        | u64::from(self.read_dword(offset + 4)) << 32
                }
            },
            _ => 0,
        }
    }

    /// Writes the low `size` (4 or 8) bytes of `value` at `offset`, and returns what the
    /// model is to do about it.
    pub fn write(&mut self, offset: u64, size: u32, value: u64) -> Vec<Action> {
        let mut out = Vec::new();
        self.write_into(offset, size, value, &mut out);
        out
    }

    /// [`write`](Self::write), appending the actions to `out` (a buffer the caller keeps).
    pub fn write_into(&mut self, offset: u64, size: u32, value: u64, out: &mut Vec<Action>) {
        match size {
            4 if offset.is_multiple_of(4) => {
                let base = offset & !7;
                if self.read_qword_reg(base).is_some() {
                    let (value, lanes) = if offset & 4 == 0 {
                        (value & LOW, LOW)
                    } else {
                        (value << 32, HIGH)
                    };
                    self.write_qword(base, value, lanes, out);
                } else {
                    self.write_dword(offset, value as u32, out);
                }
            }
            8 if offset.is_multiple_of(8) => {
                if self.read_qword_reg(offset).is_some() {
                    self.write_qword(offset, value, u64::MAX, out);
                } else {
                    self.write_dword(offset, value as u32, out);
                    self.write_dword(offset + 4, (value >> 32) as u32, out);
                }
            }
            _ => {}
        }
    }

    /// Which fault record a QWORD offset falls in, and whether it is the upper QWORD.
    fn frcd_at(&self, base: u64) -> Option<(usize, bool)> {
        let rel = base.checked_sub(FRCD_REG)?;
        let idx = usize::try_from(rel / FRCD_SIZE).ok()?;
        (idx < self.frcd.len()).then_some((idx, rel % FRCD_SIZE != 0))
    }

    /// The value of the 64-bit register at `base`; `None` if no 64-bit register of this
    /// instance is there.
    fn read_qword_reg(&self, base: u64) -> Option<u64> {
        let v = match base {
            CAP_REG => self.cap.into_bits(),
            ECAP_REG => self.ecap.into_bits(),
            RTADDR_REG => self.rtaddr.into_bits(),
            CCMD_REG => self.ccmd.into_bits(),
            IQH_REG if self.qi() => self.iqh.into_bits(),
            IQT_REG if self.qi() => self.iqt.into_bits(),
            IQA_REG if self.qi() => self.iqa.into_bits(),
            IQERCD_REG if self.qi() => self.iqercd.into_bits(),
            IRTA_REG if self.ir() => self.irta.into_bits(),
            PQH_REG if self.prs_on() => self.pqh.into_bits(),
            PQT_REG if self.prs_on() => self.pqt.into_bits(),
            PQA_REG if self.prs_on() => self.pqa.into_bits(),
            // Write-only.
            IVA_REG => 0,
            IOTLB_REG => self.iotlb.into_bits(),
            VCMD_REG if self.vcs() => self.vcmd.into_bits(),
            VCMD_EO_REG if self.vcs() => self.vcmd_eo,
            VCRSP_REG if self.vcs() => self.vcrsp.into_bits(),
            VCCAP_REG if self.vcs() => self.vccap.into_bits(),
            _ => {
                let (idx, upper) = self.frcd_at(base)?;
                let r = self.frcd[idx];
                if upper { r.high() } else { r.low() }
            }
        };
        Some(v)
    }

    fn read_dword(&self, offset: u64) -> u32 {
        match self.read_qword_reg(offset & !7) {
            Some(v) if offset & 4 == 0 => v as u32,
            Some(v) => (v >> 32) as u32,
            None => self.read_dword_reg(offset),
        }
    }

    /// The value of the 32-bit register at `offset` (0 if there is none).
    fn read_dword_reg(&self, offset: u64) -> u32 {
        let ev = |e: &EventRegs, off: u64| -> u32 {
            match off {
                0 => e.ctl.into_bits(),
                4 => e.data.into_bits(),
                8 => e.addr.into_bits(),
                _ => e.uaddr,
            }
        };
        match offset {
            VER_REG => VERSION.into_bits(),
            GSTS_REG => self.gsts.into_bits(),
            FSTS_REG => self.fsts().into_bits(),
            FECTL_REG..=FEUADDR_REG => ev(&self.fault, offset - FECTL_REG),
            ICS_REG if self.qi() => self.ics.into_bits(),
            IECTL_REG..=IEUADDR_REG if self.qi() => ev(&self.inv, offset - IECTL_REG),
            PRS_REG if self.prs_on() => self.prs.into_bits(),
            PECTL_REG..=PEUADDR_REG if self.prs_on() => ev(&self.pr, offset - PECTL_REG),
            // GCMD is write-only; everything else is reserved.
            _ => 0,
        }
    }

    /// A write of the 32-bit register at `offset`.
    fn write_dword(&mut self, offset: u64, v: u32, out: &mut Vec<Action>) {
        match offset {
            GCMD_REG => self.write_gcmd(Gcmd::from_bits(v), out),
            FSTS_REG => {
                let clear = v & Fsts::RW1CS.into_bits() & self.fsts.into_bits();
                if clear != 0 {
                    self.fsts = Fsts::from_bits(self.fsts.into_bits() & !clear);
                    out.push(Action::FaultStatusCleared(Fsts::from_bits(clear)));
                    if !self.fault_pending() {
                        self.fault.status_cleared();
                    }
                }
            }
            FECTL_REG..=FEUADDR_REG => {
                let eim = self.ecap.eim();
                let sink = &*self.sink;
                write_event_reg(
                    &mut self.fault,
                    offset - FECTL_REG,
                    v,
                    eim,
                    Event::Fault,
                    sink,
                );
            }
            ICS_REG if self.qi() && Ics::from_bits(v).iwc() && self.ics.iwc() => {
                self.ics.set_iwc(false);
                self.inv.status_cleared();
            }
            IECTL_REG..=IEUADDR_REG if self.qi() => {
                let eim = self.ecap.eim();
                let sink = &*self.sink;
                let which = Event::InvalidationCompletion;
                write_event_reg(&mut self.inv, offset - IECTL_REG, v, eim, which, sink);
            }
            PRS_REG if self.prs_on() => {
                let w = Prs::from_bits(v);
                if w.ppr() {
                    self.prs.set_ppr(false);
                }
                if w.pro() {
                    self.prs.set_pro(false);
                }
                if !self.prs.ppr() {
                    self.pr.status_cleared();
                }
            }
            PECTL_REG..=PEUADDR_REG if self.prs_on() => {
                let eim = self.ecap.eim();
                let sink = &*self.sink;
                let which = Event::PageRequest;
                write_event_reg(&mut self.pr, offset - PECTL_REG, v, eim, which, sink);
            }
            _ => {}
        }
    }

    /// A write of the 64-bit register at `base`: `lanes` are the bits written, `value` holds
    /// them in place.
    fn write_qword(&mut self, base: u64, value: u64, lanes: u64, out: &mut Vec<Action>) {
        let merge = |cur: u64| (cur & !lanes) | (value & lanes);
        let low = lanes & LOW != 0;
        let high = lanes & HIGH != 0;
        match base {
            RTADDR_REG => {
                let w = RtAddr::from_bits(merge(self.rtaddr.into_bits()));
                self.rtaddr = RtAddr::new()
                    .with_ssirwe(w.ssirwe() && self.ecap.ssirws())
                    .with_ttm(w.ttm())
                    .with_rta(w.rta() & self.page_mask);
            }
            CCMD_REG => {
                let w = Ccmd::from_bits(merge(self.ccmd.into_bits()));
                self.write_ccmd(w, high, out);
            }
            IQT_REG if self.qi() => {
                let w = Iqt::from_bits(merge(self.iqt.into_bits()));
                self.write_iqt(w, low, out);
            }
            // The queue's base, size and width cannot change under an enabled queue.
            IQA_REG if self.qi() && !self.gsts.qie() => {
                let w = Iqa::from_bits(merge(self.iqa.into_bits()));
                self.iqa = Iqa::new()
                    .with_qs(w.qs())
                    .with_dw(w.dw())
                    .with_iqa(w.iqa() & self.page_mask);
            }
            IRTA_REG if self.ir() => {
                let w = Irta::from_bits(merge(self.irta.into_bits()));
                self.irta = Irta::new()
                    .with_s(w.s())
                    .with_eime(w.eime() && self.ecap.eim())
                    .with_irta(w.irta() & self.page_mask);
            }
            PQH_REG if self.prs_on() => {
                let w = Pqh::from_bits(merge(self.pqh.into_bits()));
                self.pqh = Pqh::new().with_pqh(w.pqh());
                if low {
                    out.push(Action::PageRequestHeadWritten(
                        u64::from(self.pqh.pqh()) * 32,
                    ));
                }
            }
            PQT_REG if self.prs_on() => {
                let w = Pqt::from_bits(merge(self.pqt.into_bits()));
                self.pqt = Pqt::new().with_pqt(w.pqt());
            }
            PQA_REG if self.prs_on() => {
                let w = Pqa::from_bits(merge(self.pqa.into_bits()));
                self.pqa = Pqa::new()
                    .with_pqs(w.pqs())
                    .with_pqa(w.pqa() & self.page_mask);
            }
            IVA_REG => {
                let w = Iva::from_bits(merge(self.iva.into_bits()));
                self.iva = Iva::new()
                    .with_am(w.am())
                    .with_ih(w.ih())
                    .with_addr(w.addr());
            }
            IOTLB_REG => {
                let w = IotlbReg::from_bits(merge(self.iotlb.into_bits()));
                self.write_iotlb(w, high, out);
            }
            VCMD_REG if self.vcs() => {
                // Dropped while a command is in progress.
                if !self.vcrsp.ip() {
                    let w = Vcmd::from_bits(merge(self.vcmd.into_bits()));
                    self.vcmd = Vcmd::new().with_cmd(w.cmd()).with_oa(w.oa());
                    if low {
                        self.vcrsp = Vcrsp::new().with_ip(true);
                        out.push(Action::VirtualCommand {
                            cmd: w.cmd(),
                            operand: w.oa(),
                        });
                    }
                }
            }
            VCMD_EO_REG if self.vcs() => self.vcmd_eo = merge(self.vcmd_eo),
            _ => {
                // F is the only writable bit of a fault record (RW1CS, bit 127).
                if let Some((idx, true)) = self.frcd_at(base) {
                    let written = Frcd::from_bits(u128::from(value & lanes) << 64);
                    if written.f() && self.frcd[idx].f() {
                        self.frcd[idx].set_f(false);
                        if !self.fault_pending() {
                            self.fault.status_cleared();
                        }
                    }
                }
            }
        }
    }
}

/// A write of one of an event's four registers (`rel` bytes after its control register).
fn write_event_reg(
    e: &mut EventRegs,
    rel: u64,
    v: u32,
    eim: bool,
    which: Event,
    sink: &dyn InterruptSink,
) {
    match rel {
        0 => e.write_ctl(EventCtl::from_bits(v), which, sink),
        4 => {
            let w = EventData::from_bits(v);
            e.data = EventData::new()
                .with_imd(w.imd())
                .with_eimd(if eim { w.eimd() } else { 0 });
        }
        8 => e.addr = EventAddr::new().with_ma(EventAddr::from_bits(v).ma()),
        _ => e.uaddr = v,
    }
}
