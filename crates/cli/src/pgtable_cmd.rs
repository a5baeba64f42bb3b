//! `softiommu pgtable`: build an I/O page table from mappings, walk addresses through it level
//! by level, and print what the table holds.
//!
//! The format is chosen by name in [`dispatch`]; everything after that is the one generic
//! [`run`], so a new format is one more arm of that `match` (and its name in [`FORMATS`]).

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, FaultKind, Format, PageTable, PgError, Pte};

use softiommu_cli::parse::{
    MapSpec, UnmapSpec, human_size, parse_map, parse_map_file, parse_num, parse_unmap, prot_arg,
};

/// Physical address of the RAM that table pages are allocated from.
pub const ARENA_BASE: u64 = 0x1_0000_0000;
/// Size of that RAM; it is reserved lazily, so only the table pages in use cost memory.
pub const ARENA_SIZE: u64 = 1 << 30;

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

/// Options of `softiommu pgtable`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Numbers are hex (0x...) or decimal, '_' allowed, with optional K, M, G, T suffixes (4K, 2M, 1G).
PROT is rights letters (rw, r, w) and words (noexec, priv, cache, mmio) joined with ',' or '+',
for example rw,priv or r+noexec; it is rw when omitted (and the rights are rw if only words are
given). A --file holds one 'IOVA PA SIZE [PROT]' per line; '#' starts a comment.

With no --map, --file, --unmap or --walk, runs a built-in example on a vtd-ss table.")]
pub struct PgtableArgs {
    /// Page-table format: x86-4, x86-5, vtd-ss, arm-s1 or arm-s2.
    #[arg(long, value_name = "NAME", default_value = "vtd-ss")]
    pub format: String,

    /// Levels of a vtd-ss table [default: 4].
    #[arg(long, value_name = "3|4|5", value_parser = clap::value_parser!(u8).range(3..=5))]
    pub levels: Option<u8>,

    /// Translation granule (Arm formats only).
    #[arg(long, value_enum, ignore_case = true)]
    pub granule: Option<GranuleArg>,

    /// Input-address bits (Arm formats only).
    #[arg(long, value_name = "N")]
    pub ia_bits: Option<u8>,

    /// Map IOVA..IOVA+SIZE to PA..PA+SIZE (repeatable).
    #[arg(long = "map", value_name = "IOVA:PA:SIZE[:PROT]", value_parser = parse_map)]
    pub maps: Vec<MapSpec>,

    /// Read mappings from a file: one 'IOVA PA SIZE' per line, PROT optional after SIZE
    /// (repeatable; applied before the --map mappings).
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Unmap IOVA..IOVA+SIZE after all mappings are made (repeatable, in order).
    #[arg(long = "unmap", value_name = "IOVA:SIZE", value_parser = parse_unmap)]
    pub unmaps: Vec<UnmapSpec>,

    /// Show the walk for IOVA, level by level (repeatable).
    #[arg(long = "walk", value_name = "IOVA", value_parser = parse_num)]
    pub walks: Vec<u64>,

    /// Also make the hardware's checked walk for this access at each --walk address.
    #[arg(long, value_enum)]
    pub access: Option<AccessArg>,

    /// Make the --access a privileged (supervisor) request.
    #[arg(long = "priv", requires = "access")]
    pub privileged: bool,
}

/// The translation granule of an Arm table, as `--granule` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GranuleArg {
    /// 4 KiB.
    #[value(name = "4k")]
    K4,
    /// 16 KiB.
    #[value(name = "16k")]
    K16,
    /// 64 KiB.
    #[value(name = "64k")]
    K64,
}

impl From<GranuleArg> for Granule {
    fn from(g: GranuleArg) -> Granule {
        match g {
            GranuleArg::K4 => Granule::K4,
            GranuleArg::K16 => Granule::K16,
            GranuleArg::K64 => Granule::K64,
        }
    }
}

/// The kind of access `--access` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessArg {
    /// A data read.
    #[value(name = "r", alias = "read")]
    Read,
    /// A data write.
    #[value(name = "w", alias = "write")]
    Write,
    /// An instruction fetch.
    #[value(name = "x", alias = "exec")]
    Exec,
}

