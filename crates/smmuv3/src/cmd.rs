//! Commands (spec chapter 4): 16 bytes each, the opcode in bits 7:0 of DW0.
//!
//! | Op | Command | Type | Fields (DW0 / DW1) | Illegal on this SMMU when |
//! |---|---|---|---|---|
//! | 01h | CMD_PREFETCH_CONFIG | [`PrefetchConfig`] | SSec, SSV, SubstreamID, StreamID / — | — |
//! | 02h | CMD_PREFETCH_ADDR | [`PrefetchAddr`] | as 01h / Size, stride and NS hints, Addr | — |
//! | 03h | CMD_CFGI_STE | [`CfgiSte`] | SSec, StreamID / Leaf | — |
//! | 04h | CMD_CFGI_STE_RANGE, CMD_CFGI_ALL (Range = 31) | [`CfgiSteRange`] | SSec, StreamID / Range | — |
//! | 05h | CMD_CFGI_CD | [`CfgiCd`] | SSec, SubstreamID, StreamID / Leaf | no stage 1 |
//! | 06h | CMD_CFGI_CD_ALL | [`CfgiCdAll`] | SSec, StreamID / — | no stage 1 |
//! | 07h | CMD_CFGI_VMS_PIDM | — | SSec, VMID | always (no MPAM) |
//! | 10h | CMD_TLBI_NH_ALL | [`TlbiNhAll`] | VMID / — | no stage 1 |
//! | 11h | CMD_TLBI_NH_ASID | [`TlbiNhAsid`] | VMID, ASID / — | no stage 1 |
//! | 12h | CMD_TLBI_NH_VA | [`TlbiNhVa`] | NUM, SCALE, VMID, ASID / Leaf, TTL, TG, VA | no stage 1 |
//! | 13h | CMD_TLBI_NH_VAA | [`TlbiNhVaa`] | NUM, SCALE, VMID / Leaf, TTL, TG, VA | no stage 1 |
//! | 18h | CMD_TLBI_EL3_ALL | [`TlbiEl3All`] | — / — | always (Secure queue only) |
//! | 1Ah | CMD_TLBI_EL3_VA | [`TlbiEl3Va`] | NUM, SCALE / Leaf, TTL, TG, VA | always (Secure queue only) |
//! | 20h | CMD_TLBI_EL2_ALL | [`TlbiEl2All`] | — / — | no IDR0.Hyp |
//! | 21h | CMD_TLBI_EL2_ASID | [`TlbiEl2Asid`] | ASID / — | no IDR0.Hyp |
//! | 22h | CMD_TLBI_EL2_VA | [`TlbiEl2Va`] | NUM, SCALE, ASID / Leaf, TTL, TG, VA | no IDR0.Hyp |
//! | 23h | CMD_TLBI_EL2_VAA | [`TlbiEl2Vaa`] | NUM, SCALE / Leaf, TTL, TG, VA | no IDR0.Hyp |
//! | 28h | CMD_TLBI_S12_VMALL | [`TlbiS12Vmall`] | VMID / — | no stage 2 |
//! | 2Ah | CMD_TLBI_S2_IPA | [`TlbiS2Ipa`] | NUM, SCALE, VMID / Leaf, TTL, TG, IPA (51:12) | no stage 2 |
//! | 30h | CMD_TLBI_NSNH_ALL | [`TlbiNsnhAll`] | — / — | — |
//! | 40h | CMD_ATC_INV | [`AtcInv`] | Global, SSV, SubstreamID, StreamID / Size, Addr | no ATS |
//! | 41h | CMD_PRI_RESP | [`PriResp`] | SSV, SubstreamID, StreamID / PRGIndex, Resp | no PRI |
//! | 44h | CMD_RESUME | [`Resume`] | SSec, Ac, Ab, StreamID / STAG | no stall model |
//! | 45h | CMD_STALL_TERM | [`StallTerm`] | SSec, StreamID / — | no stall model |
//! | 46h | CMD_SYNC | [`CmdSync`] | CS, MSH, MSIAttr, MSIData / MSIAddress (51:2) | — |
//! | 50h–53h, 58h, 5Ah, 60h | Secure-state TLB invalidations | — | | always (Secure queue only) |
//! | 70h, 73h | CMD_DPTI_ALL, CMD_DPTI_PA | — | | always (no DPT) |
//!
//! Field positions: SSec is DW0 bit 10, SSV bit 11, SubstreamID 31:12, StreamID 63:32;
//! Global (`CMD_ATC_INV`) bit 9; NUM 16:12, SCALE 24:20, VMID 47:32, ASID 63:48; Leaf is DW1
//! bit 0, TTL 9:8, TG 11:10, addresses 63:12; Range is DW1 4:0; Ac and Ab are DW0 bits 12 and
//! 13, STAG DW1 15:0; CS is DW0 13:12, MSH 23:22, MSIAttr 27:24, MSIData 63:32. `CMD_CFGI_ALL`
//! is `CMD_CFGI_STE_RANGE` with Range = 31 (opcode 04h, not the 07h QEMU lists).
//!
//! [`Command::decode`] is the hardware side: the words fetched from the queue become a
//! command or the [`CommandError`] whose [`Cerror`] the SMMU records in `SMMU_CMDQ_CONS.ERR`.
//! The SMMU checks, in order: the opcode (reserved opcodes, and those of features this SMMU
//! lacks or of the Secure queue, are CERROR_ILL); SSec (1 is illegal on the Non-secure
//! queue); every bit that is not a field of the command must be 0 (the specification lets an
//! SMMU check this, and this one does); then the values the specification makes illegal. The
//! range fields of a TLB invalidation (NUM, SCALE, TTL, TG) are fields only with IDR3.RIL.
//! [`Command::encode`] is the driver side.

