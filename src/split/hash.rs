//! SHA-256 of many batch files at once, for the manifest.
//!
//! One message's SHA-256 is a chain of 64 rounds a block, each needing the
//! last. The `sha2` crate runs it with the x86 SHA extensions at 1.32 GB/s
//! on the benchmark machine (as `openssl speed` does), and it was 17% of
//! `split`'s CPU time. A batch split writes thousands of files, though, and
//! their hashes do not depend on each other: with AVX-512, [`sha256_many`]
//! runs sixteen of them side by side, one message in each 32-bit lane of a
//! 512-bit register. It checks for AVX-512 at run time; without it, or for
//! a group of fewer than [`LANES`] messages, each message goes to `sha2`.
//!
//! The rounds are FIPS 180-4's, written with AVX-512's three-input logic
//! (`vpternlogd`) and rotates. The tests compare every result with `sha2`,
//! and so does the `split` fuzz target.
//!
//! This is one of the crate's four places with `unsafe` (with
//! [`crate::frame`]'s newline search, the validator's byte scans and the id
//! set's prefetch): the
//! call of the AVX-512 function after the CPU was checked for it, and
//! unaligned 64-byte loads and stores from blocks and arrays that the
//! references cover. It pays about 1.7x over `sha2` one file after another
//! (criterion group `sha256`, sixteen files of about 212 kB; figures in
//! `docs/performance.md`).

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// How many messages the AVX-512 path hashes side by side.
pub const LANES: usize = 16;

/// The SHA-256 of each message, in order. `O(total length)`: on CPUs with
/// AVX-512 (detected at run time), each group of [`LANES`] messages of
/// similar length goes through at about 2.3 GB/s in all on the benchmark
/// machine, against 1.3 GB/s for `sha2` with the SHA extensions; what a
/// message has beyond the shortest of its group, groups of fewer than
/// [`LANES`], and everything on other CPUs go through `sha2`.
///
/// ```
/// use syncbatch::internals::sha256_many;
///
/// let files: Vec<Vec<u8>> = (0..20).map(|i| vec![b'x'; i * 100]).collect();
/// let slices: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
/// let hashes = sha256_many(&slices);
/// assert_eq!(hashes.len(), 20);
/// assert_eq!(hashes[0][..4], [0xe3, 0xb0, 0xc4, 0x42]); // SHA-256 of nothing
/// ```
pub fn sha256_many(messages: &[&[u8]]) -> Vec<Hash> {
    sha256_many_with(messages, crate::cpu::features().avx512)
}

/// [`sha256_many`], side by side only when `wide` (which needs AVX-512F and
/// AVX-512BW), else one message at a time with `sha2`.
fn sha256_many_with(messages: &[&[u8]], wide: bool) -> Vec<Hash> {
    let mut out = Vec::with_capacity(messages.len());
    for group in messages.chunks(LANES) {
        #[cfg(target_arch = "x86_64")]
        if let (Ok(group), true) = (group.try_into(), wide) {
            out.extend(wide::sha256_x16(group));
            continue;
        }
        out.extend(group.iter().map(|m| sha256(m)));
    }
    let _ = wide;
    out
}

/// A digest in lowercase hex, as the manifest writes it.
pub fn to_hex(hash: &Hash) -> String {
    // The same formatting as `split::sha256_hex`'s, from the digest type.
    format!("{:x}", sha2::digest::Output::<Sha256>::from(*hash))
}

/// The SHA-256 of one message, with the `sha2` crate: what
/// [`sha256_many`] must match.
pub fn sha256(message: &[u8]) -> Hash {
    Sha256::digest(message).into()
}

/// FIPS 180-4's initial hash value.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Hashes `message[done..]` into `state` (which holds `message[..done]`,
/// whole blocks) with `sha2`'s compression function, pads, and gives the
/// digest.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn finish(mut state: [u32; 8], message: &[u8], done: usize) -> Hash {
    use sha2::digest::generic_array::GenericArray;
    let rest = &message[done..];
    let whole = rest.len() / 64 * 64;
    let mut compress = |block: &[u8]| {
        sha2::compress256(
            &mut state,
            std::slice::from_ref(GenericArray::from_slice(block)),
        );
    };
    rest[..whole].chunks_exact(64).for_each(&mut compress);
    // The tail, 0x80, zeros, and the length in bits: one block or two.
    let tail = &rest[whole..];
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let end = if tail.len() < 56 { 64 } else { 128 };
    let bits = (message.len() as u64).wrapping_mul(8);
    last[end - 8..end].copy_from_slice(&bits.to_be_bytes());
    last[..end].chunks_exact(64).for_each(&mut compress);
    let mut hash = [0u8; 32];
    for (out, word) in hash.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    hash
}

