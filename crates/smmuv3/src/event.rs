//! Event records: the 32-byte entries an SMMU writes to its event queue (specification
//! section 7.3), as one [`Event`] type that encodes to and decodes from the four little-endian
//! doublewords of the queue entry.
//!
//! | Code | Name | What makes the model raise it | Fields carried |
//! |---|---|---|---|
//! | 01h | F_UUT | A request the model cannot express: a write marked as an instruction fetch | SSID, InputAddr, RnW/InD/PnU, Reason |
//! | 02h | C_BAD_STREAMID | StreamID at or beyond 2^LOG2SIZE; a two-level table's L1STD with Span 0, Span ≥ 12, Span > SPLIT + 1, or StreamID[SPLIT−1:0] ≥ 2^(Span−1). Recorded only with CR2.RECINVSID | SSID |
//! | 03h | F_STE_FETCH | Reading the STE or L1STD failed, or its address is beyond the OAS | SSID, FetchAddr |
//! | 04h | C_BAD_STE | STE V=0, or an ILLEGAL STE (specification 5.2.2) | SSID |
//! | 05h | F_BAD_ATS_TREQ | An ATS Translation Request where the effective EATS is 00 (EATS=00, Config bypass, or no ATS) | SSID, InputAddr, RnW/InD/PnU |
//! | 06h | F_STREAM_DISABLED | A request without a SubstreamID when S1DSS is terminate, or with SubstreamID 0 when S1DSS uses CD 0 | — |
//! | 07h | F_TRANSL_FORBIDDEN | A Translated (ATS) request, with CR0.ATSCHK=1, to a stream whose STE bypasses or whose EATS forbids it | InputAddr, RnW |
//! | 08h | C_BAD_SUBSTREAMID | A SubstreamID with stage 1 disabled, with S1CDMax=0 or SSIDSIZE=0, at or beyond 2^S1CDMax; an L1CD with V=0 or an L2Ptr beyond the address size | SubstreamID (no SSV) |
//! | 09h | F_CD_FETCH | Reading the CD or L1CD from physical memory failed | SSID, FetchAddr |
//! | 0Ah | C_BAD_CD | CD V=0, or an ILLEGAL CD (specification 5.4.2) | SSID |
//! | 0Bh | F_WALK_EABT | Reading or atomically updating a stage-1 or stage-2 descriptor failed | all fault fields, FetchAddr |
//! | 10h | F_TRANSLATION | Input beyond TxSZ/S2T0SZ or not sign-extended, TTBx disabled by EPDx, an invalid or reserved descriptor | all fault fields, IPA when S2=1 |
//! | 11h | F_ADDR_SIZE | A table or output address beyond the stage's effective IPS/S2PS; an input beyond the IAS/OAS when stage 1 bypasses | as F_TRANSLATION |
//! | 12h | F_ACCESS | A leaf with AF=0 while HA=0 and AFFD=0 (S2HA, S2AFFD at stage 2) | as F_TRANSLATION |
//! | 13h | F_PERMISSION | Rights refused by the leaf and its tables, PAN, WXN; at stage 2 also a stage-1 walk to Device memory with S2PTW, or a stage-1 HTTU write without stage-2 write rights (TTRnW=0) | as F_TRANSLATION, TTRnW |
//! | 20h | F_TLB_CONFLICT | Never: the model's TLB cannot hold two matching entries | — |
//! | 21h | F_CFG_CONFLICT | Never: STE.CONT is honoured by using the STE asked for | — |
//!
//! The fault fields of DW1 are STAG (15:0), Stall (31), PnU (33), InD (34), RnW (35), S2 (39),
//! CLASS (41:40) and TTRnW (44). DW2 holds InputAddr\[63:0\]; DW3 holds IPA\[55:12\] or
//! FetchAddr\[55:3\] in place. For the translation-related faults (10h–13h), CLASS says what the
//! failing stage was translating: the CD fetch (CD), a stage-1 descriptor (TT), or the
//! request's own address (IN); a stage-1 fault is always CLASS=IN, except F_WALK_EABT, which
//! reports a stage-1 descriptor fetch as CLASS=TT. F_BAD_ATS_TREQ carries its access in the
//! same DW1 positions as the other records.

use std::fmt;

