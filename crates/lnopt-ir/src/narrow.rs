//! The narrow element types of ONNX: the 8-bit floats (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ,
//! E8M0), the 4-bit float E2M1 and the 4- and 2-bit integers. [`Narrow`] decodes and encodes
//! their codes and packs the sub-byte ones the way ONNX's `raw_data` stores them (first
//! element in the lowest bits of the first byte).
//!
//! Encoding rounds to nearest, ties to even, as the ONNX `Cast` spec requires; the saturation
//! rules follow its tables.

use crate::DType;

/// A narrow ONNX element type (codes 17 to 26 of `TensorProto.DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Narrow {
    /// `FLOAT8E4M3FN` (17): bias 7, NaN but no infinity.
    F8E4M3FN,
    /// `FLOAT8E4M3FNUZ` (18): bias 8, one NaN (0x80), no infinity, no negative zero.
    F8E4M3FNUZ,
    /// `FLOAT8E5M2` (19): bias 15, IEEE-like with infinities and NaNs.
    F8E5M2,
    /// `FLOAT8E5M2FNUZ` (20): bias 16, one NaN (0x80), no infinity, no negative zero.
    F8E5M2FNUZ,
    /// `UINT4` (21): 0..=15, two per byte.
    U4,
    /// `INT4` (22): -8..=7, two per byte.
    I4,
    /// `FLOAT4E2M1` (23): bias 1, finite only, two per byte.
    F4E2M1,
    /// `FLOAT8E8M0` (24): an unsigned power of two 2^(code - 127), 0xFF is NaN.
    F8E8M0,
    /// `UINT2` (25): 0..=3, four per byte.
    U2,
    /// `INT2` (26): -2..=1, four per byte.
    I2,
}

/// How a float conversion to [`Narrow::F8E8M0`] rounds (`Cast`'s `round_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundMode {
    /// Toward +infinity (the default).
    Up,
    /// Toward zero.
    Down,
    /// To nearest, by the guard/round/sticky rule of the ONNX reference.
    Nearest,
}

/// Layout of a sign-magnitude mini float: exponent and mantissa widths and bias.
struct Layout {
    mbits: u32,
    bias: i32,
    /// Largest finite magnitude code.
    max_code: u8,
    /// Sign bit of a code.
    sign: u8,
}

impl Narrow {
    /// The narrow type of `dt`, if it is one.
    pub fn of(dt: DType) -> Option<Narrow> {
        Some(match dt {
            DType::Other(17) => Narrow::F8E4M3FN,
            DType::Other(18) => Narrow::F8E4M3FNUZ,
            DType::Other(19) => Narrow::F8E5M2,
            DType::Other(20) => Narrow::F8E5M2FNUZ,
            DType::Other(21) => Narrow::U4,
            DType::Other(22) => Narrow::I4,
            DType::Other(23) => Narrow::F4E2M1,
            DType::Other(24) => Narrow::F8E8M0,
            DType::Other(25) => Narrow::U2,
            DType::Other(26) => Narrow::I2,
            _ => return None,
        })
    }

    /// Bits per element (8, 4 or 2).
    pub fn bits(self) -> usize {
        match self {
            Narrow::F8E4M3FN
            | Narrow::F8E4M3FNUZ
            | Narrow::F8E5M2
            | Narrow::F8E5M2FNUZ
            | Narrow::F8E8M0 => 8,
            Narrow::U4 | Narrow::I4 | Narrow::F4E2M1 => 4,
            Narrow::U2 | Narrow::I2 => 2,
        }
    }

    /// True for the float types, false for the integers.
    pub fn is_float(self) -> bool {
        !matches!(self, Narrow::U4 | Narrow::I4 | Narrow::U2 | Narrow::I2)
    }

    /// Bytes that `n` elements take packed.
    pub fn byte_len(self, n: usize) -> usize {
        let per = 8 / self.bits();
        n.div_ceil(per)
    }

