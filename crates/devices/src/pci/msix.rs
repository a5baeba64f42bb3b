//! The MSI-X table and Pending Bit Array a BAR maps (PCIe 6.0 6.1.4 and 7.7.2).

use std::sync::Arc;

use bitfield_struct::bitfield;
use parking_lot::{Mutex, RwLock};

/// Size of one MSI-X table entry in bytes.
pub const ENTRY_SIZE: u64 = 16;
/// Most vectors an MSI-X capability can describe.
pub const MAX_VECTORS: u16 = 2048;

/// Byte offsets inside a table entry.
pub mod entry_offset {
    /// Message Address, low dword (bits 1:0 read 0).
    pub const ADDRESS_LOW: u64 = 0x0;
    /// Message Upper Address.
    pub const ADDRESS_HIGH: u64 = 0x4;
    /// Message Data.
    pub const DATA: u64 = 0x8;
    /// Vector Control.
    pub const VECTOR_CONTROL: u64 = 0xC;
}

/// Vector Control of a table entry.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct VectorControl {
    /// Mask Bit: the vector may not send its message; set at reset.
    pub masked: bool,
    #[bits(31)]
    __: u32,
}

/// The memory write an MSI-X vector sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMessage {
    /// The vector that fired.
    pub vector: u16,
    /// Message Address.
    pub address: u64,
    /// Message Data.
    pub data: u32,
}

/// What [`MsixTable::fire`] did with a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FireOutcome {
    /// The message went to the sink.
    Delivered,
    /// MSI-X is disabled or the vector is masked: its pending bit is set.
    Pending,
}

/// A vector number the table does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("MSI-X vector {vector} is beyond the table's {count} vectors")]
pub struct VectorOutOfRange {
    /// The vector asked for.
    pub vector: u16,
    /// The number of vectors in the table.
    pub count: u16,
}

/// Receiver of the messages the function sends.
pub type MsiSink = Arc<dyn Fn(MsiMessage) + Send + Sync>;

#[derive(Clone, Copy, Default)]
struct Entry {
    address: u64,
    data: u32,
    control: VectorControl,
}

struct State {
    entries: Vec<Entry>,
    pending: Vec<u64>,
    enabled: bool,
    function_mask: bool,
    /// Bus Master Enable: MSI-X messages are memory writes, so none leave while it is clear.
    bus_master: bool,
}

impl State {
    fn blocked(&self, vector: usize) -> bool {
        !self.enabled
            || !self.bus_master
            || self.function_mask
            || self.entries[vector].control.masked()
    }

    fn message(&self, vector: usize) -> MsiMessage {
        let e = &self.entries[vector];
        MsiMessage {
            vector: vector as u16,
            address: e.address,
            data: e.data,
        }
    }

    /// Clears and returns the messages of every pending vector no longer blocked.
    fn release_pending(&mut self) -> Vec<MsiMessage> {
        let mut out = Vec::new();
        for v in 0..self.entries.len() {
            let (word, bit) = (v / 64, 1u64 << (v % 64));
            if self.pending[word] & bit != 0 && !self.blocked(v) {
                self.pending[word] &= !bit;
                out.push(self.message(v));
            }
        }
        out
    }
}

/// An MSI-X table with its Pending Bit Array. The BAR emulation forwards accesses in the
/// table's and the PBA's ranges to [`read_table`](Self::read_table) and friends; the
/// configuration space pushes MSI-X Enable, Function Mask and Bus Master Enable into it.
pub struct MsixTable {
    count: u16,
    state: Mutex<State>,
    sink: RwLock<Option<MsiSink>>,
}

