//! `softiommu pgtable`, run as the built binary.

mod common;

use common::{bad_file, pgtable, scratch, stderr, stdout};

#[test]
fn bare_run_shows_the_example() {
    let o = pgtable(&[]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    assert!(out.contains("built-in example"), "{out}");
    assert!(out.contains("format vtd-ss: 4 levels"), "{out}");
    // 1G and 4M of 2M blocks mapped, then 64K unmapped from the first 2M block: it is split
    // into 4K pages, 496 of which stay, beside the 16 pages of the 64K mapping.
    assert!(out.contains("  1G leaves     1\n"), "{out}");
    assert!(out.contains("  2M leaves     1\n"), "{out}");
    assert!(out.contains("  4K leaves     512\n"), "{out}");
    assert!(
        out.contains("  table pages   5 (20K, 20480 bytes)\n"),
        "{out}"
    );
    assert!(out.contains("  root          0x100000000\n"), "{out}");
    // The three walks: a 4K page, a 2M block, and the hole.
    assert!(
        out.contains("=> 0x70002345  (4K page 0x12000 -> 0x70002000"),
        "{out}"
    );
    assert!(
        out.contains("=> 0x802abcde  (2M page 0x400000 -> 0x80200000"),
        "{out}"
    );
    assert!(
        out.contains("=> not mapped (level 1 entry not present)"),
        "{out}"
    );
}

#[test]
fn x86_walk_shows_every_level() {
    let o = pgtable(&[
        "--format",
        "x86-4",
        "--map",
        "0x200000:0x40000000:2M:rw",
        "--walk",
        "0x201234",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    let walk: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "walk 0x201234")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    // PML4E, PDPE, then the PDE that maps the 2M page.
    let levels: Vec<&str> = walk
        .iter()
        .filter_map(|l| l.trim().strip_prefix("level "))
        .map(|l| &l[..1])
        .collect();
    assert!(
        out.contains("format x86-4: 4 levels, 48-bit input"),
        "{out}"
    );
    assert_eq!(levels, ["4", "3", "2"], "{out}");
    assert!(walk[0].contains("PML4E: P R/W U/S"), "{out}");
    assert!(
        walk[2].contains("PDE: P R/W U/S A D PS page=0x40000000"),
        "{out}"
    );
    assert!(walk[2].contains("0x00000000400000e7"), "{out}");
    assert_eq!(
        walk[3].trim(),
        "=> 0x40001234  (2M page 0x200000 -> 0x40000000, rw)",
        "{out}"
    );
    assert!(out.contains("  2M leaves     1\n"), "{out}");
    assert!(
        out.contains("  table pages   3 (12K, 12288 bytes)\n"),
        "{out}"
    );
}

#[test]
fn x86_4k_walk_reads_four_levels() {
    let o = pgtable(&[
        "--format",
        "x86-4",
        "--map",
        "0x1000:0x5000:4K:r",
        "--walk",
        "0x1234",
        "--access",
        "w",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    for n in 1..=4 {
        assert!(out.contains(&format!("  level {n}  entry 0x")), "{out}");
    }
    assert!(out.contains("=> 0x5234"), "{out}");
    assert!(
        out.contains("user write: permission fault at level 1"),
        "{out}"
    );
}

#[test]
fn mappings_from_a_file() {
    let path = scratch(
        "maps.txt",
        "# device rings\n\
         0x1000      0x7000_0000  8K   rw\n\
         \n\
         0x200000    0x80000000   2M   r+noexec   # firmware image\n\
         0x40000000  0x100000000  1G\n",
    );
    let path = path.to_str().expect("utf-8 path");
    let o = pgtable(&[
        "--file",
        path,
        "--map",
        "0x3000:0x9000:4K",
        "--walk",
        "0x2010",
        "--walk",
        "0x40000010",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    assert!(out.contains("  1G leaves     1\n"), "{out}");
    assert!(out.contains("  2M leaves     1\n"), "{out}");
    assert!(out.contains("  4K leaves     3\n"), "{out}");
    assert!(out.contains("=> 0x70001010"), "{out}");
    assert!(out.contains("=> 0x100000010  (1G page"), "{out}");
    assert!(!out.contains("built-in example"), "{out}");
}

#[test]
fn a_bad_file_line_names_its_line() {
    let err = bad_file("bad-maps.txt", "0x1000 0x2000 4K\n# fine\n0x2000 0x3000\n");
    assert!(
        err.contains("bad-maps.txt:3: expected IOVA PA SIZE [PROT]"),
        "{err}"
    );
    let o = pgtable(&["--file", "/nonexistent/maps.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read mapping file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unaligned_mapping_is_refused() {
    let o = pgtable(&["--map", "0x1800:0x40000000:4K"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("map 0x1800:0x40000000:4K:rw: iova 0x1800 is not aligned to the 4K granule"),
        "{err}"
    );
}

#[test]
fn overlapping_mappings_are_refused() {
    let o = pgtable(&[
        "--map",
        "0x200000:0x40000000:2M",
        "--map",
        "0x3ff000:0x50000000:8K",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("iova 0x3ff000 is already mapped"), "{err}");
}

#[test]
fn unmapping_nothing_is_refused() {
    let o = pgtable(&["--map", "0x1000:0x2000:4K", "--unmap", "0x5000:4K"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("nothing is mapped in 0x5000+0x1000"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_format_exits_2() {
    let o = pgtable(&["--format", "sparc"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("unknown format 'sparc'"), "{err}");
    for name in ["x86-4", "x86-5", "vtd-ss"] {
        assert!(err.contains(name), "{err}");
    }
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn options_a_format_does_not_take_exit_2() {
    let o = pgtable(&["--format", "x86-4", "--granule", "16k"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("format x86-4 does not take --granule"),
        "{}",
        stderr(&o)
    );
    let o = pgtable(&["--format", "vtd-ss", "--levels", "6"]);
    assert_eq!(o.status.code(), Some(2));
    let o = pgtable(&["--map", "0x1000:0x2000:4K:rwz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'rwz'"), "{}", stderr(&o));
}

#[test]
fn arm_stage1_64k_granule_walks_three_levels_to_a_512m_block() {
    let o = pgtable(&[
        "--format",
        "arm-s1",
        "--granule",
        "64k",
        "--map",
        "0x20000000:0x40000000:512M:r",
        "--walk",
        "0x20012345",
        "--access",
        "w",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    assert!(out.contains("  512M leaves   1\n"), "{out}");
    // 48-bit input with 64K pages starts at level 1: levels 1 and 2, the block at level 2.
    assert!(out.contains("  level 1  entry 0x100000000"), "{out}");
    assert!(out.contains("L2 block"), "{out}");
    assert!(out.contains("=> 0x40012345"), "{out}");
    // The checked walk refuses a write to a read-only block.
    assert!(out.to_lowercase().contains("permission"), "{out}");
}

#[test]
fn arm_stage2_concatenates_its_start_tables() {
    let o = pgtable(&[
        "--format",
        "arm-s2",
        "--ia-bits",
        "40",
        "--map",
        "0x10000000000:0x1000:4K",
        "--walk",
        "0x10000000000",
    ]);
    let out = stdout(&o);
    // 2^40 is outside a 40-bit input: refused with the range error.
    assert!(!o.status.success(), "{out}");
    let o = pgtable(&[
        "--format",
        "arm-s2",
        "--ia-bits",
        "40",
        "--map",
        "0xffc0000000:0x1000:4K",
        "--walk",
        "0xffc0000123",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}{}", out, stderr(&o));
    // 40 bits with 4K pages: two concatenated level-1 tables (8K); IOVA bit 39 selects the
    // second, so entry 1023 sits at the root + 0x1ff8.
    assert!(out.contains("  level 1  entry 0x100001ff8"), "{out}");
    assert!(out.contains("=> 0x1123"), "{out}");
}

#[test]
fn arm_formats_refuse_flags_they_do_not_take() {
    let o = pgtable(&["--format", "arm-s1", "--levels", "4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not take --levels"),
        "{}",
        stderr(&o)
    );
    let o = pgtable(&["--format", "arm-s1", "--ia-bits", "60"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
