//! The register file: the state software sees through MMIO, and the rules of its accesses.

mod access;
mod commands;
mod report;

use std::fmt;
use std::sync::Arc;

use super::cap::{Cap, Ecap, ParamsError, VtdParams};
use super::event::{EventRegs, InterruptSink};
use super::layout::{Ccmd, Fsts, Gsts, IotlbReg, Iva, RtAddr, fit};
use super::{Frcd, Ics, Iqa, Iqercd, Iqh, Iqt, Irta, Pqa, Pqh, Pqt, Prs, Vccap, Vcmd, Vcrsp};

/// A side effect of a register write, for the model to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GCMD.SRTP: the root table pointer and mode in `rtaddr` are now the ones in use, and
    /// every translation cache is to be invalidated (CAP.ESRTPS=1). GSTS.RTPS stays clear
    /// until [`RegisterFile::complete_root_table`].
    SetRootTable {
        /// RTADDR_REG as latched.
        rtaddr: RtAddr,
    },
    /// GCMD.SIRTP: the interrupt-remapping table in `irta` is now the one in use.
    /// GSTS.IRTPS stays clear until [`RegisterFile::complete_ir_table`].
    SetIrTable {
        /// IRTA_REG as latched.
        irta: Irta,
    },
    /// GCMD.TE changed: DMA remapping is now enabled (`true`) or disabled (`false`; in
    /// scalable mode this also invalidates every cache).
    EnableTranslation(bool),
    /// GCMD.IRE changed: interrupt remapping is now enabled or disabled.
    EnableInterruptRemapping(bool),
    /// GCMD.QIE changed: the invalidation queue is now enabled (fetched while
    /// [`RegisterFile::iq_fetch_ready`] holds) or disabled (IQH reset to 0).
    EnableQueue(bool),
    /// IQT was written with a valid tail: the new tail as a byte offset into the queue. The
    /// queue is fetched while [`RegisterFile::iq_fetch_ready`] holds.
    TailWritten(u64),
    /// PQH was written: the new head as a byte offset into the page request queue.
    PageRequestHeadWritten(u64),
    /// VCMD was written while no command was in progress: VCRSP.IP is set until
    /// [`RegisterFile::complete_virtual_command`], which every command needs (the null
    /// command and undefined ones included).
    VirtualCommand {
        /// VCMD.CMD.
        cmd: u8,
        /// VCMD.OA (operand A).
        operand: u64,
    },
    /// Software cleared these RW1CS bits of FSTS (clearing IQE or ITE lets the queue be
    /// fetched again).
    FaultStatusCleared(Fsts),
    /// CCMD.ICC in legacy mode with the queue disabled: a register-based context-cache
    /// invalidation, already reported complete (CAIG = CIRG).
    ContextCacheInvalidate(Ccmd),
    /// IOTLB_REG.IVT in legacy mode with the queue disabled: a register-based IOTLB
    /// invalidation, already reported complete (IAIG = IIRG).
    IotlbInvalidate {
        /// IOTLB_REG as written.
        cmd: IotlbReg,
        /// IVA_REG (the address of a page-selective invalidation).
        iva: Iva,
    },
}

/// Byte lanes of a 64-bit register written by a 32-bit access.
const LOW: u64 = 0xffff_ffff;
const HIGH: u64 = !LOW;

/// The MMIO-visible registers of one remapping unit.
///
/// Accesses are aligned DWORDs and QWORDs; anything else reads 0 and is ignored on write.
/// A 64-bit register may be accessed as two DWORDs; a side effect belongs to the DWORD
/// that holds its trigger field. Offsets that name no register of this instance read 0,
/// read-only and reserved bits ignore writes, and RW1CS bits clear where 1 is written.
pub struct RegisterFile {
    params: VtdParams,
    cap: Cap,
    ecap: Ecap,
    vccap: Vccap,
    /// Page-number bits below HAW (for the 52-bit address fields).
    page_mask: u64,
    sink: Arc<dyn InterruptSink>,

    gsts: Gsts,
    rtaddr: RtAddr,
    root_table: RtAddr,
    ccmd: Ccmd,
    iva: Iva,
    iotlb: IotlbReg,

    /// FSTS without PPF (which is computed from the records).
    fsts: Fsts,
    fault: EventRegs,
    frcd: Vec<Frcd>,
    /// The record the next fault goes to.
    fault_idx: usize,

    iqh: Iqh,
    iqt: Iqt,
    iqa: Iqa,
    ics: Ics,
    iqercd: Iqercd,
    inv: EventRegs,

    irta: Irta,
    ir_table: Irta,

    pqh: Pqh,
    pqt: Pqt,
    pqa: Pqa,
    prs: Prs,
    pr: EventRegs,

    vcmd: Vcmd,
    vcmd_eo: u64,
    vcrsp: Vcrsp,
}

impl fmt::Debug for RegisterFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterFile")
            .field("gsts", &self.gsts)
            .field("rtaddr", &self.rtaddr)
            .field("root_table", &self.root_table)
            .field("fsts", &self.fsts())
            .field("fault_idx", &self.fault_idx)
            .field("iqa", &self.iqa)
            .field("iqh", &self.iqh)
            .field("iqt", &self.iqt)
            .field("prs", &self.prs)
            .finish_non_exhaustive()
    }
}

