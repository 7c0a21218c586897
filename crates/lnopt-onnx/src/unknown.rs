//! Protobuf unknown fields <-> the IR's ordered [`UnknownFields`].

use crate::OnnxError;
use lnopt_ir::{UnknownField, UnknownFields};
use protobuf::{SpecialFields, UnknownValueRef};

/// The unknown fields of a message, sorted by field number (stable within one number).
pub(crate) fn import(sf: &SpecialFields) -> UnknownFields {
    let mut out: Vec<UnknownField> = sf
        .unknown_fields()
        .iter()
        .map(|(n, v)| match v {
            UnknownValueRef::Fixed32(x) => UnknownField::Fixed32(n, x),
            UnknownValueRef::Fixed64(x) => UnknownField::Fixed64(n, x),
            UnknownValueRef::Varint(x) => UnknownField::Varint(n, x),
            UnknownValueRef::LengthDelimited(b) => UnknownField::Bytes(n, b.to_vec()),
        })
        .collect();
    sort(&mut out);
    UnknownFields(out)
}

/// Sorts unknown fields by field number, keeping the order within one number.
pub(crate) fn sort(fields: &mut [UnknownField]) {
    fields.sort_by_key(number);
}

fn number(f: &UnknownField) -> u32 {
    match f {
        UnknownField::Varint(n, _)
        | UnknownField::Fixed32(n, _)
        | UnknownField::Fixed64(n, _)
        | UnknownField::Bytes(n, _) => *n,
    }
}

/// Largest field number protobuf allows.
const MAX_FIELD: u32 = (1 << 29) - 1;

/// Writes `u` into a message's special fields. Refuses field numbers protobuf cannot encode.
pub(crate) fn export(
    u: &UnknownFields,
    sf: &mut SpecialFields,
    place: &str,
) -> Result<(), OnnxError> {
    if u.is_empty() {
        return Ok(());
    }
    let uf = sf.mut_unknown_fields();
    for f in &u.0 {
        let n = number(f);
        if n == 0 || n > MAX_FIELD {
            return Err(OnnxError::invalid(
                place,
                format!("unknown field number {n} is not a valid protobuf field number"),
            ));
        }
        match f {
            UnknownField::Varint(n, v) => uf.add_varint(*n, *v),
            UnknownField::Fixed32(n, v) => uf.add_fixed32(*n, *v),
            UnknownField::Fixed64(n, v) => uf.add_fixed64(*n, *v),
            UnknownField::Bytes(n, b) => uf.add_length_delimited(*n, b.clone()),
        }
    }
    Ok(())
}