mod types;
mod words;

pub use types::{
    ATC_INV_ALL, AtcInv, CFGI_ALL_RANGE, CfgiCd, CfgiCdAll, CfgiSte, CfgiSteRange, CmdSync,
    PrefetchAddr, PrefetchConfig, PriResp, Resume, ResumeAction, StallTerm, TlbiEl2All,
    TlbiEl2Asid, TlbiEl2Va, TlbiEl2Vaa, TlbiEl3All, TlbiEl3Va, TlbiNhAll, TlbiNhAsid, TlbiNhVa,
    TlbiNhVaa, TlbiNsnhAll, TlbiS2Ipa, TlbiS12Vmall, TlbiSpan,
};
pub use words::{
    AtcInvDw1, CfgiLeafDw1, CfgiRangeDw1, NoFields, PrefetchDw1, PriRespDw1, ResumeDw0, ResumeDw1,
    StreamDw0, SyncDw0, SyncDw1, SyncSignal, TlbiDw0, TlbiDw1,
};

use softiommu_mem::MemError;
use thiserror::Error;

use crate::pri::PriResponse;
use crate::regs::SmmuParams;

/// Size of a command in bytes.
pub const CMD_BYTES: u64 = 16;

/// A command queue error code, `SMMU_CMDQ_CONS.ERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cerror {
    /// 0x00, CERROR_NONE: no error (never recorded).
    None,
    /// 0x01, CERROR_ILL: the command is illegal (reserved opcode, a feature the SMMU lacks, a
    /// reserved field set or an illegal value).
    Ill,
    /// 0x02, CERROR_ABT: the command could not be fetched (external abort).
    Abt,
    /// 0x03, CERROR_ATC_INV_SYNC: a `CMD_SYNC` found an earlier `CMD_ATC_INV` that did not
    /// complete.
    AtcInvSync,
}

impl Cerror {
    /// The code recorded in `SMMU_CMDQ_CONS.ERR`.
    pub const fn code(self) -> u8 {
        match self {
            Cerror::None => 0,
            Cerror::Ill => 1,
            Cerror::Abt => 2,
            Cerror::AtcInvSync => 3,
        }
    }

    /// The error a code names; `None` for codes the specification does not define.
    pub const fn from_code(code: u8) -> Option<Cerror> {
        Some(match code {
            0 => Cerror::None,
            1 => Cerror::Ill,
            2 => Cerror::Abt,
            3 => Cerror::AtcInvSync,
            _ => return None,
        })
    }
}

/// Why a command cannot be consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CommandError {
    /// CERROR_ILL: the opcode is reserved.
    #[error("reserved command opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// CERROR_ILL: the command needs something this SMMU (or its Non-secure command queue)
    /// does not have.
    #[error("{command} needs {needs}")]
    Unsupported {
        /// The command's name.
        command: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// CERROR_ILL: bits that are no field of the command are set.
    #[error("{command}: reserved bits {bits:#x} of DW{dw} are set")]
    ReservedBits {
        /// The command's name.
        command: &'static str,
        /// Which word (0 or 1).
        dw: u8,
        /// The reserved bits that are set.
        bits: u64,
    },
    /// CERROR_ILL: a field holds a value the specification makes illegal.
    #[error("{command}: illegal {field}")]
    IllegalValue {
        /// The command's name.
        command: &'static str,
        /// The field and the rule it breaks.
        field: &'static str,
    },
    /// CERROR_ABT: reading the command from the queue failed.
    #[error("command fetch aborted: {0}")]
    FetchAbort(MemError),
    /// CERROR_ATC_INV_SYNC: a `CMD_SYNC` could not complete an earlier ATC invalidation.
    #[error("CMD_SYNC found an ATC invalidation that did not complete")]
    AtcInvSync,
}

