//! Replays, with plain `cargo test` (stable, no sanitizer), every crash input kept in
//! `fuzz/regressions/<target>/` and every fixture model through its fuzz target body.

use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn regressions_replay_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut n = 0;
    for (target, f) in [
        ("import", lnopt_fuzz::import as fn(&[u8])),
        ("pipeline", lnopt_fuzz::pipeline),
        ("interp", lnopt_fuzz::interp),
        ("jit", lnopt_fuzz::jit),
    ] {
        for p in files(&root.join(target)) {
            f(&std::fs::read(&p).unwrap());
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found under {}", root.display());
}

#[test]
fn fixtures_go_through_import_and_pipeline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut n = 0;
    for group in files(&root).into_iter().chain(
        std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    ) {
        for case in std::fs::read_dir(&group).into_iter().flatten().flatten() {
            let m = case.path().join("model.onnx");
            if let Ok(bytes) = std::fs::read(&m) {
                lnopt_fuzz::import(&bytes);
                lnopt_fuzz::pipeline(&bytes);
                n += 1;
            }
        }
    }
    assert!(n > 50, "only {n} fixtures found");
}
