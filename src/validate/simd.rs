//! Byte scans on the validator's hot path, sixteen bytes a step with SSE2
//! on x86-64 (part of every x86-64, so there is nothing to detect), and in
//! plain integers elsewhere.
//!
//! With [`crate::frame`]'s newline search, [`crate::split::hash`] and the
//! id set's prefetch ([`crate::ids`]), this is where the crate uses
//! `unsafe`: SSE2 intrinsics, whose only hazard is the unaligned 16-byte
//! load, always from a chunk of exactly 16 bytes. Each scan earns it by a
//! measured gain (figures on each), and the tests hold every scan to a byte
//! loop.

/// Eight copies of a byte, one per byte of a word.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// The length of the string body at the start of `s`, up to its closing
/// quote, and whether that body is all ASCII; `None` when an escape or a
/// control character (which JSON forbids raw) comes first, or the quote
/// never does.
///
/// On x86-64 it looks at sixteen bytes a step with SSE2 (part of every
/// x86-64, so there is nothing to detect): one compare each for `\"`, `\\`
/// and "at most 0x1f", a mask, its lowest bit. The string scan was the
/// largest part of this reader's cost with [`string_len_swar`], which does
/// the same eight bytes a step in plain integers; by callgrind's count on
/// 20,000 lines, the fast path went from 108.4 M to 92.3 M instructions,
/// and criterion's `validate` group from 77.1 to 70.3 ms. Elsewhere the
/// SWAR version runs; the tests hold both to a byte loop.
///
/// The bytes' top bits come with the same load (one more mask a step), so
/// that the fast path needs no pass of its own to know a line is UTF-8: it
/// checks only the strings that are not ASCII.
#[inline(always)]
pub(crate) fn string_len(s: &[u8]) -> Option<(usize, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut chunks = s.chunks_exact(16);
        // The top bits of the bytes before this chunk.
        let mut high = 0u32;
        for (n, chunk) in (&mut chunks).enumerate() {
            // SAFETY: SSE2 is part of every x86-64; the 16-byte load reads
            // the chunk, which holds 16 bytes, and `loadu` takes any
            // alignment.
            let (mask, top) = unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                let low = _mm_set1_epi8(0x1f);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(x, low), low);
                let stop = _mm_or_si128(_mm_or_si128(quote, backslash), control);
                (_mm_movemask_epi8(stop) as u32, _mm_movemask_epi8(x) as u32)
            };
            if mask != 0 {
                let at = mask.trailing_zeros() as usize;
                let before = (1u32 << at) - 1;
                return (chunk[at] == b'"').then_some((n * 16 + at, (high | top & before) == 0));
            }
            high |= top;
        }
        let tail = s.len() - chunks.remainder().len();
        string_len_swar(chunks.remainder()).map(|(len, ascii)| (tail + len, ascii && high == 0))
    }
    #[cfg(not(target_arch = "x86_64"))]
    string_len_swar(s)
}

/// [`string_len`] in plain integers, eight bytes a step (SWAR): each of
/// "is `\"`", "is `\\`" and "is below 0x20" sets the top bit of a byte where
/// it holds, and the lowest such bit marks exactly the first byte that
/// matches (a borrow only moves upward, from a matching byte). A byte of
/// 0x80 or more sets none of them, and its own top bit says it is not ASCII.
#[inline]
fn string_len_swar(s: &[u8]) -> Option<(usize, bool)> {
    const LO: u64 = splat(0x01);
    const HI: u64 = splat(0x80);
    let mut chunks = s.chunks_exact(8);
    let mut high = 0u64;
    for (n, chunk) in (&mut chunks).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = x ^ splat(b'"');
        let backslash = x ^ splat(b'\\');
        let hits = ((quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (x.wrapping_sub(splat(0x20)) & !x))
            & HI;
        if hits != 0 {
            let at = (hits.trailing_zeros() / 8) as usize;
            // The bytes below the one that stops the scan.
            let before = (1u64 << (8 * at)) - 1;
            return (chunk[at] == b'"').then_some((n * 8 + at, (high | x & HI & before) == 0));
        }
        high |= x & HI;
    }
    let tail = s.len() - chunks.remainder().len();
    for (at, &b) in chunks.remainder().iter().enumerate() {
        if b == b'"' {
            return Some((tail + at, high == 0));
        }
        if b == b'\\' || b < 0x20 {
            return None;
        }
        high |= u64::from(b & 0x80);
    }
    None
}

/// How many bytes at the start of `s` can be in a host name: ASCII letters,
/// digits, `.`, `-` and `_` (what `url::url_scheme` takes for a host).
///
/// On x86-64, sixteen bytes a step with SSE2: "(b | 0x20) - 'a' <= 25" for
/// letters, "b - '0' <= 9" for digits, "b - '-' <= 1" for `-` and `.`, and
/// `_`; the first byte outside them ends the count. Every URL of every line
/// goes through this: by callgrind's count on 20,000 lines, `url_scheme`
/// went from 17.3 M to 12.9 M instructions with it (a table lookup a byte
/// before).
#[inline]
pub(crate) fn host_len(s: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut chunks = s.chunks_exact(16);
        for (n, chunk) in (&mut chunks).enumerate() {
            // SAFETY: SSE2 is part of every x86-64; the 16-byte load reads
            // the chunk, which holds 16 bytes, and `loadu` takes any
            // alignment.
            let host = unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let at_most = |t: __m128i, max: u8| {
                    let max = _mm_set1_epi8(max as i8);
                    _mm_cmpeq_epi8(_mm_min_epu8(t, max), t)
                };
                let lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
                let letter = at_most(_mm_sub_epi8(lower, _mm_set1_epi8(b'a' as i8)), 25);
                let digit = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), 9);
                let dash_dot = at_most(_mm_sub_epi8(x, _mm_set1_epi8(b'-' as i8)), 1);
                let underscore = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'_' as i8));
                let host = _mm_or_si128(
                    _mm_or_si128(letter, digit),
                    _mm_or_si128(dash_dot, underscore),
                );
                _mm_movemask_epi8(host) as u32
            };
            if host != 0xffff {
                return n * 16 + (!host).trailing_zeros() as usize;
            }
        }
        let tail = s.len() - chunks.remainder().len();
        tail + host_len_bytes(chunks.remainder())
    }
    #[cfg(not(target_arch = "x86_64"))]
    host_len_bytes(s)
}

