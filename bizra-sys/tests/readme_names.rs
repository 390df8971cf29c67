//! The README's "One vocabulary across languages" table names, in its C column, what the C ABI
//! offers for each concept; every name there must be an identifier of `include/bizra.h`, so the
//! table cannot drift from the header (which `make header-check` ties to the sources).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of a Markdown table row (`| a | b |` → `["a", "b"]`).
fn cells(row: &str) -> Vec<&str> {
    row.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// The backticked names in a cell.
fn names(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The backticked names of `column` in the table under `heading`.
fn column(readme: &str, heading: &str, column: &str) -> Vec<String> {
    let section = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"))
        .1;
    let mut rows = section
        .lines()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'));
    let header = cells(rows.next().expect("the table's header row"));
    let index = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("the table has no column {column:?}: {header:?}"));
    rows.skip(1) // the |---| row
        .flat_map(|row| {
            let cells = cells(row);
            let cell = cells
                .get(index)
                .unwrap_or_else(|| panic!("row without a {column} cell: {row}"));
            names(cell)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every C identifier in a text: runs of letters, digits and `_` that do not start with a digit.
fn identifiers(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .collect()
}

#[test]
fn every_c_name_of_the_readme_table_is_in_the_header() {
    let readme = read("../README.md");
    let header = read("../include/bizra.h");
    let declared = identifiers(&header);
    let names = column(&readme, "## One vocabulary across languages", "C");
    assert!(
        names.len() >= 15,
        "only {} C names found: {names:?}",
        names.len()
    );
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !declared.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md names these in the C column, but include/bizra.h does not declare them: \
         {missing:?}"
    );
}

/// The helpers above read what they should (so that the test above can fail).
#[test]
fn the_table_reader_reads_cells_and_identifiers() {
    let text = "## T\n\nwords\n\n| concept | C | K |\n|---|---|---|\n| a `x` | `bizra_a` or `B_C` | `k` |\n| b | `bizra_b` | `k2` |\n\nafter | `no`\n";
    assert_eq!(column(text, "## T", "C"), ["bizra_a", "B_C", "bizra_b"]);
    assert_eq!(column(text, "## T", "K"), ["k", "k2"]);
    let ids = identifiers("void bizra_a(int x); /* bizra_b2 */ #define B_C 1");
    assert!(ids.contains("bizra_a") && ids.contains("bizra_b2") && ids.contains("B_C"));
    assert!(!ids.contains("bizra_b"));
}
