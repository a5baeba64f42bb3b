//! Random register writes and descriptors.
