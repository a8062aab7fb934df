//! A compact set of request ids, for uniqueness over millions of records.
//!
//! Each id is kept as 96 bits of its XXH3-128 hash and the line it was first
//! seen on (saturated at `u32::MAX - 1`): 16 bytes per entry in an
//! open-addressing table (linear probing, at most three quarters full), so
//! 21 to 43 bytes per id with the table's slack, and up to 1.5 times that
//! while it doubles, whatever the id's length. Two different ids collide with
//! probability about `n² / 2⁹⁷`: for ten million ids, below 10⁻¹⁵.
//!
//! Inserting is one random access into a table of tens of megabytes, so it
//! costs a cache miss; on Linux a large table asks for transparent huge pages
//! (`madvise`), which spares most of the TLB misses on top of it.

/// 96 bits of a request id's hash, as words of 4 bytes so that an entry
/// (key and line) packs into 16. Its low 64 bits are a good table hash.
/// Computed by [`IdSet::hash`], on any thread, for [`IdSet::insert_hash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdKey([u32; 3]);

impl IdKey {
    fn bytes(self) -> [u8; 12] {
        let mut b = [0; 12];
        for (out, word) in b.chunks_exact_mut(4).zip(self.0) {
            out.copy_from_slice(&word.to_le_bytes());
        }
        b
    }

    fn slot(self, mask: usize) -> usize {
        (u64::from(self.0[0]) | u64::from(self.0[1]) << 32) as usize & mask
    }
}

/// Bytes per entry: the key's 12 and the line's 4 (stored plus one: 0 marks
/// an empty slot).
pub(crate) const ENTRY: usize = 16;
/// Tables of at least this many bytes are mapped on their own, and on Linux
/// asked for huge pages.
const MAPPED_FROM: usize = 1 << 20;

/// The table's zeroed bytes: on the heap while small, mapped when large.
enum Store {
    Heap(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

impl Store {
    fn zeroed(len: usize) -> Store {
        Self::mapped(len).unwrap_or_else(|| Store::Heap(vec![0; len]))
    }

    /// A large table mapped on its own; `None` for a small one, or when the
    /// system has no room for it.
    fn mapped(len: usize) -> Option<Store> {
        if len < MAPPED_FROM {
            return None;
        }
        let map = memmap2::MmapMut::map_anon(len).ok()?;
        // Only advice: without huge pages the table works the same.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Some(Store::Mapped(map))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Store::Heap(v) => v,
            Store::Mapped(m) => m,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Store::Heap(v) => v,
            Store::Mapped(m) => m,
        }
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
pub struct IdSet {
    store: Store,
    /// Slots minus one (a power of two minus one); 0 with no table yet.
    mask: usize,
    len: usize,
}

impl Default for IdSet {
    fn default() -> Self {
        IdSet {
            store: Store::Heap(Vec::new()),
            mask: 0,
            len: 0,
        }
    }
}

impl IdSet {
    /// An empty set. Allocates nothing until the first insert.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash an id is kept as, from its text or its bytes (the same
    /// key). `O(len(id))`; needs no set, so it can run on another thread
    /// than the inserts.
    pub fn hash(id: &(impl AsRef<[u8]> + ?Sized)) -> IdKey {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_ref());
        IdKey([h as u32, (h >> 32) as u32, (h >> 64) as u32])
    }

    /// [`IdSet::hash`] and 32 more bits of the same 128-bit hash, for a
    /// caller that keeps them beside its own entries to confirm a match
    /// without the id's text (128 bits in all).
    pub(crate) fn hash_and_check(id: &str) -> (IdKey, u32) {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        (
            IdKey([h as u32, (h >> 32) as u32, (h >> 64) as u32]),
            (h >> 96) as u32,
        )
    }

    /// Adds `id`, first seen on `line`. Returns `None` when it is new, or the
    /// line it was first seen on (lines from `u32::MAX - 1` on are kept as
    /// that). `O(len(id))` to hash, `O(1)` amortised to insert.
    pub fn insert(&mut self, id: &str, line: u64) -> Option<u64> {
        self.insert_hash(Self::hash(id), line)
    }

    /// [`IdSet::insert`] with the hash already computed by [`IdSet::hash`].
    /// `O(1)` amortised: one probe sequence, and now and then a doubling
    /// that moves every entry.
    pub fn insert_hash(&mut self, key: IdKey, line: u64) -> Option<u64> {
        if (self.len + 1) * 4 > self.slots() * 3 {
            self.grow();
        }
        let stored = u32::try_from(line).unwrap_or(u32::MAX).min(u32::MAX - 1) + 1;
        match self.find(key) {
            Ok(first) => Some(first),
            Err(slot) => {
                let entry = &mut self.store.bytes_mut()[slot * ENTRY..][..ENTRY];
                entry[..12].copy_from_slice(&key.bytes());
                entry[12..].copy_from_slice(&stored.to_le_bytes());
                self.len += 1;
                None
            }
        }
    }

    /// Makes room for `additional` more ids, so that inserting them does not
    /// grow the table: one table of the size the inserts would reach, and
    /// one move of the ids already in (`O(len)`). It takes 16 bytes a slot,
    /// for a table at most three quarters full whose slots are a power of
    /// two: 21 to 43 bytes an id, as growing gives. Only a hint: when the
    /// system has no room for the table it asks for, nothing changes.
    ///
    /// Growing doubles the table and moves every id, on the thread that
    /// inserts: for 2.5 million ids the doublings took 70 to 150 ms in all
    /// (a fresh process inserting them in a loop), each a stall of the
    /// whole `split` pipeline behind the caller's thread. A caller that
    /// knows about how many ids are coming spares them; the `split` and
    /// `validate` commands estimate it from a sample of each input, within
    /// a bound.
    pub fn reserve(&mut self, additional: usize) {
        if additional == 0 {
            return;
        }
        let Some(slots) = self
            .len
            .checked_add(additional)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.div_ceil(3).checked_next_power_of_two())
        else {
            return;
        };
        let slots = slots.max(1024);
        let Some(bytes) = slots.checked_mul(ENTRY) else {
            return;
        };
        if slots <= self.slots() {
            return;
        }
        let store = match Store::mapped(bytes) {
            Some(store) => store,
            None if bytes < MAPPED_FROM => Store::Heap(vec![0; bytes]),
            None => return,
        };
        self.move_to(store);
    }

    /// How many ids the set holds before its table grows again.
    pub fn capacity(&self) -> usize {
        self.slots() / 4 * 3
    }

    /// Asks for the slots where `keys` start their probes, all in one burst
    /// so that the cache misses overlap: then inserting them soon after
    /// finds the table in cache. A table of millions of ids misses the cache
    /// on nearly every insert, and one miss at a time costs far more than
    /// hashing. Only ever a speed-up: it changes nothing.
    ///
    /// On x86-64 each slot gets a prefetch instruction, which does not wait
    /// for the line (this crate's fourth place with `unsafe`). Loads did the
    /// same before, but each waited: in `split` of 1 GiB this function took
    /// 2.5% of all CPU time with loads and 1.0% with prefetches, and the
    /// caller's thread 10% less time (1544 against 1391 samples at 2 kHz,
    /// medians of four alternating runs).
    pub fn warm(&self, keys: impl Iterator<Item = IdKey>) {
        let bytes = self.store.bytes();
        if bytes.is_empty() {
            return;
        }
        for key in keys {
            prefetch(&bytes[key.slot(self.mask) * ENTRY..]);
        }
    }

    /// The line `key` was first seen on, if it is in the set. `O(1)`.
    pub fn get_hash(&self, key: IdKey) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        self.find(key).ok()
    }

