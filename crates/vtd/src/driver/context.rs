//! A device's scalable-mode context entry: what the driver writes at probe, the page-request
//! enable it turns on while the device has an attachment that takes I/O page faults, and the
//! invalidations that follow a change of the entry (spec Table 28).

use softiommu_core::{CoreError, Result};
use softiommu_mem::AddressSpace;

use crate::desc::{CcGranularity, CcInv, CcInvQw0, PcGranularity, PcInv, PcInvQw0};
use crate::structs::{ContextEntry, ContextQw0, ContextQw1};

use super::flush::iotlb;
use super::{Dev, RID_PASID, State, VtdDriver};

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// The context entry of a device with PASID directory `dir` of 2^(`pdts`+7) entries:
    /// present, device-TLB enabled with `ats`, PASIDs enabled when both sides have them,
    /// page requests off.
    pub(super) fn context_for(&self, dir: u64, pdts: u8, ats: bool, pasids: bool) -> ContextEntry {
        ContextEntry {
            qw0: ContextQw0::new()
                .with_p(true)
                .with_dte(ats)
                .with_paside(self.hw.ecap.pasid() && pasids)
                .with_pdts(pdts)
                .with_pasiddirptr(dir >> 12),
            qw1: ContextQw1::new().with_rid_pasid(RID_PASID),
            qw2: 0,
            qw3: 0,
        }
    }

    /// The invalidations after a change of `dev`'s context entry (Table 28): device-selective
    /// context cache, then per domain ID the device uses, domain-selective PASID cache and
    /// IOTLB, then the device-TLB of the function.
    pub(super) fn context_change_descs(&self, dev: &Dev) -> Vec<[u64; 4]> {
        let sid = dev.info.rid.source_id();
        let mut descs = vec![
            CcInv {
                qw0: CcInvQw0::new().with_g(CcGranularity::Device).with_sid(sid),
            }
            .to_words(),
        ];
        let mut dids: Vec<u16> = dev.entries.values().map(|p| p.did).collect();
        dids.sort_unstable();
        dids.dedup();
        for did in dids {
            descs.push(
                PcInv {
                    qw0: PcInvQw0::new().with_g(PcGranularity::Domain).with_did(did),
                }
                .to_words(),
            );
            descs.push(iotlb(&self.hw, did, None, false));
        }
        if dev.ats {
            descs.push(Self::dev_tlb_all(dev, RID_PASID));
        }
        descs
    }

    /// Turns page requests (context-entry PRE) of the device `id` on or off, as Linux does
    /// when the device's first attachment that takes I/O page faults comes and its last one
    /// goes; then the context-entry invalidations. Nothing happens when PRE already is `on`.
    pub(super) fn set_pre(
        &self,
        st: &mut State,
        id: softiommu_core::DeviceId,
        on: bool,
    ) -> Result<()> {
        let Some(d) = st.devices.get_mut(&id) else {
            return Err(CoreError::NoDevice(id));
        };
        if d.ctx.qw0.pre() == on {
            return Ok(());
        }
        if on && !d.pri {
            return Err(CoreError::NotSupported(
                "page requests for this device (ECAP.PRS, and PRI and ATS on the device)",
            ));
        }
        let ctx = ContextEntry {
            qw0: d.ctx.qw0.with_pre(on),
            ..d.ctx
        };
        // Only word 0 changes: one 64-bit store.
        self.mem.store_u64(d.ctx_at, ctx.qw0.into_bits())?;
        d.ctx = ctx;
        let descs = self.context_change_descs(d);
        // The change is made; a refused descriptor is recorded in `queue_errors`.
        let _ = self.run(st, &descs);
        Ok(())
    }
}
