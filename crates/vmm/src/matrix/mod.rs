//! The guest-assignment matrix: what can be given to a guest — a whole function (VF) or an
//! mdev, on VT-d or SMMUv3 — under a guest with no vIOMMU, a vIOMMU it uses without PASIDs,
//! or one with PASIDs, and by which mechanism each is done:
//!
//! | | no vIOMMU | vIOMMU, no PASID | vIOMMU with PASID |
//! |---|---|---|---|
//! | VF (VT-d or SMMUv3) | direct | shadow or nest | nest |
//! | mdev, SMMUv3 | direct | shadow (nest impossible) | shadow + PV |
//! | mdev, VT-d | direct | nest | nest + PV |
//!
//! [`cells`] lists every cell and mechanism; [`assign`] is the one place that makes the
//! [`Assigned`] of a cell; [`run`] runs cells with two guests on one host each and checks
//! what the guests see; [`report`] prints the outcome as a table or JSON.

pub mod report;
mod run;

use crate::SmmuShadow;
use crate::assign::{Assigned, Column, Direct, Mechanism, Unit, VtdShadow};
use crate::host::IommuKind;
use crate::nest::{SmmuNest, nest_vtd};
use crate::{Error, Guest, HostRig, Result};

pub use run::{Outcome, Verdict, run, run_cell};

/// Guest RAM: one range of 64 MiB at guest-physical 0.
pub const GUEST_RAM: (u64, usize) = (0, 64 << 20);
/// Where a guest kernel keeps its vIOMMU's tables and queues: the top 16 MiB of its RAM.
pub const GUEST_TABLES: (u64, u64) = (48 << 20, 16 << 20);

/// A row of the matrix: what is assigned, on which host IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Row {
    /// A whole function or an mdev.
    pub unit: Unit,
    /// The host's IOMMU.
    pub iommu: IommuKind,
}

/// The rows in the order the matrix shows them.
pub const ROWS: [Row; 4] = [
    Row {
        unit: Unit::Vf,
        iommu: IommuKind::Vtd,
    },
    Row {
        unit: Unit::Vf,
        iommu: IommuKind::Smmuv3,
    },
    Row {
        unit: Unit::Mdev,
        iommu: IommuKind::Smmuv3,
    },
    Row {
        unit: Unit::Mdev,
        iommu: IommuKind::Vtd,
    },
];

impl Row {
    /// The row's short name, as `--only` takes it: `vf-vtd`, `vf-smmuv3`, `mdev-smmuv3`,
    /// `mdev-vtd`.
    pub fn key(self) -> String {
        let unit = match self.unit {
            Unit::Vf => "vf",
            Unit::Mdev => "mdev",
        };
        format!("{unit}-{}", self.iommu.name())
    }

    /// The row named `key` (see [`key`](Self::key)), in either case.
    pub fn parse(key: &str) -> Option<Row> {
        ROWS.into_iter()
            .find(|r| r.key().eq_ignore_ascii_case(key.trim()))
    }

    /// The row as the table shows it: `VF on VT-d`.
    pub fn title(self) -> &'static str {
        match (self.unit, self.iommu) {
            (Unit::Vf, IommuKind::Vtd) => "VF on VT-d",
            (Unit::Vf, IommuKind::Smmuv3) => "VF on SMMUv3",
            (Unit::Mdev, IommuKind::Smmuv3) => "mdev on SMMUv3",
            (Unit::Mdev, IommuKind::Vtd) => "mdev on VT-d",
        }
    }
}

/// The column as the table shows it.
pub fn column_title(c: Column) -> &'static str {
    match c {
        Column::NoViommu => "no vIOMMU",
        Column::Viommu => "vIOMMU",
        Column::ViommuPasid => "vIOMMU+PASID",
    }
}

/// The mechanism as the table shows it.
pub fn mechanism_name(m: Mechanism) -> &'static str {
    match m {
        Mechanism::Direct => "direct",
        Mechanism::Shadow => "shadow",
        Mechanism::Nest => "nest",
        Mechanism::ShadowPv => "shadow+PV",
        Mechanism::NestPv => "nest+PV",
    }
}

/// One cell of the matrix done by one mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    /// The row.
    pub row: Row,
    /// The column.
    pub column: Column,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Why the hardware cannot do it, when it cannot: the host must refuse the attempt.
    pub impossible: Option<Impossible>,
}

/// A cell the hardware cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Impossible {
    /// Why not.
    pub why: &'static str,
    /// The host call the attempt makes that the host must refuse.
    pub call: &'static str,
}

/// The PASID a guest with PASIDs gives its device (column "vIOMMU with PASID").
pub const GUEST_PASID: u32 = 5;

