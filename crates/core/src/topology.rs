//! A description of the PCI topology, from which the core forms groups: devices the IOMMU
//! cannot tell apart or keep apart share one.

use crate::caps::DeviceCaps;
use crate::ids::{InstanceId, Rid};

/// A bridge devices can sit behind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bridge {
    /// The bridge enforces ACS: peer-to-peer between the devices below it goes upstream
    /// through the IOMMU. Without it, those devices can reach each other directly and share a
    /// group.
    pub acs: bool,
}

/// A device of the topology.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceDesc {
    /// Its requester ID.
    pub rid: Rid,
    /// The IOMMU instance it sits behind.
    pub instance: InstanceId,
    /// What it supports.
    pub caps: DeviceCaps,
    /// The bridge it sits behind (an index into [`Topology::bridges`]).
    pub bridge: Option<usize>,
    /// Another requester ID its requests may carry (a PCIe-to-PCI bridge, a DMA alias).
    pub alias: Option<Rid>,
}

/// Devices and bridges to add to the core in one step.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Topology {
    /// The bridges.
    pub bridges: Vec<Bridge>,
    /// The devices.
    pub devices: Vec<DeviceDesc>,
}

impl Topology {
    /// For each device, the index of the first device of its group: devices behind one
    /// bridge without ACS share a group, and so do devices whose requester IDs (or aliases)
    /// meet.
    pub(crate) fn group_leaders(&self) -> Vec<usize> {
        let n = self.devices.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        let ids = |d: &DeviceDesc| [Some(d.rid), d.alias];
        for i in 0..n {
            for j in 0..i {
                let (a, b) = (&self.devices[i], &self.devices[j]);
                let bridge = matches!((a.bridge, b.bridge), (Some(x), Some(y))
                    if x == y && self.bridges.get(x).is_some_and(|br| !br.acs));
                let alias = ids(a)
                    .iter()
                    .flatten()
                    .any(|r| ids(b).iter().flatten().any(|s| r == s));
                if bridge || alias {
                    let (ra, rb) = (find(&mut parent, i), find(&mut parent, j));
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        (0..n).map(|i| find(&mut parent, i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(bus: u8, d: u8, bridge: Option<usize>, alias: Option<Rid>) -> DeviceDesc {
        DeviceDesc {
            rid: Rid::new(0, bus, d, 0),
            instance: InstanceId(0),
            caps: DeviceCaps::default(),
            bridge,
            alias,
        }
    }

    #[test]
    fn bridges_without_acs_and_aliases_join_groups() {
        let t = Topology {
            bridges: vec![Bridge { acs: false }, Bridge { acs: true }],
            devices: vec![
                dev(1, 0, Some(0), None),
                dev(1, 1, Some(0), None),
                dev(2, 0, Some(1), None),
                dev(2, 1, Some(1), None),
                dev(3, 0, None, Some(Rid::new(0, 3, 9, 0))),
                dev(3, 1, None, Some(Rid::new(0, 3, 9, 0))),
                dev(4, 0, None, None),
            ],
        };
        assert_eq!(t.group_leaders(), vec![0, 0, 2, 3, 4, 4, 6]);
    }
}
