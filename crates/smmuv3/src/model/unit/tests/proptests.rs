//! Random command words in the queue: each batch ends with every command carried out or the
//! queue stopped on one with a command error, never a panic or a hang.

use proptest::prelude::*;

use super::*;
use crate::cmd::{CmdCaps, Command, PrefetchConfig};
use crate::model::RequestKind;
use crate::pri::PageRequest;

/// Every opcode a command type has, and a few reserved ones.
const OPCODES: [u8; 28] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x18, 0x1a, 0x20, 0x21, 0x22,
    0x23, 0x28, 0x2a, 0x30, 0x40, 0x41, 0x44, 0x45, 0x46, 0x00, 0x47, 0x7f,
];

/// A command: a known opcode with random bits, kept to the command's fields when `legal`.
fn command() -> impl Strategy<Value = [u64; 2]> {
    (
        prop::sample::select(&OPCODES[..]),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(op, w0, w1, legal)| {
            let w0 = (w0 & !0xff) | u64::from(op);
            match Command::from_words([w0, w1]) {
                Some(c) if legal => {
                    let [m0, m1] = c.fields(&CmdCaps::ALL);
                    // Keep the MSI address of a CMD_SYNC out of the rig's memory.
                    [w0 & m0, w1 & m1 | if op == 0x46 { UNBACKED } else { 0 }]
                }
                _ => [w0, w1],
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_commands_end_in_execution_or_a_command_error(
        cmds in prop::collection::vec(command(), 1..12),
        minimal in any::<bool>(),
    ) {
        let params = if minimal { SmmuParams::minimal() } else { SmmuParams::full() };
        let rig = Rig::with_params(params);
        rig.submit_words(&cmds);
        let nop = Command::PrefetchConfig(PrefetchConfig::new()).encode();
        // Each error is mended by overwriting the command, so this ends within one round
        // per command.
        for _ in 0..=cmds.len() {
            if rig.cmdq_drained() {
                break;
            }
            let cons = rig.cmdq_cons();
            prop_assert!(rig.active_gerrors().cmdq_err(), "stopped without an error");
            prop_assert!(matches!(cons.err(), 1..=3), "ERR {}", cons.err());
            let at = rig.cmdq + u64::from(cons.rd() & ((1 << CMDQ_LOG2) - 1)) * 16;
            rig.mem.store_u64(at, nop[0]).unwrap();
            rig.mem.store_u64(at + 8, nop[1]).unwrap();
            rig.ack_gerrors();
        }
        prop_assert!(rig.cmdq_drained());
        // Each command ran once: as itself, or as the command that replaced it.
        prop_assert_eq!(rig.unit.stats().commands.total(), cmds.len() as u64);
    }
}

/// One thing software, a device or a stray write does to the SMMU.
#[derive(Debug, Clone)]
enum Poke {
    /// A register write: offset (one of the registers, or anywhere in the frame), size, value.
    Mmio(u64, bool, u64),
    /// A word of the stream table, the command queue or table memory overwritten.
    Mem(u64, u64),
    /// A device's request.
    Dma(u32, Option<u32>, u64, u8, u8),
    /// A device's page request, as raw PRI queue entry words.
    PageRequest(u64, u64),
}

/// Register offsets software writes, and their page-1 aliases.
const REGS: [u64; 30] = [
    SMMU_CR0,
    SMMU_CR1,
    SMMU_CR2,
    SMMU_GBPA,
    SMMU_IRQ_CTRL,
    SMMU_GERRORN,
    SMMU_GERROR_IRQ_CFG0,
    SMMU_GERROR_IRQ_CFG1,
    SMMU_STRTAB_BASE,
    SMMU_STRTAB_BASE_CFG,
    SMMU_CMDQ_BASE,
    SMMU_CMDQ_PROD,
    SMMU_CMDQ_CONS,
    SMMU_EVENTQ_BASE,
    SMMU_EVENTQ_PROD_PAGE0,
    SMMU_EVENTQ_CONS_PAGE0,
    SMMU_EVENTQ_IRQ_CFG0,
    SMMU_EVENTQ_IRQ_CFG1,
    SMMU_PRIQ_BASE,
    SMMU_PRIQ_PROD_PAGE0,
    SMMU_PRIQ_CONS_PAGE0,
    SMMU_PRIQ_IRQ_CFG0,
    SMMU_EVENTQ_PROD,
    SMMU_EVENTQ_CONS,
    SMMU_PRIQ_PROD,
    SMMU_PRIQ_CONS,
    SMMU_IDR0,
    SMMU_GERROR,
    SMMU_CR0ACK,
    SMMU_FRAME_SIZE - 8,
];

/// Values with the shapes registers and entries take: small numbers, addresses in the rig's
/// memory (tables and queues sit there), and anything.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..64,
        (0u64..MEM).prop_map(|a| a & !7),
        (0u64..MEM, 0u64..32).prop_map(|(a, log2)| (a & !0x3f) | log2),
        any::<u64>(),
    ]
}

fn poke() -> impl Strategy<Value = Poke> {
    let offset = prop_oneof![
        prop::sample::select(&REGS[..]),
        (0u64..SMMU_FRAME_SIZE / 4).prop_map(|w| w * 4),
    ];
    prop_oneof![
        (offset, any::<bool>(), value()).prop_map(|(o, wide, v)| Poke::Mmio(o, wide, v)),
        (0u64..(1 << 20), value()).prop_map(|(at, v)| Poke::Mem(at & !7, v)),
        (
            0u32..300,
            prop::option::of(0u32..(1 << 21)),
            value(),
            0u8..8,
            0u8..3,
        )
            .prop_map(|(sid, ssid, addr, access, kind)| Poke::Dma(sid, ssid, addr, access, kind)),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Poke::PageRequest(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random register writes, stray writes over the stream table, the queues and table
    /// memory, DMA and page requests, in any order: the SMMU answers each (a translation, a
    /// fault, a queue error), never panics and never stops answering.
    #[test]
    fn random_registers_memory_and_requests_never_panic_or_hang(
        pokes in prop::collection::vec(poke(), 1..48),
    ) {
        let rig = Rig::new();
        for p in pokes {
            match p {
                Poke::Mmio(offset, wide, v) => {
                    let size = if wide && offset % 8 == 0 { 8 } else { 4 };
                    rig.unit.mmio_write(offset, size, v);
                }
                Poke::Mem(at, v) => {
                    // Over the stream table, the command queue, or tables the tests map.
                    let base = [rig.strtab, rig.cmdq, ALLOC][(at % 3) as usize];
                    let _ = rig.mem.store_u64(base + (at % 0x4000) / 8 * 8, v);
                }
                Poke::Dma(sid, ssid, addr, access, kind) => {
                    let access = Access {
                        write: access & 1 != 0,
                        exec: access & 2 != 0,
                        privileged: access & 4 != 0,
                    };
                    let kind = [
                        RequestKind::Untranslated,
                        RequestKind::Translated,
                        RequestKind::TranslationRequest,
                    ][usize::from(kind)];
                    let req = Request { kind, ..Request::new(sid, ssid, addr, access) };
                    let _ = rig.unit.translate(req);
                }
                Poke::PageRequest(a, b) => {
                    let _ = rig.unit.page_request(PageRequest::decode([a, b]));
                }
            }
            // The registers still read, and a plain request still gets an answer.
            let _ = rig.unit.mmio_read(SMMU_GERROR, 4);
            let _ = rig.unit.translate(Request::new(SID, None, 0x1000, Access::READ));
        }
    }
}
