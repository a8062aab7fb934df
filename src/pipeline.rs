//! The worker threads under validate, split and merge: frames read and
//! parsed off the caller's thread, handed back in order.

use std::io::{self, Read};

use crate::frame::{Frame, Framer, LineReader};

/// Frames `reader` and runs `parse` on every frame off the calling thread,
/// then `each` on the calling thread, in stream order, until the end or until
/// `each` returns false. Returns the stream position reached: the end of the
/// input when `each` took every frame (a byte order mark with no line after
/// it included), else the end of the last frame handed to `each`.
///
/// The frames go in chunks of 512 to [`parse_workers`] threads, each to the
/// first worker with room in its queue; when every worker is busy, the
/// framing thread parses the chunk itself. The caller's thread takes the
/// parsed chunks back in order. On a machine of two cores that is three
/// threads: one reads and frames, and parses what the worker cannot keep up
/// with, a second parses, and the caller's consumes, so parsing uses the
/// core the caller leaves idle. (Handing chunks out in turn would leave the
/// framing thread, which also reads, with the most work, and a core idle.)
///
/// Memory: a chunk ends at 512 lines or 256 KiB, and the chunks on their
/// way to `each` hold at most 16 MiB of lines in all (a byte budget, which
/// the framing thread waits on), plus the chunk being framed: whatever the
/// lines' length, and however slow `each` is. That is room for 64 chunks of
/// short lines, so that the framing thread runs on while the caller's
/// thread stalls for a while. A read error ends the run and is returned.
///
#[cfg(test)]
pub(crate) fn for_each_parsed<R, T, P, F>(
    reader: R,
    framer: Framer,
    parse: P,
    mut each: F,
) -> io::Result<u64>
where
    R: Read + Send,
    T: Send,
    P: Fn(&Frame) -> T + Sync,
    F: FnMut(Frame, T) -> bool,
{
    for_each_parsed_with(
        parse_workers(),
        reader,
        framer,
        parse,
        |frame, parsed, _| each(frame, parsed),
    )
}

/// How many threads [`for_each_parsed`] starts to parse beside the framing
/// one: one fewer than the cores this process may use, at least 1 and at
/// most 7. Beyond that the caller's thread (and, for `split`, the writer)
/// sets the pace, and each worker holds a few chunks of lines in memory.
pub(crate) fn parse_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 7)
}

/// Offers `item` to each queue in turn, from `first` on: the index of the
/// one that took it, or the item back when every queue is full; `None` when
/// a queue's receiver is gone.
fn offer<C>(
    queues: &[std::sync::mpsc::SyncSender<C>],
    first: usize,
    mut item: C,
) -> Option<Result<usize, C>> {
    use std::sync::mpsc::TrySendError;
    for i in 0..queues.len() {
        let k = (first + i) % queues.len();
        match queues[k].try_send(item) {
            Ok(()) => return Some(Ok(k)),
            Err(TrySendError::Full(back)) => item = back,
            Err(TrySendError::Disconnected(_)) => return None,
        }
    }
    Some(Err(item))
}

