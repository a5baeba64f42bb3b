//! Running a cell: one host, two guests, each given a device of the same parent (two
//! functions of one engine, or two mdevs of one function) by the cell's mechanism. Guest A
//! moves a pattern and a timed run of moves; guest B's device, given A's device addresses,
//! must reach none of A's bytes; a move to an address A unmapped must fault, and the fault
//! must reach A's own IOMMU queue.

use std::time::{Duration, Instant};

use softiommu_devices::dsa::{CompletionRecord, Status};
use vm_memory::{Bytes, GuestAddress};

use super::{Cell, GUEST_RAM, assign};
use crate::assign::{Assigned, Column, Counts};
use crate::{Error, Guest, HostRig, Result};

const PAGE: u64 = 4096;
/// Guest-physical buffers: source, destination, completion record, and a page the guest
/// maps and unmaps again.
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const SCRATCH: u64 = 0x40_0000;
/// The size mapped for the source and the destination.
const BUF: u64 = 0x2_0000;
/// The pattern moved and checked: three pages and a bit, to a destination 8 bytes in.
const LEN: u32 = 3 * 4096 + 100;
const DST_OFF: u64 = 8;
/// The timed run: this many moves of this many bytes.
const RUNS: u32 = 64;
const RUN_LEN: u32 = 64 << 10;
/// With a vIOMMU, where each guest maps its buffers: IOVA = base + guest-physical address.
const IOVA_A: u64 = 0x7000_0000;
const IOVA_B: u64 = 0x5000_0000;
/// Without one, a guest-physical address past the guest's RAM.
const OUTSIDE_RAM: u64 = 1 << 32;

/// What a cell came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// The bytes and the isolation held, but the unmapped DMA's fault did not reach the
    /// guest's IOMMU queue, for the reason given (the mechanism cannot carry it).
    Partial(String),
    /// A check failed: why.
    Fail(String),
    /// The hardware cannot do it: why, and the host's refusal of the attempt with its
    /// errno.
    Impossible {
        /// Why the hardware cannot.
        why: String,
        /// The host call refused.
        call: String,
        /// The host's refusal as its error says it.
        refusal: String,
        /// The refusal's errno.
        errno: i32,
    },
}

impl Verdict {
    /// The verdict's one word: `pass`, `partial`, `FAIL`, `impossible`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Partial(_) => "partial",
            Verdict::Fail(_) => "FAIL",
            Verdict::Impossible { .. } => "impossible",
        }
    }

    /// Whether the verdict is a failure.
    pub fn failed(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }
}

/// A cell's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The cell and mechanism.
    pub cell: Cell,
    /// What it came to.
    pub verdict: Verdict,
    /// Bytes of guest memory compared with what they should hold.
    pub bytes_checked: u64,
    /// What guest B's device found at guest A's addresses: `faults`, or `own RAM` where
    /// they are B's own RAM too (without a vIOMMU).
    pub isolation: String,
    /// Where the unmapped DMA's fault was seen, in words.
    pub faults: String,
    /// Guest A's invalidation counts at the end.
    pub counts: Counts,
    /// Bytes per second of the timed run of moves.
    pub throughput: Option<f64>,
    /// How long the cell took.
    pub elapsed: Duration,
}

impl Outcome {
    /// Host invalidations per guest invalidation, when the guest made any.
    pub fn host_per_guest(&self) -> Option<f64> {
        let c = self.counts;
        (c.guest_invalidations > 0)
            .then(|| c.host_invalidations as f64 / c.guest_invalidations as f64)
    }
}

/// Runs `cells` one after the other, calling `progress` with the index, the count and the
/// cell before each.
pub fn run(cells: &[Cell], mut progress: impl FnMut(usize, usize, &Cell)) -> Vec<Outcome> {
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            progress(i, cells.len(), c);
            run_cell(c)
        })
        .collect()
}

/// Runs one cell on a host of its own.
pub fn run_cell(cell: &Cell) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome {
        cell: *cell,
        verdict: Verdict::Pass,
        bytes_checked: 0,
        isolation: String::new(),
        faults: String::new(),
        counts: Counts::default(),
        throughput: None,
        elapsed: Duration::ZERO,
    };
    out.verdict = match checks(cell, &mut out) {
        Ok(v) => v,
        // A check that did not hold says why itself; any other error is the call's.
        Err(Error::Device(why)) => Verdict::Fail(why),
        Err(e) => Verdict::Fail(e.to_string()),
    };
    out.elapsed = start.elapsed();
    out
}

/// A check that did not hold: the cell fails with this.
fn fail<T>(why: String) -> Result<T> {
    Err(Error::Device(why))
}

