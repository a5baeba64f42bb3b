//! The circular-queue arithmetic the command, event and PRI queues share (spec 3.5): the
//! `*_BASE`, `*_PROD` and `*_CONS` register layouts, positions with their wrap bit, and
//! [`Queue`], a snapshot of one queue that answers empty, full, how many entries and where an
//! entry lives.
//!
//! A queue of 2^n entries (n = `*_BASE.LOG2SIZE`, capped by `SMMU_IDR1.CMDQS`, `EVENTQS` or
//! `PRIQS`) is indexed by PROD (where the producer writes next) and CONS (what the consumer
//! reads next). Each holds an n-bit index and, at bit n, a wrap bit that toggles every time the
//! index passes the end of the queue:
//!
//! - empty: index and wrap bit both equal;
//! - full: indices equal, wrap bits different;
//! - otherwise `PROD − CONS` (modulo 2^(n+1)) entries are waiting.
//!
//! The queue's base is aligned to the larger of its size and 32 bytes: the SMMU ignores the low
//! bits of `*_BASE.ADDR` that would break that alignment.

use bitfield_struct::bitfield;

/// The largest `LOG2SIZE` any queue may have (`SMMU_IDR1.CMDQS`, `EVENTQS`, `PRIQS` ≤ 19).
pub const MAX_LOG2SIZE: u8 = 19;

/// Which of the SMMU's three queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// The command queue: software produces, the SMMU consumes; 16-byte commands.
    Command,
    /// The event queue: the SMMU produces, software consumes; 32-byte records.
    Event,
    /// The PRI queue: the SMMU produces, software consumes; 16-byte page requests.
    PageRequest,
}

impl QueueKind {
    /// Size of one entry in bytes.
    pub const fn entry_bytes(self) -> u64 {
        match self {
            QueueKind::Command | QueueKind::PageRequest => 16,
            QueueKind::Event => 32,
        }
    }
}

/// `SMMU_CMDQ_BASE`, `SMMU_EVENTQ_BASE` and `SMMU_PRIQ_BASE`: where a queue lives and how big
/// it is.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct QueueBase {
    /// LOG2SIZE: the queue holds 2^LOG2SIZE entries (capped by the IDR1 limit when used).
    #[bits(5)]
    pub log2size: u8,
    /// ADDR: bits 55:5 of the queue's physical base.
    #[bits(51)]
    pub addr: u64,
    #[bits(6)]
    __: u8,
    /// RA (command queue) or WA (event and PRI queues): the read- or write-allocate hint.
    pub alloc_hint: bool,
    #[bits(1)]
    __: u8,
}

/// Implements `address` and `with_address` for a register whose ADDR field holds a byte
/// address from the field's offset up.
macro_rules! address_field {
    ($reg:ident, $what:literal) => {
        impl $reg {
            #[doc = concat!("The ", $what, ": ADDR, with the bits below it zero.")]
            pub const fn address(&self) -> u64 {
                self.addr() << Self::ADDR_OFFSET
            }

            /// The register with ADDR taken from the byte address `addr`; bits outside the
            /// field are dropped.
            pub const fn with_address(self, addr: u64) -> Self {
                self.with_addr((addr >> Self::ADDR_OFFSET) & ((1 << Self::ADDR_BITS) - 1))
            }
        }
    };
}

pub(crate) use address_field;

address_field!(
    QueueBase,
    "queue base as written, before alignment to the queue size"
);

/// `SMMU_CMDQ_PROD`, `SMMU_EVENTQ_PROD` and `SMMU_PRIQ_PROD`: the producer position.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct QueueProd {
    /// WR: the write index (bits n−1:0) and its wrap bit (bit n), n = the queue's LOG2SIZE.
    #[bits(20)]
    pub wr: u32,
    #[bits(11)]
    __: u16,
    /// OVFLG (event and PRI queues only): toggled by the SMMU when the queue overflows while
    /// no overflow is outstanding; reserved in `SMMU_CMDQ_PROD`.
    pub ovflg: bool,
}

/// `SMMU_CMDQ_CONS`, `SMMU_EVENTQ_CONS` and `SMMU_PRIQ_CONS`: the consumer position.
#[bitfield(u32)]
#[derive(PartialEq, Eq, Hash)]
pub struct QueueCons {
    /// RD: the read index (bits n−1:0) and its wrap bit (bit n).
    #[bits(20)]
    pub rd: u32,
    #[bits(4)]
    __: u8,
    /// ERR (command queue only): the CERROR code of the command that stopped the queue;
    /// reserved in the event and PRI queues' CONS.
    #[bits(7)]
    pub err: u8,
    /// OVACKFLG (event and PRI queues only): software copies OVFLG here to acknowledge an
    /// overflow; reserved in `SMMU_CMDQ_CONS`.
    pub ovackflg: bool,
}

/// A PROD or CONS position in a queue of 2^`log2size` entries: an index and the wrap bit just
/// above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueuePos {
    log2size: u8,
    bits: u32,
}

