//! Proves that every exported function goes through the one boundary helper, that the committed
//! header declares exactly the exported functions, that every function says who owns its
//! out-params and how they are freed, and that every handle type says whether it may be shared
//! between threads.

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

/// The `///` lines just above the item that starts at `start` (its documentation).
fn doc_before(text: &str, start: usize) -> String {
    let lines: Vec<&str> = text[..start].lines().collect();
    let mut doc: Vec<&str> = lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .skip_while(|l| l.starts_with("#["))
        .take_while(|l| l.starts_with("///"))
        .map(|l| l.trim_start_matches("///").trim())
        .collect();
    doc.reverse();
    doc.join(" ")
}

/// The parameters of a function item (`name: type`), split at the commas outside brackets.
fn params(item: &str) -> Vec<(String, String)> {
    let Some(open) = item.find('(') else {
        return Vec::new();
    };
    let mut depth = 0usize;
    let mut current = String::new();
    let mut list = Vec::new();
    for c in item[open + 1..].chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | ']' if depth == 0 => break,
            ')' | '>' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                list.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    list.push(current);
    list.iter()
        .filter_map(|p| p.split_once(':'))
        .map(|(n, t)| {
            (
                n.trim().to_owned(),
                t.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .filter(|(n, _)| !n.is_empty())
        .collect()
}

/// Every exported function's documentation names how each out-param it hands over is freed:
/// `*_free` of the handle type, `bizra_string_free`, `bizra_bytes_free`, `bizra_floats_free` — or
/// says that there is nothing to free (a value, memory that belongs to a handle, the caller's
/// buffer).
#[test]
fn every_function_says_who_owns_its_out_params() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for (file, text) in sources() {
        let marker = "extern \"C\" fn ";
        for (start, _) in text.match_indices(marker) {
            let rest = &text[start + marker.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let item_start = text[..start].rfind("#[no_mangle]").expect("attribute");
            let doc = doc_before(&text, item_start);
            if doc.is_empty() {
                problems.push(format!("{file}: {name} has no documentation"));
            }
            let end = rest.find('{').unwrap_or(rest.len());
            for (param, ty) in params(&rest[..end]) {
                let freed_by = if let Some(handle) = ty.strip_prefix("*mut *mut ") {
                    if handle == "c_char" {
                        "bizra_string_free".to_owned()
                    } else {
                        format!("{handle}_free")
                    }
                } else if ty == "*mut bizra_bytes" && !name.ends_with("_free") {
                    "bizra_bytes_free".to_owned()
                } else if ty == "*mut bizra_floats" && !name.ends_with("_free") {
                    "bizra_floats_free".to_owned()
                } else if ty.starts_with("*mut ")
                    && !ty.starts_with("*mut bizra_")
                    && !name.ends_with("_free")
                {
                    // A value or a struct written for the caller: the doc says it needs no free,
                    // or what frees what it holds.
                    if !(doc.contains("nothing to free")
                        || doc.contains("never freed")
                        || doc.contains("free it with")
                        || doc.contains("the caller's"))
                    {
                        problems.push(format!(
                            "{file}: {name} does not say who owns `{param}` ({ty})"
                        ));
                    }
                    checked += 1;
                    continue;
                } else if ty.starts_with("*mut bizra_")
                    && !name.ends_with("_free")
                    && !ty.starts_with("*mut bizra_gate_chain")
                {
                    // A struct the library fills (a result, a tier decision, info).
                    if !(doc.contains("belong")
                        || doc.contains("nothing to free")
                        || doc.contains("the caller's"))
                    {
                        problems.push(format!(
                            "{file}: {name} does not say who owns what `{param}` holds"
                        ));
                    }
                    checked += 1;
                    continue;
                } else {
                    continue;
                };
                if !doc.contains(&format!("`{freed_by}`")) {
                    problems.push(format!(
                        "{file}: {name} does not say that `{param}` is freed with {freed_by}"
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(checked > 80, "only {checked} out-params checked");
}

/// Every opaque handle type is declared as a typed handle and says, on the type, whether it may
/// be shared between threads and how it is freed.
#[test]
fn every_handle_type_says_whether_it_is_shared_between_threads() {
    let all: String = sources().into_iter().map(|(_, t)| t).collect();
    let mut handles = 0;
    for (file, text) in sources() {
        for (start, _) in text.match_indices("pub struct bizra_") {
            let rest = &text[start + "pub struct ".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !rest[name.len()..]
                .trim_start()
                .starts_with("{\n    _opaque")
            {
                continue; // a plain C struct, not a handle
            }
            handles += 1;
            let doc = doc_before(&text, start);
            assert!(
                doc.contains("between threads"),
                "{file}: {name} does not say whether it may be shared between threads: {doc}"
            );
            assert!(
                all.contains(&format!("handle_type!({name} => ")),
                "{file}: {name} is not declared with handle_type!"
            );
            assert!(
                all.contains(&format!("fn {name}_free(")),
                "{file}: {name} has no {name}_free"
            );
        }
    }
    assert!(handles >= 10, "found only {handles} handle types");
}
