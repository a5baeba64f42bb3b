//! The formats: one module each, every one a [`Format`](crate::Format).

pub mod vtd_ss;
pub mod x86;
