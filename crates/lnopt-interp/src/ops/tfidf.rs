//! `TfIdfVectorizer`: counts, in each row of an integer or string input, the occurrences of
//! the n-grams of a pool given as attributes (items of an n-gram may be `skip` items apart, for
//! every skip up to `max_skip_count`), then weights the counts (`TF`, `IDF`, `TFIDF`).
//!
//! Where the spec's prose is loose, this follows what the onnx reference implementation and
//! ONNX Runtime agree on: unigrams are counted once, not once per skip. Where they disagree it
//! follows the spec: the i-th weight scales the count of the i-th pool n-gram (ONNX Runtime; the reference
//! indexes weights by output coordinate, which differs when `ngram_indexes` is not the
//! identity), and TFIDF is one multiplication rounded once (the reference; ONNX Runtime adds
//! the weight once per occurrence in f32, up to a few ulps away). IDF and TFIDF refuse an
//! `ngram_indexes` that sends two n-grams to one output, and every mode an n-gram listed twice
//! in the pool (ONNX Runtime refuses it, the reference counts it under its last position),
//! where the spec and the two implementations do not say the same thing.

use crate::arr::{checked_numel, Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::ops::strings::strings_attr;
use lnopt_ir::{AttrValue, DType};
use std::collections::HashMap;
use std::hash::Hash;

/// How counts become outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The count.
    Tf,
    /// 1 (or the weight) where the count is non-zero.
    Idf,
    /// The count times the weight.
    TfIdf,
}

/// The n-gram lengths looked for and the largest skip.
#[derive(Clone, Copy, Debug)]
struct Grams {
    min: usize,
    max: usize,
    max_skip: usize,
}

/// The pool's n-grams as a trie: node 0 is the root; `id` is the 1-based number (in pool
/// order) of the n-gram ending at a node, 0 when none does.
struct Trie<K> {
    nodes: Vec<TrieNode<K>>,
}

struct TrieNode<K> {
    id: usize,
    next: HashMap<K, usize>,
}

impl<K: Eq + Hash + Clone> Trie<K> {
    fn new() -> Trie<K> {
        Trie {
            nodes: vec![TrieNode {
                id: 0,
                next: HashMap::new(),
            }],
        }
    }

    /// The child of `node` along `key`.
    fn child(&self, node: usize, key: &K) -> Option<usize> {
        self.nodes.get(node)?.next.get(key).copied()
    }

    /// Adds `gram` with number `id`; `false` (and no change) if the trie already holds it.
    fn insert(&mut self, gram: &[K], id: usize) -> bool {
        let mut node = 0;
        for key in gram {
            node = match self.child(node, key) {
                Some(n) => n,
                None => {
                    let n = self.nodes.len();
                    self.nodes.push(TrieNode {
                        id: 0,
                        next: HashMap::new(),
                    });
                    self.nodes[node].next.insert(key.clone(), n);
                    n
                }
            };
        }
        if self.nodes[node].id != 0 {
            return false;
        }
        self.nodes[node].id = id;
        true
    }
}

/// The trie of the n-grams of `pool` whose length is in `g.min..=g.max`, and how many n-grams
/// the pool holds in all (their numbers run over every length). `counts[k]` is where the
/// (k+1)-grams start; each section runs to the next start (the last to the pool's end).
fn build<K: Eq + Hash + Clone>(pool: &[K], counts: &[i64], g: Grams) -> OpResult<(Trie<K>, usize)> {
    let mut trie = Trie::new();
    let mut numbered = 0usize;
    for (k, &start) in counts.iter().enumerate() {
        let n = k + 1;
        let end = counts.get(k + 1).copied().unwrap_or(pool.len() as i64);
        let (start, end) = match (usize::try_from(start), usize::try_from(end)) {
            (Ok(s), Ok(e)) if s <= e && e <= pool.len() => (s, e),
            _ => bail!(
                "ngram_counts {counts:?} are not non-decreasing starts within the pool of {}",
                pool.len()
            ),
        };
        let items = &pool[start..end];
        if !items.len().is_multiple_of(n) {
            bail!(
                "the pool's {n}-grams ({start}..{end}) hold {} items, not a multiple of {n}",
                items.len()
            );
        }
        for (j, gram) in items.chunks_exact(n).enumerate() {
            numbered += 1;
            if (g.min..=g.max).contains(&n) && !trie.insert(gram, numbered) {
                bail!(
                    "the {n}-gram at pool position {} is listed a second time",
                    start + j * n
                );
            }
        }
    }
    Ok((trie, numbered))
}

