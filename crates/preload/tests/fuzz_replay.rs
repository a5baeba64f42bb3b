//! The trap's fuzz target: every stored input (`fuzz/corpus/trap_instruction/` and
//! `fuzz/regressions/trap_instruction/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    trap_instruction => softiommu_preload::trap::fuzz::instruction,
);

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Random instruction bytes: decoded, refused or emulated, never a crash.
    #[test]
    fn random_instructions_are_emulated_or_refused(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..19),
    ) {
        softiommu_preload::trap::fuzz::instruction(&data);
    }
}
