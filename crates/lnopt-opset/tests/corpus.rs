//! Acceptance over ../shared/corpus (skipped when absent): which models upgrade to opsets 17
//! and 23, what blocks the others, and — for upgraded models the interpreter can run — the
//! same outputs before and after.

mod common;
use lnopt_ir::Tensor;
use lnopt_onnx::Limits;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ));
    p.is_dir().then(|| p.to_path_buf())
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for group in ["zoo", "onnx-node"] {
        let Ok(rd) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().join("model.onnx").is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn inputs(case: &Path, limits: &Limits) -> Vec<Tensor> {
    let mut v = Vec::new();
    for i in 0.. {
        let p = case.join(format!("test_data_set_0/input_{i}.pb"));
        match lnopt_onnx::load_tensor(&p, limits) {
            Ok(t) => v.push(t),
            Err(_) => break,
        }
    }
    v
}

/// What the corpus (zoo + onnx-node) does under upgrade, as measured when this test was
/// written: how many models upgrade to each target, and which are blocked. A change in either
/// direction must be explained by changing these numbers.
const UPGRADED_TO_17: usize = 90;
const UPGRADED_TO_23: usize = 152;
/// `case@target` of every blocked upgrade (none today).
const BLOCKED: &[&str] = &[];

#[test]
fn corpus_upgrades_to_17_and_23() {
    let Some(root) = corpus() else {
        println!("note: ../shared/corpus absent, corpus opset test skipped");
        return;
    };
    let limits = Limits::default();
    let mut summary = Vec::new();
    let (mut checked, mut rewrites) = (0, 0);
    let mut upgraded = [0usize; 2];
    let mut blocked = Vec::new();
    let mut errors = Vec::new();
    let all = cases(&root);
    assert!(!all.is_empty(), "no corpus cases");
    for case in &all {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let model = match lnopt_onnx::load(&case.join("model.onnx"), &limits) {
            Ok(m) => m,
            Err(e) => {
                errors.push(format!("{name}: load failed: {e}"));
                continue;
            }
        };
        let from = model.opset_version("").unwrap_or(0);
        let ins = inputs(case, &limits);
        if let Err(e) = lnopt_interp::run_model(&model, &ins) {
            errors.push(format!("{name}: the original does not run: {e}"));
            continue;
        }
        let mut line = format!("{name} (opset {from}):");
        for (slot, to) in [17, 23].into_iter().enumerate() {
            if to < from {
                line.push_str(&format!(" {to}=n/a"));
                continue;
            }
            let blockers = lnopt_opset::upgrade_blockers(&model, to);
            let mut up = model.clone();
            let res = lnopt_opset::upgrade(&mut up, to);
            assert_eq!(
                res.is_ok(),
                blockers.is_empty(),
                "{name}: blockers vs upgrade disagree"
            );
            match res {
                Ok(r) => {
                    up.graph
                        .verify()
                        .unwrap_or_else(|e| panic!("{name}@{to}: {e}"));
                    assert_eq!(
                        up.opset_version(""),
                        Some(to.max(from)),
                        "{name}@{to}: opset after upgrade"
                    );
                    line.push_str(&format!(" {to}=ok({} rewrites)", r.converted.len()));
                    upgraded[slot] += 1;
                    rewrites += r.converted.len();
                    let after = lnopt_interp::run_model(&up, &ins);
                    assert!(
                        after.is_ok(),
                        "{name}@{to}: upgraded model fails: {after:?}"
                    );
                    common::same_outputs(&model, &up, &ins);
                    checked += 1;
                }
                Err(_) => {
                    let mut why: Vec<String> = blockers
                        .iter()
                        .map(|b| format!("{}: {}", b.op_type, b.reason))
                        .collect();
                    why.sort();
                    why.dedup();
                    line.push_str(&format!(" {to}=BLOCKED[{}]", why.join("; ")));
                    blocked.push(format!("{name}@{to}"));
                }
            }
        }
        summary.push(line);
    }
    println!("{}", summary.join("\n"));
    println!(
        "upgraded to 17: {}, to 23: {}, {rewrites} op rewrites, {checked} differentially \
         checked; blocked: {blocked:?}",
        upgraded[0], upgraded[1]
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(
        checked,
        upgraded[0] + upgraded[1],
        "every upgrade is checked"
    );
    assert_eq!(
        upgraded,
        [UPGRADED_TO_17, UPGRADED_TO_23],
        "upgraded models (17, 23)"
    );
    blocked.sort();
    let mut want: Vec<String> = BLOCKED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(blocked, want, "blocked upgrades");
    assert!(rewrites > 0, "no upgrade converted any op");
}