/// Adds to `freq` (one count per n-gram number, 0-based) the n-grams found in `row`.
fn count_row<K: Eq + Hash + Clone>(trie: &Trie<K>, row: &[K], g: Grams, freq: &mut [u64]) {
    let mut shortest = g.min;
    for skip in 1..=g.max_skip.saturating_add(1) {
        // Every n-gram of `shortest` items spans at least this many; larger skips only more.
        if shortest >= 2 && skip.saturating_mul(shortest - 1) >= row.len() {
            break;
        }
        for start in 0..row.len() {
            if start.saturating_add(skip.saturating_mul(shortest - 1)) >= row.len() {
                break;
            }
            let (mut node, mut len, mut item) = (0, 1, start);
            while len <= g.max && item < row.len() {
                let Some(next) = trie.child(node, &row[item]) else {
                    break;
                };
                let id = trie.nodes[next].id;
                if len >= shortest && id != 0 {
                    if let Some(f) = freq.get_mut(id - 1) {
                        *f += 1;
                    }
                }
                node = next;
                len += 1;
                item += skip;
            }
        }
        // Unigrams do not depend on the skip: count them in the first pass only.
        if shortest == 1 {
            shortest = 2;
            if shortest > g.max {
                break;
            }
        }
    }
}

/// A required non-negative `INT` attribute.
fn count_attr(c: &Call<'_>, name: &str) -> OpResult<usize> {
    match c.opt_int(name)? {
        Some(v) if v >= 0 => Ok(usize::try_from(v).unwrap_or(usize::MAX)),
        Some(v) => bail!("attribute '{name}' is {v}, must be >= 0"),
        None => bail!("attribute '{name}' is required"),
    }
}

/// The `FLOATS` attribute `weights` (empty when absent).
fn weights_attr(c: &Call<'_>) -> OpResult<Vec<f32>> {
    match c.node.attr("weights") {
        None => Ok(Vec::new()),
        Some(AttrValue::Floats(v)) => Ok(v.clone()),
        Some(other) => bail!(
            "attribute 'weights' must be FLOATS, found {}",
            other.type_name()
        ),
    }
}

/// The n-gram counts (one per pool n-gram, 0-based) of each of the `rows` rows of `x`.
fn frequencies<K: Eq + Hash + Clone>(
    pool: &[K],
    x: &[K],
    rows: usize,
    counts: &[i64],
    g: Grams,
    n_indexes: usize,
) -> OpResult<Vec<Vec<u64>>> {
    let (trie, numbered) = build(pool, counts, g)?;
    if numbered > n_indexes {
        bail!("the pool holds {numbered} n-grams, ngram_indexes only {n_indexes} entries");
    }
    let cols = x.len().checked_div(rows).unwrap_or(0);
    Ok((0..rows)
        .map(|r| {
            let mut freq = vec![0u64; numbered];
            count_row(&trie, &x[r * cols..(r + 1) * cols], g, &mut freq);
            freq
        })
        .collect())
}

