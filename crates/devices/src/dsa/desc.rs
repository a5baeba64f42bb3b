//! The 64-byte work descriptor and the 32-byte completion record, with their opcodes, flags
//! and status codes.

use bitfield_struct::bitfield;

/// The size of a work descriptor in bytes.
pub const DESC_SIZE: usize = 64;
/// The size of a completion record in bytes.
pub const COMPLETION_SIZE: usize = 32;
/// The alignment a completion record address must have.
pub const COMPLETION_ALIGN: u64 = 32;

/// A descriptor's operation code (byte 7 of the descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// No operation: only the completion record and interrupt.
    Noop = 0x00,
    /// A list of descriptors fetched from memory.
    Batch = 0x01,
    /// Waits for the descriptors submitted before it.
    Drain = 0x02,
    /// Copies bytes from source to destination.
    MemMove = 0x03,
    /// Fills the destination with an 8-byte pattern.
    MemFill = 0x04,
    /// Compares two buffers.
    Compare = 0x05,
    /// Compares a buffer with an 8-byte pattern.
    ComparePattern = 0x06,
    /// Copies the source to two destinations.
    Dualcast = 0x09,
    /// Computes the CRC-32C of the source.
    CrcGen = 0x10,
    /// Writes back (and optionally invalidates) the destination's cache lines.
    CacheFlush = 0x20,
}

impl Opcode {
    /// The opcode with number `op`, if the engine implements it.
    pub fn from_u8(op: u8) -> Option<Self> {
        Some(match op {
            0x00 => Self::Noop,
            0x01 => Self::Batch,
            0x02 => Self::Drain,
            0x03 => Self::MemMove,
            0x04 => Self::MemFill,
            0x05 => Self::Compare,
            0x06 => Self::ComparePattern,
            0x09 => Self::Dualcast,
            0x10 => Self::CrcGen,
            0x20 => Self::CacheFlush,
            _ => return None,
        })
    }

    /// Every opcode the engine implements.
    pub const ALL: [Opcode; 10] = [
        Self::Noop,
        Self::Batch,
        Self::Drain,
        Self::MemMove,
        Self::MemFill,
        Self::Compare,
        Self::ComparePattern,
        Self::Dualcast,
        Self::CrcGen,
        Self::CacheFlush,
    ];
}

/// The 24-bit flags field of a descriptor (bits 55:32 of its first quadword).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct DescFlags {
    /// Fence: within a batch, wait for the earlier descriptors and stop if one failed.
    pub fence: bool,
    /// Block on fault: wait for a page fault to be resolved instead of reporting it.
    pub block_on_fault: bool,
    /// Completion record address valid.
    pub crav: bool,
    /// Request completion record (even on success).
    pub rcr: bool,
    /// Request completion interrupt.
    pub rci: bool,
    /// Completion record steering tag selector.
    pub cr_steering: bool,
    /// Bit 6, reserved.
    pub rsvd6: bool,
    /// Check result: compare the result with the expected result (predicate).
    pub check_result: bool,
    /// Cache control: steer destination writes to the cache.
    pub cache_control: bool,
    /// Bits 12:9: traffic class selectors of the addresses and the completion record.
    #[bits(4)]
    pub tcs: u8,
    /// Strict ordering of destination writes.
    pub strict_order: bool,
    /// Destination readback.
    pub dest_readback: bool,
    /// Bit 15: reserved for this engine.
    pub rsvd15: bool,
    /// Bits 23:16: operation-specific flags (CRC: bit 16 reads the seed from memory).
    pub op_specific: u8,
    /// Bits 31:24: outside the 24-bit field.
    pub outside: u8,
}

/// Operation-specific flag of CRC generation: read the seed from the seed address.
pub const CRC_FLAG_READ_SEED: u8 = 0x01;

