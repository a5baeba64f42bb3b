//! The VMM layer's fuzz body: what a guest writes where its vIOMMU's driver keeps its tables
//! and queues, read by the VMM's traps (queued descriptors and commands, PASID entries,
//! STEs and CDs, the guest's page tables) must never crash the VMM or harm the host. The
//! `fuzz/` target of the same name calls it; a stable test replays its corpus. A second body,
//! [`iommu_memory`], drives a VMM's emulated device through vm-memory's `IommuMemory` over
//! either vIOMMU against a model of the pages the guest mapped.

use crate::matrix::{GUEST_RAM, GUEST_TABLES, assign, cells};
use crate::{Guest, HostRig};

/// At most this many steps of one input.
const STEPS: usize = 48;

/// Input: a byte choosing a cell and mechanism of the matrix, then steps of 12 bytes (a
/// 32-bit selector, a 64-bit value). A selector whose low two bits are 0 or 1 writes the
/// value over a quadword of the guest kernel's IOMMU tables and queues; 2 has the guest
/// map a page (IOVA, guest page and writability from the value); 3 unmaps one. The guest's
/// own queue is drained of faults at the end.
pub fn guest_tables(data: &[u8]) {
    let Some((&pick, steps)) = data.split_first() else {
        return;
    };
    let all = cells();
    let Some(cell) = all.get(usize::from(pick) % all.len()) else {
        return;
    };
    let Ok(rig) = HostRig::new(cell.row.iommu) else {
        return;
    };
    let Ok(guest) = Guest::new(&[GUEST_RAM]) else {
        return;
    };
    let Ok(mut dev) = assign(&rig, &guest, 0, cell) else {
        return;
    };
    let space = guest.space();
    for step in steps.chunks_exact(12).take(STEPS) {
        let mut sel = [0u8; 4];
        let mut val = [0u8; 8];
        sel.copy_from_slice(&step[..4]);
        val.copy_from_slice(&step[4..]);
        let (sel, val) = (u32::from_le_bytes(sel), u64::from_le_bytes(val));
        let iova = 0x7000_0000 + ((val & 0xff) << 12);
        match sel & 3 {
            0 | 1 => {
                let at = GUEST_TABLES.0 + (u64::from(sel >> 2) << 3) % GUEST_TABLES.1;
                let _ = space.store_u64(at, val);
            }
            2 => {
                let gpa = 0x10_0000 + ((val >> 8 & 0xff) << 12);
                let _ = dev.map(iova, gpa, 4096, val >> 16 & 1 == 1);
            }
            _ => {
                let _ = dev.unmap(iova, 4096);
            }
        }
    }
    let _ = dev.faults();
}

/// Pages of IOVA space the `iommu_memory` body maps into.
const IOVA_PAGES: u64 = 8;
/// Guest pages it maps them to.
const GPA_PAGES: u64 = 16;
/// Where those IOVA pages start.
const IOVA_BASE: u64 = 0x4000_0000;
/// Where those guest pages start.
const GPA_BASE: u64 = 0x10_0000;
/// The requester.
const RID: softiommu_core::Rid = softiommu_core::Rid::new(0, 0, 3, 0);

/// A vIOMMU's `IommuMemory` for [`RID`], the guest kernel's domain for it, and the unit's
/// checking mode.
struct Viommu<I: vm_memory::iommu::Iommu, C: Fn(bool), S: Fn() -> u64> {
    mem: vm_memory::iommu::IommuMemory<vm_memory::GuestMemoryMmap, I>,
    domain: std::sync::Arc<softiommu_core::Domain>,
    set_checking: C,
    stale: S,
}

/// Input: a byte choosing the model (bit 0: SMMUv3, else VT-d) and whether the checking
/// mode starts on (bit 1), then steps of 8 bytes. Step byte 0 picks the action (mod 5):
/// map a page (IOVA page byte 1, guest page byte 2, writable bit 0 of byte 3), unmap up to
/// four pages (from byte 1, count byte 2), a read or a write of 1 to 9,000 bytes (IOVA
/// page byte 1, offset bytes 2-3, length bytes 4-5) through vm-memory's `IommuMemory`, or
/// the checking mode turned over. Maps and unmaps are the guest kernel's, each with its
/// invalidation. Each access must do exactly what a `BTreeMap` of the pages mapped says:
/// succeed with the guest's bytes when every page it touches is mapped (and writable, for
/// a write), fail otherwise; and the checking mode must never find a stale translation.
pub fn iommu_memory(data: &[u8]) {
    let Some((&how, steps)) = data.split_first() else {
        return;
    };
    let Ok(guest) = Guest::new(&[GUEST_RAM]) else {
        return;
    };
    let check = how & 2 != 0;
    if how & 1 == 0 {
        let params = softiommu_vtd::regs::VtdParams::default();
        let Ok(v) = crate::viommu::VtdViommu::new(&guest, params, GUEST_TABLES) else {
            return;
        };
        let (u, iommu) = (v.unit(), v.iommu(RID, None));
        let (set, stale) = (|on| u.set_checking(on), || u.stale_count());
        drive(&guest, v.os(), iommu, set, stale, check, steps);
    } else {
        let params = softiommu_smmuv3::regs::SmmuParams::full();
        let Ok(v) = crate::viommu::SmmuViommu::new(&guest, params, GUEST_TABLES) else {
            return;
        };
        let (u, iommu) = (v.unit(), v.iommu(RID, None));
        let (set, stale) = (|on| u.set_checking(on), || u.stale_count());
        drive(&guest, v.os(), iommu, set, stale, check, steps);
    }
}

