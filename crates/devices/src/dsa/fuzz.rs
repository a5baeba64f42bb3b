//! A fuzz body: register writes and portal writes from arbitrary bytes.

/// Drives an engine from `data` (stub until the engine is complete).
pub fn fuzz_engine(data: &[u8]) {
    let _ = data;
}