/// The first quadword of a descriptor: PASID, privilege, flags, opcode.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct DescHeader {
    /// PASID of the submitter (bits 19:0; used by shared WQs only as carried by ENQCMD).
    #[bits(20)]
    pub pasid: u32,
    /// Bits 30:20, reserved.
    #[bits(11)]
    pub rsvd: u16,
    /// Privileged (supervisor) request.
    pub privileged: bool,
    /// Flags (bits 55:32).
    #[bits(24)]
    pub flags: u32,
    /// Opcode (bits 63:56).
    pub opcode: u8,
}

/// A 64-byte work descriptor, its fields named as the common layout names them.
///
/// The operation-specific fields share storage; accessors name them per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// Bytes 0–7: PASID, privilege, flags and opcode.
    pub header: DescHeader,
    /// Bytes 8–15: completion record address.
    pub completion_addr: u64,
    /// Bytes 16–23: source address, fill pattern or batch descriptor list address.
    pub addr1: u64,
    /// Bytes 24–31: destination address, second source or compare pattern.
    pub addr2: u64,
    /// Bytes 32–35: transfer size, or batch descriptor count.
    pub xfer_size: u32,
    /// Bytes 36–37: completion interrupt handle (an MSI-X table index).
    pub int_handle: u16,
    /// Bytes 38–39: reserved.
    pub rsvd: u16,
    /// Bytes 40–63: operation-specific fields.
    pub op_specific: [u8; 24],
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

impl Descriptor {
    /// Decodes a descriptor from its 64 bytes.
    pub fn from_bytes(b: &[u8; DESC_SIZE]) -> Self {
        let mut op_specific = [0u8; 24];
        op_specific.copy_from_slice(&b[40..64]);
        Self {
            header: DescHeader::from_bits(le64(b, 0)),
            completion_addr: le64(b, 8),
            addr1: le64(b, 16),
            addr2: le64(b, 24),
            xfer_size: le32(b, 32),
            int_handle: u16::from_le_bytes([b[36], b[37]]),
            rsvd: u16::from_le_bytes([b[38], b[39]]),
            op_specific,
        }
    }

    /// Encodes the descriptor into its 64 bytes.
    pub fn to_bytes(&self) -> [u8; DESC_SIZE] {
        let mut b = [0u8; DESC_SIZE];
        b[0..8].copy_from_slice(&self.header.into_bits().to_le_bytes());
        b[8..16].copy_from_slice(&self.completion_addr.to_le_bytes());
        b[16..24].copy_from_slice(&self.addr1.to_le_bytes());
        b[24..32].copy_from_slice(&self.addr2.to_le_bytes());
        b[32..36].copy_from_slice(&self.xfer_size.to_le_bytes());
        b[36..38].copy_from_slice(&self.int_handle.to_le_bytes());
        b[38..40].copy_from_slice(&self.rsvd.to_le_bytes());
        b[40..64].copy_from_slice(&self.op_specific);
        b
    }

    /// A descriptor of operation `op` with no fields set.
    pub fn new(op: Opcode) -> Self {
        Self {
            header: DescHeader::new().with_opcode(op as u8),
            ..Self::default()
        }
    }

    /// A memory move of `len` bytes from `src` to `dst`.
    pub fn memmove(src: u64, dst: u64, len: u32) -> Self {
        Self {
            addr1: src,
            addr2: dst,
            xfer_size: len,
            ..Self::new(Opcode::MemMove)
        }
    }

    /// A fill of `len` bytes at `dst` with the 8-byte `pattern`.
    pub fn memfill(pattern: u64, dst: u64, len: u32) -> Self {
        Self {
            addr1: pattern,
            addr2: dst,
            xfer_size: len,
            ..Self::new(Opcode::MemFill)
        }
    }

    /// A comparison of `len` bytes at `src1` and `src2`.
    pub fn compare(src1: u64, src2: u64, len: u32) -> Self {
        Self {
            addr1: src1,
            addr2: src2,
            xfer_size: len,
            ..Self::new(Opcode::Compare)
        }
    }

