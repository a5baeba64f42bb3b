//! The matrix's outcomes as a table for a terminal and as JSON.

use std::fmt::Write as _;

use super::{Outcome, Verdict, column_title, mechanism_name};
use crate::assign::Column;

/// The outcomes as a table: one line per cell and mechanism, then a note for each verdict
/// that needs its why.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    line(
        &mut s,
        [
            "row",
            "column",
            "mechanism",
            "verdict",
            "bytes",
            "guest B",
            "unmapped DMA fault",
            "host/guest",
            "MB/s",
        ],
    );
    let mut notes = Vec::new();
    let mut last_row = None;
    for o in outcomes {
        let row = (last_row != Some(o.cell.row)).then(|| o.cell.row.title());
        last_row = Some(o.cell.row);
        // A note said before is referred to by its number again.
        let note = note(&o.verdict).map(|n| {
            let at = notes.iter().position(|m| *m == n).unwrap_or_else(|| {
                notes.push(n);
                notes.len() - 1
            });
            format!(" [{}]", at + 1)
        });
        let verdict = format!("{}{}", o.verdict.word(), note.unwrap_or_default());
        let bytes = match o.bytes_checked {
            0 => "-".to_owned(),
            b => b.to_string(),
        };
        let ratio = match o.host_per_guest() {
            Some(r) => format!("{r:.2}"),
            None => "-".to_owned(),
        };
        let rate = match o.throughput {
            Some(t) => format!("{:.0}", t / 1e6),
            None => "-".to_owned(),
        };
        line(
            &mut s,
            [
                row.unwrap_or(""),
                column_title(o.cell.column),
                mechanism_name(o.cell.mechanism),
                &verdict,
                &bytes,
                dash(&o.isolation),
                dash(&o.faults),
                &ratio,
                &rate,
            ],
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", summary(outcomes));
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(s, "[{}] {n}", i + 1);
    }
    s
}

/// One line of the table: its nine columns.
fn line(s: &mut String, c: [&str; 9]) {
    let _ = writeln!(
        s,
        "{:<15} {:<13} {:<10} {:<15} {:>7}  {:<8} {:<34} {:>10} {:>6}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
    );
}

/// `s`, or `-` for nothing.
fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// `15 cells: 14 pass, 0 partial, 0 failed, 1 impossible`.
pub fn summary(outcomes: &[Outcome]) -> String {
    let count = |w: &str| outcomes.iter().filter(|o| o.verdict.word() == w).count();
    format!(
        "{} cells: {} pass, {} partial, {} failed, {} impossible",
        outcomes.len(),
        count("pass"),
        count("partial"),
        count("FAIL"),
        count("impossible")
    )
}

/// The why of a verdict that has one worth a note.
fn note(v: &Verdict) -> Option<String> {
    match v {
        Verdict::Pass => None,
        Verdict::Partial(why) => Some(format!("partial: {why}")),
        Verdict::Fail(why) => Some(format!("failed: {why}")),
        Verdict::Impossible {
            why,
            call,
            refusal,
            errno,
        } => Some(format!(
            "impossible: {why}; the host refused {call}: {refusal} (errno {errno})"
        )),
    }
}

/// The outcomes as a JSON document: `{"cells": [...], "summary": "..."}`, one object per
/// cell and mechanism.
pub fn json(outcomes: &[Outcome]) -> String {
    let mut s = String::from("{\n  \"cells\": [\n");
    for (i, o) in outcomes.iter().enumerate() {
        let (why, refused) = match &o.verdict {
            Verdict::Pass => (None, None),
            Verdict::Partial(w) | Verdict::Fail(w) => (Some(w.as_str()), None),
            Verdict::Impossible {
                why,
                call,
                refusal,
                errno,
            } => (Some(why.as_str()), Some((call, refusal, *errno))),
        };
        let column = match o.cell.column {
            Column::NoViommu => "no-viommu",
            Column::Viommu => "viommu",
            Column::ViommuPasid => "viommu-pasid",
        };
        let fields = [
            ("row", string(&o.cell.row.key())),
            ("title", string(o.cell.row.title())),
            ("column", string(column)),
            ("mechanism", string(mechanism_name(o.cell.mechanism))),
            ("verdict", string(o.verdict.word())),
            ("why", why.map_or("null".into(), string)),
            (
                "refused_call",
                refused.map_or("null".into(), |r| string(r.0)),
            ),
            ("refusal", refused.map_or("null".into(), |r| string(r.1))),
            ("errno", refused.map_or("null".into(), |r| r.2.to_string())),
            ("bytes_checked", o.bytes_checked.to_string()),
            ("isolation", string(&o.isolation)),
            ("faults", string(&o.faults)),
            (
                "guest_invalidations",
                o.counts.guest_invalidations.to_string(),
            ),
            (
                "host_invalidations",
                o.counts.host_invalidations.to_string(),
            ),
            ("host_per_guest", number(o.host_per_guest())),
            ("bytes_per_second", number(o.throughput)),
            ("seconds", number(Some(o.elapsed.as_secs_f64()))),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        let comma = if i + 1 < outcomes.len() { "," } else { "" };
        let _ = writeln!(s, "    {{{}}}{comma}", body.join(", "));
    }
    let _ = write!(
        s,
        "  ],\n  \"summary\": {}\n}}\n",
        string(&summary(outcomes))
    );
    s
}

/// A JSON string.
fn string(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A JSON number, or `null` for none (or one JSON cannot hold).
fn number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.6}"),
        _ => "null".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{number, string};

    #[test]
    fn strings_and_numbers_are_json() {
        assert_eq!(string("a \"b\"\\\n\u{1}"), "\"a \\\"b\\\"\\\\\\n\\u0001\"");
        assert_eq!(number(None), "null");
        assert_eq!(number(Some(f64::NAN)), "null");
        assert_eq!(number(Some(1.5)), "1.500000");
    }
}