/// [`for_each_parsed`] with `workers` parsing threads (at least 1; give it
/// [`parse_workers`] to suit the machine), showing `each` also what `parse`
/// gave for the frames after the current one in its chunk (up to 511 of
/// them, none past a chunk's end), so that it can warm what they will
/// touch: see `IdSet::warm`.
///
/// A chunk travels as its frames and, beside them, what `parse` gave for
/// each: the frames are never moved into pairs (which took about 2% of
/// `split`'s CPU time).
pub(crate) fn for_each_parsed_with<R, T, P, F>(
    workers: usize,
    reader: R,
    framer: Framer,
    parse: P,
    mut each: F,
) -> io::Result<u64>
where
    R: Read + Send,
    T: Send,
    P: Fn(&Frame) -> T + Sync,
    F: FnMut(Frame, T, &[T]) -> bool,
{
    use std::sync::atomic::Ordering;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
    /// What the framing thread hands the caller for each chunk, in order:
    /// the chunk parsed on the framing thread, or word that worker `k` has
    /// it (each worker returns its chunks in the order it took them); the
    /// tokens of the byte budget it holds; and whether it is the last.
    struct Handoff<T> {
        chunk: Chunk<T>,
        tokens: usize,
        last: bool,
    }
    enum Chunk<T> {
        Parsed(Parsed<T>),
        AtWorker(usize),
    }
    /// A chunk's frames, and what `parse` gave for each.
    type Parsed<T> = (Vec<Frame>, Vec<T>);
    let parse_all = |frames: Vec<Frame>| -> Parsed<T> {
        let parsed = frames.iter().map(&parse).collect();
        (frames, parsed)
    };
    let parse_all = &parse_all;
    let workers = workers.max(1);
    // Every chunk holds a token for each `TOKEN_BYTES` of its lines from
    // the time it is framed until `each` has seen it, so at most
    // `BUDGET_TOKENS` of them are on their way, however long the lines.
    let (budget, budget_back) = sync_channel::<()>(BUDGET_TOKENS);
    let (to_caller, handoffs) = sync_channel::<io::Result<Handoff<T>>>(BUDGET_TOKENS);
    // Where the framer stood at the end of the input, set before the last
    // chunk is handed on (the channels order it before the caller's read).
    let input_end = std::sync::atomic::AtomicU64::new(0);
    let input_end = &input_end;
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Vec<Frame>>> = Vec::with_capacity(workers);
        let mut from_workers: Vec<Receiver<Parsed<T>>> = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (to_worker, chunks) = sync_channel::<Vec<Frame>>(4);
            let (done, from_worker) = sync_channel::<Parsed<T>>(4);
            to_workers.push(to_worker);
            from_workers.push(from_worker);
            scope.spawn(move || {
                for frames in chunks {
                    if done.send(parse_all(frames)).is_err() {
                        return;
                    }
                }
            });
        }
        scope.spawn(move || {
            let mut lines = LineReader::with_framer(reader, framer);
            let mut next_worker = 0;
            loop {
                let (mut chunk, mut bytes) = (Vec::with_capacity(CHUNK_LINES), 0);
                let mut last = false;
                while chunk.len() < CHUNK_LINES && bytes < CHUNK_BYTES {
                    match lines.next_frame() {
                        Ok(Some(frame)) => {
                            // The bytes it holds (a line too long holds none).
                            if let Frame::Line(line) = &frame {
                                bytes += line.bytes().len();
                            }
                            chunk.push(frame);
                        }
                        Ok(None) => {
                            last = true;
                            input_end.store(lines.position(), Ordering::Relaxed);
                            break;
                        }
                        Err(e) => {
                            // If the caller is gone, no one needs the error.
                            let _ = to_caller.send(Err(e));
                            return;
                        }
                    }
                }
                // The chunk's share of the budget: this waits while the
                // chunks on their way hold it all.
                let tokens = bytes.div_ceil(TOKEN_BYTES).clamp(1, BUDGET_TOKENS);
                for _ in 0..tokens {
                    if budget.send(()).is_err() {
                        return;
                    }
                }
                // The first worker with room takes the chunk; when every
                // worker is busy, this thread parses it. So the framing
                // thread, which also reads and frames, parses only what the
                // workers cannot keep up with, and no core waits while
                // another has a backlog.
                let chunk = match offer(&to_workers, next_worker, chunk) {
                    Some(Ok(k)) => {
                        next_worker = k + 1;
                        Chunk::AtWorker(k)
                    }
                    Some(Err(chunk)) => Chunk::Parsed(parse_all(chunk)),
                    None => return,
                };
                let handoff = Handoff {
                    chunk,
                    tokens,
                    last,
                };
                // The last chunk may be empty: it tells the end.
                if to_caller.send(Ok(handoff)).is_err() || last {
                    return;
                }
            }
        });
        let mut position = 0;
        let mut result = Ok(());
        'chunks: loop {
            let Handoff {
                chunk,
                tokens,
                last,
            } = match handoffs.recv() {
                Ok(Ok(handoff)) => handoff,
                Ok(Err(e)) => {
                    result = Err(e);
                    break;
                }
                Err(_) => {
                    result = Err(io::Error::other("the framing thread stopped"));
                    break;
                }
            };
            let (frames, parsed) = match chunk {
                Chunk::Parsed(parsed) => parsed,
                Chunk::AtWorker(k) => match from_workers[k].recv() {
                    Ok(parsed) => parsed,
                    Err(_) => {
                        result = Err(io::Error::other("a parsing thread stopped"));
                        break;
                    }
                },
            };
            let mut parsed = parsed.into_iter();
            for frame in frames {
                let Some(item) = parsed.next() else { break };
                position = frame.end();
                if !each(frame, item, parsed.as_slice()) {
                    break 'chunks;
                }
            }
            // The chunk's lines are the caller's now (or dropped): its
            // tokens go back. They were sent before the chunk was.
            for _ in 0..tokens {
                let _ = budget_back.try_recv();
            }
            if last {
                position = position.max(input_end.load(Ordering::Relaxed));
                break;
            }
        }
        // Dropping the queues stops the other threads wherever they are.
        drop(handoffs);
        drop(budget_back);
        drop(from_workers);
        result.map(|()| position)
    })
}