    /// A comparison of `len` bytes at `src` with the repeated 8-byte `pattern`.
    pub fn compare_pattern(src: u64, pattern: u64, len: u32) -> Self {
        Self {
            addr1: src,
            addr2: pattern,
            xfer_size: len,
            ..Self::new(Opcode::ComparePattern)
        }
    }

    /// A copy of `len` bytes from `src` to both `dst1` and `dst2`.
    pub fn dualcast(src: u64, dst1: u64, dst2: u64, len: u32) -> Self {
        let mut d = Self {
            addr1: src,
            addr2: dst1,
            xfer_size: len,
            ..Self::new(Opcode::Dualcast)
        };
        d.op_specific[0..8].copy_from_slice(&dst2.to_le_bytes());
        d
    }

    /// A CRC-32C of `len` bytes at `src`, starting from `seed`.
    pub fn crc_gen(src: u64, len: u32, seed: u32) -> Self {
        let mut d = Self {
            addr1: src,
            xfer_size: len,
            ..Self::new(Opcode::CrcGen)
        };
        d.op_specific[0..4].copy_from_slice(&seed.to_le_bytes());
        d
    }

    /// A cache flush of `len` bytes at `dst`.
    pub fn cache_flush(dst: u64, len: u32) -> Self {
        Self {
            addr2: dst,
            xfer_size: len,
            ..Self::new(Opcode::CacheFlush)
        }
    }

    /// A batch of `count` descriptors at `list`.
    pub fn batch(list: u64, count: u32) -> Self {
        Self {
            addr1: list,
            xfer_size: count,
            ..Self::new(Opcode::Batch)
        }
    }

    /// The same descriptor with flags `flags` and a completion record at `cr`
    /// (`crav` and `rcr` set).
    pub fn with_completion(mut self, cr: u64) -> Self {
        self.completion_addr = cr;
        let f = self.flags().with_crav(true).with_rcr(true);
        self.set_flags(f);
        self
    }

    /// The descriptor's flags.
    pub fn flags(&self) -> DescFlags {
        DescFlags::from_bits(self.header.flags())
    }

    /// Replaces the descriptor's flags (bits above 23 are dropped).
    pub fn set_flags(&mut self, f: DescFlags) {
        self.header.set_flags(f.into_bits() & 0x00ff_ffff);
    }

    /// Second destination of a dualcast (bytes 40–47).
    pub fn dest2(&self) -> u64 {
        le64(&self.op_specific, 0)
    }

    /// Expected result of a compare with check result (byte 40).
    pub fn expected_result(&self) -> u8 {
        self.op_specific[0]
    }

    /// CRC seed (bytes 40–43).
    pub fn crc_seed(&self) -> u32 {
        le32(&self.op_specific, 0)
    }

    /// CRC seed address (bytes 48–55), read when the read-seed flag is set.
    pub fn crc_seed_addr(&self) -> u64 {
        le64(&self.op_specific, 8)
    }
}

/// Completion status codes (bits 6:0 of the completion record's first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Not yet written.
    None = 0x00,
    /// Success.
    Success = 0x01,
    /// Success with false predicate.
    SuccessPred = 0x02,
    /// Page fault with block on fault off.
    PageFaultNoBof = 0x03,
    /// Page fault answered Invalid by the page request service.
    PageFaultIr = 0x04,
    /// A descriptor within the batch failed.
    BatchFail = 0x05,
    /// Page fault reading the batch descriptor list.
    BatchPageFault = 0x06,
    /// Unsupported or disabled opcode.
    BadOpcode = 0x10,
    /// Invalid flags.
    InvalidFlags = 0x11,
    /// A reserved field is not zero.
    NonzeroReserved = 0x12,
    /// Transfer size out of range.
    XferErange = 0x13,
    /// Batch descriptor count out of range.
    DescCountErange = 0x14,
    /// Source and destination overlap.
    OverlapBuffers = 0x16,
    /// Dualcast destinations differ in bits 11:0.
    DualcastAlign = 0x17,
    /// Batch descriptor list address not aligned.
    DescListAlign = 0x18,
    /// Interrupt handle out of range.
    IntHandleInvalid = 0x19,
    /// Completion record address translation failed.
    CrAddrTranslation = 0x1a,
    /// Completion record address not aligned.
    CrAddrAlign = 0x1b,
    /// Misaligned address.
    AddrAlign = 0x1c,
    /// Privileged request not allowed on this WQ.
    PrivBad = 0x1d,
    /// Translation failure other than a page fault.
    TranslationFail = 0x22,
}

