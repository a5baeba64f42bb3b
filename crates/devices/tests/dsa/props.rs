//! Random register writes, descriptors, ATS enables and ATC invalidations in any order: no
//! panic, the engine keeps answering, and it changes no byte outside the buffers the descriptors name.

use std::sync::Arc;

use proptest::prelude::*;
use softiommu_devices::bus::{
    AtcInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest, AtsTranslation, Direct,
    DmaFault, DmaRequest, Endpoint, MsiMessage, PageRequest, Translation, Upstream,
};
use softiommu_devices::dsa::regs::Command;
use softiommu_devices::dsa::{DescFlags, Descriptor, DsaConfig, Enqcmd, Opcode, Status};
use softiommu_mem::{AddressSpace, RamArena};

use crate::harness::{RAM, RID, Rig, WqSetup};
use crate::iommu::page_completion;

/// Memory the test lends the engine: `[0, OWNED)`; the rest of RAM is a guard.
const OWNED: u64 = 0x2_0000;
const GUARD: u8 = 0xa5;

/// A bus that lets requests reach only the memory the test owns.
struct Fenced(Direct<Arc<RamArena>>);

impl Upstream for Fenced {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        if req.addr >= OWNED {
            return Err(DmaFault::UnsupportedRequest);
        }
        let mut t = self.0.translate(req)?;
        t.len = t.len.min(OWNED - req.addr);
        Ok(t)
    }
    fn memory(&self) -> &dyn AddressSpace {
        self.0.memory()
    }
    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        if req.addr >= OWNED {
            return Ok(AtsTranslation::no_access(req.addr));
        }
        Ok(page_completion(req.addr, req.addr))
    }
    fn page_request(&self, req: &PageRequest) {
        self.0.page_request(req)
    }
    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.0.msi(rid, msg)
    }
    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.0.attach(rid, endpoint)
    }
    fn detach(&self, rid: u16) {
        self.0.detach(rid)
    }
}

#[derive(Debug, Clone)]
enum Action {
    Reg {
        off: u16,
        width: u8,
        value: u64,
    },
    Raw {
        wq: u8,
        bytes: Vec<u8>,
        pasid: Option<u32>,
    },
    Op {
        wq: u8,
        op: u8,
        a1: u32,
        a2: u32,
        a3: u32,
        len: u16,
        cr: u16,
        flags: u8,
    },
    BringUp,
    /// The function's ATS Enable and Smallest Translation Unit.
    Ats {
        on: bool,
        stu: u8,
    },
    /// An ATC invalidation.
    Invalidate {
        pasid: Option<u32>,
        global: bool,
        page: u32,
        size_log2: u8,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u16..0x1000, 0u8..4, any::<u64>()).prop_map(|(off, width, value)| Action::Reg {
            off,
            width,
            value
        }),
        (
            0u8..3,
            proptest::collection::vec(any::<u8>(), 64),
            proptest::option::of(0u32..16)
        )
            .prop_map(|(wq, bytes, pasid)| Action::Raw { wq, bytes, pasid }),
        (
            0u8..2,
            0u8..0x22,
            0u32..0x1_c000,
            0u32..0x1_c000,
            0u32..0x1_c000,
            0u16..0x3000
        )
            .prop_flat_map(|(wq, op, a1, a2, a3, len)| {
                (0u16..0x80, any::<u8>()).prop_map(move |(cr, flags)| Action::Op {
                    wq,
                    op,
                    a1,
                    a2,
                    a3,
                    len,
                    cr,
                    flags,
                })
            }),
        Just(Action::BringUp),
        (any::<bool>(), 0u8..32).prop_map(|(on, stu)| Action::Ats { on, stu }),
        (
            proptest::option::of(0u32..4),
            any::<bool>(),
            0u32..0x40,
            12u8..=64
        )
            .prop_map(|(pasid, global, page, size_log2)| Action::Invalidate {
                pasid,
                global,
                page,
                size_log2
            }),
    ]
}

