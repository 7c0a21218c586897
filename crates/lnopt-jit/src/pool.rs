//! Recycled f32 buffers: a working value's elements go back here when the value is dropped,
//! and the next value of the same length takes them, so repeated runs of a model reuse the
//! same memory instead of mapping fresh pages (on this project's VM a page fault costs about
//! as much as a 4 KiB memset, and fresh pages turned a third of ViT-B's run into faults).
//!
//! Only buffers of at least [`MIN_LEN`] elements are kept (the allocator serves smaller ones
//! from its own free lists), at most [`MAX_BYTES`] in total; [`release`] frees them all.

use std::collections::HashMap;
use std::sync::Mutex;

/// Smallest buffer kept, in elements (64 KiB).
const MIN_LEN: usize = 16 << 10;
/// Most bytes kept in all.
const MAX_BYTES: usize = 2 << 30;

struct Pool {
    by_len: HashMap<usize, Vec<Vec<f32>>>,
    bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut g = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let p = g.get_or_insert_with(|| Pool {
        by_len: HashMap::new(),
        bytes: 0,
    });
    f(p)
}

/// A buffer of `len` elements whose contents are unspecified (finite or not): for outputs
/// every element of which is written before it is read.
pub(crate) fn take(len: usize) -> Vec<f32> {
    if len >= MIN_LEN {
        let hit = with_pool(|p| {
            let v = p.by_len.get_mut(&len)?.pop()?;
            p.bytes -= v.capacity() * 4;
            Some(v)
        });
        if let Some(v) = hit {
            return v;
        }
    }
    vec![0f32; len]
}

/// A buffer of `len` zeros.
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.fill(0.0);
    v
}

/// An empty buffer with room for exactly `len` elements (pushing `len` elements into it does
/// not reallocate, and the full buffer can return to the pool).
pub(crate) fn with_capacity(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.clear();
    v
}

/// A buffer holding what `it` yields, taken from the pool when the iterator reports its
/// exact length.
pub(crate) fn collect(it: impl IntoIterator<Item = f32>) -> Vec<f32> {
    let mut it = it.into_iter();
    match it.size_hint() {
        (lo, Some(hi)) if lo == hi && lo >= MIN_LEN => {
            let mut v = with_capacity(lo);
            v.extend(it.by_ref().take(lo));
            v.extend(it);
            v
        }
        _ => it.collect(),
    }
}

/// Keeps `v` for a later [`take`] of the same length (or frees it when the pool is full).
pub(crate) fn give(v: Vec<f32>) {
    let (len, bytes) = (v.len(), v.capacity() * 4);
    if len < MIN_LEN || len != v.capacity() {
        return;
    }
    with_pool(|p| {
        if p.bytes + bytes <= MAX_BYTES {
            p.bytes += bytes;
            p.by_len.entry(len).or_default().push(v);
        }
    });
}

/// Frees every kept buffer; returns the bytes released.
pub fn release() -> usize {
    with_pool(|p| {
        let b = p.bytes;
        p.by_len.clear();
        p.bytes = 0;
        b
    })
}

/// A `Vec<f32>` that returns to the pool when dropped.
#[derive(Clone, Default)]
pub(crate) struct Pooled(pub Vec<f32>);

impl Drop for Pooled {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_taken_again_and_zeroed_on_request() {
        let len = MIN_LEN + 12_345;
        let mut v = take(len);
        v.fill(7.0);
        let ptr = v.as_ptr();
        drop(Pooled(v));
        let again = zeroed(len);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.iter().all(|&x| x == 0.0));
        let small = take(10);
        assert_eq!(small, vec![0.0; 10]);
    }
}
