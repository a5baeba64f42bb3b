//! A driver that goes stops its unit — translation and queued invalidation off, the page
//! request queue taken away, as Linux's shutdown leaves a unit — and gives back every page
//! of its structures: root and context tables, PASID directories and tables, the queues.

use softiommu_mem::AddressSpace;

use super::{GCMD_QIE, GCMD_TE, GSTS_LEVELS, POLLS, VtdDriver};
use crate::regs::{GCMD_REG, GSTS_REG, PQA_REG, PQH_REG, PQT_REG};

impl<M: AddressSpace> Drop for VtdDriver<M> {
    fn drop(&mut self) {
        let gsts = || self.unit.mmio_read(GSTS_REG, 4) as u32;
        let off = gsts() & GSTS_LEVELS & !(GCMD_TE | GCMD_QIE);
        self.unit.mmio_write(GCMD_REG, 4, u64::from(off));
        let stopped = (0..POLLS).any(|_| gsts() & (GCMD_TE | GCMD_QIE) == 0);
        let st = self.state.get_mut();
        if let Some(prq) = st.prq.take() {
            for reg in [PQH_REG, PQT_REG, PQA_REG] {
                self.unit.mmio_write(reg, 8, 0);
            }
            let _ = self.alloc.free(prq.base, prq.size);
        }
        if !stopped {
            // The unit may still walk them: better kept than reused under it.
            return;
        }
        let mut pages = vec![
            (st.root, 4096),
            (st.queue.base, st.queue.size),
            (st.queue.status, 4096),
        ];
        pages.extend(st.ctx_tables.values().map(|&t| (t, 4096)));
        for d in st.devices.values() {
            pages.extend(d.tables.values().map(|&t| (t, 4096)));
            pages.push((d.dir, d.dir_bytes.max(4096)));
        }
        for (pa, size) in pages {
            let _ = self.alloc.free(pa, size);
        }
    }
}
