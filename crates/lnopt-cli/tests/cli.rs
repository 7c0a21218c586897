//! End-to-end tests of the `lnopt` binary: exit codes, messages, atomic output.

mod common;

use common::{fixture, lnopt, s, stderr, stdout};

#[test]
fn optimise_fuses_and_reports_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fused.onnx");
    let model = fixture("fusion/ln_pytorch_canonical/model.onnx");
    let before = std::fs::read(&model).unwrap();
    let o = lnopt(&[s(&model), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fused 1 LayerNormalization"),
        "{}",
        stderr(&o)
    );
    assert!(out.exists());
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "input must not change"
    );
    // The fused model still computes the reference outputs.
    let data = fixture("fusion/ln_pytorch_canonical/test_data_set_0");
    let r = lnopt(&["run", s(&out), "--data", s(&data)]);
    assert_eq!(r.status.code(), Some(0), "{}{}", stdout(&r), stderr(&r));
    assert!(stdout(&r).contains("max abs err"));
    // Running lnopt on its own output is a fixed point.
    let out2 = dir.path().join("fused2.onnx");
    let o2 = lnopt(&[s(&out), "-o", s(&out2)]);
    assert_eq!(o2.status.code(), Some(0), "{}", stderr(&o2));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn json_report_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fused.onnx");
    let model = fixture("negative/ln_pow3_skewed/model.onnx");
    let o = lnopt(&[s(&model), "-o", s(&out), "--report", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(doc["fused"]["LayerNormalization"], 0);
    let sites = doc["sites"].as_array().expect("sites array");
    assert!(
        !sites.is_empty(),
        "the Pow(3) look-alike is found as a site"
    );
    assert!(sites
        .iter()
        .all(|s| s["fused"] == false && s["reason"].is_string()));
}

#[test]
fn output_equal_to_input_is_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::copy(fixture("fusion/ln_pytorch_canonical/model.onnx"), &model).unwrap();
    let before = std::fs::read(&model).unwrap();
    let o = lnopt(&[s(&model), "-o", s(&model)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is the input model"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&model).unwrap(), before);
    let o = lnopt(&[s(&model), "-o", s(&model), "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn bad_input_exits_2_with_one_message_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    for case in [
        "not_protobuf",
        "truncated_model",
        "graph_cycle",
        "external_data_parent_escape",
    ] {
        let out = dir.path().join(format!("{case}.onnx"));
        let o = lnopt(&[
            s(&fixture(&format!("bad/{case}/model.onnx"))),
            "-o",
            s(&out),
        ]);
        assert_eq!(o.status.code(), Some(2), "{case}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with("lnopt: error: "), "{case}: {err}");
        assert!(!err.contains("panicked"), "{case}: {err}");
        assert!(!out.exists(), "{case}: output written");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temp files left"
    );
}

#[test]
fn run_detects_a_mismatch_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("fusion/ln_pytorch_canonical/test_data_set_0");
    std::fs::copy(src.join("input_0.pb"), dir.path().join("input_0.pb")).unwrap();
    // A reference output from another case has another shape or values: must be a mismatch.
    let other = fixture("fusion/rms_t5/test_data_set_0/output_0.pb");
    std::fs::copy(other, dir.path().join("output_0.pb")).unwrap();
    let model = fixture("fusion/ln_pytorch_canonical/model.onnx");
    let o = lnopt(&["run", s(&model), "--data", s(dir.path())]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("MISMATCH"));
}

#[test]
fn run_without_data_uses_random_inputs_deterministically() {
    let model = fixture("roundtrip/value_info_symbolic_dims/model.onnx");
    let a = lnopt(&["run", s(&model), "--dim", "batch=3"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let b = lnopt(&["run", s(&model), "--dim", "batch=3"]);
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn run_of_unknown_op_names_it() {
    let model = fixture("bad/unknown_op_asked_to_run/model.onnx");
    let o = lnopt(&["run", s(&model)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Mystery"), "{}", stderr(&o));
}

#[test]
fn inspect_prints_histogram_and_opsets() {
    let o = lnopt(&[
        "inspect",
        s(&fixture("fusion/ln_pytorch_canonical/model.onnx")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("opsets: ai.onnx"), "{text}");
    assert!(text.contains("ReduceMean"), "{text}");
}

#[test]
fn help_explains_every_command() {
    let o = lnopt(&["--help"]);
    let text = stdout(&o);
    for word in ["run", "inspect", "--target", "--report", "Exit codes"] {
        assert!(text.contains(word), "--help lacks {word}");
    }
}

#[test]
fn output_in_a_missing_folder_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing").join("out.onnx");
    let model = fixture("fusion/ln_pytorch_canonical/model.onnx");
    let o = lnopt(&[s(&model), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// `lnopt bench --profile` prints the JIT's time by op type and its slowest steps (the steps
/// named are the fused model's), and refuses the interpreter with a clear message.
#[test]
fn bench_profile_lists_ops_and_steps_for_the_jit_only() {
    let model = fixture("fusion/ln_pytorch_canonical/model.onnx");
    let data = fixture("fusion/ln_pytorch_canonical/test_data_set_0");
    let o = lnopt(&[
        "bench",
        s(&model),
        "--engine",
        "jit",
        "--fuse",
        "--data",
        s(&data),
        "--iters",
        "3",
        "--profile",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("latency over 3 runs"), "{out}");
    assert!(out.contains("profile over 3 runs"), "{out}");
    assert!(out.contains("LayerNormalization"), "{out}");
    assert!(out.contains("slowest steps:"), "{out}");
    let i = lnopt(&["bench", s(&model), "--iters", "2", "--profile"]);
    assert_eq!(i.status.code(), Some(2), "{}", stderr(&i));
    assert!(
        stderr(&i).contains("--profile needs --engine jit"),
        "{}",
        stderr(&i)
    );
}