/// Why the command failed.
#[derive(Debug)]
pub enum CmdError {
    /// The command line or an input file is wrong (exit code 2).
    Usage(String),
    /// An operation on the table failed (exit code 1).
    Failed(String),
    /// Writing the output failed (exit code 1).
    Io(io::Error),
}

impl CmdError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CmdError::Usage(_) => 2,
            CmdError::Failed(_) | CmdError::Io(_) => 1,
        }
    }

    /// Whether the output was closed early (`| head`): not worth a message.
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

/// A mapping and where it came from (`PATH:LINE` for a file, nothing for `--map`).
#[derive(Debug, Clone)]
pub struct Origin<T> {
    /// The operation.
    pub op: T,
    /// `PATH:LINE` of a mapping-file line.
    pub at: Option<String>,
}

/// What to do to the table, whatever its format.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// Mappings, in the order they are made.
    pub maps: Vec<Origin<MapSpec>>,
    /// Unmaps, made after the mappings, in order.
    pub unmaps: Vec<UnmapSpec>,
    /// Addresses to walk.
    pub walks: Vec<u64>,
    /// The access to check at each walked address.
    pub access: Option<Access>,
}

impl PgtableArgs {
    /// Refuses the format options that `format` does not take; `takes` names those it does.
    pub fn only(&self, format: &str, takes: &[&str]) -> Result<(), CmdError> {
        let given = [
            ("--levels", self.levels.is_some()),
            ("--granule", self.granule.is_some()),
            ("--ia-bits", self.ia_bits.is_some()),
        ];
        match given
            .iter()
            .find(|(flag, set)| *set && !takes.contains(flag))
        {
            Some((flag, _)) => Err(CmdError::Usage(format!(
                "format {format} does not take {flag}"
            ))),
            None => Ok(()),
        }
    }

    /// Whether no mapping, unmap or walk was asked for (the built-in example then runs).
    pub fn is_bare(&self) -> bool {
        self.maps.is_empty()
            && self.files.is_empty()
            && self.unmaps.is_empty()
            && self.walks.is_empty()
    }

    /// The access `--access` and `--priv` ask for.
    fn access(&self) -> Option<Access> {
        let a = match self.access? {
            AccessArg::Read => Access::READ,
            AccessArg::Write => Access::WRITE,
            AccessArg::Exec => Access {
                exec: true,
                ..Access::READ
            },
        };
        Some(if self.privileged { a.privileged() } else { a })
    }

    /// The job these options ask for: mapping files read, the example filled in if bare.
    pub fn job(&self, out: &mut dyn Write) -> Result<Job, CmdError> {
        let mut job = Job {
            access: self.access(),
            ..Job::default()
        };
        if self.is_bare() {
            let usage = |e: String| CmdError::Usage(format!("built-in example: {e}"));
            for m in EXAMPLE_MAPS {
                let op = parse_map(m).map_err(usage)?;
                job.maps.push(Origin { op, at: None });
            }
            for u in EXAMPLE_UNMAPS {
                job.unmaps.push(parse_unmap(u).map_err(usage)?);
            }
            for w in EXAMPLE_WALKS {
                job.walks.push(parse_num(w).map_err(usage)?);
            }
            writeln!(
                out,
                "No mappings given: running the built-in example, the same as\n  {}\n",
                self.example_command()
            )?;
            return Ok(job);
        }
        for path in &self.files {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CmdError::Usage(format!("cannot read mapping file {}: {e}", path.display()))
            })?;
            let maps = parse_map_file(&text)
                .map_err(|(line, e)| CmdError::Usage(format!("{}:{line}: {e}", path.display())))?;
            job.maps.extend(maps.into_iter().map(|(line, op)| Origin {
                op,
                at: Some(format!("{}:{line}", path.display())),
            }));
        }
        job.maps
            .extend(self.maps.iter().map(|&op| Origin { op, at: None }));
        job.unmaps.clone_from(&self.unmaps);
        job.walks.clone_from(&self.walks);
        Ok(job)
    }

    /// The command line the built-in example stands for.
    fn example_command(&self) -> String {
        let mut cmd = format!("softiommu pgtable --format {}", self.format);
        if let Some(l) = self.levels {
            cmd += &format!(" --levels {l}");
        }
        if let Some(g) = self.granule.and_then(|g| g.to_possible_value()) {
            cmd += &format!(" --granule {}", g.get_name());
        }
        if let Some(ia) = self.ia_bits {
            cmd += &format!(" --ia-bits {ia}");
        }
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
        if let Some(a) = self.access.and_then(|a| a.to_possible_value()) {
            cmd += &format!(" --access {}", a.get_name());
        }
        if self.privileged {
            cmd += " --priv";
        }
        cmd
    }
}

