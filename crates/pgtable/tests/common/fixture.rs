//! Tables in a RAM arena, the configurations the walk tests run over, the shape of each walk as
//! the specification gives it (written out by hand, not taken from the library's geometry), and
//! raw access to entries.

use std::sync::Arc;

use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Format, PageTable};

/// Table memory is `[0, ARENA)` of one RAM arena; the output addresses the tests map lie above it.
pub const ARENA: u64 = 64 << 20;

/// Output addresses of mappings start here (1 TiB), well outside the arena.
pub const PA_BASE: u64 = 1 << 40;

/// A page table whose pages come from a fresh arena.
pub type Table<F> = PageTable<F, Arc<RamArena>>;

/// A fresh table of `fmt` over a fresh arena.
pub fn table<F: Format>(fmt: F) -> Table<F> {
    let mem = Arc::new(RamArena::new(0, ARENA).expect("arena"));
    table_in(fmt, mem)
}

/// A fresh table of `fmt` whose pages come from `mem` (`[0, ARENA)`).
pub fn table_in<F: Format>(fmt: F, mem: Arc<RamArena>) -> Table<F> {
    let alloc = Arc::new(PageAlloc::new(mem, 0, ARENA).expect("allocator"));
    PageTable::new(fmt, alloc).expect("table")
}

/// The raw entry at `pa`.
pub fn load<F: Format>(t: &Table<F>, pa: u64) -> u64 {
    t.mem().load_u64(pa).expect("entry in table memory")
}

/// Writes `value` as the raw entry at `pa`.
pub fn store<F: Format>(t: &Table<F>, pa: u64, value: u64) {
    t.mem().store_u64(pa, value).expect("entry in table memory");
}

/// Physical addresses of the entries a walk for `iova` reads, root first.
pub fn path<F: Format>(t: &Table<F>, iova: u64) -> Vec<u64> {
    t.trace(iova).iter().map(|s| s.entry_pa).collect()
}

/// Physical address of the last entry a walk for `iova` reads (the leaf, when it is mapped).
pub fn leaf_entry<F: Format>(t: &Table<F>, iova: u64) -> u64 {
    *path(t, iova)
        .last()
        .expect("a walk reads at least the root entry")
}

/// The walk of one configuration, as the specification describes it.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The format's own number of each level, root first.
    pub numbers: &'static [u8],
    /// The lowest input bit each level indexes, root first.
    pub shifts: &'static [u32],
    /// Index bits of each level, root first (the root may have fewer, or more when stage-2
    /// tables are concatenated).
    pub bits: &'static [u32],
}

impl Shape {
    /// Index of `iova` in the table at level `level` (counted from the root).
    pub fn index(&self, level: usize, iova: u64) -> u64 {
        (iova >> self.shifts[level]) & ((1u64 << self.bits[level]) - 1)
    }

    /// Levels of the walk.
    pub fn depth(&self) -> usize {
        self.numbers.len()
    }

    /// The level (from the root) the format numbers `number`.
    pub fn at(&self, number: u8) -> usize {
        self.numbers
            .iter()
            .position(|&n| n == number)
            .expect("level number of this format")
    }
}

/// x86-64 4-level: PML4 47:39, PDPT 38:30, PD 29:21, PT 20:12 (A.9).
pub const X86_4: Shape = Shape {
    numbers: &[4, 3, 2, 1],
    shifts: &[39, 30, 21, 12],
    bits: &[9, 9, 9, 9],
};

/// x86-64 5-level: PML5 56:48 above the 4-level walk.
pub const X86_5: Shape = Shape {
    numbers: &[5, 4, 3, 2, 1],
    shifts: &[48, 39, 30, 21, 12],
    bits: &[9, 9, 9, 9, 9],
};

/// VT-d second stage, 3 levels (39-bit): SS-PDPE 38:30, SS-PDE 29:21, SS-PTE 20:12.
pub const VTD_3: Shape = Shape {
    numbers: &[3, 2, 1],
    shifts: &[30, 21, 12],
    bits: &[9, 9, 9],
};

/// VT-d second stage, 4 levels (48-bit).
pub const VTD_4: Shape = X86_4;

/// VT-d second stage, 5 levels (57-bit).
pub const VTD_5: Shape = X86_5;

/// Arm 4K granule, 48-bit input, from L0: 47:39, 38:30, 29:21, 20:12 (C.4).
pub const ARM_4K_48: Shape = Shape {
    numbers: &[0, 1, 2, 3],
    shifts: &[39, 30, 21, 12],
    bits: &[9, 9, 9, 9],
};

/// Arm 16K granule, 48-bit input, from L0: 47 (1 bit), 46:36, 35:25, 24:14.
pub const ARM_16K_48: Shape = Shape {
    numbers: &[0, 1, 2, 3],
    shifts: &[47, 36, 25, 14],
    bits: &[1, 11, 11, 11],
};