/// The status byte's bit that is set when the record was written by the device.
pub const STATUS_MASK: u8 = 0x7f;

/// A 32-byte completion record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CompletionRecord {
    /// Byte 0: status code.
    pub status: u8,
    /// Byte 1: result (compare: 0 equal, 1 different).
    pub result: u8,
    /// Byte 2: fault information (bit 0: the faulting access was a write).
    pub fault_info: u8,
    /// Byte 3: reserved.
    pub rsvd: u8,
    /// Bytes 4–7: bytes completed (descriptors completed for a batch).
    pub bytes_completed: u32,
    /// Bytes 8–15: faulting address.
    pub fault_addr: u64,
    /// Bytes 16–31: operation-specific results.
    pub op_specific: [u8; 16],
}

impl CompletionRecord {
    /// Decodes a record from its 32 bytes.
    pub fn from_bytes(b: &[u8; COMPLETION_SIZE]) -> Self {
        let mut op_specific = [0u8; 16];
        op_specific.copy_from_slice(&b[16..32]);
        Self {
            status: b[0],
            result: b[1],
            fault_info: b[2],
            rsvd: b[3],
            bytes_completed: le32(b, 4),
            fault_addr: le64(b, 8),
            op_specific,
        }
    }

    /// Encodes the record into its 32 bytes.
    pub fn to_bytes(&self) -> [u8; COMPLETION_SIZE] {
        let mut b = [0u8; COMPLETION_SIZE];
        b[0] = self.status;
        b[1] = self.result;
        b[2] = self.fault_info;
        b[3] = self.rsvd;
        b[4..8].copy_from_slice(&self.bytes_completed.to_le_bytes());
        b[8..16].copy_from_slice(&self.fault_addr.to_le_bytes());
        b[16..32].copy_from_slice(&self.op_specific);
        b
    }

    /// A record with status `s` and nothing else.
    pub fn with_status(s: Status) -> Self {
        Self {
            status: s as u8,
            ..Self::default()
        }
    }

    /// The status code, without the write bit.
    pub fn status_code(&self) -> u8 {
        self.status & STATUS_MASK
    }

    /// The flags found invalid (bytes 16–18), set with [`Status::InvalidFlags`].
    pub fn invalid_flags(&self) -> u32 {
        u32::from_le_bytes([
            self.op_specific[0],
            self.op_specific[1],
            self.op_specific[2],
            0,
        ])
    }

    /// Records the invalid flags (the low 24 bits of `flags`).
    pub fn set_invalid_flags(&mut self, flags: u32) {
        self.op_specific[0..3].copy_from_slice(&flags.to_le_bytes()[0..3]);
    }

    /// The CRC value (bytes 16–19) of a CRC generation.
    pub fn crc_value(&self) -> u32 {
        le32(&self.op_specific, 0)
    }

