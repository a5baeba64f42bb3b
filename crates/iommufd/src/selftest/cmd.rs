//! `struct iommu_test_cmd` as bytes: the header `{size, op, id, __reserved}`, the union of
//! each op's payload from byte 16, and `last` at byte 64 (72 bytes, 68 the least accepted).

/// Byte offset of the union.
pub(super) const PAYLOAD: usize = 16;
/// Size of the structure.
pub(super) const SIZE: usize = 72;

/// One test command, read from and written back to the caller.
pub(super) struct TestCmd {
    b: [u8; SIZE],
}

impl TestCmd {
    /// The command from the caller's bytes (at most [`SIZE`] of them).
    pub(super) fn new(bytes: &[u8]) -> TestCmd {
        let mut b = [0u8; SIZE];
        let n = bytes.len().min(SIZE);
        b[..n].copy_from_slice(&bytes[..n]);
        TestCmd { b }
    }

    /// The bytes to copy back.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.b
    }

    /// `op`.
    pub(super) fn op(&self) -> u32 {
        self.u32_at(4)
    }

    /// `id`.
    pub(super) fn id(&self) -> u32 {
        self.u32_at(8)
    }

    /// The `u32` at byte `off` of the payload.
    pub(super) fn u32(&self, off: usize) -> u32 {
        self.u32_at(PAYLOAD + off)
    }

    /// The `u64` at byte `off` of the payload.
    pub(super) fn u64(&self, off: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.b[PAYLOAD + off..PAYLOAD + off + 8]);
        u64::from_ne_bytes(w)
    }

    /// Sets the `u32` at byte `off` of the payload.
    pub(super) fn set_u32(&mut self, off: usize, v: u32) {
        self.b[PAYLOAD + off..PAYLOAD + off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    /// Sets the `u64` at byte `off` of the payload.
    pub(super) fn set_u64(&mut self, off: usize, v: u64) {
        self.b[PAYLOAD + off..PAYLOAD + off + 8].copy_from_slice(&v.to_ne_bytes());
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.b[at..at + 4]);
        u32::from_ne_bytes(w)
    }
}
