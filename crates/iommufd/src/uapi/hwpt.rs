//! HWPT, vIOMMU and hardware-information commands, decoded from the kernel's structures.

use iommufd_bindings as k;

use super::pod::{self, Pod};
use super::{Ucmd, read_user, write_user};
use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::hw_info::HW_INFO_FLAG_INPUT_TYPE;
use crate::hwpt::{HWPT_DATA_ARM_SMMUV3, HWPT_DATA_NONE, HWPT_DATA_VTD_S1, HwptData};
use crate::invalidate::{
    INVALIDATE_DATA_ARM_SMMUV3, INVALIDATE_DATA_VTD_S1, Invalidation, VtdInvalidation,
};

/// Entries of an invalidation read from the caller at a time.
const BATCH: u32 = 64;

/// Bytes of zeros written at a time.
const ZEROS: usize = 4096;

/// Reads a driver structure `T` of which the caller gives `len` bytes at `addr`, as the
/// kernel's `copy_struct_from_user` does: fewer than `min` bytes are `EINVAL`, bytes past
/// `T` must be zero (`E2BIG`), missing ones read as zero.
fn read_sized<T: Pod>(ctx: &Context, addr: u64, len: u64, min: usize) -> Result<T> {
    if len < min as u64 {
        return err(libc::EINVAL, "driver data shorter than its structure");
    }
    let size = std::mem::size_of::<T>();
    let mut b = vec![0u8; size];
    let have = size.min(usize::try_from(len).unwrap_or(usize::MAX));
    read_user(ctx, addr, &mut b[..have])?;
    ctx.check_zero_tail(addr, size as u64, len)?;
    Ok(pod::decode(&b))
}

