//! Reading the lines merge takes: the keys of request and result lines,
//! borrowed, off the caller's thread.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::policy::{instant, StatusClass};
use crate::frame::{Frame, Framer};
use crate::ids::{IdKey, IdSet};
use crate::pipeline::{for_each_parsed_with, parse_workers};

/// The fields of a result line the index needs, borrowed.
#[derive(Default)]
pub(super) struct ResultKeys<'a> {
    request_id: Option<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
    updated_at: Option<Cow<'a, str>>,
    /// A `status` key, whatever its value.
    has_status: bool,
    /// An `endpoint` key, whatever its value.
    has_endpoint: bool,
}

/// Reads `request_id` (or `requestId`), `status` and `updated_at` (or
/// `updatedAt`) of a JSON object and skips the rest; `Err` when the line is
/// not an object. Non-string values of those keys count as absent.
pub(super) fn result_keys(line: &str) -> Result<ResultKeys<'_>, serde_json::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = ResultKeys<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut keys = ResultKeys::default();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                keys.has_status |= key == "status";
                keys.has_endpoint |= key == "endpoint";
                let slot = match key.as_ref() {
                    "request_id" | "requestId" => &mut keys.request_id,
                    "status" => &mut keys.status,
                    "updated_at" | "updatedAt" => &mut keys.updated_at,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                };
                let value = map.next_value::<StringOrOther<'de>>()?;
                if slot.is_none() {
                    *slot = value.0;
                }
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let keys = de.deserialize_map(V)?;
    de.end()?;
    Ok(keys)
}

/// A string, or any other value (skipped, kept as `None`).
struct StringOrOther<'a>(Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for StringOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrOther<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StringOrOther(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrOther(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StringOrOther(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StringOrOther(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StringOrOther(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringOrOther(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where an id stands: a span of its line, or its own text when escaped.
pub(super) enum IdText {
    Span(u32, u32),
    Owned(String),
}

impl IdText {
    /// A span when `id` is borrowed from `line` (no escapes), else a copy.
    pub(super) fn of(id: &str, line: &str) -> IdText {
        let (start, end) = (line.as_ptr() as usize, line.as_ptr() as usize + line.len());
        let at = id.as_ptr() as usize;
        if at >= start && at + id.len() <= end {
            IdText::Span((at - start) as u32, id.len() as u32)
        } else {
            IdText::Owned(id.to_owned())
        }
    }

    pub(super) fn get<'a>(&'a self, line: &'a [u8]) -> &'a str {
        match self {
            IdText::Span(start, len) => {
                std::str::from_utf8(&line[*start as usize..(*start + *len) as usize])
                    .expect("a parsed string")
            }
            IdText::Owned(s) => s,
        }
    }
}

/// A request line, parsed off the main thread: its id and the id's hash.
/// A request line's id, or why it has none (`None` for a blank or over-long
/// line, which need no more words).
pub(super) fn parse_request(frame: &Frame) -> Result<Request, Option<Why>> {
    let Frame::Line(line) = frame else {
        return Err(None);
    };
    if line.is_blank() {
        return Err(None);
    }
    let (text, keys) = line_keys(line.bytes()).map_err(Some)?;
    let like_a_result = keys.has_status && !keys.has_endpoint;
    let id = keys
        .request_id
        .ok_or_else(|| ("no string request_id".to_owned(), None))?;
    let (hash, check) = IdSet::hash_and_check(&id);
    Ok(Request {
        id: IdText::of(&id, text),
        hash,
        check,
        like_a_result,
    })
}

/// A request line's id, where it stands, its hash, and whether the line
/// looks like a result line instead (a `status` and no `endpoint`).
pub(super) struct Request {
    pub(super) id: IdText,
    pub(super) hash: IdKey,
    pub(super) check: u32,
    pub(super) like_a_result: bool,
}

/// Where an id of `len` bytes starts in the ids kept so far (`held` bytes),
/// if both ends fit the index's 32-bit offsets: `None` past 4 GiB of ids,
/// which a merge refuses rather than wrap around.
pub(super) fn id_start(held: usize, len: usize) -> Option<u32> {
    let end = held.checked_add(len)?;
    u32::try_from(end).ok()?;
    u32::try_from(held).ok()
}

/// What is wrong with a line, and the 1-based column it points at.
pub(super) type Why = (String, Option<u64>);

/// The keys merge reads from a line (request or result), or why it has none:
/// not UTF-8 (at the first bad byte), not valid JSON (where it breaks off),
/// or JSON that is not an object (named by its kind).
pub(super) fn line_keys(bytes: &[u8]) -> Result<(&str, ResultKeys<'_>), Why> {
    let keys = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| Some((text, result_keys(text).ok()?)));
    // A line that is no JSON object is described as `validate` describes
    // it: one line, one wording (a rare path, so parsed once more for it).
    keys.ok_or_else(|| match crate::validate::line_problem(bytes) {
        Some((_, column, message)) => (message, column),
        None => ("not a JSON object this reader can take".to_owned(), None),
    })
}

/// A result line, parsed off the main thread.
pub(super) enum Parsed {
    Blank,
    /// Why, and the column it points at.
    Malformed(String, Option<u64>),
    Keyed {
        hash: IdKey,
        check: u32,
        /// The line has a `status` key.
        has_status: bool,
        class: StatusClass,
        time: i64,
    },
}

pub(super) fn parse_result(frame: &Frame) -> Parsed {
    let Frame::Line(line) = frame else {
        return Parsed::Malformed("too long".into(), None);
    };
    if line.is_blank() {
        return Parsed::Blank;
    }
    let keys = match line_keys(line.bytes()) {
        Ok((_, keys)) => keys,
        Err((why, column)) => return Parsed::Malformed(why, column),
    };
    let Some(id) = keys.request_id else {
        return Parsed::Malformed("no string request_id".into(), None);
    };
    let (hash, check) = IdSet::hash_and_check(&id);
    Parsed::Keyed {
        hash,
        check,
        has_status: keys.has_status,
        class: StatusClass::of(keys.status.as_deref().unwrap_or("")),
        time: keys
            .updated_at
            .as_deref()
            .and_then(instant)
            .unwrap_or(i64::MIN),
    }
}

/// Frames `reader` and parses off this thread ([`for_each_parsed_with`]);
/// `each` sees every frame, in order, and the parsed frames after it in its
/// chunk.
pub(super) fn pipeline<R, T, P, F>(reader: R, parse: P, mut each: F) -> io::Result<()>
where
    R: Read + Send,
    T: Send,
    P: Fn(&Frame) -> T + Sync,
    F: FnMut(Frame, T, &[T]),
{
    for_each_parsed_with(
        parse_workers(),
        reader,
        Framer::new(),
        parse,
        |frame, parsed, ahead| {
            each(frame, parsed, ahead);
            true
        },
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liberal_keys() {
        let k = result_keys(
            r#"{"requestId":"a","status":7,"updatedAt":"2024-01-15T10:35:00Z","x":[1,{"y":2}]}"#,
        )
        .unwrap();
        assert_eq!(k.request_id.as_deref(), Some("a"));
        assert_eq!(k.status, None);
        assert_eq!(instant(&k.updated_at.unwrap()), Some(1_705_314_900_000));
        assert!(result_keys("[1]").is_err());
        assert!(result_keys(r#"{"request_id":"a""#).is_err());
        assert_eq!(
            instant("2024-01-15T11:35:00+01:00"),
            instant("2024-01-15T10:35:00Z")
        );
    }
}