macro_rules! event_ids {
    ($( $var:ident = $code:literal, $name:literal, $desc:literal; )*) => {
        /// The event number (DW0 bits 7:0) of an event record.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum EventId {
            $(
                #[doc = concat!($name, ": ", $desc, ".")]
                $var = $code,
            )*
        }

        impl EventId {
            /// Every event number this module knows, in order.
            pub const ALL: &'static [EventId] = &[$(EventId::$var,)*];

            /// The event whose number is `code`, if there is one.
            pub const fn from_code(code: u8) -> Option<EventId> {
                match code {
                    $($code => Some(EventId::$var),)*
                    _ => None,
                }
            }

            /// The specification's name, such as `"C_BAD_STE"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(EventId::$var => $name,)*
                }
            }
        }
    };
}

event_ids! {
    Uut = 0x01, "F_UUT", "unsupported upstream transaction";
    BadStreamId = 0x02, "C_BAD_STREAMID", "StreamID out of range of the stream table";
    SteFetch = 0x03, "F_STE_FETCH", "external abort fetching an STE or L1STD";
    BadSte = 0x04, "C_BAD_STE", "STE invalid or ILLEGAL";
    BadAtsTreq = 0x05, "F_BAD_ATS_TREQ", "ATS translation request not allowed for the stream";
    StreamDisabled = 0x06, "F_STREAM_DISABLED", "non-substream traffic disabled by S1DSS";
    TranslForbidden = 0x07, "F_TRANSL_FORBIDDEN", "ATS translated traffic not allowed to bypass";
    BadSubstreamId = 0x08, "C_BAD_SUBSTREAMID", "SubstreamID out of range or not allowed";
    CdFetch = 0x09, "F_CD_FETCH", "external abort fetching a CD or L1CD";
    BadCd = 0x0A, "C_BAD_CD", "CD invalid or ILLEGAL";
    WalkEabt = 0x0B, "F_WALK_EABT", "external abort fetching or updating a translation table descriptor";
    Translation = 0x10, "F_TRANSLATION", "translation fault";
    AddrSize = 0x11, "F_ADDR_SIZE", "address size fault";
    Access = 0x12, "F_ACCESS", "access flag fault";
    Permission = 0x13, "F_PERMISSION", "permission fault";
    TlbConflict = 0x20, "F_TLB_CONFLICT", "TLB conflict";
    CfgConflict = 0x21, "F_CFG_CONFLICT", "configuration cache conflict";
}

impl EventId {
    /// The event number.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Whether this is one of the four translation-related faults (F_TRANSLATION, F_ADDR_SIZE,
    /// F_ACCESS, F_PERMISSION), whose recording and stalling CD.R/S and STE.S2R/S2S control.
    pub const fn translation_related(self) -> bool {
        matches!(
            self,
            EventId::Translation | EventId::AddrSize | EventId::Access | EventId::Permission
        )
    }

    /// Which fields a record of this type carries.
    const fn fields(self) -> Fields {
        use EventId::*;
        match self {
            Uut => Fields::SSID
                .with(Fields::ADDR)
                .with(Fields::ACCESS)
                .with(Fields::REASON),
            BadStreamId | BadSte | BadCd => Fields::SSID,
            SteFetch | CdFetch => Fields::SSID.with(Fields::FETCH),
            BadAtsTreq => Fields::SSID.with(Fields::ADDR).with(Fields::ACCESS),
            StreamDisabled => Fields::NONE,
            TranslForbidden => Fields::ADDR.with(Fields::RNW),
            BadSubstreamId => Fields::BARE_SSID,
            WalkEabt => Fields::FAULT.with(Fields::FETCH),
            Translation | AddrSize | Access | TlbConflict => Fields::FAULT.with(Fields::IPA),
            Permission => Fields::FAULT.with(Fields::IPA).with(Fields::TTRNW),
            CfgConflict => Fields::SSID.with(Fields::REASON32),
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), self.code())
    }
}

/// A set of record fields.
#[derive(Clone, Copy)]
struct Fields(u16);

