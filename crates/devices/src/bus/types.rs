//! The plain data of a DMA request on the bus: who sends it, what it asks for, and what the
//! IOMMU answers.

use thiserror::Error;

/// The largest PASID a PASID TLP prefix carries (20 bits).
pub const PASID_MAX: u32 = (1 << 20) - 1;

/// The PASID TLP prefix of a request: the process address space it targets, and the two
/// attributes only a PASID prefix carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasidPrefix {
    /// The PASID (20 bits; a wider value is a malformed request).
    pub pasid: u32,
    /// Execute Requested: the read is an instruction fetch.
    pub execute: bool,
    /// Privileged Mode Requested: the request is made in supervisor mode.
    pub privileged: bool,
}

impl PasidPrefix {
    /// A prefix for `pasid` with neither execute nor privileged set.
    pub const fn new(pasid: u32) -> PasidPrefix {
        PasidPrefix {
            pasid,
            execute: false,
            privileged: false,
        }
    }

    /// The same prefix with Privileged Mode Requested set.
    pub const fn privileged(self) -> PasidPrefix {
        PasidPrefix {
            privileged: true,
            ..self
        }
    }

    /// The same prefix with Execute Requested set.
    pub const fn execute(self) -> PasidPrefix {
        PasidPrefix {
            execute: true,
            ..self
        }
    }

    /// Whether the PASID fits the prefix's 20 bits.
    pub const fn is_valid(&self) -> bool {
        self.pasid <= PASID_MAX
    }
}

/// The direction of a DMA request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// A memory read (an instruction fetch when the PASID prefix says execute).
    #[default]
    Read,
    /// A memory write.
    Write,
}

/// The address type of a request (the AT field of a memory request TLP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressType {
    /// An ordinary request: the IOMMU translates its address.
    #[default]
    Untranslated,
    /// The device's ATC already translated the address (ATS): the IOMMU lets it through
    /// where the device is allowed to send translated requests.
    Translated,
}

/// One DMA request from a function: `len` bytes at `addr`, read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DmaRequest {
    /// Requester ID (bus, device, function) the request carries on the bus.
    pub rid: u16,
    /// The PASID prefix, when the request carries one.
    pub pasid: Option<PasidPrefix>,
    /// First byte the request reaches (an I/O virtual address unless `at` is translated).
    pub addr: u64,
    /// Bytes the request covers (at least 1).
    pub len: u64,
    /// Read or write.
    pub dir: Direction,
    /// Untranslated or translated.
    pub at: AddressType,
}

impl DmaRequest {
    /// An untranslated read of `len` bytes at `addr` by `rid`, without a PASID.
    pub const fn read(rid: u16, addr: u64, len: u64) -> DmaRequest {
        DmaRequest {
            rid,
            pasid: None,
            addr,
            len,
            dir: Direction::Read,
            at: AddressType::Untranslated,
        }
    }

    /// An untranslated write of `len` bytes at `addr` by `rid`, without a PASID.
    pub const fn write(rid: u16, addr: u64, len: u64) -> DmaRequest {
        DmaRequest {
            dir: Direction::Write,
            ..DmaRequest::read(rid, addr, len)
        }
    }

    /// The same request carrying `prefix`.
    pub const fn with_pasid(self, prefix: PasidPrefix) -> DmaRequest {
        DmaRequest {
            pasid: Some(prefix),
            ..self
        }
    }

    /// The same request marked translated (its address came from the device's ATC).
    pub const fn translated(self) -> DmaRequest {
        DmaRequest {
            at: AddressType::Translated,
            ..self
        }
    }

    /// Whether the request writes.
    pub const fn is_write(&self) -> bool {
        matches!(self.dir, Direction::Write)
    }

    /// Whether the request is an instruction fetch.
    pub const fn is_execute(&self) -> bool {
        matches!(self.pasid, Some(p) if p.execute)
    }

    /// Whether the request is privileged.
    pub const fn is_privileged(&self) -> bool {
        matches!(self.pasid, Some(p) if p.privileged)
    }
}

