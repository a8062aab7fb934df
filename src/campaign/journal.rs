//! The campaign's memory: `DIR/journal.jsonl`, one JSON object a line, a
//! header first (the version, the files and the options), then every
//! [`Event`] in order. Each line is written and flushed to the disk
//! (`sync_data`) before the driver acts on it. Read back on resume: a last
//! line cut short by a crash is dropped (and cut off the file, so that
//! appends go on cleanly); a bad line before the last is an error.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::core::{Core, Event, FileEntry};

/// The journal's format version.
pub const VERSION: u32 = 1;

/// The journal's first line: what the campaign is, recorded at its start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`VERSION`].
    pub version: u32,
    /// The batch files, in order.
    pub files: Vec<FileEntry>,
    /// At most this many batches created and not finished.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// The campaign's other options, as the driver records them.
    #[serde(default)]
    pub options: serde_json::Value,
}

/// An open journal, appended to.
#[derive(Debug)]
pub struct Journal {
    file: File,
}

/// One line of the journal after the header.
#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    event: Event,
}

fn line_of(value: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut text = serde_json::to_vec(value).map_err(io::Error::from)?;
    text.push(b'\n');
    Ok(text)
}

impl Journal {
    /// Starts a journal at `path` (which must not exist) with `header`,
    /// flushed to the disk.
    pub fn create(path: &Path, header: &Header) -> io::Result<Journal> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        file.write_all(&line_of(header)?)?;
        file.sync_data()?;
        Ok(Journal { file })
    }

    /// Appends `event` and flushes it to the disk: only then may the driver
    /// act on it. Cost: one `fdatasync`.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        self.file.write_all(&line_of(&Line {
            event: event.clone(),
        })?)?;
        self.file.sync_data()
    }

    /// Takes the journal for this process (an advisory lock, released when
    /// it is closed): a second run on the same journal fails here.
    pub fn lock(&self) -> io::Result<()> {
        self.file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::Error(e) => e,
            std::fs::TryLockError::WouldBlock => {
                io::Error::new(io::ErrorKind::WouldBlock, "the journal is in use")
            }
        })
    }

    /// Reads the journal at `path` without changing it: its header and its
    /// events (a last line cut short is left out).
    pub fn read(path: &Path) -> io::Result<(Header, Vec<Event>)> {
        let text = std::fs::read(path)?;
        let (header, events, _) = parse(path, &text)?;
        Ok((header, events))
    }

    /// Opens the journal at `path` and reads it back: its header and its
    /// events. A last line cut short is dropped and cut off the file.
    pub fn open(path: &Path) -> io::Result<(Journal, Header, Vec<Event>)> {
        let mut file = OpenOptions::new().read(true).append(true).open(path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let (header, events, whole) = parse(path, &text)?;
        if whole < text.len() {
            file.set_len(whole as u64)?;
            file.seek(SeekFrom::End(0))?;
            file.sync_data()?;
        }
        Ok((Journal { file }, header, events))
    }
}

/// A journal's text read as [`Journal::read`] reads a file: its header and
/// its events, a last line cut short left out.
pub fn parse_bytes(text: &[u8]) -> io::Result<(Header, Vec<Event>)> {
    let (header, events, _) = parse(Path::new("journal"), text)?;
    Ok((header, events))
}

/// The header, the events and the length of the whole lines of a journal's
/// text.
fn parse(path: &Path, text: &[u8]) -> io::Result<(Header, Vec<Event>, usize)> {
    {
        let bad = |n: usize, why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}:{n}: {why}", path.display()),
            )
        };
        // Whole lines end with `\n`; what follows the last one was cut short.
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut lines = text[..whole]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty());
        let header: Header = match lines.next() {
            Some(line) => serde_json::from_slice(line).map_err(|e| bad(1, e.to_string()))?,
            None => return Err(bad(1, "no header: not a campaign journal".into())),
        };
        if header.version != VERSION {
            return Err(bad(
                1,
                format!(
                    "journal version {}, this program reads {VERSION}",
                    header.version
                ),
            ));
        }
        let mut events = Vec::new();
        for (n, line) in lines.enumerate() {
            let parsed: Line =
                serde_json::from_slice(line).map_err(|e| bad(n + 2, e.to_string()))?;
            events.push(parsed.event);
        }
        Ok((header, events, whole))
    }
}

/// The campaign the journal describes: the header's files, every event
/// applied in order, and a create recorded as sent and never answered
/// reconciled ([`Core::resume`]).
pub fn replay(header: &Header, events: &[Event]) -> Core {
    let mut core = Core::new(header.files.clone(), header.max_in_flight);
    for event in events {
        core.apply(event);
    }
    core.resume();
    core
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_reads_back_and_a_cut_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let header = Header {
            version: VERSION,
            files: vec![FileEntry {
                name: "batches/batch-00001.jsonl".into(),
                records: 20,
            }],
            max_in_flight: None,
            options: serde_json::json!({"retry_rounds": 0}),
        };
        let mut journal = Journal::create(&path, &header).unwrap();
        let events = [
            Event::CreateSent { file: 0, at: 1000 },
            Event::Created {
                file: 0,
                id: "batch_1".into(),
            },
        ];
        for e in &events {
            journal.append(e).unwrap();
        }
        drop(journal);
        assert!(
            Journal::create(&path, &header).is_err(),
            "never over a journal"
        );
        // A crash in the middle of a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"event\":\"downl").unwrap();
        drop(file);
        let (mut journal, read, got) = Journal::open(&path).unwrap();
        assert_eq!(read, header);
        assert_eq!(got, events);
        journal
            .append(&Event::Downloaded {
                file: 0,
                matches: true,
            })
            .unwrap();
        let (_, _, got) = Journal::open(&path).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(replay(&header, &got).batch_of(0), Some("batch_1"));
        // A bad line before the last is an error, with its line number.
        std::fs::write(
            &path,
            [&std::fs::read(&path).unwrap()[..], b"garbage\n{}\n"].concat(),
        )
        .unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(err.to_string().contains(":5:"), "{err}");
    }
}
