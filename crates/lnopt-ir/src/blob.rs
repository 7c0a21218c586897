//! [`Blob`]: the shared, immutable bytes of a constant tensor.
//!
//! A blob is either owned memory or a window on a read-only file mapping (external data). A
//! mapped blob costs no memory until its bytes are read, and remembers which file range it
//! came from ([`BlobOrigin`]), so a writer can copy that range file to file without reading it
//! and can tell that the bytes are unchanged. Cloning a blob never copies its bytes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes that stay valid and unchanged while any [`Blob`] refers to them.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// An open external-data file that mapped blobs were read from.
#[derive(Debug)]
pub struct SourceFile {
    /// Canonical path of the file when it was opened.
    pub path: PathBuf,
    /// The open file (kept open, so the data stays reachable even if the path is replaced).
    pub file: std::fs::File,
}

/// Where a mapped blob's bytes live in their file.
#[derive(Clone, Debug)]
pub struct BlobOrigin {
    /// The file.
    pub source: Arc<SourceFile>,
    /// Byte offset of the blob in the file.
    pub offset: u64,
}

impl BlobOrigin {
    /// The file's canonical path.
    pub fn path(&self) -> &Path {
        &self.source.path
    }
}

/// Shared immutable bytes: owned, or a range of a mapped file. One pointer wide.
#[derive(Clone)]
pub struct Blob(Arc<Window>);

/// What a [`Blob`] points at.
struct Window {
    store: SharedBytes,
    start: usize,
    len: usize,
    origin: Option<BlobOrigin>,
}

impl Blob {
    /// A blob over `len` bytes of `store` from `start`, read from `origin`; `None` when the
    /// range is not inside `store`.
    pub fn mapped(
        store: SharedBytes,
        start: usize,
        len: usize,
        origin: BlobOrigin,
    ) -> Option<Blob> {
        let end = start.checked_add(len)?;
        if end > (*store).as_ref().len() {
            return None;
        }
        Some(Blob(Arc::new(Window {
            store,
            start,
            len,
            origin: Some(origin),
        })))
    }

    /// The file range the bytes come from, for a blob of external data that nothing has
    /// replaced since import.
    pub fn origin(&self) -> Option<&BlobOrigin> {
        self.0.origin.as_ref()
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let w = &*self.0;
        &(*w.store).as_ref()[w.start..w.start + w.len]
    }

    /// Whether both blobs are the same window on the same storage (equal without reading).
    fn same_window(&self, other: &Blob) -> bool {
        let (a, b) = (&*self.0, &*other.0);
        std::ptr::addr_eq(Arc::as_ptr(&a.store), Arc::as_ptr(&b.store))
            && a.start == b.start
            && a.len == b.len
    }
}

impl Blob {
    /// A blob over all of `store`, with no file origin: bytes another owner already holds
    /// (a runtime's output buffer, say) become a tensor's data without a copy.
    pub fn from_shared(store: SharedBytes) -> Blob {
        let len = (*store).as_ref().len();
        Blob(Arc::new(Window {
            store,
            start: 0,
            len,
            origin: None,
        }))
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob::from_shared(Arc::new(v))
    }
}

impl From<&[u8]> for Blob {
    fn from(v: &[u8]) -> Blob {
        Blob::from(v.to_vec())
    }
}

impl From<Arc<[u8]>> for Blob {
    fn from(v: Arc<[u8]>) -> Blob {
        Blob::from_shared(Arc::new(v))
    }
}

impl FromIterator<u8> for Blob {
    fn from_iter<I: IntoIterator<Item = u8>>(it: I) -> Blob {
        Blob::from(it.into_iter().collect::<Vec<u8>>())
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        self.same_window(other) || self.as_slice() == other.as_slice()
    }
}

/// Prints the size and origin only: printing a tensor must not read gigabytes of weights.
impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.origin {
            Some(o) => write!(
                f,
                "Blob({} bytes at {} of '{}')",
                self.0.len,
                o.offset,
                o.path().display()
            ),
            None => write!(f, "Blob({} bytes)", self.0.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_their_range_and_compare_by_content() {
        let store: SharedBytes = Arc::new((0u8..16).collect::<Vec<u8>>());
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let origin = BlobOrigin {
            source: Arc::new(SourceFile {
                path: PathBuf::from("x"),
                file,
            }),
            offset: 4,
        };
        let b = Blob::mapped(store.clone(), 4, 3, origin.clone()).unwrap();
        assert_eq!(&b[..], &[4, 5, 6]);
        assert_eq!(b, Blob::from(vec![4u8, 5, 6]));
        assert_ne!(b, Blob::from(vec![4u8, 5, 7]));
        assert!(Blob::mapped(store, 14, 3, origin).is_none());
        assert!(b.origin().is_some());
        assert!(Blob::from(vec![1u8]).origin().is_none());
    }
}