/// Access rights a translation grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights {
    /// Reads allowed.
    pub read: bool,
    /// Writes allowed.
    pub write: bool,
    /// Instruction fetches allowed (reads with execute requested).
    pub execute: bool,
    /// Granted to privileged requests (otherwise to unprivileged ones).
    pub privileged: bool,
}

impl Rights {
    /// No access at all.
    pub const NONE: Rights = Rights {
        read: false,
        write: false,
        execute: false,
        privileged: false,
    };
    /// Read and write, no execute.
    pub const READ_WRITE: Rights = Rights {
        read: true,
        write: true,
        execute: false,
        privileged: false,
    };

    /// Whether these rights allow `req`'s direction (and execute, when it asks for it).
    pub const fn allow(&self, req: &DmaRequest) -> bool {
        let dir_ok = match req.dir {
            Direction::Read => self.read,
            Direction::Write => self.write,
        };
        dir_ok && (!req.is_execute() || self.execute)
    }
}

/// Where the first bytes of a DMA request land in physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Translation {
    /// Physical address of the request's first byte.
    pub addr: u64,
    /// Bytes contiguous in physical memory from `addr` under this translation (at least 1,
    /// possibly fewer than the request covers; the rest needs its own translation).
    pub len: u64,
    /// What the translation allows.
    pub rights: Rights,
}

/// How the IOMMU ended a DMA request it did not let through, as the function sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum DmaFault {
    /// The request was refused with an Unsupported Request completion (or a posted write
    /// dropped as one).
    #[error("unsupported request")]
    UnsupportedRequest,
    /// The request was refused with a Completer Abort (an error reading the IOMMU's tables or
    /// physical memory).
    #[error("completer abort")]
    CompleterAbort,
    /// The request was terminated without an error: reads return zeros and writes are
    /// discarded.
    #[error("terminated: reads return zeros, writes are discarded")]
    ReadAsZero,
    /// The request is held by the IOMMU under stall tag `tag`; the function learns what
    /// became of it through [`super::Endpoint::resume`].
    #[error("stalled with tag {tag}")]
    Stalled {
        /// The stall tag the resume will name.
        tag: u16,
    },
}

/// A message-signalled interrupt: a 32-bit write of `data` at `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsiMessage {
    /// Message address.
    pub addr: u64,
    /// Message data.
    pub data: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasid_prefix_is_twenty_bits() {
        assert!(PasidPrefix::new(PASID_MAX).is_valid());
        assert!(!PasidPrefix::new(PASID_MAX + 1).is_valid());
        let p = PasidPrefix::new(5).privileged().execute();
        assert!(p.privileged && p.execute && p.pasid == 5);
    }

    #[test]
    fn request_builders_set_what_they_name() {
        let r = DmaRequest::write(0x0108, 0x1000, 64)
            .with_pasid(PasidPrefix::new(3).privileged())
            .translated();
        assert!(r.is_write() && r.is_privileged() && !r.is_execute());
        assert_eq!(r.at, AddressType::Translated);
        assert_eq!((r.rid, r.addr, r.len), (0x0108, 0x1000, 64));
        assert!(!DmaRequest::read(1, 0, 1).is_privileged());
    }

    #[test]
    fn rights_check_direction_and_execute() {
        let read = DmaRequest::read(1, 0, 4);
        let fetch = read.with_pasid(PasidPrefix::new(1).execute());
        let write = DmaRequest::write(1, 0, 4);
        let ro = Rights {
            read: true,
            ..Rights::NONE
        };
        assert!(ro.allow(&read) && !ro.allow(&write) && !ro.allow(&fetch));
        assert!(Rights::READ_WRITE.allow(&write) && !Rights::READ_WRITE.allow(&fetch));
        let rx = Rights {
            execute: true,
            ..ro
        };
        assert!(rx.allow(&fetch));
        assert!(!Rights::NONE.allow(&read));
    }
}
