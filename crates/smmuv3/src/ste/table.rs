//! The stream table: where it is (STRTAB_BASE, STRTAB_BASE_CFG), its linear and two-level
//! layouts, and the Level 1 Stream Table Descriptor.

use bitfield_struct::bitfield;
use softiommu_mem::{AddressSpace, MemError};

use super::{L1STD_SIZE, STE_SIZE};
use crate::event::EventId;
use crate::model::ModelCaps;

/// The layout of the stream table: linear, or two-level with SPLIT StreamID bits resolved by
/// each second-level table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamTableFormat {
    /// FMT 00: an array of STEs.
    Linear,
    /// FMT 01: an array of L1STDs.
    TwoLevel {
        /// SPLIT: 6, 8 or 10.
        split: u8,
    },
}

/// Where the stream table is and how it is laid out (STRTAB_BASE and STRTAB_BASE_CFG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamTable {
    base: u64,
    log2size: u8,
    format: StreamTableFormat,
}

/// Where a StreamID's STE is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SteLocation {
    /// The STE is at this address (linear table).
    Ste(u64),
    /// The STE is found through the L1STD at `desc`, entry `index` of the first level.
    Level1 {
        /// Address of the L1STD.
        desc: u64,
        /// Its index: StreamID\[LOG2SIZE−1:SPLIT\].
        index: u32,
    },
}

impl StreamTable {
    /// A linear table of 2^`log2size` STEs at `base` (aligned down to the table size).
    pub const fn linear(base: u64, log2size: u8) -> StreamTable {
        let log2size = if log2size > 32 { 32 } else { log2size };
        StreamTable {
            base: base & !((1u64 << (log2size + 6)) - 1),
            log2size,
            format: StreamTableFormat::Linear,
        }
    }

    /// A two-level table for 2^`log2size` StreamIDs whose L1STD array is at `base` (aligned
    /// down to its size, at least 64 bytes); `split` other than 6, 8 or 10 behaves as 6.
    pub const fn two_level(base: u64, log2size: u8, split: u8) -> StreamTable {
        let log2size = if log2size > 32 { 32 } else { log2size };
        let split = match split {
            8 | 10 => split,
            _ => 6,
        };
        let l1_bytes_log2 = if log2size > split {
            log2size - split + 3
        } else {
            3
        };
        let align = if l1_bytes_log2 > 6 { l1_bytes_log2 } else { 6 };
        StreamTable {
            base: base & !((1u64 << align) - 1),
            log2size,
            format: StreamTableFormat::TwoLevel { split },
        }
    }

    /// The table the registers describe: STRTAB_BASE (ADDR 55:6) and STRTAB_BASE_CFG (FMT
    /// 17:16, SPLIT 10:6, LOG2SIZE 5:0). A FMT other than 01, or 01 without two-level
    /// support, is linear; LOG2SIZE above IDR1.SIDSIZE behaves as SIDSIZE.
    pub fn from_registers(strtab_base: u64, strtab_base_cfg: u32, caps: &ModelCaps) -> StreamTable {
        let addr = strtab_base & (((1u64 << 56) - 1) & !0x3f);
        let log2size = ((strtab_base_cfg & 0x3f) as u8).min(caps.sid_bits);
        let split = ((strtab_base_cfg >> 6) & 0x1f) as u8;
        let fmt = (strtab_base_cfg >> 16) & 3;
        let mut t = if fmt == 1 && caps.two_level_ste {
            StreamTable::two_level(addr, log2size, split)
        } else {
            StreamTable::linear(addr, log2size)
        };
        // The base is aligned by the field's literal LOG2SIZE, not the capped one.
        let literal = (strtab_base_cfg & 0x3f) as u8;
        t.base = match t.format {
            StreamTableFormat::Linear => addr & !((1u64 << (literal.min(50) + 6)) - 1),
            StreamTableFormat::TwoLevel { split } => {
                let l1 = u32::from(literal.saturating_sub(split)) + 3;
                addr & !((1u64 << l1.clamp(6, 56)) - 1)
            }
        };
        t
    }

    /// The (aligned) base address.
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// log2 of the number of StreamIDs the table covers.
    pub const fn log2size(&self) -> u8 {
        self.log2size
    }

    /// The layout.
    pub const fn format(&self) -> StreamTableFormat {
        self.format
    }

