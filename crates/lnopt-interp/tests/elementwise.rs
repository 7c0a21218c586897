//! Element-wise ops: expectations derived by hand from the ONNX spec.
mod common;
use common::*;
use lnopt_ir::{AttrValue, DType};

#[test]
fn add_broadcasts_column_against_row() {
    let y = run1(
        "Add",
        vec![],
        &[f32t(&[2, 1], &[10., 20.]), f32t(&[3], &[1., 2., 3.])],
    );
    assert_eq!(y.dims, vec![2, 3]);
    close(&vals(&y), &[11., 12., 13., 21., 22., 23.]);
}

#[test]
fn incompatible_broadcast_is_an_error_naming_the_node() {
    let e = run_op_at(
        "Mul",
        18,
        vec![],
        &[Some(f32t(&[2], &[1., 2.])), Some(f32t(&[3], &[1., 2., 3.]))],
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("the_node") && e.contains("Mul"), "{e}");
}

#[test]
fn integer_div_truncates_and_mod_follows_fmod() {
    let a = i64t(&[4], &[-7, 7, -7, 7]);
    let b = i64t(&[4], &[2, 2, 3, -3]);
    assert_eq!(
        ints(&run1("Div", vec![], &[a.clone(), b.clone()])),
        vec![-3, 3, -2, -2]
    );
    // fmod = 0: sign of the divisor (Python %).
    assert_eq!(
        ints(&run1("Mod", vec![], &[a.clone(), b.clone()])),
        vec![1, 1, 2, -2]
    );
    // fmod = 1: sign of the dividend (C fmod).
    let f = vec![attr("fmod", AttrValue::Int(1))];
    assert_eq!(ints(&run1("Mod", f.clone(), &[a, b])), vec![-1, 1, -1, 1]);
    let y = run1("Mod", f, &[f32t(&[2], &[-5.5, 5.5]), f32t(&[2], &[2., 2.])]);
    close(&vals(&y), &[-1.5, 1.5]);
}

#[test]
fn integer_division_by_zero_is_an_error() {
    let r = run_op_at(
        "Div",
        18,
        vec![],
        &[Some(i64t(&[1], &[1])), Some(i64t(&[1], &[0]))],
        1,
    );
    assert!(r.is_err());
}

#[test]
fn pow_with_float_and_integer_exponents() {
    let y = run1(
        "Pow",
        vec![],
        &[f32t(&[3], &[2., 3., 4.]), f32t(&[1], &[2.])],
    );
    close(&vals(&y), &[4., 9., 16.]);
    let y = run1("Pow", vec![], &[f32t(&[2], &[4., 9.]), i64t(&[], &[2])]);
    assert_eq!(y.dtype, DType::F32);
    close(&vals(&y), &[16., 81.]);
    let y = run1("Pow", vec![], &[f32t(&[1], &[4.]), f32t(&[1], &[0.5])]);
    close(&vals(&y), &[2.]);
    let y = run1("Pow", vec![], &[i64t(&[2], &[3, -2]), i64t(&[2], &[3, 3])]);
    assert_eq!(ints(&y), vec![27, -8]);
}

#[test]
fn unary_math_values() {
    let x = f32t(&[3], &[0., 0.5, -1.]);
    close(
        &vals(&run1("Erf", vec![], std::slice::from_ref(&x))),
        &[0., 0.520_499_9, -0.842_700_8],
    );
    close(
        &vals(&run1("Sigmoid", vec![], &[f32t(&[1], &[0.])])),
        &[0.5],
    );
    close(
        &vals(&run1("Relu", vec![], std::slice::from_ref(&x))),
        &[0., 0.5, 0.],
    );
    close(
        &vals(&run1("Abs", vec![], std::slice::from_ref(&x))),
        &[0., 0.5, 1.],
    );
    close(
        &vals(&run1("Neg", vec![], std::slice::from_ref(&x))),
        &[0., -0.5, 1.],
    );
    close(
        &vals(&run1("Reciprocal", vec![], &[f32t(&[2], &[4., -0.5])])),
        &[0.25, -2.],
    );
    close(
        &vals(&run1("Sqrt", vec![], &[f32t(&[2], &[9., 0.25])])),
        &[3., 0.5],
    );
    close(&vals(&run1("Log", vec![], &[f32t(&[1], &[1.])])), &[0.]);
    close(&vals(&run1("Exp", vec![], &[f32t(&[1], &[0.])])), &[1.]);
    close(&vals(&run1("Sin", vec![], &[f32t(&[1], &[0.])])), &[0.]);
    close(&vals(&run1("Cos", vec![], &[f32t(&[1], &[0.])])), &[1.]);
    close(&vals(&run1("Tanh", vec![], &[f32t(&[1], &[0.])])), &[0.]);
    assert_eq!(
        ints(&run1("Abs", vec![], &[i64t(&[2], &[-3, 4])])),
        vec![3, 4]
    );
}