/// The most lines in a chunk that [`for_each_parsed_with`] hands to a
/// parsing thread at once: few enough channel operations a line.
const CHUNK_LINES: usize = 512;

/// A chunk also ends once its lines reach this many bytes, so that long
/// lines travel a few at a time (512 lines of 400 bytes are 200 kB).
const CHUNK_BYTES: usize = 256 << 10;

/// The byte budget of [`for_each_parsed_with`]'s chunks on their way to
/// `each`: a token for each `TOKEN_BYTES` of a chunk's lines (at least one,
/// at most all of them), `BUDGET_TOKENS` tokens in all: 16 MiB of lines,
/// or 64 chunks of short ones. Before the budget, 16 chunks in order to
/// the caller (and 4 to and from each worker) bounded the lines by count
/// alone: 300 lines of 3.9 MB took 1.8 GB of memory in `validate`. And
/// the short queue was too short: whenever the caller's thread stalled
/// behind the writer or a growing id set, the framing thread, the busiest,
/// soon stopped too, and the two cores of a `split` of 1 GiB were 1.83 to
/// 1.85 busy; 1.96 to 1.98 with the budget (six alternating runs, 7.7% less
/// wall time).
const TOKEN_BYTES: usize = 256 << 10;
const BUDGET_TOKENS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_keeps_order_with_any_number_of_workers() {
        for workers in 1..=5 {
            for lines in [0usize, 1, 511, 512, 513, 1024, 1025, 3000] {
                let input: String = (0..lines).map(|i| format!("{i}\n")).collect();
                let mut got = Vec::new();
                let mut aheads_ok = true;
                let end = for_each_parsed_with(
                    workers,
                    input.as_bytes(),
                    Framer::new(),
                    |f: &Frame| f.number(),
                    |frame, n, ahead| {
                        aheads_ok &= ahead.len() < 512
                            && ahead
                                .iter()
                                .enumerate()
                                .all(|(k, m)| *m == n + 1 + k as u64);
                        got.push((n, frame.number()));
                        true
                    },
                )
                .unwrap();
                let want: Vec<(u64, u64)> = (1..=lines as u64).map(|n| (n, n)).collect();
                assert_eq!(got, want, "{workers} workers, {lines} lines");
                assert_eq!(end, input.len() as u64);
                assert!(aheads_ok, "{workers} workers, {lines} lines");
            }
        }
        // A byte order mark alone makes no frame, but it was read.
        let end = for_each_parsed(&b"\xEF\xBB\xBF"[..], Framer::new(), |_| (), |_, _| true);
        assert_eq!(end.unwrap(), 3);
    }

    /// However long the lines and however slow the caller, the lines framed
    /// and not yet seen by `each` stay within the byte budget (and a chunk
    /// being framed): counted as `parse` sees them and as `each` does.
    /// Bounded by line count alone, as before, 16 chunks of 512 lines would
    /// have held all 80 MB of this input at once.
    #[test]
    fn long_lines_stay_within_the_byte_budget_however_slow_the_caller() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let line = [b'x'; 100_000];
        let mut input = Vec::new();
        for _ in 0..800 {
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        for workers in [1, 3] {
            let (framed, worst) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let mut seen = 0;
            for_each_parsed_with(
                workers,
                &input[..],
                Framer::new(),
                |f: &Frame| {
                    let now =
                        framed.fetch_add(f.len() as usize, Ordering::SeqCst) + f.len() as usize;
                    worst.fetch_max(now, Ordering::SeqCst);
                },
                |frame, (), _| {
                    framed.fetch_sub(frame.len() as usize, Ordering::SeqCst);
                    seen += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    true
                },
            )
            .unwrap();
            assert_eq!(seen, 800);
            let bound = BUDGET_TOKENS * TOKEN_BYTES + CHUNK_BYTES + line.len();
            let worst = worst.load(Ordering::SeqCst);
            assert!(
                worst <= bound,
                "{workers} workers: {worst} bytes on their way"
            );
            // The pipeline did fill: the caller was the slow one.
            assert!(worst > bound / 4, "{workers} workers: only {worst} bytes");
        }
    }

    /// Chunks go to a worker with room, else the framing thread parses
    /// them, whichever chunk it is. Every odd chunk is slow here: handed out
    /// in turn, as before, they would all land on the same threads; handed
    /// to whoever has room, every thread parses some of them. The chunks
    /// finish out of order, and the caller still sees them in order.
    #[test]
    fn busy_workers_leave_chunks_to_the_framing_thread_in_order() {
        let input: String = (0..24_000).map(|i| format!("{i}\n")).collect();
        for workers in [1, 3] {
            let caller = std::thread::current().id();
            let mut slow_chunk_threads = std::collections::HashSet::new();
            let mut next = 1;
            let end = for_each_parsed_with(
                workers,
                input.as_bytes(),
                Framer::new(),
                |f: &Frame| {
                    let slow = ((f.number() - 1) / 512) % 2 == 1;
                    if slow {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                    (f.number(), slow, std::thread::current().id())
                },
                |frame, (n, slow, thread), _| {
                    assert_eq!((frame.number(), n), (next, next));
                    next += 1;
                    if slow {
                        slow_chunk_threads.insert(thread);
                    }
                    true
                },
            )
            .unwrap();
            assert_eq!(next, 24_001);
            assert_eq!(end, input.len() as u64);
            assert!(!slow_chunk_threads.contains(&caller));
            // The framing thread and every worker.
            assert_eq!(slow_chunk_threads.len(), workers + 1, "{workers} workers");
        }
    }

    #[test]
    fn the_pipeline_stops_when_asked_and_on_read_errors() {
        let input: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        for workers in 1..=4 {
            for stop_after in [1usize, 511, 512, 1500, 4999] {
                let mut seen = 0;
                let end = for_each_parsed_with(
                    workers,
                    &input[..],
                    Framer::new(),
                    |_| (),
                    |f, (), _| {
                        seen += 1;
                        assert_eq!(f.number(), seen as u64);
                        seen < stop_after
                    },
                )
                .unwrap();
                assert_eq!(seen, stop_after);
                let want = (0..stop_after)
                    .map(|i| format!("{i}\n").len())
                    .sum::<usize>();
                assert_eq!(end, want as u64);
            }
            // Good bytes, then an error: what came before arrives in order
            // (whole chunks only), then the error.
            struct Failing<'a>(&'a [u8]);
            impl Read for Failing<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    if self.0.is_empty() {
                        return Err(io::Error::other("disk on fire"));
                    }
                    let n = buf.len().min(self.0.len()).min(1000);
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let mut seen = 0u64;
            let err = for_each_parsed_with(
                workers,
                Failing(&input),
                Framer::new(),
                |_| (),
                |f, (), _| {
                    seen += 1;
                    assert_eq!(f.number(), seen);
                    true
                },
            )
            .unwrap_err();
            assert_eq!(err.to_string(), "disk on fire");
            assert_eq!(seen % 512, 0);
            assert!(seen <= 5000);
        }
    }
}
