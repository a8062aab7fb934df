//! Finding every `\n` of a buffer held in memory, 64 bytes at a time.
//!
//! [`Framer::frames`](super::Framer::frames) asks for each line's end in
//! turn. A `memchr` call per line restarts its vector loop at every line and
//! leaves the memory system idle between lines: on 64 MiB of records (about
//! 420 bytes a line) framing took 13 to 14 ms where a bare count of the `\n`s
//! took 9 to 11. [`Newlines`] instead compares 64 bytes at once into a bit
//! mask (AVX2 when the processor has it, SSE2 otherwise: every x86-64 has
//! it), hands out the set bits one by one, and asks the memory for the bytes
//! 4 KiB ahead of the ones it reads, so that they are on their way while the
//! lines before them are framed. Measured in one run (`benches/frame.rs` has
//! the criterion group; these figures are from a standalone loop): bare
//! positions 10.6 ms, with the prefetch 7.1 ms; line slices 13.3 ms, with it
//! 8.2 ms. Other architectures use `memchr` per line, as before.
//!
//! This is one of the crate's four places with `unsafe` (the others are
//! the validator's byte scans, `validate::simd`, the batch files' hashes,
//! `split::hash`, and the id set's prefetch, `ids`): vector loads from
//! a `&[u8; 64]` (always 64 readable bytes) and a prefetch hint (which never
//! faults, and is only given addresses inside the buffer).

/// How far ahead of the block being scanned the memory is asked for.
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 4096;

/// The instructions [`Newlines`] scans with, chosen once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// x86-64 with AVX2: two 32-byte compares a block.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Any x86-64: four 16-byte compares a block.
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// Elsewhere: `memchr` to the next `\n`, then its block's mask byte by byte.
    #[allow(dead_code)] // not built on x86-64 but by the tests
    Portable,
}

impl Level {
    /// The best level this process may use (see `crate::cpu`: with
    /// `SYNCBATCH_SIMD=portable`, the portable one).
    fn detect() -> Level {
        if crate::cpu::forced_portable() {
            return Level::Portable;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if crate::cpu::features().avx2 {
                Level::Avx2
            } else {
                Level::Sse2
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Level::Portable
        }
    }
}

/// The positions of the `\n`s of one buffer, in order, for a caller that
/// asks for the first one at or after a position that never goes back.
///
/// Holds the 64-byte block it stands in (its start is a multiple of 64) and
/// the mask of that block's `\n`s. Each byte is compared once however the
/// calls fall. The buffer must be the same on every call.
#[derive(Clone, Debug)]
pub(crate) struct Newlines {
    level: Level,
    /// Where the current block starts; `None` before the first call.
    block: Option<usize>,
    /// The current block's `\n`s, bit `i` for byte `block + i`.
    mask: u64,
}

impl Newlines {
    /// A scanner using the best instructions this processor has.
    pub(crate) fn new() -> Self {
        Self::with_level(Level::detect())
    }

    fn with_level(level: Level) -> Self {
        Newlines {
            level,
            block: None,
            mask: 0,
        }
    }

    /// The first `\n` of `data` at or after `from`, if any. Meant for a
    /// `from` that never goes back (one that does costs a block's rescan). Cost: the bytes from the last
    /// block looked at to the answer, 64 at a time.
    #[inline]
    pub(crate) fn next(&mut self, data: &[u8], from: usize) -> Option<usize> {
        let block = match self.block {
            Some(b) if (b..b + 64).contains(&from) => b,
            _ => {
                let b = from - from % 64;
                self.mask = mask_at(self.level, data, b);
                b
            }
        };
        // Bits before `from` are lines already taken.
        let mask = self.mask & (u64::MAX << (from - block));
        if mask != 0 {
            self.block = Some(block);
            self.mask = mask;
            return Some(block + mask.trailing_zeros() as usize);
        }
        let (block, mask) = scan(self.level, data, block + 64);
        self.block = Some(block);
        self.mask = mask;
        (mask != 0).then(|| block + mask.trailing_zeros() as usize)
    }
}

/// The first block at or after `block` (a multiple of 64) that holds a
/// `\n`, with its mask; past the end of `data` and 0 when there is none.
#[inline]
fn scan(level: Level, data: &[u8], block: usize) -> (usize, u64) {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx2` is only chosen when the processor has AVX2, all
        // that `scan_avx2`'s `#[target_feature]` asks of a caller.
        Level::Avx2 => unsafe { x86::scan_avx2(data, block) },
        #[cfg(target_arch = "x86_64")]
        Level::Sse2 => x86::scan_sse2(data, block),
        Level::Portable => match memchr::memchr(b'\n', data.get(block..).unwrap_or_default()) {
            None => (data.len().max(block), 0),
            Some(i) => {
                let at = block + i;
                let start = at - at % 64;
                (start, portable_mask(data, start))
            }
        },
    }
}

/// The mask of the block starting at `block`, however short.
fn mask_at(level: Level, data: &[u8], block: usize) -> u64 {
    match (level, block_at(data, block)) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx2` is only chosen when the processor has AVX2, all
        // that `mask_avx2`'s `#[target_feature]` asks of a caller.
        (Level::Avx2, Some(b)) => unsafe { x86::mask_avx2(b) },
        #[cfg(target_arch = "x86_64")]
        (Level::Sse2, Some(b)) => x86::mask_sse2(b),
        _ => portable_mask(data, block),
    }
}