/// Runs `softiommu pgtable`, writing its report to `out`.
///
/// Builds the format `args` names and hands it to [`run`]. This `match` is the one place
/// that knows format names: a format is one arm that refuses the options it does not take
/// and calls [`run`] with its value.
pub fn dispatch(args: &PgtableArgs, out: &mut dyn Write) -> Result<(), CmdError> {
    let name = args.format.as_str();
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
                "unknown format '{name}'; the formats are:\n{}",
                known.join("\n")
            )))
        }
    }
}

/// Builds a table of format `fmt` and runs the job `args` ask for on it: makes the mappings,
/// then the unmaps, prints each walk, and ends with the table's figures.
pub fn run<F: Format>(fmt: F, args: &PgtableArgs, out: &mut dyn Write) -> Result<(), CmdError> {
    let job = args.job(out)?;
    print_format(&fmt, out)?;
    let failed = |what: &str, e: &dyn fmt::Display| CmdError::Failed(format!("{what}: {e}"));
    let arena = RamArena::new(ARENA_BASE, ARENA_SIZE).map_err(|e| failed("table memory", &e))?;
    let alloc =
        PageAlloc::new(arena, ARENA_BASE, ARENA_SIZE).map_err(|e| failed("table memory", &e))?;
    let mut pt = PageTable::new(fmt, Arc::new(alloc)).map_err(|e| failed("new table", &e))?;
    writeln!(
        out,
        "table pages from RAM at {ARENA_BASE:#x}+{}, root at {:#x}",
        human_size(ARENA_SIZE),
        pt.root()
    )?;
    if !job.maps.is_empty() || !job.unmaps.is_empty() {
        writeln!(out)?;
    }

    for Origin { op: m, at } in &job.maps {
        let what = format!(
            "{}map {:#x}:{:#x}:{}:{}",
            at.as_ref().map_or(String::new(), |at| format!("{at}: ")),
            m.iova,
            m.pa,
            human_size(m.size),
            prot_arg(m.prot)
        );
        pt.map(m.iova, m.pa, m.size, m.prot)
            .map_err(|e| failed(&what, &e))?;
        let kept = pt.format().effective(m.prot);
        let note = if kept == m.prot {
            String::new()
        } else {
            format!("  ({} keeps {})", pt.format().name(), prot_arg(kept))
        };
        writeln!(
            out,
            "map    {:<12} -> {:<12} {:>5}  {}{note}",
            format!("{:#x}", m.iova),
            format!("{:#x}", m.pa),
            human_size(m.size),
            prot_arg(m.prot),
        )?;
    }
    for u in &job.unmaps {
        let what = format!("unmap {:#x}:{}", u.iova, human_size(u.size));
        let done = pt.unmap(u.iova, u.size).map_err(|e| failed(&what, &e))?;
        writeln!(
            out,
            "unmap  {:<12}    {:<12} {:>5}  ({} were mapped)",
            format!("{:#x}", u.iova),
            "",
            human_size(u.size),
            human_size(done)
        )?;
    }

    for &iova in &job.walks {
        writeln!(out)?;
        print_walk(&pt, iova, job.access, out)?;
    }
    writeln!(out)?;
    print_stats(&pt, out)
}

