//! The entries the driver writes, against the ones Linux's intel-iommu would write for the
//! same configuration. Every behaviour of the core's suite runs on VT-d units whose drivers
//! are watched: after each probe, attach, detach and release, the device's context entry and
//! the PASID entry changed are read from memory and compared, field by field, with what
//! `linux` builds from Linux's setters for that device, unit and target. Addresses the two
//! drivers allocate (the PASID directory) and the domain IDs they number are taken from the
//! driver's; everything else must agree, except for the differences listed in
//! [`DIFFERENCES`], each with its reason.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use softiommu_core::testing::{ALL, Harness, InstSpec};
use softiommu_core::{
    DeviceCaps, DeviceDesc, DeviceId, DeviceInfo, DmaFault, DmaTranslation, Domain, DomainKind,
    IoPageTable, IommuCaps, IommuDriver, Mem, NestedData, PageRequest, PageRequestBatch,
    PageResponse, PagingRequest, Pasid, Result, Rid, TableAlloc, Target, Topology,
};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_vtd::driver::VtdDriver;
use softiommu_vtd::regs::{CAP_REG, Cap, ECAP_REG, Ecap, RTADDR_REG};
use softiommu_vtd::structs::{
    ContextEntry, PasidDirEntry, ScalableRootEntry, pasid_dir_index, pasid_entry_address,
    root_entry_address,
};

use crate::linux::{context, pasid};
use softiommu_vtd::harness::VtdHarness;

/// A difference between what this driver writes and what Linux writes, on purpose.
#[derive(Debug)]
pub struct Difference {
    /// The field (as named in [`CONTEXT_FIELDS`] and [`PASID_FIELDS`]).
    pub field: &'static str,
    /// Which entries.
    pub when: &'static str,
    /// Why the driver writes something else.
    pub reason: &'static str,
}

/// Context-entry PRE.
const PRE: Difference = Difference {
    field: "context PRE",
    when: "devices with PRI and no SVA attachment",
    reason: "Linux sets PRE at probe for every device with PRI (and ATS); this driver sets it \
             only while the device has an attachment that takes I/O page faults (an SVA \
             domain), so that a device with nothing to fault into has its page requests \
             answered by the unit instead of queued for no handler",
};
/// Context-entry PDTS.
const PDTS: Difference = Difference {
    field: "context PDTS",
    when: "devices with a narrower PASID width than the unit's",
    reason: "Linux sizes the PASID directory for the device's PASID width (the smaller of the \
             device's and the unit's, one page at least); this driver sizes it for the unit's \
             PASID width whatever the device's, which costs a larger directory for a device \
             with fewer PASIDs and changes no translation",
};
/// The DID of SVA entries.
const SVA_DID: Difference = Difference {
    field: "PASID DID",
    when: "SVA entries",
    reason: "Linux tags every SVA PASID with FLPT_DEFAULT_DID; this driver gives each SVA \
             domain its own domain ID, as it does every domain it attaches. First-stage IOTLB \
             entries are tagged by DID and PASID both, so both are correct; the driver's \
             invalidations use the ID it wrote",
};

/// Every intended difference, each exercised by the run below.
pub const DIFFERENCES: [&Difference; 3] = [&PRE, &PDTS, &SVA_DID];