    /// Records a CRC value.
    pub fn set_crc_value(&mut self, crc: u32) {
        self.op_specific[0..4].copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_field_positions() {
        let h = DescHeader::new()
            .with_pasid(0xabcde)
            .with_privileged(true)
            .with_flags(0x00_0100 | 0x0c)
            .with_opcode(0x03);
        // PASID bits 19:0, priv bit 31, flags bits 55:32, opcode bits 63:56.
        assert_eq!(h.into_bits(), 0x0300_010c_8000_0000 | 0xabcde);
        assert_eq!(DescHeader::from_bits(1 << 20).rsvd(), 1);
    }

    #[test]
    fn flag_bit_positions() {
        let f = |v: u32| DescFlags::from_bits(v);
        assert!(f(0x0001).fence());
        assert!(f(0x0002).block_on_fault());
        assert!(f(0x0004).crav());
        assert!(f(0x0008).rcr());
        assert!(f(0x0010).rci());
        assert!(f(0x0080).check_result());
        assert!(f(0x0100).cache_control());
        assert_eq!(f(0x1e00).tcs(), 0xf);
        assert_eq!(f(0x01_0000).op_specific(), CRC_FLAG_READ_SEED);
    }

    #[test]
    fn descriptor_field_offsets() {
        let mut d = Descriptor::dualcast(0x1111, 0x2222, 0x3333, 0x44);
        d.completion_addr = 0x5555;
        d.int_handle = 0x0607;
        let b = d.to_bytes();
        assert_eq!(b[7], 0x09, "opcode in byte 7");
        assert_eq!(b[8..10], [0x55, 0x55]);
        assert_eq!(b[16..18], [0x11, 0x11]);
        assert_eq!(b[24..26], [0x22, 0x22]);
        assert_eq!(b[32], 0x44);
        assert_eq!(b[36..38], [0x07, 0x06]);
        assert_eq!(b[40..42], [0x33, 0x33]);
        assert_eq!(Descriptor::from_bytes(&b), d);
        let c = Descriptor::crc_gen(0x10, 8, 0xdead_beef);
        assert_eq!(c.to_bytes()[40..44], [0xef, 0xbe, 0xad, 0xde]);
        let mut s = c;
        s.op_specific[8] = 0x40;
        assert_eq!(s.crc_seed_addr(), 0x40, "seed address at byte 48");
        let b = Descriptor::batch(0x1000, 5).to_bytes();
        assert_eq!((b[7], b[16..18].to_vec(), b[32]), (1, vec![0x00, 0x10], 5));
        let f = Descriptor::memfill(0x0102_0304_0506_0708, 0x9000, 16).to_bytes();
        assert_eq!(
            (f[16], f[23], f[25]),
            (0x08, 0x01, 0x90),
            "pattern at 16, dst at 24"
        );
        let p = Descriptor::compare_pattern(0x9000, 0xaa, 16).to_bytes();
        assert_eq!((p[17], p[24]), (0x90, 0xaa), "src at 16, pattern at 24");
    }

    #[test]
    fn completion_record_offsets() {
        let mut r = CompletionRecord::with_status(Status::PageFaultNoBof);
        r.result = 1;
        r.fault_info = 1;
        r.bytes_completed = 0x0102_0304;
        r.fault_addr = 0xaabb_ccdd_0000_1000;
        r.set_invalid_flags(0x00ab_cdef);
        let b = r.to_bytes();
        assert_eq!(b[0..4], [0x03, 0x01, 0x01, 0x00]);
        assert_eq!(b[4..8], [0x04, 0x03, 0x02, 0x01]);
        assert_eq!(b[8..16], 0xaabb_ccdd_0000_1000u64.to_le_bytes());
        assert_eq!(b[16..20], [0xef, 0xcd, 0xab, 0x00]);
        assert_eq!(CompletionRecord::from_bytes(&b), r);
        assert_eq!(
            CompletionRecord::from_bytes(&b).invalid_flags(),
            0x00ab_cdef
        );
    }

    #[test]
    fn status_and_opcode_numbers() {
        assert_eq!(Status::BatchPageFault as u8, 0x06);
        assert_eq!(Status::BadOpcode as u8, 0x10);
        assert_eq!(Status::DescListAlign as u8, 0x18);
        assert_eq!(Status::CrAddrAlign as u8, 0x1b);
        assert_eq!(Status::TranslationFail as u8, 0x22);
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_u8(op as u8), Some(op));
        }
        assert_eq!(
            Opcode::from_u8(0x07),
            None,
            "create delta record not implemented"
        );
        assert_eq!(Opcode::CacheFlush as u8, 0x20);
    }
}
