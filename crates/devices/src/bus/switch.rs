//! A PCI Express switch: downstream ports with Access Control Services, between the functions
//! below them and the switch's upstream (an IOMMU, or a port above).
//!
//! Each [`DownstreamPort`] is the [`Upstream`] of the functions below it. Functions register
//! their memory BARs with their port ([`DownstreamPort::add_window`]), which is how the switch
//! routes by address. For one run of a DMA request arriving at port P, in order:
//!
//! 1. ACS Source Validation: the bus of the requester ID must lie in P's secondary to
//!    subordinate range; otherwise the request is an ACS violation, refused with Completer
//!    Abort.
//! 2. ACS Translation Blocking: a translated request (and an ATS translation request) is an
//!    ACS violation.
//! 3. An address in a window below another port Q is peer-to-peer: with ACS P2P Request
//!    Redirect it goes upstream to the IOMMU (unless it is translated and ACS Direct
//!    Translated P2P is set); otherwise it goes straight to the peer, and the IOMMU never sees
//!    it. A read routed straight with ACS P2P Completion Redirect has its completion sent
//!    upstream and back down; completions are not translated, so only
//!    [`PortStats::completions_redirected`] tells.
//! 4. An address in a window below P itself (the request was sent back up from below) goes
//!    upstream with ACS Upstream Forwarding; without it the switch does not route a request
//!    back out of the port it came in on, and refuses it with Unsupported Request.
//! 5. Any other address goes upstream.
//!
//! Requests keep their requester ID through a switch. A request that went upstream and came
//! back translated to the address of a BAR below the switch is routed down to it: the port's
//! [`Upstream::memory`] is a [`MemoryMap`] of the switch's windows over the upstream's memory.
//! ATS translation requests, page requests and MSIs go upstream after Source Validation; the
//! IOMMU's messages for a requester ID reach the function attached for it below.
//!
//! The ports have no configuration space in this model: their bus numbers and ACS capability
//! are given at construction, and the ACS Control register is written with
//! [`DownstreamPort::set_acs_control`]. ACS P2P Egress Control is not modelled.

use std::ops::{Range, RangeInclusive};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};

use parking_lot::RwLock;
use softiommu_mem::AddressSpace;
use thiserror::Error;

use super::map::{MemoryMap, MemoryTarget, UpstreamMemory, WindowError};
use super::route::{direct, upward};
use super::{
    AddressType, AtsFailure, AtsRequest, AtsTranslation, DmaFault, DmaRequest, Endpoint,
    MsiMessage, PageRequest, Translation, Upstream,
};
use crate::pci::caps::AcsFlags;

/// The ACS features the model implements: Source Validation, Translation Blocking, P2P
/// Request Redirect, P2P Completion Redirect, Upstream Forwarding, Direct Translated P2P.
pub const ACS_MODELLED: AcsFlags = AcsFlags::new()
    .with_source_validation(true)
    .with_translation_blocking(true)
    .with_request_redirect(true)
    .with_completion_redirect(true)
    .with_upstream_forwarding(true)
    .with_direct_translated(true);

/// The ACS controls that isolate the functions below a downstream port from their peers:
/// Source Validation, P2P Request Redirect, P2P Completion Redirect and Upstream Forwarding
/// (what an operating system asks of a downstream port before it puts the functions below it
/// in groups of their own).
pub const ACS_ISOLATION: AcsFlags = AcsFlags::new()
    .with_source_validation(true)
    .with_request_redirect(true)
    .with_completion_redirect(true)
    .with_upstream_forwarding(true);

/// One downstream port as software set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// The port's own requester ID.
    pub rid: u16,
    /// Secondary bus number: the bus right below the port.
    pub secondary: u8,
    /// Subordinate bus number: the highest bus below the port.
    pub subordinate: u8,
    /// The ACS features the port implements (its ACS Capability register); none: the port has
    /// no ACS capability. Features the model does not implement are dropped.
    pub acs_capability: AcsFlags,
    /// The ACS features enabled at construction (its ACS Control register); features the
    /// capability lacks are dropped.
    pub acs_control: AcsFlags,
}

impl PortConfig {
    /// A port with requester ID `rid` over buses `secondary..=subordinate`, without ACS.
    pub const fn new(rid: u16, secondary: u8, subordinate: u8) -> PortConfig {
        PortConfig {
            rid,
            secondary,
            subordinate,
            acs_capability: AcsFlags::new(),
            acs_control: AcsFlags::new(),
        }
    }

