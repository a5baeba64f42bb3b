//! The core's end-to-end scenarios ([`softiommu_core::testing::dsa`]) on the SMMUv3 driver
//! over the unit model: a DSA-compatible engine's DMA through the SMMU's bus, in `smmu::`.

mod common;

use common::SmmuHarness;

softiommu_core::dsa_tests!(smmu, SmmuHarness);
