//! A format chosen at run time: one of the four, behind one type.

use crate::format::{Format, Pte};
use crate::formats::arm_s1::ArmS1;
use crate::formats::arm_s2::ArmS2;
use crate::formats::vtd_ss::VtdSs;
use crate::formats::x86::X86;
use crate::geometry::Geometry;
use crate::prot::{Access, Prot};

/// Any of the formats, for code that picks one at run time (a driver choosing by capability,
/// a domain that must name its format to every instance it is attached to).
#[derive(Debug, Clone)]
pub enum AnyFormat {
    /// x86-64 paging (VT-d first stage, process tables).
    X86(X86),
    /// VT-d second stage.
    VtdSs(VtdSs),
    /// Arm VMSAv8-64 stage 1.
    ArmS1(ArmS1),
    /// Arm VMSAv8-64 stage 2.
    ArmS2(ArmS2),
}

macro_rules! each {
    ($self:ident, $f:ident => $e:expr) => {
        match $self {
            AnyFormat::X86($f) => $e,
            AnyFormat::VtdSs($f) => $e,
            AnyFormat::ArmS1($f) => $e,
            AnyFormat::ArmS2($f) => $e,
        }
    };
}

impl AnyFormat {
    /// The hardware walk of [`walk::translate`](crate::walk::translate), with the format
    /// chosen once for the whole walk rather than at every entry.
    #[inline]
    pub fn translate<M: softiommu_mem::AddressSpace + ?Sized>(
        &self,
        mem: &M,
        root: u64,
        iova: u64,
        access: Access,
    ) -> Result<crate::Translation, crate::WalkFault> {
        each!(self, f => crate::walk::translate(f, mem, root, iova, access))
    }
}

impl From<X86> for AnyFormat {
    fn from(f: X86) -> Self {
        AnyFormat::X86(f)
    }
}

impl From<VtdSs> for AnyFormat {
    fn from(f: VtdSs) -> Self {
        AnyFormat::VtdSs(f)
    }
}

impl From<ArmS1> for AnyFormat {
    fn from(f: ArmS1) -> Self {
        AnyFormat::ArmS1(f)
    }
}

impl From<ArmS2> for AnyFormat {
    fn from(f: ArmS2) -> Self {
        AnyFormat::ArmS2(f)
    }
}

impl Format for AnyFormat {
    fn name(&self) -> &'static str {
        each!(self, f => f.name())
    }
    #[inline]
    fn geometry(&self) -> &Geometry {
        each!(self, f => f.geometry())
    }
    #[inline]
    fn is_valid(&self, pte: u64) -> bool {
        each!(self, f => f.is_valid(pte))
    }
    #[inline]
    fn decode(&self, pte: u64, level: usize) -> Pte {
        each!(self, f => f.decode(pte, level))
    }
    #[inline]
    fn next_table(&self, pte: u64, level: usize) -> Option<u64> {
        each!(self, f => f.next_table(pte, level))
    }
    fn kind_bits(&self) -> u64 {
        each!(self, f => f.kind_bits())
    }
    #[inline]
    fn table(&self, next: u64, level: usize) -> u64 {
        each!(self, f => f.table(next, level))
    }
    #[inline]
    fn leaf(&self, pa: u64, level: usize, prot: Prot) -> u64 {
        each!(self, f => f.leaf(pa, level, prot))
    }
    fn leaf_prot(&self, pte: u64, level: usize) -> Prot {
        each!(self, f => f.leaf_prot(pte, level))
    }
    fn effective(&self, prot: Prot) -> Prot {
        each!(self, f => f.effective(prot))
    }
    fn demote(&self, pte: u64, level: usize) -> u64 {
        each!(self, f => f.demote(pte, level))
    }
    #[inline]
    fn input(&self, iova: u64) -> Option<u64> {
        each!(self, f => f.input(iova))
    }
    #[inline]
    fn access_flag_fault(&self, pte: u64, level: usize) -> bool {
        each!(self, f => f.access_flag_fault(pte, level))
    }
    #[inline]
    fn hw_update(&self, pte: u64, level: usize, leaf: bool, access: Access) -> u64 {
        each!(self, f => f.hw_update(pte, level, leaf, access))
    }
    fn tracks_dirty(&self) -> bool {
        each!(self, f => f.tracks_dirty())
    }
    fn is_dirty(&self, pte: u64, level: usize) -> bool {
        each!(self, f => f.is_dirty(pte, level))
    }
    fn clear_dirty(&self, pte: u64, level: usize) -> u64 {
        each!(self, f => f.clear_dirty(pte, level))
    }
    fn describe(&self, pte: u64, level: usize) -> String {
        each!(self, f => f.describe(pte, level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::arm::Granule;
    use crate::formats::arm_s1::ArmS1Config;
    use crate::formats::vtd_ss::VtdSsConfig;
    use crate::formats::x86::X86Config;

    #[test]
    fn delegates_every_entry_function() {
        let x = X86::new(X86Config::default()).unwrap();
        let a: AnyFormat = x.clone().into();
        assert_eq!(a.name(), "x86-4");
        assert_eq!(
            a.leaf(0x20_0000, 2, Prot::RW),
            x.leaf(0x20_0000, 2, Prot::RW)
        );
        assert_eq!(a.decode(0x1003, 0), x.decode(0x1003, 0));
        let v: AnyFormat = VtdSs::new(VtdSsConfig::default()).unwrap().into();
        assert_eq!(v.geometry().depth(), 4);
        let s1 = ArmS1::new(ArmS1Config {
            granule: Granule::K16,
            ia_bits: 47,
            ..ArmS1Config::default()
        })
        .unwrap();
        let a1: AnyFormat = s1.clone().into();
        assert_eq!(a1.geometry(), s1.geometry());
        assert_eq!(a1.input(1 << 47), None);
    }
}