#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    use super::{finish, Hash, H0, LANES};

    /// FIPS 180-4's round constants.
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// The sixteen hashes: the whole blocks all messages have, side by side,
    /// then the rest of each message (what it has beyond the shortest, and
    /// its padding) alone. Callers make sure the processor has AVX-512F and
    /// AVX-512BW (it panics otherwise).
    pub fn sha256_x16(messages: &[&[u8]; LANES]) -> [Hash; LANES] {
        assert!(
            crate::cpu::detected().avx512,
            "sha256_x16 needs AVX-512F and AVX-512BW"
        );
        let common = messages.iter().map(|m| m.len()).min().unwrap_or(0) / 64;
        let mut states = [H0; LANES];
        // SAFETY: the CPU has both features `compress_x16` enables, checked
        // just above; that is all `#[target_feature]` asks of a caller.
        unsafe { compress_x16(&mut states, messages, common) };
        std::array::from_fn(|m| finish(states[m], messages[m], common * 64))
    }

    /// Runs `blocks` 64-byte blocks of each message into its state, message
    /// `m` in lane `m` of each register.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn compress_x16(states: &mut [[u32; 8]; LANES], messages: &[&[u8]; LANES], blocks: usize) {
        // Word `r` of every lane's state, one register a word.
        let mut state: [__m512i; 8] =
            std::array::from_fn(|r| from_lanes(&std::array::from_fn(|m| states[m][r] as i32)));
        // Byte order within each 32-bit word: the message is big-endian.
        let swap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
        let mut w = [_mm512_setzero_si512(); 64];
        for j in 0..blocks {
            let rows: [__m512i; LANES] = std::array::from_fn(|m| {
                let block: &[u8; 64] = messages[m][64 * j..64 * j + 64]
                    .try_into()
                    .expect("a block is 64 bytes");
                // SAFETY: an unaligned load of the block's 64 bytes, all of
                // which the reference covers.
                let row = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
                _mm512_shuffle_epi8(row, swap)
            });
            w[..16].copy_from_slice(&transpose(rows));
            for t in 16..64 {
                // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]
                let (w15, w2) = (w[t - 15], w[t - 2]);
                let s0 = xor3(
                    _mm512_ror_epi32::<7>(w15),
                    _mm512_ror_epi32::<18>(w15),
                    _mm512_srli_epi32::<3>(w15),
                );
                let s1 = xor3(
                    _mm512_ror_epi32::<17>(w2),
                    _mm512_ror_epi32::<19>(w2),
                    _mm512_srli_epi32::<10>(w2),
                );
                w[t] = _mm512_add_epi32(
                    _mm512_add_epi32(s0, s1),
                    _mm512_add_epi32(w[t - 16], w[t - 7]),
                );
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
            // One round, in place: `d` becomes the new `e` and `h` the new
            // `a`, so the next round names the eight words one place on.
            macro_rules! round {
                ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $t:expr) => {{
                    let sigma1 = xor3(
                        _mm512_ror_epi32::<6>($e),
                        _mm512_ror_epi32::<11>($e),
                        _mm512_ror_epi32::<25>($e),
                    );
                    // Ch(e, f, g) = e ? f : g; Maj(a, b, c) = a + b + c >= 2.
                    let ch = _mm512_ternarylogic_epi32::<0xCA>($e, $f, $g);
                    let kw = _mm512_add_epi32(w[$t], _mm512_set1_epi32(K[$t] as i32));
                    let t1 =
                        _mm512_add_epi32(_mm512_add_epi32($h, sigma1), _mm512_add_epi32(ch, kw));
                    let sigma0 = xor3(
                        _mm512_ror_epi32::<2>($a),
                        _mm512_ror_epi32::<13>($a),
                        _mm512_ror_epi32::<22>($a),
                    );
                    let maj = _mm512_ternarylogic_epi32::<0xE8>($a, $b, $c);
                    $d = _mm512_add_epi32($d, t1);
                    $h = _mm512_add_epi32(t1, _mm512_add_epi32(sigma0, maj));
                }};
            }
            for t in (0..64).step_by(8) {
                round!(a, b, c, d, e, f, g, h, t);
                round!(h, a, b, c, d, e, f, g, t + 1);
                round!(g, h, a, b, c, d, e, f, t + 2);
                round!(f, g, h, a, b, c, d, e, t + 3);
                round!(e, f, g, h, a, b, c, d, t + 4);
                round!(d, e, f, g, h, a, b, c, t + 5);
                round!(c, d, e, f, g, h, a, b, t + 6);
                round!(b, c, d, e, f, g, h, a, t + 7);
            }
            for (s, x) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                *s = _mm512_add_epi32(*s, x);
            }
        }
        for (r, word) in state.into_iter().enumerate() {
            for (m, lane) in to_lanes(word).into_iter().enumerate() {
                states[m][r] = lane as u32;
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi32::<0x96>(a, b, c)
    }

    #[target_feature(enable = "avx512f")]
    fn from_lanes(lanes: &[i32; 16]) -> __m512i {
        // SAFETY: an unaligned load of the array's 64 bytes.
        unsafe { _mm512_loadu_si512(lanes.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx512f")]
    fn to_lanes(v: __m512i) -> [i32; 16] {
        let mut lanes = [0i32; 16];
        // SAFETY: an unaligned store of the array's 64 bytes.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
        lanes
    }

    /// Sixteen rows of sixteen words (row `m`: lane `m`'s block) into
    /// sixteen columns (column `i`: word `i` of every lane).
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m512i; 16]) -> [__m512i; 16] {
        // Words of row pairs interleaved, then pairs of words of row
        // quadruples: `u[4q + k]` holds, in its 128-bit quarter `Q`, word
        // `4Q + k` of rows `4q..4q + 4`.
        let mut t = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_si512(); 16];
        for q in 0..4 {
            u[4 * q] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
            u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
            u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
            u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
        }
        // Then the quarters: column `4Q + k` gathers quarter `Q` of
        // `u[k]`, `u[4 + k]`, `u[8 + k]` and `u[12 + k]`.
        let mut v = [_mm512_setzero_si512(); 16];
        for k in 0..4 {
            let low01 = _mm512_shuffle_i32x4::<0x44>(u[k], u[4 + k]);
            let high01 = _mm512_shuffle_i32x4::<0xEE>(u[k], u[4 + k]);
            let low23 = _mm512_shuffle_i32x4::<0x44>(u[8 + k], u[12 + k]);
            let high23 = _mm512_shuffle_i32x4::<0xEE>(u[8 + k], u[12 + k]);
            v[k] = _mm512_shuffle_i32x4::<0x88>(low01, low23);
            v[4 + k] = _mm512_shuffle_i32x4::<0xDD>(low01, low23);
            v[8 + k] = _mm512_shuffle_i32x4::<0x88>(high01, high23);
            v[12 + k] = _mm512_shuffle_i32x4::<0xDD>(high01, high23);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the `sha2` crate.
    fn sha2_of(m: &[u8]) -> Hash {
        use sha2::Digest;
        sha2::Sha256::digest(m).into()
    }

    fn hex(h: Hash) -> String {
        let hex = to_hex(&h);
        assert_eq!(
            hex,
            h.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        hex
    }

    /// FIPS 180-2's examples, in several lanes of a full group.
    #[test]
    fn known_answers() {
        let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let mut messages: Vec<&[u8]> = vec![b"abc"; LANES];
        messages[5] = b"";
        messages[15] = two_blocks;
        let want = [
            (
                0,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                5,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                15,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for wide in paths() {
            let hashes = sha256_many_with(&messages, wide);
            for (lane, hash) in want {
                assert_eq!(hex(hashes[lane]), hash, "lane {lane}, wide {wide}");
            }
        }
    }

    /// The finishing step alone, from the initial state: `sha2` for every
    /// length around the padding's edges.
    #[test]
    fn finish_pads_as_sha2() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..=300 {
            assert_eq!(finish(H0, &data[..n], 0), sha256(&data[..n]), "length {n}");
        }
    }

    /// The paths this processor can run: one message at a time everywhere,
    /// sixteen side by side where it has AVX-512.
    fn paths() -> Vec<bool> {
        let mut paths = vec![false];
        if cfg!(target_arch = "x86_64") && crate::cpu::detected().avx512 {
            paths.push(true);
        }
        paths
    }

    /// `sha256_many` takes the side-by-side path exactly where the process
    /// may (the processor has AVX-512 and `SYNCBATCH_SIMD` is not
    /// `portable`); the output says which paths the tests ran here.
    #[test]
    fn the_hash_uses_the_widest_path_the_process_may() {
        let wide = crate::cpu::features().avx512;
        assert_eq!(
            wide,
            !crate::cpu::forced_portable() && paths().contains(&true)
        );
        eprintln!(
            "sha256_many: {}; tested {}",
            if wide {
                "AVX-512, sixteen side by side"
            } else {
                "sha2, one at a time"
            },
            if paths().contains(&true) {
                "both paths"
            } else {
                "the sha2 path only: this processor has no AVX-512"
            }
        );
    }

    /// Groups where every lane has many whole blocks in common, of equal
    /// and of different lengths, and groups short of sixteen, on every path.
    #[test]
    fn long_messages_agree_with_sha2() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
        for step in [0, 1, 63, 64, 1000] {
            for count in [LANES, LANES + 3, 7] {
                let messages: Vec<&[u8]> = (0..count)
                    .map(|m| &data[m * 311..m * 311 + 200_000 + m * step])
                    .collect();
                let want: Vec<Hash> = messages.iter().map(|m| sha2_of(m)).collect();
                for wide in paths() {
                    assert_eq!(
                        sha256_many_with(&messages, wide),
                        want,
                        "step {step}, {count} messages, wide {wide}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        /// Any messages, of lengths up to a few thousand bytes: in groups of
        /// sixteen (and a rest), every hash is `sha2`'s.
        #[test]
        fn agrees_with_sha2(
            messages in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
                0..40,
            ),
        ) {
            let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let want: Vec<Hash> = slices.iter().map(|m| sha2_of(m)).collect();
            for wide in paths() {
                proptest::prop_assert_eq!(&sha256_many_with(&slices, wide), &want);
            }
        }
    }
}
