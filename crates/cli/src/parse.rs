//! What the command line and mapping files spell: numbers, sizes, permissions, mappings.
//!
//! Numbers are hex with `0x` or decimal, with `_` allowed between digits, and may end in a
//! binary unit: `K`, `M`, `G`, `T` or `P` (upper or lower case), so `4K`, `2M`, `0x40000000`
//! and `1G` all parse. Permissions are rights letters (`r`, `w`, `x`, `-`) and words
//! (`noexec`, `priv`, `cache`, `mmio`) joined with `,` or `+`, for example `rw`, `r+noexec`
//! or `rw,priv,cache`; the rights default to `rw` when no letters are given, and must include
//! `r` or `w` when they are. Every message quotes the input with invisible characters escaped
//! (a byte-order mark shows as `\u{feff}`).

use std::io::{self, BufRead};

use softiommu_pgtable::Prot;

/// Binary units a number may end in, with the shift each stands for.
const UNITS: [(char, u32); 5] = [('K', 10), ('M', 20), ('G', 30), ('T', 40), ('P', 50)];

/// Permission words, with the flag each sets.
const WORDS: [(&str, Prot); 4] = [
    ("noexec", Prot::NOEXEC),
    ("priv", Prot::PRIV),
    ("cache", Prot::CACHE),
    ("mmio", Prot::MMIO),
];

/// A mapping to make: `[iova, iova + size)` to `[pa, pa + size)` with `prot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSpec {
    /// First input address.
    pub iova: u64,
    /// First output address.
    pub pa: u64,
    /// Bytes to map.
    pub size: u64,
    /// Rights and attributes.
    pub prot: Prot,
}

/// A range to unmap: `[iova, iova + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnmapSpec {
    /// First input address.
    pub iova: u64,
    /// Bytes to unmap.
    pub size: u64,
}

/// A number: hex with `0x` or decimal, `_` between digits, an optional binary unit suffix
/// (`K`, `M`, `G`, `T`, `P`).
pub fn parse_num(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (body, shift) = UNITS
        .iter()
        .find_map(|&(u, shift)| {
            t.strip_suffix([u, u.to_ascii_lowercase()])
                .map(|b| (b, shift))
        })
        .unwrap_or((t, 0));
    let (digits, radix) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (body, 10),
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!(
            "'{}' is not a number (hex with 0x or decimal, optionally ending in K, M, G, T or P)",
            shown(t)
        ));
    }
    u64::from_str_radix(&digits, radix)
        .ok()
        .and_then(|v| v.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("'{}' does not fit in 64 bits", shown(t)))
}

/// A size: a number as [`parse_num`] reads it that is not zero.
pub fn parse_size(s: &str) -> Result<u64, String> {
    match parse_num(s)? {
        0 => Err(format!("'{}' is a zero size", shown(s.trim()))),
        n => Ok(n),
    }
}

/// `s` with control, format and other invisible characters escaped (`\u{feff}`, `\t`), so
/// that a message shows exactly what was given.
pub fn shown(s: &str) -> String {
    s.escape_debug().to_string()
}

/// Permissions: rights letters and words joined with `,` or `+`; the rights are `rw` when no
/// letters are given.
pub fn parse_prot(s: &str) -> Result<Prot, String> {
    let mut prot = Prot::NONE;
    let mut letters = false;
    let mut exec = false;
    for word in s.split([',', '+']) {
        let word = word.trim().to_ascii_lowercase();
        if let Some(&(_, flag)) = WORDS.iter().find(|(name, _)| *name == word) {
            prot = prot | flag;
        } else if !word.is_empty() && word.chars().all(|c| matches!(c, 'r' | 'w' | 'x' | '-')) {
            letters = true;
            for c in word.chars() {
                match c {
                    'r' => prot = prot | Prot::READ,
                    'w' => prot = prot | Prot::WRITE,
                    'x' => exec = true,
                    _ => {}
                }
            }
        } else {
            return Err(format!(
                "'{}' in permissions '{}' is neither rights letters (r, w, x, -) nor one of \
                 the words noexec, priv, cache, mmio",
                shown(&word),
                shown(s)
            ));
        }
    }
    if exec && prot.contains(Prot::NOEXEC) {
        return Err(format!(
            "permissions '{}' ask for both execute (x) and noexec",
            shown(s)
        ));
    }
    if !letters {
        prot = prot | Prot::RW;
    } else if !prot.intersects(Prot::RW) {
        return Err(format!(
            "permissions '{}' grant no access: a mapping needs r, w or both",
            shown(s)
        ));
    }
    Ok(prot)
}

