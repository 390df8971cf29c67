//! Proves that every exported function goes through the one boundary helper, and that the
//! committed header declares exactly the exported functions.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).expect("src dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("read source");
            out.push((path.display().to_string(), text));
        }
    }
    out
}

/// Every `extern "C" fn NAME(` in the sources, with the text of its item (up to the next item).
fn exported() -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (file, text) in sources() {
        let marker = "extern \"C\" fn ";
        let starts: Vec<usize> = text.match_indices(marker).map(|(i, _)| i).collect();
        for (k, &start) in starts.iter().enumerate() {
            let rest = &text[start + marker.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // Function-pointer types (`unsafe extern "C" fn(`) have no name.
            if name.is_empty() {
                continue;
            }
            let end = starts.get(k + 1).copied().unwrap_or(text.len());
            let body = text[start..end].to_owned();
            // The attribute line before the item must say #[no_mangle].
            let before = &text[..start];
            let attr = before.rfind("#[no_mangle]").map(|i| &before[i..]);
            assert!(
                attr.is_some_and(|a| !a.contains("\n}\n")),
                "{file}: {name} is extern \"C\" without #[no_mangle] just above it"
            );
            found.push((file.clone(), name, body));
        }
    }
    found
}

#[test]
fn every_exported_function_uses_the_boundary() {
    let fns = exported();
    assert!(
        fns.len() > 50,
        "found only {} exported functions",
        fns.len()
    );
    for (file, name, body) in &fns {
        assert!(
            name.starts_with("bizra_"),
            "{file}: {name} lacks the bizra_ prefix"
        );
        let call = format!("boundary(\"{name}\"");
        let open = body.find('{').expect("a body");
        let first = body[open + 1..].trim_start();
        assert!(
            first.starts_with(&call),
            "{file}: {name} does not begin with {call}...)"
        );
    }
}

#[test]
fn header_declares_exactly_the_exported_functions() {
    let header = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/bizra.h");
    let header = fs::read_to_string(header).expect("include/bizra.h");
    let mut declared = BTreeSet::new();
    for line in header.lines() {
        if line.starts_with(' ') || line.starts_with('#') || line.starts_with("typedef") {
            continue;
        }
        if let Some(open) = line.find('(') {
            let head = &line[..open];
            if let Some(name) = head.rsplit([' ', '*']).next() {
                if name.starts_with("bizra_") {
                    declared.insert(name.to_owned());
                }
            }
        }
    }
    let exported: BTreeSet<String> = exported().into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(
        declared, exported,
        "make header, then commit include/bizra.h"
    );
}