impl CommandError {
    /// The error code the SMMU records.
    pub const fn cerror(&self) -> Cerror {
        match self {
            CommandError::FetchAbort(_) => Cerror::Abt,
            CommandError::AtcInvSync => Cerror::AtcInvSync,
            _ => Cerror::Ill,
        }
    }
}

/// The SMMU features that decide which commands are legal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CmdCaps {
    /// Stage 1 (IDR0.S1P): `CMD_CFGI_CD*`, `CMD_TLBI_NH_*`.
    pub stage1: bool,
    /// Stage 2 (IDR0.S2P): `CMD_TLBI_S12_VMALL`, `CMD_TLBI_S2_IPA`.
    pub stage2: bool,
    /// EL2 contexts (IDR0.Hyp): `CMD_TLBI_EL2_*`.
    pub hyp: bool,
    /// ATS (IDR0.ATS): `CMD_ATC_INV`.
    pub ats: bool,
    /// PRI (IDR0.PRI): `CMD_PRI_RESP`.
    pub pri: bool,
    /// The stall model (IDR0.STALL_MODEL ≠ 0b01): `CMD_RESUME`, `CMD_STALL_TERM`.
    pub stalls: bool,
    /// Range invalidation (IDR3.RIL): NUM, SCALE, TTL and TG of the TLB invalidations.
    pub range_invalidation: bool,
}

impl CmdCaps {
    /// Every feature: every command the Non-secure queue has is legal.
    pub const ALL: CmdCaps = CmdCaps {
        stage1: true,
        stage2: true,
        hyp: true,
        ats: true,
        pri: true,
        stalls: true,
        range_invalidation: true,
    };
}

impl From<&SmmuParams> for CmdCaps {
    fn from(p: &SmmuParams) -> CmdCaps {
        CmdCaps {
            stage1: p.stage1,
            stage2: p.stage2,
            hyp: p.hyp && p.nesting(),
            ats: p.ats,
            pri: p.pri && p.ats,
            stalls: p.stall_model.stalls(),
            range_invalidation: p.range_invalidation,
        }
    }
}

/// A command of any type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// 01h.
    PrefetchConfig(PrefetchConfig),
    /// 02h.
    PrefetchAddr(PrefetchAddr),
    /// 03h.
    CfgiSte(CfgiSte),
    /// 04h, and `CMD_CFGI_ALL` (Range = 31).
    CfgiSteRange(CfgiSteRange),
    /// 05h.
    CfgiCd(CfgiCd),
    /// 06h.
    CfgiCdAll(CfgiCdAll),
    /// 10h.
    TlbiNhAll(TlbiNhAll),
    /// 11h.
    TlbiNhAsid(TlbiNhAsid),
    /// 12h.
    TlbiNhVa(TlbiNhVa),
    /// 13h.
    TlbiNhVaa(TlbiNhVaa),
    /// 18h (never legal on the Non-secure queue; kept for encoding).
    TlbiEl3All(TlbiEl3All),
    /// 1Ah (never legal on the Non-secure queue; kept for encoding).
    TlbiEl3Va(TlbiEl3Va),
    /// 20h.
    TlbiEl2All(TlbiEl2All),
    /// 21h.
    TlbiEl2Asid(TlbiEl2Asid),
    /// 22h.
    TlbiEl2Va(TlbiEl2Va),
    /// 23h.
    TlbiEl2Vaa(TlbiEl2Vaa),
    /// 28h.
    TlbiS12Vmall(TlbiS12Vmall),
    /// 2Ah.
    TlbiS2Ipa(TlbiS2Ipa),
    /// 30h.
    TlbiNsnhAll(TlbiNsnhAll),
    /// 40h.
    AtcInv(AtcInv),
    /// 41h.
    PriResp(PriResp),
    /// 44h.
    Resume(Resume),
    /// 45h.
    StallTerm(StallTerm),
    /// 46h.
    CmdSync(CmdSync),
}

