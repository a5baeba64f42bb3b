//! `softiommu`: the command-line front end of softiommu.
//!
//! `softiommu pgtable` builds an I/O page table of a chosen format (x86-64, VT-d second
//! stage) from `--map` and `--file` mappings, unmaps ranges, prints the walk for addresses
//! level by level (entry address, raw value, decoded fields), optionally checks an access the
//! way the hardware would, and ends with the table's figures. Run bare, it shows a built-in
//! example.
//!
//! Exit codes: 0 on success, 1 when a table operation fails, 2 for a wrong command line or
//! mapping file.

mod pgtable_cmd;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "softiommu",
    version,
    about = "softiommu: IOMMU hardware models in user space"
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    cmd: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build an I/O page table from mappings, walk addresses through it, print its figures.
    Pgtable(pgtable_cmd::PgtableArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version land here too, with exit code 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let mut out = io::stdout().lock();
    let res = match &cli.cmd {
        Cmd::Pgtable(args) => pgtable_cmd::dispatch(args, &mut out),
    };
    let res = res.and_then(|()| out.flush().map_err(pgtable_cmd::CmdError::Io));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            if !e.is_broken_pipe() {
                let _ = writeln!(io::stderr(), "error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
