//! Where records come from: [`Input`], an input's name and bytes, and
//! the sizing of the id set from a sample of the inputs.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::ids::ENTRY;

/// One input to validate, split or merge: a name for messages, and its
/// bytes from a file, a reader or memory.
///
/// Opening reads nothing. A regular file is also known by its path, so that
/// the one-call runs can sample it first (to size the id set: about 1 MiB
/// read, whatever the file's size) and the merge can read a line again by
/// its offset.
///
/// ```
/// use syncbatch::Input;
///
/// let input = Input::open("examples/data/input.jsonl")?;
/// assert_eq!(input.name(), "examples/data/input.jsonl");
/// assert_eq!(input.size(), Some(std::fs::metadata("examples/data/input.jsonl")?.len()));
/// let input = Input::from_bytes("memory", b"{}\n".to_vec());
/// assert_eq!(input.size(), Some(3));
/// assert!(Input::open("examples").is_err()); // a directory
/// # Ok::<(), syncbatch::Error>(())
/// ```
pub struct Input {
    name: String,
    source: Source,
    size: Option<u64>,
}

enum Source {
    /// A regular file, and the path it was opened by.
    File(File, PathBuf),
    /// A file that is no regular file (a pipe, a device): read once.
    Stream(Box<dyn Read + Send>),
    /// Bytes in memory.
    Bytes(Bytes),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish()
    }
}

impl Input {
    /// Opens the file at `path`, named by the path as given (`U+FFFD` for
    /// the bytes of a name that are not UTF-8). A directory is refused; a
    /// pipe or a device is read as a stream. `O(1)`: nothing is read.
    pub fn open(path: impl AsRef<Path>) -> Result<Input> {
        let path = path.as_ref();
        let name = path.to_string_lossy().into_owned();
        let file = File::open(path).map_err(|e| Error::io(format!("{name}: cannot open"), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("{name}: cannot open"), e))?;
        if meta.is_dir() {
            let e = io::Error::new(
                io::ErrorKind::IsADirectory,
                "a directory, not an input file",
            );
            return Err(Error::io(name, e));
        }
        if !meta.is_file() {
            return Ok(Input::from_reader(name, file));
        }
        Ok(Input {
            name,
            size: Some(meta.len()),
            source: Source::File(file, path.to_owned()),
        })
    }

    /// Standard input, named `<stdin>`.
    pub fn stdin() -> Input {
        Input::from_reader("<stdin>", io::stdin())
    }

    /// Any reader, read once, of unknown size.
    pub fn from_reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> Input {
        Input {
            name: name.into(),
            source: Source::Stream(Box::new(reader)),
            size: None,
        }
    }

    /// Bytes in memory (`Vec<u8>`, `String`, `Bytes`, ...): no copy.
    pub fn from_bytes(name: impl Into<String>, bytes: impl Into<Bytes>) -> Input {
        let bytes = bytes.into();
        Input {
            name: name.into(),
            size: Some(bytes.len() as u64),
            source: Source::Bytes(bytes),
        }
    }

    /// The name messages give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes, when known (a file, bytes in memory).
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The path of a regular file, which can be read again.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            Source::File(_, path) => Some(path),
            _ => None,
        }
    }

    /// The same input read through `wrap` (a progress meter, a decoder);
    /// it is read as a stream from then on, and its size is kept.
    pub fn map_reader<W: Read + Send + 'static>(
        self,
        wrap: impl FnOnce(Box<dyn Read + Send>) -> W,
    ) -> Input {
        let size = self.size;
        let name = self.name.clone();
        let reader = wrap(self.into_reader());
        Input {
            name,
            source: Source::Stream(Box::new(reader)),
            size,
        }
    }

    /// The bytes, as a reader.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        match self.source {
            Source::File(file, _) => Box::new(file),
            Source::Stream(reader) => reader,
            Source::Bytes(bytes) => Box::new(io::Cursor::new(bytes)),
        }
    }

    /// How to read its bytes again later, when that is possible without a
    /// copy: a regular file by its path, bytes in memory as they are.
    pub(crate) fn again(&self) -> Option<Again> {
        match &self.source {
            Source::File(_, path) => Some(Again::Path(path.clone())),
            Source::Bytes(bytes) => Some(Again::Bytes(bytes.clone())),
            Source::Stream(_) => None,
        }
    }

    /// The open file of a regular file; the input back otherwise.
    pub(crate) fn into_file(self) -> std::result::Result<File, Input> {
        match self.source {
            Source::File(file, _) => Ok(file),
            source => Err(Input { source, ..self }),
        }
    }

    /// About how many lines it holds, from windows across a regular file
    /// ([`sample_lines`]); `None` for anything else.
    fn sampled_lines(&self) -> Option<u64> {
        match &self.source {
            Source::File(_, path) => sample_lines(path),
            Source::Bytes(b) => Some(memchr::memchr_iter(b'\n', b).count() as u64),
            Source::Stream(_) => None,
        }
    }
}

