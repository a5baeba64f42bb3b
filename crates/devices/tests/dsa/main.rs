//! The DSA-compatible engine as a driver sees it: bring-up, every operation, every error.

mod corpus;
mod driver;
mod errors;
mod harness;
mod pci;
mod props;
