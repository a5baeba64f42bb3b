//! Descriptor execution: checks, the operations, completion records, errors.

use super::desc::*;
use super::dma::{Bounce, CopyFault, DmaFault, DmaPort, DmaReq, crc32c_update};
use super::regs::{SwErr0, SwErr1};
use super::wq::{ExecCtx, Pending};

const PAGE: u64 = 4096;
/// Retries of one page after a page request said to retry.
const PRS_RETRIES: u32 = 4;

/// A software error for SWERR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SwErrInfo {
    pub error: u8,
    pub wq: u8,
    pub opcode: u8,
    pub pasid: u32,
    pub privileged: bool,
    pub batch: Option<u16>,
    pub write: bool,
    pub invalid_flags: u32,
    pub fault_addr: u64,
}

impl SwErrInfo {
    /// The four SWERR quadwords recording this error.
    pub fn to_regs(self) -> [u64; 4] {
        let q0 = SwErr0::new()
            .with_valid(true)
            .with_desc_valid(true)
            .with_wq_idx_valid(true)
            .with_batch(self.batch.is_some())
            .with_fault_rw(self.write)
            .with_privileged(self.privileged)
            .with_error(self.error)
            .with_wq_idx(self.wq)
            .with_operation(self.opcode)
            .with_pasid(self.pasid & 0xf_ffff);
        let q1 = SwErr1::new()
            .with_batch_idx(self.batch.unwrap_or(0))
            .with_invalid_flags(self.invalid_flags);
        [q0.into_bits(), q1.into_bits(), self.fault_addr, 0]
    }
}

/// What running descriptors leaves for the device to apply.
#[derive(Default)]
pub(crate) struct Effects {
    pub jobs: Vec<Pending>,
    pub irqs: Vec<u16>,
    pub swerrs: Vec<SwErrInfo>,
}

/// How an operation ended.
struct Done {
    rec: CompletionRecord,
}

fn status_rec(s: Status) -> Done {
    Done {
        rec: CompletionRecord::with_status(s),
    }
}

/// A data access fault while running, as bytes completed and the fault.
struct Fault {
    done: u32,
    addr: u64,
    write: bool,
}

struct Run<'a> {
    dma: &'a dyn DmaPort,
    req: DmaReq,
    bof: bool,
}

impl Run<'_> {
    fn retry<T>(
        &self,
        write: bool,
        mut f: impl FnMut() -> Result<T, DmaFault>,
    ) -> Result<T, DmaFault> {
        let mut tries = 0;
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e)
                    if self.bof
                        && e.recoverable
                        && tries < PRS_RETRIES
                        && self.dma.page_request(self.req, e.addr, write) =>
                {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.retry(false, || self.dma.read(self.req, addr, buf))
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), DmaFault> {
        self.retry(true, || self.dma.write(self.req, addr, buf))
    }

    /// A copy of `len` bytes, a refused piece retried as its own accesses would be.
    fn copy(&self, src: u64, dst: u64, len: u32) -> Result<(), CopyFault> {
        let mut buf = Bounce::default();
        let mut done = 0usize;
        let mut tries = [0u32; 2];
        loop {
            let at = |a: u64| a.wrapping_add(done as u64);
            let rest = len as usize - done;
            match self.dma.copy(self.req, at(src), at(dst), rest, &mut buf) {
                Ok(()) => return Ok(()),
                Err(e)
                    if self.bof
                        && e.fault.recoverable
                        && tries[usize::from(e.write)] < PRS_RETRIES
                        && self.dma.page_request(self.req, e.fault.addr, e.write) =>
                {
                    // A piece that went through resets the other side's count, as separate
                    // accesses would.
                    if e.done > 0 {
                        tries = [0; 2];
                    }
                    tries[usize::from(e.write)] += 1;
                    done += e.done;
                }
                Err(e) => {
                    return Err(CopyFault {
                        done: done + e.done,
                        ..e
                    });
                }
            }
        }
    }
}

/// The largest step from `done` that crosses no page boundary of any of `addrs`.
fn step(len: u32, done: u32, addrs: &[u64]) -> usize {
    let mut n = u64::from(len - done);
    for a in addrs {
        let at = a.wrapping_add(u64::from(done));
        n = n.min(PAGE - (at & (PAGE - 1)));
    }
    n as usize
}

