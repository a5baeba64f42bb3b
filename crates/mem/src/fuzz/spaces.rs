//! Accesses of any address and length on every address-space backend, checked against a
//! byte-array model of what each one holds.

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::{AddressSpace, DryRun, GuestRam, MappedSpace, MemError, RamArena};

/// Backed bytes: disjoint regions `(base, contents)`.
struct Model {
    regions: Vec<(u64, Vec<u8>)>,
}

impl Model {
    /// The region and offset holding all of `[pa, pa + len)`; an empty access needs `pa`
    /// itself backed.
    fn find(&self, pa: u64, len: u64) -> Option<(usize, usize)> {
        self.regions
            .iter()
            .enumerate()
            .find_map(|(i, (base, bytes))| {
                let off = pa.checked_sub(*base)?;
                let size = bytes.len() as u64;
                (off < size && len <= size - off).then_some((i, off as usize))
            })
    }

    fn bytes(&self, pa: u64, len: usize) -> Option<&[u8]> {
        let (i, off) = self.find(pa, len as u64)?;
        Some(&self.regions[i].1[off..off + len])
    }

    fn bytes_mut(&mut self, pa: u64, len: usize) -> Option<&mut [u8]> {
        let (i, off) = self.find(pa, len as u64)?;
        Some(&mut self.regions[i].1[off..off + len])
    }