/// Permissions as the command line spells them (`rw,priv`), the inverse of [`parse_prot`].
pub fn prot_arg(prot: Prot) -> String {
    let mut s = String::new();
    if prot.contains(Prot::READ) {
        s.push('r');
    }
    if prot.contains(Prot::WRITE) {
        s.push('w');
    }
    if s.is_empty() {
        s.push('-');
    }
    for (name, flag) in WORDS {
        if prot.contains(flag) {
            s.push(',');
            s.push_str(name);
        }
    }
    s
}

/// A mapping from its fields: IOVA, PA, SIZE and optionally PROT (default `rw`).
fn map_fields(fields: &[&str]) -> Result<MapSpec, String> {
    let [iova, pa, size, rest @ ..] = fields else {
        return Err("expected IOVA PA SIZE [PROT]".into());
    };
    let prot = match rest {
        [] => Prot::RW,
        [p] => parse_prot(p)?,
        _ => return Err("expected IOVA PA SIZE [PROT], got more fields".into()),
    };
    Ok(MapSpec {
        iova: parse_num(iova).map_err(|e| format!("IOVA: {e}"))?,
        pa: parse_num(pa).map_err(|e| format!("PA: {e}"))?,
        size: parse_size(size).map_err(|e| format!("SIZE: {e}"))?,
        prot,
    })
}

/// A `--map` value: `IOVA:PA:SIZE[:PROT]`.
pub fn parse_map(s: &str) -> Result<MapSpec, String> {
    let fields: Vec<&str> = s.split(':').collect();
    if !(3..=4).contains(&fields.len()) {
        return Err(format!("expected IOVA:PA:SIZE[:PROT], got '{}'", shown(s)));
    }
    map_fields(&fields)
}

/// An `--unmap` value: `IOVA:SIZE`.
pub fn parse_unmap(s: &str) -> Result<UnmapSpec, String> {
    let Some((iova, size)) = s.split_once(':') else {
        return Err(format!("expected IOVA:SIZE, got '{}'", shown(s)));
    };
    Ok(UnmapSpec {
        iova: parse_num(iova).map_err(|e| format!("IOVA: {e}"))?,
        size: parse_size(size).map_err(|e| format!("SIZE: {e}"))?,
    })
}

/// One line of a mapping file: `IOVA PA SIZE [PROT]` separated by whitespace; `None` for a
/// blank or comment-only line (`#` starts a comment).
pub fn parse_map_line(line: &str) -> Result<Option<MapSpec>, String> {
    let text = line.split_once('#').map_or(line, |(before, _)| before);
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.is_empty() {
        return Ok(None);
    }
    map_fields(&fields).map(Some)
}

/// Why a mapping file could not be read to the end.
#[derive(Debug)]
pub enum MapFileError {
    /// Reading the file failed.
    Read(io::Error),
    /// A line (numbered from 1) is not a mapping; what is wrong with it.
    Line(usize, String),
}

