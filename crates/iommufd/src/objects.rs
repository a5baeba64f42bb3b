//! A context's object table: ids from 1, lowest free id first, and destruction refused while
//! anything else holds the object.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::device::Device;
use crate::error::{Result, err};
use crate::fault::FaultQueue;
use crate::hwpt::Hwpt;
use crate::ioas::Ioas;
use crate::viommu::{Vdevice, Viommu};

/// An object a context owns.
#[derive(Clone)]
pub(crate) enum Object {
    /// An IO address space.
    Ioas(Arc<Ioas>),
    /// A hardware page table.
    Hwpt(Arc<Hwpt>),
    /// A bound device.
    Device(Arc<Device>),
    /// A virtual IOMMU.
    Viommu(Arc<Viommu>),
    /// A device's virtual id in a vIOMMU.
    Vdevice(Arc<Vdevice>),
    /// A bound mdev.
    Mdev(Arc<crate::vfio::MdevBinding>),
    /// A mock device of the test channel (`IOMMU_TEST_OP_MOCK_DOMAIN`).
    Selftest(Arc<crate::selftest::MockDev>),
    /// A fault queue.
    Fault(Arc<FaultQueue>),
    /// A vIOMMU's event queue.
    Veventq(Arc<crate::veventq::Veventq>),
}

impl Object {
    /// Whether anything but the table holds the object.
    fn in_use(&self) -> bool {
        match self {
            Object::Ioas(a) => Arc::strong_count(a) > 1,
            Object::Hwpt(h) => Arc::strong_count(h) > 1,
            Object::Device(d) => Arc::strong_count(d) > 1,
            Object::Viommu(v) => Arc::strong_count(v) > 1,
            Object::Vdevice(v) => Arc::strong_count(v) > 1,
            Object::Mdev(m) => Arc::strong_count(m) > 1,
            Object::Selftest(s) => Arc::strong_count(s) > 1,
            Object::Fault(f) => Arc::strong_count(f) > 1,
            Object::Veventq(q) => Arc::strong_count(q) > 1,
        }
    }
}

/// The objects of a context, by id.
#[derive(Default)]
pub(crate) struct Objects {
    map: BTreeMap<u32, Object>,
    /// Ids of objects destroyed with another (a device's virtual devices): they name
    /// nothing (`ENOENT`) and are not given out again.
    tombs: std::collections::BTreeSet<u32>,
}

impl Objects {
    /// Adds `obj` under the lowest free id (from 1).
    pub(crate) fn insert(&mut self, obj: Object) -> Result<u32> {
        let mut id = 1u32;
        while self.map.contains_key(&id) || self.tombs.contains(&id) {
            id = match id.checked_add(1) {
                Some(n) if n <= i32::MAX as u32 => n,
                _ => return err(libc::ENOSPC, "no object id left"),
            };
        }
        self.map.insert(id, obj);
        Ok(id)
    }

    /// Removes object `id` without the in-use check, leaving its id a tombstone.
    pub(crate) fn tombstone(&mut self, id: u32) -> Option<Object> {
        let o = self.map.remove(&id)?;
        self.tombs.insert(id);
        Some(o)
    }

    /// The ids of the objects `f` selects.
    pub(crate) fn ids_where(&self, f: impl Fn(&Object) -> bool) -> Vec<u32> {
        self.map
            .iter()
            .filter(|(_, o)| f(o))
            .map(|(&id, _)| id)
            .collect()
    }

    /// The object `id`.
    pub(crate) fn get(&self, id: u32) -> Result<&Object> {
        self.map.get(&id).ok_or(crate::error::Error::new(
            libc::ENOENT,
            "no object with that id",
        ))
    }

    /// Removes object `id`: `ENOENT` if there is none, `EBUSY` while it is in use.
    pub(crate) fn remove(&mut self, id: u32) -> Result<Object> {
        match self.map.get(&id) {
            None => err(libc::ENOENT, "no object with that id"),
            Some(o) if o.in_use() => err(libc::EBUSY, "the object is in use"),
            Some(_) => self.map.remove(&id).ok_or(crate::error::Error::new(
                libc::ENOENT,
                "no object with that id",
            )),
        }
    }

    /// Takes object `id` out whoever else holds it (a mock device's bound device, which
    /// goes with it).
    pub(crate) fn take(&mut self, id: u32) -> Option<Object> {
        self.map.remove(&id)
    }

    /// Whether any object satisfies `f`.
    pub(crate) fn any(&self, f: impl Fn(&Object) -> bool) -> bool {
        self.map.values().any(f)
    }

    /// The id of the first object that satisfies `f`.
    pub(crate) fn find(&self, f: impl Fn(&Object) -> bool) -> Option<u32> {
        self.map.iter().find(|(_, o)| f(o)).map(|(&id, _)| id)
    }

    /// Whether the table holds no object.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of objects.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

impl Objects {
    /// Drops every object, the newest first.
    pub(crate) fn clear_in_reverse(&mut self) {
        while let Some((_, obj)) = self.map.pop_last() {
            drop(obj);
        }
    }
}

impl Objects {
    /// The automatic HWPTs over `ioas`, by id.
    pub(crate) fn auto_hwpts(&self, ioas: &Arc<Ioas>) -> Vec<(u32, Arc<Hwpt>)> {
        self.map
            .iter()
            .filter_map(|(&id, o)| match o {
                Object::Hwpt(h) if h.auto && h.ioas().is_some_and(|a| Arc::ptr_eq(a, ioas)) => {
                    Some((id, h.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Takes out the automatic HWPTs no device uses any more.
    pub(crate) fn take_unused_auto(&mut self) -> Vec<Object> {
        let ids: Vec<u32> = self
            .map
            .iter()
            .filter(|(_, o)| matches!(o, Object::Hwpt(h) if h.auto && Arc::strong_count(h) == 1))
            .map(|(&id, _)| id)
            .collect();
        ids.iter().filter_map(|id| self.map.remove(id)).collect()
    }
}
