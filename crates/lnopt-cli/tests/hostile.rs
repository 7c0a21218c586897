//! Hostile and broken files through the `lnopt` binary: every one must give exit code 2, one
//! message line naming the culprit, no output file, no temp file left, no panic or abort; and
//! the output-safety rules (atomic write, input untouched, OUT == MODEL refused, byte-identical
//! reruns). See docs/robustness.md for the table these tests back.

use lnopt::ir::{DType, ExternalRef, Graph, Model, Node, Storage, Tensor};
mod common;

use common::{fixture, lnopt, s, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------- helpers

/// Runs `lnopt MODEL -o OUT [extra]` into a fresh folder and checks the refusal contract:
/// exit 2, exactly one line `lnopt: error: ...` containing every word of `culprit`, no output,
/// nothing left in the output folder. Returns the message.
fn refused(model: &Path, extra: &[&str], culprit: &[&str]) -> String {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.onnx");
    let mut args = vec![s(model), "-o", s(&out)];
    args.extend_from_slice(extra);
    let o = lnopt(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}: {err}", model.display());
    assert!(err.starts_with("lnopt: error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for word in culprit {
        assert!(err.contains(word), "message lacks '{word}': {err}");
    }
    assert!(!out.exists(), "output written: {err}");
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "files left in the output folder"
    );
    err
}

/// Writes `bytes` as `name` in `dir`.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A tiny protobuf writer, to build files the library itself would never write.
mod pb {
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    pub fn int(field: u32, v: u64) -> Vec<u8> {
        let mut o = Vec::new();
        varint((field as u64) << 3, &mut o);
        varint(v, &mut o);
        o
    }
    pub fn bytes(field: u32, b: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        varint(((field as u64) << 3) | 2, &mut o);
        varint(b.len() as u64, &mut o);
        o.extend_from_slice(b);
        o
    }
    /// Field header of a length-delimited field with a claimed (possibly absurd) length.
    pub fn claim(field: u32, len: u64) -> Vec<u8> {
        let mut o = Vec::new();
        varint(((field as u64) << 3) | 2, &mut o);
        varint(len, &mut o);
        o
    }
    pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }
    /// ModelProto { ir_version: 8, opset_import { version: 17 }, graph }.
    pub fn model(graph: &[u8]) -> Vec<u8> {
        cat(&[int(1, 8), bytes(8, &int(2, 17)), bytes(7, graph)])
    }
    /// TensorProto { dims, data_type, name, raw_data }.
    pub fn tensor(name: &str, dtype: u64, dims: &[i64], raw: &[u8]) -> Vec<u8> {
        let mut t: Vec<u8> = dims.iter().flat_map(|&d| int(1, d as u64)).collect();
        t.extend(int(2, dtype));
        t.extend(bytes(8, name.as_bytes()));
        t.extend(bytes(9, raw));
        t
    }
    /// GraphProto { name, initializer, output: [out] } (`out` an initializer name).
    pub fn graph_with_initializer(tensor: &[u8], out: &str) -> Vec<u8> {
        cat(&[
            bytes(2, b"g"),
            bytes(5, tensor),
            bytes(12, &bytes(1, out.as_bytes())),
        ])
    }
}

/// `y = Relu(x) + w` over `[2, n_w]` f32, with an initializer `w` of `n_w` floats.
fn relu_add_model(n_w: usize) -> Model {
    let n = n_w as i64;
    let mut g = Graph::new("main");
    let x = g.value_by_name_or_new("x");
    g.value_mut(x).info = Some(lnopt::ir::ValueInfo {
        ty: Some(lnopt::ir::ValueType::Tensor(lnopt::ir::TensorType::fixed(
            DType::F32,
            &[2, n],
        ))),
        ..Default::default()
    });
    g.add_input(x);
    let w = g.add_initializer(
        "w",
        Tensor::from_f32("w", vec![n_w as i64], &vec![0.5; n_w]),
    );
    let r = g.value_by_name_or_new("r");
    g.add_node(Node::new("Relu", "relu"), vec![Some(x)], vec![Some(r)])
        .unwrap();
    let y = g.value_by_name_or_new("y");
    g.add_node(
        Node::new("Add", "add"),
        vec![Some(r), Some(w)],
        vec![Some(y)],
    )
    .unwrap();
    g.add_output(y);
    Model::new(g, 17)
}