    fn word(&self, pa: u64) -> Option<u64> {
        let b = self.bytes(pa, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// Runs accesses the bytes describe on a backend they choose — a RAM arena, guest RAM of one
/// to three regions, a translated view, a dry run, or one of them behind `&` or `Arc` — next to
/// the model: each access must succeed exactly when the model backs it (and is aligned, for
/// word accesses), read what the model holds, and change what the model says (nothing, for a
/// dry run).
pub fn spaces(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0u8..=7) {
        Ok(0) => arena(&mut u, |a, u, m| run(&a, u, m, true)),
        Ok(1) => arena(&mut u, |a, u, m| run(&Arc::new(a), u, m, true)),
        Ok(2) => arena(&mut u, |a, u, m| run(&&a, u, m, true)),
        Ok(3) => arena(&mut u, |a, u, m| run(&DryRun::new(&a), u, m, false)),
        Ok(4) => arena(&mut u, |a, u, m| run(&&DryRun::new(&a), u, m, false)),
        Ok(5) => guest(&mut u),
        Ok(6) => mapped(&mut u),
        Ok(_) => super::alloc::alloc(&mut u),
        Err(_) => Ok(()),
    };
}

/// A 4 KiB-aligned base and a size of 4 KiB to 64 KiB.
fn region(u: &mut Unstructured<'_>) -> Result<(u64, u64)> {
    let base = u64::from(u.arbitrary::<u16>()?) << 12;
    let size = u64::from(u.int_in_range(1u8..=16)?) << 12;
    Ok((base, size))
}

fn arena(
    u: &mut Unstructured<'_>,
    body: impl FnOnce(RamArena, &mut Unstructured<'_>, &mut Model) -> Result<()>,
) -> Result<()> {
    let (base, size) = region(u)?;
    let Ok(a) = RamArena::new(base, size) else {
        return Ok(());
    };
    let mut model = Model {
        regions: vec![(base, vec![0; size as usize])],
    };
    body(a, u, &mut model)
}

fn guest(u: &mut Unstructured<'_>) -> Result<()> {
    let n = u.int_in_range(1u8..=3)?;
    let mut ranges = Vec::new();
    let mut next = 0u64;
    for _ in 0..n {
        // Regions a gap apart, so that no access can span two of them.
        let gap = u64::from(u.int_in_range(1u8..=8)?) << 12;
        let size = u64::from(u.int_in_range(1u8..=8)?) << 12;
        ranges.push((GuestAddress(next + gap), size as usize));
        next += gap + size;
    }
    let Ok(mem) = GuestMemoryMmap::<()>::from_ranges(&ranges) else {
        return Ok(());
    };
    let mut model = Model {
        regions: ranges.iter().map(|&(a, s)| (a.0, vec![0; s])).collect(),
    };
    run(&GuestRam::new(mem), u, &mut model, true)
}

/// A window of an arena seen at another address.
fn mapped(u: &mut Unstructured<'_>) -> Result<()> {
    let (base, size) = region(u)?;
    let Ok(a) = RamArena::new(base, size) else {
        return Ok(());
    };
    let win_off = u.int_in_range(0..=size - 1)?;
    let win_len = u.int_in_range(1..=size - win_off)?;
    // Seen at another page, at the same offset in its page (as a translation shows memory).
    let seen_at = u64::from(u.arbitrary::<u32>()?) << 12 | (base + win_off) & 0xfff;
    let view = MappedSpace::new(&a, move |pa: u64, len: u64, _write: bool| {
        let off = pa
            .checked_sub(seen_at)
            .filter(|&o| o < win_len && len <= win_len - o)
            .ok_or(MemError::OutOfRange { addr: pa, len })?;
        Ok(base + win_off + off)
    });
    let mut model = Model {
        regions: vec![(seen_at, vec![0; win_len as usize])],
    };
    run(&view, u, &mut model, true)
}

/// An address near a region's edges, or anywhere.
fn address(u: &mut Unstructured<'_>, model: &Model) -> Result<u64> {
    let (base, bytes) = u.choose(&model.regions)?;
    let end = base + bytes.len() as u64;
    let delta = i64::from(u.arbitrary::<i16>()?);
    Ok(match u.int_in_range(0u8..=3)? {
        0 => base.wrapping_add_signed(delta),
        1 => end.wrapping_add_signed(delta),
        2 => base + u.int_in_range(0..=bytes.len() as u64 - 1)?,
        _ => u.arbitrary()?,
    })
}

/// The accesses, checked against `model`; `writes` says whether writes reach the memory.
fn run<M: AddressSpace>(
    mem: &M,
    u: &mut Unstructured<'_>,
    model: &mut Model,
    writes: bool,
) -> Result<()> {
    while !u.is_empty() {
        let pa = address(u, model)?;
        let len = usize::from(u.int_in_range(0u16..=300)?);
        let aligned = pa.is_multiple_of(8);
        match u.int_in_range(0u8..=6)? {
            0 => {
                let mut buf = vec![0xa5; len];
                let got = mem.read(pa, &mut buf);
                match model.bytes(pa, len) {
                    Some(want) => {
                        assert_eq!(got, Ok(()), "read {pa:#x}+{len:#x}");
                        assert_eq!(&buf[..], want, "bytes read at {pa:#x}");
                    }
                    None => assert!(got.is_err(), "read {pa:#x}+{len:#x} outside"),
                }
            }
            1 => {
                let buf = u.bytes(len.min(u.len()))?.to_vec();
                let got = mem.write(pa, &buf);
                check_write(model, pa, &buf, got, writes);
            }
            2 => {
                let byte = u.arbitrary()?;
                let got = mem.fill(pa, len as u64, byte);
                check_write(model, pa, &vec![byte; len], got, writes);
            }
            3 => match (mem.load_u64(pa), model.word(pa)) {
                (Ok(v), Some(want)) if aligned => assert_eq!(v, want, "word at {pa:#x}"),
                (Err(_), None) => {}
                (Err(_), Some(_)) if !aligned => {}
                (got, want) => panic!("load {pa:#x}: {got:?}, model {want:?}"),
            },
            4 => {
                let value: u64 = u.arbitrary()?;
                let got = mem.store_u64(pa, value);
                let ok = aligned && model.word(pa).is_some();
                assert_eq!(got.is_ok(), ok, "store {pa:#x}: {got:?}");
                if ok && writes {
                    set_word(model, pa, value);
                }
            }
            5 => {
                let (current, new): (u64, u64) = (u.arbitrary()?, u.arbitrary()?);
                let current = if u.arbitrary()? {
                    model.word(pa).unwrap_or(current)
                } else {
                    current
                };
                let got = mem.cmpxchg_u64(pa, current, new);
                match model.word(pa).filter(|_| aligned) {
                    Some(found) if found == current => {
                        assert_eq!(got, Ok(Ok(current)), "cmpxchg {pa:#x}");
                        if writes {
                            set_word(model, pa, new);
                        }
                    }
                    Some(found) => assert_eq!(got, Ok(Err(found)), "failed cmpxchg {pa:#x}"),
                    None => assert!(got.is_err(), "cmpxchg {pa:#x} outside: {got:?}"),
                }
            }
            _ => {
                let count = len / 8;
                let got = mem.words(pa, count);
                match model.bytes(pa, count * 8).filter(|_| aligned) {
                    Some(want) => {
                        let words = got.unwrap_or_else(|e| panic!("words {pa:#x}: {e}"));
                        assert_eq!(words.len(), count);
                        for (w, b) in words.iter().zip(want.chunks_exact(8)) {
                            let v = w.load(std::sync::atomic::Ordering::Acquire);
                            assert_eq!(v.to_le_bytes(), b, "words at {pa:#x}");
                        }
                    }
                    None => assert!(got.is_err(), "words {pa:#x}x{count} outside"),
                }
            }
        }
        // Whatever happened, the memory still holds what the model says.
        let (base, bytes) = &model.regions[0];
        let mut all = vec![0; bytes.len()];
        assert_eq!(
            mem.read(*base, &mut all),
            Ok(()),
            "read back the first region"
        );
        if let Some(at) = all.iter().zip(bytes).position(|(a, b)| a != b) {
            panic!(
                "byte {:#x} holds {:#x}, the model {:#x}",
                base + at as u64,
                all[at],
                bytes[at]
            );
        }
    }
    Ok(())
}

fn check_write(model: &mut Model, pa: u64, buf: &[u8], got: crate::Result<()>, writes: bool) {
    match model.bytes_mut(pa, buf.len()) {
        Some(dst) => {
            assert_eq!(got, Ok(()), "write {pa:#x}+{:#x}", buf.len());
            if writes {
                dst.copy_from_slice(buf);
            }
        }
        None => assert!(got.is_err(), "write {pa:#x}+{:#x} outside", buf.len()),
    }
}

fn set_word(model: &mut Model, pa: u64, value: u64) {
    if let Some(dst) = model.bytes_mut(pa, 8) {
        dst.copy_from_slice(&value.to_le_bytes());
    }
}