/// Where an input's bytes can be read again.
pub(crate) enum Again {
    /// A regular file, opened again by its path.
    Path(PathBuf),
    /// Bytes kept in memory.
    Bytes(Bytes),
    /// A copy in an anonymous temporary file.
    File(File),
}

/// The room to make in the id set for the records of `inputs`: from
/// windows across each when every one can be sampled, else from the
/// first MiB and their sizes.
pub(crate) fn room_for(inputs: &[Input]) -> RoomHint {
    let sampled: Option<u64> = inputs.iter().map(Input::sampled_lines).sum();
    match sampled {
        Some(lines) => RoomHint::sampled(lines),
        None => RoomHint::new(inputs.iter().map(Input::size).sum()),
    }
}

/// When to make room in an [`IdSet`](crate::ids::IdSet) for the ids of inputs of known size
/// (`IdSet::reserve`), and for how many: once, from an estimate of the
/// records the inputs hold.
///
/// The estimate comes, best, from windows read across the whole of each
/// input before it is read through ([`sample_lines`], then
/// [`RoomHint::sampled`]): the room is asked for at the first record, when
/// the set is empty and making it costs no move. Up to a table of
/// [`RoomHint::MAX_SAMPLED_TABLE`] bytes, that spares every doubling of the
/// table: for the benchmark's 2.5 million records, the last doubling (32 to
/// 64 MiB, while the rest of the pipeline filled its budget and stopped)
/// took 5% of `split`'s wall time in alternating runs, and its two tables at
/// once set the peak memory (126 MiB against 94 MiB without it).
///
/// Without a sample (a file that could not be read for one, or a stream
/// whose length alone is known), the estimate is the records per byte of
/// the first [`RoomHint::SAMPLE`] bytes, asked for when they are read; with
/// no size at all (a pipe) the hint never asks. That can be far
/// too high (when later records are much longer), so it never asks for a
/// table beyond [`RoomHint::MAX_TABLE`] bytes.
///
/// Either way it asks for two thirds of the estimate, so that an estimate
/// up to 1.5 times too high makes no table larger than growing would. An
/// estimate from a sample is off only when the windows miss what the rest
/// holds (a file of short records exactly where the windows fall, and long
/// ones between); beyond the room the table grows as before.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoomHint {
    /// The inputs' bytes in all; `None` when one has no known size.
    total: Option<u64>,
    /// The records of all the inputs, estimated from windows across them.
    sampled: Option<u64>,
    done: bool,
}

impl RoomHint {
    /// The bytes read before the estimate, without a sample.
    pub(crate) const SAMPLE: u64 = 1 << 20;

    /// The largest table the hint asks for without a sample, in bytes
    /// (`IdSet`'s 16 a slot).
    pub(crate) const MAX_TABLE: usize = 32 << 20;

    /// The largest table the hint asks for from a sample. It takes an
    /// estimate of 2.36 million records or more to ask for it, whose memory
    /// target (64 MiB and 48 bytes a record) is 172 MiB.
    pub(crate) const MAX_SAMPLED_TABLE: usize = 64 << 20;

    /// A hint for inputs of `total` bytes in all (`None`: unknown, and the
    /// hint never asks for room), estimated from their first MiB.
    pub(crate) fn new(total: Option<u64>) -> Self {
        RoomHint {
            total,
            sampled: None,
            done: false,
        }
    }

    /// A hint for inputs that hold about `records` records in all, as
    /// [`sample_lines`] estimates.
    pub(crate) fn sampled(records: u64) -> Self {
        RoomHint {
            total: None,
            sampled: Some(records),
            done: false,
        }
    }

    /// How many more ids to make room for, given `records` seen (at most
    /// that many ids in the set) in the first `read` bytes: `Some` once,
    /// and `None` at every other call. From a sample, at the first call;
    /// else when `read` first reaches [`RoomHint::SAMPLE`] and more than the
    /// sample is left. `O(1)`.
    #[inline]
    pub(crate) fn due(&mut self, records: u64, read: u64) -> Option<usize> {
        if self.done {
            return None;
        }
        let (estimate, max_table) = match self.sampled {
            Some(all) => (
                Some(u128::from(all.saturating_sub(records))),
                Self::MAX_SAMPLED_TABLE,
            ),
            None if read < Self::SAMPLE => return None,
            None => (
                self.total
                    .and_then(|t| t.checked_sub(read))
                    .map(|left| u128::from(left) * u128::from(records) / u128::from(read)),
                Self::MAX_TABLE,
            ),
        };
        self.done = true;
        let estimate = estimate?;
        let max_ids = (max_table / ENTRY / 4 * 3) as u64;
        let room = (estimate * 2 / 3).min(u128::from(max_ids.saturating_sub(records)));
        usize::try_from(room).ok().filter(|&n| n > 0)
    }
}

/// How many windows [`sample_lines`] reads, and how long each is.
const WINDOWS: u64 = 32;
const WINDOW: usize = 32 << 10;