/// Applies `$body` to the command type inside every variant of `$cmd`, bound as `$c`.
macro_rules! each {
    ($cmd:expr, $c:ident => $body:expr) => {
        match $cmd {
            Command::PrefetchConfig($c) => $body,
            Command::PrefetchAddr($c) => $body,
            Command::CfgiSte($c) => $body,
            Command::CfgiSteRange($c) => $body,
            Command::CfgiCd($c) => $body,
            Command::CfgiCdAll($c) => $body,
            Command::TlbiNhAll($c) => $body,
            Command::TlbiNhAsid($c) => $body,
            Command::TlbiNhVa($c) => $body,
            Command::TlbiNhVaa($c) => $body,
            Command::TlbiEl3All($c) => $body,
            Command::TlbiEl3Va($c) => $body,
            Command::TlbiEl2All($c) => $body,
            Command::TlbiEl2Asid($c) => $body,
            Command::TlbiEl2Va($c) => $body,
            Command::TlbiEl2Vaa($c) => $body,
            Command::TlbiS12Vmall($c) => $body,
            Command::TlbiS2Ipa($c) => $body,
            Command::TlbiNsnhAll($c) => $body,
            Command::AtcInv($c) => $body,
            Command::PriResp($c) => $body,
            Command::Resume($c) => $body,
            Command::StallTerm($c) => $body,
            Command::CmdSync($c) => $body,
        }
    };
}

/// Opcodes that name commands this model never accepts, with what they need.
const NEVER: [(u8, &str, &str); 10] = [
    (0x07, "CMD_CFGI_VMS_PIDM", "MPAM"),
    (0x50, "CMD_TLBI_S_EL2_ALL", "the Secure command queue"),
    (0x51, "CMD_TLBI_S_EL2_ASID", "the Secure command queue"),
    (0x52, "CMD_TLBI_S_EL2_VA", "the Secure command queue"),
    (0x53, "CMD_TLBI_S_EL2_VAA", "the Secure command queue"),
    (0x58, "CMD_TLBI_S_S12_VMALL", "the Secure command queue"),
    (0x5a, "CMD_TLBI_S_S2_IPA", "the Secure command queue"),
    (0x60, "CMD_TLBI_SNH_ALL", "the Secure command queue"),
    (0x70, "CMD_DPTI_ALL", "the device permission table"),
    (0x73, "CMD_DPTI_PA", "the device permission table"),
];

impl Command {
    /// The command in `words` (DW0 first) as the SMMU reads it from the queue, checked as
    /// the module documentation describes; an illegal one gives the error to record.
    pub fn decode(words: [u64; 2], caps: &CmdCaps) -> Result<Command, CommandError> {
        let opcode = StreamDw0::from_bits(words[0]).opcode();
        let cmd = Command::from_words(words).ok_or_else(|| {
            match NEVER.iter().find(|&&(op, _, _)| op == opcode) {
                Some(&(_, command, needs)) => CommandError::Unsupported { command, needs },
                None => CommandError::UnknownOpcode(opcode),
            }
        })?;
        let command = cmd.name();
        if let Some(needs) = cmd.missing(caps) {
            return Err(CommandError::Unsupported { command, needs });
        }
        if cmd.ssec() {
            return Err(CommandError::IllegalValue {
                command,
                field: "SSec (1 on the Non-secure command queue)",
            });
        }
        let fields = cmd.fields(caps);
        for (dw, (word, mask)) in words.iter().zip(fields).enumerate() {
            let bits = word & !mask;
            if bits != 0 {
                return Err(CommandError::ReservedBits {
                    command,
                    dw: dw as u8,
                    bits,
                });
            }
        }
        match cmd.illegal_value(caps) {
            Some(field) => Err(CommandError::IllegalValue { command, field }),
            None => Ok(cmd),
        }
    }