impl std::fmt::Debug for MsixTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsixTable")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl MsixTable {
    /// A table of `count` vectors (1–2048, clamped), all masked, none pending.
    pub fn new(count: u16) -> Self {
        let count = count.clamp(1, MAX_VECTORS);
        let table = MsixTable {
            count,
            state: Mutex::new(State {
                entries: Vec::new(),
                pending: Vec::new(),
                enabled: false,
                function_mask: false,
                bus_master: false,
            }),
            sink: RwLock::new(None),
        };
        table.reset();
        table
    }

    /// Number of vectors.
    pub fn vector_count(&self) -> u16 {
        self.count
    }

    /// Bytes the table occupies in its BAR.
    pub fn table_len(&self) -> u64 {
        u64::from(self.count) * ENTRY_SIZE
    }

    /// Bytes the PBA occupies in its BAR (whole qwords).
    pub fn pba_len(&self) -> u64 {
        u64::from(self.count).div_ceil(64) * 8
    }

    /// Sets the receiver of the messages the function sends.
    pub fn set_sink(&self, sink: MsiSink) {
        *self.sink.write() = Some(sink);
    }

    /// Returns every entry to its reset state (masked, zero address and data), clears the
    /// PBA and disables MSI-X.
    pub fn reset(&self) {
        let mut s = self.state.lock();
        let masked = Entry {
            control: VectorControl::new().with_masked(true),
            ..Entry::default()
        };
        s.entries = vec![masked; usize::from(self.count)];
        s.pending = vec![0; usize::from(self.count).div_ceil(64)];
        s.enabled = false;
        s.function_mask = false;
        s.bus_master = false;
    }

    fn deliver(&self, messages: Vec<MsiMessage>) {
        if messages.is_empty() {
            return;
        }
        let sink = self.sink.read().clone();
        if let Some(sink) = sink {
            for m in messages {
                sink(m);
            }
        }
    }

    /// Takes MSI-X Enable and Function Mask from the capability and Bus Master Enable from the
    /// Command register; vectors pending and no longer blocked are delivered.
    pub(super) fn set_control(&self, enabled: bool, function_mask: bool, bus_master: bool) {
        let released = {
            let mut s = self.state.lock();
            s.enabled = enabled;
            s.function_mask = function_mask;
            s.bus_master = bus_master;
            s.release_pending()
        };
        self.deliver(released);
    }

    /// Signals `vector`: its message is delivered when MSI-X and bus mastering are enabled and
    /// neither the function nor the vector is masked; otherwise its pending bit is set.
    pub fn fire(&self, vector: u16) -> Result<FireOutcome, VectorOutOfRange> {
        if vector >= self.count {
            return Err(VectorOutOfRange {
                vector,
                count: self.count,
            });
        }
        let v = usize::from(vector);
        let message = {
            let mut s = self.state.lock();
            if s.blocked(v) {
                s.pending[v / 64] |= 1 << (v % 64);
                return Ok(FireOutcome::Pending);
            }
            s.message(v)
        };
        self.deliver(vec![message]);
        Ok(FireOutcome::Delivered)
    }

    /// Whether MSI-X Enable is set in the capability.
    pub fn is_enabled(&self) -> bool {
        self.state.lock().enabled
    }

    /// Whether Function Mask is set in the capability.
    pub fn is_function_masked(&self) -> bool {
        self.state.lock().function_mask
    }

    /// Whether Bus Master Enable is set in the Command register.
    pub fn is_bus_master(&self) -> bool {
        self.state.lock().bus_master
    }

    /// Whether `vector`'s pending bit is set.
    pub fn is_pending(&self, vector: u16) -> bool {
        let v = usize::from(vector);
        self.state
            .lock()
            .pending
            .get(v / 64)
            .is_some_and(|w| w & (1 << (v % 64)) != 0)
    }

    /// Whether `vector`'s own mask bit is set (false for a vector out of range).
    pub fn is_masked(&self, vector: u16) -> bool {
        self.state
            .lock()
            .entries
            .get(usize::from(vector))
            .is_some_and(|e| e.control.masked())
    }

    /// Reads `size` (1, 2, 4 or 8, naturally aligned) bytes at `offset` in the table. Other
    /// accesses, and those beyond the table, read all-ones.
    pub fn read_table(&self, offset: u64, size: usize) -> u64 {
        if !access_ok(offset, size, self.table_len()) {
            return u64::MAX;
        }
        let s = self.state.lock();
        gather(offset, size, |a| {
            let dword = entry_dword(&s.entries[(a / ENTRY_SIZE) as usize], (a % ENTRY_SIZE) & !3);
            (dword >> (8 * (a % 4))) as u8
        })
    }

    /// Writes `size` (1, 2, 4 or 8, naturally aligned) bytes at `offset` in the table. Address
    /// bits 1:0 and the reserved Vector Control bits stay 0; other accesses are dropped.
    /// Unmasking a pending vector delivers it.
    pub fn write_table(&self, offset: u64, size: usize, value: u64) {
        if !access_ok(offset, size, self.table_len()) {
            return;
        }
        let released = {
            let mut s = self.state.lock();
            for i in 0..size as u64 {
                let a = offset + i;
                let entry = &mut s.entries[(a / ENTRY_SIZE) as usize];
                let field = (a % ENTRY_SIZE) & !3;
                let shift = 8 * (a % 4);
                let byte = u32::from((value >> (8 * i)) as u8);
                let dword = entry_dword(entry, field) & !(0xFF << shift) | byte << shift;
                set_entry_dword(entry, field, dword);
            }
            s.release_pending()
        };
        self.deliver(released);
    }

    /// Reads `size` (1, 2, 4 or 8, naturally aligned) bytes at `offset` in the PBA; other
    /// accesses read all-ones.
    pub fn read_pba(&self, offset: u64, size: usize) -> u64 {
        if !access_ok(offset, size, self.pba_len()) {
            return u64::MAX;
        }
        let s = self.state.lock();
        gather(offset, size, |a| {
            (s.pending[(a / 8) as usize] >> (8 * (a % 8))) as u8
        })
    }

    /// Writes to the PBA are ignored: its bits are read-only.
    pub fn write_pba(&self, _offset: u64, _size: usize, _value: u64) {}
}

fn access_ok(offset: u64, size: usize, len: u64) -> bool {
    matches!(size, 1 | 2 | 4 | 8)
        && offset.is_multiple_of(size as u64)
        && offset
            .checked_add(size as u64)
            .is_some_and(|end| end <= len)
}

/// The little-endian value of the `size` bytes from `offset`, each given by `byte_at`.
fn gather(offset: u64, size: usize, byte_at: impl Fn(u64) -> u8) -> u64 {
    (0..size as u64).fold(0, |acc, i| acc | u64::from(byte_at(offset + i)) << (8 * i))
}

fn entry_dword(e: &Entry, field: u64) -> u32 {
    match field {
        entry_offset::ADDRESS_LOW => e.address as u32,
        entry_offset::ADDRESS_HIGH => (e.address >> 32) as u32,
        entry_offset::DATA => e.data,
        _ => e.control.into_bits(),
    }
}

fn set_entry_dword(e: &mut Entry, field: u64, v: u32) {
    match field {
        entry_offset::ADDRESS_LOW => e.address = e.address & !0xFFFF_FFFF | u64::from(v & !3),
        entry_offset::ADDRESS_HIGH => {
            e.address = e.address & 0xFFFF_FFFF | u64::from(v) << 32;
        }
        entry_offset::DATA => e.data = v,
        _ => e.control = VectorControl::new().with_masked(VectorControl::from_bits(v).masked()),
    }
}
