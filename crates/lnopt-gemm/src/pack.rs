//! The right operand packed into column panels.

use crate::{GemmError, Isa};

/// Floats per 64-byte cache line: packed panels start on a line.
const LINE: usize = 16;

/// A k×n right operand packed for one [`Isa`]: panel `p` holds columns `p·NR .. p·NR+NR` as
/// `k` consecutive rows of `NR` floats (columns past `n` are zero), so a micro-kernel reads
/// any run of rows of a panel as one contiguous stream.
#[derive(Clone, Debug)]
pub struct PackedB {
    isa: Isa,
    k: usize,
    n: usize,
    buf: Vec<f32>,
    start: usize,
}

/// Elements a rows×cols matrix with strides (rs, cs) reaches, or `None` on overflow.
pub fn reach(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(1)
}

impl PackedB {
    /// Packs the k×n matrix whose element (r, c) is `b[r·rs + c·cs]`.
    pub fn pack(
        isa: Isa,
        dims: (usize, usize),
        b: &[f32],
        strides: (usize, usize),
    ) -> Result<PackedB, GemmError> {
        PackedB::pack_into(isa, dims, b, strides, Vec::new())
    }

    /// [`PackedB::pack`] into the storage of `buf` (resized as needed; its contents do not
    /// matter), so a caller packing operands over and over can recycle the memory
    /// ([`PackedB::into_buffer`] gives it back).
    pub fn pack_into(
        isa: Isa,
        (k, n): (usize, usize),
        b: &[f32],
        (rs, cs): (usize, usize),
        mut buf: Vec<f32>,
    ) -> Result<PackedB, GemmError> {
        if !isa.available() {
            return Err(GemmError::Unavailable(isa));
        }
        let need = reach(k, n, rs, cs).ok_or(GemmError::TooLarge { rows: k, cols: n })?;
        if need > b.len() {
            return Err(GemmError::OutOfBounds {
                rows: k,
                cols: n,
                rs,
                cs,
                need,
                have: b.len(),
            });
        }
        let nr = isa.nr();
        let panels = n.div_ceil(nr);
        let len =
            PackedB::storage_len(isa, (k, n)).ok_or(GemmError::TooLarge { rows: k, cols: n })?;
        buf.resize(len, 0.0);
        let misalign = (buf.as_ptr() as usize / std::mem::size_of::<f32>()) % LINE;
        let start = (LINE - misalign) % LINE;
        let dst = &mut buf[start..];
        for p in 0..panels {
            let c0 = p * nr;
            let cols = nr.min(n - c0);
            let panel = &mut dst[p * k * nr..(p + 1) * k * nr];
            for (r, row) in panel.chunks_exact_mut(nr).enumerate() {
                let base = r * rs + c0 * cs;
                if cs == 1 {
                    row[..cols].copy_from_slice(&b[base..base + cols]);
                } else {
                    for (j, d) in row[..cols].iter_mut().enumerate() {
                        *d = b[base + j * cs];
                    }
                }
                row[cols..].fill(0.0);
            }
        }
        Ok(PackedB {
            isa,
            k,
            n,
            buf,
            start,
        })
    }

    /// Floats of storage a k×n operand packed for `isa` takes (the panels, zero-padded to
    /// whole panels, plus the slack that lets them start on a cache line): the length
    /// [`PackedB::pack_into`] resizes its buffer to. `None` on overflow.
    pub fn storage_len(isa: Isa, (k, n): (usize, usize)) -> Option<usize> {
        let nr = isa.nr();
        n.div_ceil(nr)
            .checked_mul(nr)?
            .checked_mul(k)?
            .checked_add(LINE)
    }

    /// The packed storage, for reuse by [`PackedB::pack_into`].
    pub fn into_buffer(self) -> Vec<f32> {
        self.buf
    }

    /// The family the panels are laid out for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Rows of the operand (the product's inner dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of the operand.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of column panels; [`crate::gemm`] takes a range of them.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(self.isa.nr())
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.len() * std::mem::size_of::<f32>()
    }

    /// Rows `r0..` of panel `p` (the caller stays inside the panel).
    pub(crate) fn panel_rows(&self, p: usize, r0: usize) -> *const f32 {
        let nr = self.isa.nr();
        self.buf[self.start..]
            .as_ptr()
            .wrapping_add((p * self.k + r0) * nr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_hold_columns_with_zero_padding() {
        let (k, n) = (3, 19);
        let b: Vec<f32> = (0..k * n).map(|i| i as f32 + 1.0).collect();
        let p = PackedB::pack(Isa::Portable, (k, n), &b, (n, 1)).unwrap();
        assert_eq!(p.panels(), 2);
        let nr = Isa::Portable.nr();
        // SAFETY: panel 1 row 2 lies inside the buffer (panels·k·nr elements).
        let row = unsafe { std::slice::from_raw_parts(p.panel_rows(1, 2), nr) };
        assert_eq!(&row[..3], &[b[2 * n + 16], b[2 * n + 17], b[2 * n + 18]]);
        assert!(row[3..].iter().all(|&v| v == 0.0));
        assert_eq!(p.panel_rows(0, 0) as usize % 64, 0);
    }

    #[test]
    fn a_recycled_buffer_packs_like_a_fresh_one() {
        let (k, n) = (5, 21);
        let b: Vec<f32> = (0..k * n).map(|i| i as f32 - 7.0).collect();
        let fresh = PackedB::pack(Isa::Portable, (k, n), &b, (n, 1)).unwrap();
        let dirty = vec![f32::NAN; 3 * k * n];
        let again = PackedB::pack_into(Isa::Portable, (k, n), &b, (n, 1), dirty).unwrap();
        let nr = Isa::Portable.nr();
        for p in 0..fresh.panels() {
            // SAFETY: each panel holds k rows of nr floats.
            let (x, y) = unsafe {
                (
                    std::slice::from_raw_parts(fresh.panel_rows(p, 0), k * nr),
                    std::slice::from_raw_parts(again.panel_rows(p, 0), k * nr),
                )
            };
            assert_eq!(x, y, "panel {p}");
        }
        assert_eq!(again.bytes(), fresh.bytes());
        assert!(again.into_buffer().capacity() >= 3 * k * n);
    }

    #[test]
    fn strides_past_the_buffer_are_refused() {
        let b = vec![0f32; 10];
        let e = PackedB::pack(Isa::Portable, (3, 4), &b, (4, 1)).unwrap_err();
        assert!(matches!(
            e,
            GemmError::OutOfBounds {
                need: 12,
                have: 10,
                ..
            }
        ));
    }
}