fn write_model(dir: &Path, name: &str, m: &Model) -> PathBuf {
    file(dir, name, &lnopt::onnx::encode(m).unwrap())
}

/// Every fixture model that lnopt accepts (fusion, negative, roundtrip).
fn good_fixtures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for group in ["fusion", "negative", "roundtrip"] {
        let Ok(rd) = std::fs::read_dir(fixture(group)) else {
            continue;
        };
        for e in rd.flatten() {
            let m = e.path().join("model.onnx");
            if m.is_file() {
                v.push(m);
            }
        }
    }
    v.sort();
    assert!(!v.is_empty(), "fixtures missing");
    v
}

// ---------------------------------------------------------------- garbage and corruption

#[test]
fn random_bytes_and_empty_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut x: u32 = 0x9e37_79b9;
    let noise: Vec<u8> = (0..100)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let p = file(dir.path(), "noise.onnx", &noise);
    refused(&p, &[], &["noise.onnx"]);
    // An empty file is a valid empty protobuf message: a model with no graph / IR version.
    let p = file(dir.path(), "empty.onnx", &[]);
    refused(&p, &[], &["ir_version"]);
    // A missing model file names it.
    refused(&dir.path().join("absent.onnx"), &[], &["absent.onnx"]);
}

/// Flips bits of real models, deterministically (2000 mutants over the fixtures): each run
/// must exit 0 (with an output) or 2 (without), never panic or die from a signal.
#[test]
fn bit_flipped_real_models_exit_0_or_2() {
    let models = good_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut jobs = Vec::new();
    for i in 0..2000 {
        let src = &models[i % models.len()];
        let mut bytes = std::fs::read(src).unwrap();
        for _ in 0..1 + next() % 3 {
            let pos = (next() % bytes.len() as u64) as usize;
            bytes[pos] ^= 1 << (next() % 8);
        }
        jobs.push((i, src.clone(), bytes));
    }
    let (refusals, mut accepted) = (std::sync::atomic::AtomicUsize::new(0), 0usize);
    std::thread::scope(|sc| {
        let handles: Vec<_> = jobs
            .chunks(jobs.len() / 2 + 1)
            .map(|chunk| {
                let (dir, refusals) = (dir.path(), &refusals);
                sc.spawn(move || {
                    let mut ok = 0;
                    for (i, src, bytes) in chunk {
                        let input = file(dir, &format!("m{i}.onnx"), bytes);
                        let out = dir.join(format!("o{i}.onnx"));
                        let o = lnopt(&[s(&input), "-o", s(&out), "-q"]);
                        let err = stderr(&o);
                        match o.status.code() {
                            Some(0) => {
                                assert!(out.exists(), "mutant {i} of {}", src.display());
                                ok += 1;
                            }
                            Some(2) => {
                                assert!(err.starts_with("lnopt: error: "), "{err}");
                                assert!(!out.exists(), "mutant {i}: output after error");
                                refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            c => panic!("mutant {i} of {}: exit {c:?}: {err}", src.display()),
                        }
                        assert!(!err.contains("panicked"), "mutant {i}: {err}");
                        let _ = std::fs::remove_file(&input);
                        let _ = std::fs::remove_file(&out);
                    }
                    ok
                })
            })
            .collect();
        for h in handles {
            accepted += h.join().unwrap();
        }
    });
    let refused = refusals.into_inner();
    eprintln!("bit flips: {accepted} accepted, {refused} refused");
    // Both outcomes occur: the test really exercises error paths and real fusion runs.
    assert!(refused > 100 && accepted > 100, "{accepted} / {refused}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "leftovers"
    );
}

#[test]
fn truncated_real_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("fusion/ln_pytorch_canonical/model.onnx")).unwrap();
    for cut in [1, 7, bytes.len() / 2, bytes.len() - 3] {
        let p = file(dir.path(), "cut.onnx", &bytes[..cut]);
        refused(&p, &[], &["cut.onnx"]);
    }
}

