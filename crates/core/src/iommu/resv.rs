//! The IOVA ranges a device's domains must leave unmapped.

use super::Iommu;
use crate::driver::ReservedRegion;
use crate::error::Result;
use crate::ids::DeviceId;

impl Iommu {
    /// The IOVA ranges `dev`'s driver reserves (its interrupt window and the like), which
    /// an address space `dev` is attached to must not map.
    pub fn reserved_regions(&self, dev: DeviceId) -> Result<Vec<ReservedRegion>> {
        let st = self.state.read();
        let d = st.dev(dev)?;
        Ok(st.driver(d.info.instance)?.reserved_regions(&d.info))
    }
}
