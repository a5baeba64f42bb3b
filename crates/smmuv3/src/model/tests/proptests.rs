//! Random STE and CD contents: every request ends in a translation or in an event the
//! specification gives it, never a panic or a hang; and the configuration checks decide.

use proptest::prelude::*;
use softiommu_pgtable::Prot;

use super::configs::identity_s2;
use super::*;

/// The events translation can raise (F_TLB_CONFLICT and F_CFG_CONFLICT never).
const RAISED: &[EventId] = &[
    EventId::Uut,
    EventId::BadStreamId,
    EventId::SteFetch,
    EventId::BadSte,
    EventId::BadAtsTreq,
    EventId::StreamDisabled,
    EventId::TranslForbidden,
    EventId::BadSubstreamId,
    EventId::CdFetch,
    EventId::BadCd,
    EventId::WalkEabt,
    EventId::Translation,
    EventId::AddrSize,
    EventId::Access,
    EventId::Permission,
];

/// Legal tables for the random entries to point at (or near): an identity stage 2, a stage-1
/// table over the first 16 MiB, its CD, and a linear table of 16 copies of that CD.
struct World {
    rig: Rig,
    ste: Ste,
    cd: Cd,
    cd_at: u64,
    _tables: (PageTable<ArmS1, Mem>, PageTable<ArmS2, Mem>),
}

fn world() -> World {
    let rig = Rig::new();
    let s2 = identity_s2(&rig);
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0, 16 << 20, Prot::RW).unwrap();
    let cd = cd_for(s1.format(), s1.root(), 1);
    let cd_at = rig.page();
    for i in 0..16 {
        rig.set_cd(cd_at + i * 64, &cd);
    }
    let ste = nested_ste(cd_at, &s2, 1);
    World {
        rig,
        ste,
        cd,
        cd_at,
        _tables: (s1, s2),
    }
}

/// Words that are the legal ones with some bits flipped (`flips` sparse), or random.
fn mutate<const N: usize>(
    legal: [u64; N],
    random: [u64; N],
    flips: [u64; N],
    wild: bool,
) -> [u64; N] {
    if wild {
        return random;
    }
    std::array::from_fn(|i| legal[i] ^ (random[i] & flips[i]))
}

fn sparse() -> impl Strategy<Value = u64> {
    // A few random bits of a word.
    prop::collection::vec(0u32..64, 0..3).prop_map(|bits| bits.iter().fold(0, |w, b| w | 1 << b))
}

fn access() -> impl Strategy<Value = (Access, RequestKind)> {
    (any::<[bool; 3]>(), 0u8..8).prop_map(|(b, k)| {
        let kind = match k {
            0 => RequestKind::Translated,
            1 => RequestKind::TranslationRequest,
            _ => RequestKind::Untranslated,
        };
        // An instruction write is F_UUT, tested on its own: keep requests expressible.
        let access = Access {
            write: b[0],
            exec: b[1] && !b[0],
            privileged: b[2],
        };
        (access, kind)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_stes_and_cds_end_in_a_translation_or_the_event_the_checks_give(
        ste_random: [u64; 4], ste_flips in prop::array::uniform4(sparse()), wild_ste in prop::bool::weighted(0.2),
        cd_random: [u64; 4], cd_flips in prop::array::uniform4(sparse()), wild_cd in prop::bool::weighted(0.2),
        requests in prop::collection::vec(
            (prop::option::weighted(0.3, 0u32..32), 0x3FF0_0000u64..0x4200_0000, access()), 1..6),
        ats_check: bool,
    ) {
        let w = world();
        let caps = *w.rig.unit.caps();
        let s = w.ste.to_words();
        let sw = mutate([s[0], s[1], s[2], s[3]], ste_random, ste_flips, wild_ste);
        let ste = Ste::from_words([sw[0], sw[1], sw[2], sw[3], 0, 0, 0, 0]);
        let c = w.cd.to_words();
        let cw = mutate([c[0], c[1], c[2], c[3]], cd_random, cd_flips, wild_cd);
        let cd = Cd::from_words([cw[0], cw[1], cw[2], cw[3], 0, 0, 0, 0]);
        w.rig.set_ste(SID, &ste);
        w.rig.set_cd(w.cd_at, &cd);
        w.rig.unit.set_ats_check(ats_check);
        for (ssid, addr, (access, kind)) in requests {
            let req = Request { sid: SID, ssid, addr, access, kind };
            let first = w.rig.unit.translate(req);
            match first {
                Ok(t) => prop_assert!(t.len > 0 && t.len <= 1 << 30),
                Err(f) => {
                    if let Some(e) = f.event {
                        prop_assert!(RAISED.contains(&e.id), "{:?}", e);
                        prop_assert_eq!(e.sid, SID);
                        prop_assert_eq!(Event::decode(e.encode()), Ok(e.canonical()));
                    }
                }
            }
            // What the configuration checks say decides untranslated requests.
            if kind == RequestKind::Untranslated {
                let config = ste.dw0.config();
                if ste.check(&caps).is_err() {
                    prop_assert_eq!(first.map_err(|f| f.id()), Err(Some(EventId::BadSte)));
                } else if !config.stage1() && !config.stage2() && config != SteConfig::Bypass {
                    prop_assert_eq!(first.map_err(|f| f.id()), Err(None));
                } else if config == SteConfig::S1Translate
                    && ste.dw0.s1cdmax() == 0
                    && ssid.is_none()
                    && ste.s1_context_ptr() == w.cd_at
                    && cd.check(&ste, &caps).is_err()
                {
                    prop_assert_eq!(first.map_err(|f| f.id()), Err(Some(EventId::BadCd)));
                }
            }
            // The same request again gives the same answer (from the caches, or walked).
            let again = w.rig.unit.translate(req);
            prop_assert_eq!(again.map(|t| t.pa).ok(), first.map(|t| t.pa).ok());
            prop_assert_eq!(again.map_err(|f| f.id()).err(), first.map_err(|f| f.id()).err());
        }
    }
}
