//! Single-precision matrix products `C (+)= A·B` for lnopt's JIT.
//!
//! The right operand is packed once into column panels ([`PackedB`]): a model's weights at
//! compile time, a runtime operand once per product. The left operand is packed per
//! `KC × MC` block into row micro-panels, so the register-blocked micro-kernel reads both
//! operands as contiguous streams. Kernels exist for AVX-512 (12 rows × 32 columns),
//! AVX2/FMA (6 × 16) and a portable fallback (4 × 16); [`Isa::detect`] picks the widest the CPU
//! has. Threads are the caller's business: [`gemm`] computes the column panels it is given, so
//! disjoint panel ranges may run on different threads at once.

mod driver;
mod error;
mod isa;
mod kernels;
mod pack;

pub use driver::{gemm, gemm_blocked, MatMut, MatRef, Start};
pub use error::GemmError;
pub use isa::Isa;
pub use pack::{reach, PackedB};
