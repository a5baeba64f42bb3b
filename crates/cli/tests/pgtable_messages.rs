//! `softiommu pgtable` messages say what is wrong with the input, with the right exit code.

mod common;

use common::{bad_file, pgtable, refused, stderr, stdout};

#[test]
fn an_unaligned_unmap_names_no_pa() {
    let err = refused(1, &["--map", "0x1000:0x2000:4K", "--unmap", "0x1800:4K"]);
    assert!(
        err.contains("unmap 0x1800:4K: iova 0x1800 is not aligned to the 4K granule"),
        "{err}"
    );
    assert!(!err.contains("pa"), "{err}");
}

#[test]
fn an_unaligned_map_names_only_what_is_unaligned() {
    let err = refused(1, &["--map", "0x1000:0x2800:4K"]);
    assert!(
        err.contains("pa 0x2800 is not aligned to the 4K granule"),
        "{err}"
    );
    assert!(!err.contains("iova 0x1000"), "{err}");
}

#[test]
fn a_zero_size_is_called_a_zero_size() {
    for args in [["--map", "0x1000:0x2000:0"], ["--unmap", "0x1000:0x0"]] {
        let o = pgtable(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("zero size"), "{err}");
        assert!(
            !err.contains("out of range") && !err.contains("outside"),
            "{err}"
        );
    }
    let err = bad_file("zero-size.txt", "0x1000 0x2000 4K\n0x3000 0x4000 0K\n");
    assert!(
        err.contains("zero-size.txt:2: SIZE: '0K' is a zero size"),
        "{err}"
    );
}

#[test]
fn a_mapping_without_access_is_a_usage_error() {
    for prot in ["-", "x", "--", "-,priv", "x+cache"] {
        let map = format!("0x1000:0x2000:4K:{prot}");
        let o = pgtable(&["--map", &map]);
        assert_eq!(o.status.code(), Some(2), "{prot}: {}", stderr(&o));
        assert!(stderr(&o).contains("grant no access"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
    let err = bad_file("no-access.txt", "0x1000 0x2000 4K r\n0x3000 0x4000 4K -\n");
    assert!(
        err.contains("no-access.txt:2: permissions '-' grant no access"),
        "{err}"
    );
}

#[test]
fn invisible_characters_are_shown_escaped() {
    // A byte-order mark, as some editors write at the start of a file.
    let err = bad_file("bom.txt", "\u{feff}0x1000 0x2000 4K\n");
    assert!(
        err.contains("bom.txt:1: IOVA: '\\u{feff}0x1000' is not a number"),
        "{err}"
    );
    assert!(!err.contains('\u{feff}'), "{err}");
    // A zero-width space inside a number, and a control character in a permission.
    let err = bad_file("zwsp.txt", "0x1000 0x2000 4\u{200b}K\n");
    assert!(err.contains("'4\\u{200b}K'"), "{err}");
    let o = pgtable(&["--map", "0x1000:0x2000:4K:r\u{7}w"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'r\\u{7}w'"), "{}", stderr(&o));
    // Bytes that are not UTF-8 at all.
    let err = bad_file("latin1.txt", b"0x1000 0x2000 4K r\xe9ad\n");
    assert!(
        err.contains("latin1.txt:1: not UTF-8 text: '0x1000 0x2000 4K r\\xe9ad'"),
        "{err}"
    );
}

#[test]
fn options_without_mappings_build_the_empty_table() {
    // 25 input bits cannot hold the built-in example's 1G mapping; nobody asked for it.
    let o = pgtable(&["--format", "arm-s1", "--ia-bits", "25"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(!out.contains("example"), "{out}");
    assert!(
        out.contains("format arm-s1: 2 levels, 25-bit input"),
        "{out}"
    );
    assert!(out.contains("  mapped        0\n"), "{out}");
    assert!(
        out.contains("  table pages   1 (4K, 4096 bytes)\n"),
        "{out}"
    );
    for args in [
        &["--quiet"][..],
        &["--format", "vtd-ss"],
        &["--table-memory", "1G"],
    ] {
        let o = pgtable(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!stdout(&o).contains("example"), "{args:?}: {}", stdout(&o));
        assert!(stdout(&o).contains("  mapped        0\n"), "{}", stdout(&o));
    }
}