#[test]
fn comparisons_and_logic_give_bool() {
    let a = f32t(&[3], &[1., 2., 3.]);
    let b = f32t(&[1], &[2.]);
    let y = run1("Less", vec![], &[a.clone(), b.clone()]);
    assert_eq!(y.dtype, DType::Bool);
    assert_eq!(ints(&y), vec![1, 0, 0]);
    assert_eq!(
        ints(&run1("LessOrEqual", vec![], &[a.clone(), b.clone()])),
        vec![1, 1, 0]
    );
    assert_eq!(
        ints(&run1("Greater", vec![], &[a.clone(), b.clone()])),
        vec![0, 0, 1]
    );
    assert_eq!(
        ints(&run1("GreaterOrEqual", vec![], &[a.clone(), b.clone()])),
        vec![0, 1, 1]
    );
    assert_eq!(ints(&run1("Equal", vec![], &[a, b])), vec![0, 1, 0]);
    let p = boolt(&[4], &[true, true, false, false]);
    let q = boolt(&[4], &[true, false, true, false]);
    assert_eq!(
        ints(&run1("And", vec![], &[p.clone(), q.clone()])),
        vec![1, 0, 0, 0]
    );
    assert_eq!(ints(&run1("Or", vec![], &[p.clone(), q])), vec![1, 1, 1, 0]);
    assert_eq!(ints(&run1("Not", vec![], &[p])), vec![0, 0, 1, 1]);
}

#[test]
fn where_broadcasts_all_three() {
    let c = boolt(&[2, 1], &[true, false]);
    let y = run1(
        "Where",
        vec![],
        &[c, f32t(&[3], &[1., 2., 3.]), f32t(&[], &[-1.])],
    );
    assert_eq!(y.dims, vec![2, 3]);
    close(&vals(&y), &[1., 2., 3., -1., -1., -1.]);
}

#[test]
fn variadic_sum_min_max() {
    let a = f32t(&[2], &[1., 5.]);
    let b = f32t(&[2], &[3., 2.]);
    let c = f32t(&[1], &[4.]);
    close(
        &vals(&run1("Sum", vec![], &[a.clone(), b.clone(), c.clone()])),
        &[8., 11.],
    );
    close(
        &vals(&run1("Min", vec![], &[a.clone(), b.clone(), c.clone()])),
        &[1., 2.],
    );
    close(&vals(&run1("Max", vec![], &[a, b, c])), &[4., 5.]);
}

#[test]
fn clip_from_attributes_and_inputs() {
    let x = f32t(&[4], &[-2., 0.5, 3., 10.]);
    let at = vec![
        attr("min", AttrValue::Float(0.)),
        attr("max", AttrValue::Float(3.)),
    ];
    let y = run_op_at("Clip", 6, at, &[Some(x.clone())], 1).unwrap();
    close(&vals(&y[0]), &[0., 0.5, 3., 3.]);
    let y = run_op_at(
        "Clip",
        13,
        vec![],
        &[Some(x.clone()), None, Some(f32t(&[], &[1.]))],
        1,
    )
    .unwrap();
    close(&vals(&y[0]), &[-2., 0.5, 1., 1.]);
}

#[test]
fn cast_truncates_rounds_and_maps_bool() {
    let to = |d: DType| vec![attr("to", AttrValue::Int(d.onnx_code() as i64))];
    let x = f32t(&[3], &[2.7, -2.7, 0.]);
    assert_eq!(
        ints(&run1("Cast", to(DType::I64), std::slice::from_ref(&x))),
        vec![2, -2, 0]
    );
    assert_eq!(ints(&run1("Cast", to(DType::Bool), &[x])), vec![1, 1, 0]);
    let y = run1("Cast", to(DType::F16), &[f32t(&[1], &[1. / 3.])]);
    assert_eq!(y.dtype, DType::F16);
    // Nearest f16 to 1/3: 0x3555 = 1365/4096.
    assert_eq!(vals(&y), vec![1365. / 4096.]);
    let y = run1("Cast", to(DType::F32), &[boolt(&[2], &[true, false])]);
    close(&vals(&y), &[1., 0.]);
    let y = run1("Cast", to(DType::U8), &[i64t(&[1], &[300])]);
    assert_eq!(ints(&y), vec![44]);
}

#[test]
fn f16_add_rounds_each_op_to_f16() {
    // 1 + 2^-12 is below half an f16 ulp at 1 (2^-11): the sum stays 1.
    let y = run1(
        "Add",
        vec![],
        &[f16t(&[1], &[1.]), f16t(&[1], &[1. / 4096.])],
    );
    assert_eq!(y.dtype, DType::F16);
    assert_eq!(vals(&y), vec![1.0]);
}
