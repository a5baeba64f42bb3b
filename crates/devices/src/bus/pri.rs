//! Page Request Interface: a function's requests to have pages made present, and the page
//! group responses the IOMMU sends back.

use super::types::PasidPrefix;

/// The largest page request group index (9 bits).
pub const PRGI_MAX: u16 = (1 << 9) - 1;

/// A page request message from a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// Requester ID.
    pub rid: u16,
    /// The PASID prefix, when the request carries one (its execute and privileged bits say
    /// what the faulting access was).
    pub pasid: Option<PasidPrefix>,
    /// The page (bits below 12 are ignored).
    pub addr: u64,
    /// Read access requested.
    pub read: bool,
    /// Write access requested.
    pub write: bool,
    /// Page request group index (9 bits).
    pub prgi: u16,
    /// Last request of its group: the IOMMU answers the group once this arrives.
    pub last: bool,
}

impl PageRequest {
    /// A request for the page holding `addr`, for the access that faulted: a read, or with
    /// `write` a write.
    pub const fn for_access(
        rid: u16,
        pasid: Option<PasidPrefix>,
        addr: u64,
        write: bool,
        prgi: u16,
        last: bool,
    ) -> PageRequest {
        PageRequest {
            rid,
            pasid,
            addr,
            read: !write,
            write,
            prgi,
            last,
        }
    }

    /// Whether the request is a stop marker (last, neither read nor write): the function
    /// tells the IOMMU it has stopped using the PASID; no response follows.
    pub const fn is_stop_marker(&self) -> bool {
        self.last && !self.read && !self.write
    }

    /// Whether the fields fit the message: PRGI in 9 bits, PASID in 20.
    pub const fn is_valid(&self) -> bool {
        let pasid_ok = match self.pasid {
            Some(p) => p.is_valid(),
            None => true,
        };
        self.prgi <= PRGI_MAX && pasid_ok
    }
}

/// The response code of a page group response (PCIe PRG Response Message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageResponseCode {
    /// 0000b: every page of the group is present; the function retries its accesses.
    Success,
    /// 0001b: one or more pages could not be made present; the function reports the fault
    /// without retrying.
    InvalidRequest,
    /// 1111b: a permanent error: the function stops issuing page requests.
    ResponseFailure,
}

impl PageResponseCode {
    /// The 4-bit code of the PCIe message.
    pub const fn code(self) -> u8 {
        match self {
            PageResponseCode::Success => 0b0000,
            PageResponseCode::InvalidRequest => 0b0001,
            PageResponseCode::ResponseFailure => 0b1111,
        }
    }
}

/// A page group response delivered to a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageResponse {
    /// Requester ID of the function.
    pub rid: u16,
    /// The PASID of the group, when the response carries one.
    pub pasid: Option<u32>,
    /// The group answered.
    pub prgi: u16,
    /// The answer.
    pub code: PageResponseCode,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> PageRequest {
        PageRequest {
            rid: 0x10,
            pasid: Some(PasidPrefix::new(7)),
            addr: 0x1000,
            read: true,
            write: false,
            prgi: 5,
            last: true,
        }
    }

    #[test]
    fn stop_marker_is_last_without_access() {
        assert!(!req().is_stop_marker());
        let stop = PageRequest {
            read: false,
            ..req()
        };
        assert!(stop.is_stop_marker());
        let not_last = PageRequest {
            last: false,
            ..stop
        };
        assert!(!not_last.is_stop_marker());
    }

    #[test]
    fn for_access_asks_for_the_faulting_access() {
        let w = PageRequest::for_access(0x10, Some(PasidPrefix::new(7)), 0x1000, true, 5, true);
        assert!(w.write && !w.read && w.prgi == 5 && w.last);
        assert_eq!(
            PageRequest {
                write: false,
                read: true,
                ..w
            },
            req()
        );
    }

    #[test]
    fn fields_must_fit_the_message() {
        assert!(req().is_valid());
        let wide_prgi = PageRequest {
            prgi: PRGI_MAX + 1,
            ..req()
        };
        assert!(!wide_prgi.is_valid());
        let wide_pasid = PageRequest {
            pasid: Some(PasidPrefix::new(1 << 20)),
            ..req()
        };
        assert!(!wide_pasid.is_valid());
    }

    #[test]
    fn response_codes_match_the_message_encoding() {
        assert_eq!(PageResponseCode::Success.code(), 0);
        assert_eq!(PageResponseCode::InvalidRequest.code(), 1);
        assert_eq!(PageResponseCode::ResponseFailure.code(), 0xf);
    }
}
