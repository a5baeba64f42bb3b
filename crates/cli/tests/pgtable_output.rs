//! `softiommu pgtable` at scale: quiet output, table memory, mapping files read as a stream,
//! and what happens when the output cannot be written.

mod common;

use std::fs::File;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{command, pgtable, refused, scratch, stderr, stdout};

/// A mapping file of `n` 4K pages, every other page of IOVA space from 4G: 256 of them to
/// each 2M leaf table.
fn pages(n: u64) -> String {
    (0..n)
        .map(|i| format!("{:#x} {:#x} 4K\n", (1 << 32) + i * 0x2000, i * 0x1000))
        .collect()
}

#[test]
fn quiet_prints_only_the_figures() {
    let path = scratch("quiet-pages.txt", pages(1000));
    let path = path.to_str().expect("utf-8 path");
    let o = pgtable(&["--quiet", "--file", path, "--unmap", "0x100000000:4K"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert_eq!(
        out,
        "table\n  root          0x100000000\n  1G leaves     0\n  2M leaves     0\n  \
         4K leaves     999\n  mapped        3996K\n  table pages   7 (28K, 28672 bytes)\n"
    );
    // The walks asked for are still shown, before the figures.
    let o = pgtable(&["-q", "--file", path, "--walk", "0x100002000"]);
    let out = stdout(&o);
    assert!(out.starts_with("walk 0x100002000\n"), "{out}");
    assert!(out.contains("=> 0x1000  (4K page"), "{out}");
    assert!(out.contains("\n\ntable\n"), "{out}");
    // Without --quiet there is a line for each mapping.
    let o = pgtable(&["--file", path]);
    assert_eq!(stdout(&o).matches("\nmap ").count(), 1000);
}

#[test]
fn table_memory_is_sized_by_its_option() {
    let o = pgtable(&["--table-memory", "64K", "--map", "0:0:4K"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("table pages from RAM at 0x100000000+64K"),
        "{}",
        stdout(&o)
    );
    // Four levels need four table pages; three are not enough.
    let err = refused(1, &["--table-memory", "12K", "--map", "0:0:4K"]);
    assert!(
        err.contains("map 0x0:0x0:4K:rw: out of table memory (12K given): raise --table-memory"),
        "{err}"
    );
    // A mapping file that outgrows it is stopped at the line that needs more: 16K holds the
    // three upper tables and one leaf table, so the 257th page is the first that does not fit.
    let path = scratch("outgrows.txt", pages(2000));
    let o = pgtable(&[
        "--table-memory",
        "0x4000",
        "--file",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "outgrows.txt:257: map 0x100200000:0x100000:4K:rw: out of table memory (16K given)"
        ),
        "{}",
        stderr(&o)
    );
    for bad in ["0", "5000", "128G", "1P"] {
        let o = pgtable(&["--table-memory", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("--table-memory"), "{}", stderr(&o));
    }
}

#[test]
fn mapping_files_are_applied_as_they_are_read() {
    // The table refuses line 2 before line 3, which is no mapping at all, is read.
    let path = scratch(
        "stream.txt",
        "0x1000 0x2000 4K\n0x1000 0x3000 4K\nnonsense\n",
    );
    let o = pgtable(&["--file", path.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stream.txt:2: map 0x1000:0x3000:4K:rw: iova 0x1000 is already mapped"),
        "{}",
        stderr(&o)
    );
    // A file that is still being written: the command acts on what has come so far.
    let mut child = command()
        .args(["--file", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the softiommu binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(b"0x1000 0x2000 4K\n0x1000 0x3000 4K\n")
        .expect("the lines are written");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the refused line 2 did not stop the run while the file was still open");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(input);
    assert_eq!(status.code(), Some(1));
}

#[test]
fn a_closed_output_ends_the_run_quietly() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let o = command()
        .stdout(writer)
        .output()
        .expect("the softiommu binary runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn a_full_disk_is_exit_code_3() {
    let Ok(full) = File::options().write(true).open("/dev/full") else {
        return; // No /dev/full on this system.
    };
    let o = command()
        .args(["--map", "0:0:4K", "--walk", "0"])
        .stdout(full)
        .output()
        .expect("the softiommu binary runs");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: writing the output: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
