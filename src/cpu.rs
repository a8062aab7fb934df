//! Which vector instructions the fast paths use, chosen once per process:
//! the best the processor has, unless the environment variable
//! `SYNCBATCH_SIMD` is `portable`, which makes every routine that picks
//! its instructions at run time take its portable fallback (for tests, and
//! to compare the two on one machine). The SSE2 scans of `validate::simd`
//! need no choice (SSE2 is part of every x86-64); their tests hold both
//! versions to a byte loop on any machine.

use std::sync::OnceLock;

/// What this process may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Features {
    /// AVX2: the newline scan, 32 bytes a compare.
    pub(crate) avx2: bool,
    /// AVX-512F and AVX-512BW: sixteen SHA-256 hashes side by side.
    pub(crate) avx512: bool,
}

/// Whether the portable fallbacks are forced.
pub(crate) fn forced_portable() -> bool {
    std::env::var_os("SYNCBATCH_SIMD").is_some_and(|v| v == "portable")
}

/// What the processor has, less what the environment turns off.
pub(crate) fn features() -> Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    *FEATURES.get_or_init(|| {
        if forced_portable() {
            return Features {
                avx2: false,
                avx512: false,
            };
        }
        detected()
    })
}

/// What the processor has.
pub(crate) fn detected() -> Features {
    #[cfg(target_arch = "x86_64")]
    {
        Features {
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            avx512: std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Features {
            avx2: false,
            avx512: false,
        }
    }
}
