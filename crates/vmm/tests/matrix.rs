//! The assignment matrix cell by cell: each cell and mechanism that is built runs with two
//! guests on a host of its own, and its verdict is what the hardware allows.

use softiommu_vmm::assign::{Column, Mechanism, Unit};
use softiommu_vmm::host::IommuKind;
use softiommu_vmm::matrix::{self, Outcome, Row, Verdict};

fn run(unit: Unit, iommu: IommuKind, column: Column, mechanism: Mechanism) -> Outcome {
    let row = Row { unit, iommu };
    let cell = matrix::cells()
        .into_iter()
        .find(|c| c.row == row && c.column == column && c.mechanism == mechanism)
        .expect("the cell is in the matrix");
    matrix::run_cell(&cell)
}

/// The cell passed every check: the pattern and the timed moves landed, the second guest
/// reached none of the first's bytes.
fn assert_moved(o: &Outcome) {
    assert!(o.bytes_checked > 64 << 10, "{o:?}");
    assert!(o.throughput.is_some_and(|t| t > 0.0), "{o:?}");
}

fn direct(unit: Unit, iommu: IommuKind) {
    let o = run(unit, iommu, Column::NoViommu, Mechanism::Direct);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_moved(&o);
    assert_eq!(o.faults, "completion record (no guest queue)");
    assert_eq!(
        o.host_per_guest(),
        None,
        "no guest invalidations without a vIOMMU"
    );
}

#[test]
fn vf_on_vtd_without_viommu_is_direct() {
    direct(Unit::Vf, IommuKind::Vtd);
}

#[test]
fn vf_on_smmuv3_without_viommu_is_direct() {
    direct(Unit::Vf, IommuKind::Smmuv3);
}

#[test]
fn mdev_on_smmuv3_without_viommu_is_direct() {
    direct(Unit::Mdev, IommuKind::Smmuv3);
}

#[test]
fn mdev_on_vtd_without_viommu_is_direct() {
    direct(Unit::Mdev, IommuKind::Vtd);
}

#[test]
fn vf_on_vtd_shadowed_delivers_its_fault_to_the_guest_through_the_host_fault_queue() {
    let o = run(Unit::Vf, IommuKind::Vtd, Column::Viommu, Mechanism::Shadow);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_moved(&o);
    assert_eq!(o.isolation, "faults");
    // The guest's unmapped page is not present in its second-stage table: the vIOMMU
    // records it with that reason.
    assert_eq!(o.faults, "1 in guest queue (SSS.2)", "{o:?}");
    // Each guest invalidation of a page-sized range costs the host a map or an unmap per
    // page it covers: the guest's 68 pages mapped and one mapped and unmapped again.
    assert!(o.counts.guest_invalidations >= 5, "{o:?}");
    assert_eq!(o.counts.host_invalidations, 2 * 32 + 1 + 2, "{o:?}");
}

/// The cell is impossible for the reason `because` names, and the host refused the
/// attempt with `EOPNOTSUPP`.
fn assert_refused(o: &Outcome, because: &str, refused: &str) {
    let Verdict::Impossible {
        why,
        call,
        refusal,
        errno,
    } = &o.verdict
    else {
        panic!("{o:?}");
    };
    assert!(why.contains(because), "{why}");
    assert!(call.starts_with(refused), "{call}");
    assert_eq!(*errno, libc::EOPNOTSUPP, "{refusal}");
    assert!(refusal.contains("EOPNOTSUPP"), "{refusal}");
    assert_eq!(o.bytes_checked, 0, "nothing ran");
}

#[test]
fn an_mdev_on_smmuv3_cannot_be_nested_and_the_host_refuses_it() {
    let o = run(
        Unit::Mdev,
        IommuKind::Smmuv3,
        Column::Viommu,
        Mechanism::Nest,
    );
    assert_refused(&o, "one stage 2", "IOMMU_HWPT_ALLOC");
}

#[test]
fn an_mdev_on_smmuv3_is_shadowed_at_a_pasid_the_host_gave_its_guest() {
    let (unit, iommu) = (Unit::Mdev, IommuKind::Smmuv3);
    let o = run(unit, iommu, Column::ViommuPasid, Mechanism::ShadowPv);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_moved(&o);
    assert_eq!(o.isolation, "faults");
    assert!(
        o.faults.starts_with("1 in guest queue (F_TRANSLATION"),
        "{o:?}"
    );
}

