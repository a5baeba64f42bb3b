//! Work queues: their configuration, their queues, and how a portal write becomes work.

use std::collections::VecDeque;

use super::desc::{DESC_SIZE, Descriptor};
use super::regs::{WqCfgLimits, WqCfgMode, WqCfgState};

/// Bytes of one portal page.
pub const PORTAL_SIZE: u64 = 0x1000;

/// What ENQCMD/ENQCMDS carry with a descriptor to a shared WQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqcmd {
    /// The submitter's PASID.
    pub pasid: u32,
    /// The submitter is privileged (ENQCMDS with the privilege bit).
    pub privileged: bool,
}

/// The answer to a portal write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    /// The descriptor was accepted (and, in the synchronous mode, has completed).
    Accepted,
    /// ENQCMD's retry status: the WQ did not take the descriptor.
    Retry,
    /// A posted write the WQ ignored (MOVDIR64B to a disabled or full WQ, or a bad write).
    Dropped,
}

/// One WQ's configuration registers and its state.
#[derive(Clone, Debug)]
pub(crate) struct WorkQueue {
    /// WQCFG as sixteen dwords (dword 6 is computed on read).
    pub cfg: [u32; 16],
    /// The WQ is enabled.
    pub enabled: bool,
    /// Descriptors accepted but not yet run (queued and threaded modes).
    pub queue: VecDeque<Pending>,
    /// An engine thread is running one of the WQ's descriptors.
    pub busy: bool,
}

/// A descriptor accepted by a WQ, with what the WQ tagged it with.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    /// The descriptor.
    pub desc: Descriptor,
    /// The execution context at submission.
    pub ctx: ExecCtx,
}

/// What a descriptor runs with, fixed when the WQ accepts it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExecCtx {
    /// The WQ index.
    pub wq: u8,
    /// The PASID requests carry.
    pub pasid: Option<u32>,
    /// Privileged requests.
    pub privileged: bool,
    /// Privileged descriptors allowed.
    pub priv_allowed: bool,
    /// Block on fault enabled in the WQ.
    pub bof: bool,
    /// Accesses may use ATS (the WQ's ATS-disable bit is clear).
    pub ats: bool,
    /// Faults may send page requests (the WQ's PRS-disable bit is clear).
    pub prs: bool,
    /// Largest transfer.
    pub max_xfer: u64,
    /// Largest batch.
    pub max_batch: u32,
    /// Operations enabled in the WQ.
    pub op_config: [u64; 4],
    /// Number of MSI-X vectors (valid interrupt handles).
    pub vectors: u16,
}

impl WorkQueue {
    /// A WQ as reset leaves it: all operations enabled, everything else zero.
    pub fn reset(opcap: [u64; 4]) -> Self {
        let mut cfg = [0u32; 16];
        for (i, q) in opcap.iter().enumerate() {
            cfg[8 + 2 * i] = *q as u32;
            cfg[9 + 2 * i] = (*q >> 32) as u32;
        }
        Self {
            cfg,
            enabled: false,
            queue: VecDeque::new(),
            busy: false,
        }
    }

    /// Entries in use: queued descriptors and the one an engine is running.
    pub fn occupancy(&self) -> usize {
        self.queue.len() + usize::from(self.busy)
    }

    /// Configured size.
    pub fn size(&self) -> u16 {
        self.cfg[0] as u16
    }

    /// Occupancy threshold for limited portals.
    pub fn threshold(&self) -> u16 {
        self.cfg[1] as u16
    }

    /// Mode dword.
    pub fn mode(&self) -> WqCfgMode {
        WqCfgMode::from_bits(self.cfg[2])
    }

    /// Limits dword.
    pub fn limits(&self) -> WqCfgLimits {
        WqCfgLimits::from_bits(self.cfg[3])
    }

    /// Operation configuration.
    pub fn op_config(&self) -> [u64; 4] {
        let q = |i: usize| u64::from(self.cfg[8 + 2 * i]) | (u64::from(self.cfg[9 + 2 * i]) << 32);
        [q(0), q(1), q(2), q(3)]
    }

    /// Dword `i` as software reads it.
    pub fn read_dword(&self, i: usize) -> u32 {
        match i {
            6 => WqCfgState::new()
                .with_occupancy(self.occupancy().min(0xffff) as u16)
                .with_mode_support(true)
                .with_wq_state(u8::from(self.enabled))
                .into_bits(),
            _ => self.cfg.get(i).copied().unwrap_or(0),
        }
    }

    /// Writes dword `i` (masked to its writable bits); ignored while enabled.
    pub fn write_dword(&mut self, i: usize, v: u32, opcap: [u64; 4]) {
        if self.enabled {
            return;
        }
        let mask = match i {
            0 | 1 => 0xffff,
            2 => 0x3fff_ffff,
            3 => 0x1ff,
            8..=15 => {
                let q = opcap[(i - 8) / 2];
                if i.is_multiple_of(2) {
                    q as u32
                } else {
                    (q >> 32) as u32
                }
            }
            _ => 0,
        };
        if let Some(d) = self.cfg.get_mut(i) {
            *d = v & mask;
        }
    }

    /// The context a descriptor submitted now runs with.
    pub fn ctx(&self, wq: u8, enq: Option<Enqcmd>, vectors: u16) -> ExecCtx {
        let m = self.mode();
        let l = self.limits();
        let (pasid, privileged) = match enq {
            Some(e) if !m.dedicated() => (Some(e.pasid), e.privileged),
            _ => (m.pasid_en().then_some(m.pasid()), m.privileged()),
        };
        ExecCtx {
            wq,
            pasid,
            privileged,
            priv_allowed: m.privileged(),
            bof: m.bof(),
            ats: !m.ats_disable(),
            prs: !m.prs_disable(),
            max_xfer: 1u64 << l.max_xfer_shift(),
            max_batch: 1u32 << l.max_batch_shift(),
            op_config: self.op_config(),
            vectors,
        }
    }
}

/// Decodes a 64-byte portal write, refusing writes of any other size.
pub(crate) fn portal_descriptor(bytes: &[u8]) -> Option<Descriptor> {
    let b: &[u8; DESC_SIZE] = bytes.try_into().ok()?;
    Some(Descriptor::from_bytes(b))
}
