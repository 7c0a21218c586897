//! String ops: `StringConcat`, `StringSplit`, `StringNormalizer`, `RegexFullMatch`.
//! Strings are bytes; ops that look at characters require UTF-8 and refuse other bytes.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes};
use lnopt_ir::{AttrValue, DType};

/// The string of element `b`, or an error if it is not UTF-8.
fn utf8(b: &[u8]) -> OpResult<&str> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s),
        Err(_) => bail!("string {b:?} is not UTF-8"),
    }
}

/// `StringConcat(X, Y)`: element-wise concatenation with broadcasting.
pub(crate) fn concat(c: &Call<'_>) -> OpResult<Arr> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let (xv, yv) = (x.string_values("X")?, y.string_values("Y")?);
    let out = broadcast_shapes(&[&x.shape, &y.shape])?;
    let ix = broadcast_index(&x.shape, &out)?;
    let iy = broadcast_index(&y.shape, &out)?;
    let v = ix
        .iter()
        .zip(&iy)
        .map(|(&i, &j)| [xv[i].as_slice(), yv[j].as_slice()].concat())
        .collect();
    Ok(Arr::strings(out, v))
}

/// Python's `str.isspace` for one character (Unicode white space plus the separators
/// U+001C..U+001F).
fn is_py_space(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&ch)
}

/// Python's `s.split(None, maxsplit)`: runs of white space separate, none at the ends.
fn split_whitespace(s: &str, maxsplit: Option<usize>) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = s.trim_start_matches(is_py_space);
    while !rest.is_empty() {
        if maxsplit.is_some_and(|m| parts.len() == m) {
            parts.push(rest.to_string());
            break;
        }
        match rest.find(is_py_space) {
            Some(end) => {
                parts.push(rest[..end].to_string());
                rest = rest[end..].trim_start_matches(is_py_space);
            }
            None => {
                parts.push(rest.to_string());
                break;
            }
        }
    }
    parts
}

/// Python's `s.split(sep, maxsplit)` for a non-empty separator.
fn split_on(s: &str, sep: &str, maxsplit: Option<usize>) -> Vec<String> {
    match maxsplit {
        Some(m) => s.splitn(m + 1, sep).map(str::to_string).collect(),
        None => s.split(sep).map(str::to_string).collect(),
    }
}

/// `StringSplit(X)` with `delimiter` (empty or absent: runs of white space) and `maxsplit`:
/// Y has X's shape plus one axis as long as the longest split (padded with empty strings),
/// Z the number of parts of each element.
pub(crate) fn split(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let xv = x.string_values("X")?;
    let delim = c.string("delimiter", "")?;
    let maxsplit = match c.opt_int("maxsplit")? {
        Some(m) if m < 0 => bail!("maxsplit {m} is negative"),
        Some(m) => Some(m as usize),
        None => None,
    };
    let parts: Vec<Vec<String>> = xv
        .iter()
        .map(|b| {
            let s = utf8(b)?;
            Ok(if delim.is_empty() {
                split_whitespace(s, maxsplit)
            } else {
                split_on(s, &delim, maxsplit)
            })
        })
        .collect::<OpResult<_>>()?;
    let width = parts.iter().map(Vec::len).max().unwrap_or(0);
    let mut y = Vec::with_capacity(parts.len() * width);
    for p in &parts {
        y.extend(p.iter().map(|s| s.as_bytes().to_vec()));
        y.extend(std::iter::repeat_n(Vec::new(), width - p.len()));
    }
    let mut shape = x.shape.clone();
    shape.push(width);
    let counts = parts.iter().map(|p| p.len() as i64).collect();
    Ok(vec![
        Arr::strings(shape, y),
        Arr::ints(DType::I64, x.shape.clone(), counts),
    ])
}

/// The `STRINGS` attribute `name` (empty when absent).
pub(crate) fn strings_attr(c: &Call<'_>, name: &str) -> OpResult<Vec<Vec<u8>>> {
    match c.node.attr(name) {
        None => Ok(Vec::new()),
        Some(AttrValue::Strings(v)) => Ok(v.clone()),
        Some(other) => bail!(
            "attribute '{name}' must be STRINGS, found {}",
            other.type_name()
        ),
    }
}

/// `StringNormalizer`: drops the elements of a `[C]` or `[1, C]` input that equal a stop
/// word (ignoring case unless `is_case_sensitive`), then lower- or upper-cases the rest
/// (`case_change_action`). All dropped: one empty string. Only the default (Unicode) case
/// mapping is implemented, so locales other than en_US / C are refused.
pub(crate) fn normalizer(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.string_values("X")?;
    let two_d = match x.shape.as_slice() {
        [_] => false,
        [1, _] => true,
        other => bail!("input must have shape [C] or [1, C], has {other:?}"),
    };
    let action = c.string("case_change_action", "NONE")?;
    let sensitive = c.int("is_case_sensitive", 0)? != 0;
    let locale = c.string("locale", "")?;
    if !matches!(
        locale.as_str(),
        "" | "C" | "en_US" | "en_US.UTF-8" | "en_US.utf8"
    ) {
        bail!("locale '{locale}' is not implemented");
    }
    let stops: Vec<String> = strings_attr(c, "stopwords")?
        .iter()
        .map(|b| utf8(b).map(str::to_string))
        .collect::<OpResult<_>>()?;
    let fold = |s: &str| s.to_lowercase();
    let mut out = Vec::new();
    for b in xv {
        let s = utf8(b)?;
        let stop = stops.iter().any(|w| {
            if sensitive {
                w == s
            } else {
                fold(w) == fold(s)
            }
        });
        if stop {
            continue;
        }
        let t = match action.as_str() {
            "NONE" => s.to_string(),
            "LOWER" => s.to_lowercase(),
            "UPPER" => s.to_uppercase(),
            other => bail!("unknown case_change_action '{other}'"),
        };
        out.push(t.into_bytes());
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    let shape = if two_d {
        vec![1, out.len()]
    } else {
        vec![out.len()]
    };
    Ok(Arr::strings(shape, out))
}

/// `RegexFullMatch(X)` with `pattern` (RE2 syntax): true where the whole string matches.
/// RE2's classes (`\w`, `\d`, `\s`, `\b`) are ASCII, as is matching here, so patterns and
/// strings beyond ASCII are refused rather than matched with other character semantics.
pub(crate) fn regex_full_match(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.string_values("X")?;
    let pattern = c.string("pattern", "")?;
    if !pattern.is_ascii() || xv.iter().any(|s| !s.is_ascii()) {
        bail!("only ASCII patterns and strings are implemented");
    }
    let re = regex::bytes::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .unicode(false)
        .build();
    let re = match re {
        Ok(r) => r,
        Err(e) => bail!("pattern '{pattern}' is not supported: {e}"),
    };
    let v = xv.iter().map(|s| re.is_match(s) as i64).collect();
    Ok(Arr::ints(DType::Bool, x.shape.clone(), v))
}
