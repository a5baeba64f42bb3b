//! The formats: one module each, every one a [`Format`](crate::Format).

pub mod x86;
