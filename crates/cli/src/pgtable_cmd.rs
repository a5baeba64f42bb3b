//! `softiommu pgtable`: build an I/O page table from mappings, walk addresses through it level
//! by level, and print what the table holds.
//!
//! The format is chosen by name in [`dispatch`]; everything after that is the one generic
//! [`run`], so a new format is one more arm of that `match` (and its name in [`FORMATS`]).

mod args;
mod show;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::sync::Arc;

use softiommu_mem::{AddressSpace, MemError, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Format, PageTable, PgError};

pub use self::args::PgtableArgs;
use self::show::{print_format, print_stats, print_walk};
use softiommu_cli::parse::{
    MapFileError, MapLines, MapSpec, UnmapSpec, human_size, prot_arg, shown,
};

/// Physical address of the RAM that table pages are allocated from (`--table-memory` bytes
/// of it, reserved lazily, so only the table pages in use cost memory).
pub const ARENA_BASE: u64 = 0x1_0000_0000;

/// The formats `--format` knows, with a word on each.
pub const FORMATS: &[(&str, &str)] = &[
    (
        "x86-4",
        "x86-64 4-level paging (VT-d first stage), 48-bit input",
    ),
    (
        "x86-5",
        "x86-64 5-level paging (VT-d first stage), 57-bit input",
    ),
    (
        "vtd-ss",
        "VT-d second stage, --levels 3, 4 or 5 (39-, 48- or 57-bit input)",
    ),
    (
        "arm-s1",
        "Arm VMSAv8-64 stage 1, --granule 4k|16k|64k, --ia-bits N (64 - T0SZ) [48]",
    ),
    (
        "arm-s2",
        "Arm VMSAv8-64 stage 2, --granule 4k|16k|64k, --ia-bits N (64 - S2T0SZ) [40]; \
         concatenated start tables where they save a level",
    ),
];

/// The built-in example's format, also the default of `--format`.
const EXAMPLE_FORMAT: &str = "vtd-ss";
/// The built-in example's mappings, as `--map` spells them.
const EXAMPLE_MAPS: &[&str] = &[
    "0x10000:0x70000000:64K:rw,cache",
    "0x200000:0x80000000:4M:rw",
    "0x40000000:0x200000000:1G:r",
];
/// The built-in example's unmap: 64K out of the middle of the first 2M block.
const EXAMPLE_UNMAPS: &[&str] = &["0x210000:64K"];
/// The built-in example's walks: a 4K page, a 2M block, the hole the unmap made.
const EXAMPLE_WALKS: &[&str] = &["0x12345", "0x4abcde", "0x218000"];

/// Why the command failed.
#[derive(Debug)]
pub enum CmdError {
    /// The command line or an input file is wrong (exit code 2).
    Usage(String),
    /// An operation on the table failed (exit code 1).
    Failed(String),
    /// Writing the output failed (exit code 3; 0 when the reader went away).
    Io(io::Error),
}

