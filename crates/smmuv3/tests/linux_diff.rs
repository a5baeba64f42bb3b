//! The driver against Linux's: for each configuration the behaviour suites set up (stage 1 at
//! the RID and at a PASID, stage 2, identity, blocked, nested over a user's vSTE, SVA, with and
//! without ATS, on SMMUs that can stall or not, for devices with page requests), the STE and the
//! CDs the driver left in memory are compared field by field with what Linux's arm-smmu-v3
//! would write for the same configuration ([`linux`], built from Linux's field positions).
//!
//! The inputs both sides share are taken from the configuration: the addresses of tables (the
//! driver's allocations), the ASID or VMID a domain has, the geometry of a domain's page table
//! (granule, input and output widths, start level) and the SMMU's ID registers. Every field
//! where the two differ on purpose is listed with its scenario and the reason; any other
//! difference fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "linux_words/linux.rs"]
mod linux;

use std::sync::Arc;

use softiommu_core::testing::{DEV, InstSpec, Platform, Shape};
use softiommu_core::{DeviceCaps, DeviceId, Domain, NestedData, PagingRequest};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Prot;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_smmuv3::regs::{
    SMMU_IDR0, SMMU_IDR1, SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG, SmmuParams, StallModel,
};

use common::{SmmuHarness, Unit};
use linux::{Entry, Features, genmask, get};

/// A field as Linux names it: its name, word and mask.
type Field = (&'static str, usize, u64);

const STE_FIELDS: &[Field] = &[
    ("V", 0, linux::STRTAB_STE_0_V),
    ("CFG", 0, linux::STRTAB_STE_0_CFG),
    ("S1FMT", 0, linux::STRTAB_STE_0_S1FMT),
    ("S1CTXPTR", 0, linux::STRTAB_STE_0_S1CTXPTR_MASK),
    ("S1CDMAX", 0, linux::STRTAB_STE_0_S1CDMAX),
    ("S1DSS", 1, linux::STRTAB_STE_1_S1DSS),
    ("S1CIR", 1, linux::STRTAB_STE_1_S1CIR),
    ("S1COR", 1, linux::STRTAB_STE_1_S1COR),
    ("S1CSH", 1, linux::STRTAB_STE_1_S1CSH),
    ("MEV", 1, linux::STRTAB_STE_1_MEV),
    ("S2FWB", 1, linux::STRTAB_STE_1_S2FWB),
    ("S1STALLD", 1, linux::STRTAB_STE_1_S1STALLD),
    ("EATS", 1, linux::STRTAB_STE_1_EATS),
    ("STRW", 1, linux::STRTAB_STE_1_STRW),
    ("SHCFG", 1, linux::STRTAB_STE_1_SHCFG),
    ("S2VMID", 2, linux::STRTAB_STE_2_S2VMID),
    ("S2T0SZ", 2, linux::STRTAB_STE_2_VTCR_S2T0SZ << 32),
    ("S2SL0", 2, linux::STRTAB_STE_2_VTCR_S2SL0 << 32),
    ("S2IR0", 2, linux::STRTAB_STE_2_VTCR_S2IR0 << 32),
    ("S2OR0", 2, linux::STRTAB_STE_2_VTCR_S2OR0 << 32),
    ("S2SH0", 2, linux::STRTAB_STE_2_VTCR_S2SH0 << 32),
    ("S2TG", 2, linux::STRTAB_STE_2_VTCR_S2TG << 32),
    ("S2PS", 2, linux::STRTAB_STE_2_VTCR_S2PS << 32),
    ("S2AA64", 2, linux::STRTAB_STE_2_S2AA64),
    ("S2ENDI", 2, linux::STRTAB_STE_2_S2ENDI),
    ("S2PTW", 2, linux::STRTAB_STE_2_S2PTW),
    ("S2S", 2, linux::STRTAB_STE_2_S2S),
    ("S2R", 2, linux::STRTAB_STE_2_S2R),
    ("S2TTB", 3, linux::STRTAB_STE_3_S2TTB_MASK),
];

const CD_FIELDS: &[Field] = &[
    ("T0SZ", 0, linux::CTXDESC_CD_0_TCR_T0SZ),
    ("TG0", 0, linux::CTXDESC_CD_0_TCR_TG0),
    ("IRGN0", 0, linux::CTXDESC_CD_0_TCR_IRGN0),
    ("ORGN0", 0, linux::CTXDESC_CD_0_TCR_ORGN0),
    ("SH0", 0, linux::CTXDESC_CD_0_TCR_SH0),
    ("EPD0", 0, linux::CTXDESC_CD_0_TCR_EPD0),
    ("ENDI", 0, linux::CTXDESC_CD_0_ENDI),
    ("EPD1", 0, linux::CTXDESC_CD_0_TCR_EPD1),
    ("V", 0, linux::CTXDESC_CD_0_V),
    ("IPS", 0, linux::CTXDESC_CD_0_TCR_IPS),
    ("TBI0", 0, linux::CTXDESC_CD_0_TCR_TBI0),
    ("AA64", 0, linux::CTXDESC_CD_0_AA64),
    ("HD", 0, linux::CTXDESC_CD_0_TCR_HD),
    ("HA", 0, linux::CTXDESC_CD_0_TCR_HA),
    ("S", 0, linux::CTXDESC_CD_0_S),
    ("R", 0, linux::CTXDESC_CD_0_R),
    ("A", 0, linux::CTXDESC_CD_0_A),
    ("ASET", 0, linux::CTXDESC_CD_0_ASET),
    ("ASID", 0, linux::CTXDESC_CD_0_ASID),
    ("TTB0", 1, linux::CTXDESC_CD_1_TTB0_MASK),
    ("MAIR[2:0]", 3, 0xff_ffff),
    ("MAIR[7:3]", 3, !0xff_ffff),
];

/// Names for the bits of each word no field above names.
const OTHER: [&str; 8] = [
    "DW0 other",
    "DW1 other",
    "DW2 other",
    "DW3 other",
    "DW4",
    "DW5",
    "DW6",
    "DW7",
];

/// The fields of `fields` (and the unnamed bits of each word) where `got` differs from `want`.
fn differing(fields: &[Field], got: &Entry, want: &Entry) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut named = [0u64; 8];
    for &(name, w, mask) in fields {
        named[w] |= mask;
        if got[w] & mask != want[w] & mask {
            out.push(name);
        }
    }
    for w in 0..8 {
        if (got[w] ^ want[w]) & !named[w] != 0 {
            out.push(OTHER[w]);
        }
    }
    out
}

