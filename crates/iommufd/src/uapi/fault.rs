//! Fault-queue and event-queue commands, decoded from the kernel's structures.

use iommufd_bindings as k;

use super::Ucmd;
use crate::context::Context;
use crate::error::{Result, err};

pub(super) fn fault_queue_alloc(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_fault_alloc = u.cmd();
    if c.flags != 0 {
        return err(libc::EOPNOTSUPP, "fault queue flags must be 0");
    }
    let (id, fd) = ctx.fault_queue_alloc()?;
    c.out_fault_id = id;
    c.out_fault_fd = fd as u32;
    if let Err(e) = u.respond(ctx, &c) {
        // The descriptor never reached the caller: it goes with the object.
        let _ = ctx.destroy(id);
        // SAFETY: `fd` was made for this call and nobody else has seen it.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(0)
}

pub(super) fn veventq_alloc(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_veventq_alloc = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    let (id, fd) = ctx.veventq_alloc(c.viommu_id, c.type_, c.veventq_depth, c.flags)?;
    c.out_veventq_id = id;
    c.out_veventq_fd = fd as u32;
    if let Err(e) = u.respond(ctx, &c) {
        let _ = ctx.destroy(id);
        // SAFETY: `fd` was made for this call and nobody else has seen it.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(0)
}
