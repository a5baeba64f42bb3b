//! What a mapping allows, and what an access asks for.

use std::fmt;
use std::ops::{BitAnd, BitOr};

/// Permissions and attributes of a mapping, as a user of `map` gives them (Linux's `IOMMU_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prot(u8);

impl Prot {
    /// No permission.
    pub const NONE: Prot = Prot(0);
    /// Device reads allowed.
    pub const READ: Prot = Prot(1 << 0);
    /// Device writes allowed.
    pub const WRITE: Prot = Prot(1 << 1);
    /// Instruction fetches refused.
    pub const NOEXEC: Prot = Prot(1 << 2);
    /// Only privileged (supervisor) requests allowed.
    pub const PRIV: Prot = Prot(1 << 3);
    /// Cacheable, coherent memory.
    pub const CACHE: Prot = Prot(1 << 4);
    /// Device (MMIO) memory.
    pub const MMIO: Prot = Prot(1 << 5);
    /// Read and write.
    pub const RW: Prot = Prot(Self::READ.0 | Self::WRITE.0);

    /// Every flag that has a meaning.
    pub const ALL: Prot = Prot(0x3f);

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set in `self`.
    pub const fn intersects(self, other: Prot) -> bool {
        self.0 & other.0 != 0
    }

    /// `self` without the flags of `other`.
    pub const fn without(self, other: Prot) -> Prot {
        Prot(self.0 & !other.0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The flags from raw bits; unknown bits are dropped.
    pub const fn from_bits_truncate(bits: u8) -> Prot {
        Prot(bits & Self::ALL.0)
    }
}

impl BitOr for Prot {
    type Output = Prot;
    fn bitor(self, rhs: Prot) -> Prot {
        Prot(self.0 | rhs.0)
    }
}

impl BitAnd for Prot {
    type Output = Prot;
    fn bitand(self, rhs: Prot) -> Prot {
        Prot(self.0 & rhs.0)
    }
}

impl fmt::Debug for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Prot::READ, "r"),
            (Prot::WRITE, "w"),
            (Prot::NOEXEC, "noexec"),
            (Prot::PRIV, "priv"),
            (Prot::CACHE, "cache"),
            (Prot::MMIO, "mmio"),
        ];
        let mut first = true;
        for (p, n) in names {
            if self.contains(p) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// The kinds of access a walked entry allows, for unprivileged (user) and privileged requests.
///
/// Each entry of a walk yields a `Perm`; the walk ANDs them, as the hardware does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perm(u8);

impl Perm {
    /// Unprivileged read.
    pub const UR: Perm = Perm(1 << 0);
    /// Unprivileged write.
    pub const UW: Perm = Perm(1 << 1);
    /// Unprivileged execute.
    pub const UX: Perm = Perm(1 << 2);
    /// Privileged read.
    pub const PR: Perm = Perm(1 << 3);
    /// Privileged write.
    pub const PW: Perm = Perm(1 << 4);
    /// Privileged execute.
    pub const PX: Perm = Perm(1 << 5);
    /// Nothing allowed.
    pub const NONE: Perm = Perm(0);
    /// Everything allowed.
    pub const ALL: Perm = Perm(0x3f);

    /// Builds a `Perm` from the six rights.
    pub const fn new(ur: bool, uw: bool, ux: bool, pr: bool, pw: bool, px: bool) -> Perm {
        Perm(
            ur as u8
                | (uw as u8) << 1
                | (ux as u8) << 2
                | (pr as u8) << 3
                | (pw as u8) << 4
                | (px as u8) << 5,
        )
    }

    /// The rights from raw bits (as [`bits`](Perm::bits) gives them); unknown bits are dropped.
    pub const fn from_bits(bits: u8) -> Perm {
        Perm(bits & Perm::ALL.0)
    }

    /// The same rights for privileged and unprivileged requests.
    pub const fn same(read: bool, write: bool, exec: bool) -> Perm {
        Perm::new(read, write, exec, read, write, exec)
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: Perm) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `access` is allowed.
    pub const fn allows(self, access: Access) -> bool {
        self.contains(access.needs())
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl BitAnd for Perm {
    type Output = Perm;
    fn bitand(self, rhs: Perm) -> Perm {
        Perm(self.0 & rhs.0)
    }
}

impl BitOr for Perm {
    type Output = Perm;
    fn bitor(self, rhs: Perm) -> Perm {
        Perm(self.0 | rhs.0)
    }
}

impl fmt::Debug for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |p: Perm, c: char| if self.contains(p) { c } else { '-' };
        write!(
            f,
            "user:{}{}{} priv:{}{}{}",
            b(Perm::UR, 'r'),
            b(Perm::UW, 'w'),
            b(Perm::UX, 'x'),
            b(Perm::PR, 'r'),
            b(Perm::PW, 'w'),
            b(Perm::PX, 'x')
        )
    }
}

/// One access a device makes: read or write, data or instruction, user or supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access {
    /// A write (otherwise a read).
    pub write: bool,
    /// An instruction fetch (a read that executes).
    pub exec: bool,
    /// A privileged (supervisor) request.
    pub privileged: bool,
}

impl Access {
    /// An unprivileged data read.
    pub const READ: Access = Access {
        write: false,
        exec: false,
        privileged: false,
    };
    /// An unprivileged data write.
    pub const WRITE: Access = Access {
        write: true,
        exec: false,
        privileged: false,
    };

    /// The same access, privileged.
    pub const fn privileged(self) -> Access {
        Access {
            privileged: true,
            ..self
        }
    }

    /// The rights this access needs.
    pub const fn needs(self) -> Perm {
        let base = if self.privileged { 3 } else { 0 };
        let mut bits = 1u8 << base; // read
        if self.write {
            bits = 1 << (base + 1);
        }
        if self.exec {
            bits |= 1 << (base + 2);
        }
        Perm(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_needs_the_matching_right() {
        assert_eq!(Access::READ.needs(), Perm::UR);
        assert_eq!(Access::WRITE.needs(), Perm::UW);
        assert_eq!(Access::WRITE.privileged().needs(), Perm::PW);
        let fetch = Access {
            exec: true,
            ..Access::READ
        };
        assert_eq!(fetch.needs(), Perm::UR | Perm::UX);
        assert!(Perm::same(true, false, false).allows(Access::READ.privileged()));
        assert!(!Perm::same(true, false, false).allows(Access::WRITE));
    }

    #[test]
    fn prot_display_names_flags() {
        assert_eq!((Prot::READ | Prot::NOEXEC).to_string(), "r|noexec");
        assert_eq!(Prot::NONE.to_string(), "none");
    }
}
