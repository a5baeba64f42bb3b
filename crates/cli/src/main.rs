//! `softiommu`: the command-line front end of softiommu.
//!
//! `softiommu pgtable` builds an I/O page table of a chosen format — `x86-4` and `x86-5`
//! (x86-64 4- and 5-level paging, the VT-d first stage), `vtd-ss` (VT-d second stage),
//! `arm-s1` and `arm-s2` (Arm VMSAv8-64 stage 1 and stage 2) — from `--map` and `--file`
//! mappings, unmaps ranges, prints the walk for addresses level by level (entry address, raw
//! value, decoded fields), optionally checks an access the way the hardware would, and ends
//! with the table's figures. Run with no arguments at all, it shows a built-in example.
//!
//! Exit codes: 0 on success, and also when the output is closed early (`| head`); 1 when a
//! table operation is refused or table memory runs out; 2 for a wrong command line or mapping
//! file; 3 when the output cannot be written (a full disk, for example).
//!
//! `softiommu exec [--iommu vtd|smmuv3|mock] [--device dsa@BDF]... [--memlock BYTES] --
//! PROGRAM ARGS...` runs a program with the preload library, so that it finds `/dev/iommu`,
//! `/dev/vfio` and the emulated devices; its exit code is the program's, 2 for wrong options.
//!
//! `softiommu matrix [--json PATH|-] [--only ROW,...]` runs every cell of the
//! guest-assignment matrix (a VF or an mdev, on VT-d or SMMUv3, under no vIOMMU, a vIOMMU
//! without PASIDs, or one with PASIDs) with two guests on a host of its own, by each
//! mechanism the cell allows, and prints a table of what each came to (JSON with `--json`);
//! exit code 0 when no cell failed, 1 when one did, 2 for wrong options.
//!
//! The command is the front end of softiommu's layers (`docs/design.md` at the root of the
//! repository); `pgtable` uses `softiommu-mem` and `softiommu-pgtable`, `matrix` the VMM layer
//! (`softiommu-vmm`).

mod exec_cmd;
mod matrix_cmd;
mod pgtable_cmd;

use std::io::{self, BufWriter, Write};
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
    /// Run a program that finds /dev/iommu, /dev/vfio and emulated PCI devices.
    Exec(exec_cmd::ExecArgs),
    /// Run every cell of the guest-assignment matrix and print what each came to.
    Matrix(matrix_cmd::MatrixArgs),
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
    match &cli.cmd {
        Cmd::Exec(args) => return exec_cmd::run(args),
        Cmd::Matrix(args) => return matrix_cmd::run(args),
        Cmd::Pgtable(_) => {}
    }
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let res = match &cli.cmd {
        Cmd::Pgtable(args) => pgtable_cmd::dispatch(args, &mut out),
        Cmd::Exec(_) | Cmd::Matrix(_) => Ok(()),
    };
    // What was printed before an error goes out before the error's message.
    let flushed = out.flush().map_err(pgtable_cmd::CmdError::Io);
    match res.and(flushed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.is_broken_pipe() {
                let _ = writeln!(io::stderr(), "error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
