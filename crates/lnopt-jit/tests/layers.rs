//! Guards the layering of lnopt-jit's sources (see ARCHITECTURE.md, "lnopt-jit layers"): a
//! module may refer only to modules of its own layer or of the layers below it. Every file
//! under `src/` is mapped to its layer by its top-level module; each `crate::<module>` it names
//! in code (comments are skipped) must be in the same layer or below.

use std::path::{Path, PathBuf};

/// Layers from the top (0) to the bottom, with the top-level modules each holds.
const LAYERS: &[(&str, &[&str])] = &[
    ("api", &["lib"]),
    ("plan", &["plan"]),
    ("steps", &["steps"]),
    ("kernels", &["kernels"]),
    ("ops", &["ops"]),
    (
        "support",
        &[
            "node", "fallback", "value", "fbuf", "pool", "par", "error", "fmath", "cpu",
        ],
    ),
];

/// The layer index of top-level module `m`, if it is listed.
fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&m))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`lib` for lib.rs).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .expect("a file path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// `text` without `//` comments (line and doc comments; good enough for this crate's sources,
/// whose string literals hold no `//`).
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named as `crate::<m>` (or inside `crate::{…}`) in `code`.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the names at the group's top level.
            let mut depth = 0usize;
            let mut name = String::new();
            let mut at_start = true;
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_start = true,
                    c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    _ if !name.is_empty() => {
                        out.push(std::mem::take(&mut name));
                        at_start = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                out.push(name);
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
        rest = after;
    }
    out
}

/// The upward references of the files under `src`: (file, module named, why).
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src).expect("a file under src/");
        let here = module_of(rel);
        let Some(mine) = layer_of(&here) else {
            bad.push(format!(
                "{}: module `{here}` is in no layer (add it to LAYERS and ARCHITECTURE.md)",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).expect("a readable source file");
        for m in crate_refs(&code_only(&text)) {
            match layer_of(&m) {
                // Items of lib.rs itself (`crate::Options`) sit in the top layer.
                None if mine > 0 => bad.push(format!(
                    "{}: `crate::{m}` is lib.rs (layer {}), above this file's layer {}",
                    rel.display(),
                    LAYERS[0].0,
                    LAYERS[mine].0
                )),
                Some(theirs) if theirs < mine => bad.push(format!(
                    "{}: `crate::{m}` is in layer {}, above this file's layer {}",
                    rel.display(),
                    LAYERS[theirs].0,
                    LAYERS[mine].0
                )),
                _ => {}
            }
        }
    }
    bad
}

#[test]
fn modules_refer_only_to_their_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "upward references:\n{}", bad.join("\n"));
}

#[test]
fn the_scanner_sees_plain_and_grouped_paths() {
    let refs = crate_refs("use crate::ops::Ctx;\nuse crate::{value::Val, node::{PNode}, error};");
    assert_eq!(refs, ["ops", "value", "node", "error"]);
    assert_eq!(
        crate_refs(&code_only("// crate::plan\nlet x = 1;")),
        Vec::<String>::new()
    );
    assert_eq!(crate_refs("$crate::error::OpError"), ["error"]);
}