/// The flags an operation accepts; `inner` is for a descriptor within a batch.
fn allowed_flags(op: Opcode, inner: bool) -> u32 {
    let base = DescFlags::new()
        .with_fence(inner)
        .with_block_on_fault(true)
        .with_crav(true)
        .with_rcr(true)
        .with_rci(true)
        .with_tcs(0xf);
    let f = match op {
        Opcode::Noop | Opcode::Drain => base.with_block_on_fault(false).with_tcs(0),
        Opcode::Batch => base.with_tcs(0),
        Opcode::Compare | Opcode::ComparePattern => base.with_check_result(true),
        Opcode::MemMove | Opcode::MemFill | Opcode::Dualcast | Opcode::CacheFlush => {
            base.with_cache_control(true)
        }
        Opcode::CrcGen => base.with_op_specific(CRC_FLAG_READ_SEED),
    };
    f.into_bits()
}

/// Bytes of the operation-specific area an operation uses.
fn op_specific_used(op: Opcode, d: &Descriptor) -> usize {
    match op {
        Opcode::Compare | Opcode::ComparePattern => 1,
        Opcode::Dualcast => 8,
        Opcode::CrcGen if d.flags().op_specific() & CRC_FLAG_READ_SEED != 0 => 16,
        Opcode::CrcGen => 4,
        _ => 0,
    }
}

/// Checks a descriptor; `Err` is the record of its error.
fn check(ctx: &ExecCtx, d: &Descriptor, inner: bool) -> Result<Opcode, Done> {
    let n = d.header.opcode();
    let enabled = ctx.op_config[usize::from(n) / 64] & (1 << (n % 64)) != 0;
    let op = match Opcode::from_u8(n) {
        Some(op) if enabled => op,
        _ => return Err(status_rec(Status::BadOpcode)),
    };
    if inner && matches!(op, Opcode::Batch | Opcode::Drain) {
        return Err(status_rec(Status::BadOpcode));
    }
    let flags = d.header.flags();
    let bad = flags & !allowed_flags(op, inner);
    let f = d.flags();
    if bad != 0 || (f.rcr() && !f.crav()) {
        let mut done = status_rec(Status::InvalidFlags);
        done.rec
            .set_invalid_flags(if bad != 0 { bad } else { flags });
        return Err(done);
    }
    let used = op_specific_used(op, d);
    if d.header.rsvd() != 0 || d.rsvd != 0 || d.op_specific[used..].iter().any(|&b| b != 0) {
        return Err(status_rec(Status::NonzeroReserved));
    }
    if f.rci() && d.int_handle >= ctx.vectors {
        return Err(status_rec(Status::IntHandleInvalid));
    }
    if ctx.privileged && !ctx.priv_allowed {
        return Err(status_rec(Status::PrivBad));
    }
    let len = u64::from(d.xfer_size);
    match op {
        Opcode::Noop | Opcode::Drain => {}
        Opcode::Batch => {
            if d.xfer_size < 2 || d.xfer_size > ctx.max_batch {
                return Err(status_rec(Status::DescCountErange));
            }
            if !d.addr1.is_multiple_of(DESC_SIZE as u64) {
                return Err(status_rec(Status::DescListAlign));
            }
        }
        _ => {
            if len == 0 || len > ctx.max_xfer {
                return Err(status_rec(Status::XferErange));
            }
        }
    }
    let overlap = |a: u64, b: u64| {
        let (a, b, n) = (u128::from(a), u128::from(b), u128::from(len));
        a < b + n && b < a + n
    };
    match op {
        Opcode::MemMove if overlap(d.addr1, d.addr2) => Err(status_rec(Status::OverlapBuffers)),
        Opcode::Dualcast if (d.addr2 ^ d.dest2()) & 0xfff != 0 => {
            Err(status_rec(Status::DualcastAlign))
        }
        Opcode::Dualcast
            if overlap(d.addr1, d.addr2)
                || overlap(d.addr1, d.dest2())
                || overlap(d.addr2, d.dest2()) =>
        {
            Err(status_rec(Status::OverlapBuffers))
        }
        _ => Ok(op),
    }
}

/// Runs one descriptor submitted to a WQ.
pub(crate) fn execute(dma: &dyn DmaPort, ctx: &ExecCtx, d: &Descriptor) -> Effects {
    let mut fx = Effects::default();
    run_one(dma, ctx, d, None, &mut fx);
    fx
}

