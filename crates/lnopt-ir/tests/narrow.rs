//! lnopt_ir::narrow against the onnx package's own float8 / float4 conversions
//! (tests/data/narrow_cases.txt, written by scripts/narrow_cases.py).

use lnopt_ir::narrow::Narrow;

fn kind(name: &str) -> Narrow {
    match name {
        "F8E4M3FN" => Narrow::F8E4M3FN,
        "F8E4M3FNUZ" => Narrow::F8E4M3FNUZ,
        "F8E5M2" => Narrow::F8E5M2,
        "F8E5M2FNUZ" => Narrow::F8E5M2FNUZ,
        "F4E2M1" => Narrow::F4E2M1,
        other => panic!("unknown type {other}"),
    }
}

#[test]
fn encode_matches_the_onnx_reference() {
    let text = include_str!("data/narrow_cases.txt");
    let mut n = 0;
    let mut bad = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let k = kind(f[0]);
        let sat = f[1] == "1";
        let x = f32::from_bits(u32::from_str_radix(f[2], 16).unwrap()) as f64;
        let want = u8::from_str_radix(f[3], 16).unwrap();
        let got = k.encode(x, sat);
        if got != want {
            bad.push(format!("{line}: got {got:02x}"));
        }
        n += 1;
    }
    assert!(n > 1000, "only {n} cases");
    assert!(
        bad.is_empty(),
        "{} of {n} differ: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn decode_inverts_encode_on_every_code() {
    for k in [
        Narrow::F8E4M3FN,
        Narrow::F8E4M3FNUZ,
        Narrow::F8E5M2,
        Narrow::F8E5M2FNUZ,
        Narrow::F4E2M1,
    ] {
        for code in 0..(1u16 << k.bits()) {
            let code = code as u8;
            let v = k.decode(code);
            let back = k.encode(v, false);
            if v.is_nan() {
                assert!(k.decode(back).is_nan(), "{k:?} {code:02x}");
            } else {
                assert_eq!(back, code, "{k:?} code {code:02x} value {v}");
            }
        }
    }
}