/// The byte windows a descriptor may write: its destinations and its completion record.
fn windows(d: &Descriptor) -> Vec<(u64, u64)> {
    let n = u64::from(d.xfer_size);
    let mut w = vec![(d.completion_addr, 32)];
    match Opcode::from_u8(d.header.opcode()) {
        Some(Opcode::MemMove | Opcode::MemFill) => w.push((d.addr2, n)),
        Some(Opcode::Dualcast) => w.extend([(d.addr2, n), (d.dest2(), n)]),
        _ => {}
    }
    w
}

fn run(rig: &Rig, a: &Action) -> Result<(), TestCaseError> {
    match a {
        Action::Reg { off, width, value } => {
            let w = 1usize << width;
            rig.dsa
                .mmio_write(u64::from(*off), &value.to_le_bytes()[..w]);
        }
        Action::BringUp => rig.bring_up(&[WqSetup::dedicated(), WqSetup::shared()]),
        Action::Ats { on, stu } => rig.port.set_ats(*on, *stu),
        Action::Invalidate {
            pasid,
            global,
            page,
            size_log2,
        } => {
            let inv = AtcInvalidation {
                rid: RID,
                pasid: *pasid,
                global: *global,
                addr: u64::from(*page) << 12,
                size_log2: *size_log2,
            };
            prop_assert_eq!(
                rig.port.invalidate_atc(&inv),
                AtcInvalidationStatus::Completed
            );
        }
        Action::Raw { wq, bytes, pasid } => {
            let enq = pasid.map(|pasid| Enqcmd {
                pasid,
                privileged: false,
            });
            rig.dsa.submit(u32::from(*wq), 0, bytes, enq);
        }
        Action::Op {
            wq,
            op,
            a1,
            a2,
            a3,
            len,
            cr,
            flags,
        } => {
            let mut d = Descriptor::new(Opcode::Noop);
            d.header.set_opcode(*op);
            d.addr1 = u64::from(*a1);
            d.addr2 = u64::from(*a2);
            d.op_specific[..8].copy_from_slice(&u64::from(*a3).to_le_bytes());
            if *op != Opcode::Dualcast as u8 {
                d.op_specific = [0; 24];
            }
            d.xfer_size = u32::from(*len);
            d.completion_addr = 0x1_c000 + u64::from(*cr) * 32;
            d.set_flags(DescFlags::from_bits(u32::from(*flags) & 0x9f).with_crav(true));
            let before = rig.bytes(0, OWNED as usize);
            let enq = (*wq == 1).then_some(Enqcmd {
                pasid: 1,
                privileged: false,
            });
            rig.dsa.submit(u32::from(*wq), 0, &d.to_bytes(), enq);
            if *op != Opcode::Batch as u8 {
                let after = rig.bytes(0, OWNED as usize);
                let win = windows(&d);
                for (i, (x, y)) in before.iter().zip(&after).enumerate() {
                    let at = i as u64;
                    prop_assert!(
                        x == y || win.iter().any(|&(s, n)| at >= s && at - s < n),
                        "byte {at:#x} changed outside {win:x?} by {d:?}"
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_registers_and_descriptors(actions in proptest::collection::vec(action(), 1..40)) {
        let rig = Rig::on(DsaConfig::default(), |mem| Arc::new(Fenced(Direct::new(mem))));
        rig.mem.fill(OWNED, RAM - OWNED, GUARD).expect("guard");
        for a in &actions {
            run(&rig, a)?;
        }
        let guard = rig.bytes(OWNED, (RAM - OWNED) as usize);
        prop_assert!(guard.iter().all(|&b| b == GUARD), "a byte beyond the owned memory changed");
        // The engine still answers: bring it up again and move data.
        rig.bring_up(&[WqSetup::dedicated()]);
        rig.mem.write(0x100, b"still here").expect("owned");
        let d = Descriptor::memmove(0x100, 0x200, 10).with_completion(0x1_c000);
        rig.movdir(0, &d);
        prop_assert_eq!(rig.cr(0x1_c000).status, Status::Success as u8);
        prop_assert_eq!(rig.bytes(0x200, 10), b"still here".to_vec());
        prop_assert_eq!(rig.cmd(Command::DisableDevice, 0), 0);
    }
}