impl Fields {
    const NONE: Fields = Fields(0);
    /// SSV and SubstreamID.
    const SSID: Fields = Fields(1);
    /// SubstreamID without SSV (C_BAD_SUBSTREAMID).
    const BARE_SSID: Fields = Fields(1 << 1);
    /// InputAddr in DW2.
    const ADDR: Fields = Fields(1 << 2);
    /// RnW only.
    const RNW: Fields = Fields(1 << 3);
    /// RnW, InD and PnU.
    const ACCESS: Fields = Fields(1 << 4 | 1 << 3);
    /// Stall, STAG, S2, CLASS.
    const STAGE: Fields = Fields(1 << 5);
    /// IPA in DW3.
    const IPA: Fields = Fields(1 << 6);
    /// FetchAddr in DW3.
    const FETCH: Fields = Fields(1 << 7);
    /// TTRnW.
    const TTRNW: Fields = Fields(1 << 8);
    /// A 16-bit reason in DW1 bits 15:0.
    const REASON: Fields = Fields(1 << 9);
    /// A 32-bit reason in DW1 bits 31:0.
    const REASON32: Fields = Fields(1 << 10);
    /// Everything a translation fault record has in DW0–DW2.
    const FAULT: Fields = Fields(Self::SSID.0 | Self::ADDR.0 | Self::ACCESS.0 | Self::STAGE.0);