    /// The same port implementing `capability` with `control` enabled.
    pub const fn with_acs(self, capability: AcsFlags, control: AcsFlags) -> PortConfig {
        PortConfig {
            acs_capability: capability,
            acs_control: control,
            ..self
        }
    }
}

/// A port the switch cannot add.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// The subordinate bus number is below the secondary one.
    #[error("bus range {secondary:#x}..={subordinate:#x} is empty")]
    EmptyBusRange {
        /// Secondary bus number.
        secondary: u8,
        /// Subordinate bus number.
        subordinate: u8,
    },
    /// The bus range overlaps another port's.
    #[error("bus range {0:#x?} overlaps another port's")]
    BusOverlap(RangeInclusive<u8>),
}

/// What a downstream port did with the runs of requests it routed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Runs routed straight to a peer below another port.
    pub peer_direct: u64,
    /// Runs for a peer's window sent upstream instead (P2P Request Redirect, Upstream
    /// Forwarding).
    pub redirected: u64,
    /// Reads routed straight to a peer whose completions went upstream and back down (P2P
    /// Completion Redirect).
    pub completions_redirected: u64,
    /// Requests refused as ACS violations (Source Validation, Translation Blocking).
    pub acs_violations: u64,
}

/// What the switch shares among its ports.
struct Shared {
    up: Arc<dyn Upstream>,
    /// Every port's windows, over the upstream's memory.
    map: MemoryMap<UpstreamMemory>,
    /// Each window and the index of the port it is below.
    owners: RwLock<Vec<(Range<u64>, usize)>>,
    /// Each port's bus range.
    buses: RwLock<Vec<RangeInclusive<u8>>>,
}

/// A PCI Express switch: one upstream port toward `up`, and the downstream ports added with
/// [`Switch::add_port`]. A root complex whose root ports route peer-to-peer between them is
/// the same element.
pub struct Switch {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("ports", &self.shared.buses.read().len())
            .field("map", &self.shared.map)
            .finish_non_exhaustive()
    }
}