/// Runs a descriptor (`batch` is its index within a batch) and reports it; returns its status.
fn run_one(
    dma: &dyn DmaPort,
    ctx: &ExecCtx,
    d: &Descriptor,
    batch: Option<u16>,
    fx: &mut Effects,
) -> u8 {
    let f = d.flags();
    let swerr = |error: u8| SwErrInfo {
        error,
        wq: ctx.wq,
        opcode: d.header.opcode(),
        pasid: ctx.pasid.unwrap_or(0),
        privileged: ctx.privileged,
        batch,
        ..SwErrInfo::default()
    };
    if f.crav() && !d.completion_addr.is_multiple_of(COMPLETION_ALIGN) {
        fx.swerrs.push(swerr(Status::CrAddrAlign as u8));
        return Status::CrAddrAlign as u8;
    }
    let req = DmaReq {
        pasid: ctx.pasid,
        privileged: ctx.privileged,
        ats: ctx.ats,
        prs: ctx.prs,
    };
    let run = Run {
        dma,
        req,
        bof: ctx.bof && f.block_on_fault(),
    };
    let done = match check(ctx, d, batch.is_some()) {
        Err(e) => e,
        Ok(op) => operate(&run, ctx, op, d, fx),
    };
    let st = done.rec.status_code();
    let ok = st == Status::Success as u8;
    if f.crav() && (f.rcr() || !ok) {
        // Everything but the status byte first, so a poller sees a whole record.
        let b = done.rec.to_bytes();
        let wrote = dma
            .write(req, d.completion_addr.wrapping_add(1), &b[1..])
            .and_then(|()| dma.write(req, d.completion_addr, &b[..1]));
        if let Err(e) = wrote {
            let mut s = swerr(Status::CrAddrTranslation as u8);
            s.fault_addr = e.addr;
            s.write = true;
            fx.swerrs.push(s);
        }
    } else if !ok && st != Status::SuccessPred as u8 {
        let mut s = swerr(st);
        s.fault_addr = done.rec.fault_addr;
        s.write = done.rec.fault_info & 1 != 0;
        s.invalid_flags = done.rec.invalid_flags();
        fx.swerrs.push(s);
    }
    if f.rci() && d.int_handle < ctx.vectors {
        fx.irqs.push(d.int_handle);
    }
    st
}

fn fault_rec(run: &Run<'_>, f: Fault) -> Done {
    let mut rec = CompletionRecord::with_status(if run.bof {
        Status::PageFaultIr
    } else {
        Status::PageFaultNoBof
    });
    rec.bytes_completed = f.done;
    rec.fault_addr = f.addr;
    rec.fault_info = u8::from(f.write);
    Done { rec }
}

