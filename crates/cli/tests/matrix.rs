//! `softiommu matrix`: the table on standard output with a progress line on standard
//! error, the JSON with `--json`, rows chosen with `--only`, and the exit codes.

use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_softiommu");

fn matrix(args: &[&str]) -> Output {
    Command::new(EXE)
        .arg("matrix")
        .args(args)
        .output()
        .expect("the command runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_whole_matrix_prints_a_line_per_cell_and_mechanism() {
    let out = matrix(&[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("row "), "{stdout}");
    assert!(lines[0].contains("unmapped DMA fault"), "{stdout}");
    // The header, 15 cells and mechanisms, a blank line, the summary and the notes.
    let cells: Vec<&str> = lines[1..16].to_vec();
    assert_eq!(lines[16], "", "{stdout}");
    assert!(lines[17].starts_with("15 cells: "), "{stdout}");
    for row in [
        "VF on VT-d",
        "VF on SMMUv3",
        "mdev on SMMUv3",
        "mdev on VT-d",
    ] {
        let at = cells.iter().position(|l| l.starts_with(row));
        let at = at.unwrap_or_else(|| panic!("no row {row}: {stdout}"));
        let first: Vec<&str> = cells[at].split_whitespace().collect();
        let words = row.split(' ').count();
        assert_eq!(
            first[words..words + 4],
            ["no", "vIOMMU", "direct", "pass"],
            "{stdout}"
        );
        assert!(cells[at].contains("completion record (no guest queue)"));
    }
    // Every shadowed cell, the mdev's at its PASID of the parent included, has its fault
    // in the guest's queue.
    assert!(cells.iter().all(|l| !l.contains("partial")), "{stdout}");
    let shadowed: Vec<&&str> = cells.iter().filter(|l| l.contains(" shadow")).collect();
    assert_eq!(shadowed.len(), 4, "{stdout}");
    for l in shadowed {
        assert!(l.contains("1 in guest queue ("), "{l}");
    }
    let nest = cells
        .iter()
        .find(|l| l.contains("impossible"))
        .unwrap_or_else(|| panic!("no impossible cell: {stdout}"));
    assert!(nest.contains(" nest "), "{nest}");
    assert!(
        stdout.contains(
            "the host refused IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT for the mdev"
        ) && stdout.contains("(errno 95)"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(
        stderr.contains("[15/15] mdev on VT-d, vIOMMU+PASID, nest+PV"),
        "{stderr}"
    );
}

#[test]
fn json_goes_to_a_file_beside_the_table_or_alone_to_standard_output() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("matrix.json");
    let p = path.to_str().expect("a UTF-8 path");
    let out = matrix(&["--json", p, "--only", "mdev-smmuv3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("row "), "{table}");
    assert!(
        table.contains("4 cells: ") && table.contains(" 1 impossible"),
        "{table}"
    );
    let json = std::fs::read_to_string(&path).expect("the JSON was written");
    assert!(json.starts_with("{\n  \"cells\": [\n"), "{json}");
    assert_eq!(
        json.matches("\"row\": \"mdev-smmuv3\"").count(),
        4,
        "{json}"
    );
    assert!(json.contains("\"verdict\": \"impossible\""), "{json}");
    assert!(json.contains("\"errno\": 95"), "{json}");
    assert!(
        json.contains("\"refused_call\": \"IOMMU_HWPT_ALLOC with"),
        "{json}"
    );
    assert!(json.contains("\"mechanism\": \"shadow+PV\""), "{json}");
    assert!(json.trim_end().ends_with('}'), "{json}");

    let out = matrix(&["--json", "-", "--only", "VF-VTD"]);
    assert_eq!(out.status.code(), Some(0));
    let json = text(&out.stdout);
    assert!(json.starts_with('{') && !json.contains("row    "), "{json}");
    assert_eq!(json.matches("\"row\": \"vf-vtd\"").count(), 4, "{json}");
    assert!(json.contains("\"host_invalidations\": 67"), "{json}");
}

#[test]
fn an_unknown_row_is_refused_with_exit_code_2() {
    let out = matrix(&["--only", "vf-vtd,gpu"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`gpu` is not a row"), "{err}");
    assert!(
        err.contains("vf-vtd, vf-smmuv3, mdev-smmuv3, mdev-vtd"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// The table's lines without the last column (the throughput, which moves between runs).
fn without_throughput(table: &str) -> Vec<String> {
    table
        .lines()
        .enumerate()
        .map(|(i, l)| match l.rfind(' ') {
            Some(at) if i <= 15 => l[..at].trim_end().to_owned(),
            _ => l.to_owned(),
        })
        .collect()
}

#[test]
fn the_readme_shows_the_table_as_printed() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("\n## softiommu matrix\n")
        .expect("the README has a softiommu matrix section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n## ").map_or(section.len(), |i| i + 4)];
    let shown = section
        .split("```\n")
        .find(|b| b.starts_with("row "))
        .expect("the section shows the table");
    let out = matrix(&[]);
    assert_eq!(
        without_throughput(shown),
        without_throughput(&text(&out.stdout)),
        "the README's table is not what `softiommu matrix` prints: paste its output again"
    );
}
