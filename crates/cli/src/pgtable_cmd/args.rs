//! The options of `softiommu pgtable`, and what they ask for.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use softiommu_pgtable::Access;
use softiommu_pgtable::formats::arm::Granule;

use super::CmdError;
use softiommu_cli::parse::{MapSpec, UnmapSpec, human_size, parse_map, parse_num, parse_unmap};

/// Table memory when `--table-memory` is not given.
pub const DEFAULT_TABLE_MEMORY: u64 = 1 << 30;
/// The most table memory `--table-memory` may ask for. The arena itself is reserved lazily,
/// but its allocator keeps a few bytes for each 4 KiB page from the start.
pub const MAX_TABLE_MEMORY: u64 = 64 << 30;

/// Options of `softiommu pgtable`.
#[derive(Debug, Clone, Default, Args)]
#[command(after_help = "\
Numbers are hex (0x...) or decimal, '_' allowed between digits, with an optional binary unit
K, M, G, T or P in either case (4K, 2m, 0x1_0000, 1G). Sizes must not be zero.

PROT is rights letters and words joined with ',' or '+', for example rw,priv or r+noexec.
The letters are r (read) and w (write); x and - are accepted and change nothing, since
instruction fetches are allowed unless noexec is given (rwx is rw, r-x is r). The words are
noexec, priv, cache and mmio. PROT is rw when omitted or when it has only words; when it has
letters they must include r or w: a mapping that grants no access is refused.

A --file holds one 'IOVA PA SIZE [PROT]' per line, separated by blanks; '#' starts a comment.
It is read and applied one line at a time; a bad line stops the run with 'PATH:LINE: why'.
Messages escape invisible characters in the input (a byte-order mark shows as \\u{feff}).

With no arguments at all, runs a built-in example on a vtd-ss table. With options but no
--map, --file, --unmap or --walk, builds the empty table asked for and prints its figures.

Exit codes: 0 success, also when the output is closed early (as by '| head'); 1 a map or
unmap refused by the table, or table memory used up; 2 a wrong command line or mapping file;
3 the output could not be written (a full disk, for example).")]
pub struct PgtableArgs {
    /// Page-table format: x86-4, x86-5, vtd-ss, arm-s1 or arm-s2 [default: vtd-ss].
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,

    /// Levels of a vtd-ss table [default: 4].
    #[arg(long, value_name = "3|4|5", value_parser = clap::value_parser!(u8).range(3..=5))]
    pub levels: Option<u8>,

    /// Translation granule (Arm formats only) [default: 4k].
    #[arg(long, value_enum, ignore_case = true)]
    pub granule: Option<GranuleArg>,

    /// Input-address bits (Arm formats only) [default: 48 for arm-s1, 40 for arm-s2].
    #[arg(long, value_name = "N")]
    pub ia_bits: Option<u8>,

    /// Map IOVA..IOVA+SIZE to PA..PA+SIZE (repeatable).
    #[arg(long = "map", value_name = "IOVA:PA:SIZE[:PROT]", value_parser = parse_map)]
    pub maps: Vec<MapSpec>,

    /// Read mappings from a file: one 'IOVA PA SIZE [PROT]' per line (repeatable; applied
    /// line by line before the --map mappings).
    // The help text names an optional field in brackets, not a documentation link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Unmap IOVA..IOVA+SIZE after all mappings are made (repeatable, in order).
    #[arg(long = "unmap", value_name = "IOVA:SIZE", value_parser = parse_unmap)]
    pub unmaps: Vec<UnmapSpec>,

    /// Show the walk for IOVA, level by level (repeatable).
    #[arg(long = "walk", value_name = "IOVA", value_parser = parse_num)]
    pub walks: Vec<u64>,

    /// Also make the hardware's checked walk for this access (r, w, x or read, write, exec) at
    /// each --walk address.
    #[arg(long, value_enum)]
    pub access: Option<AccessArg>,

    /// Make the --access a privileged (supervisor) request.
    #[arg(long = "priv", requires = "access")]
    pub privileged: bool,

    /// RAM for table pages: a multiple of 4K up to 64G, reserved lazily [default: 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_num)]
    pub table_memory: Option<u64>,

    /// Print only the --walk results and the table's figures: no format header, no line for
    /// each map or unmap.
    #[arg(long, short)]
    pub quiet: bool,
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

impl PgtableArgs {
    /// The options of the built-in example, which runs when no argument at all is given.
    pub fn example() -> Result<PgtableArgs, CmdError> {
        let usage = |e: String| CmdError::Usage(format!("built-in example: {e}"));
        Ok(PgtableArgs {
            format: Some(super::EXAMPLE_FORMAT.into()),
            maps: super::EXAMPLE_MAPS
                .iter()
                .map(|m| parse_map(m).map_err(usage))
                .collect::<Result<_, _>>()?,
            unmaps: super::EXAMPLE_UNMAPS
                .iter()
                .map(|u| parse_unmap(u).map_err(usage))
                .collect::<Result<_, _>>()?,
            walks: super::EXAMPLE_WALKS
                .iter()
                .map(|w| parse_num(w).map_err(usage))
                .collect::<Result<_, _>>()?,
            ..PgtableArgs::default()
        })
    }

    /// Whether no argument at all was given (the built-in example then runs).
    pub fn is_bare(&self) -> bool {
        let PgtableArgs {
            format,
            levels,
            granule,
            ia_bits,
            maps,
            files,
            unmaps,
            walks,
            access,
            privileged,
            table_memory,
            quiet,
        } = self;
        format.is_none()
            && levels.is_none()
            && granule.is_none()
            && ia_bits.is_none()
            && maps.is_empty()
            && files.is_empty()
            && unmaps.is_empty()
            && walks.is_empty()
            && access.is_none()
            && !privileged
            && table_memory.is_none()
            && !quiet
    }

    /// The format `--format` names.
    pub fn format_name(&self) -> &str {
        self.format.as_deref().unwrap_or(super::EXAMPLE_FORMAT)
    }

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

    /// The access `--access` and `--priv` ask for.
    pub fn access(&self) -> Option<Access> {
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

    /// The bytes of table memory `--table-memory` asks for, checked.
    pub fn table_memory(&self) -> Result<u64, CmdError> {
        let size = self.table_memory.unwrap_or(DEFAULT_TABLE_MEMORY);
        if size == 0 || !size.is_multiple_of(4096) || size > MAX_TABLE_MEMORY {
            return Err(CmdError::Usage(format!(
                "--table-memory {}: give a multiple of 4K from 4K to {}",
                human_size(size),
                human_size(MAX_TABLE_MEMORY)
            )));
        }
        Ok(size)
    }
}