/// Why an mdev on SMMUv3 cannot be nested.
const MDEV_SMMU_NEST: Impossible = Impossible {
    why: "an SMMUv3 stream has one stage 2, and every mdev of a parent shares the parent's \
          StreamID: the stage 2 of one guest cannot be given to one mdev",
    call: "IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT for the mdev",
};

/// Every cell of the matrix with each mechanism the seed names for it, row by row.
pub fn cells() -> Vec<Cell> {
    use Column::{NoViommu, Viommu, ViommuPasid};
    use Mechanism::{Direct, Nest, NestPv, Shadow, ShadowPv};
    let mut out = Vec::new();
    for row in ROWS {
        let mut add = |column, mechanism, impossible| {
            out.push(Cell {
                row,
                column,
                mechanism,
                impossible,
            });
        };
        add(NoViommu, Direct, None);
        match (row.unit, row.iommu) {
            (Unit::Vf, _) => {
                add(Viommu, Shadow, None);
                add(Viommu, Nest, None);
                add(ViommuPasid, Nest, None);
            }
            (Unit::Mdev, IommuKind::Smmuv3) => {
                add(Viommu, Shadow, None);
                add(Viommu, Nest, Some(MDEV_SMMU_NEST));
                add(ViommuPasid, ShadowPv, None);
            }
            (Unit::Mdev, IommuKind::Vtd) => {
                add(Viommu, Nest, None);
                add(ViommuPasid, NestPv, None);
            }
        }
    }
    out
}

/// The device of `cell` assigned to `guest` on `rig`, for the guest in `slot` (0 or 1:
/// which function of the engine a VF row gives it): the one place where each cell and
/// mechanism is mapped to the code that does it.
pub fn assign(rig: &HostRig, guest: &Guest, slot: usize, cell: &Cell) -> Result<Box<dyn Assigned>> {
    use Column::{NoViommu, Viommu, ViommuPasid};
    use IommuKind::{Smmuv3, Vtd};
    use Mechanism::{Nest, NestPv, Shadow, ShadowPv};
    use Unit::{Mdev, Vf};
    if rig.kind() != cell.row.iommu {
        return Err(Error::Host(format!(
            "the cell wants a {} host, this one is {}",
            cell.row.iommu.name(),
            rig.kind().name()
        )));
    }
    match (cell.row.unit, cell.column, cell.mechanism, cell.row.iommu) {
        (unit, NoViommu, Mechanism::Direct, _) => {
            Ok(Box::new(Direct::new(rig, guest, unit, slot)?))
        }
        (Vf, Viommu, Shadow, Vtd) => Ok(Box::new(VtdShadow::new(rig, guest, slot, GUEST_TABLES)?)),
        // VT-d nesting: a VF at its RID or a guest PASID, an mdev at its PASID of the parent
        // (the guest's PASID the host's, through the vIOMMU's virtual commands).
        (unit, Viommu, Nest, Vtd) | (unit @ Vf, ViommuPasid, Nest, Vtd) => {
            nest_vtd(rig, guest, (unit, slot), cell.column, GUEST_TABLES)
        }
        (Mdev, ViommuPasid, NestPv, Vtd) => {
            nest_vtd(rig, guest, (Mdev, slot), ViommuPasid, GUEST_TABLES)
        }
        // SMMUv3 shadowing and nesting (an mdev's nesting is the host's refusal); an mdev's
        // guest PASIDs are the host's, given through a paravirtual call.
        (Vf, Viommu, Shadow, Smmuv3) => {
            Ok(Box::new(SmmuShadow::vf(rig, guest, slot, GUEST_TABLES)?))
        }
        (Mdev, Viommu, Shadow, Smmuv3) => Ok(Box::new(SmmuShadow::mdev(rig, guest, GUEST_TABLES)?)),
        (Mdev, ViommuPasid, ShadowPv, Smmuv3) => {
            Ok(Box::new(SmmuShadow::mdev_pasid(rig, guest, GUEST_TABLES)?))
        }
        (Vf, Viommu, Nest, Smmuv3) => Ok(Box::new(SmmuNest::new(
            rig,
            guest,
            slot,
            GUEST_TABLES,
            None,
        )?)),
        (Vf, ViommuPasid, Nest, Smmuv3) => Ok(Box::new(SmmuNest::new(
            rig,
            guest,
            slot,
            GUEST_TABLES,
            Some(GUEST_PASID),
        )?)),
        (Mdev, Viommu, Nest, Smmuv3) => Ok(Box::new(SmmuNest::mdev(rig, guest)?)),
        _ => Err(Error::NotInMatrix(describe(cell))),
    }
}

/// `VF on VT-d, vIOMMU, nest`.
pub fn describe(cell: &Cell) -> String {
    format!(
        "{}, {}, {}",
        cell.row.title(),
        column_title(cell.column),
        mechanism_name(cell.mechanism)
    )
}