impl Switch {
    /// A switch with no downstream ports, whose upstream port leads to `up`.
    pub fn new(up: Arc<dyn Upstream>) -> Switch {
        Switch {
            shared: Arc::new(Shared {
                map: MemoryMap::new(UpstreamMemory(up.clone())),
                up,
                owners: RwLock::new(Vec::new()),
                buses: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Adds a downstream port; refused when its bus range is empty or overlaps another port's.
    pub fn add_port(&self, cfg: PortConfig) -> Result<Arc<DownstreamPort>, PortError> {
        let buses = cfg.secondary..=cfg.subordinate;
        if buses.is_empty() {
            return Err(PortError::EmptyBusRange {
                secondary: cfg.secondary,
                subordinate: cfg.subordinate,
            });
        }
        let mut all = self.shared.buses.write();
        if all
            .iter()
            .any(|b| b.start() <= buses.end() && buses.start() <= b.end())
        {
            return Err(PortError::BusOverlap(buses));
        }
        let index = all.len();
        all.push(buses);
        let capability =
            AcsFlags::from_bits(cfg.acs_capability.into_bits() & ACS_MODELLED.into_bits());
        let port = DownstreamPort {
            shared: self.shared.clone(),
            index,
            rid: cfg.rid,
            secondary: cfg.secondary,
            subordinate: cfg.subordinate,
            capability,
            control: AtomicU16::new(0),
            stats: Counters::default(),
        };
        port.set_acs_control(cfg.acs_control);
        Ok(Arc::new(port))
    }
}

/// The counters behind [`PortStats`].
#[derive(Default)]
struct Counters {
    peer_direct: AtomicU64,
    redirected: AtomicU64,
    completions_redirected: AtomicU64,
    acs_violations: AtomicU64,
}

/// Where one run of a request goes.
enum Route {
    /// Upstream.
    Up,
    /// Straight to the peer whose window ends at this address (exclusive).
    Peer(u64),
}

/// A downstream port of a [`Switch`]: the [`Upstream`] of the functions below it.
pub struct DownstreamPort {
    shared: Arc<Shared>,
    index: usize,
    rid: u16,
    secondary: u8,
    subordinate: u8,
    capability: AcsFlags,
    control: AtomicU16,
    stats: Counters,
}

impl std::fmt::Debug for DownstreamPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownstreamPort")
            .field("rid", &self.rid)
            .field("buses", &self.buses())
            .field("acs_control", &self.acs_control())
            .finish_non_exhaustive()
    }
}

impl DownstreamPort {
    /// The port's own requester ID.
    pub fn rid(&self) -> u16 {
        self.rid
    }

    /// The buses below the port: secondary to subordinate.
    pub fn buses(&self) -> RangeInclusive<u8> {
        self.secondary..=self.subordinate
    }

    /// The ACS Capability register: the features the port implements.
    pub fn acs_capability(&self) -> AcsFlags {
        self.capability
    }

    /// The ACS Control register.
    pub fn acs_control(&self) -> AcsFlags {
        AcsFlags::from_bits(self.control.load(Relaxed))
    }

    /// Writes the ACS Control register: the features the port implements take the value
    /// written, the others stay 0.
    pub fn set_acs_control(&self, control: AcsFlags) {
        let bits = control.into_bits() & self.capability.into_bits();
        self.control.store(bits, Relaxed);
    }

    /// Routes `range` to `target`, a function below this port (one of its memory BARs).
    /// Refused when the range is empty or overlaps a window below any port of the switch.
    pub fn add_window(
        &self,
        range: Range<u64>,
        target: Arc<dyn MemoryTarget>,
    ) -> Result<(), WindowError> {
        let mut owners = self.shared.owners.write();
        self.shared.map.add_window(range.clone(), target)?;
        owners.push((range, self.index));
        Ok(())
    }

    /// Removes this port's window starting at `start`; whether there was one.
    pub fn remove_window(&self, start: u64) -> bool {
        let mut owners = self.shared.owners.write();
        let Some(i) = owners
            .iter()
            .position(|(r, port)| r.start == start && *port == self.index)
        else {
            return false;
        };
        owners.remove(i);
        self.shared.map.remove_window(start)
    }

    /// What the port did so far.
    pub fn stats(&self) -> PortStats {
        let s = &self.stats;
        PortStats {
            peer_direct: s.peer_direct.load(Relaxed),
            redirected: s.redirected.load(Relaxed),
            completions_redirected: s.completions_redirected.load(Relaxed),
            acs_violations: s.acs_violations.load(Relaxed),
        }
    }

    /// Source Validation and, for a request whose address was translated (or is to be),
    /// Translation Blocking: `Err` for an ACS violation.
    fn validate(&self, rid: u16, translated: bool) -> Result<(), DmaFault> {
        let acs = self.acs_control();
        let bus = (rid >> 8) as u8;
        let foreign = acs.source_validation() && !self.buses().contains(&bus);
        if foreign || (translated && acs.translation_blocking()) {
            self.stats.acs_violations.fetch_add(1, Relaxed);
            return Err(DmaFault::CompleterAbort);
        }
        Ok(())
    }

    /// Where the run `req` goes, by the rules of the module.
    fn route(&self, req: &DmaRequest) -> Result<Route, DmaFault> {
        let translated = req.at == AddressType::Translated;
        self.validate(req.rid, translated)?;
        let acs = self.acs_control();
        let owner = self
            .shared
            .owners
            .read()
            .iter()
            .find(|(r, _)| r.contains(&req.addr))
            .map(|(r, port)| (r.end, *port));
        let s = &self.stats;
        match owner {
            None => Ok(Route::Up),
            Some((_, port)) if port == self.index => {
                if !acs.upstream_forwarding() {
                    return Err(DmaFault::UnsupportedRequest);
                }
                s.redirected.fetch_add(1, Relaxed);
                Ok(Route::Up)
            }
            Some((end, _)) => {
                let redirect = acs.request_redirect() && !(translated && acs.direct_translated());
                if redirect {
                    s.redirected.fetch_add(1, Relaxed);
                    return Ok(Route::Up);
                }
                s.peer_direct.fetch_add(1, Relaxed);
                if !req.is_write() && acs.completion_redirect() {
                    s.completions_redirected.fetch_add(1, Relaxed);
                }
                Ok(Route::Peer(end))
            }
        }
    }
}

impl Upstream for DownstreamPort {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        match self.route(req)? {
            Route::Peer(end) => Ok(direct(req, end)),
            Route::Up => self
                .shared
                .up
                .translate(&upward(req, req.rid, &self.shared.map)),
        }
    }

    fn memory(&self) -> &dyn AddressSpace {
        &self.shared.map
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        self.validate(req.rid, true)
            .map_err(|_| AtsFailure::CompleterAbort)?;
        self.shared.up.ats_translate(req)
    }

    fn page_request(&self, req: &PageRequest) {
        if self.validate(req.rid, false).is_ok() {
            self.shared.up.page_request(req);
        }
    }

    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.validate(rid, false)?;
        self.shared.up.msi(rid, msg)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.shared.up.attach(rid, endpoint);
    }

    fn detach(&self, rid: u16) {
        self.shared.up.detach(rid);
    }
}
