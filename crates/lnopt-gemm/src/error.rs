//! Errors of packing.

/// Why an operand could not be packed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GemmError {
    /// The strides address an element past the end of the buffer.
    #[error("a {rows}×{cols} matrix with strides ({rs}, {cs}) needs {need} elements, the buffer has {have}")]
    OutOfBounds {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// Row stride in elements.
        rs: usize,
        /// Column stride in elements.
        cs: usize,
        /// Elements the strides reach.
        need: usize,
        /// Elements in the buffer.
        have: usize,
    },
    /// The packed size does not fit in memory's address range.
    #[error("a {rows}×{cols} operand is too large to pack")]
    TooLarge {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// The instruction set was asked for but this CPU lacks it.
    #[error("this CPU cannot run the {0:?} kernels")]
    Unavailable(crate::Isa),
}