#[test]
fn absurd_protobuf_lengths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The graph field claims 2^62 bytes; a nested raw_data claims 2^40 inside a short graph.
    let top = pb::cat(&[pb::int(1, 8), pb::claim(7, 1 << 62), vec![0; 16]]);
    let p = file(dir.path(), "len_top.onnx", &top);
    refused(&p, &[], &["len_top.onnx", "protobuf"]);
    let tensor = pb::cat(&[
        pb::int(1, 4),
        pb::int(2, 1),
        pb::claim(9, 1 << 40),
        vec![1; 8],
    ]);
    let g = pb::cat(&[pb::bytes(2, b"g"), pb::bytes(5, &tensor)]);
    let p = file(dir.path(), "len_inner.onnx", &pb::model(&g));
    refused(&p, &[], &["len_inner.onnx", "protobuf"]);
    // A varint longer than 10 bytes.
    let p = file(
        dir.path(),
        "varint.onnx",
        &[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
    );
    refused(&p, &[], &["varint.onnx"]);
}

// ---------------------------------------------------------------- nesting

/// `levels` nested If subgraphs, built directly as bytes (inside out).
fn nested_bytes(levels: usize) -> Vec<u8> {
    let mut g = pb::bytes(2, b"leaf");
    for d in 0..levels {
        let attr = pb::cat(&[
            pb::bytes(1, b"then_branch"),
            pb::int(20, 5),
            pb::bytes(6, &g),
        ]);
        let node = pb::cat(&[
            pb::bytes(3, format!("n{d}").as_bytes()),
            pb::bytes(4, b"Wrap"),
            pb::bytes(7, b"x"),
            pb::bytes(5, &attr),
        ]);
        g = pb::cat(&[
            pb::bytes(1, &node),
            pb::bytes(2, format!("g{d}").as_bytes()),
        ]);
    }
    pb::model(&g)
}

#[test]
fn deep_nesting_is_refused_without_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    // Far past any limit (the decoder's recursion guard) and just past the default of 64.
    for levels in [20_000, 70] {
        let p = file(dir.path(), "deep.onnx", &nested_bytes(levels));
        refused(&p, &[], &["nested deeper than the limit of 64"]);
    }
    // The flag lowers (and raises) the limit.
    let p = file(dir.path(), "deep.onnx", &nested_bytes(5));
    refused(
        &p,
        &["--max-depth", "3"],
        &["nested deeper than the limit of 3"],
    );
}

#[test]
fn raising_max_depth_accepts_a_deep_but_valid_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(dir.path(), "deep.onnx", &nested_bytes(70));
    let out = dir.path().join("out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out), "--max-depth", "100", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.exists());
}

// ---------------------------------------------------------------- tensors

#[test]
fn hostile_tensor_shapes_and_types_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        // 2^60 elements claimed by a file under 100 bytes.
        (
            "dims_2_60",
            pb::tensor("huge", 1, &[1 << 30, 1 << 30], &[0; 16]),
            &["huge"],
        ),
        (
            "dims_1_60",
            pb::tensor("huge1", 1, &[1 << 60], &[0; 16]),
            &["huge1"],
        ),
        (
            "negative",
            pb::tensor("neg", 1, &[2, -3], &[0; 24]),
            &["neg", "-3"],
        ),
        // Data shorter than the shape.
        (
            "short",
            pb::tensor("short", 1, &[4, 4], &[0; 12]),
            &["short"],
        ),
        // Element type code 99 does not exist.
    ];
    for (name, tensor, culprit) in cases {
        let out = culprit[0];
        let bytes = pb::model(&pb::graph_with_initializer(&tensor, out));
        let p = file(dir.path(), &format!("{name}.onnx"), &bytes);
        refused(&p, &[], culprit);
    }
}