impl RegisterFile {
    /// The registers of a unit with `params`, in their reset state, raising interrupts
    /// through `sink`.
    pub fn new(params: VtdParams, sink: Arc<dyn InterruptSink>) -> Result<Self, ParamsError> {
        params.validate()?;
        Ok(Self {
            params,
            cap: params.cap_unchecked(),
            ecap: params.ecap_unchecked(),
            vccap: params.vccap(),
            page_mask: fit(u64::MAX, u32::from(params.haw) - 12),
            sink,
            gsts: Gsts::new(),
            rtaddr: RtAddr::new(),
            root_table: RtAddr::new(),
            ccmd: Ccmd::new(),
            iva: Iva::new(),
            iotlb: IotlbReg::new(),
            fsts: Fsts::new(),
            fault: EventRegs::new(),
            frcd: vec![Frcd::new(); usize::from(params.fault_records)],
            fault_idx: 0,
            iqh: Iqh::new(),
            iqt: Iqt::new(),
            iqa: Iqa::new(),
            ics: Ics::new(),
            iqercd: Iqercd::new(),
            inv: EventRegs::new(),
            irta: Irta::new(),
            ir_table: Irta::new(),
            pqh: Pqh::new(),
            pqt: Pqt::new(),
            pqa: Pqa::new(),
            prs: Prs::new(),
            pr: EventRegs::new(),
            vcmd: Vcmd::new(),
            vcmd_eo: 0,
            vcrsp: Vcrsp::new(),
        })
    }

    /// The instance's parameters.
    pub fn params(&self) -> &VtdParams {
        &self.params
    }

    /// CAP_REG.
    pub fn cap(&self) -> Cap {
        self.cap
    }

    /// ECAP_REG.
    pub fn ecap(&self) -> Ecap {
        self.ecap
    }

    /// GSTS_REG.
    pub fn gsts(&self) -> Gsts {
        self.gsts
    }

    /// RTADDR_REG as software last wrote it.
    pub fn rtaddr(&self) -> RtAddr {
        self.rtaddr
    }

    /// The root table pointer and mode in use: RTADDR_REG as latched by the last SRTP.
    pub fn root_table(&self) -> RtAddr {
        self.root_table
    }

    /// The interrupt-remapping table in use: IRTA_REG as latched by the last SIRTP.
    pub fn ir_table(&self) -> Irta {
        self.ir_table
    }

    /// FSTS_REG, PPF included.
    pub fn fsts(&self) -> Fsts {
        self.fsts.with_ppf(self.ppf())
    }

    /// FRCD_REG\[`index`\], if the instance has it.
    pub fn fault_record(&self, index: usize) -> Option<Frcd> {
        self.frcd.get(index).copied()
    }

    /// IQA_REG.
    pub fn iqa(&self) -> Iqa {
        self.iqa
    }

    /// IQH_REG.
    pub fn iqh(&self) -> Iqh {
        self.iqh
    }

    /// IQT_REG.
    pub fn iqt(&self) -> Iqt {
        self.iqt
    }

    /// IQERCD_REG.
    pub fn iqercd(&self) -> Iqercd {
        self.iqercd
    }

    /// ICS_REG.
    pub fn ics(&self) -> Ics {
        self.ics
    }

    /// Whether the hardware fetches descriptors now: the queue is enabled, head ≠ tail, the
    /// tail is a valid descriptor boundary inside the queue, and neither IQE nor ITE is
    /// set.
    pub fn iq_fetch_ready(&self) -> bool {
        self.gsts.qie()
            && self.iqh.qh() != self.iqt.qt()
            && self.tail_error(self.iqt).is_none()
            && !self.fsts.iqe()
            && !self.fsts.ite()
    }

    /// PQA_REG.
    pub fn pqa(&self) -> Pqa {
        self.pqa
    }

    /// PQH_REG.
    pub fn pqh(&self) -> Pqh {
        self.pqh
    }

    /// PQT_REG.
    pub fn pqt(&self) -> Pqt {
        self.pqt
    }

    /// PRS_REG.
    pub fn prs(&self) -> Prs {
        self.prs
    }

    /// VCMD_EO_REG (operand B of the virtual command).
    pub fn vcmd_operand_b(&self) -> u64 {
        self.vcmd_eo
    }

    /// VCRSP_REG.
    pub fn vcrsp(&self) -> Vcrsp {
        self.vcrsp
    }

    /// FSTS.PPF: the OR of every FRCD.F.
    fn ppf(&self) -> bool {
        self.frcd.iter().any(|r| r.f())
    }

    /// Whether any status bit of the fault event is set.
    fn fault_pending(&self) -> bool {
        let s = self.fsts;
        self.ppf() || s.pfo() || s.iqe() || s.ice() || s.ite()
    }

    fn qi(&self) -> bool {
        self.ecap.qi()
    }

    fn ir(&self) -> bool {
        self.ecap.ir()
    }

    fn prs_on(&self) -> bool {
        self.ecap.prs()
    }

    fn vcs(&self) -> bool {
        self.ecap.vcs()
    }
}
