//! A guest's invalidation commands for the stage 1 it owns in nested STEs, issued as Linux's
//! vSMMU issues them: the host's VMID in TLB invalidations, the host's StreamID in CD and
//! ATC invalidations.

use std::sync::Arc;

use softiommu_core::{CoreError, Domain, GuestCommand, Result};

use super::SmmuDriver;
use crate::cmd::Command;

/// Opcodes a guest may send, in bits 7:0 of DW0.
const CFGI_CD: u64 = 0x05;
const CFGI_CD_ALL: u64 = 0x06;
const TLBI_NH_ALL: u64 = 0x10;
const TLBI_NH_ASID: u64 = 0x11;
const TLBI_NH_VA: u64 = 0x12;
const TLBI_NH_VAA: u64 = 0x13;
const TLBI_NSNH_ALL: u64 = 0x30;
const ATC_INV: u64 = 0x40;

/// VMID, DW0 bits 47:32 of the TLB invalidations.
const VMID: u64 = 0xffff << 32;
/// StreamID, DW0 bits 63:32 of the CD and ATC invalidations.
const SID: u64 = 0xffff_ffff << 32;

impl SmmuDriver {
    /// See [`IommuDriver::guest_invalidate`](softiommu_core::IommuDriver::guest_invalidate):
    /// a TLB invalidation is issued once for each of `domains` this SMMU has a VMID for
    /// (`CMD_TLBI_NSNH_ALL` as `CMD_TLBI_NH_ALL` of that VMID); a CD or ATC invalidation once,
    /// with the StreamID of its device. Any other command, or one naming no device of this
    /// SMMU, is refused before anything is issued.
    pub(super) fn guest_commands(
        &self,
        domains: &[Arc<Domain>],
        cmds: &[GuestCommand],
    ) -> Result<()> {
        let mut st = self.state.lock();
        let vmids: Vec<u64> = domains
            .iter()
            .filter_map(|d| st.vmids.get(d.id()))
            .map(u64::from)
            .collect();
        let mut out = Vec::new();
        for c in cmds {
            let [w0, w1] = c.words;
            let op = w0 & 0xff;
            let words: Vec<[u64; 2]> = match op {
                TLBI_NH_ALL | TLBI_NH_ASID | TLBI_NH_VA | TLBI_NH_VAA | TLBI_NSNH_ALL => {
                    let (op, w0) = if op == TLBI_NSNH_ALL {
                        (TLBI_NH_ALL, 0)
                    } else {
                        (op, w0 & !0xff)
                    };
                    vmids
                        .iter()
                        .map(|&v| [(w0 & !VMID) | op | v << 32, w1])
                        .collect()
                }
                CFGI_CD | CFGI_CD_ALL | ATC_INV => {
                    let sid = c
                        .device
                        .and_then(|d| st.devices.get(&d))
                        .map(|d| u64::from(d.sid))
                        .ok_or(CoreError::Invalid("a command names no device of this SMMU"))?;
                    vec![[(w0 & !SID) | sid << 32, w1]]
                }
                _ => return Err(CoreError::Invalid("a command a guest may not send")),
            };
            for w in words {
                let cmd = Command::from_words(w)
                    .ok_or(CoreError::Invalid("a command the SMMU does not know"))?;
                out.push(cmd);
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        self.run(&mut st, &out)
    }
}
