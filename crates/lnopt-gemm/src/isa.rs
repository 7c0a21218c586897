//! Which micro-kernel family a product runs with.

use std::sync::OnceLock;

/// An instruction-set family with its own micro-kernel and panel width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F: 12 rows × 32 columns per tile.
    Avx512,
    /// AVX2 with FMA: 6 rows × 16 columns per tile.
    Avx2Fma,
    /// Plain Rust the compiler vectorises for the baseline target: 4 rows × 16 columns.
    Portable,
}

impl Isa {
    /// The widest family this CPU runs (detected once). `LNOPT_GEMM_ISA=avx2|portable` picks a
    /// narrower one, for measurements; a family the CPU lacks is ignored.
    pub fn detect() -> Isa {
        static PICK: OnceLock<Isa> = OnceLock::new();
        *PICK.get_or_init(|| {
            let wanted = match std::env::var("LNOPT_GEMM_ISA").as_deref() {
                Ok("avx2") => Some(Isa::Avx2Fma),
                Ok("portable") => Some(Isa::Portable),
                _ => None,
            };
            match wanted {
                Some(isa) if isa.available() => isa,
                _ => [Isa::Avx512, Isa::Avx2Fma]
                    .into_iter()
                    .find(|i| i.available())
                    .unwrap_or(Isa::Portable),
            }
        })
    }

    /// Whether this CPU can run the family's kernels.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every family this CPU runs, widest first.
    pub fn all_available() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2Fma, Isa::Portable]
            .into_iter()
            .filter(|i| i.available())
            .collect()
    }

    /// Rows of a micro-tile.
    pub const fn mr(self) -> usize {
        match self {
            Isa::Avx512 => 12,
            Isa::Avx2Fma => 6,
            Isa::Portable => 4,
        }
    }

    /// Columns of a micro-tile, which is also the width of a packed panel.
    pub const fn nr(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2Fma | Isa::Portable => 16,
        }
    }
}