/// A field in which the driver differs from Linux on purpose, and why.
struct Intended {
    field: &'static str,
    why: &'static str,
}

/// The CD MAIR: AttrIndx 0–2 are compared on their own and agree; above them Linux's
/// io-pgtable MAIR holds 0xf4 at AttrIndx 3 (inner non-cacheable, outer write-back, for its
/// system-cache quirk), which the project's Arm format never writes and leaves 0.
const MAIR_HIGH: Intended = Intended {
    field: "MAIR[7:3]",
    why: "AttrIndx 3 is Linux's system-cache attribute, which the project's tables never use",
};

/// Asserts that `got` differs from `want` exactly in the `intended` fields.
fn compare(what: &str, fields: &[Field], got: &Entry, want: &Entry, intended: &[Intended]) {
    let listed: Vec<&str> = intended.iter().map(|i| i.field).collect();
    for i in intended {
        assert!(!i.why.is_empty());
    }
    assert_eq!(
        differing(fields, got, want),
        listed,
        "{what}: the driver wrote {got:x?}, Linux writes {want:x?}"
    );
}

/// What the test reads of one SMMU and its configuration.
struct Smmu<'a> {
    p: &'a Platform,
    u: &'a Unit,
    idr0: u64,
    idr1: u64,
}

impl<'a> Smmu<'a> {
    fn new(p: &'a Platform, u: &'a Unit) -> Smmu<'a> {
        Smmu {
            p,
            u,
            idr0: u.unit.mmio_read(SMMU_IDR0, 4),
            idr1: u.unit.mmio_read(SMMU_IDR1, 4),
        }
    }

    /// `smmu->features` as Linux's probe sets them from the ID registers.
    fn features(&self) -> Features {
        let stall = get(genmask(25, 24), self.idr0);
        let httu = get(genmask(7, 6), self.idr0);
        Features {
            stalls: stall == 0 || stall == 2,
            attr_types_ovr: self.idr1 & 1 << 27 != 0,
            e2h: false,
            ha: httu >= 1,
            hd: httu == 2,
        }
    }

    /// IDR0.COHACC: Linux's io-pgtable picks the walk attributes from it.
    fn coherent(&self) -> bool {
        self.idr0 & 1 << 4 != 0
    }

    fn read(&self, at: u64) -> Entry {
        std::array::from_fn(|i| self.p.mem().load_u64(at + 8 * i as u64).unwrap())
    }

    /// The STE of `dev`, found through the stream table registers.
    fn ste(&self, dev: DeviceId) -> Entry {
        let sid = u64::from(self.p.iommu.device_info(dev).unwrap().rid.source_id());
        let base = self.u.unit.mmio_read(SMMU_STRTAB_BASE, 8) & genmask(51, 6);
        let cfg = self.u.unit.mmio_read(SMMU_STRTAB_BASE_CFG, 4);
        let at = if get(genmask(17, 16), cfg) == 1 {
            let split = get(genmask(10, 6), cfg);
            let l1 = self.p.mem().load_u64(base + 8 * (sid >> split)).unwrap();
            (l1 & linux::STRTAB_L1_DESC_L2PTR_MASK) + 64 * (sid & ((1 << split) - 1))
        } else {
            base + 64 * sid
        };
        self.read(at)
    }

    /// CD `ssid` of the CD table `ste` points at.
    fn cd(&self, ste: &Entry, ssid: u64) -> Entry {
        let ptr = ste[0] & linux::STRTAB_STE_0_S1CTXPTR_MASK;
        let at = if get(linux::STRTAB_STE_0_S1FMT, ste[0]) == linux::STRTAB_STE_0_S1FMT_64K_L2 {
            let l1 = self.p.mem().load_u64(ptr + 8 * (ssid >> 10)).unwrap();
            (l1 & linux::CTXDESC_L1_DESC_L2PTR_MASK) + 64 * (ssid & 1023)
        } else {
            ptr + 64 * ssid
        };
        self.read(at)
    }

    /// The CD table Linux's `arm_smmu_alloc_cd_tables` makes for `dev`, at the address the
    /// driver's STE gives.
    fn cd_table(&self, dev: DeviceId, ste: &Entry) -> linux::CdTable {
        let pasid_bits = u64::from(self.p.iommu.device_info(dev).unwrap().caps.pasid_bits);
        let ssid_bits = pasid_bits.min(get(genmask(10, 6), self.idr1));
        let two_level = self.idr0 & 1 << 19 != 0 && ssid_bits > 10;
        linux::CdTable {
            dma: ste[0] & linux::STRTAB_STE_0_S1CTXPTR_MASK,
            s1fmt: if two_level {
                linux::STRTAB_STE_0_S1FMT_64K_L2
            } else {
                linux::STRTAB_STE_0_S1FMT_LINEAR
            },
            s1cdmax: ssid_bits,
        }
    }

    /// Whether Linux enables ATS for `dev` (ARM_SMMU_FEAT_ATS and a device that has it).
    fn ats(&self, dev: DeviceId) -> bool {
        self.idr0 & 1 << 10 != 0 && self.p.iommu.device_info(dev).unwrap().caps.ats
    }

    /// Linux's stage-1 domain for `d` (its table's geometry and the driver's ASID).
    fn s1_domain(&self, d: &Domain) -> linux::S1Domain {
        let AnyFormat::ArmS1(f) = d.table_format().unwrap() else {
            panic!("a stage-1 table")
        };
        let c = f.config();
        linux::S1Domain {
            asid: u64::from(self.u.driver.asid_of(d.id()).expect("an ASID")),
            tcr: linux::s1_tcr(
                c.granule.shift().into(),
                c.ia_bits,
                c.oa_bits,
                self.coherent(),
            ),
            ttbr: d.with_table(|t| t.root()).unwrap().unwrap(),
            mair: linux::ARM_LPAE_MAIR,
            dirty: c.ha && c.hd,
        }
    }

    /// Linux's stage-2 domain for `d`.
    fn s2_domain(&self, d: &Domain) -> linux::S2Domain {
        let AnyFormat::ArmS2(f) = d.table_format().unwrap() else {
            panic!("a stage-2 table")
        };
        let c = f.config();
        linux::S2Domain {
            vmid: 0,
            vtcr: linux::s2_vtcr(
                c.granule.shift().into(),
                c.ia_bits,
                c.start_level,
                c.oa_bits,
                self.coherent(),
            ),
            vttbr: d.with_table(|t| t.root()).unwrap().unwrap(),
            s2fwb: false,
        }
    }
}

