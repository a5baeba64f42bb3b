//! The README's `softiommu pgtable` section, `--help` and the crate docs say what the command
//! does and accepts, and the README's examples print what the command prints.

mod common;

use common::{pgtable, stderr, stdout};

/// The README's `softiommu pgtable` section.
fn readme_section() -> String {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("\n## softiommu pgtable\n")
        .expect("the README has a softiommu pgtable section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

/// The `pgtable --help` text.
fn help() -> String {
    let o = pgtable(&["--help"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// What every description of the command must mention.
const MUST_MENTION: &[&str] = &[
    "x86-4",
    "x86-5",
    "vtd-ss",
    "arm-s1",
    "arm-s2",
    "--quiet",
    "--table-memory",
    "1G",
];

#[test]
fn the_readme_examples_print_what_the_command_prints() {
    let section = readme_section();
    let mut examples = 0;
    for block in section.split("```\n").skip(1).step_by(2) {
        let Some(block) = block.strip_prefix("$ ") else {
            continue;
        };
        // The command is the first line and the lines it continues with '\'.
        let mut command = String::new();
        let mut lines = block.lines();
        for line in lines.by_ref() {
            match line.strip_suffix('\\') {
                Some(part) => command += part,
                None => {
                    command += line;
                    break;
                }
            }
        }
        let expected: String = lines.map(|l| format!("{l}\n")).collect();
        let words: Vec<&str> = command.split_whitespace().collect();
        let run = words
            .iter()
            .position(|w| *w == "pgtable")
            .expect("an example runs pgtable");
        // Each example runs something a reader has after `cargo build --release`.
        assert!(
            matches!(
                &words[..run],
                ["cargo", "run", "--release", "--"] | ["target/release/softiommu"]
            ),
            "the README runs {:?}, which a build does not put on PATH",
            &words[..run]
        );
        let o = pgtable(&words[run + 1..]);
        assert!(o.status.success(), "{command}: {}", stderr(&o));
        assert_eq!(stdout(&o), expected, "README example: {command}");
        examples += 1;
    }
    assert!(examples >= 2, "{section}");
}

#[test]
fn readme_and_help_list_what_the_parser_accepts() {
    let section = readme_section();
    let help = help();
    for word in MUST_MENTION {
        assert!(section.contains(word), "README lacks {word}");
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    // The units: P as well as K to T, in either case.
    assert!(
        section.contains("`P`") && section.contains("either case"),
        "{section}"
    );
    assert!(help.contains("K, M, G, T or P in either case"), "{help}");
    // The rights letters x and -, and what they do.
    assert!(section.contains("`x` and `-` are accepted"), "{section}");
    assert!(help.contains("x and - are accepted"), "{help}");
    // Exit codes, output errors included.
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |"] {
        assert!(section.contains(code), "README lacks exit code {code}");
    }
    assert!(help.contains("3 the output could not be written"), "{help}");
    assert!(help.contains("closed early"), "{help}");
    // How to run the binary that a build makes.
    assert!(
        section.contains("cargo install --path crates/cli"),
        "{section}"
    );
    assert!(section.contains("target/release/softiommu"), "{section}");
}

#[test]
fn the_crate_docs_list_every_format() {
    let docs: String = include_str!("../src/main.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect();
    for word in &MUST_MENTION[..5] {
        assert!(
            docs.contains(&format!("`{word}`")),
            "crate docs lack {word}"
        );
    }
    assert!(
        docs.contains("3 when the output cannot be written"),
        "{docs}"
    );
}

#[test]
fn the_example_runs_only_with_no_arguments() {
    assert!(stdout(&pgtable(&[])).starts_with("No arguments given: running the built-in example"));
    let o = pgtable(&["--access", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("example"), "{}", stdout(&o));
}