/// [`run_accesses`] through `iommu`, with a domain of `os`'s attached to [`RID`].
fn drive<I: vm_memory::iommu::Iommu>(
    guest: &Guest,
    os: &crate::viommu::GuestOs,
    iommu: I,
    set_checking: impl Fn(bool),
    stale: impl Fn() -> u64,
    check: bool,
    steps: &[u8],
) {
    let Some(domain) = paging(os) else {
        return;
    };
    let mem = vm_memory::iommu::IommuMemory::new(guest.memory().clone(), iommu, true, ());
    let vi = Viommu {
        mem,
        domain,
        set_checking,
        stale,
    };
    run_accesses(guest, &vi, check, steps);
}

/// A paging domain of the guest kernel's, attached to [`RID`].
fn paging(os: &crate::viommu::GuestOs) -> Option<std::sync::Arc<softiommu_core::Domain>> {
    let dev = os
        .add_device(RID, softiommu_core::DeviceCaps::default())
        .ok()?;
    let d = os
        .core()
        .new_paging(dev, softiommu_core::PagingRequest::default())
        .ok()?;
    os.core().attach(dev, &d).ok()?;
    Some(d)
}

/// The steps of [`iommu_memory`] on `vi`.
fn run_accesses<I: vm_memory::iommu::Iommu, C: Fn(bool), S: Fn() -> u64>(
    guest: &Guest,
    vi: &Viommu<I, C, S>,
    check: bool,
    steps: &[u8],
) {
    use std::collections::BTreeMap;
    use vm_memory::{Bytes, GuestAddress};
    let mut checking = check;
    (vi.set_checking)(checking);
    // IOVA page -> (guest page, writable).
    let mut mapped: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
    let ram = guest.memory();
    for (n, s) in steps.chunks_exact(8).take(4 * STEPS).enumerate() {
        let page = u64::from(s[1]) % IOVA_PAGES;
        let iova = IOVA_BASE + (page << 12);
        match s[0] % 5 {
            0 => {
                let gpa = GPA_BASE + ((u64::from(s[2]) % GPA_PAGES) << 12);
                let rw = s[3] & 1 != 0;
                let prot = if rw {
                    softiommu_pgtable::Prot::RW
                } else {
                    softiommu_pgtable::Prot::READ
                };
                if vi.domain.map_sync(iova, gpa, 4096, prot).is_ok() {
                    let old = mapped.insert(page, (gpa, rw));
                    assert!(old.is_none(), "page {page} mapped twice");
                }
            }
            1 => {
                let count = 1 + u64::from(s[2]) % 4;
                let end = (page + count).min(IOVA_PAGES);
                let _ = vi.domain.unmap_sync(iova, (end - page) << 12);
                for p in page..end {
                    mapped.remove(&p);
                }
            }
            op @ (2 | 3) => {
                let off = u64::from(u16::from_le_bytes([s[2], s[3]])) % 4096;
                let len = 1 + usize::from(u16::from_le_bytes([s[4], s[5]])) % 9000;
                let at = iova + off;
                let last = (at + len as u64 - 1) >> 12;
                let pages: Vec<_> = ((at >> 12)..=last)
                    .map(|p| mapped.get(&(p - (IOVA_BASE >> 12))).copied())
                    .collect();
                let write = op == 3;
                let allowed = pages.iter().all(|m| m.is_some_and(|(_, rw)| rw || !write));
                // Where byte `i` of the access lands in guest RAM, when allowed.
                let target = |i: u64| {
                    let a = at + i;
                    let (gpa, _) = pages[((a >> 12) - (at >> 12)) as usize].unwrap_or_default();
                    gpa + (a & 0xfff)
                };
                if write {
                    let bytes: Vec<u8> = (0..len).map(|i| (i as u8) ^ (n as u8)).collect();
                    let r = vi.mem.write_slice(&bytes, GuestAddress(at));
                    assert_eq!(r.is_ok(), allowed, "write of {len} at {at:#x}: {r:?}");
                    if allowed {
                        for (i, b) in bytes.iter().enumerate() {
                            let got: u8 =
                                ram.read_obj(GuestAddress(target(i as u64))).unwrap_or(!b);
                            assert_eq!(got, *b, "byte {i} of the write at {at:#x}");
                        }
                    }
                } else {
                    let mut buf = vec![0u8; len];
                    let r = vi.mem.read_slice(&mut buf, GuestAddress(at));
                    assert_eq!(r.is_ok(), allowed, "read of {len} at {at:#x}: {r:?}");
                    if allowed {
                        for (i, b) in buf.iter().enumerate() {
                            let want: u8 =
                                ram.read_obj(GuestAddress(target(i as u64))).unwrap_or(!b);
                            assert_eq!(*b, want, "byte {i} of the read at {at:#x}");
                        }
                    }
                }
            }
            _ => {
                checking = !checking;
                (vi.set_checking)(checking);
            }
        }
    }
    assert_eq!(
        (vi.stale)(),
        0,
        "a stale translation with every change invalidated"
    );
}