    /// Range of an integer type.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            Narrow::U4 => (0, 15),
            Narrow::I4 => (-8, 7),
            Narrow::U2 => (0, 3),
            Narrow::I2 => (-2, 1),
            _ => return None,
        })
    }

    fn layout(self) -> Option<Layout> {
        let (mbits, bias, max_code) = match self {
            Narrow::F8E4M3FN => (3, 7, 0x7E),
            Narrow::F8E4M3FNUZ => (3, 8, 0x7F),
            Narrow::F8E5M2 => (2, 15, 0x7B),
            Narrow::F8E5M2FNUZ => (2, 16, 0x7F),
            Narrow::F4E2M1 => (1, 1, 0x7),
            _ => return None,
        };
        let sign = 1u8 << (self.bits() - 1);
        Some(Layout {
            mbits,
            bias,
            max_code,
            sign,
        })
    }

    /// Value of an integer code (sign-extended for the signed types).
    pub fn decode_int(self, code: u8) -> i64 {
        let bits = self.bits() as u32;
        let v = (code as i64) & ((1i64 << bits) - 1);
        match self {
            Narrow::I4 | Narrow::I2 if v >= 1 << (bits - 1) => v - (1 << bits),
            _ => v,
        }
    }

    /// The code of an integer, keeping its low bits (two's complement wrap, as ONNX casts
    /// between integer types do).
    pub fn encode_int(self, v: i64) -> u8 {
        (v & ((1i64 << self.bits()) - 1)) as u8
    }

    /// Value of a float code; integer types give their integer value.
    pub fn decode(self, code: u8) -> f64 {
        if self == Narrow::F8E8M0 {
            return if code == 0xFF {
                f64::NAN
            } else {
                2f64.powi(code as i32 - 127)
            };
        }
        let Some(l) = self.layout() else {
            return self.decode_int(code) as f64;
        };
        let neg = code & l.sign != 0;
        let mag = code & (l.sign - 1);
        let nan = if neg { -f64::NAN } else { f64::NAN };
        match self {
            Narrow::F8E4M3FN if mag == 0x7F => return nan,
            Narrow::F8E5M2 if mag > 0x7C => return nan,
            Narrow::F8E5M2 if mag == 0x7C => {
                return if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            Narrow::F8E4M3FNUZ | Narrow::F8E5M2FNUZ if code == 0x80 => return f64::NAN,
            _ => {}
        }
        let v = magnitude(&l, mag as u32);
        if neg {
            -v
        } else {
            v
        }
    }

    /// The code nearest to `x` (ties to even). Out of range values (infinities included) give
    /// the largest finite value when `saturate`, else infinity (E5M2) or NaN. FLOAT4E2M1 has
    /// neither and always saturates; NaN becomes 0x8 (-NaN 0x0), as the onnx reference
    /// (ml_dtypes) does. Integer types: see [`Narrow::encode_int_from_float`].
    pub fn encode(self, x: f64, saturate: bool) -> u8 {
        let Some(l) = self.layout() else {
            return match self {
                Narrow::F8E8M0 => encode_e8m0(x, saturate, RoundMode::Up),
                _ => self.encode_int_from_float(x),
            };
        };
        let fnuz = matches!(self, Narrow::F8E4M3FNUZ | Narrow::F8E5M2FNUZ);
        let nan_code = match self {
            Narrow::F8E4M3FN => 0x7F,
            Narrow::F8E5M2 => 0x7E,
            Narrow::F4E2M1 => 0x0,
            _ => 0x80,
        };
        let neg = x.is_sign_negative();
        let with_sign = |mag: u8| {
            if fnuz && (mag == 0 || mag == 0x80) {
                mag
            } else if neg {
                mag | l.sign
            } else {
                mag
            }
        };
        if x.is_nan() {
            return if self == Narrow::F4E2M1 {
                // What the onnx reference (ml_dtypes) gives; FLOAT4E2M1 has no NaN and the
                // standard does not define the conversion.
                if neg {
                    0
                } else {
                    l.sign
                }
            } else {
                with_sign(nan_code)
            };
        }
        let a = x.abs();
        let overflow = || -> u8 {
            if saturate || self == Narrow::F4E2M1 {
                with_sign(l.max_code)
            } else if self == Narrow::F8E5M2 {
                with_sign(0x7C)
            } else {
                with_sign(nan_code)
            }
        };
        if a.is_infinite() {
            return overflow();
        }
        // Largest magnitude code whose value is <= a (values increase with the code).
        let (mut lo, mut hi) = (0u32, l.max_code as u32);
        if magnitude(&l, hi) <= a {
            lo = hi;
        } else {
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if magnitude(&l, mid) <= a {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        let below = magnitude(&l, lo);
        if below == a {
            return with_sign(lo as u8);
        }
        // The next code up; above the largest finite one this is the value the format would
        // have with one more code, so rounding decides overflow.
        let above = magnitude(&l, lo + 1);
        let mid = (below + above) / 2.0;
        let up = a > mid || (a == mid && lo % 2 == 1);
        let code = if up { lo + 1 } else { lo };
        if code > l.max_code as u32 {
            return overflow();
        }
        with_sign(code as u8)
    }

    /// Float to a 4- or 2-bit integer as the onnx reference (ml_dtypes) does: truncation toward
    /// zero, values outside the range (and NaN, infinities) give 0. The standard leaves out of
    /// range conversions undefined.
    pub fn encode_int_from_float(self, x: f64) -> u8 {
        let (lo, hi) = self.int_range().unwrap_or((0, 0));
        let t = x.trunc();
        if !t.is_finite() || t < lo as f64 || t > hi as f64 {
            return 0;
        }
        self.encode_int(t as i64)
    }

    /// Unpacks `n` codes from packed bytes; `None` if the byte count is not the packed size.
    pub fn unpack(self, bytes: &[u8], n: usize) -> Option<Vec<u8>> {
        if bytes.len() != self.byte_len(n) {
            return None;
        }
        let bits = self.bits();
        if bits == 8 {
            return Some(bytes.to_vec());
        }
        let per = 8 / bits;
        let mask = (1u8 << bits) - 1;
        Some(
            (0..n)
                .map(|i| (bytes[i / per] >> ((i % per) * bits)) & mask)
                .collect(),
        )
    }

    /// Packs codes (padding the last byte with zero bits).
    pub fn pack(self, codes: &[u8]) -> Vec<u8> {
        let bits = self.bits();
        if bits == 8 {
            return codes.to_vec();
        }
        let per = 8 / bits;
        let mask = (1u8 << bits) - 1;
        let mut out = vec![0u8; self.byte_len(codes.len())];
        for (i, &c) in codes.iter().enumerate() {
            out[i / per] |= (c & mask) << ((i % per) * bits);
        }
        out
    }
}

/// Value of a magnitude code by the plain formula (no NaN/infinity special cases).
fn magnitude(l: &Layout, mag: u32) -> f64 {
    let e = (mag >> l.mbits) as i32;
    let m = (mag & ((1 << l.mbits) - 1)) as f64;
    let scale = (1u32 << l.mbits) as f64;
    if e == 0 {
        m / scale * 2f64.powi(1 - l.bias)
    } else {
        (1.0 + m / scale) * 2f64.powi(e - l.bias)
    }
}

/// Encodes `x` as FLOAT8E8M0 from the bits of `x` as f32 (the exponent field is the code), by
/// the rules of the ONNX reference: NaN and infinities give 0xFF; the sign is ignored. `x`
/// must be exactly an f32 (callers check).
pub fn encode_e8m0(x: f64, saturate: bool, mode: RoundMode) -> u8 {
    // Exact powers of two (2^-127 is an f32 subnormal) are their own code.
    if x > 0.0 && x.is_finite() {
        let k = x.log2().round();
        if (-127.0..=127.0).contains(&k) && 2f64.powi(k as i32) == x {
            return (k as i32 + 127) as u8;
        }
    }
    let bits = (x as f32).to_bits();
    let exp = (bits >> 23) & 0xFF;
    if exp == 0xFF {
        return 0xFF;
    }
    let round_up = match mode {
        RoundMode::Down => false,
        RoundMode::Up => bits & 0x7F_FFFF != 0,
        RoundMode::Nearest => {
            let g = bits & 0x40_0000 != 0;
            let r = bits & 0x20_0000 != 0;
            let s = bits & 0x1F_FFFF != 0;
            g && (r || s || exp > 0)
        }
    };
    let inc = round_up && !(saturate && exp == 0xFE);
    (exp + inc as u32) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e4m3fn_extremes() {
        let t = Narrow::F8E4M3FN;
        assert_eq!(t.decode(0x7E), 448.0);
        assert!(t.decode(0x7F).is_nan());
        assert_eq!(t.encode(464.0, false), 0x7E); // tie to even (0x7E)
        assert_eq!(t.encode(465.0, false), 0x7F); // overflow: NaN
        assert_eq!(t.encode(465.0, true), 0x7E);
        assert_eq!(t.encode(-1e-7, false), 0x80); // negative zero kept
    }

    #[test]
    fn fnuz_has_no_negative_zero() {
        assert_eq!(Narrow::F8E4M3FNUZ.encode(-0.0, true), 0);
        assert_eq!(Narrow::F8E5M2FNUZ.encode(-1e-30, true), 0);
        assert!(Narrow::F8E5M2FNUZ.decode(0x80).is_nan());
    }

    #[test]
    fn int4_packing_round_trips() {
        let codes: Vec<u8> = (-3i64..2).map(|v| Narrow::I4.encode_int(v)).collect();
        let packed = Narrow::I4.pack(&codes);
        assert_eq!(packed.len(), 3);
        let back = Narrow::I4.unpack(&packed, 5).unwrap();
        let vals: Vec<i64> = back.iter().map(|&c| Narrow::I4.decode_int(c)).collect();
        assert_eq!(vals, vec![-3, -2, -1, 0, 1]);
    }
}