fn platform(params: SmmuParams) -> (Platform, Vec<Arc<Unit>>) {
    SmmuHarness::build(&[params])
}

/// A nesting parent: a stage-2 table.
const PARENT: PagingRequest = PagingRequest {
    nest_parent: true,
    dirty_tracking: false,
    pasid: false,
};

const NO_ATS: DeviceCaps = DeviceCaps {
    ats: false,
    pri: false,
    ..DEV
};

#[test]
fn blocked_and_identity_at_the_rid() {
    let (p, units) = platform(SmmuParams::full());
    let s = Smmu::new(&p, &units[0]);
    let [a] = p.devices([(0, DEV)]);
    compare("probed", STE_FIELDS, &s.ste(a), &linux::abort_ste(), &[]);
    p.iommu.attach(a, &p.iommu.identity_domain()).unwrap();
    compare(
        "identity",
        STE_FIELDS,
        &s.ste(a),
        &linux::bypass_ste(&s.features()),
        &[],
    );
    p.iommu.replace(a, &p.iommu.blocked_domain()).unwrap();
    compare("blocked", STE_FIELDS, &s.ste(a), &linux::abort_ste(), &[]);
}

#[test]
fn stage1_paging_at_the_rid_with_and_without_ats_and_for_dirty_tracking() {
    for params in [
        SmmuParams::full(),
        SmmuHarness::params(&InstSpec::full().shape(Shape::Other)),
        SmmuHarness::params(&InstSpec::full().pasid_bits(8)),
    ] {
        let (p, units) = platform(params);
        let s = Smmu::new(&p, &units[0]);
        let f = s.features();
        for (caps, req) in [
            (DEV, PagingRequest::default()),
            (NO_ATS, PagingRequest::default()),
            (
                DEV,
                PagingRequest {
                    dirty_tracking: true,
                    ..PagingRequest::default()
                },
            ),
        ] {
            let [a] = p.devices([(0, caps)]);
            let d = p.iommu.new_paging(a, req).unwrap();
            p.iommu.attach(a, &d).unwrap();
            let ste = s.ste(a);
            let t = s.cd_table(a, &ste);
            let want = linux::cdtable_ste(&f, &t, false, s.ats(a), linux::STRTAB_STE_1_S1DSS_SSID0);
            compare("stage 1 at the RID", STE_FIELDS, &ste, &want, &[]);
            let want = linux::s1_cd(&s.s1_domain(&d), false);
            compare("its CD 0", CD_FIELDS, &s.cd(&ste, 0), &want, &[MAIR_HIGH]);
        }
    }
}