/// The 64 bytes at `block`, when they are all there.
#[inline]
fn block_at(data: &[u8], block: usize) -> Option<&[u8; 64]> {
    data.get(block..block.checked_add(64)?)?.try_into().ok()
}

/// The mask of up to 64 bytes from `block`, a byte at a time: the end of a
/// buffer, and other architectures.
fn portable_mask(data: &[u8], block: usize) -> u64 {
    let bytes = data.get(block..).unwrap_or_default();
    bytes
        .iter()
        .take(64)
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(b == b'\n') << i))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_set1_epi8, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_prefetch,
        _mm_set1_epi8, _MM_HINT_T0,
    };

    use super::{block_at, portable_mask, PREFETCH_AHEAD};

    /// Asks for the cache line at `data[at]`, if there is one.
    #[inline(always)]
    fn prefetch(data: &[u8], at: usize) {
        if let Some(byte) = data.get(at) {
            // SAFETY: a prefetch is a hint; it reads nothing and never
            // faults, and the address is inside `data` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((byte as *const u8).cast()) }
        }
    }

    /// The `\n`s of a block, two 32-byte compares. Callers make sure the
    /// processor has AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn mask_avx2(block: &[u8; 64]) -> u64 {
        let newline = _mm256_set1_epi8(b'\n' as i8);
        let p = block.as_ptr();
        // SAFETY: both 32-byte loads are inside the 64-byte block, and
        // `loadu` takes any alignment.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(p.cast::<__m256i>()),
                _mm256_loadu_si256(p.add(32).cast::<__m256i>()),
            )
        };
        let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, newline)) as u32;
        let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, newline)) as u32;
        u64::from(lo) | u64::from(hi) << 32
    }

    /// The first block from `block` on that holds a `\n`, and its mask.
    /// Callers make sure the processor has AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn scan_avx2(data: &[u8], mut block: usize) -> (usize, u64) {
        while let Some(bytes) = block_at(data, block) {
            prefetch(data, block + PREFETCH_AHEAD);
            let mask = mask_avx2(bytes);
            if mask != 0 {
                return (block, mask);
            }
            block += 64;
        }
        (block, portable_mask(data, block))
    }

    pub(super) fn mask_sse2(block: &[u8; 64]) -> u64 {
        let mut mask = 0;
        for (i, chunk) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is part of every x86-64; the 16-byte load is
            // inside the block, and `loadu` takes any alignment.
            let bits = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u16
            };
            mask |= u64::from(bits) << (16 * i);
        }
        mask
    }

    pub(super) fn scan_sse2(data: &[u8], mut block: usize) -> (usize, u64) {
        while let Some(bytes) = block_at(data, block) {
            prefetch(data, block + PREFETCH_AHEAD);
            let mask = mask_sse2(bytes);
            if mask != 0 {
                return (block, mask);
            }
            block += 64;
        }
        (block, portable_mask(data, block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every level this processor can run: the portable one everywhere,
    /// SSE2 on any x86-64, AVX2 where the processor has it.
    fn levels() -> Vec<Level> {
        let mut v = vec![Level::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Level::Sse2);
            if crate::cpu::detected().avx2 {
                v.push(Level::Avx2);
            }
        }
        v
    }

    /// The level the framer uses is the best this processor has, or the
    /// portable one when `SYNCBATCH_SIMD=portable`; the output says which
    /// levels the tests ran here.
    #[test]
    fn the_scan_uses_the_best_level_the_process_may() {
        let chosen = Newlines::new().level;
        let want = if crate::cpu::forced_portable() {
            Level::Portable
        } else {
            *levels().last().unwrap()
        };
        assert_eq!(chosen, want);
        eprintln!("newline scan: uses {chosen:?}; tested {:?}", levels());
    }

    /// Every `\n` at or after each `from`, asked in order, against a plain
    /// search from `from`.
    fn check(data: &[u8], froms: &[usize]) {
        for level in levels() {
            let mut n = Newlines::with_level(level);
            for &from in froms {
                let want = data
                    .get(from..)
                    .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                    .map(|i| from + i);
                assert_eq!(n.next(data, from), want, "{level:?} from {from}");
            }
        }
    }

    #[test]
    fn every_line_end_in_turn() {
        let mut data = vec![b'x'; 300];
        for i in [0, 5, 63, 64, 65, 127, 128, 200, 255, 256, 299] {
            data[i] = b'\n';
        }
        let mut froms = vec![0];
        let mut n = Newlines::new();
        while let Some(i) = n.next(&data, *froms.last().unwrap()) {
            froms.push(i + 1);
        }
        assert_eq!(froms.len(), 12, "{froms:?}");
        check(&data, &froms);
        check(b"", &[0, 0]);
        check(
            b"no newline at all, and longer than sixty-four bytes of text in all",
            &[0, 3],
        );
    }

    proptest! {
        #[test]
        fn agrees_with_a_plain_search(
            data in proptest::collection::vec(prop_oneof![1 => Just(b'\n'), 20 => Just(b'a'), 4 => any::<u8>()], 0..600),
            mut froms in proptest::collection::vec(0usize..700, 0..40),
        ) {
            froms.sort_unstable();
            check(&data, &froms);
        }
    }
}
