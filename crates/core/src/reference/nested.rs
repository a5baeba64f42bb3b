//! Nested translation for the reference driver: the user's stage-1 tables live in the
//! parent's input space, so the stage-1 walk reads them through a view of memory that
//! translates every access through the parent domain.

use softiommu_mem::{AddressSpace, MappedSpace, MemError};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, FaultKind, Translation, WalkFault, walk};

use crate::domain::Domain;
use crate::ids::Pasid;
use crate::table::Mem;

pub(super) fn bad_config() -> WalkFault {
    WalkFault {
        kind: FaultKind::Reserved,
        level: 0,
        number: 0,
        entry: 0,
    }
}

/// Memory as the stage-1 walk sees it: an address is a parent input address, translated
/// through the parent for each access (reads need read rights, updates write rights).
struct Stage2View<'a> {
    mem: &'a Mem,
    parent: &'a Domain,
}

impl Stage2View<'_> {
    fn host(&self, ipa: u64, len: u64, write: bool) -> Result<u64, MemError> {
        let access = if write { Access::WRITE } else { Access::READ }.privileged();
        let out = MemError::OutOfRange { addr: ipa, len };
        let t = self
            .parent
            .with_table(|t| t.translate(ipa, access))
            .map_err(|_| out)?
            .map_err(|_| out)?;
        // The access must stay inside the parent's page.
        let room = t.page_size - (ipa & (t.page_size - 1));
        if len > room {
            return Err(out);
        }
        Ok(t.pa)
    }
}

impl<'a> Stage2View<'a> {
    /// Memory as the stage-1 walk sees it.
    fn space(&'a self) -> impl AddressSpace + 'a {
        MappedSpace::new(&**self.mem, move |ipa, len, write| {
            self.host(ipa, len, write)
        })
    }
}

/// The stage-1 root that entry `pasid` of the user's PASID table at `root` names (entry bit 0
/// valid, bits 63:12 the root).
pub(super) fn pasid_entry(
    mem: &Mem,
    parent: &Domain,
    root: u64,
    pasid: Pasid,
) -> Result<u64, WalkFault> {
    let view = Stage2View { mem, parent };
    let e = view
        .space()
        .load_u64(root + u64::from(pasid) * 8)
        .map_err(|e| WalkFault {
            kind: FaultKind::Fetch(e),
            level: 0,
            number: 0,
            entry: root,
        })?;
    if e & 1 == 0 {
        return Err(WalkFault {
            kind: FaultKind::Translation,
            level: 0,
            number: 0,
            entry: root,
        });
    }
    Ok(e & !0xfff)
}

/// The nested walk: stage 1 through the view, then the output through the parent with the
/// request's own access.
pub(super) fn translate(
    mem: &Mem,
    parent: &Domain,
    format: &AnyFormat,
    root: u64,
    iova: u64,
    access: Access,
) -> Result<Translation, WalkFault> {
    let view = Stage2View { mem, parent };
    let s1 = walk::translate(format, &view.space(), root, iova, access)?;
    let s2 = parent
        .with_table(|t| t.translate(s1.pa, access))
        .map_err(|_| bad_config())??;
    let size = s1.page_size.min(s2.page_size);
    Ok(Translation {
        pa: s2.pa,
        page_size: size,
        perm: s1.perm & s2.perm,
        pte: s1.pte,
        level: s1.level,
    })
}
