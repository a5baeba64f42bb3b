//! A driver that goes stops its SMMU — translation and every queue off, incoming
//! transactions aborted, as Linux's shutdown leaves it — and gives back every page of its
//! structures: the stream table, context-descriptor tables and the queues.

use crate::regs::Cr0;

use super::SmmuDriver;

impl Drop for SmmuDriver {
    fn drop(&mut self) {
        let stopped = self.set_gbpa_abort(true).is_ok() && self.write_cr0(Cr0::new()).is_ok();
        if !stopped {
            // The SMMU may still read them: better kept than reused under it.
            return;
        }
        let st = self.state.get_mut();
        let mut pages = st.strtab.pages();
        pages.extend(st.cmdq.pages());
        pages.push(st.evtq.pages());
        pages.extend(st.priq.as_ref().map(|q| q.pages()));
        for (pa, bytes) in pages {
            let _ = self.alloc.free(pa, bytes);
        }
        for d in st.devices.values() {
            if let Some(t) = &d.cd {
                t.free(&self.alloc);
            }
        }
    }
}