    /// Whether `id` is in the set. `O(len(id))`.
    pub fn contains(&self, id: &str) -> bool {
        self.get_hash(Self::hash(id)).is_some()
    }

    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn slots(&self) -> usize {
        self.store.bytes().len() / ENTRY
    }

    /// The line `key` is kept with, or the empty slot where it would go.
    /// Needs a table with an empty slot.
    fn find(&self, key: IdKey) -> Result<u64, usize> {
        let bytes = self.store.bytes();
        let want = key.bytes();
        let mut slot = key.slot(self.mask);
        loop {
            let entry: &[u8; ENTRY] = bytes[slot * ENTRY..][..ENTRY]
                .try_into()
                .expect("an entry is 16 bytes");
            let stored = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
            if stored == 0 {
                return Err(slot);
            }
            if entry[..12] == want {
                return Ok(u64::from(stored - 1));
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Doubles the table (or makes the first, of 1024 slots) and moves every
    /// entry into it.
    fn grow(&mut self) {
        let slots = (self.slots() * 2).max(1024);
        self.move_to(Store::zeroed(slots * ENTRY));
    }

    /// Moves every entry into `store`, a zeroed table of more slots (a
    /// power of two).
    fn move_to(&mut self, store: Store) {
        let old = std::mem::replace(&mut self.store, store);
        self.mask = self.slots() - 1;
        for entry in old.bytes().chunks_exact(ENTRY) {
            if entry[12..] == [0; 4] {
                continue;
            }
            let key = IdKey(std::array::from_fn(|w| {
                u32::from_le_bytes(entry[w * 4..][..4].try_into().expect("4 bytes"))
            }));
            // Keys are distinct, so `find` ends at an empty slot.
            if let Err(slot) = self.find(key) {
                self.store.bytes_mut()[slot * ENTRY..][..ENTRY].copy_from_slice(entry);
            }
        }
    }
}

/// Asks for the cache line at the start of `at`, without waiting for it.
#[cfg(target_arch = "x86_64")]
fn prefetch(at: &[u8]) {
    // SAFETY: `prefetcht0` only hints the cache; it never faults and reads
    // nothing the program sees, and the address is inside `at`. SSE is part
    // of every x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.as_ptr().cast())
    }
}

/// Elsewhere, a load whose value is thrown away does the same, waiting.
#[cfg(not(target_arch = "x86_64"))]
fn prefetch(at: &[u8]) {
    std::hint::black_box(at[0]);
}

/// Paces [`IdSet::warm`] along a stream of items: every so many items, the
/// next so many, so that each item is warmed once, shortly before its turn.
#[derive(Clone, Debug, Default)]
pub(crate) struct WarmPace {
    /// Items to pass before the next burst.
    left: usize,
}

impl WarmPace {
    /// How many items a burst covers: enough misses to overlap, few enough
    /// that their loads fit in the core's reorder window.
    pub(crate) const BURST: usize = 64;

    /// How many of the `ahead` items (those after the current one) to warm
    /// now: usually 0, every [`WarmPace::BURST`] items up to that many.
    pub(crate) fn due(&mut self, ahead: usize) -> usize {
        if self.left > 0 {
            self.left -= 1;
            return 0;
        }
        let due = ahead.min(Self::BURST);
        // The next burst is due at the last item of this one.
        self.left = due.saturating_sub(1);
        due
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
        assert_eq!(ids.len(), 200_000);
    }

    #[test]
    fn lines_saturate() {
        let mut ids = IdSet::new();
        assert_eq!(ids.insert("a", 0), None);
        assert_eq!(ids.insert("a", 5), Some(0));
        assert_eq!(ids.insert("b", u64::MAX), None);
        assert_eq!(ids.insert("b", 1), Some(u64::from(u32::MAX - 1)));
        assert_eq!(ids.get_hash(IdSet::hash("c")), None);
    }

    /// Along chunks of items, each item but a chunk's first is warmed once,
    /// at most a burst before its turn.
    #[test]
    fn the_pace_warms_each_item_once_shortly_before_its_turn() {
        for sizes in [vec![512, 512, 300], vec![1, 64, 65, 129], vec![0, 3]] {
            let mut pace = WarmPace::default();
            for size in sizes {
                let mut warmed = vec![0; size];
                for i in 0..size {
                    let ahead = size - i - 1;
                    let due = pace.due(ahead);
                    assert!(due <= WarmPace::BURST);
                    for w in &mut warmed[i + 1..i + 1 + due] {
                        *w += 1;
                    }
                }
                for (i, &n) in warmed.iter().enumerate() {
                    assert_eq!(n, usize::from(i > 0), "item {i} of a chunk of {size}");
                }
            }
        }
    }

    /// After `reserve(n)`, n more inserts never grow the table, and every
    /// id is still found; the table is the one growing would have made.
    #[test]
    fn reserved_room_takes_the_inserts_without_growing() {
        for (before, more) in [
            (0, 1),
            (0, 768),
            (0, 769),
            (10, 3000),
            (5000, 100_000),
            (700, 0),
        ] {
            let mut ids = IdSet::new();
            for i in 0..before {
                ids.insert(&format!("a-{i}"), i as u64);
            }
            ids.reserve(more);
            let capacity = ids.capacity();
            assert!(capacity >= before + more, "{before} + {more}: {capacity}");
            for i in 0..more {
                assert_eq!(ids.insert(&format!("b-{i}"), i as u64), None);
            }
            assert_eq!(ids.capacity(), capacity, "{before} + {more}");
            assert_eq!(ids.len(), before + more);
            for i in 0..before {
                assert_eq!(ids.get_hash(IdSet::hash(&format!("a-{i}"))), Some(i as u64));
            }
            let mut grown = IdSet::new();
            for i in 0..before + more {
                grown.insert(&format!("c-{i}"), 0);
            }
            assert!(
                capacity <= grown.capacity().max(1024 / 4 * 3),
                "{before} + {more}"
            );
        }
        // Room that no system has is not taken, and nothing changes.
        let mut ids = IdSet::new();
        ids.insert("x", 1);
        ids.reserve(usize::MAX / 2);
        assert_eq!((ids.len(), ids.capacity()), (1, 768));
    }

    proptest::proptest! {
        /// Against a `HashMap` of the ids' text: every insert's answer, every
        /// lookup, and the length, across many doublings of the table.
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((0u32..3000, 0u64..1 << 33, 0u8..16), 0..6000)) {
            let mut ids = IdSet::new();
            let mut reference = std::collections::HashMap::new();
            for (id, line, op) in ops {
                // Now and then room for more: it changes no answer.
                if op == 0 {
                    ids.reserve(id as usize);
                    proptest::prop_assert!(ids.capacity() >= reference.len() + id as usize);
                }
                let insert = op % 2 == 1;
                let id = format!("id-{id}");
                let saturated = line.min(u64::from(u32::MAX - 1));
                // Warming is only a hint: any keys, any time, change nothing.
                ids.warm([IdSet::hash(&id), IdSet::hash(&format!("{id}-x"))].into_iter());
                if insert {
                    let want = match reference.entry(id.clone()) {
                        std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(saturated);
                            None
                        }
                    };
                    proptest::prop_assert_eq!(ids.insert(&id, line), want);
                } else {
                    proptest::prop_assert_eq!(ids.get_hash(IdSet::hash(&id)), reference.get(&id).copied());
                    proptest::prop_assert_eq!(ids.contains(&id), reference.contains_key(&id));
                }
                proptest::prop_assert_eq!(ids.len(), reference.len());
            }
        }
    }
}