    const fn with(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    const fn has(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What the faulting stage was doing (CLASS, DW1 bits 41:40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EventClass {
    /// 00: fetching the CD (stage-2 translation of its IPA).
    Cd,
    /// 01: fetching a stage-1 translation table descriptor.
    Tt,
    /// 10: translating the input address of the request (or of the stage-1 output).
    #[default]
    In,
    /// 11: reserved.
    Reserved,
}

impl EventClass {
    const fn from_bits(bits: u64) -> EventClass {
        match bits & 3 {
            0 => EventClass::Cd,
            1 => EventClass::Tt,
            2 => EventClass::In,
            _ => EventClass::Reserved,
        }
    }

    const fn bits(self) -> u64 {
        match self {
            EventClass::Cd => 0,
            EventClass::Tt => 1,
            EventClass::In => 2,
            EventClass::Reserved => 3,
        }
    }
}

/// One event record. Fields a record type does not carry are ignored by [`Event::encode`] and
/// zero (or `None`, `false`, [`EventClass::In`]) after [`Event::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    /// Event number.
    pub id: EventId,
    /// StreamID of the request.
    pub sid: u32,
    /// SubstreamID, when the request carried one (SSV=1). C_BAD_SUBSTREAMID always carries
    /// one (it has no SSV bit).
    pub ssid: Option<u32>,
    /// InputAddr: the address the request presented.
    pub addr: u64,
    /// RnW: the request was a read.
    pub rnw: bool,
    /// InD: the request was an instruction fetch.
    pub ind: bool,
    /// PnU: the request was privileged.
    pub pnu: bool,
    /// S2: the fault arose at stage 2.
    pub s2: bool,
    /// CLASS: what the faulting stage was translating.
    pub class: EventClass,
    /// IPA\[55:12\] (DW3) of a stage-2 fault: the CD address, the stage-1 descriptor address,
    /// or the stage-1 output, as CLASS says.
    pub ipa: u64,
    /// FetchAddr\[55:3\] (DW3): the physical address whose fetch failed.
    pub fetch_addr: u64,
    /// Stall=1 and STAG: the request is stalled awaiting CMD_RESUME or CMD_STALL_TERM.
    pub stall: Option<u16>,
    /// TTRnW of F_PERMISSION with CLASS=TT: the stage-1 descriptor access was a read.
    pub tt_read: bool,
    /// IMPLEMENTATION DEFINED reason (F_UUT: 16 bits; F_CFG_CONFLICT: 32 bits).
    pub reason: u32,
}

const SSV: u64 = 1 << 11;
const STALL: u64 = 1 << 31;
const PNU: u64 = 1 << 33;
const IND: u64 = 1 << 34;
const RNW: u64 = 1 << 35;
const S2: u64 = 1 << 39;
const CLASS_SHIFT: u32 = 40;
const TTRNW: u64 = 1 << 44;
/// DW3 bits 55:12.
const IPA_MASK: u64 = ((1 << 56) - 1) & !0xfff;
/// DW3 bits 55:3.
const FETCH_MASK: u64 = ((1 << 56) - 1) & !0x7;
/// SubstreamID width.
const SSID_MASK: u32 = (1 << 20) - 1;

impl Event {
    /// A record of type `id` for StreamID `sid`, every other field empty.
    pub const fn new(id: EventId, sid: u32) -> Event {
        Event {
            id,
            sid,
            ssid: None,
            addr: 0,
            rnw: false,
            ind: false,
            pnu: false,
            s2: false,
            class: EventClass::In,
            ipa: 0,
            fetch_addr: 0,
            stall: None,
            tt_read: false,
            reason: 0,
        }
    }

    /// The record as the four doublewords of the queue entry, DW0 first.
    pub fn encode(&self) -> [u64; 4] {
        let f = self.id.fields();
        let mut w = [u64::from(self.id.code()), 0, 0, 0];
        w[0] |= u64::from(self.sid) << 32;
        if f.has(Fields::SSID)
            && let Some(s) = self.ssid
        {
            w[0] |= SSV | u64::from(s & SSID_MASK) << 12;
        }
        if f.has(Fields::BARE_SSID) {
            w[0] |= u64::from(self.ssid.unwrap_or(0) & SSID_MASK) << 12;
        }
        if f.has(Fields::ADDR) {
            w[2] = self.addr;
        }
        if f.has(Fields::RNW) && self.rnw {
            w[1] |= RNW;
        }
        if f.has(Fields::ACCESS) {
            w[1] |= if self.ind { IND } else { 0 } | if self.pnu { PNU } else { 0 };
        }
        if f.has(Fields::STAGE) {
            if let Some(stag) = self.stall {
                w[1] |= STALL | u64::from(stag);
            }
            w[1] |= if self.s2 { S2 } else { 0 } | self.class.bits() << CLASS_SHIFT;
        }
        if f.has(Fields::TTRNW) && self.tt_read {
            w[1] |= TTRNW;
        }
        if f.has(Fields::REASON) {
            w[1] |= u64::from(self.reason & 0xffff);
        }
        if f.has(Fields::REASON32) {
            w[1] |= u64::from(self.reason);
        }
        if f.has(Fields::IPA) {
            w[3] = self.ipa & IPA_MASK;
        }
        if f.has(Fields::FETCH) {
            w[3] = self.fetch_addr & FETCH_MASK;
        }
        w
    }

    /// The record held in `words`; the unknown event number when DW0 bits 7:0 name none.
    pub fn decode(words: [u64; 4]) -> Result<Event, u8> {
        let code = words[0] as u8;
        let id = EventId::from_code(code).ok_or(code)?;
        let f = id.fields();
        let mut e = Event::new(id, (words[0] >> 32) as u32);
        let ssid = (words[0] >> 12) as u32 & SSID_MASK;
        if f.has(Fields::SSID) && words[0] & SSV != 0 {
            e.ssid = Some(ssid);
        }
        if f.has(Fields::BARE_SSID) {
            e.ssid = Some(ssid);
        }
        if f.has(Fields::ADDR) {
            e.addr = words[2];
        }
        if f.has(Fields::RNW) {
            e.rnw = words[1] & RNW != 0;
        }
        if f.has(Fields::ACCESS) {
            e.ind = words[1] & IND != 0;
            e.pnu = words[1] & PNU != 0;
        }
        if f.has(Fields::STAGE) {
            e.stall = (words[1] & STALL != 0).then_some(words[1] as u16);
            e.s2 = words[1] & S2 != 0;
            e.class = EventClass::from_bits(words[1] >> CLASS_SHIFT);
        }
        if f.has(Fields::TTRNW) {
            e.tt_read = words[1] & TTRNW != 0;
        }
        if f.has(Fields::REASON) {
            e.reason = words[1] as u32 & 0xffff;
        }
        if f.has(Fields::REASON32) {
            e.reason = words[1] as u32;
        }
        if f.has(Fields::IPA) {
            e.ipa = words[3] & IPA_MASK;
        }
        if f.has(Fields::FETCH) {
            e.fetch_addr = words[3] & FETCH_MASK;
        }
        Ok(e)
    }

    /// The record as it reads back from the queue: only the fields its type carries.
    pub fn canonical(&self) -> Event {
        match Event::decode(self.encode()) {
            Ok(e) => e,
            // Encoding always writes a known event number.
            Err(_) => *self,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sid {:#x}", self.id, self.sid)?;
        if let Some(s) = self.ssid {
            write!(f, " ssid {s:#x}")?;
        }
        let fields = self.id.fields();
        if fields.has(Fields::ADDR) {
            write!(f, " addr {:#x}", self.addr)?;
        }
        if fields.has(Fields::STAGE) {
            write!(
                f,
                " stage {} class {:?}",
                if self.s2 { 2 } else { 1 },
                self.class
            )?;
        }
        if fields.has(Fields::IPA) && self.s2 {
            write!(f, " ipa {:#x}", self.ipa)?;
        }
        if fields.has(Fields::FETCH) {
            write!(f, " fetch {:#x}", self.fetch_addr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_code_round_trips_and_names_follow_the_specification() {
        let names: Vec<(u8, &str)> = EventId::ALL.iter().map(|e| (e.code(), e.name())).collect();
        assert_eq!(
            names,
            vec![
                (0x01, "F_UUT"),
                (0x02, "C_BAD_STREAMID"),
                (0x03, "F_STE_FETCH"),
                (0x04, "C_BAD_STE"),
                (0x05, "F_BAD_ATS_TREQ"),
                (0x06, "F_STREAM_DISABLED"),
                (0x07, "F_TRANSL_FORBIDDEN"),
                (0x08, "C_BAD_SUBSTREAMID"),
                (0x09, "F_CD_FETCH"),
                (0x0A, "C_BAD_CD"),
                (0x0B, "F_WALK_EABT"),
                (0x10, "F_TRANSLATION"),
                (0x11, "F_ADDR_SIZE"),
                (0x12, "F_ACCESS"),
                (0x13, "F_PERMISSION"),
                (0x20, "F_TLB_CONFLICT"),
                (0x21, "F_CFG_CONFLICT"),
            ]
        );
        for &id in EventId::ALL {
            assert_eq!(EventId::from_code(id.code()), Some(id));
        }
        assert_eq!(EventId::from_code(0x0C), None);
        assert!(EventId::Access.translation_related());
        assert!(!EventId::WalkEabt.translation_related());
        assert_eq!(EventId::BadCd.to_string(), "C_BAD_CD (0x0a)");
    }

    #[test]
    fn translation_fault_record_known_answer() {
        // A stage-2 permission fault on a stage-1 descriptor write: StreamID 0x1234,
        // SubstreamID 0x56, a privileged data read at 0xffff_8000_1234_5678, stalled with STAG 9,
        // IPA 0x8_7654_3000.
        let e = Event {
            ssid: Some(0x56),
            addr: 0xffff_8000_1234_5678,
            rnw: true,
            pnu: true,
            s2: true,
            class: EventClass::Tt,
            ipa: 0x8_7654_3abc,
            stall: Some(9),
            ..Event::new(EventId::Permission, 0x1234)
        };
        let w = e.encode();
        // DW0: 0x13 | SSV (bit 11) | SSID << 12 | SID << 32.
        assert_eq!(w[0], 0x13 | 1 << 11 | 0x56 << 12 | 0x1234 << 32);
        // DW1: STAG 9 | Stall (31) | PnU (33) | RnW (35) | S2 (39) | CLASS=TT (01 at 41:40).
        assert_eq!(w[1], 9 | 1 << 31 | 1 << 33 | 1 << 35 | 1 << 39 | 1 << 40);
        assert_eq!(w[2], 0xffff_8000_1234_5678);
        // DW3: IPA[55:12] in place.
        assert_eq!(w[3], 0x8_7654_3000);
        let back = Event::decode(w).unwrap();
        assert_eq!(
            back,
            Event {
                ipa: 0x8_7654_3000,
                ..e
            }
        );
        // TTRnW is bit 44.
        let read = Event { tt_read: true, ..e };
        assert_eq!(read.encode()[1], w[1] | 1 << 44);
        // Other translation faults have no TTRnW.
        let t = Event {
            tt_read: true,
            ..Event::new(EventId::Translation, 1)
        };
        assert_eq!(t.encode()[1] & 1 << 44, 0);
    }

    #[test]
    fn configuration_and_fetch_record_known_answers() {
        // C_BAD_STREAMID without a SubstreamID: just the code and StreamID.
        let e = Event::new(EventId::BadStreamId, 0xABCD);
        assert_eq!(e.encode(), [0x02 | 0xABCD << 32, 0, 0, 0]);
        // F_STE_FETCH: FetchAddr[55:3] in DW3.
        let f = Event {
            fetch_addr: 0x12_3456_789f,
            ..Event::new(EventId::SteFetch, 3)
        };
        assert_eq!(f.encode(), [0x03 | 3 << 32, 0, 0, 0x12_3456_7898]);
        // C_BAD_SUBSTREAMID has the SubstreamID but never SSV.
        let s = Event {
            ssid: Some(0xF_FFFF),
            ..Event::new(EventId::BadSubstreamId, 7)
        };
        assert_eq!(s.encode()[0], 0x08 | 0xF_FFFF << 12 | 7 << 32);
        assert_eq!(Event::decode(s.encode()), Ok(s));
        // F_STREAM_DISABLED carries only the StreamID.
        let d = Event {
            ssid: Some(4),
            addr: 0x1000,
            ..Event::new(EventId::StreamDisabled, 9)
        };
        assert_eq!(d.encode(), [0x06 | 9 << 32, 0, 0, 0]);
        // F_TRANSL_FORBIDDEN: InputAddr and RnW only.
        let t = Event {
            addr: 0x4000,
            rnw: true,
            pnu: true,
            ..Event::new(EventId::TranslForbidden, 1)
        };
        assert_eq!(t.encode(), [0x07 | 1 << 32, 1 << 35, 0x4000, 0]);
        // F_UUT: Reason in DW1 15:0 and the incoming attributes.
        let u = Event {
            addr: 0x8000,
            ind: true,
            reason: 0x1_0001,
            ..Event::new(EventId::Uut, 2)
        };
        assert_eq!(u.encode(), [0x01 | 2 << 32, 1 << 34 | 1, 0x8000, 0]);
        // F_CFG_CONFLICT: a 32-bit Reason.
        let c = Event {
            reason: 0x8000_0001,
            ..Event::new(EventId::CfgConflict, 2)
        };
        assert_eq!(c.encode()[1], 0x8000_0001);
        // F_WALK_EABT: fault fields and FetchAddr.
        let w = Event {
            s2: false,
            class: EventClass::Tt,
            fetch_addr: 0x7000_0ff8,
            addr: 0x1234,
            ..Event::new(EventId::WalkEabt, 5)
        };
        assert_eq!(w.encode(), [0x0B | 5 << 32, 1 << 40, 0x1234, 0x7000_0ff8]);
    }

    #[test]
    fn unknown_codes_are_refused() {
        assert_eq!(Event::decode([0x0C, 0, 0, 0]), Err(0x0C));
        assert_eq!(Event::decode([0xFF, 0, 0, 0]), Err(0xFF));
    }

    fn any_event() -> impl Strategy<Value = Event> {
        (
            proptest::sample::select(EventId::ALL),
            any::<u32>(),
            proptest::option::of(any::<u32>()),
            any::<u64>(),
            any::<[bool; 6]>(),
            0u8..4,
            any::<u64>(),
            proptest::option::of(any::<u16>()),
            any::<u32>(),
        )
            .prop_map(|(id, sid, ssid, addr, b, class, a, stall, reason)| Event {
                id,
                sid,
                ssid,
                addr,
                rnw: b[0],
                ind: b[1],
                pnu: b[2],
                s2: b[3],
                class: EventClass::from_bits(u64::from(class)),
                ipa: a,
                fetch_addr: a.rotate_left(7),
                stall,
                tt_read: b[4],
                reason,
            })
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(e in any_event()) {
            let c = e.canonical();
            prop_assert_eq!(Event::decode(e.encode()), Ok(c));
            prop_assert_eq!(c.encode(), e.encode());
            prop_assert_eq!(c.id, e.id);
            prop_assert_eq!(c.sid, e.sid);
        }

        #[test]
        fn decoding_any_words_never_panics(w: [u64; 4]) {
            if let Ok(e) = Event::decode(w) {
                // What decodes re-encodes to the same defined bits.
                prop_assert_eq!(Event::decode(e.encode()), Ok(e));
            }
        }
    }
}
