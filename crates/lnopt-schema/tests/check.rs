//! The type-constraint check against facts of the ONNX schemas.

use lnopt_ir::DType;
use lnopt_schema::{check_inputs, schema, TypeViolation};

#[test]
fn mixed_float_types_in_add_are_refused() {
    let e = check_inputs("Add", 14, &[Some(DType::F16), Some(DType::F32)]).unwrap_err();
    assert!(
        matches!(
            e,
            TypeViolation::Mismatch {
                first: 0,
                second: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("Add-14"), "{e}");
    check_inputs("Add", 14, &[Some(DType::F16), Some(DType::F16)]).unwrap();
    // Unknown types are not refused.
    check_inputs("Add", 14, &[Some(DType::F16), None]).unwrap();
}

#[test]
fn types_outside_the_allowed_set_are_refused() {
    // Add accepts bfloat16 only from opset 13.
    assert!(check_inputs("Add", 7, &[Some(DType::BF16), Some(DType::BF16)]).is_err());
    check_inputs("Add", 13, &[Some(DType::BF16), Some(DType::BF16)]).unwrap();
    // Sqrt has no integer version.
    let e = check_inputs("Sqrt", 13, &[Some(DType::I64)]).unwrap_err();
    assert!(
        matches!(e, TypeViolation::NotAllowed { slot: 0, .. }),
        "{e}"
    );
}

#[test]
fn variables_bind_across_formals_and_variadics() {
    // Reshape: data is T, shape is int64 only.
    assert!(check_inputs("Reshape", 14, &[Some(DType::F32), Some(DType::I32)]).is_err());
    check_inputs("Reshape", 14, &[Some(DType::F32), Some(DType::I64)]).unwrap();
    // Concat's variadic inputs share T.
    assert!(check_inputs(
        "Concat",
        13,
        &[Some(DType::F32), Some(DType::F32), Some(DType::F16)]
    )
    .is_err());
    check_inputs("Concat", 13, &[Some(DType::I64); 5]).unwrap();
    // LayerNormalization: X is T, Scale/B are T... but V stash types differ by version.
    check_inputs(
        "LayerNormalization",
        17,
        &[Some(DType::F16), Some(DType::F16), Some(DType::F16)],
    )
    .unwrap();
}

#[test]
fn the_schema_in_force_is_the_newest_not_after_the_opset() {
    assert_eq!(schema("Add", 12).unwrap().since, 7);
    assert_eq!(schema("Add", 13).unwrap().since, 13);
    assert_eq!(schema("Add", 22).unwrap().since, 14);
    assert!(schema("LayerNormalization", 16).is_none());
    assert!(schema("NoSuchOp", 20).is_none());
}
