//! Micro-kernels: each multiplies one packed row micro-panel of A (`kc` steps of `MR` floats)
//! by one packed column panel of B (`kc` rows of `NR` floats) in registers, then writes the
//! `MR × NR` tile (or the part of it inside C) into C.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod portable;

/// Where a tile goes in C and how.
#[derive(Clone, Copy)]
pub(crate) struct Dest {
    /// C's element at the tile's top-left corner.
    pub c: *mut f32,
    /// C's row stride.
    pub rs: isize,
    /// C's column stride.
    pub cs: isize,
    /// Rows of the tile inside C (≤ MR).
    pub rows: usize,
    /// Columns of the tile inside C (≤ NR).
    pub cols: usize,
    /// Add to C's values instead of overwriting them.
    pub add: bool,
    /// When not null (and `add` is false): the bias values of the tile's columns (column j
    /// at `bias + j`), added to the products instead of C's values.
    pub bias: *const f32,
}

impl Dest {
    /// The bias of the tile's column `j`, when the tile starts from a bias.
    ///
    /// # Safety
    /// `j < self.cols` and the tile starts from a bias (`!self.add && !self.bias.is_null()`).
    #[inline(always)]
    pub(crate) unsafe fn bias_at(&self, j: usize) -> f32 {
        // SAFETY: the bias holds the tile's columns (the driver's contract).
        unsafe { *self.bias.add(j) }
    }

    /// Whether the tile starts from the bias rather than from zero or C.
    #[inline(always)]
    pub(crate) fn starts_from_bias(&self) -> bool {
        !self.add && !self.bias.is_null()
    }
}

/// Writes the part of a row-major `MR × nr` tile that lies inside C: onto C's values, the
/// bias's or nothing, as `d` says (`bias + v`, the order the additions had when the bias was
/// written into C first).
///
/// # Safety
/// `d` must address `d.rows × d.cols` valid, writable elements of C.
#[inline(always)]
pub(crate) unsafe fn store(tile: &[f32], nr: usize, d: &Dest) {
    for r in 0..d.rows {
        let src = &tile[r * nr..r * nr + d.cols];
        // SAFETY: row r of the tile lies inside C (caller).
        let row = unsafe { d.c.offset(r as isize * d.rs) };
        if d.cs == 1 {
            // SAFETY: cols contiguous elements from the row start lie inside C (caller).
            let dst = unsafe { std::slice::from_raw_parts_mut(row, d.cols) };
            if d.add {
                dst.iter_mut().zip(src).for_each(|(o, &v)| *o += v);
            } else if d.starts_from_bias() {
                for (j, (o, &v)) in dst.iter_mut().zip(src).enumerate() {
                    // SAFETY: j < d.cols and the tile starts from a bias.
                    *o = unsafe { d.bias_at(j) } + v;
                }
            } else {
                dst.copy_from_slice(src);
            }
        } else {
            for (j, &v) in src.iter().enumerate() {
                // SAFETY: element j of the row lies inside C (caller).
                let o = unsafe { &mut *row.offset(j as isize * d.cs) };
                *o = if d.add {
                    *o + v
                } else if d.starts_from_bias() {
                    // SAFETY: j < d.cols and the tile starts from a bias.
                    (unsafe { d.bias_at(j) }) + v
                } else {
                    v
                };
            }
        }
    }
}
