//! Names of things: requester IDs, PASIDs, and handles of the core's objects.

use std::fmt;

/// A PCI requester ID: segment, bus, device and function.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rid {
    /// PCI segment (domain).
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device (bits 7:3) and function (bits 2:0).
    pub devfn: u8,
}

impl Rid {
    /// The RID of `segment:bus:device.function`; `device` is 0..=31 and `function` 0..=7.
    pub const fn new(segment: u16, bus: u8, device: u8, function: u8) -> Rid {
        Rid {
            segment,
            bus,
            devfn: (device & 0x1f) << 3 | (function & 7),
        }
    }

    /// The 16-bit source ID a requester puts in its transactions (bus << 8 | devfn).
    pub const fn source_id(self) -> u16 {
        (self.bus as u16) << 8 | self.devfn as u16
    }

    /// Device number.
    pub const fn device(self) -> u8 {
        self.devfn >> 3
    }

    /// Function number.
    pub const fn function(self) -> u8 {
        self.devfn & 7
    }
}

impl fmt::Display for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            self.segment,
            self.bus,
            self.device(),
            self.function()
        )
    }
}

impl fmt::Debug for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A process address space ID (20 bits at most).
pub type Pasid = u32;

/// The first PASID the global space hands out (0 is kept for requests without a PASID).
pub const PASID_MIN: Pasid = 1;
/// One past the largest PASID (2^20).
pub const PASID_LIMIT: Pasid = 1 << 20;

macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

handle!(
    /// An IOMMU instance registered with the core.
    InstanceId
);
handle!(
    /// A device (one requester ID) behind an instance.
    DeviceId
);
handle!(
    /// A group of devices the IOMMU cannot isolate from each other.
    GroupId
);
handle!(
    /// A domain: an address space devices and PASIDs are attached to.
    DomainId
);
handle!(
    /// A bridge of the topology description.
    BridgeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_fields_and_spelling() {
        let r = Rid::new(0, 0x3a, 0x1f, 7);
        assert_eq!(r.devfn, 0xff);
        assert_eq!(r.source_id(), 0x3aff);
        assert_eq!(r.to_string(), "0000:3a:1f.7");
        assert_eq!(Rid::new(1, 0, 2, 1).to_string(), "0001:00:02.1");
    }
}
