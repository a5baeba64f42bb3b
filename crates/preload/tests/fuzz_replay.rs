//! The library's fuzz targets: every stored input (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    trap_instruction => softiommu_preload::trap::fuzz::instruction,
    device_list => softiommu_preload::fuzz::device_list,
    trace_ioctl => softiommu_preload::fuzz::trace_ioctl,
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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Random device-list text (from the characters its lines are made of): parsed or refused.
    #[test]
    fn random_device_lists_are_parsed_or_refused(text in "[dsa@0-9a-fx:. #\n]{0,80}") {
        softiommu_preload::fuzz::device_list(text.as_bytes());
    }

    /// Random ioctl arguments: decoded from their bytes, never a crash.
    #[test]
    fn random_ioctl_arguments_are_decoded(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
    ) {
        softiommu_preload::fuzz::trace_ioctl(&data);
    }
}