    /// Where `sid`'s STE (or the L1STD leading to it) is; C_BAD_STREAMID when `sid` is at or
    /// beyond 2^LOG2SIZE.
    pub const fn locate(&self, sid: u32) -> Result<SteLocation, EventId> {
        if (sid as u64) >> self.log2size != 0 {
            return Err(EventId::BadStreamId);
        }
        Ok(match self.format {
            StreamTableFormat::Linear => {
                SteLocation::Ste(self.base.wrapping_add(sid as u64 * STE_SIZE))
            }
            StreamTableFormat::TwoLevel { split } => {
                let index = ((sid as u64) >> split) as u32;
                SteLocation::Level1 {
                    desc: self.base.wrapping_add(index as u64 * L1STD_SIZE),
                    index,
                }
            }
        })
    }

    /// The table packed into one word (for a lock-free register copy).
    pub(crate) const fn to_bits(self) -> u64 {
        let (two, split) = match self.format {
            StreamTableFormat::Linear => (0, 0),
            StreamTableFormat::TwoLevel { split } => (1, split as u64),
        };
        (self.base >> 6) | (self.log2size as u64) << 50 | two << 56 | split << 57
    }

    /// The table [`to_bits`](Self::to_bits) packed.
    pub(crate) const fn from_bits(bits: u64) -> StreamTable {
        let base = (bits & ((1 << 50) - 1)) << 6;
        let log2size = ((bits >> 50) & 0x3f) as u8;
        let format = if (bits >> 56) & 1 != 0 {
            StreamTableFormat::TwoLevel {
                split: ((bits >> 57) & 0x1f) as u8,
            }
        } else {
            StreamTableFormat::Linear
        };
        StreamTable {
            base,
            log2size,
            format,
        }
    }
}

/// A Level 1 Stream Table Descriptor (8 bytes).
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct L1Std {
    /// Span: the level-2 array holds 2^(Span − 1) STEs; 0 (and the reserved 12–31) means
    /// none.
    #[bits(5)]
    pub span: u8,
    /// Bit 5, reserved.
    #[bits(1, access = RO)]
    rsvd5: u8,
    /// L2Ptr: address bits 55:6 of the level-2 array.
    #[bits(50)]
    pub l2ptr: u64,
    /// Bits 63:56, reserved.
    #[bits(8, access = RO)]
    rsvd56: u8,
}

impl L1Std {
    /// A descriptor for the level-2 array of 2^(`span` − 1) STEs at `l2`.
    pub const fn for_table(l2: u64, span: u8) -> L1Std {
        L1Std::new()
            .with_span(span & 0x1f)
            .with_l2ptr((l2 >> 6) & ((1 << 50) - 1))
    }

    /// Reads the descriptor at `pa`.
    pub fn read<M: AddressSpace + ?Sized>(mem: &M, pa: u64) -> Result<L1Std, MemError> {
        Ok(L1Std::from_bits(mem.load_u64(pa)?))
    }

    /// Writes the descriptor at `pa`.
    pub fn write<M: AddressSpace + ?Sized>(&self, mem: &M, pa: u64) -> Result<(), MemError> {
        mem.store_u64(pa, self.into_bits())
    }

    /// The address of `sid`'s STE in the level-2 array this descriptor points at, for a table
    /// with `split`: C_BAD_STREAMID when Span is 0 or reserved, larger than SPLIT + 1, or too
    /// small for StreamID\[SPLIT−1:0\]. L2Ptr is aligned down to the array's size.
    pub const fn ste_address(&self, sid: u32, split: u8) -> Result<u64, EventId> {
        let span = self.span();
        if span == 0 || span >= 12 || span as u16 > split as u16 + 1 {
            return Err(EventId::BadStreamId);
        }
        // StreamID[SPLIT-1:0] (every bit for a SPLIT beyond the StreamID).
        let low = if split >= 32 {
            sid as u64
        } else {
            (sid as u64) & ((1 << split) - 1)
        };
        if low >> (span - 1) != 0 {
            return Err(EventId::BadStreamId);
        }
        let l2 = (self.l2ptr() << 6) & !((1u64 << (span + 5)) - 1);
        Ok(l2.wrapping_add(low * STE_SIZE))
    }
}
