//! The formats: one module each, every one a [`Format`](crate::Format), and [`any::AnyFormat`]
//! for a format chosen at run time.

pub mod any;
pub mod arm;
pub mod arm_s1;
pub mod arm_s2;
pub mod vtd_ss;
pub mod x86;
