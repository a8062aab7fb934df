//! Writing the merged lines: each winner read again by its offset, its
//! `error` and `response` copied byte for byte.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::policy::StatusClass;
use super::{MergeSummary, Merger, Request};
use crate::util::read_exact_at;

impl Merger {
    /// Writes one merged line per request, in request order, and returns the
    /// figures. Each winner is read again from its result file; a second
    /// thread reads and formats while this one writes.
    pub fn write_merged(&mut self, out: &mut dyn Write) -> io::Result<MergeSummary> {
        const CHUNK: usize = 2048;
        /// Chunks go round-robin to this many formatting threads; this thread
        /// writes them back in order.
        const WORKERS: usize = 2;
        let this = &*self;
        let chunks = this.requests.len().div_ceil(CHUNK);
        std::thread::scope(|scope| {
            let mut queues = Vec::new();
            let mut workers = Vec::new();
            for w in 0..WORKERS {
                let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
                queues.push(rx);
                workers.push(scope.spawn(move || {
                    let mut counts = MergeSummary::default();
                    let mut buf = Vec::new();
                    for chunk in this.requests.chunks(CHUNK).skip(w).step_by(WORKERS) {
                        let mut text = Vec::with_capacity(CHUNK * 700);
                        let made = chunk.iter().try_for_each(|r| {
                            this.merged_line(r, &mut counts, &mut buf, &mut text)
                        });
                        let stop = made.is_err();
                        if tx.send(made.map(|()| text)).is_err() || stop {
                            break;
                        }
                    }
                    counts
                }));
            }
            let mut result = Ok(());
            for i in 0..chunks {
                let next = queues[i % WORKERS]
                    .recv()
                    .unwrap_or_else(|_| Err(io::Error::other("a merge worker stopped")));
                if let Err(e) = next.and_then(|text| out.write_all(&text)) {
                    result = Err(e);
                    break;
                }
            }
            drop(queues);
            let mut summary = this.summary.clone();
            for w in workers {
                let c = w.join().expect("merge workers do not panic");
                summary.completed += c.completed;
                summary.failed += c.failed;
                summary.rejected += c.rejected;
                summary.other += c.other;
                summary.missing += c.missing;
            }
            result.map(|()| summary)
        })
    }

    fn merged_line(
        &self,
        r: &Request,
        summary: &mut MergeSummary,
        buf: &mut Vec<u8>,
        line: &mut Vec<u8>,
    ) -> io::Result<()> {
        line.extend_from_slice(b"{\"request_id\":");
        serde_json::to_writer(&mut *line, self.id(r))?;
        match r.best {
            None => {
                summary.missing += 1;
                line.extend_from_slice(
                    b",\"status\":\"MISSING\",\"error\":null,\"response\":null,\"updated_at\":null",
                );
            }
            Some(best) => {
                match best.class {
                    StatusClass::Completed => summary.completed += 1,
                    StatusClass::Failed => summary.failed += 1,
                    StatusClass::Rejected => summary.rejected += 1,
                    StatusClass::Other => summary.other += 1,
                }
                let (name, file) = &self.result_files[best.file as usize];
                buf.resize(best.len as usize, 0);
                read_exact_at(file, buf, best.offset)
                    .map_err(|e| io::Error::new(e.kind(), format!("{name}: read again: {e}")))?;
                let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
                write_result_fields(text, line)?;
            }
        }
        line.extend_from_slice(b",\"source\":{\"file\":");
        serde_json::to_writer(&mut *line, &self.request_files[r.file as usize].name)?;
        line.extend_from_slice(b",\"line\":");
        line.extend_from_slice(r.line.to_string().as_bytes());
        line.extend_from_slice(b"}}\n");
        Ok(())
    }
}

/// The output fields of a result line: `status`, `error` and `response` as
/// raw JSON, `updated_at`; absent ones as `null`.
fn write_result_fields(text: &str, out: &mut Vec<u8>) -> io::Result<()> {
    struct V;
    #[derive(Default)]
    struct Fields<'a> {
        status: Option<&'a RawValue>,
        error: Option<&'a RawValue>,
        response: Option<&'a RawValue>,
        updated_at: Option<&'a RawValue>,
    }
    impl<'de> Visitor<'de> for V {
        type Value = Fields<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut f = Fields::default();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let slot = match key.as_ref() {
                    "status" => &mut f.status,
                    "error" => &mut f.error,
                    "response" => &mut f.response,
                    "updated_at" | "updatedAt" => &mut f.updated_at,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                };
                let value = map.next_value::<&'de RawValue>()?;
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
            Ok(f)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let f = de.deserialize_map(V).map_err(io::Error::other)?;
    fn raw(v: Option<&RawValue>) -> &str {
        v.map_or("null", RawValue::get)
    }
    // A status that is not a string is no status: kept as "" (class other).
    let status = f
        .status
        .map(RawValue::get)
        .filter(|s| s.starts_with('"'))
        .unwrap_or("\"\"");
    let updated = f
        .updated_at
        .map(RawValue::get)
        .filter(|s| s.starts_with('"'))
        .unwrap_or("null");
    for (key, value) in [
        ("status", status),
        ("error", raw(f.error)),
        ("response", raw(f.response)),
        ("updated_at", updated),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.as_bytes());
    }
    Ok(())
}