#[test]
fn stage1_at_a_pasid_beside_a_blocked_or_identity_rid() {
    let (p, units) = platform(SmmuParams::full());
    let s = Smmu::new(&p, &units[0]);
    let f = s.features();
    let [a] = p.devices([(0, DEV)]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    p.iommu.attach_pasid(a, 5, &d).unwrap();
    for (rid, s1dss) in [
        (None, linux::STRTAB_STE_1_S1DSS_TERMINATE),
        (
            Some(p.iommu.identity_domain()),
            linux::STRTAB_STE_1_S1DSS_BYPASS,
        ),
    ] {
        if let Some(r) = &rid {
            p.iommu.attach(a, r).unwrap();
        }
        let ste = s.ste(a);
        let want = linux::cdtable_ste(&f, &s.cd_table(a, &ste), false, s.ats(a), s1dss);
        compare("PASIDs beside the RID", STE_FIELDS, &ste, &want, &[]);
        let want = linux::s1_cd(&s.s1_domain(&d), false);
        compare(
            "the PASID's CD",
            CD_FIELDS,
            &s.cd(&ste, 5),
            &want,
            &[MAIR_HIGH],
        );
        // CD 0 is not in use: zero, as Linux leaves it.
        compare("CD 0", CD_FIELDS, &s.cd(&ste, 0), &[0; 8], &[]);
    }
}

#[test]
fn stage2_paging_at_the_rid() {
    for (params, caps) in [
        (SmmuParams::full(), DEV),
        (SmmuParams::full(), NO_ATS),
        (
            SmmuHarness::params(&InstSpec::full().shape(Shape::Other)),
            DEV,
        ),
    ] {
        let (p, units) = platform(params);
        let s = Smmu::new(&p, &units[0]);
        let [a] = p.devices([(0, caps)]);
        let d = p.iommu.new_paging(a, PARENT).unwrap();
        p.iommu.attach(a, &d).unwrap();
        let dom = linux::S2Domain {
            vmid: u64::from(units[0].driver.vmid_of(d.id()).expect("a VMID")),
            ..s.s2_domain(&d)
        };
        let want = linux::s2_domain_ste(&s.features(), &dom, false, s.ats(a));
        compare("stage 2", STE_FIELDS, &s.ste(a), &want, &[]);
    }
}

#[test]
fn nested_over_a_users_vste() {
    let (p, units) = platform(SmmuParams::full());
    let s = Smmu::new(&p, &units[0]);
    let f = s.features();
    for (caps, ats) in [(DEV, 1u8), (DEV, 0), (NO_ATS, 1)] {
        let [a] = p.devices([(0, caps)]);
        let parent = p.iommu.new_paging(a, PARENT).unwrap();
        let table = p.alloc(0x1000);
        parent.map_sync(table, table, 0x1000, Prot::RW).unwrap();
        let n = p
            .iommu
            .new_nested(
                &parent,
                NestedData::PasidTable {
                    format: p.stage1.clone(),
                    root: table,
                    entries: 4,
                    ats,
                },
            )
            .unwrap();
        p.iommu.attach(a, &n).unwrap();
        // The vSTE a guest's Linux writes for this CD table (on a vSMMU without stalls).
        let vste = [
            linux::STRTAB_STE_0_V
                | linux::prep(linux::STRTAB_STE_0_CFG, linux::STRTAB_STE_0_CFG_S1_TRANS)
                | (table & linux::STRTAB_STE_0_S1CTXPTR_MASK)
                | linux::prep(linux::STRTAB_STE_0_S1CDMAX, 2),
            linux::prep(linux::STRTAB_STE_1_S1DSS, linux::STRTAB_STE_1_S1DSS_SSID0)
                | linux::prep(
                    linux::STRTAB_STE_1_S1CIR,
                    linux::STRTAB_STE_1_S1C_CACHE_WBRA,
                )
                | linux::prep(
                    linux::STRTAB_STE_1_S1COR,
                    linux::STRTAB_STE_1_S1C_CACHE_WBRA,
                )
                | linux::prep(linux::STRTAB_STE_1_S1CSH, linux::ARM_SMMU_SH_ISH)
                | linux::prep(linux::STRTAB_STE_1_EATS, u64::from(ats)),
        ];
        let (vste, wants_ats) = linux::validate_vste(vste).expect("a vSTE Linux takes");
        let dom = linux::S2Domain {
            vmid: u64::from(units[0].driver.vmid_of(n.id()).expect("a VMID")),
            ..s.s2_domain(&parent)
        };
        let want = linux::nested_ste(&f, &dom, vste, wants_ats && s.ats(a));
        compare("nested", STE_FIELDS, &s.ste(a), &want, &[]);
    }
}

#[test]
fn sva_at_a_pasid() {
    let (p, units) = platform(SmmuParams::full());
    let s = Smmu::new(&p, &units[0]);
    let f = s.features();
    let [a] = p.devices([(0, DEV)]);
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    let pasid = p.iommu.sva_bind(a, &mm).unwrap();
    let d = p
        .iommu
        .pasid_domain(a, pasid)
        .unwrap()
        .expect("the SVA domain");
    let ste = s.ste(a);
    let want = linux::cdtable_ste(&f, &s.cd_table(a, &ste), false, s.ats(a), 0);
    compare("SVA beside a blocked RID", STE_FIELDS, &ste, &want, &[]);
    let AnyFormat::ArmS1(pf) = mm.format() else {
        panic!("a stage-1 process table")
    };
    let c = pf.config();
    let cpu = linux::Mm {
        vabits: c.ia_bits,
        page_shift: c.granule.shift().into(),
        parange: linux::ps_of(c.oa_bits),
        mair: linux::ARM64_MAIR_EL1,
        pgd: mm.root(),
    };
    let asid = u64::from(units[0].driver.asid_of(d.id()).expect("an ASID"));
    let want = linux::sva_cd(&f, &cpu, asid, false);
    compare(
        "the SVA CD",
        CD_FIELDS,
        &s.cd(&ste, u64::from(pasid)),
        &want,
        &[
            Intended {
                field: "HD",
                why: "Linux sets HA/HD whenever the SMMU has HTTU, for CPU tables whose Access \
                      and dirty flags the CPU's hardware manages; the project's process tables \
                      say in their format whether hardware manages them, and these do not",
            },
            Intended {
                field: "HA",
                why: "as HD",
            },
            Intended {
                field: "MAIR[2:0]",
                why: "Linux copies the CPU's MAIR_EL1, which gives the CPU's AttrIndx values \
                      their meaning; the process tables here are the project's Arm format, \
                      whose AttrIndx values its own MAIR gives meaning to",
            },
            Intended {
                field: "MAIR[7:3]",
                why: "as MAIR[2:0]",
            },
        ],
    );
}

#[test]
fn stall_models_and_page_request_devices() {
    // An SMMU that can only terminate: no S1STALLD. A device with page requests and one
    // without: the same STE (PRI changes no STE field in Linux).
    let mut params = SmmuParams::full();
    params.stall_model = StallModel::TerminateOnly;
    for params in [params, SmmuParams::full()] {
        let (p, units) = platform(params);
        let s = Smmu::new(&p, &units[0]);
        let f = s.features();
        assert_eq!(f.stalls, params.stall_model.stalls());
        for caps in [DEV, DeviceCaps { pri: false, ..DEV }] {
            let [a] = p.devices([(0, caps)]);
            let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
            p.iommu.attach(a, &d).unwrap();
            let ste = s.ste(a);
            let want = linux::cdtable_ste(&f, &s.cd_table(a, &ste), false, s.ats(a), 2);
            compare("stall model / PRI", STE_FIELDS, &ste, &want, &[]);
        }
    }
}

#[test]
fn a_non_coherent_smmu() {
    // Linux's io-pgtable gives a non-coherent SMMU's table walks non-cacheable, outer-shareable
    // attributes. The driver here writes write-back, inner-shareable ones whatever IDR0.COHACC
    // says: its tables are in memory every SMMU model reads coherently.
    let mut params = SmmuParams::full();
    params.coherent = false;
    let (p, units) = platform(params);
    let s = Smmu::new(&p, &units[0]);
    assert!(!s.coherent());
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    p.iommu.attach(a, &d).unwrap();
    let ste = s.ste(a);
    let walk = |field| Intended {
        field,
        why: "the driver's walks are cacheable and inner shareable on every SMMU: the model's \
              memory is coherent whatever IDR0.COHACC says",
    };
    compare(
        "non-coherent CD",
        CD_FIELDS,
        &s.cd(&ste, 0),
        &linux::s1_cd(&s.s1_domain(&d), false),
        &[walk("IRGN0"), walk("ORGN0"), walk("SH0"), MAIR_HIGH],
    );
    let d2 = p.iommu.new_paging(b, PARENT).unwrap();
    p.iommu.attach(b, &d2).unwrap();
    let dom = linux::S2Domain {
        vmid: u64::from(units[0].driver.vmid_of(d2.id()).unwrap()),
        ..s.s2_domain(&d2)
    };
    compare(
        "non-coherent stage 2",
        STE_FIELDS,
        &s.ste(b),
        &linux::s2_domain_ste(&s.features(), &dom, false, s.ats(b)),
        &[walk("S2IR0"), walk("S2OR0"), walk("S2SH0")],
    );
}