/// One line on the format: levels, widths, page sizes.
fn print_format<F: Format>(fmt: &F, out: &mut dyn Write) -> io::Result<()> {
    let geo = fmt.geometry();
    let pages: Vec<String> = geo.page_sizes().map(human_size).collect();
    writeln!(
        out,
        "format {}: {} levels, {}-bit input, {}-bit output, {} granule, pages {}",
        fmt.name(),
        geo.depth(),
        geo.ia_bits(),
        geo.oa_bits(),
        human_size(geo.granule()),
        pages.join(" ")
    )
}

/// The walk for `iova`, level by level, its result, and the checked walk for `access`.
fn print_walk<F: Format, M: softiommu_mem::AddressSpace>(
    pt: &PageTable<F, M>,
    iova: u64,
    access: Option<Access>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "walk {iova:#x}")?;
    let steps = pt.trace(iova);
    for s in &steps {
        writeln!(
            out,
            "  level {}  entry {:<13} {:#018x}  {}",
            s.number,
            format!("{:#x}", s.entry_pa),
            s.raw,
            s.fields
        )?;
    }
    let result = match (pt.lookup(iova), steps.last()) {
        (Some(m), _) => {
            let off = iova.wrapping_sub(m.iova);
            format!(
                "=> {:#x}  ({} page {:#x} -> {:#x}, {})",
                m.pa | off,
                human_size(m.size),
                m.iova,
                m.pa,
                prot_arg(m.prot)
            )
        }
        (None, None) => format!(
            "=> outside the {}-bit input range: not translated",
            pt.format().geometry().ia_bits()
        ),
        (None, Some(last)) => match last.pte {
            Pte::Reserved => format!(
                "=> fault: level {} entry has reserved bits set",
                last.number
            ),
            _ => format!("=> not mapped (level {} entry not present)", last.number),
        },
    };
    writeln!(out, "  {result}")?;
    if let Some(a) = access {
        let kind = match (a.write, a.exec) {
            (true, _) => "write",
            (_, true) => "exec",
            _ => "read",
        };
        let who = if a.privileged { "privileged" } else { "user" };
        match pt.translate(iova, a) {
            Ok(t) => writeln!(
                out,
                "  {who} {kind}: allowed => {:#x}, {} page, rights {:?}",
                t.pa,
                human_size(t.page_size),
                t.perm
            )?,
            Err(f) => writeln!(
                out,
                "  {who} {kind}: {} at level {} (entry {:#x})",
                fault_name(f.kind),
                f.number,
                f.entry
            )?,
        }
    }
    Ok(())
}

/// A walk fault's kind, in words.
fn fault_name(kind: FaultKind) -> String {
    match kind {
        FaultKind::Input => "input-range fault".into(),
        FaultKind::Translation => "translation fault".into(),
        FaultKind::Reserved => "reserved-bit fault".into(),
        FaultKind::AccessFlag => "access-flag fault".into(),
        FaultKind::Permission => "permission fault".into(),
        FaultKind::AddressSize => "address-size fault".into(),
        FaultKind::Fetch(e) => format!("fetch fault ({e})"),
        FaultKind::Update => "accessed/dirty update fault".into(),
    }
}

/// The table's figures: root, leaves of each page size, table pages and bytes.
fn print_stats<F: Format, M: softiommu_mem::AddressSpace>(
    pt: &PageTable<F, M>,
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    let st = pt.stats();
    writeln!(out, "table")?;
    writeln!(out, "  {:<13} {:#x}", "root", pt.root())?;
    let mut mapped = 0u64;
    for &(size, count) in &st.pages {
        writeln!(
            out,
            "  {:<13} {count}",
            format!("{} leaves", human_size(size))
        )?;
        mapped = mapped.saturating_add(size.saturating_mul(count));
    }
    writeln!(out, "  {:<13} {}", "mapped", human_size(mapped))?;
    writeln!(
        out,
        "  {:<13} {} ({}, {} bytes)",
        "table pages",
        st.tables,
        human_size(st.table_bytes),
        st.table_bytes
    )?;
    Ok(())
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
        // The example works for every format.
        for (name, _) in FORMATS {
            output(&["--format", name]).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
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
        assert!(err.to_string().contains("neither read nor write"), "{err}");
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