    /// The command of whichever type the opcode in `words` names, unchecked; `None` for an
    /// opcode without a type.
    pub const fn from_words(words: [u64; 2]) -> Option<Command> {
        let opcode = StreamDw0::from_bits(words[0]).opcode();
        Some(match opcode {
            PrefetchConfig::OPCODE => Command::PrefetchConfig(PrefetchConfig::from_words(words)),
            PrefetchAddr::OPCODE => Command::PrefetchAddr(PrefetchAddr::from_words(words)),
            CfgiSte::OPCODE => Command::CfgiSte(CfgiSte::from_words(words)),
            CfgiSteRange::OPCODE => Command::CfgiSteRange(CfgiSteRange::from_words(words)),
            CfgiCd::OPCODE => Command::CfgiCd(CfgiCd::from_words(words)),
            CfgiCdAll::OPCODE => Command::CfgiCdAll(CfgiCdAll::from_words(words)),
            TlbiNhAll::OPCODE => Command::TlbiNhAll(TlbiNhAll::from_words(words)),
            TlbiNhAsid::OPCODE => Command::TlbiNhAsid(TlbiNhAsid::from_words(words)),
            TlbiNhVa::OPCODE => Command::TlbiNhVa(TlbiNhVa::from_words(words)),
            TlbiNhVaa::OPCODE => Command::TlbiNhVaa(TlbiNhVaa::from_words(words)),
            TlbiEl3All::OPCODE => Command::TlbiEl3All(TlbiEl3All::from_words(words)),
            TlbiEl3Va::OPCODE => Command::TlbiEl3Va(TlbiEl3Va::from_words(words)),
            TlbiEl2All::OPCODE => Command::TlbiEl2All(TlbiEl2All::from_words(words)),
            TlbiEl2Asid::OPCODE => Command::TlbiEl2Asid(TlbiEl2Asid::from_words(words)),
            TlbiEl2Va::OPCODE => Command::TlbiEl2Va(TlbiEl2Va::from_words(words)),
            TlbiEl2Vaa::OPCODE => Command::TlbiEl2Vaa(TlbiEl2Vaa::from_words(words)),
            TlbiS12Vmall::OPCODE => Command::TlbiS12Vmall(TlbiS12Vmall::from_words(words)),
            TlbiS2Ipa::OPCODE => Command::TlbiS2Ipa(TlbiS2Ipa::from_words(words)),
            TlbiNsnhAll::OPCODE => Command::TlbiNsnhAll(TlbiNsnhAll::from_words(words)),
            AtcInv::OPCODE => Command::AtcInv(AtcInv::from_words(words)),
            PriResp::OPCODE => Command::PriResp(PriResp::from_words(words)),
            Resume::OPCODE => Command::Resume(Resume::from_words(words)),
            StallTerm::OPCODE => Command::StallTerm(StallTerm::from_words(words)),
            CmdSync::OPCODE => Command::CmdSync(CmdSync::from_words(words)),
            _ => return None,
        })
    }

    /// The command's two words, DW0 first, as the driver writes them to the queue.
    pub const fn encode(&self) -> [u64; 2] {
        each!(self, c => c.to_words())
    }

    /// The opcode.
    pub const fn opcode(&self) -> u8 {
        (self.encode()[0] & StreamDw0::OPCODE) as u8
    }

