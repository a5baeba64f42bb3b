//! Body of the parser fuzz target (feature `fuzzing`): every parser on any text.

use crate::parse::{
    MapFileError, MapLines, MapSpec, human_size, parse_map, parse_map_line, parse_num, parse_prot,
    parse_unmap, prot_arg,
};

/// Runs every parser on the bytes (as text, invalid UTF-8 replaced). None may panic, and what
/// one accepts must come back the same when written out the way the tool writes it and
/// parsed again; a mapping file's error names one of its lines.
pub fn parsers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(v) = parse_num(&text) {
        assert_eq!(parse_num(&format!("{v}")), Ok(v), "decimal of {text:?}");
        assert_eq!(parse_num(&format!("{v:#x}")), Ok(v), "hex of {text:?}");
        let human = human_size(v);
        let back = parse_num(human.strip_suffix('B').unwrap_or(&human));
        assert_eq!(back, Ok(v), "{human} from {text:?}");
    }
    if let Ok(p) = parse_prot(&text) {
        assert_eq!(parse_prot(&prot_arg(p)), Ok(p), "prot of {text:?}");
    }
    if let Ok(m) = parse_map(&text) {
        assert_eq!(parse_map(&map_arg(&m)), Ok(m), "map of {text:?}");
    }
    if let Ok(u) = parse_unmap(&text) {
        let arg = format!("{:#x}:{:#x}", u.iova, u.size);
        assert_eq!(parse_unmap(&arg), Ok(u), "unmap of {text:?}");
    }
    for line in text.lines() {
        if let Ok(Some(m)) = parse_map_line(line) {
            let written = map_arg(&m).replace(':', " ");
            assert_eq!(parse_map_line(&written), Ok(Some(m)), "line {line:?}");
        }
    }
    // A mapping file is read as bytes, one `\n`-ended line at a time.
    let lines =
        data.split(|&b| b == b'\n').count() - usize::from(data.is_empty() || data.ends_with(b"\n"));
    let mut file = MapLines::new(data);
    let mut last = 0;
    loop {
        match file.next_map() {
            Ok(Some((n, _))) => {
                assert!(n > last, "line numbers in order");
                assert!((1..=lines).contains(&n), "mapping at line {n} of {lines}");
                last = n;
            }
            Ok(None) => break,
            Err(MapFileError::Line(n, _)) => {
                assert!((1..=lines).contains(&n), "error at line {n} of {lines}");
                break;
            }
            Err(MapFileError::Read(e)) => panic!("reading a slice failed: {e}"),
        }
    }
}

/// A `--map` value as the tool writes one.
fn map_arg(m: &MapSpec) -> String {
    format!(
        "{:#x}:{:#x}:{:#x}:{}",
        m.iova,
        m.pa,
        m.size,
        prot_arg(m.prot)
    )
}