/// The mappings of a mapping file, read one line at a time as they are asked for.
#[derive(Debug)]
pub struct MapLines<R> {
    input: R,
    line: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> MapLines<R> {
    /// Mappings read from `input`.
    pub fn new(input: R) -> Self {
        MapLines {
            input,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The next mapping with its line number (from 1), skipping blank and comment lines;
    /// `None` at the end of the input.
    pub fn next_map(&mut self) -> Result<Option<(usize, MapSpec)>, MapFileError> {
        loop {
            self.buf.clear();
            if self
                .input
                .read_until(b'\n', &mut self.buf)
                .map_err(MapFileError::Read)?
                == 0
            {
                return Ok(None);
            }
            self.line += 1;
            let line = std::str::from_utf8(&self.buf).map_err(|_| {
                MapFileError::Line(
                    self.line,
                    format!(
                        "not UTF-8 text: '{}'",
                        self.buf.trim_ascii_end().escape_ascii()
                    ),
                )
            })?;
            if let Some(m) = parse_map_line(line).map_err(|e| MapFileError::Line(self.line, e))? {
                return Ok(Some((self.line, m)));
            }
        }
    }
}

/// A size the way a person reads it: the largest binary unit that divides it (`4K`, `2M`,
/// `1G`, `1028M`), or bytes (`24B`).
pub fn human_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    UNITS
        .iter()
        .rev()
        .find(|&&(_, shift)| bytes.trailing_zeros() >= shift)
        .map_or_else(
            || format!("{bytes}B"),
            |&(u, shift)| format!("{}{u}", bytes >> shift),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_hex_decimal_and_units() {
        assert_eq!(parse_num("0x1000"), Ok(0x1000));
        assert_eq!(parse_num("0X1f"), Ok(0x1f));
        assert_eq!(parse_num("4096"), Ok(4096));
        assert_eq!(parse_num("0x1_0000_0000"), Ok(1 << 32));
        assert_eq!(parse_num("4K"), Ok(4096));
        assert_eq!(parse_num("4k"), Ok(4096));
        assert_eq!(parse_num("2M"), Ok(2 << 20));
        assert_eq!(parse_num("1G"), Ok(1 << 30));
        assert_eq!(parse_num("16T"), Ok(16 << 40));
        assert_eq!(parse_num("1P"), Ok(1 << 50));
        assert_eq!(parse_num("0x10K"), Ok(0x4000));
        assert_eq!(parse_num(" 12 "), Ok(12));
        assert_eq!(parse_num("0"), Ok(0));
        assert_eq!(parse_size("0x1000"), Ok(4096));
        assert_eq!(parse_num("0xffffffffffffffff"), Ok(u64::MAX));
    }

    #[test]
    fn bad_numbers_are_refused() {
        for bad in [
            "",
            "0x",
            "K",
            "12Q",
            "0xg",
            "1.5M",
            "-1",
            "+1",
            "0x1_0000_0000_0000_0000",
            "16384P",
            "1 2",
        ] {
            assert!(parse_num(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_num("zz").unwrap_err().contains("not a number"));
        assert!(
            parse_num("18446744073709551616")
                .unwrap_err()
                .contains("64 bits")
        );
    }

    #[test]
    fn permissions() {
        assert_eq!(parse_prot("rw"), Ok(Prot::RW));
        assert_eq!(parse_prot("r"), Ok(Prot::READ));
        assert_eq!(parse_prot("w"), Ok(Prot::WRITE));
        assert_eq!(parse_prot("RW"), Ok(Prot::RW));
        assert_eq!(parse_prot("rwx"), Ok(Prot::RW));
        assert_eq!(parse_prot("r-x"), Ok(Prot::READ));
        assert_eq!(parse_prot("r+noexec"), Ok(Prot::READ | Prot::NOEXEC));
        assert_eq!(
            parse_prot("rw,priv,cache"),
            Ok(Prot::RW | Prot::PRIV | Prot::CACHE)
        );
        assert_eq!(parse_prot("mmio"), Ok(Prot::RW | Prot::MMIO));
        assert_eq!(parse_prot("priv+w"), Ok(Prot::WRITE | Prot::PRIV));
        assert_eq!(parse_prot("x,r"), Ok(Prot::READ));
        for bad in [
            "",
            "rw,",
            "rq",
            "exec",
            "rwx,noexec",
            "r,,w",
            "-",
            "x",
            "-,priv",
        ] {
            assert!(parse_prot(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn prot_arg_parses_back() {
        for p in [
            Prot::RW,
            Prot::READ,
            Prot::WRITE | Prot::PRIV,
            Prot::RW | Prot::NOEXEC | Prot::CACHE | Prot::MMIO,
        ] {
            assert_eq!(parse_prot(&prot_arg(p)), Ok(p), "{}", prot_arg(p));
        }
        assert_eq!(prot_arg(Prot::RW | Prot::CACHE), "rw,cache");
    }

    #[test]
    fn map_and_unmap_values() {
        assert_eq!(
            parse_map("0x200000:0x40000000:2M:rw"),
            Ok(MapSpec {
                iova: 0x20_0000,
                pa: 0x4000_0000,
                size: 2 << 20,
                prot: Prot::RW
            })
        );
        assert_eq!(parse_map("0:4096:4K").map(|m| m.prot), Ok(Prot::RW));
        assert_eq!(
            parse_map("0:0:4K:r+noexec").map(|m| m.prot),
            Ok(Prot::READ | Prot::NOEXEC)
        );
        assert!(parse_map("0:0").unwrap_err().contains("IOVA:PA:SIZE"));
        assert!(parse_map("0:0:4K:rw:x").is_err());
        assert!(parse_map("0:zz:4K").unwrap_err().starts_with("PA:"));
        assert_eq!(
            parse_unmap("0x201000:8K"),
            Ok(UnmapSpec {
                iova: 0x20_1000,
                size: 0x2000
            })
        );
        assert!(parse_unmap("0x1000").is_err());
        assert!(parse_unmap("0x1000:4K:rw").is_err());
    }

    /// Every mapping of `text`, or the first error's line and message.
    fn map_file(text: &[u8]) -> Result<Vec<(usize, MapSpec)>, (usize, String)> {
        let mut lines = MapLines::new(text);
        let mut maps = Vec::new();
        loop {
            match lines.next_map() {
                Ok(Some(m)) => maps.push(m),
                Ok(None) => return Ok(maps),
                Err(MapFileError::Line(n, e)) => return Err((n, e)),
                Err(MapFileError::Read(e)) => return Err((0, e.to_string())),
            }
        }
    }

    #[test]
    fn mapping_files() {
        let text = "# device buffers\n\
                    0x1000 0x2000 4K\n\
                    \n\
                    \t0x200000   0x40000000  2M  r+noexec   # firmware\n\
                    0x40000000 0x80000000 1G rw,cache\r\n\
                    0x80000000 0x80000000 4K";
        let maps = map_file(text.as_bytes()).unwrap();
        assert_eq!(maps.len(), 4);
        assert_eq!(maps[0].0, 2);
        assert_eq!(maps[1].0, 4);
        assert_eq!(maps[1].1.prot, Prot::READ | Prot::NOEXEC);
        assert_eq!(maps[2].1.size, 1 << 30);
        assert_eq!(maps[2].1.prot, Prot::RW | Prot::CACHE);
        assert_eq!(maps[3].0, 6);
        let (line, why) = map_file(b"0 0 4K\n# ok\n0x1000 0x2000\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(why.contains("IOVA PA SIZE"), "{why}");
        assert_eq!(map_file(b"0 0 4K rw extra").unwrap_err().0, 1);
        assert_eq!(map_file(b"").unwrap(), vec![]);
    }

    #[test]
    fn mapping_file_errors_show_invisible_characters() {
        let (line, why) = map_file("\u{feff}0x1000 0x2000 4K\n".as_bytes()).unwrap_err();
        assert_eq!(line, 1);
        assert!(why.contains("'\\u{feff}0x1000' is not a number"), "{why}");
        let (line, why) = map_file(b"0 0 4K\n0x1000 0x2000 4\xffK\n").unwrap_err();
        assert_eq!(line, 2);
        assert_eq!(why, "not UTF-8 text: '0x1000 0x2000 4\\xffK'");
        let why = parse_num("4\u{200b}K").unwrap_err();
        assert!(why.starts_with("'4\\u{200b}K'"), "{why}");
    }

    #[test]
    fn zero_sizes_are_refused() {
        assert_eq!(
            parse_map("0x1000:0x2000:0"),
            Err("SIZE: '0' is a zero size".into())
        );
        assert!(parse_unmap("0x1000:0x0").unwrap_err().contains("zero size"));
        assert!(parse_map_line("0 0 0K").unwrap_err().contains("zero size"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(4096), "4K");
        assert_eq!(human_size(2 << 20), "2M");
        assert_eq!(human_size(1 << 30), "1G");
        assert_eq!(human_size(512 << 30), "512G");
        assert_eq!(human_size(1028 << 20), "1028M");
        assert_eq!(human_size(20480), "20K");
        assert_eq!(human_size(1 << 40), "1T");
        assert_eq!(human_size(24), "24B");
        assert_eq!(human_size(0), "0");
    }
}