/// The checks of one cell, filling in `out` as they go.
fn checks(cell: &Cell, out: &mut Outcome) -> Result<Verdict> {
    let rig = HostRig::new(cell.row.iommu)?;
    let (ga, gb) = (Guest::new(&[GUEST_RAM])?, Guest::new(&[GUEST_RAM])?);
    let a = match (assign(&rig, &ga, 0, cell), cell.impossible) {
        (Err(e), Some(no)) => {
            return Ok(Verdict::Impossible {
                why: no.why.into(),
                call: no.call.into(),
                refusal: e.to_string(),
                errno: e.errno(),
            });
        }
        (Err(e), None) => return fail(format!("assigning guest A's device: {e}")),
        (Ok(_), Some(no)) => {
            return fail(format!("the host accepted {} ({})", no.call, no.why));
        }
        (Ok(a), None) => a,
    };
    let b = match assign(&rig, &gb, 1, cell) {
        Ok(b) => b,
        Err(e) => return fail(format!("assigning guest B's device: {e}")),
    };
    let direct = cell.column == Column::NoViommu;
    let mut a = Side::new(a, if direct { 0 } else { IOVA_A })?;
    let mut b = Side::new(b, if direct { 0 } else { IOVA_B })?;
    let pattern = pattern(0x5a, BUF as usize);
    write(a.guest(), SRC, &pattern)?;
    out.bytes_checked += a.pattern_move(&pattern)?;
    let (bytes, rate) = a.timed_run(&pattern)?;
    out.bytes_checked += bytes;
    out.throughput = Some(rate);
    let (bytes, isolated) = isolation(&mut a, &mut b, &pattern)?;
    out.bytes_checked += bytes;
    out.isolation = isolated.into();
    let (bytes, verdict, seen) = a.unmapped_fault(direct)?;
    out.bytes_checked += bytes;
    out.faults = seen;
    out.counts = a.dev.counts();
    Ok(verdict)
}

/// One guest's side: its assigned device and where its buffers are in device addresses.
struct Side {
    dev: Box<dyn Assigned>,
    base: u64,
}

impl Side {
    /// Maps the guest's buffers for its device: the source read-only, the destination and
    /// the completion record writable.
    fn new(mut dev: Box<dyn Assigned>, base: u64) -> Result<Side> {
        dev.map(base + SRC, SRC, BUF, false)?;
        dev.map(base + DST, DST, BUF, true)?;
        dev.map(base + CR, CR, PAGE, true)?;
        Ok(Side { dev, base })
    }

    fn guest(&self) -> &Guest {
        self.dev.guest()
    }

    fn iova(&self, gpa: u64) -> u64 {
        self.base + gpa
    }

    fn mv(&mut self, src: u64, dst: u64, len: u32) -> Result<CompletionRecord> {
        let cr = self.iova(CR);
        self.dev.memmove(src, dst, len, cr)
    }

    /// The pattern moved 8 bytes into the destination: the bytes land, and the bytes beside
    /// them do not change. Returns the bytes compared.
    fn pattern_move(&mut self, pattern: &[u8]) -> Result<u64> {
        write(self.guest(), DST, &vec![0u8; BUF as usize])?;
        let r = self.mv(self.iova(SRC), self.iova(DST) + DST_OFF, LEN)?;
        if r.status != Status::Success as u8 {
            return fail(format!("guest A's move: {r:?}"));
        }
        let got = read(self.guest(), DST, LEN as usize + 2 * DST_OFF as usize)?;
        let (before, rest) = got.split_at(DST_OFF as usize);
        let (moved, after) = rest.split_at(LEN as usize);
        if moved != &pattern[..LEN as usize] {
            return fail("guest A's move: the destination does not hold the source".into());
        }
        if before.iter().chain(after).any(|&x| x != 0) {
            return fail("guest A's move wrote beside its destination".into());
        }
        Ok(got.len() as u64)
    }

