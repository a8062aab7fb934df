//! A compact set of request ids, for uniqueness over millions of records.
//!
//! Each id is kept as 96 bits of its XXH3-128 hash and the line it was first
//! seen on (saturated at `u32::MAX`): 16 bytes per entry, 17 with the table's
//! control byte, so 19 to 36 bytes per id with the table's slack (and up to 1.5
//! times that while the table grows), whatever the id's length. Two different
//! ids collide with probability about `n² / 2⁹⁷`: for ten million ids, below
//! 10⁻¹⁵.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// 96 bits of a request id's hash, as words of 4 bytes so that an entry
/// (key and line) packs into 16. Its low 64 bits are a good table hash.
/// Computed by [`IdSet::hash`], on any thread, for [`IdSet::insert_hash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdKey([u32; 3]);

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.0[0]) | u64::from(self.0[1]) << 32);
    }
}

/// Hands the table the low word of an [`IdKey`] unchanged.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("IdKey hashes one u64");
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of request ids with the line each was first seen on.
///
/// ```
/// use syncbatch::ids::IdSet;
///
/// let mut ids = IdSet::new();
/// assert_eq!(ids.insert("req-1", 3), None);
/// assert_eq!(ids.insert("req-1", 9), Some(3)); // a duplicate: first seen on line 3
/// assert_eq!(ids.len(), 1);
/// ```
#[derive(Default)]
pub struct IdSet {
    map: HashMap<IdKey, u32, BuildHasherDefault<PassThrough>>,
}

impl IdSet {
    /// An empty set. Allocates nothing until the first insert.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash an id is kept as. `O(len(id))`; needs no set, so it can run
    /// on another thread than the inserts.
    pub fn hash(id: &str) -> IdKey {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        IdKey([h as u32, (h >> 32) as u32, (h >> 64) as u32])
    }

    /// [`IdSet::hash`] and 32 more bits of the same 128-bit hash, for a
    /// caller that keeps them beside its own entries to confirm a match
    /// without the id's text (128 bits in all).
    pub fn hash_and_check(id: &str) -> (IdKey, u32) {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        (
            IdKey([h as u32, (h >> 32) as u32, (h >> 64) as u32]),
            (h >> 96) as u32,
        )
    }

    fn key(id: &str) -> IdKey {
        Self::hash(id)
    }

    /// Adds `id`, first seen on `line`. Returns `None` when it is new, or the
    /// line it was first seen on (lines past `u32::MAX` are kept as that).
    /// `O(len(id))` to hash, `O(1)` amortised to insert.
    pub fn insert(&mut self, id: &str, line: u64) -> Option<u64> {
        self.insert_hash(Self::key(id), line)
    }

    /// [`IdSet::insert`] with the hash already computed by [`IdSet::hash`].
    /// `O(1)` amortised.
    pub fn insert_hash(&mut self, key: IdKey, line: u64) -> Option<u64> {
        match self.map.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => Some(u64::from(*e.get())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(u32::try_from(line).unwrap_or(u32::MAX));
                None
            }
        }
    }

    /// The line `key` was first seen on, if it is in the set. `O(1)`.
    pub fn get_hash(&self, key: IdKey) -> Option<u64> {
        self.map.get(&key).map(|&line| u64::from(line))
    }

    /// Whether `id` is in the set. `O(len(id))`.
    pub fn contains(&self, id: &str) -> bool {
        self.map.contains_key(&Self::key(id))
    }

    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_distinct_ids_never_collide() {
        let mut ids = IdSet::new();
        for i in 0..200_000u64 {
            assert_eq!(ids.insert(&format!("req-{i}"), i), None);
        }
        for i in 0..200_000u64 {
            assert!(ids.contains(&format!("req-{i}")));
        }
        assert!(!ids.contains("req-200000"));
        assert_eq!(ids.insert("req-77", 1), Some(77));
    }
}
