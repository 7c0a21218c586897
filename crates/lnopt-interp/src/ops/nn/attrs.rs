//! Attribute helpers shared by the neural-network kernels: float lists, fixed-length int
//! lists and the sliding-window geometry (kernel, strides, dilations, pads, auto_pad,
//! ceil_mode) that Conv, ConvTranspose and the pools share.

use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::AttrValue;

/// An optional `FLOATS` attribute.
pub(crate) fn floats(c: &Call<'_>, name: &str) -> OpResult<Option<Vec<f32>>> {
    match c.node.attr(name) {
        None => Ok(None),
        Some(AttrValue::Floats(v)) => Ok(Some(v.clone())),
        Some(other) => bail!(
            "attribute '{name}' must be FLOATS, found {}",
            other.type_name()
        ),
    }
}

/// An optional `STRINGS` attribute (lossy UTF-8).
pub(crate) fn strings(c: &Call<'_>, name: &str) -> OpResult<Option<Vec<String>>> {
    match c.node.attr(name) {
        None => Ok(None),
        Some(AttrValue::Strings(v)) => Ok(Some(
            v.iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        )),
        Some(other) => bail!(
            "attribute '{name}' must be STRINGS, found {}",
            other.type_name()
        ),
    }
}

/// An `INTS` attribute of exactly `len` entries, or `default` repeated; entries must be at
/// least `min`.
pub(crate) fn ints_len(
    c: &Call<'_>,
    name: &str,
    len: usize,
    default: i64,
    min: i64,
) -> OpResult<Vec<usize>> {
    let v = match c.ints(name)? {
        Some(v) if v.len() == len => v,
        Some(v) => bail!("attribute '{name}' {v:?} must have {len} entries"),
        None => vec![default; len],
    };
    let mut out = Vec::with_capacity(len);
    for &x in &v {
        if x < min || x > (1 << 24) {
            bail!("attribute '{name}' {v:?} has an entry out of range");
        }
        out.push(x as usize);
    }
    Ok(out)
}

/// Sliding-window geometry over the spatial dims of one op.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// Input spatial dims.
    pub input: Vec<usize>,
    /// Kernel spatial dims.
    pub kernel: Vec<usize>,
    /// Strides.
    pub strides: Vec<usize>,
    /// Dilations.
    pub dilations: Vec<usize>,
    /// Padding before each spatial dim.
    pub pad_begin: Vec<usize>,
    /// Padding after each spatial dim.
    pub pad_end: Vec<usize>,
    /// Output spatial dims.
    pub output: Vec<usize>,
}

impl Window {
    /// Reads `strides`, `dilations` (when `with_dilations`), `pads`, `auto_pad` and
    /// `ceil_mode` (when `with_ceil`) for an input of spatial dims `input` and a kernel
    /// `kernel`, following the ONNX output-size formulas of Conv and the pools.
    pub fn from_attrs(
        c: &Call<'_>,
        input: &[usize],
        kernel: &[usize],
        with_dilations: bool,
        with_ceil: bool,
    ) -> OpResult<Window> {
        let sp = input.len();
        let strides = ints_len(c, "strides", sp, 1, 1)?;
        let dilations = if with_dilations {
            ints_len(c, "dilations", sp, 1, 1)?
        } else {
            if c.ints("dilations")?
                .is_some_and(|d| d.iter().any(|&x| x != 1))
            {
                bail!("dilations are not defined for this op at opset {}", c.opset);
            }
            vec![1; sp]
        };
        let ceil = with_ceil && c.int("ceil_mode", 0)? != 0;
        let ek: Vec<usize> = (0..sp)
            .map(|i| (kernel[i].max(1) - 1) * dilations[i] + 1)
            .collect();
        let auto = c.string("auto_pad", "NOTSET")?;
        let mut pad_begin = vec![0; sp];
        let mut pad_end = vec![0; sp];
        let mut output = vec![0; sp];
        match auto.as_str() {
            "NOTSET" | "" => {
                let p = ints_len(c, "pads", 2 * sp, 0, 0)?;
                for i in 0..sp {
                    pad_begin[i] = p[i];
                    pad_end[i] = p[sp + i];
                    let full = input[i] + p[i] + p[sp + i];
                    if full < ek[i] {
                        bail!(
                            "dilated kernel {} exceeds padded input {full} on spatial dim {i}",
                            ek[i]
                        );
                    }
                    let span = full - ek[i];
                    let mut o = if ceil {
                        span.div_ceil(strides[i]) + 1
                    } else {
                        span / strides[i] + 1
                    };
                    // The last window must start inside the input or the leading pad.
                    if ceil && (o - 1) * strides[i] >= input[i] + p[i] {
                        o -= 1;
                    }
                    output[i] = o;
                }
            }
            "VALID" => {
                for i in 0..sp {
                    if input[i] < ek[i] {
                        bail!("dilated kernel {} exceeds input {}", ek[i], input[i]);
                    }
                    let span = input[i] - ek[i];
                    output[i] = if ceil {
                        span.div_ceil(strides[i]) + 1
                    } else {
                        span / strides[i] + 1
                    };
                }
            }
            "SAME_UPPER" | "SAME_LOWER" => {
                for i in 0..sp {
                    let o = input[i].div_ceil(strides[i]);
                    let total = ((o.max(1) - 1) * strides[i] + ek[i]).saturating_sub(input[i]);
                    let small = total / 2;
                    if auto == "SAME_UPPER" {
                        pad_begin[i] = small;
                        pad_end[i] = total - small;
                    } else {
                        pad_begin[i] = total - small;
                        pad_end[i] = small;
                    }
                    output[i] = o;
                }
            }
            other => bail!("unknown auto_pad '{other}'"),
        }
        Ok(Window {
            input: input.to_vec(),
            kernel: kernel.to_vec(),
            strides,
            dilations,
            pad_begin,
            pad_end,
            output,
        })
    }

    /// Number of output positions.
    pub fn out_len(&self) -> usize {
        self.output.iter().product()
    }

    /// Number of kernel taps.
    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// For output position `o` (flat) and kernel tap `k` (flat): the per-dim input
    /// coordinates (possibly outside `[0, input)`), written into `coord`.
    pub fn coords(&self, o: usize, k: usize, coord: &mut [i64]) {
        let sp = self.input.len();
        let (mut o, mut k) = (o, k);
        for d in (0..sp).rev() {
            let od = o % self.output[d];
            o /= self.output[d];
            let kd = k % self.kernel[d];
            k /= self.kernel[d];
            coord[d] =
                (od * self.strides[d] + kd * self.dilations[d]) as i64 - self.pad_begin[d] as i64;
        }
    }

    /// Flat input index of `coord` if it lies inside the input.
    pub fn inside(&self, coord: &[i64]) -> Option<usize> {
        let mut idx = 0usize;
        for (d, &x) in coord.iter().enumerate() {
            if x < 0 || x >= self.input[d] as i64 {
                return None;
            }
            idx = idx * self.input[d] + x as usize;
        }
        Some(idx)
    }

    /// True if `coord` lies inside the input plus its explicit pads (not the extension that
    /// `ceil_mode` adds).
    pub fn inside_padded(&self, coord: &[i64]) -> bool {
        coord.iter().enumerate().all(|(d, &x)| {
            x >= -(self.pad_begin[d] as i64) && x < (self.input[d] + self.pad_end[d]) as i64
        })
    }
}