/// A shadowed cell on SMMUv3: bytes and isolation hold, and each guest TLB invalidation
/// costs the host several IOAS calls.
fn smmu_shadow(unit: Unit) -> Outcome {
    let o = run(unit, IommuKind::Smmuv3, Column::Viommu, Mechanism::Shadow);
    assert_moved(&o);
    assert_eq!(o.isolation, "faults");
    assert!(
        o.counts.host_invalidations > o.counts.guest_invalidations,
        "{o:?}"
    );
    o
}

#[test]
fn vf_on_smmuv3_shadowed_delivers_its_fault_to_the_guest_through_the_host_fault_queue() {
    let o = smmu_shadow(Unit::Vf);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_eq!(o.faults, "1 in guest queue (F_TRANSLATION)");
}

#[test]
fn mdev_on_smmuv3_shadowed_delivers_its_fault_to_the_guest_through_the_host_fault_queue() {
    let o = smmu_shadow(Unit::Mdev);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_eq!(o.faults, "1 in guest queue (F_TRANSLATION)");
}

/// A nested VF on SMMUv3: every check holds, the fault is in the guest's event queue, and
/// each guest invalidation is forwarded as one host call.
fn smmu_nest(column: Column) {
    let o = run(Unit::Vf, IommuKind::Smmuv3, column, Mechanism::Nest);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_moved(&o);
    assert_eq!(o.isolation, "faults");
    assert!(
        o.faults.starts_with("1 in guest queue (F_TRANSLATION"),
        "{o:?}"
    );
    assert_eq!(o.host_per_guest(), Some(1.0), "{o:?}");
}

#[test]
fn vf_on_smmuv3_nested_delivers_its_fault_to_the_guest() {
    smmu_nest(Column::Viommu);
}

#[test]
fn vf_on_smmuv3_nested_at_a_guest_pasid_delivers_its_fault_to_the_guest() {
    smmu_nest(Column::ViommuPasid);
}

#[test]
fn every_cell_of_the_seed_is_listed_once_with_its_mechanisms() {
    let cells = matrix::cells();
    assert_eq!(cells.len(), 15);
    let impossible: Vec<_> = cells
        .iter()
        .filter(|c| c.impossible.is_some())
        .map(|c| (c.row.unit, c.row.iommu, c.column, c.mechanism))
        .collect();
    let mdev_smmu = (Unit::Mdev, IommuKind::Smmuv3);
    assert_eq!(
        impossible,
        [(mdev_smmu.0, mdev_smmu.1, Column::Viommu, Mechanism::Nest)]
    );
    for (i, a) in cells.iter().enumerate() {
        assert!(cells[i + 1..].iter().all(|b| b != a), "{a:?} twice");
    }
}

/// A VT-d nested cell: every check holds, the fault reaches the guest's own queue with the
/// reason its first stage gives, and the host is invalidated no more often than the guest.
fn vtd_nest(unit: Unit, column: Column, mechanism: Mechanism) {
    let o = run(unit, IommuKind::Vtd, column, mechanism);
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_moved(&o);
    assert_eq!(o.isolation, "faults");
    assert_eq!(o.faults, "1 in guest queue (SFS.2)");
    let c = o.counts;
    assert!(c.host_invalidations > 0, "{o:?}");
    assert!(c.host_invalidations <= c.guest_invalidations, "{o:?}");
}

#[test]
fn vf_on_vtd_nested_at_its_rid() {
    vtd_nest(Unit::Vf, Column::Viommu, Mechanism::Nest);
}

#[test]
fn vf_on_vtd_nested_at_a_guest_pasid() {
    vtd_nest(Unit::Vf, Column::ViommuPasid, Mechanism::Nest);
}

#[test]
fn mdev_on_vtd_nested_at_its_pasid_of_the_parent() {
    vtd_nest(Unit::Mdev, Column::Viommu, Mechanism::Nest);
}

#[test]
fn mdev_on_vtd_nested_with_the_hosts_pasid() {
    vtd_nest(Unit::Mdev, Column::ViommuPasid, Mechanism::NestPv);
}