impl CmdError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            _ if self.is_broken_pipe() => 0,
            CmdError::Usage(_) => 2,
            CmdError::Failed(_) => 1,
            CmdError::Io(_) => 3,
        }
    }

    /// Whether the output was closed early (`| head`): not worth a message, and not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CmdError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::Usage(m) | CmdError::Failed(m) => f.write_str(m),
            CmdError::Io(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl From<io::Error> for CmdError {
    fn from(e: io::Error) -> Self {
        CmdError::Io(e)
    }
}

/// Runs `softiommu pgtable`, writing its report to `out`.
///
/// With no argument at all it runs the built-in example. Otherwise it builds the format
/// `args` names and hands it to [`run`]. This `match` is the one place that knows format
/// names: a format is one arm that refuses the options it does not take and calls [`run`]
/// with its value.
pub fn dispatch(args: &PgtableArgs, out: &mut dyn Write) -> Result<(), CmdError> {
    let example;
    let args = if args.is_bare() {
        example = PgtableArgs::example()?;
        writeln!(
            out,
            "No arguments given: running the built-in example, the same as\n  {}\n",
            example_command()
        )?;
        &example
    } else {
        args
    };
    let name = args.format_name();
    let config = |e: PgError| CmdError::Usage(format!("format {name}: {e}"));
    match name {
        "x86-4" | "x86-5" => {
            args.only(name, &[])?;
            let levels = if name == "x86-5" { 5 } else { 4 };
            let fmt = X86::new(X86Config {
                levels,
                ..X86Config::default()
            })
            .map_err(config)?;
            run(fmt, args, out)
        }
        "vtd-ss" => {
            args.only(name, &["--levels"])?;
            let fmt = VtdSs::new(VtdSsConfig {
                levels: args.levels.unwrap_or(4),
                ..VtdSsConfig::default()
            })
            .map_err(config)?;
            run(fmt, args, out)
        }
        "arm-s1" => {
            args.only(name, &["--granule", "--ia-bits"])?;
            let fmt = ArmS1::new(ArmS1Config {
                granule: args.granule.map_or(Granule::K4, Granule::from),
                ia_bits: args.ia_bits.unwrap_or(48),
                ..ArmS1Config::default()
            })
            .map_err(config)?;
            run(fmt, args, out)
        }
        "arm-s2" => {
            args.only(name, &["--granule", "--ia-bits"])?;
            let granule = args.granule.map_or(Granule::K4, Granule::from);
            let cfg = ArmS2Config::auto(granule, args.ia_bits.unwrap_or(40), 48).map_err(config)?;
            run(ArmS2::new(cfg).map_err(config)?, args, out)
        }
        _ => {
            let known: Vec<String> = FORMATS
                .iter()
                .map(|(n, what)| format!("  {n:<8} {what}"))
                .collect();
            Err(CmdError::Usage(format!(
                "unknown format '{}'; the formats are:\n{}",
                shown(name),
                known.join("\n")
            )))
        }
    }
}

/// The command line the built-in example stands for.
fn example_command() -> String {
    let mut cmd = format!("softiommu pgtable --format {EXAMPLE_FORMAT}");
    for m in EXAMPLE_MAPS {
        cmd += &format!(" \\\n      --map {m}");
    }
    for u in EXAMPLE_UNMAPS {
        cmd += &format!(" \\\n      --unmap {u}");
    }
    cmd += " \\\n     ";
    for w in EXAMPLE_WALKS {
        cmd += &format!(" --walk {w}");
    }
    cmd
}

/// Builds a table of format `fmt` and runs what `args` ask for on it: makes the mappings of
/// each `--file` as its lines are read, then the `--map` ones, then the unmaps, prints each
/// walk, and ends with the table's figures.
pub fn run<F: Format>(fmt: F, args: &PgtableArgs, out: &mut dyn Write) -> Result<(), CmdError> {
    let memory = args.table_memory()?;
    // Every file is opened before anything is made, so a missing one changes nothing.
    let files = args
        .files
        .iter()
        .map(|path| {
            let name = shown(&path.display().to_string());
            match File::open(path) {
                Ok(f) => Ok((name, BufReader::new(f))),
                Err(e) => Err(CmdError::Usage(format!(
                    "cannot read mapping file {name}: {e}"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quiet = args.quiet;
    if !quiet {
        print_format(&fmt, out)?;
    }
    let failed = |what: &str, e: &dyn fmt::Display| CmdError::Failed(format!("{what}: {e}"));
    let arena = RamArena::new(ARENA_BASE, memory).map_err(|e| failed("table memory", &e))?;
    let alloc =
        PageAlloc::new(arena, ARENA_BASE, memory).map_err(|e| failed("table memory", &e))?;
    let pt = PageTable::new(fmt, Arc::new(alloc))
        .map_err(|e| failed("new table", &refusal(&e, None, memory)))?;
    let mut t = Session {
        pt,
        out,
        quiet,
        memory,
    };
    if !quiet {
        writeln!(
            t.out,
            "table pages from RAM at {ARENA_BASE:#x}+{}, root at {:#x}",
            human_size(memory),
            t.pt.root()
        )?;
        if !args.files.is_empty() || !args.maps.is_empty() || !args.unmaps.is_empty() {
            writeln!(t.out)?;
        }
    }

    for (name, input) in files {
        let mut lines = MapLines::new(input);
        loop {
            match lines.next_map() {
                Ok(Some((line, m))) => t.map(&m, Some((&name, line)))?,
                Ok(None) => break,
                Err(MapFileError::Line(line, e)) => {
                    return Err(CmdError::Usage(format!("{name}:{line}: {e}")));
                }
                Err(MapFileError::Read(e)) => {
                    return Err(CmdError::Usage(format!(
                        "cannot read mapping file {name}: {e}"
                    )));
                }
            }
        }
    }
    for m in &args.maps {
        t.map(m, None)?;
    }
    for u in &args.unmaps {
        t.unmap(u)?;
    }

    let access = args.access();
    for (i, &iova) in args.walks.iter().enumerate() {
        if !quiet || i > 0 {
            writeln!(t.out)?;
        }
        print_walk(&t.pt, iova, access, t.out)?;
    }
    if !quiet || !args.walks.is_empty() {
        writeln!(t.out)?;
    }
    print_stats(&t.pt, t.out)?;
    Ok(())
}

/// A table being built, and where its report goes.
struct Session<'o, F: Format, M: AddressSpace> {
    pt: PageTable<F, M>,
    out: &'o mut dyn Write,
    /// No line for each map and unmap.
    quiet: bool,
    /// Bytes of table memory, for the message when they run out.
    memory: u64,
}

impl<F: Format, M: AddressSpace> Session<'_, F, M> {
    /// Makes mapping `m`, read from `at` (a file and line) if it came from a file.
    fn map(&mut self, m: &MapSpec, at: Option<(&str, usize)>) -> Result<(), CmdError> {
        if let Err(e) = self.pt.map(m.iova, m.pa, m.size, m.prot) {
            let at = at.map_or(String::new(), |(path, line)| format!("{path}:{line}: "));
            return Err(CmdError::Failed(format!(
                "{at}map {:#x}:{:#x}:{}:{}: {}",
                m.iova,
                m.pa,
                human_size(m.size),
                prot_arg(m.prot),
                refusal(&e, Some(m.pa), self.memory)
            )));
        }
        if self.quiet {
            return Ok(());
        }
        let kept = self.pt.format().effective(m.prot);
        write!(
            self.out,
            "map    {:<#12x} -> {:<#12x} {:>5}  {}",
            m.iova,
            m.pa,
            human_size(m.size),
            prot_arg(m.prot),
        )?;
        if kept != m.prot {
            write!(
                self.out,
                "  ({} keeps {})",
                self.pt.format().name(),
                prot_arg(kept)
            )?;
        }
        writeln!(self.out)?;
        Ok(())
    }

    /// Unmaps `u`.
    fn unmap(&mut self, u: &UnmapSpec) -> Result<(), CmdError> {
        let done = self.pt.unmap(u.iova, u.size).map_err(|e| {
            CmdError::Failed(format!(
                "unmap {:#x}:{}: {}",
                u.iova,
                human_size(u.size),
                refusal(&e, None, self.memory)
            ))
        })?;
        if !self.quiet {
            writeln!(
                self.out,
                "unmap  {:<#12x}    {:<12} {:>5}  ({} were mapped)",
                u.iova,
                "",
                human_size(u.size),
                human_size(done)
            )?;
        }
        Ok(())
    }
}

/// Why the table refused an operation, in the command's terms: an alignment error names only
/// the values that are unaligned (`pa` is `None` for an unmap, which has none), and running
/// out of table memory names the option that gives more.
fn refusal(e: &PgError, pa: Option<u64>, memory: u64) -> String {
    match *e {
        PgError::Unaligned {
            iova,
            size,
            granule,
            ..
        } => {
            let bad: Vec<String> = [("iova", Some(iova)), ("pa", pa), ("size", Some(size))]
                .into_iter()
                .filter_map(|(name, v)| v.map(|v| (name, v)))
                .filter(|&(_, v)| !v.is_multiple_of(granule))
                .map(|(name, v)| format!("{name} {v:#x}"))
                .collect();
            let Some((last, rest)) = bad.split_last() else {
                return e.to_string();
            };
            let (list, verb) = if rest.is_empty() {
                (last.clone(), "is")
            } else {
                (format!("{} and {last}", rest.join(", ")), "are")
            };
            format!(
                "{list} {verb} not aligned to the {} granule",
                human_size(granule)
            )
        }
        PgError::Mem(MemError::Exhausted { .. }) => format!(
            "out of table memory ({} given): raise --table-memory",
            human_size(memory)
        ),
        _ => e.to_string(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The `pgtable` options alone, for parsing in tests.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: PgtableArgs,
    }

    fn output(argv: &[&str]) -> Result<String, CmdError> {
        let cli = Cli::try_parse_from(std::iter::once("pgtable").chain(argv.iter().copied()))
            .map_err(|e| CmdError::Usage(e.to_string()))?;
        let mut out = Vec::new();
        dispatch(&cli.args, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn every_listed_format_dispatches() {
        for (name, _) in FORMATS {
            let text = output(&[
                "--format",
                name,
                "--map",
                "0x200000:0x40000000:2M",
                "--walk",
                "0x200000",
            ])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(text.contains(&format!("format {name}:")), "{text}");
            assert!(text.contains("=> 0x40000000"), "{text}");
        }
    }

    #[test]
    fn the_example_runs_and_parses() {
        let text = output(&[]).unwrap();
        assert!(text.contains("built-in example"), "{text}");
        assert!(text.contains("  1G leaves     1\n"), "{text}");
        assert!(text.contains("  2M leaves     1\n"), "{text}");
        assert!(text.contains("  4K leaves     512\n"), "{text}");
        assert!(text.contains("=> 0x70002345"), "{text}");
        assert!(text.contains("=> 0x802abcde"), "{text}");
        assert!(text.contains("not mapped (level 1"), "{text}");
        assert!(text.contains(&example_command()), "{text}");
    }

    #[test]
    fn options_alone_build_the_empty_table() {
        for (name, _) in FORMATS {
            let text = output(&["--format", name]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!text.contains("example"), "{text}");
            assert!(text.contains(&format!("format {name}:")), "{text}");
            assert!(text.contains("  mapped        0\n"), "{text}");
        }
        let text = output(&["--quiet"]).unwrap();
        assert!(text.starts_with("table\n  root"), "{text}");
    }

    #[test]
    fn format_options_are_checked() {
        let err = output(&["--format", "x86-4", "--granule", "4k"]).unwrap_err();
        assert_eq!(err.to_string(), "format x86-4 does not take --granule");
        assert_eq!(err.exit_code(), 2);
        let err = output(&["--format", "vtd-ss", "--ia-bits", "40"]).unwrap_err();
        assert_eq!(err.to_string(), "format vtd-ss does not take --ia-bits");
        let err = output(&["--format", "x86-5", "--levels", "4"]).unwrap_err();
        assert_eq!(err.to_string(), "format x86-5 does not take --levels");
        let err = output(&["--format", "nope"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        for (name, _) in FORMATS {
            assert!(err.to_string().contains(name), "{err}");
        }
        let text = output(&["--levels", "3", "--walk", "0"]).unwrap();
        assert!(
            text.contains("format vtd-ss: 3 levels, 39-bit input"),
            "{text}"
        );
    }

    #[test]
    fn table_errors_exit_1() {
        let err = output(&["--map", "0x1000:0x2000:4K", "--map", "0x1000:0x3000:4K"]).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("already mapped"), "{err}");
        let err = output(&["--map", "0x1000:0x2000:4K", "--unmap", "0x2000:4K"]).unwrap_err();
        assert!(err.to_string().contains("nothing is mapped"), "{err}");
        let err = output(&["--map", "0x1000:0x2000:4K:-"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("grant no access"), "{err}");
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let unaligned = |iova, pa, size| PgError::Unaligned {
            iova,
            pa,
            size,
            granule: 0x1000,
        };
        assert_eq!(
            refusal(&unaligned(0x1800, 0, 0x1000), None, 1 << 30),
            "iova 0x1800 is not aligned to the 4K granule"
        );
        assert_eq!(
            refusal(&unaligned(0x1000, 0x2800, 0x800), Some(0x2800), 1 << 30),
            "pa 0x2800 and size 0x800 are not aligned to the 4K granule"
        );
        assert_eq!(
            refusal(&unaligned(0x10, 0x20, 0x30), Some(0x20), 1 << 30),
            "iova 0x10, pa 0x20 and size 0x30 are not aligned to the 4K granule"
        );
        let used_up = PgError::Mem(MemError::Exhausted { size: 4096 });
        assert_eq!(
            refusal(&used_up, None, 8192),
            "out of table memory (8K given): raise --table-memory"
        );
    }

    #[test]
    fn output_errors_have_their_own_exit_codes() {
        let pipe = CmdError::Io(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(pipe.exit_code(), 0);
        assert!(pipe.is_broken_pipe());
        let full = CmdError::Io(io::Error::from_raw_os_error(28));
        assert_eq!(full.exit_code(), 3);
        assert!(
            full.to_string().starts_with("writing the output: "),
            "{full}"
        );
    }

    #[test]
    fn checked_walks_report_faults() {
        let text = output(&[
            "--format",
            "x86-4",
            "--map",
            "0x1000:0x2000:4K:r",
            "--walk",
            "0x1000",
            "--walk",
            "0x40000000",
            "--access",
            "w",
        ])
        .unwrap();
        assert!(
            text.contains("user write: permission fault at level 1"),
            "{text}"
        );
        assert!(
            text.contains("user write: translation fault at level 3"),
            "{text}"
        );
        let text = output(&[
            "--format",
            "x86-4",
            "--map",
            "0x1000:0x2000:4K:rw,priv",
            "--walk",
            "0x1000",
            "--access",
            "r",
            "--priv",
        ])
        .unwrap();
        assert!(
            text.contains("privileged read: allowed => 0x2000"),
            "{text}"
        );
    }
}
