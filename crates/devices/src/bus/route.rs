//! What a bridge does with one run of a DMA request: the translation of a run it routes to a
//! peer by address, and the run it sends upstream.

use super::map::MemoryMap;
use super::{AddressSpace, DmaRequest, Rights, Translation};

/// The translation of a run routed by address to a window ending at `end` (exclusive): the
/// address is already the bus address, so it stays as it is, up to the window's end.
pub(super) fn direct(req: &DmaRequest, end: u64) -> Translation {
    Translation {
        addr: req.addr,
        len: req.len.max(1).min(end - req.addr),
        rights: Rights {
            read: true,
            write: true,
            execute: true,
            privileged: req.is_privileged(),
        },
    }
}

/// The run of `req` that goes upstream carrying `rid`: it stops where a window of `map`
/// starts or ends, so that the bytes after are routed on their own.
pub(super) fn upward<M: AddressSpace>(
    req: &DmaRequest,
    rid: u16,
    map: &MemoryMap<M>,
) -> DmaRequest {
    let edge = match map.window(req.addr) {
        Some(w) => Some(w.end),
        None => map.next_window(req.addr),
    };
    let len = match edge {
        Some(e) => req.len.max(1).min(e - req.addr),
        None => req.len,
    };
    DmaRequest { rid, len, ..*req }
}