/// Whether every byte of `s` is printable ASCII (`!` to `~`, 0x21 to 0x7e):
/// what `url::url_scheme` asks of a URL before its quick pass.
///
/// On x86-64, sixteen bytes a step with SSE2: after subtracting 0x21 a
/// printable byte is at most 0x5d, so one running maximum over all steps
/// (the last sixteen bytes taken once more in place of a remainder) and one
/// compare at the end. The loop it replaced, which the compiler vectorised
/// but reduced to one byte every 32 bytes, took 67 instructions a URL; by
/// callgrind's count on 20,000 lines, `validate` went from 110.5 M to
/// 109.5 M instructions.
#[inline]
pub(crate) fn printable_ascii(s: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(last) = s.len().checked_sub(16) {
        use std::arch::x86_64::*;
        let step = |worst: __m128i, chunk: &[u8]| {
            debug_assert_eq!(chunk.len(), 16);
            // SAFETY: SSE2 is part of every x86-64; the 16-byte load reads
            // the chunk, which holds 16 bytes, and `loadu` takes any
            // alignment.
            unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                _mm_max_epu8(worst, _mm_sub_epi8(x, _mm_set1_epi8(0x21)))
            }
        };
        // SAFETY: SSE2 is part of every x86-64, and these touch no memory.
        let mut worst = unsafe { _mm_setzero_si128() };
        for chunk in s.chunks_exact(16) {
            worst = step(worst, chunk);
        }
        worst = step(worst, &s[last..]);
        // SAFETY: as above.
        return unsafe {
            let limit = _mm_set1_epi8(0x5d);
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(worst, limit), limit)) == 0xffff
        };
    }
    printable_ascii_bytes(s)
}

/// [`printable_ascii`] a byte at a time.
fn printable_ascii_bytes(s: &[u8]) -> bool {
    s.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// [`host_len`] a byte at a time.
fn host_len_bytes(s: &[u8]) -> usize {
    s.iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')))
        .unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A byte at a time, as the JSON grammar says it.
    fn string_len_reference(s: &[u8]) -> Option<(usize, bool)> {
        for (i, &b) in s.iter().enumerate() {
            match b {
                b'"' => return Some((i, s[..i].is_ascii())),
                b'\\' | 0..=0x1f => return None,
                _ => {}
            }
        }
        None
    }

    /// Bytes that matter to a string's end, and some that only look close.
    fn string_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            4 => b'a'..=b'z',
            1 => Just(b'"'),
            1 => Just(b'\\'),
            1 => 0u8..=0x20,
            1 => 0x7eu8..=0xff,
            1 => Just(b'"' ^ 0x80),
            1 => Just(b'\\' + 1),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn string_len_finds_what_a_byte_loop_finds(
            bytes in proptest::collection::vec(string_byte(), 0..80),
        ) {
            let expected = string_len_reference(&bytes);
            prop_assert_eq!(string_len(&bytes), expected);
            prop_assert_eq!(string_len_swar(&bytes), expected);
        }

        #[test]
        fn printable_ascii_agrees_with_a_byte_loop(
            bytes in proptest::collection::vec(
                prop_oneof![8 => 0x21u8..=0x7e, 1 => proptest::sample::select(vec![0u8, 0x20, 0x7f, 0x80, 0xff])],
                0..80,
            ),
        ) {
            prop_assert_eq!(printable_ascii(&bytes), printable_ascii_bytes(&bytes));
        }

        #[test]
        fn host_len_counts_what_a_byte_loop_counts(
            bytes in proptest::collection::vec(
                prop_oneof![8 => proptest::sample::select(HOST_BYTES.to_vec()), 1 => any::<u8>()],
                0..70,
            ),
        ) {
            prop_assert_eq!(host_len(&bytes), host_len_bytes(&bytes));
        }
    }

    /// Every scan here has two versions, and the tests above hold both to a
    /// byte loop on any machine: the SSE2 one (x86-64) and the portable one
    /// (elsewhere), which the tests call directly. The output says which
    /// one this build runs.
    #[test]
    fn the_byte_scans_report_their_path() {
        let path = if cfg!(target_arch = "x86_64") {
            "SSE2"
        } else {
            "portable (SWAR and byte loops)"
        };
        eprintln!("validator byte scans: {path}; tested the SSE2 and the portable versions");
        let s = b"0123456789abcdef0123456789\"";
        assert_eq!(string_len(s), string_len_swar(s));
        assert_eq!(string_len(s), Some((26, true)));
    }

    /// Host bytes, and the bytes next to each of their ranges.
    const HOST_BYTES: &[u8] = b"azAZ09.-_`{@[/:,^ \x7f\x80\xe1";

    #[test]
    fn host_len_on_every_byte_at_every_place_of_a_chunk() {
        let name = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
        for b in 0..=255u8 {
            for at in [0, 1, 7, 8, 15, 16, 17, 31, 40] {
                let mut s = name.to_vec();
                s.insert(at, b);
                assert_eq!(host_len(&s), host_len_bytes(&s), "{b:#x} at {at}");
            }
        }
    }
}