    /// The command's name in the specification (`CMD_CFGI_ALL` for `CMD_CFGI_STE_RANGE` with
    /// Range = 31).
    pub const fn name(&self) -> &'static str {
        match self {
            Command::CfgiSteRange(c) if c.is_all() => "CMD_CFGI_ALL",
            _ => self.type_name(),
        }
    }

    const fn type_name(&self) -> &'static str {
        match self {
            Command::PrefetchConfig(_) => PrefetchConfig::NAME,
            Command::PrefetchAddr(_) => PrefetchAddr::NAME,
            Command::CfgiSte(_) => CfgiSte::NAME,
            Command::CfgiSteRange(_) => CfgiSteRange::NAME,
            Command::CfgiCd(_) => CfgiCd::NAME,
            Command::CfgiCdAll(_) => CfgiCdAll::NAME,
            Command::TlbiNhAll(_) => TlbiNhAll::NAME,
            Command::TlbiNhAsid(_) => TlbiNhAsid::NAME,
            Command::TlbiNhVa(_) => TlbiNhVa::NAME,
            Command::TlbiNhVaa(_) => TlbiNhVaa::NAME,
            Command::TlbiEl3All(_) => TlbiEl3All::NAME,
            Command::TlbiEl3Va(_) => TlbiEl3Va::NAME,
            Command::TlbiEl2All(_) => TlbiEl2All::NAME,
            Command::TlbiEl2Asid(_) => TlbiEl2Asid::NAME,
            Command::TlbiEl2Va(_) => TlbiEl2Va::NAME,
            Command::TlbiEl2Vaa(_) => TlbiEl2Vaa::NAME,
            Command::TlbiS12Vmall(_) => TlbiS12Vmall::NAME,
            Command::TlbiS2Ipa(_) => TlbiS2Ipa::NAME,
            Command::TlbiNsnhAll(_) => TlbiNsnhAll::NAME,
            Command::AtcInv(_) => AtcInv::NAME,
            Command::PriResp(_) => PriResp::NAME,
            Command::Resume(_) => Resume::NAME,
            Command::StallTerm(_) => StallTerm::NAME,
            Command::CmdSync(_) => CmdSync::NAME,
        }
    }

    /// The bits of each word that are fields of this command on an SMMU with `caps`.
    pub fn fields(&self, caps: &CmdCaps) -> [u64; 2] {
        use Command::*;
        let [f0, f1] = each!(self, c => c.field_masks());
        let ranged = matches!(
            self,
            TlbiNhVa(_) | TlbiNhVaa(_) | TlbiEl3Va(_) | TlbiEl2Va(_) | TlbiEl2Vaa(_) | TlbiS2Ipa(_)
        );
        if ranged && !caps.range_invalidation {
            [f0 & !TlbiDw0::RANGE, f1 & !TlbiDw1::RANGE]
        } else {
            [f0, f1]
        }
    }

    /// What this SMMU lacks to accept the command, if anything.
    fn missing(&self, caps: &CmdCaps) -> Option<&'static str> {
        use Command::*;
        let (ok, needs) = match self {
            CfgiCd(_) | CfgiCdAll(_) | TlbiNhAll(_) | TlbiNhAsid(_) | TlbiNhVa(_)
            | TlbiNhVaa(_) => (caps.stage1, "stage 1"),
            TlbiEl3All(_) | TlbiEl3Va(_) => (false, "the Secure command queue"),
            TlbiEl2All(_) | TlbiEl2Asid(_) | TlbiEl2Va(_) | TlbiEl2Vaa(_) => {
                (caps.hyp, "EL2 contexts (IDR0.Hyp)")
            }
            TlbiS12Vmall(_) | TlbiS2Ipa(_) => (caps.stage2, "stage 2"),
            AtcInv(_) => (caps.ats, "ATS"),
            PriResp(_) => (caps.pri, "PRI"),
            Resume(_) | StallTerm(_) => (caps.stalls, "the stall model"),
            _ => (true, ""),
        };
        if ok { None } else { Some(needs) }
    }

    /// Whether SSec is set (on a command that has it).
    fn ssec(&self) -> bool {
        use Command::*;
        match self {
            PrefetchConfig(c) => c.dw0.ssec(),
            PrefetchAddr(c) => c.dw0.ssec(),
            CfgiSte(c) => c.dw0.ssec(),
            CfgiSteRange(c) => c.dw0.ssec(),
            CfgiCd(c) => c.dw0.ssec(),
            CfgiCdAll(c) => c.dw0.ssec(),
            StallTerm(c) => c.dw0.ssec(),
            Resume(c) => c.dw0.ssec(),
            _ => false,
        }
    }

    /// The rule a field value breaks, if any (reserved bits already clear).
    fn illegal_value(&self, caps: &CmdCaps) -> Option<&'static str> {
        use Command::*;
        match self {
            TlbiNhVa(c) => illegal_range(c.dw0, c.dw1, caps),
            TlbiNhVaa(c) => illegal_range(c.dw0, c.dw1, caps),
            TlbiEl3Va(c) => illegal_range(c.dw0, c.dw1, caps),
            TlbiEl2Va(c) => illegal_range(c.dw0, c.dw1, caps),
            TlbiEl2Vaa(c) => illegal_range(c.dw0, c.dw1, caps),
            TlbiS2Ipa(c) => illegal_range(c.dw0, c.dw1, caps),
            AtcInv(c) if c.dw1.size() > ATC_INV_ALL => Some("Size (above 52)"),
            PriResp(c) if c.response() == PriResponse::Reserved => Some("Resp (0b11 is reserved)"),
            CmdSync(c) if c.signal() == SyncSignal::Reserved => Some("CS (0b11 is reserved)"),
            _ => None,
        }
    }
}

/// The rule the range fields of a TLB invalidation break, if any.
fn illegal_range(dw0: TlbiDw0, dw1: TlbiDw1, caps: &CmdCaps) -> Option<&'static str> {
    if !caps.range_invalidation {
        return None;
    }
    let hint = dw0.num() != 0 || dw0.scale() != 0 || dw1.ttl() != 0;
    match dw1.tg() {
        0 if hint => Some("NUM, SCALE and TTL (RES0 when TG = 0)"),
        0 => None,
        _ if !hint => Some("TG without a range or a level (NUM = SCALE = TTL = 0)"),
        2 if dw1.ttl() == 1 => Some("TTL (level 1 with the 16 KiB granule)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