/// A field of an entry: its name, first bit and width (within one 64-bit word).
struct Field(&'static str, u32, u32);

/// The scalable-mode context entry, as the specification lays it out.
const CONTEXT_FIELDS: &[Field] = &[
    Field("context P", 0, 1),
    Field("context FPD", 1, 1),
    Field("context DTE", 2, 1),
    Field("context PASIDE", 3, 1),
    Field("context PRE", 4, 1),
    Field("context HPTE", 5, 1),
    Field("context EPTR", 6, 1),
    Field("context bits 8:7", 7, 2),
    Field("context PDTS", 9, 3),
    Field("context PASIDDIRPTR", 12, 52),
    Field("context RID_PASID", 64, 20),
    Field("context RID_PRIV", 84, 1),
    Field("context bits 127:85", 85, 43),
    Field("context bits 191:128", 128, 64),
    Field("context bits 255:192", 192, 64),
];

/// The scalable-mode PASID-table entry, as the specification lays it out.
const PASID_FIELDS: &[Field] = &[
    Field("PASID P", 0, 1),
    Field("PASID FPD", 1, 1),
    Field("PASID AW", 2, 3),
    Field("PASID bit 5", 5, 1),
    Field("PASID PGTT", 6, 3),
    Field("PASID SSADE", 9, 1),
    Field("PASID bits 11:10", 10, 2),
    Field("PASID SSPTPTR", 12, 52),
    Field("PASID DID", 64, 16),
    Field("PASID bits 86:80", 80, 7),
    Field("PASID PWSNP", 87, 1),
    Field("PASID PGSNP", 88, 1),
    Field("PASID CD", 89, 1),
    Field("PASID EMTE", 90, 1),
    Field("PASID bits 95:91", 91, 5),
    Field("PASID PAT", 96, 32),
    Field("PASID SRE", 128, 1),
    Field("PASID bit 129", 129, 1),
    Field("PASID FSPM", 130, 2),
    Field("PASID WPE", 132, 1),
    Field("PASID bits 134:133", 133, 2),
    Field("PASID EAFE", 135, 1),
    Field("PASID bits 139:136", 136, 4),
    Field("PASID FSPTPTR", 140, 52),
    Field("PASID bits 255:192", 192, 64),
    Field("PASID bits 319:256", 256, 64),
    Field("PASID bits 383:320", 320, 64),
    Field("PASID bits 447:384", 384, 64),
    Field("PASID bits 511:448", 448, 64),
];

impl Field {
    fn of(&self, words: &[u64]) -> u64 {
        let w = words[(self.1 / 64) as usize] >> (self.1 % 64);
        if self.2 == 64 {
            w
        } else {
            w & ((1 << self.2) - 1)
        }
    }
}

/// What the run compared and which differences it met.
#[derive(Default)]
struct Seen {
    /// Kinds of entries compared.
    kinds: BTreeSet<&'static str>,
    /// Differences met, by field.
    differences: BTreeSet<&'static str>,
    /// Entries compared.
    entries: usize,
}

static SEEN: LazyLock<Mutex<Seen>> = LazyLock::new(Mutex::default);

/// Compares `driver` with `linux` field by field; a field may differ only as one of
/// `allowed` says: (the difference, the value the driver must have instead).
fn compare(
    what: &str,
    fields: &[Field],
    linux: &[u64],
    driver: &[u64],
    allowed: &[(&'static Difference, u64)],
) {
    let mut seen = SEEN.lock();
    seen.entries += 1;
    for f in fields {
        let (l, d) = (f.of(linux), f.of(driver));
        match allowed.iter().find(|(diff, _)| diff.field == f.0) {
            Some((diff, want)) => {
                assert_eq!(
                    d, *want,
                    "{what}: {} is {d:#x}, where the driver's own rule for {} gives {want:#x} ({})",
                    f.0, diff.when, diff.reason
                );
                if d != l {
                    seen.differences.insert(diff.field);
                }
            }
            None => assert_eq!(
                d, l,
                "{what}: {} is {d:#x} where Linux writes {l:#x}\n driver {driver:#x?}\n linux {linux:#x?}",
                f.0
            ),
        }
    }
}

/// A driver watched: the core's calls go to `inner`, and what it wrote is compared after
/// each one.
struct Watched {
    inner: Arc<VtdDriver<Mem>>,
    mem: Mem,
    /// SVA-bound PASIDs by device.
    sva: Mutex<HashMap<DeviceId, BTreeSet<Pasid>>>,
}

impl Watched {
    fn cap(&self) -> Cap {
        Cap::from_bits(self.inner.unit().mmio_read(CAP_REG, 8))
    }

    fn ecap(&self) -> Ecap {
        Ecap::from_bits(self.inner.unit().mmio_read(ECAP_REG, 8))
    }

    /// Linux's `iommu->agaw`: the deepest SAGAW level up to 57 bits.
    fn agaw(&self) -> u64 {
        let sagaw = self.cap().sagaw();
        (1..=3u64)
            .rev()
            .find(|&b| sagaw & (1 << b) != 0)
            .unwrap_or(0)
    }

    /// The context entry of `dev` and its address, through RTADDR and the root table.
    fn context_entry(&self, dev: &DeviceInfo) -> Option<(u64, [u64; 4])> {
        let rta = self.inner.unit().mmio_read(RTADDR_REG, 8) & !0xfff;
        let root =
            ScalableRootEntry::read(&*self.mem, root_entry_address(rta, dev.rid.bus)).ok()?;
        let at = root.context_entry_address(dev.rid.devfn)?;
        Some((at, ContextEntry::read(&*self.mem, at).ok()?.to_words()))
    }

    /// The PASID-table entry of `pasid` (zeros where its table is absent).
    fn pasid_entry(&self, ctx: &[u64; 4], pasid: Pasid) -> [u64; 8] {
        let ctx = ContextEntry::from_words(*ctx);
        let de = ctx.pasid_dir() + 8 * u64::from(pasid_dir_index(pasid));
        let de = PasidDirEntry::from_bits(self.mem.load_u64(de).unwrap());
        if !de.p() {
            return [0; 8];
        }
        let at = pasid_entry_address(&de, pasid);
        std::array::from_fn(|k| self.mem.load_u64(at + 8 * k as u64).unwrap())
    }

    /// Compares `dev`'s context entry with Linux's.
    fn check_context(&self, dev: &DeviceInfo) {
        let (_, words) = self.context_entry(dev).expect("a context entry");
        let ecap = self.ecap();
        let unit_bits = if ecap.pasid() { ecap.pss() + 1 } else { 0 };
        let has_pasid = ecap.pasid() && dev.caps.pasid_bits > 0;
        let ats = ecap.dt() && dev.caps.ats;
        // Linux's PASID table: min(device, unit) PASIDs, one page (2^15) at least.
        let max_pasid = if has_pasid {
            1u32 << dev.caps.pasid_bits.min(unit_bits)
        } else {
            0
        }
        .max(1 << 15);
        let linux = context::sm_entry(&context::Device {
            dir: ContextEntry::from_words(words).pasid_dir(),
            max_pasid,
            ats,
            pasid: has_pasid,
            pri: ats && ecap.prs() && dev.caps.pri,
            rid_priv: false,
        });
        let sva = self.sva.lock().get(&dev.id).is_some_and(|s| !s.is_empty());
        let pre = linux[0] >> 4 & 1 == 1 && sva;
        let pdts = u64::from(unit_bits.max(13) - 13).min(7);
        compare(
            &format!("context entry of {:?}", dev.rid),
            CONTEXT_FIELDS,
            &linux,
            &words,
            &[(&PRE, u64::from(pre)), (&PDTS, pdts)],
        );
        SEEN.lock().kinds.insert(match (ats, pre) {
            (true, true) => "context with DTE and PRE",
            (true, false) => "context with DTE",
            _ => "context without DTE",
        });
    }

    /// Compares the entry of `pasid` (RID_PASID 0 for the RID) of `dev` with the one Linux
    /// writes for `target`.
    fn check_entry(&self, dev: &DeviceInfo, pasid: Pasid, target: &Target<'_>) {
        let (_, ctx) = self.context_entry(dev).expect("a context entry");
        let words = self.pasid_entry(&ctx, pasid);
        let smpwc = self.ecap().smpwcs();
        let agaw = self.agaw();
        let at = if pasid == 0 { "RID" } else { "PASID" };
        let mut allowed = Vec::new();
        let (linux, kind) = match target {
            Target::Blocked => ([0; 8], "blocked"),
            Target::Identity => (pasid::pass_through(agaw, smpwc), "identity"),
            Target::Domain(d) => {
                let did = self.inner.domain_id_of(d.id()).expect("a domain ID");
                match d.kind() {
                    DomainKind::Blocked => ([0; 8], "blocked"),
                    DomainKind::Identity => (pasid::pass_through(agaw, smpwc), "identity"),
                    DomainKind::Paging(_) => {
                        let (format, root) = table(d);
                        match format {
                            AnyFormat::X86(f) => {
                                let flags = pasid::FlFlags {
                                    fl5lp: f.config().levels == 5,
                                    page_snoop: false,
                                    pwsnp: smpwc,
                                };
                                let e = pasid::first_level(root, did, agaw, flags);
                                (
                                    e,
                                    if pasid == 0 {
                                        "first stage at RID"
                                    } else {
                                        "first stage at PASID"
                                    },
                                )
                            }
                            AnyFormat::VtdSs(f) => {
                                let c = f.config();
                                let e = pasid::second_level(
                                    root,
                                    u64::from(c.levels - 2),
                                    did,
                                    smpwc,
                                    c.ad,
                                );
                                (
                                    e,
                                    if pasid == 0 {
                                        "second stage at RID"
                                    } else {
                                        "second stage at PASID"
                                    },
                                )
                            }
                            other => panic!("a paging domain in {other:?}"),
                        }
                    }
                    DomainKind::Sva(mm) => {
                        let AnyFormat::X86(f) = mm.format() else {
                            panic!("an SVA domain not in the x86-64 format")
                        };
                        allowed.push((&SVA_DID, u64::from(did)));
                        (pasid::sva(mm.root(), agaw, f.config().levels == 5), "sva")
                    }
                    DomainKind::Nested(n) => {
                        let NestedData::Stage1 { format, root } = &n.data else {
                            panic!("VT-d nests one stage-1 table")
                        };
                        let AnyFormat::X86(s1f) = format else {
                            panic!("a stage-1 table not in the x86-64 format")
                        };
                        let (pf, proot) = table(&n.parent);
                        let AnyFormat::VtdSs(pf) = pf else {
                            panic!("a nesting parent not in the VT-d second-stage format")
                        };
                        let s1 = pasid::S1 {
                            pgtbl: *root,
                            five_level: s1f.config().levels == 5,
                            ..pasid::S1::default()
                        };
                        let c = pf.config();
                        let e = pasid::nested(
                            s1,
                            proot,
                            u64::from(c.levels - 2),
                            did,
                            smpwc,
                            false,
                            c.ad,
                        );
                        (e, "nested")
                    }
                }
            }
        };
        compare(
            &format!("{kind} entry at {at} {pasid} of {:?}", dev.rid),
            PASID_FIELDS,
            &linux,
            &words,
            &allowed,
        );
        SEEN.lock().kinds.insert(kind);
    }

    /// Keeps track of the device's SVA PASIDs, for PRE.
    fn note(&self, dev: &DeviceInfo, pasid: Pasid, target: &Target<'_>) {
        let sva = matches!(target, Target::Domain(d) if matches!(d.kind(), DomainKind::Sva(_)));
        let mut s = self.sva.lock();
        let set = s.entry(dev.id).or_default();
        if sva {
            set.insert(pasid);
        } else {
            set.remove(&pasid);
        }
    }
}

/// The format and root of a paging domain's table.
fn table(d: &Domain) -> (AnyFormat, u64) {
    d.with_table(|t| (t.format().cloned(), t.root()))
        .ok()
        .and_then(|(f, r)| Some((f?, r?)))
        .expect("a table the hardware walks")
}

impl IommuDriver for Watched {
    fn caps(&self) -> IommuCaps {
        self.inner.caps()
    }

    fn hw_info(&self) -> softiommu_core::HwInfo {
        self.inner.hw_info()
    }

    fn probe(&self, dev: &DeviceInfo) -> Result<()> {
        self.inner.probe(dev)?;
        self.check_context(dev);
        Ok(())
    }

    fn release(&self, dev: &DeviceInfo) {
        let at = self.context_entry(dev).map(|(at, _)| at);
        self.inner.release(dev);
        self.sva.lock().remove(&dev.id);
        // Linux clears the whole context entry (`intel_pasid_teardown_sm_context`).
        if let Some(at) = at {
            let words: Vec<u64> = (0..4)
                .map(|k| self.mem.load_u64(at + 8 * k).unwrap())
                .collect();
            compare(
                &format!("released {:?}", dev.rid),
                CONTEXT_FIELDS,
                &[0; 4],
                &words,
                &[],
            );
            SEEN.lock().kinds.insert("released");
        }
    }

    fn alloc_table(&self, req: &PagingRequest, alloc: &TableAlloc) -> Result<Box<dyn IoPageTable>> {
        self.inner.alloc_table(req, alloc)
    }

    fn check_domain(&self, domain: &Domain) -> std::result::Result<(), &'static str> {
        self.inner.check_domain(domain)
    }

    fn set_rid(&self, dev: &DeviceInfo, new: Target<'_>, old: Target<'_>) -> Result<()> {
        self.inner.set_rid(dev, new, old)?;
        self.note(dev, 0, &new);
        self.check_entry(dev, 0, &new);
        self.check_context(dev);
        Ok(())
    }

    fn set_pasid(
        &self,
        dev: &DeviceInfo,
        pasid: Pasid,
        new: Target<'_>,
        old: Target<'_>,
    ) -> Result<()> {
        self.inner.set_pasid(dev, pasid, new, old)?;
        self.note(dev, pasid, &new);
        self.check_entry(dev, pasid, &new);
        self.check_context(dev);
        Ok(())
    }

    fn flush(&self, domain: &Domain, range: Option<(u64, u64)>, tables_freed: bool) {
        self.inner.flush(domain, range, tables_freed);
    }

    fn flush_map(&self, domain: &Domain, range: (u64, u64)) {
        self.inner.flush_map(domain, range);
    }

    fn page_response(&self, dev: &DeviceInfo, resp: &PageResponse) {
        self.inner.page_response(dev, resp);
    }

    fn send_page_request(&self, dev: &DeviceInfo, req: &PageRequest) -> PageRequestBatch {
        self.inner.send_page_request(dev, req)
    }

    fn take_page_requests(&self) -> PageRequestBatch {
        self.inner.take_page_requests()
    }

    fn dma(
        &self,
        dev: &DeviceInfo,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        self.inner.dma(dev, pasid, iova, access)
    }
}

/// The VT-d harness with every driver watched.
fn watched() -> VtdHarness {
    VtdHarness {
        wrap: |inner, mem| {
            Arc::new(Watched {
                inner,
                mem,
                sva: Mutex::default(),
            })
        },
        ..VtdHarness::plain()
    }
}

#[test]
fn every_entry_the_behaviours_make_is_linuxs_but_for_the_listed_differences() {
    let harness = watched();
    for (name, behaviour) in ALL {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| behaviour(&harness)));
        if let Err(e) = run {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("behaviour {name}: {msg}");
        }
    }
    let seen = SEEN.lock();
    for kind in [
        "second stage at RID",
        "first stage at PASID",
        "identity",
        "nested",
        "sva",
        "blocked",
        "context with DTE",
        "context with DTE and PRE",
    ] {
        assert!(
            seen.kinds.contains(kind),
            "no {kind} entry compared: {:?}",
            seen.kinds
        );
    }
    for d in DIFFERENCES {
        assert!(
            seen.differences.contains(d.field),
            "{} never differed for {}: is it still a difference? ({})",
            d.field,
            d.when,
            d.reason
        );
    }
    assert!(seen.entries > 100, "{} entries", seen.entries);
}

#[test]
fn a_released_device_has_its_context_entry_cleared_as_linux_clears_it() {
    let p = watched().platform(&[InstSpec::full()]);
    let desc = DeviceDesc {
        rid: Rid::new(0, 2, 0, 0),
        instance: p.inst[0],
        caps: DeviceCaps {
            pasid_bits: 20,
            ats: true,
            pri: true,
        },
        bridge: None,
        alias: None,
    };
    let topo = Topology {
        bridges: vec![],
        devices: vec![desc],
    };
    let dev = p.iommu.add_devices(&topo).unwrap()[0];
    p.iommu.remove_device(dev).unwrap();
    assert!(SEEN.lock().kinds.contains("released"));
}
