//! The README's count statements match the checked-in numbers they come from: the fusion
//! coverage table and the corpus counts quoted in the text against `scripts/coverage/*.json`
//! (which `.ci/run` enforces on the real corpus with `scripts/coverage_gate.py`). Needs no
//! corpus; the statements that need one are checked by `scripts/readme_corpus_check.py`.

use serde_json::Value as Json;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md readable")
}

/// `scripts/coverage/<folder>.json`.
fn expectation(folder: &str) -> Json {
    let p = root()
        .join("scripts/coverage")
        .join(format!("{folder}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn field(j: &Json, key: &str) -> u64 {
    j[key]
        .as_u64()
        .unwrap_or_else(|| panic!("expectation without '{key}'"))
}

/// `(cases, sites fused, sites needed, unsound)` summed over `folders`.
fn totals(folders: &[&str]) -> (u64, u64, u64, u64) {
    folders
        .iter()
        .map(|f| expectation(f))
        .fold((0, 0, 0, 0), |t, j| {
            (
                t.0 + field(&j, "cases_total"),
                t.1 + field(&j, "sites_fused"),
                t.2 + field(&j, "sites_needed"),
                t.3 + field(&j, "unsound"),
            )
        })
}

/// The cells of the coverage-table row whose first cell starts with `label`.
fn row(readme: &str, label: &str) -> Vec<String> {
    let line = readme
        .lines()
        .find(|l| l.starts_with(&format!("| {label}")))
        .unwrap_or_else(|| panic!("README has no table row starting '| {label}'"));
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace("**", ""))
        .collect()
}

/// The coverage cell as `(fused, needed, percent)`, from e.g. `161 / 161 (100 %)`.
fn sites_cell(cell: &str) -> (u64, u64, u64) {
    let nums: Vec<u64> = cell
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("number"))
        .collect();
    assert_eq!(nums.len(), 3, "sites cell '{cell}'");
    (nums[0], nums[1], nums[2])
}

fn check_row(readme: &str, label: &str, folders: &[&str]) {
    let (cases, fused, needed, unsound) = totals(folders);
    let cells = row(readme, label);
    assert_eq!(cells[1], cases.to_string(), "{label}: cases");
    let (f, n, pct) = sites_cell(&cells[2]);
    assert_eq!((f, n), (fused, needed), "{label}: sites fused / needed");
    let rounded = (100.0 * fused as f64 / needed as f64).round() as u64;
    assert_eq!(pct, rounded, "{label}: percentage");
    assert_eq!(cells[3], unsound.to_string(), "{label}: unsound");
}

#[test]
fn coverage_table_matches_the_expectation_files() {
    let text = readme();
    check_row(&text, "zoo", &["zoo", "onnx-node"]);
    check_row(&text, "peer", &["peer"]);
    // One row per family of our own exporter corpus.
    let mut families = 0;
    for entry in std::fs::read_dir(root().join("fixtures/exporters")).expect("exporter corpus") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            let fam = path.file_name().unwrap().to_string_lossy().to_string();
            check_row(&text, &format!("{fam} |"), &[fam.as_str()]);
            families += 1;
        }
    }
    assert!(families >= 13, "{families} exporter families");
}

#[test]
fn corpus_counts_in_the_text_match_the_expectation_files() {
    let text = readme();
    let (cases, ..) = totals(&["zoo", "onnx-node"]);
    for phrase in [
        format!("all {cases}\noutputs run in ONNX Runtime"),
        format!("{} / {} match ONNX Runtime's outputs", 2 * cases, 2 * cases),
    ] {
        let flat = text.replace('\n', " ");
        assert!(
            flat.contains(&phrase.replace('\n', " ")),
            "README does not say '{phrase}'"
        );
    }
}
