//! The VMM layer's fuzz body: what a guest writes where its vIOMMU's driver keeps its tables
//! and queues, read by the VMM's traps (queued descriptors and commands, PASID entries,
//! STEs and CDs, the guest's page tables) must never crash the VMM or harm the host. The
//! `fuzz/` target of the same name calls it; a stable test replays its corpus.

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