/// Answers an allocation with its id; destroys the object if the answer cannot be written.
fn respond_or_destroy<T: Pod>(ctx: &Context, u: &Ucmd, c: &T, id: u32) -> Result<i64> {
    if let Err(e) = u.respond(ctx, c) {
        let _ = ctx.destroy(id);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn alloc(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_hwpt_alloc = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    if (c.data_type == HWPT_DATA_NONE) != (c.data_len == 0) {
        return err(
            libc::EINVAL,
            "driver data needs a data type, and a data type needs data",
        );
    }
    let len = u64::from(c.data_len);
    let data = match c.data_type {
        HWPT_DATA_NONE => HwptData::None,
        HWPT_DATA_VTD_S1 => {
            let s: k::iommu_hwpt_vtd_s1 = read_sized(ctx, c.data_uptr, len, 24)?;
            HwptData::VtdS1 {
                flags: s.flags,
                pgtbl_addr: s.pgtbl_addr,
                addr_width: s.addr_width,
            }
        }
        HWPT_DATA_ARM_SMMUV3 => {
            let s: k::iommu_hwpt_arm_smmuv3 = read_sized(ctx, c.data_uptr, len, 16)?;
            HwptData::ArmSmmuv3 {
                ste: s.ste.map(u64::from_le),
            }
        }
        crate::selftest::HWPT_DATA_SELFTEST => {
            let s: crate::selftest::HwptSelftest = read_sized(ctx, c.data_uptr, len, 4)?;
            HwptData::Selftest { iotlb: s.iotlb }
        }
        t => HwptData::Other(t),
    };
    let id = ctx.hwpt_alloc_with(c.dev_id, c.pt_id, c.flags, data)?;
    c.out_hwpt_id = id;
    respond_or_destroy(ctx, u, &c, id)
}

pub(super) fn get_hw_info(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_hw_info = u.cmd();
    if c.flags & !HW_INFO_FLAG_INPUT_TYPE != 0 || c.__reserved != [0; 3] {
        return err(libc::EOPNOTSUPP, "unknown flags or reserved field not zero");
    }
    // SAFETY: both members of the union are `u32`: any bits are a valid value of either.
    let in_type = unsafe { c.__bindgen_anon_1.in_data_type };
    let want = (c.flags & HW_INFO_FLAG_INPUT_TYPE != 0).then_some(in_type);
    let r = ctx.get_hw_info(c.dev_id, want)?;
    let user_len = c.data_len as usize;
    let copy = user_len.min(r.data.len());
    write_user(ctx, c.data_uptr, &r.data[..copy])?;
    // The rest of a larger buffer is zeroed.
    let zeros = [0u8; ZEROS];
    let mut at = copy;
    while at < user_len {
        let n = (user_len - at).min(ZEROS);
        let addr = c
            .data_uptr
            .checked_add(at as u64)
            .ok_or(Error::new(libc::EFAULT, "bad address"))?;
        write_user(ctx, addr, &zeros[..n])?;
        at += n;
    }
    c.data_len = r.data.len() as u32;
    c.__bindgen_anon_1.out_data_type = r.data_type;
    c.out_capabilities = r.capabilities;
    c.out_max_pasid_log2 = r.max_pasid_log2;
    u.respond(ctx, &c).map(|()| 0)
}

pub(super) fn set_dirty_tracking(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let c: k::iommu_hwpt_set_dirty_tracking = u.cmd();
    ctx.hwpt_set_dirty_tracking(c.hwpt_id, c.flags).map(|()| 0)
}

pub(super) fn get_dirty_bitmap(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let c: k::iommu_hwpt_get_dirty_bitmap = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    ctx.hwpt_get_dirty_bitmap(c.hwpt_id, c.flags, c.iova, c.length, c.page_size, c.data)
        .map(|()| 0)
}

pub(super) fn invalidate(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_hwpt_invalidate = u.cmd();
    let mut done = 0u32;
    let r = invalidate_entries(ctx, &c, &mut done);
    // The count of entries carried out goes back whatever happened.
    c.entry_num = done;
    u.respond(ctx, &c)
        .map_err(|_| Error::new(libc::EFAULT, "bad address"))?;
    r.map(|()| 0)
}

/// Reads and carries out the entries of `c` in batches, counting them in `done`.
fn invalidate_entries(ctx: &Context, c: &k::iommu_hwpt_invalidate, done: &mut u32) -> Result<()> {
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    if c.entry_num != 0 && (c.data_uptr == 0 || c.entry_len == 0) {
        return err(libc::EINVAL, "entries without an array or an entry length");
    }
    if c.data_type == crate::selftest::INVALIDATE_DATA_SELFTEST {
        let (uptr, len, num) = (c.data_uptr, c.entry_len, c.entry_num);
        return crate::selftest::invalidate(ctx, c.hwpt_id, uptr, len, num, done);
    }
    let mut first = 0u32;
    loop {
        let n = (c.entry_num - first).min(BATCH);
        let mut batch_done = 0;
        let (r, read) = match c.data_type {
            INVALIDATE_DATA_VTD_S1 => {
                let (entries, read) = read_entries(
                    ctx,
                    c,
                    first,
                    n,
                    24,
                    |e: k::iommu_hwpt_vtd_s1_invalidate| VtdInvalidation {
                        addr: e.addr,
                        npages: e.npages,
                        flags: e.flags,
                        reserved: e.__reserved,
                    },
                );
                let r =
                    ctx.hwpt_invalidate(c.hwpt_id, Invalidation::VtdS1(&entries), &mut batch_done);
                (r, read)
            }
            INVALIDATE_DATA_ARM_SMMUV3 => {
                let (cmds, read) = read_entries(
                    ctx,
                    c,
                    first,
                    n,
                    16,
                    |e: k::iommu_viommu_arm_smmuv3_invalidate| e.cmd.map(u64::from_le),
                );
                let r =
                    ctx.hwpt_invalidate(c.hwpt_id, Invalidation::ArmSmmuv3(&cmds), &mut batch_done);
                (r, read)
            }
            t => {
                let r = ctx.hwpt_invalidate(c.hwpt_id, Invalidation::Other(t), &mut batch_done);
                (r, Ok(()))
            }
        };
        *done += batch_done;
        r?;
        read?;
        first += n;
        if first >= c.entry_num {
            return Ok(());
        }
    }
}

/// Reads entries `first .. first + n` of `c`'s array as `T` (at least `min` bytes each),
/// stopping at the first that cannot be read: the entries read, and that error.
fn read_entries<T: Pod, E>(
    ctx: &Context,
    c: &k::iommu_hwpt_invalidate,
    first: u32,
    n: u32,
    min: usize,
    conv: impl Fn(T) -> E,
) -> (Vec<E>, Result<()>) {
    let mut out = Vec::with_capacity(n as usize);
    for i in first..first + n {
        let addr = u64::from(i)
            .checked_mul(u64::from(c.entry_len))
            .and_then(|off| c.data_uptr.checked_add(off));
        let Some(addr) = addr else {
            return (out, err(libc::EFAULT, "bad address"));
        };
        match read_sized::<T>(ctx, addr, u64::from(c.entry_len), min) {
            Ok(e) => out.push(conv(e)),
            Err(e) => return (out, Err(e)),
        }
    }
    (out, Ok(()))
}

pub(super) fn viommu_alloc(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_viommu_alloc = u.cmd();
    let id = ctx.viommu_alloc(c.dev_id, c.hwpt_id, c.type_, c.flags)?;
    c.out_viommu_id = id;
    respond_or_destroy(ctx, u, &c, id)
}

pub(super) fn vdevice_alloc(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_vdevice_alloc = u.cmd();
    let id = ctx.vdevice_alloc(c.viommu_id, c.dev_id, c.virt_id)?;
    c.out_vdevice_id = id;
    respond_or_destroy(ctx, u, &c, id)
}