/// Arm 64K granule, 48-bit input, from L1: 47:42 (6 bits), 41:29, 28:16.
pub const ARM_64K_48: Shape = Shape {
    numbers: &[1, 2, 3],
    shifts: &[42, 29, 16],
    bits: &[6, 13, 13],
};

/// Arm stage 2, 4K granule, 40-bit IPA, starting at L1 with two concatenated tables: the root
/// resolves 39:30 (10 bits), then 29:21 and 20:12 (C.5).
pub const S2_4K_40: Shape = Shape {
    numbers: &[1, 2, 3],
    shifts: &[30, 21, 12],
    bits: &[10, 9, 9],
};

/// Arm stage 2, 4K granule, 48-bit IPA, starting at L0 (S2SL0 = 2).
pub const S2_4K_48: Shape = ARM_4K_48;

/// Arm stage 2, 16K granule, 47-bit IPA, starting at L1 (one table): 46:36, 35:25, 24:14.
pub const S2_16K_47: Shape = Shape {
    numbers: &[1, 2, 3],
    shifts: &[36, 25, 14],
    bits: &[11, 11, 11],
};

/// Arm stage 2, 64K granule, 42-bit IPA, starting at L2 (one table): 41:29, 28:16.
pub const S2_64K_42: Shape = Shape {
    numbers: &[2, 3],
    shifts: &[29, 16],
    bits: &[13, 13],
};

/// x86-64 paging with `levels` levels and otherwise the defaults (48-bit HAW, 1G pages, WPE
/// off, A and D preset).
pub fn x86(levels: u8) -> X86 {
    X86::new(X86Config {
        levels,
        ..X86Config::default()
    })
    .expect("x86 config")
}

/// x86-64 paging from a full configuration.
pub fn x86_with(cfg: X86Config) -> X86 {
    X86::new(cfg).expect("x86 config")
}

/// VT-d second stage with `levels` levels and otherwise the defaults (48-bit HAW, 2M and 1G
/// pages, snoop control, no A/D).
pub fn vtd(levels: u8) -> VtdSs {
    VtdSs::new(VtdSsConfig {
        levels,
        ..VtdSsConfig::default()
    })
    .expect("vtd-ss config")
}

/// VT-d second stage from a full configuration.
pub fn vtd_with(cfg: VtdSsConfig) -> VtdSs {
    VtdSs::new(cfg).expect("vtd-ss config")
}

/// Arm stage 1 with `granule`, 48-bit input and output, no hardware updates.
pub fn s1(granule: Granule) -> ArmS1 {
    s1_with(ArmS1Config {
        granule,
        ..ArmS1Config::default()
    })
}

/// Arm stage 1 from a full configuration.
pub fn s1_with(cfg: ArmS1Config) -> ArmS1 {
    ArmS1::new(cfg).expect("arm-s1 config")
}

/// Arm stage 2, 4K granule, 40-bit IPA: starts at L1 with two concatenated root tables.
pub fn s2_4k() -> ArmS2 {
    let cfg = ArmS2Config::auto(Granule::K4, 40, 48).expect("arm-s2 4K config");
    assert_eq!(cfg.start_level, 1);
    ArmS2::new(cfg).expect("arm-s2 4K")
}

/// Arm stage 2, 4K granule, 48-bit IPA, starting at L0.
pub fn s2_4k_l0() -> ArmS2 {
    s2_with(ArmS2Config {
        granule: Granule::K4,
        ia_bits: 48,
        start_level: 0,
        oa_bits: 48,
        ha: false,
        hd: false,
    })
}

/// Arm stage 2, 16K granule, 47-bit IPA, starting at L1.
pub fn s2_16k() -> ArmS2 {
    s2_with(ArmS2Config {
        granule: Granule::K16,
        ia_bits: 47,
        start_level: 1,
        oa_bits: 48,
        ha: false,
        hd: false,
    })
}

/// Arm stage 2, 64K granule, 42-bit IPA, starting at L2.
pub fn s2_64k() -> ArmS2 {
    s2_with(ArmS2Config {
        granule: Granule::K64,
        ia_bits: 42,
        start_level: 2,
        oa_bits: 48,
        ha: false,
        hd: false,
    })
}

/// Arm stage 2 from a full configuration.
pub fn s2_with(cfg: ArmS2Config) -> ArmS2 {
    ArmS2::new(cfg).expect("arm-s2 config")
}

/// `f`'s configuration with hardware Access-flag (`ha`) and dirty-state (`hd`) updates as given.
pub fn s2_hw(f: &ArmS2, ha: bool, hd: bool) -> ArmS2 {
    s2_with(ArmS2Config {
        ha,
        hd,
        ..*f.config()
    })
}

/// `f`'s configuration with hardware Access-flag (`ha`) and dirty-state (`hd`) updates as given.
pub fn s1_hw(f: &ArmS1, ha: bool, hd: bool) -> ArmS1 {
    s1_with(ArmS1Config {
        ha,
        hd,
        ..*f.config()
    })
}
