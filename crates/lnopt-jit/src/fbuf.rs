//! The elements of an f32 working value: owned, or read in place from a tensor's bytes.
//!
//! A model's f32 weights are already little-endian f32s in the IR tensor's shared bytes;
//! viewing them in place instead of converting them makes compiling a large model (BERT-base:
//! 340 MB of weights) cost no copy and no extra memory.

use crate::pool::Pooled;
use lnopt_ir::Blob;

/// f32 elements, either owned or borrowed from an IR tensor's shared bytes.
#[derive(Clone)]
pub(crate) enum FBuf {
    /// Owned elements (returned to [`crate::pool`] when dropped).
    Owned(Pooled),
    /// `len` f32s at the start of `bytes`, which is 4-byte aligned and holds at least
    /// `4 * len` bytes (checked by [`FBuf::view_le_bytes`]).
    Shared {
        /// The tensor's bytes (in memory or mapped from external data).
        bytes: Blob,
        /// Element count.
        len: usize,
    },
}

impl FBuf {
    /// Views little-endian f32 bytes in place when this machine is little-endian and the
    /// bytes are aligned for f32 and hold a whole number of them; `None` otherwise.
    pub(crate) fn view_le_bytes(bytes: &Blob) -> Option<FBuf> {
        let aligned = (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>());
        if cfg!(target_endian = "little") && aligned && bytes.len().is_multiple_of(4) {
            Some(FBuf::Shared {
                bytes: bytes.clone(),
                len: bytes.len() / 4,
            })
        } else {
            None
        }
    }

    /// The elements as a slice.
    pub(crate) fn as_slice(&self) -> &[f32] {
        match self {
            FBuf::Owned(v) => &v.0,
            // SAFETY: `view_le_bytes` checked alignment and that `bytes` holds `4 * len`
            // bytes; any bit pattern is a valid f32; the bytes are immutable while shared
            // (a `Blob` never changes) and live as long as `self`.
            FBuf::Shared { bytes, len } => unsafe {
                std::slice::from_raw_parts(bytes.as_ptr() as *const f32, *len)
            },
        }
    }
}

impl std::ops::Deref for FBuf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        self.as_slice()
    }
}

impl From<Vec<f32>> for FBuf {
    fn from(v: Vec<f32>) -> FBuf {
        FBuf::Owned(Pooled(v))
    }
}

impl FromIterator<f32> for FBuf {
    fn from_iter<I: IntoIterator<Item = f32>>(it: I) -> FBuf {
        FBuf::Owned(Pooled(crate::pool::collect(it)))
    }
}

impl std::fmt::Debug for FBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl PartialEq for FBuf {
    fn eq(&self, other: &FBuf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::FBuf;
    use lnopt_ir::Blob;

    /// A shared view reads the same values as a decoded copy, and compares equal to it.
    #[test]
    fn shared_view_reads_the_little_endian_values() {
        let vals = [
            1.5f32,
            -0.0,
            f32::MIN_POSITIVE,
            3.0e38,
            f32::NAN.copysign(-1.0),
        ];
        let bytes: Blob = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = FBuf::view_le_bytes(&bytes).expect("Vec<u8> data of 20 bytes is 4-aligned");
        assert!(matches!(view, FBuf::Shared { len: 5, .. }));
        for (a, b) in view.iter().zip(&vals) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let odd: Blob = vec![0u8; 6].into();
        assert!(FBuf::view_le_bytes(&odd).is_none());
    }
}