/// Element type codes the ONNX standard defines but lnopt does not model (float8, int4, …)
/// are carried byte for byte; a code the standard does not define (99) is refused, naming the
/// tensor, with nothing written.
#[test]
fn unknown_dtype_codes_are_refused_and_unmodelled_ones_carried() {
    let dir = tempfile::tempdir().unwrap();
    let t = pb::tensor("odd", 17, &[8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let p = file(
        dir.path(),
        "odd.onnx",
        &pb::model(&pb::graph_with_initializer(&t, "odd")),
    );
    let out = dir.path().join("out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out), "-q", "--no-fuse"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = lnopt::onnx::load(&out, &lnopt::onnx::Limits::default()).unwrap();
    let v = m.graph.find_value("odd").unwrap();
    let t = m.graph.initializer(v).unwrap();
    assert_eq!(t.dtype.onnx_code(), 17);
    assert_eq!(t.bytes().unwrap(), &[1, 2, 3, 4, 5, 6, 7, 8]);

    let t = pb::tensor("bogus", 99, &[2], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let p = file(
        dir.path(),
        "bogus.onnx",
        &pb::model(&pb::graph_with_initializer(&t, "bogus")),
    );
    let out = dir.path().join("bogus_out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("'bogus'") && stderr(&o).contains("99"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn max_tensor_mib_refuses_and_raising_it_accepts() {
    let dir = tempfile::tempdir().unwrap();
    // 1.25 MiB of weights in one tensor.
    let p = write_model(dir.path(), "w.onnx", &relu_add_model(327_680));
    refused(&p, &["--max-tensor-mib", "1"], &["'w'"]);
    let out = dir.path().join("out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out), "--max-tensor-mib", "2", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// ---------------------------------------------------------------- limits

#[test]
fn max_file_mib_refuses_a_file_just_over_and_raising_it_accepts() {
    let dir = tempfile::tempdir().unwrap();
    // Just over 1 MiB: 262,200 floats of weights plus the graph.
    let p = write_model(dir.path(), "big.onnx", &relu_add_model(262_200));
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(size > 1 << 20 && size < (1 << 20) + 4096, "{size}");
    refused(&p, &["--max-file-mib", "1"], &["big.onnx", "limit"]);
    let out = dir.path().join("out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out), "--max-file-mib", "2", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn max_nodes_refuses_and_default_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_model(dir.path(), "two.onnx", &relu_add_model(4));
    refused(&p, &["--max-nodes", "1"], &["more than 1 nodes"]);
    let out = dir.path().join("out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out), "--max-nodes", "2", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// ---------------------------------------------------------------- memory

extern "C" {
    fn getrusage(who: i32, usage: *mut RUsage) -> i32;
}

/// `struct rusage` of Linux (two timevals, then 14 longs starting with `ru_maxrss` in KiB).
#[repr(C)]
#[derive(Default)]
struct RUsage {
    times: [i64; 4],
    maxrss: i64,
    rest: [i64; 13],
}

/// Files of about 100 bytes that claim huge sizes.
fn small_hostile_files() -> Vec<(&'static str, Vec<u8>)> {
    // ConstantOfShape whose constant shape input is [65536, 65536] (16 GiB of f32).
    let shape = pb::tensor(
        "shape",
        7,
        &[2],
        &[0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
    );
    let node = pb::cat(&[
        pb::bytes(1, b"shape"),
        pb::bytes(2, b"big"),
        pb::bytes(4, b"ConstantOfShape"),
    ]);
    let cos = pb::cat(&[
        pb::bytes(1, &node),
        pb::bytes(2, b"g"),
        pb::bytes(5, &shape),
        pb::bytes(12, &pb::bytes(1, b"big")),
    ]);
    vec![
        (
            "dims_2_60",
            pb::model(&pb::graph_with_initializer(
                &pb::tensor("huge", 1, &[1 << 30, 1 << 30], &[0; 16]),
                "huge",
            )),
        ),
        (
            "absurd_len",
            pb::cat(&[pb::int(1, 8), pb::claim(7, 1 << 62), vec![0; 80]]),
        ),
        ("constant_of_shape", pb::model(&cos)),
    ]
}

/// Child mode of [`small_hostile_file_does_not_allocate_gigabytes`]: runs lnopt once on the
/// file named by `LNOPT_RSS_PROBE` and prints the peak RSS of that child. Run alone (via the
/// parent test) so no other child's peak is mixed in.
#[test]
#[ignore = "child process of small_hostile_file_does_not_allocate_gigabytes"]
fn rss_probe_child() {
    let Ok(model) = std::env::var("LNOPT_RSS_PROBE") else {
        return;
    };
    let out = format!("{model}.out");
    let o = lnopt(&[&model, "-o", &out]);
    let mut ru = RUsage::default();
    // SAFETY: getrusage writes one `struct rusage`, whose layout RUsage reproduces.
    let rc = unsafe { getrusage(-1, &mut ru) };
    assert_eq!(rc, 0);
    println!(
        "PROBE code={:?} maxrss_kib={} out_exists={}",
        o.status.code(),
        ru.maxrss,
        Path::new(&out).exists()
    );
}

#[test]
fn small_hostile_file_does_not_allocate_gigabytes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in small_hostile_files() {
        assert!(bytes.len() <= 110, "{name}: {} bytes", bytes.len());
        let p = file(dir.path(), &format!("{name}.onnx"), &bytes);
        let o = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "rss_probe_child", "--ignored", "--nocapture"])
            .env("LNOPT_RSS_PROBE", &p)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.starts_with("PROBE "))
            .unwrap_or_else(|| panic!("{name}: no probe line: {text}{}", stderr(&o)));
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or_else(|| panic!("{line}"))
                .to_string()
        };
        let rss_kib: i64 = field("maxrss_kib=").parse().unwrap();
        eprintln!(
            "{name}: {} bytes, peak RSS {} KiB, {line}",
            bytes.len(),
            rss_kib
        );
        assert!(rss_kib > 0, "{line}");
        assert!(rss_kib < 200 * 1024, "{name}: peak RSS {rss_kib} KiB");
        let code = field("code=");
        assert!(code == "Some(0)" || code == "Some(2)", "{name}: {line}");
        if code == "Some(2)" {
            assert_eq!(field("out_exists="), "false", "{name}");
        }
    }
}

// ---------------------------------------------------------------- external data

/// A model whose initializer `w` (4 floats) lives in external file `location`.
fn external_model(dir: &Path, location: &str) -> PathBuf {
    let mut m = relu_add_model(4);
    let w = m.graph.find_value("w").unwrap();
    let mut t = Tensor::from_f32("w", vec![4], &[0.5; 4]);
    t.storage = Storage::External(ExternalRef {
        location: location.into(),
        offset: 0,
        length: None,
        extra: Vec::new(),
    });
    m.graph.set_initializer(w, std::sync::Arc::new(t));
    write_model(dir, "m.onnx", &m)
}

#[test]
fn external_data_escaping_the_folder_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let inner = root.path().join("model");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(root.path().join("secret.bin"), [0u8; 16]).unwrap();
    // The same bytes read through an allowed name are accepted (control).
    std::fs::write(inner.join("ok.bin"), [0u8; 16]).unwrap();
    let p = external_model(&inner, "ok.bin");
    let out = root.path().join("ok_out.onnx");
    let o = lnopt(&[s(&p), "-o", s(&out), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let abs = root.path().join("secret.bin");
    for location in ["../secret.bin", s(&abs), "sub/../../secret.bin"] {
        let p = external_model(&inner, location);
        refused(&p, &[], &["'w'", location]);
    }
    std::os::unix::fs::symlink(root.path().join("secret.bin"), inner.join("link.bin")).unwrap();
    let p = external_model(&inner, "link.bin");
    refused(&p, &[], &["'w'", "link.bin"]);
    // Missing file and data past the end.
    let p = external_model(&inner, "absent.bin");
    refused(&p, &[], &["'w'", "absent.bin"]);
    std::fs::write(inner.join("short.bin"), [0u8; 8]).unwrap();
    let p = external_model(&inner, "short.bin");
    refused(&p, &[], &["'w'", "short.bin"]);
}

// ---------------------------------------------------------------- graph structure

#[test]
fn structural_errors_name_the_culprit() {
    // Each message names the node, value, tensor or attribute at fault (quoted) and what is
    // wrong with it.
    for (case, words) in [
        ("graph_cycle", &["cycle", "'cycle_add'"][..]),
        (
            "node_input_without_producer",
            &["'Add_0'", "'ghost'", "no node"][..],
        ),
        (
            "duplicate_output_names",
            &["'dup'", "first_writer", "second_writer"][..],
        ),
        (
            "tensor_data_length_mismatch",
            &["'w_short'", "12 bytes", "[4]"][..],
        ),
        (
            "attribute_wrong_type",
            &["'mean_bad_axes'", "'axes'", "INTS", "FLOATS"][..],
        ),
        ("ir_version_99", &["ir_version 99"][..]),
    ] {
        let model = fixture(&format!("bad/{case}/model.onnx"));
        assert!(model.exists(), "fixture {case} missing");
        refused(&model, &[], words);
    }
}

// ---------------------------------------------------------------- output safety

#[test]
fn two_runs_give_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in good_fixtures().iter().enumerate().step_by(7) {
        // Same file name in two folders: external data is named after the output.
        let (da, db) = (
            dir.path().join(format!("a{i}")),
            dir.path().join(format!("b{i}")),
        );
        std::fs::create_dir_all(&da).unwrap();
        std::fs::create_dir_all(&db).unwrap();
        let (a, b) = (da.join("out.onnx"), db.join("out.onnx"));
        let oa = lnopt(&[s(m), "-o", s(&a), "-q"]);
        let ob = lnopt(&[s(m), "-o", s(&b), "-q"]);
        assert_eq!(
            oa.status.code(),
            Some(0),
            "{}: {}",
            m.display(),
            stderr(&oa)
        );
        assert_eq!(
            ob.status.code(),
            Some(0),
            "{}: {}",
            m.display(),
            stderr(&ob)
        );
        let (x, y) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(!x.is_empty());
        assert!(x == y, "{}: two runs differ", m.display());
    }
}

#[test]
fn output_naming_the_input_by_another_path_is_refused_and_input_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let model = sub.join("m.onnx");
    std::fs::copy(fixture("fusion/ln_pytorch_canonical/model.onnx"), &model).unwrap();
    let before = std::fs::read(&model).unwrap();
    let mtime = std::fs::metadata(&model).unwrap().modified().unwrap();
    let dotted = dir.path().join("sub/../sub/./m.onnx");
    let link = dir.path().join("link.onnx");
    std::os::unix::fs::symlink(&model, &link).unwrap();
    for out in [&model, &dotted, &link] {
        let o = lnopt(&[s(&model), "-o", s(out)]);
        assert_eq!(o.status.code(), Some(2), "{}", out.display());
        assert!(stderr(&o).contains("is the input model"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&model).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&model).unwrap().modified().unwrap(),
        mtime
    );
    assert_eq!(
        std::fs::read_dir(&sub).unwrap().count(),
        1,
        "temp files left"
    );
}

#[test]
fn failed_run_keeps_an_existing_output_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.onnx");
    std::fs::write(&out, b"previous result").unwrap();
    let o = lnopt(&[s(&fixture("bad/graph_cycle/model.onnx")), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&out).unwrap(), b"previous result");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn failure_while_writing_leaves_no_partial_file() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("w.bin"), [0u8; 16]).unwrap();
    let model = external_model(src.path(), "w.bin");
    // The output folder has a directory where the output's data file must go: the write of
    // the data fails after the model bytes were produced.
    let dst = tempfile::tempdir().unwrap();
    std::fs::create_dir(dst.path().join("out.onnx.data")).unwrap();
    let out = dst.path().join("out.onnx");
    let o = lnopt(&[s(&model), "-o", s(&out)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("out.onnx.data"), "{err}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(dst.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("out.onnx.data")],
        "partial files"
    );
    // Output below a path whose "folder" is a regular file.
    let bad = src.path().join("m.onnx/out.onnx");
    let o = lnopt(&[s(&model), "-o", s(&bad)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("lnopt: error: "));
}
