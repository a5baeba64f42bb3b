//! Random command words in the queue: each batch ends with every command carried out or the
//! queue stopped on one with a command error, never a panic or a hang.

use proptest::prelude::*;

use super::*;
use crate::cmd::{CmdCaps, Command, PrefetchConfig};

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