impl QueuePos {
    /// The position `raw` (a WR or RD field) names in a queue of 2^`log2size` entries: bits
    /// above the wrap bit are dropped. `log2size` is capped at [`MAX_LOG2SIZE`].
    pub const fn new(log2size: u8, raw: u32) -> QueuePos {
        let log2size = if log2size > MAX_LOG2SIZE {
            MAX_LOG2SIZE
        } else {
            log2size
        };
        QueuePos {
            log2size,
            bits: raw & pos_mask(log2size),
        }
    }

    /// log2 of the number of entries in the queue.
    pub const fn log2size(self) -> u8 {
        self.log2size
    }

    /// The index and wrap bit, as the WR or RD field holds them.
    pub const fn raw(self) -> u32 {
        self.bits
    }

    /// The entry index, 0 to 2^log2size − 1.
    pub const fn index(self) -> u32 {
        self.bits & index_mask(self.log2size)
    }

    /// The wrap bit.
    pub const fn wrap(self) -> bool {
        self.bits >> self.log2size & 1 != 0
    }

    /// The position `n` entries further on, the wrap bit toggling each time the index passes
    /// the end.
    pub const fn advance(self, n: u32) -> QueuePos {
        QueuePos {
            log2size: self.log2size,
            bits: self.bits.wrapping_add(n) & pos_mask(self.log2size),
        }
    }

    /// The next position.
    pub const fn next(self) -> QueuePos {
        self.advance(1)
    }
}

/// The index bits of a position in a queue of 2^`log2size` entries.
const fn index_mask(log2size: u8) -> u32 {
    (1u32 << log2size) - 1
}

/// The index and wrap bits of a position in a queue of 2^`log2size` entries.
const fn pos_mask(log2size: u8) -> u32 {
    (2u32 << log2size) - 1
}

/// One queue as its registers describe it at a moment: where it is, how big, and where its
/// producer and consumer stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Queue {
    kind: QueueKind,
    base: u64,
    prod: QueuePos,
    cons: QueuePos,
}

impl Queue {
    /// The queue `base` describes, with at most 2^`max_log2size` entries (the IDR1 limit) and
    /// its PROD.WR and CONS.RD fields `wr` and `rd`.
    pub const fn new(
        kind: QueueKind,
        base: QueueBase,
        max_log2size: u8,
        wr: u32,
        rd: u32,
    ) -> Queue {
        let mut log2size = base.log2size();
        if log2size > max_log2size {
            log2size = max_log2size;
        }
        if log2size > MAX_LOG2SIZE {
            log2size = MAX_LOG2SIZE;
        }
        let size = kind.entry_bytes() << log2size;
        let align = if size > 32 { size } else { 32 };
        Queue {
            kind,
            base: base.address() & !(align - 1),
            prod: QueuePos::new(log2size, wr),
            cons: QueuePos::new(log2size, rd),
        }
    }

    /// Which queue this is.
    pub const fn kind(&self) -> QueueKind {
        self.kind
    }

    /// log2 of the number of entries in use: `*_BASE.LOG2SIZE` capped by the IDR1 limit.
    pub const fn log2size(&self) -> u8 {
        self.prod.log2size()
    }

    /// Number of entries.
    pub const fn capacity(&self) -> u32 {
        1 << self.log2size()
    }

    /// Size of the queue in bytes.
    pub const fn size_bytes(&self) -> u64 {
        self.kind.entry_bytes() << self.log2size()
    }

    /// The physical base, aligned to the larger of the queue's size and 32 bytes.
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// The producer position.
    pub const fn prod(&self) -> QueuePos {
        self.prod
    }

    /// The consumer position.
    pub const fn cons(&self) -> QueuePos {
        self.cons
    }

    /// Whether no entry is waiting: PROD and CONS equal, wrap bits included.
    pub const fn is_empty(&self) -> bool {
        self.prod.raw() == self.cons.raw()
    }

    /// Whether every entry is waiting: the indices equal and the wrap bits different.
    pub const fn is_full(&self) -> bool {
        self.prod.raw() ^ self.cons.raw() == 1 << self.log2size()
    }

    /// The number of entries between CONS and PROD. A value above [`Queue::capacity`] means
    /// the two are inconsistent (the producer has passed the consumer).
    pub const fn len(&self) -> u32 {
        self.prod.raw().wrapping_sub(self.cons.raw()) & pos_mask(self.log2size())
    }

    /// Whether PROD and CONS describe a possible state (at most [`Queue::capacity`] entries
    /// waiting).
    pub const fn is_consistent(&self) -> bool {
        self.len() <= self.capacity()
    }

    /// The physical address of the entry at `pos`.
    pub const fn entry_address(&self, pos: QueuePos) -> u64 {
        let index = QueuePos::new(self.log2size(), pos.raw()).index();
        self.base + index as u64 * self.kind.entry_bytes()
    }

    /// The physical address of the entry the producer writes next.
    pub const fn prod_address(&self) -> u64 {
        self.entry_address(self.prod)
    }

    /// The physical address of the entry the consumer reads next.
    pub const fn cons_address(&self) -> u64 {
        self.entry_address(self.cons)
    }
}

#[cfg(test)]
mod tests;