fn operate(run: &Run<'_>, ctx: &ExecCtx, op: Opcode, d: &Descriptor, fx: &mut Effects) -> Done {
    let len = d.xfer_size;
    let mut rec = CompletionRecord::with_status(Status::Success);
    let fault = |done: u32, e: DmaFault, write: bool| Fault {
        done,
        addr: e.addr,
        write,
    };
    let res: Result<(), Fault> = (|| {
        match op {
            Opcode::Noop | Opcode::Drain | Opcode::CacheFlush => {}
            Opcode::Batch => return run_batch(run, ctx, d, &mut rec, fx),
            Opcode::MemMove => {
                // One copy from source to destination, whole translated runs at a time.
                run.copy(d.addr1, d.addr2, len)
                    .map_err(|e| fault(e.done as u32, e.fault, e.write))?;
            }
            Opcode::Dualcast => {
                let dst2 = d.dest2();
                let mut buf = [0u8; PAGE as usize];
                let mut done = 0u32;
                while done < len {
                    let n = step(len, done, &[d.addr1, d.addr2, dst2]);
                    let at = |a: u64| a.wrapping_add(u64::from(done));
                    run.read(at(d.addr1), &mut buf[..n])
                        .map_err(|e| fault(done, e, false))?;
                    run.write(at(d.addr2), &buf[..n])
                        .map_err(|e| fault(done, e, true))?;
                    run.write(at(dst2), &buf[..n])
                        .map_err(|e| fault(done, e, true))?;
                    done += n as u32;
                }
            }
            Opcode::MemFill => {
                let pat = d.addr1.to_le_bytes();
                let mut buf = [0u8; PAGE as usize];
                let mut done = 0u32;
                while done < len {
                    let n = step(len, done, &[d.addr2]);
                    for (i, b) in buf[..n].iter_mut().enumerate() {
                        *b = pat[(done as usize + i) % 8];
                    }
                    let at = d.addr2.wrapping_add(u64::from(done));
                    run.write(at, &buf[..n]).map_err(|e| fault(done, e, true))?;
                    done += n as u32;
                }
            }
            Opcode::Compare | Opcode::ComparePattern => {
                let pat = d.addr2.to_le_bytes();
                let (mut buf, mut buf2) = ([0u8; PAGE as usize], [0u8; PAGE as usize]);
                let mut done = 0u32;
                while done < len {
                    let two = op == Opcode::Compare;
                    let src2 = if two { d.addr2 } else { d.addr1 };
                    let n = step(len, done, &[d.addr1, src2]);
                    let at = |a: u64| a.wrapping_add(u64::from(done));
                    run.read(at(d.addr1), &mut buf[..n])
                        .map_err(|e| fault(done, e, false))?;
                    if two {
                        run.read(at(d.addr2), &mut buf2[..n])
                            .map_err(|e| fault(done, e, false))?;
                    } else {
                        for (i, b) in buf2[..n].iter_mut().enumerate() {
                            *b = pat[(done as usize + i) % 8];
                        }
                    }
                    if let Some(i) = (0..n).find(|&i| buf[i] != buf2[i]) {
                        rec.result = 1;
                        rec.bytes_completed = done + i as u32;
                        break;
                    }
                    done += n as u32;
                }
                if d.flags().check_result() && rec.result != d.expected_result() & 1 {
                    rec.status = Status::SuccessPred as u8;
                }
            }
            Opcode::CrcGen => {
                let mut seed = d.crc_seed();
                if d.flags().op_specific() & CRC_FLAG_READ_SEED != 0 {
                    let mut s = [0u8; 4];
                    let a = d.crc_seed_addr();
                    run.read(a, &mut s).map_err(|e| fault(0, e, false))?;
                    seed = u32::from_le_bytes(s);
                }
                let mut crc = !seed;
                let mut buf = [0u8; PAGE as usize];
                let mut done = 0u32;
                while done < len {
                    let n = step(len, done, &[d.addr1]);
                    let at = d.addr1.wrapping_add(u64::from(done));
                    run.read(at, &mut buf[..n])
                        .map_err(|e| fault(done, e, false))?;
                    crc = crc32c_update(crc, &buf[..n]);
                    done += n as u32;
                }
                rec.set_crc_value(!crc);
            }
        }
        Ok(())
    })();
    match res {
        Ok(()) => Done { rec },
        Err(f) if op == Opcode::Batch => {
            let mut rec = CompletionRecord::with_status(Status::BatchPageFault);
            rec.fault_addr = f.addr;
            Done { rec }
        }
        Err(f) => fault_rec(run, f),
    }
}

/// Fetches a batch's descriptor list and runs its descriptors in order.
fn run_batch(
    run: &Run<'_>,
    ctx: &ExecCtx,
    d: &Descriptor,
    rec: &mut CompletionRecord,
    fx: &mut Effects,
) -> Result<(), Fault> {
    let count = d.xfer_size as usize;
    let mut list = vec![0u8; count * DESC_SIZE];
    let mut at = 0usize;
    while at < list.len() {
        let a = d.addr1.wrapping_add(at as u64);
        let n = (list.len() - at).min((PAGE - (a & (PAGE - 1))) as usize);
        run.read(a, &mut list[at..at + n]).map_err(|e| Fault {
            done: 0,
            addr: e.addr,
            write: false,
        })?;
        at += n;
    }
    let mut failed = false;
    let mut completed = 0u32;
    for (i, raw) in list.chunks_exact(DESC_SIZE).enumerate() {
        let mut b = [0u8; DESC_SIZE];
        b.copy_from_slice(raw);
        let inner = Descriptor::from_bytes(&b);
        if inner.flags().fence() && failed {
            break;
        }
        let st = run_one(run.dma, ctx, &inner, Some(i as u16), fx);
        failed |= st != Status::Success as u8;
        completed += 1;
    }
    rec.bytes_completed = completed;
    if failed {
        rec.status = Status::BatchFail as u8;
    }
    Ok(())
}
