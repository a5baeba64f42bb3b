//! What a decoded instruction does to memory, in the forms the trap emulates.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// How a load's value is widened into its destination register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Extend {
    /// `mov`: the value is as wide as the register.
    None,
    /// `movzx`.
    Zero,
    /// `movsx`/`movsxd`.
    Sign,
}

/// Where a store's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// A general-purpose register.
    Reg(Register),
    /// An immediate, already extended to 64 bits.
    Imm(u64),
}

/// The three 64-byte portal stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PortalKind {
    Movdir64b,
    Enqcmd,
    Enqcmds,
}

/// A memory access the trap can emulate. The memory operand is operand `mem` of the
/// instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// A load of `size` bytes into `dst`.
    Load {
        dst: Register,
        size: usize,
        extend: Extend,
    },
    /// A store of `size` bytes.
    Store { src: Source, size: usize },
    /// A 64-byte store to the address held in `dst`, read from memory operand 1.
    Portal { dst: Register, kind: PortalKind },
}

impl Op {
    /// The operand that addresses memory.
    pub(super) fn mem_operand(&self) -> u32 {
        match self {
            Op::Load { .. } | Op::Portal { .. } => 1,
            Op::Store { .. } => 0,
        }
    }
}

fn gpr(instr: &Instruction, op: u32) -> Option<Register> {
    let r = instr.op_register(op);
    (instr.op_kind(op) == OpKind::Register && r.is_gpr()).then_some(r)
}

fn is_imm(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// The access `instr` makes, when it is one the trap emulates.
pub(super) fn classify(instr: &Instruction) -> Option<Op> {
    if instr.op_count() != 2 || instr.has_lock_prefix() {
        return None;
    }
    let size = instr.memory_size().size();
    let m = instr.mnemonic();
    match m {
        Mnemonic::Movdir64b | Mnemonic::Enqcmd | Mnemonic::Enqcmds => {
            let kind = match m {
                Mnemonic::Movdir64b => PortalKind::Movdir64b,
                Mnemonic::Enqcmd => PortalKind::Enqcmd,
                _ => PortalKind::Enqcmds,
            };
            let dst = gpr(instr, 0)?;
            (instr.op_kind(1) == OpKind::Memory).then_some(Op::Portal { dst, kind })
        }
        _ if !matches!(size, 1 | 2 | 4 | 8) => None,
        Mnemonic::Mov | Mnemonic::Movdiri if instr.op_kind(0) == OpKind::Memory => {
            let k = instr.op_kind(1);
            let src = if is_imm(k) {
                Source::Imm(instr.immediate(1))
            } else {
                Source::Reg(gpr(instr, 1)?)
            };
            Some(Op::Store { src, size })
        }
        Mnemonic::Mov | Mnemonic::Movzx | Mnemonic::Movsx | Mnemonic::Movsxd
            if instr.op_kind(1) == OpKind::Memory =>
        {
            let extend = match m {
                Mnemonic::Mov => Extend::None,
                Mnemonic::Movzx => Extend::Zero,
                _ => Extend::Sign,
            };
            Some(Op::Load {
                dst: gpr(instr, 0)?,
                size,
                extend,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn op(bytes: &[u8]) -> Option<Op> {
        let i = Decoder::with_ip(64, bytes, 0x1000, DecoderOptions::NONE).decode();
        classify(&i)
    }

    #[test]
    fn the_emulated_forms_are_recognised() {
        // mov eax, [rdi]
        let load = Op::Load {
            dst: Register::EAX,
            size: 4,
            extend: Extend::None,
        };
        assert_eq!(op(&[0x8b, 0x07]), Some(load));
        // movzx ecx, byte [rsi+4]
        let zx = Op::Load {
            dst: Register::ECX,
            size: 1,
            extend: Extend::Zero,
        };
        assert_eq!(op(&[0x0f, 0xb6, 0x4e, 0x04]), Some(zx));
        // mov qword [rdi], -2 (imm32 sign-extended)
        let imm = Op::Store {
            src: Source::Imm(u64::MAX - 1),
            size: 8,
        };
        assert_eq!(op(&[0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff]), Some(imm));
        // movdir64b rax, [rsi]; enqcmd rax, [rsi]
        let p = |kind| {
            Some(Op::Portal {
                dst: Register::RAX,
                kind,
            })
        };
        assert_eq!(
            op(&[0x66, 0x0f, 0x38, 0xf8, 0x06]),
            p(PortalKind::Movdir64b)
        );
        assert_eq!(op(&[0xf2, 0x0f, 0x38, 0xf8, 0x06]), p(PortalKind::Enqcmd));
        assert_eq!(op(&[0xf3, 0x0f, 0x38, 0xf8, 0x06]), p(PortalKind::Enqcmds));
    }

    #[test]
    fn other_forms_are_refused() {
        // add [rdi], eax; lock xchg [rdi], eax; mov [rdi], es; movaps xmm0, [rdi]
        assert_eq!(op(&[0x01, 0x07]), None);
        assert_eq!(op(&[0xf0, 0x87, 0x07]), None);
        assert_eq!(op(&[0x8c, 0x07]), None);
        assert_eq!(op(&[0x0f, 0x28, 0x07]), None);
    }
}
