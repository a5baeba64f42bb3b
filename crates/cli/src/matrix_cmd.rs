//! `softiommu matrix`: runs every cell of the guest-assignment matrix (a VF or an mdev, on
//! VT-d or SMMUv3, under no vIOMMU, a vIOMMU without PASIDs, or one with PASIDs) with two
//! guests on one host each, and prints what each cell came to.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use softiommu_vmm::matrix::{self, Cell, Row, report};

/// `softiommu matrix [--json PATH|-] [--only ROW,...]`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Also write the outcome as JSON to PATH; `-` writes it to standard output in place
    /// of the table.
    #[arg(long, value_name = "PATH|-")]
    json: Option<String>,
    /// Run only these rows: vf-vtd, vf-smmuv3, mdev-smmuv3, mdev-vtd (comma-separated).
    #[arg(long, value_name = "ROW,...", value_delimiter = ',', value_parser = parse_row)]
    only: Vec<Row>,
}

/// A row's name on the command line.
fn parse_row(s: &str) -> Result<Row, String> {
    Row::parse(s).ok_or_else(|| {
        let names: Vec<String> = matrix::ROWS.iter().map(|r| r.key()).collect();
        format!("`{s}` is not a row; the rows are {}", names.join(", "))
    })
}

/// Runs the command: 0 when no cell failed, 1 when one did, 3 when the output could not be
/// written.
pub fn run(args: &MatrixArgs) -> ExitCode {
    let cells: Vec<Cell> = matrix::cells()
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.contains(&c.row))
        .collect();
    let mut err = io::stderr().lock();
    let tty = err.is_terminal();
    let outcomes = matrix::run(&cells, |i, n, c| {
        let line = format!("matrix: [{:>2}/{n}] {}", i + 1, matrix::describe(c));
        let _ = if tty {
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    });
    if tty {
        let _ = write!(err, "\r\x1b[K");
    }
    drop(err);
    let json = args.json.as_deref();
    let written = match json {
        Some("-") => write_out(&report::json(&outcomes)),
        Some(path) => std::fs::write(path, report::json(&outcomes))
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|()| write_out(&report::table(&outcomes))),
        None => write_out(&report::table(&outcomes)),
    };
    if let Err(e) = written {
        let _ = writeln!(io::stderr(), "error: {e}");
        return ExitCode::from(3);
    }
    if outcomes.iter().any(|o| o.verdict.failed()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `s` on standard output; a closed pipe is not an error.
fn write_out(s: &str) -> Result<(), String> {
    let mut out = io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}