/// About how many lines the file at `path` holds: the `\n`s in 32 windows
/// of 32 KiB spread evenly through it, scaled to its size (every `\n` of a
/// file of 1 MiB or less). Cost: 1 MiB read at most, whatever the file's
/// size. `None` when it is no regular file (a pipe is never opened) or
/// cannot be read; a file that changes meanwhile only spoils the estimate.
pub(crate) fn sample_lines(path: &std::path::Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    // Only a regular file, asked before opening: opening a named pipe would
    // wait for a writer, and reading one (`<(cmd)` is one) would take the
    // lines the split is to read.
    std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok().filter(|m| m.is_file())?.len();
    let whole = size <= WINDOWS * WINDOW as u64;
    let mut window = vec![0u8; WINDOW];
    let (mut sampled, mut newlines) = (0u64, 0u64);
    for k in 0..WINDOWS {
        if !whole {
            file.seek(SeekFrom::Start(k * (size / WINDOWS))).ok()?;
        }
        let mut got = 0;
        while got < WINDOW {
            match file.read(&mut window[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        sampled += got as u64;
        newlines += memchr::memchr_iter(b'\n', &window[..got]).count() as u64;
    }
    if whole || sampled == 0 {
        return Some(newlines);
    }
    let estimate = u128::from(size) * u128::from(newlines) / u128::from(sampled);
    Some(u64::try_from(estimate).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdSet;

    #[test]
    fn a_sampled_hint_asks_at_once_within_its_table() {
        let mut hint = RoomHint::sampled(90_000);
        // At the first record: two thirds of the records still to come.
        assert_eq!(hint.due(1, 400), Some(59_999));
        assert_eq!(hint.due(2, 800), None);
        // However many records the sample promises, the table it asks for
        // stays within MAX_SAMPLED_TABLE.
        let room = RoomHint::sampled(1 << 40).due(0, 0).unwrap();
        let mut ids = IdSet::new();
        ids.reserve(room);
        assert_eq!(ids.slots() * ENTRY, RoomHint::MAX_SAMPLED_TABLE);
        assert_eq!(RoomHint::sampled(0).due(0, 0), None);
    }

    #[test]
    fn sampled_lines_estimate_a_file() {
        let dir = std::env::temp_dir().join(format!("syncbatch-sample-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.jsonl");
        // Small: every line counted.
        std::fs::write(&path, "a\nbb\nccc\n".repeat(1000)).unwrap();
        assert_eq!(sample_lines(&path), Some(3000));
        // 8 MiB of lines of 100 to 700 bytes: within 5%.
        let mut data = Vec::new();
        let mut n = 0u64;
        while data.len() < 8 << 20 {
            data.extend(std::iter::repeat_n(b'x', 100 + (n as usize * 37) % 600));
            data.push(b'\n');
            n += 1;
        }
        std::fs::write(&path, &data).unwrap();
        let estimate = sample_lines(&path).unwrap();
        assert!(estimate.abs_diff(n) * 20 < n, "{estimate} for {n}");
        // A first MiB of short lines, then long ones: the windows see the
        // long ones, where the first MiB alone would promise 16 times more.
        let mut data = b"x"
            .repeat(63)
            .into_iter()
            .chain([b'\n'])
            .cycle()
            .take(1 << 20)
            .collect::<Vec<u8>>();
        let short = (1u64 << 20) / 64;
        for _ in 0..15 {
            data.extend(std::iter::repeat_n(b'y', (1 << 20) - 1));
            data.push(b'\n');
        }
        std::fs::write(&path, &data).unwrap();
        let estimate = sample_lines(&path).unwrap();
        assert!(estimate < 4 * (short + 15), "{estimate}");
        // A directory, or nothing there: no estimate.
        assert_eq!(sample_lines(&dir), None);
        assert_eq!(sample_lines(&dir.join("absent")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_room_hint_asks_once_after_the_sample() {
        let mut hint = RoomHint::new(Some(100 << 20));
        assert_eq!(hint.due(1000, RoomHint::SAMPLE - 1), None);
        // 99 MiB left at 1,000 records a MiB: two thirds of 99,000.
        assert_eq!(hint.due(1000, RoomHint::SAMPLE), Some(66_000));
        assert_eq!(hint.due(2000, 2 * RoomHint::SAMPLE), None);
        let mut unknown = RoomHint::new(None);
        assert_eq!(unknown.due(1000, RoomHint::SAMPLE), None);
        // Inputs that grew while being read: nothing left by their size.
        let mut grown = RoomHint::new(Some(1 << 19));
        assert_eq!(grown.due(1000, RoomHint::SAMPLE), None);
        // However many records the size promises, the table it asks for
        // stays within MAX_TABLE, counting the ids already in.
        let mut huge = RoomHint::new(Some(1 << 40));
        let room = huge.due(2500, RoomHint::SAMPLE).unwrap();
        let mut ids = IdSet::new();
        for i in 0..2500 {
            ids.insert(&format!("{i}"), i);
        }
        ids.reserve(room);
        assert_eq!(ids.slots() * ENTRY, RoomHint::MAX_TABLE);
        assert_eq!(ids.capacity(), 2500 + room);
    }
}