/// `TfIdfVectorizer(X)`: `X` of shape `[C]` or `[B, C]` (B > 0) of int32 / int64 (with
/// `pool_int64s`) or strings (with `pool_strings`); `Y` f32 of shape `[W]` or `[B, W]`,
/// W = max(ngram_indexes) + 1.
pub(crate) fn tfidf_vectorizer(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let mode = match c.string("mode", "")?.as_str() {
        "TF" => Mode::Tf,
        "IDF" => Mode::Idf,
        "TFIDF" => Mode::TfIdf,
        other => bail!("mode '{other}' is not one of TF, IDF, TFIDF"),
    };
    let g = Grams {
        min: count_attr(c, "min_gram_length")?,
        max: count_attr(c, "max_gram_length")?,
        max_skip: count_attr(c, "max_skip_count")?,
    };
    if g.min < 1 || g.max < g.min {
        bail!(
            "min_gram_length {} and max_gram_length {} must satisfy 1 <= min <= max",
            g.min,
            g.max
        );
    }
    let counts = c.ints("ngram_counts")?.ok_or_else(|| {
        crate::error::OpError::Invalid("attribute 'ngram_counts' is required".into())
    })?;
    let indexes = c.ints("ngram_indexes")?.unwrap_or_default();
    let width = match indexes.iter().max() {
        Some(&m) if indexes.iter().all(|&i| i >= 0) => m as usize + 1,
        Some(_) => bail!("ngram_indexes {indexes:?} has a negative entry"),
        None => bail!("attribute 'ngram_indexes' is required and must not be empty"),
    };
    let weights = weights_attr(c)?;
    if !weights.is_empty() && weights.len() != indexes.len() {
        bail!(
            "weights has {} entries, ngram_indexes {}: they must be as long",
            weights.len(),
            indexes.len()
        );
    }
    if mode != Mode::Tf {
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = indexes.iter().find(|&&i| !seen.insert(i)) {
            bail!(
                "mode {mode:?} with two n-grams sent to output {dup} by ngram_indexes is ambiguous"
            );
        }
    }
    let (rows, out_shape) = match x.shape.as_slice() {
        [_] => (1, vec![width]),
        [b, _] if *b > 0 => (*b, vec![*b, width]),
        other => bail!("X must have shape [C] or [B, C] with B > 0, has {other:?}"),
    };
    checked_numel(&out_shape)?;
    let int_pool = c.ints("pool_int64s")?.unwrap_or_default();
    let str_pool = strings_attr(c, "pool_strings")?;
    let freq = match (&x.buf, x.dtype) {
        (Buf::I(v), DType::I32 | DType::I64) if str_pool.is_empty() => {
            frequencies(&int_pool, v, rows, &counts, g, indexes.len())?
        }
        (Buf::S(v), _) if int_pool.is_empty() => {
            frequencies(&str_pool, v, rows, &counts, g, indexes.len())?
        }
        (Buf::S(_), _) | (Buf::I(_), DType::I32 | DType::I64) => bail!(
            "X of {} needs {} and not the other pool",
            x.dtype,
            if x.dtype == DType::String {
                "pool_strings"
            } else {
                "pool_int64s"
            }
        ),
        _ => bail!("X must be int32, int64 or string, got {}", x.dtype),
    };
    let mut y = vec![0f64; rows * width];
    for (r, f) in freq.iter().enumerate() {
        for (i, &n) in f.iter().enumerate() {
            let n = n as f64;
            let w = weights.get(i).map(|&w| w as f64);
            y[r * width + indexes[i] as usize] += match (mode, w) {
                (Mode::Tf | Mode::TfIdf, None) => n,
                (Mode::Idf, None) => (n > 0.0) as u8 as f64,
                (Mode::Idf, Some(w)) => {
                    if n > 0.0 {
                        w
                    } else {
                        0.0
                    }
                }
                (Mode::TfIdf, Some(w)) => w * n,
                (Mode::Tf, Some(_)) => n,
            };
        }
    }
    Ok(Arr::floats(DType::F32, out_shape, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Grams = Grams {
        min: 1,
        max: 2,
        max_skip: 0,
    };

    fn counts_of(pool: &[i64], counts: &[i64], g: Grams, row: &[i64]) -> Vec<u64> {
        let (trie, n) = build(pool, counts, g).unwrap();
        let mut f = vec![0; n];
        count_row(&trie, row, g, &mut f);
        f
    }

    #[test]
    fn unigrams_are_counted_once_whatever_the_skip() {
        let g = Grams { max_skip: 3, ..ALL };
        // pool: unigram 7, bigram (7, 7).
        let f = counts_of(&[7, 7, 7], &[0, 1], g, &[7, 1, 7]);
        // 7 twice; (7, 7) only with skip 2 (positions 0 and 2).
        assert_eq!(f, vec![2, 1]);
    }

    #[test]
    fn bigrams_with_skips() {
        let g = Grams {
            min: 2,
            max: 2,
            max_skip: 1,
        };
        // 94 17 36 12 28: skip 0 sees (94,17),(17,36)...; skip 1 sees (94,36),(17,12),(36,28).
        let pool = [94, 17, 94, 36, 17, 28];
        let f = counts_of(&pool, &[0, 0], g, &[94, 17, 36, 12, 28]);
        assert_eq!(f, vec![1, 1, 0]);
        let f = counts_of(
            &pool,
            &[0, 0],
            Grams { max_skip: 0, ..g },
            &[94, 17, 36, 12, 28],
        );
        assert_eq!(f, vec![1, 0, 0]);
    }

    #[test]
    fn lengths_outside_the_range_keep_their_numbers() {
        let g = Grams {
            min: 2,
            max: 2,
            max_skip: 0,
        };
        // Unigrams 1 and 2 are numbered (1, 2) but not looked for; bigram (1, 2) is number 3.
        let f = counts_of(&[1, 2, 1, 2], &[0, 2], g, &[1, 2, 1]);
        assert_eq!(f, vec![0, 0, 1]);
    }

    #[test]
    fn a_repeated_ngram_is_refused_only_when_looked_for() {
        assert!(build(&[5, 5], &[0], ALL).is_err());
        assert!(build(&[1, 2, 1, 2], &[0, 0], ALL).is_err());
        let bigrams_only = Grams { min: 2, ..ALL };
        let f = counts_of(&[5, 5, 5, 6], &[0, 2], bigrams_only, &[5, 6]);
        assert_eq!(f, vec![0, 0, 1]);
    }

    #[test]
    fn bad_sections_are_refused() {
        assert!(
            build(&[1, 2, 3], &[0, 2], ALL).is_err(),
            "1 item of bigrams"
        );
        assert!(
            build(&[1, 2, 3], &[0, 1], ALL).is_ok(),
            "2 items of bigrams"
        );
        assert!(
            build(&[1, 2, 3], &[0, 4], ALL).is_err(),
            "start past the end"
        );
        assert!(build(&[1, 2, 3], &[2, 1], ALL).is_err(), "decreasing");
    }
}