    /// The timed run: [`RUNS`] moves of [`RUN_LEN`] bytes; the last one's bytes checked.
    /// Returns the bytes compared and the bytes moved per second.
    fn timed_run(&mut self, pattern: &[u8]) -> Result<(u64, f64)> {
        let (src, dst) = (self.iova(SRC), self.iova(DST));
        // One move first, so that the run finds the translations cached.
        self.mv(src, dst, RUN_LEN)?;
        let start = Instant::now();
        for _ in 0..RUNS {
            let r = self.mv(src, dst, RUN_LEN)?;
            if r.status != Status::Success as u8 {
                return fail(format!("guest A's timed move: {r:?}"));
            }
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let got = read(self.guest(), DST, RUN_LEN as usize)?;
        if got != pattern[..RUN_LEN as usize] {
            return fail("guest A's timed moves: the destination does not hold the source".into());
        }
        Ok((got.len() as u64, f64::from(RUNS * RUN_LEN) / secs))
    }

    /// A move to an address the guest does not map (one it mapped and unmapped again, with
    /// a vIOMMU): it faults at that address and writes nothing, and the fault is in the
    /// guest's IOMMU queue. Returns the bytes compared, the verdict and where the fault was
    /// seen.
    fn unmapped_fault(&mut self, direct: bool) -> Result<(u64, Verdict, String)> {
        let target = if direct {
            OUTSIDE_RAM
        } else {
            let at = self.iova(SCRATCH);
            self.dev.map(at, SCRATCH, PAGE, true)?;
            self.dev.unmap(at, PAGE)?;
            at
        };
        write(self.guest(), SCRATCH, &vec![0u8; PAGE as usize])?;
        let _ = self.dev.faults();
        let r = self.mv(self.iova(SRC), target, PAGE as u32)?;
        let faulted = [Status::PageFaultNoBof as u8, Status::PageFaultIr as u8];
        if !faulted.contains(&r.status) || r.fault_addr != target {
            return fail(format!(
                "a move to unmapped {target:#x} did not fault there: {r:?}"
            ));
        }
        let scratch = read(self.guest(), SCRATCH, PAGE as usize)?;
        if scratch.iter().any(|&x| x != 0) {
            return fail("a move to an unmapped address wrote the page once mapped there".into());
        }
        let bytes = PAGE;
        let faults = self.dev.faults();
        let page = target & !(PAGE - 1);
        if let Some(f) = faults.iter().find(|f| f.addr & !(PAGE - 1) == page) {
            let seen = format!("{} in guest queue ({})", faults.len(), f.reason);
            return Ok((bytes, Verdict::Pass, seen));
        }
        let Some(why) = self.dev.undelivered_faults().map(str::to_owned) else {
            return fail(format!(
                "the fault at {target:#x} is not in the guest's IOMMU queue ({} there)",
                faults.len()
            ));
        };
        if direct {
            return Ok((
                bytes,
                Verdict::Pass,
                "completion record (no guest queue)".into(),
            ));
        }
        Ok((
            bytes,
            Verdict::Partial(why),
            "completion record only".into(),
        ))
    }
}

/// Guest B's device given guest A's device addresses reaches none of A's bytes: a read from
/// A's source and a write to A's destination each fault, or reach B's own memory; A's
/// memory does not change. Returns the bytes compared and which it was.
fn isolation(a: &mut Side, b: &mut Side, mine: &[u8]) -> Result<(u64, &'static str)> {
    let theirs = pattern(0xc3, BUF as usize);
    write(b.guest(), SRC, &theirs)?;
    write(b.guest(), DST, &vec![0u8; BUF as usize])?;
    let a_before = (
        read(a.guest(), SRC, BUF as usize)?,
        read(a.guest(), DST, BUF as usize)?,
    );
    let ok = |r: &CompletionRecord| r.status == Status::Success as u8;
    // B reads at A's source address into its own destination.
    let r = b.mv(a.iova(SRC), b.iova(DST), LEN)?;
    let got = read(b.guest(), DST, LEN as usize)?;
    if got == mine[..LEN as usize] {
        return fail("guest B's device read guest A's bytes".into());
    }
    // Where B maps nothing at A's addresses, its moves there must fault.
    let shared = a.base == b.base;
    if ok(&r) && (!shared || got != theirs[..LEN as usize]) {
        return fail(format!(
            "guest B's read at guest A's address completed without bringing B's own bytes: {r:?}"
        ));
    }
    let read_ok = ok(&r);
    // B writes its bytes at A's destination address.
    let r = b.mv(b.iova(SRC), a.iova(DST), LEN)?;
    let a_after = (
        read(a.guest(), SRC, BUF as usize)?,
        read(a.guest(), DST, BUF as usize)?,
    );
    if a_after != a_before {
        return fail("guest B's device changed guest A's memory".into());
    }
    if ok(&r) && (!shared || read(b.guest(), DST, LEN as usize)? != theirs[..LEN as usize]) {
        return fail(format!(
            "guest B's write at guest A's address completed without landing in B's own memory: {r:?}"
        ));
    }
    let seen = match (read_ok, ok(&r)) {
        (false, false) => "faults",
        (true, true) => "own RAM",
        _ => "faults, own RAM",
    };
    Ok((2 * LEN as u64 + 2 * BUF, seen))
}

/// `len` bytes that differ from their neighbours, starting from `seed`.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29) ^ seed ^ (i >> 8) as u8)
        .collect()
}

fn read(g: &Guest, gpa: u64, len: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; len];
    g.memory()
        .read_slice(&mut b, GuestAddress(gpa))
        .map_err(|e| Error::Ram(e.to_string()))?;
    Ok(b)
}

fn write(g: &Guest, gpa: u64, b: &[u8]) -> Result<()> {
    g.memory()
        .write_slice(b, GuestAddress(gpa))
        .map_err(|e| Error::Ram(e.to_string()))
}
