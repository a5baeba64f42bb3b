//! Random register writes, stray writes over the remapping structures and queues, DMA and
//! page requests, in any order: the unit answers each and never panics or stops answering.

use super::*;

/// One thing software, a device or a stray write does to the unit.
#[derive(Debug, Clone)]
enum Poke {
    /// A register write: offset (one of the registers, or anywhere in the set), size, value.
    Mmio(u64, bool, u64),
    /// A word of the root, context or PASID structures, the queues or table memory.
    Mem(u64, u64),
    /// A device's request: source ID, PASID, address, access bits.
    Dma(u16, Option<u32>, u64, u8),
    /// A device's page request, as raw descriptor words.
    PageRequest(u64, u64),
}

/// Register offsets software writes.
const REGS: [u64; 24] = [
    GCMD_REG,
    RTADDR_REG,
    crate::regs::CCMD_REG,
    FSTS_REG,
    FECTL_REG,
    FEDATA_REG,
    FEADDR_REG,
    IQH_REG,
    IQT_REG,
    IQA_REG,
    ICS_REG,
    IECTL_REG,
    PQH_REG,
    PQT_REG,
    PQA_REG,
    PRS_REG,
    PECTL_REG,
    crate::regs::IOTLB_REG,
    crate::regs::IVA_REG,
    FRCD_REG,
    FRCD_REG + 8,
    VCMD_REG,
    crate::regs::IRTA_REG,
    crate::regs::REG_SET_SIZE - 8,
];

/// Values with the shapes registers and entries take: small numbers, addresses in the rig's
/// memory, and anything.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..64,
        (0u64..MEM).prop_map(|a| a & !7),
        (0u64..MEM, 0u64..16).prop_map(|(a, low)| (a & !0xfff) | low),
        any::<u64>(),
        Just(TE as u64),
        Just(u64::from(SRTP | TE | QIE)),
    ]
}

fn poke() -> impl Strategy<Value = Poke> {
    let offset = prop_oneof![
        prop::sample::select(&REGS[..]),
        (0u64..crate::regs::REG_SET_SIZE / 4).prop_map(|w| w * 4),
    ];
    prop_oneof![
        (offset, any::<bool>(), value()).prop_map(|(o, wide, v)| Poke::Mmio(o, wide, v)),
        (0u64..(1 << 20), value()).prop_map(|(at, v)| Poke::Mem(at & !7, v)),
        (
            prop_oneof![Just(SID), Just(SID_FPD), any::<u16>()],
            prop::option::of(prop_oneof![0u32..8, 0u32..(1 << 21)]),
            value(),
            0u8..8,
        )
            .prop_map(|(sid, pasid, addr, access)| Poke::Dma(sid, pasid, addr, access)),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Poke::PageRequest(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_registers_memory_and_requests_never_panic_or_hang(
        pokes in prop::collection::vec(poke(), 1..48),
    ) {
        let rig = Rig::new(VtdParams::default());
        let mut ss = rig.ss_table();
        ss.map(0x1000_0000, 0x20_0000, 0x4000, Prot::RW).unwrap();
        rig.set_pasid(0, ss_entry(ss.root(), 7));
        rig.gcmd(TE, true);
        for p in pokes {
            match p {
                Poke::Mmio(offset, wide, v) => {
                    let size = if wide && offset % 8 == 0 { 8 } else { 4 };
                    rig.unit.mmio_write(offset, size, v);
                }
                Poke::Mem(at, v) => {
                    // Over the PASID table, the queues, or the second-stage table.
                    let bases = [rig.pasid_table, rig.iq, rig.pq, ss.root()];
                    let base = bases[(at % 4) as usize];
                    let _ = rig.mem.store_u64(base + (at % 0x1000) / 8 * 8, v);
                }
                Poke::Dma(sid, pasid, addr, access) => {
                    let access = Access {
                        write: access & 1 != 0,
                        exec: access & 2 != 0,
                        privileged: access & 4 != 0,
                    };
                    let _ = rig.unit.translate(req(sid, pasid, addr, access));
                }
                Poke::PageRequest(a, b) => {
                    rig.unit.page_request(PageRequest {
                        qw0: PageRequestQw0::from_bits(a),
                        qw1: PageRequestQw1::from_bits(b),
                    });
                }
            }
            // The registers still read, and a plain request still gets an answer.
            let _ = rig.unit.mmio_read(FSTS_REG, 4);
            let _ = rig.unit.translate(req(SID, None, 0x1000_0000, Access::READ));
        }
    }
}
