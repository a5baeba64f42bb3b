//! The library side of the `softiommu` command: what the command line and mapping files
//! spell ([`parse`]), and (feature `fuzzing`) the body of the parser fuzz target.

pub mod parse;

#[cfg(feature = "fuzzing")]
pub mod fuzz;
