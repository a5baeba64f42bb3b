//! The user's cache invalidations after it changed its stage-1 tables: VT-d entries on a
//! nested HWPT, SMMUv3 commands on a vIOMMU.

use std::sync::Arc;

use softiommu_core::{Domain, DomainKind, GuestCommand};

use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::hwpt::{Hwpt, HwptKind};
use crate::objects::Object;
use crate::viommu::Viommu;

/// `IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`: entries of `struct iommu_hwpt_vtd_s1_invalidate`.
pub const INVALIDATE_DATA_VTD_S1: u32 = 0;
/// `IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`: SMMUv3 commands of 16 bytes.
pub const INVALIDATE_DATA_ARM_SMMUV3: u32 = 1;
/// `IOMMU_VTD_INV_FLAGS_LEAF`: only leaf entries changed.
pub const VTD_INV_FLAGS_LEAF: u32 = 1;

/// One VT-d stage-1 invalidation (`struct iommu_hwpt_vtd_s1_invalidate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VtdInvalidation {
    /// First address, 4 KiB aligned.
    pub addr: u64,
    /// 4 KiB pages; `u64::MAX` with `addr` 0 is everything.
    pub npages: u64,
    /// [`VTD_INV_FLAGS_LEAF`].
    pub flags: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// A batch of invalidation entries, by data type.
#[derive(Clone, Copy, Debug)]
pub enum Invalidation<'a> {
    /// `IOMMU_HWPT_INVALIDATE_DATA_VTD_S1`.
    VtdS1(&'a [VtdInvalidation]),
    /// `IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3`: commands as two little-endian words.
    ArmSmmuv3(&'a [[u64; 2]]),
    /// A data type this interface does not know.
    Other(u32),
}

/// SMMUv3 opcodes a user may send, in bits 7:0 of word 0.
const CMD_CFGI_CD: u64 = 0x05;
const CMD_CFGI_CD_ALL: u64 = 0x06;
const CMD_TLBI_NH_ALL: u64 = 0x10;
const CMD_TLBI_NH_ASID: u64 = 0x11;
const CMD_TLBI_NH_VA: u64 = 0x12;
const CMD_TLBI_NH_VAA: u64 = 0x13;
const CMD_TLBI_NSNH_ALL: u64 = 0x30;
const CMD_ATC_INV: u64 = 0x40;

/// Invalidates what the instances cache of `hwpt`'s stage 1; an abort or bypass HWPT has
/// none.
fn flush_stage1(hwpt: &Hwpt) -> Result<()> {
    if matches!(hwpt.domain.kind(), DomainKind::Nested(_)) {
        hwpt.domain.invalidate_stage1().map_err(Error::from)?;
    }
    Ok(())
}

impl Context {
    /// `IOMMU_HWPT_INVALIDATE` on `id`, a nested VT-d HWPT or an SMMUv3 vIOMMU: carries out
    /// `data`'s entries in order and stops at the first one refused. `done` receives the
    /// number carried out, on failure too. An empty batch only checks its type. `EINVAL`
    /// for a data type the object does not take or an object that takes none; `EOPNOTSUPP`
    /// for unknown flags; SMMUv3 commands other than TLB, CD and ATC invalidations, or
    /// naming an unknown vSID, are `EIO`.
    pub fn hwpt_invalidate(&self, id: u32, data: Invalidation<'_>, done: &mut u32) -> Result<()> {
        *done = 0;
        match self.object(id)? {
            Object::Hwpt(h) => match (&h.kind, data) {
                (HwptKind::Nested { viommu: None, .. }, Invalidation::VtdS1(entries)) => {
                    vtd_entries(&h, entries, done)
                }
                (HwptKind::Nested { viommu: None, .. }, _) => {
                    err(libc::EINVAL, "a nested VT-d HWPT takes VT-d entries")
                }
                (HwptKind::Nested { .. }, _) => err(
                    libc::EOPNOTSUPP,
                    "a nested SMMUv3 HWPT is invalidated through its vIOMMU",
                ),
                (HwptKind::Paging { .. }, _) => err(libc::EINVAL, "not a nested HWPT"),
            },
            Object::Viommu(v) => match data {
                Invalidation::ArmSmmuv3(cmds) => smmu_commands(self, &v, cmds, done),
                _ => err(libc::EINVAL, "an SMMUv3 vIOMMU takes SMMUv3 commands"),
            },
            _ => err(libc::EINVAL, "not a nested HWPT or a vIOMMU"),
        }
    }
}

fn vtd_entries(hwpt: &Arc<Hwpt>, entries: &[VtdInvalidation], done: &mut u32) -> Result<()> {
    let mut result = Ok(());
    let mut n = 0u32;
    for e in entries {
        if e.flags & !VTD_INV_FLAGS_LEAF != 0 || e.reserved != 0 {
            result = err(libc::EOPNOTSUPP, "unknown invalidation flags");
            break;
        }
        if e.addr & 0xfff != 0 || (e.npages == u64::MAX && e.addr != 0) {
            result = err(
                libc::EINVAL,
                "address not 4 KiB aligned, or everything from a non-zero address",
            );
            break;
        }
        n += 1;
    }
    // One invalidation of the whole stage 1 covers every range asked for.
    if n > 0 {
        flush_stage1(hwpt)?;
    }
    *done = n;
    result
}

fn smmu_commands(ctx: &Context, viommu: &Viommu, cmds: &[[u64; 2]], done: &mut u32) -> Result<()> {
    let mut result = Ok(());
    let mut out = Vec::with_capacity(cmds.len());
    for c in cmds {
        let device = match c[0] & 0xff {
            CMD_TLBI_NH_ALL | CMD_TLBI_NH_ASID | CMD_TLBI_NH_VA | CMD_TLBI_NH_VAA
            | CMD_TLBI_NSNH_ALL => None,
            CMD_CFGI_CD | CMD_CFGI_CD_ALL | CMD_ATC_INV => {
                let vsid = c[0] >> 32;
                match viommu.vdevice(vsid) {
                    Some(v) => Some(v.device.id),
                    None => {
                        result = err(libc::EIO, "a command names a vSID of no virtual device");
                        break;
                    }
                }
            }
            _ => {
                result = err(libc::EIO, "a command a user may not send");
                break;
            }
        };
        out.push(GuestCommand { words: *c, device });
    }
    // The commands taken, issued by the driver with the host's IDs in place of the guest's.
    if !out.is_empty() {
        let domains: Vec<Arc<Domain>> = viommu
            .nested()
            .into_iter()
            .filter(|h| matches!(h.domain.kind(), DomainKind::Nested(_)))
            .map(|h| h.domain.clone())
            .collect();
        ctx.host()
            .iommu()
            .guest_invalidate(viommu.instance, &domains, &out)
            .map_err(|_| Error::new(libc::EIO, "the SMMU refused a command"))?;
    }
    *done = out.len() as u32;
    result
}
