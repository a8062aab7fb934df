//! The fast path: decides, for the common line, that it draws no diagnostic
//! at all, without building a tree.
//!
//! A small reader made for this one schema walks the line once. It takes only
//! objects with the keys the API defines, each key once, strings without
//! escapes, and the JSON types each field wants; anything else (an escape, an
//! unknown or repeated key, a rare feature, a syntax error) stops it at once.
//! The checks below run on plain fields as each part (payload, input,
//! provider, options) is read. The answer is only ever "clean" or "not
//! sure": on "not sure" the caller runs the full rules ([`super::rules`]),
//! which parse the line with serde_json and find and place every diagnostic.
//! So the fast path needs to be exactly as strict as the rules about
//! *whether* a line is clean, never about what is wrong with it:
//! `tests/validate_rules.rs` checks that the two paths give the same
//! diagnostics on generated, broken, mutated and byte-edited lines, and the
//! `validate` fuzz target checks it on any bytes.
//!
//! Why not serde_json here: deserializing each line into borrowed structs
//! costs about twice the instructions of this reader (most of them in
//! serde's visitor and key machinery and in finding each string's end), and
//! this check runs on every line. With the SSE2 scans of [`super::simd`]
//! for the end of each string and the host of each URL it is about half
//! again cheaper. serde_json still parses every line this one is unsure of.

use super::schema::{
    output_file_name_ok, BATCH_MAX_SECONDS, MAX_SCRIPT_CHARS, MODELS, MODEL_MODES, PROMPTS,
    REACT_MAX_SECONDS, SYNC_MODES,
};
use super::simd::string_len;
use super::url::url_scheme;

/// Where the reader stands in one line. Every method returns `None` when the
/// line is not what the fast path takes, and the whole check gives up.
///
/// It reads bytes, not text: outside strings the grammar takes only ASCII
/// bytes, and [`Cursor::string`] checks every string that is not ASCII as
/// UTF-8. So a line the reader takes whole is UTF-8, and no pass over the
/// line checks it beforehand.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// The value of a number token with no exponent and at most 15 digits
/// (`7.8`, `0.4`, `-12`: nearly every number a request has), by Clinger's
/// fast path: its digits as an integer are below 2^53, so exact as an
/// `f64`, and so is the power of ten it is divided by; IEEE division rounds
/// the exact quotient correctly, so this is the value `str::parse` (and
/// serde_json) gives, for a fifth of the cost (`parse` was 2% of `split`'s
/// CPU time). `None` for any other token.
fn short_decimal(text: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if digits.len() > 16 {
        return None;
    }
    let (mut mantissa, mut count, mut fraction) = (0u64, 0usize, 0usize);
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' => fraction = digits.len() - i - 1,
            _ => return None,
        }
    }
    if count > 15 {
        return None;
    }
    let value = mantissa as f64 / POW10[fraction];
    Some(if negative { -value } else { value })
}

/// Puts `value` in an empty `slot`; `None` when the key came twice.
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Skips JSON's four whitespace bytes. Most tokens have none before
    /// them, so that case is one test, and the loop is out of line.
    #[inline]
    fn skip_ws(&mut self) {
        if self.bytes.get(self.pos).is_some_and(|&c| c <= b' ') {
            self.skip_ws_loop();
        }
    }

    #[cold]
    #[inline(never)]
    fn skip_ws_loop(&mut self) {
        let b = self.bytes;
        while b
            .get(self.pos)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, taken.
    #[inline]
    fn next_byte(&mut self) -> Option<u8> {
        let mut b = *self.bytes.get(self.pos)?;
        if b <= b' ' {
            self.skip_ws_loop();
            b = *self.bytes.get(self.pos)?;
        }
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next_byte()? == want).then_some(())
    }

    /// Whether the next byte that is not whitespace is `want`; takes it if so.
    #[inline]
    fn take(&mut self, want: u8) -> bool {
        self.skip_ws();
        let found = self.bytes.get(self.pos) == Some(&want);
        self.pos += usize::from(found);
        found
    }

    /// A string without escapes, borrowed from the line: UTF-8, checked
    /// here when it is not ASCII (the scan for its end says whether it is).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.pos;
        let (len, ascii) = string_len(self.bytes.get(start..)?)?;
        self.pos = start + len + 1;
        let body = &self.bytes[start..start + len];
        if !ascii {
            std::str::from_utf8(body).ok()?;
        }
        Some(body)
    }

    /// An object, handing each key to `field`, which must read its value.
    #[inline]
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.take(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            field(self, key)?;
            match self.next_byte()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// An array, calling `item` to read each item.
    #[inline]
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        if self.take(b']') {
            return Some(());
        }
        loop {
            item(self)?;
            match self.next_byte()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A number as JSON writes it (`-? int frac? exp?`), and whether it has
    /// neither a fraction nor an exponent.
    fn number(&mut self) -> Option<(&'a [u8], bool)> {
        self.skip_ws();
        let b = self.bytes;
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let start = self.pos;
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        i = match b.get(i)? {
            b'0' => i + 1,
            b'1'..=b'9' => digits(i + 1),
            _ => return None,
        };
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            (i, integer) = (end, false);
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            i += usize::from(matches!(b.get(i), Some(b'+' | b'-')));
            let end = digits(i);
            if end == i {
                return None;
            }
            (i, integer) = (end, false);
        }
        self.pos = i;
        Some((&b[start..i], integer))
    }

    /// A finite number's value, correctly rounded as serde_json's
    /// `float_roundtrip` reads it (the full rules compare the same value).
    fn float(&mut self) -> Option<f64> {
        let (text, _) = self.number()?;
        short_decimal(text).or_else(|| {
            // A number's bytes are ASCII.
            let text = std::str::from_utf8(text).ok()?;
            text.parse::<f64>().ok().filter(|x| x.is_finite())
        })
    }

    /// An integer written without fraction or exponent, of at most 18
    /// digits (so it fits an `i64` whatever they are); `non_negative` refuses
    /// a minus sign.
    fn integer(&mut self, non_negative: bool) -> Option<()> {
        let (text, integer) = self.number()?;
        let digits = text.strip_prefix(b"-");
        let ok =
            integer && !(non_negative && digits.is_some()) && digits.unwrap_or(text).len() <= 18;
        ok.then_some(())
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Option<bool> {
        self.skip_ws();
        let rest = &self.bytes[self.pos..];
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.pos += len;
        Some(value)
    }

    /// `null`, taken if it is next.
    fn null(&mut self) -> bool {
        self.skip_ws();
        let found = self.bytes[self.pos..].starts_with(b"null");
        self.pos += if found { 4 } else { 0 };
        found
    }

    /// An array of `len` integers.
    fn integers(&mut self, len: usize) -> Option<()> {
        let mut n = 0;
        self.array(|c| {
            n += 1;
            c.integer(false)
        })?;
        (n == len).then_some(())
    }

    /// The end of the line: whitespace alone.
    fn end(&mut self) -> Option<()> {
        self.skip_ws();
        (self.pos == self.bytes.len()).then_some(())
    }
}

/// The line's request id when the line draws no diagnostic of its own (the
/// caller still checks that the id is new); `None` when unsure.
///
/// It takes the line's bytes, and a line it finds clean is UTF-8 (see
/// [`Cursor`]): the caller needs no check of its own. Cost: one pass over
/// the line, most of it sixteen bytes a step inside strings (SSE2, or eight
/// in plain integers off x86-64; see [`super::simd`]).
pub(crate) fn clean(line: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(line);
    let (mut id, mut endpoint, mut payload) = (None, None, None);
    c.object(|c, key| match key {
        b"request_id" => set(&mut id, c.string()?),
        b"endpoint" => set(&mut endpoint, c.string()?),
        // A payload is read only when it passes `payload_clean`.
        b"payload" => set(&mut payload, read_payload(c)?),
        _ => None,
    })?;
    c.end()?;
    let (id, ()) = (id?, payload?);
    (request_id_clean(id) && endpoint? == b"/v2/generate").then_some(id)
}

/// Whether `text` is one of `names`.
fn one_of(names: &[&str], text: &[u8]) -> bool {
    names.iter().any(|name| name.as_bytes() == text)
}

/// What the checks need of a payload.
#[derive(Default)]
struct Payload<'a> {
    model: Option<&'a [u8]>,
    input: Option<Inputs<'a>>,
    /// Whether the options are clean only for `react-1`.
    react_only_options: Option<bool>,
    segments: Option<Vec<Segment<'a>>>,
    webhook_url: Option<&'a [u8]>,
    output_file_name: Option<&'a [u8]>,
    /// Any string; kept only so that a second `projectId` is refused.
    project_id: Option<&'a [u8]>,
}

/// One input, as read.
#[derive(Default)]
struct Input<'a> {
    kind: Option<&'a [u8]>,
    url: Option<&'a [u8]>,
    asset_id: Option<&'a [u8]>,
    ref_id: Option<&'a [u8]>,
    /// A text-to-speech provider that passed its checks.
    provider: Option<()>,
}

/// One segment, as read.
#[derive(Default)]
struct Segment<'a> {
    start: Option<f64>,
    end: Option<f64>,
    audio: Option<AudioInput<'a>>,
}

/// A segment's `audioInput`, as read.
#[derive(Default)]
struct AudioInput<'a> {
    ref_id: Option<&'a [u8]>,
    start: Option<f64>,
    end: Option<f64>,
}

/// A `payload` that passes [`payload_clean`]. Rare features (`dubParams`,
/// `dialogueEdit`) and unknown keys take the full rules.
fn read_payload(c: &mut Cursor<'_>) -> Option<()> {
    let mut p = Payload::default();
    c.object(|c, key| match key {
        b"model" => set(&mut p.model, c.string()?),
        b"input" => set(&mut p.input, read_inputs(c)?),
        b"options" => set(&mut p.react_only_options, read_options(c)?),
        b"segments" => {
            let mut segments = Vec::new();
            c.array(|c| {
                segments.push(read_segment(c)?);
                Some(())
            })?;
            set(&mut p.segments, segments)
        }
        b"webhookUrl" => set(&mut p.webhook_url, c.string()?),
        b"outputFileName" => set(&mut p.output_file_name, c.string()?),
        b"projectId" => set(&mut p.project_id, c.string()?),
        _ => None,
    })?;
    payload_clean(&p).then_some(())
}

/// The `input` array, each item checked on its own as it is read and
/// folded into what the payload's checks need of them all.
fn read_inputs<'a>(c: &mut Cursor<'a>) -> Option<Inputs<'a>> {
    let mut inputs = Inputs::default();
    c.array(|c| {
        let mut input = Input::default();
        c.object(|c, key| match key {
            b"type" => set(&mut input.kind, c.string()?),
            b"url" => set(&mut input.url, c.string()?),
            b"assetId" => set(&mut input.asset_id, c.string()?),
            b"refId" => set(&mut input.ref_id, c.string()?),
            b"provider" => set(&mut input.provider, read_provider(c)?),
            // `segments_secs`, `segments_frames` and unknown keys.
            _ => None,
        })?;
        inputs.take(&input).then_some(())
    })?;
    Some(inputs)
}

/// A text-to-speech `provider` that passes its checks.
fn read_provider(c: &mut Cursor<'_>) -> Option<()> {
    let (mut name, mut voice_id, mut script) = (None, None, None);
    let (mut stability, mut similarity_boost) = (None, None);
    c.object(|c, key| match key {
        b"name" => set(&mut name, c.string()?),
        b"voiceId" => set(&mut voice_id, c.string()?),
        b"script" => set(&mut script, c.string()?),
        b"stability" => set(&mut stability, c.float()?),
        b"similarityBoost" => set(&mut similarity_boost, c.float()?),
        _ => None,
    })?;
    let unit = |x: Option<f64>| x.is_none_or(|x| (0.0..=1.0).contains(&x));
    let ok = name == Some(b"elevenlabs".as_slice())
        && voice_id.is_some()
        && script.is_some_and(|s| {
            s.len() <= MAX_SCRIPT_CHARS
                || std::str::from_utf8(s).is_ok_and(|s| s.chars().count() <= MAX_SCRIPT_CHARS)
        })
        && unit(stability)
        && unit(similarity_boost);
    ok.then_some(())
}

/// `options` that are clean for some model: `Some(false)` when for every
/// model, `Some(true)` when only for `react-1` (`model_mode` and `prompt`).
fn read_options(c: &mut Cursor<'_>) -> Option<bool> {
    let (mut sync_mode, mut temperature, mut model_mode, mut prompt) = (None, None, None, None);
    let (mut speaker, mut occlusion) = (None, None);
    c.object(|c, key| match key {
        b"sync_mode" => set(&mut sync_mode, c.string()?),
        b"temperature" => set(&mut temperature, c.float()?),
        b"model_mode" => set(&mut model_mode, c.string()?),
        b"prompt" => set(&mut prompt, c.string()?),
        b"active_speaker_detection" => set(&mut speaker, read_speaker_detection(c)?),
        b"occlusion_detection_enabled" => set(&mut occlusion, c.boolean()?),
        _ => None,
    })?;
    let common = sync_mode.is_none_or(|m| one_of(SYNC_MODES, m))
        && temperature.is_none_or(|t| (0.0..=1.0).contains(&t));
    let react_only = model_mode.is_some() || prompt.is_some();
    let react_ok = model_mode.is_none_or(|m| one_of(MODEL_MODES, m))
        && prompt.is_none_or(|p| one_of(PROMPTS, p));
    (common && react_ok).then_some(react_only)
}

/// `active_speaker_detection`, whose fields need only their types.
fn read_speaker_detection(c: &mut Cursor<'_>) -> Option<()> {
    let (mut auto_detect, mut frame_number, mut coordinates, mut boxes) = (None, None, None, None);
    c.object(|c, key| match key {
        b"auto_detect" => set(&mut auto_detect, c.boolean()?),
        b"frame_number" => set(&mut frame_number, c.integer(true)?),
        b"coordinates" => set(&mut coordinates, c.integers(2)?),
        b"bounding_boxes" => {
            c.array(|c| if c.null() { Some(()) } else { c.integers(4) })?;
            set(&mut boxes, ())
        }
        _ => None,
    })
}

/// One item of `segments`.
fn read_segment<'a>(c: &mut Cursor<'a>) -> Option<Segment<'a>> {
    let mut s = Segment::default();
    c.object(|c, key| match key {
        b"startTime" => set(&mut s.start, c.float()?),
        b"endTime" => set(&mut s.end, c.float()?),
        b"audioInput" => {
            let mut a = AudioInput::default();
            c.object(|c, key| match key {
                b"refId" => set(&mut a.ref_id, c.string()?),
                b"startTime" => set(&mut a.start, c.float()?),
                b"endTime" => set(&mut a.end, c.float()?),
                _ => None,
            })?;
            set(&mut s.audio, a)
        }
        _ => None,
    })?;
    Some(s)
}

/// What the payload's checks need of all its inputs.
#[derive(Default)]
struct Inputs<'a> {
    /// Videos and images.
    visual: usize,
    /// Images alone (only `sync-3` takes one).
    images: usize,
    /// Audio and text inputs.
    audio: usize,
    /// Whether an audio or text input has no `refId`.
    missing_ref: bool,
    /// The `refId`s of audio and text inputs, each once.
    ref_ids: Vec<&'a [u8]>,
}

impl<'a> Inputs<'a> {
    /// Takes one input; false when it is not clean.
    fn take(&mut self, input: &Input<'a>) -> bool {
        let media = match input.kind {
            Some(kind @ (b"video" | b"image")) => {
                self.visual += 1;
                self.images += usize::from(kind == b"image");
                if input.ref_id.is_some() {
                    return false;
                }
                true
            }
            Some(b"audio") => {
                self.audio += 1;
                true
            }
            Some(b"text") => {
                self.audio += 1;
                false
            }
            _ => return false,
        };
        if media {
            let source_ok = match (input.url, input.asset_id) {
                (Some(url), None) => url_scheme(url).is_some(),
                (None, Some(asset)) => {
                    std::str::from_utf8(asset).is_ok_and(|a| !a.trim().is_empty())
                }
                _ => false,
            };
            if !source_ok || input.provider.is_some() {
                return false;
            }
        } else if input.url.is_some() || input.asset_id.is_some() || input.provider.is_none() {
            return false;
        }
        if matches!(input.kind, Some(b"audio" | b"text")) {
            match input.ref_id {
                Some(r) if self.ref_ids.contains(&r) => return false,
                Some(r) => self.ref_ids.push(r),
                None => self.missing_ref = true,
            }
        }
        true
    }
}

/// Whether a request id draws no diagnostic of its own: not empty, no
/// control character, at most 64 characters, no white space at either end.
fn request_id_clean(id: &[u8]) -> bool {
    if id.is_ascii() {
        // In ASCII the controls are 0x00 to 0x1f and 0x7f, and the only
        // white space that is not one is the space.
        return (1..=64).contains(&id.len())
            && id.iter().all(|&b| b >= 0x20 && b != 0x7f)
            && id.first() != Some(&b' ')
            && id.last() != Some(&b' ');
    }
    std::str::from_utf8(id).is_ok_and(|id| {
        !id.chars().any(char::is_control)
            && (id.len() <= 64 || id.chars().count() <= 64)
            && id.trim() == id
    })
}

fn payload_clean(p: &Payload) -> bool {
    let Some(model) = p.model.filter(|m| one_of(MODELS, m)) else {
        return false;
    };
    let react = model == b"react-1";
    let Some(inputs) = &p.input else {
        return false;
    };
    if inputs.images > 0 && model != b"sync-3" {
        return false;
    }
    let &Inputs {
        visual,
        audio,
        missing_ref,
        ref ref_ids,
        ..
    } = inputs;
    let composition =
        visual == 1 && audio >= 1 && (audio == 1 || (p.segments.is_some() && !missing_ref));
    if !composition {
        return false;
    }
    if p.react_only_options == Some(true) && !react {
        return false;
    }
    let max_time = if react {
        REACT_MAX_SECONDS
    } else {
        BATCH_MAX_SECONDS
    };
    let time_ok = |t: f64| (0.0..=max_time).contains(&t);
    for s in p.segments.iter().flatten() {
        let (Some(start), Some(end), Some(a)) = (s.start, s.end, &s.audio) else {
            return false;
        };
        if !(time_ok(start) && time_ok(end) && end > start) {
            return false;
        }
        if !a.ref_id.is_some_and(|r| ref_ids.contains(&r)) {
            return false;
        }
        match (a.start, a.end) {
            (None, None) => {}
            (Some(x), Some(y)) if time_ok(x) && time_ok(y) && y > x => {}
            _ => return false,
        }
    }
    if p.webhook_url.is_some_and(|u| url_scheme(u) != Some(true)) {
        return false;
    }
    if p.output_file_name.is_some_and(|n| !output_file_name_ok(n)) {
        return false;
    }
    true
}

#[cfg(test)]
mod reader_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// A number token, valid or not, is read by the cursor exactly when
        /// serde_json reads it as a number, to the same value.
        #[test]
        fn numbers_are_read_as_serde_json_reads_them(
            text in "-?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{0,4})?",
        ) {
            let mut c = Cursor::new(text.as_bytes());
            let ours = c.number().filter(|_| c.end().is_some());
            let theirs = serde_json::from_str::<serde_json::Value>(&text);
            match (ours, theirs) {
                (Some((t, integer)), Ok(serde_json::Value::Number(n))) => {
                    prop_assert_eq!(t, text.as_bytes());
                    prop_assert_eq!(integer, !text.contains(['.', 'e', 'E']));
                    let mut c = Cursor::new(text.as_bytes());
                    prop_assert_eq!(c.float(), n.as_f64().filter(|x| x.is_finite()));
                }
                // A number too large for an f64: read, but never a value.
                (Some(_), Err(e)) if e.to_string().starts_with("number out of range") => {
                    prop_assert_eq!(Cursor::new(text.as_bytes()).float(), None);
                }
                (None, Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "{text}: {ours:?} against {theirs:?}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20000, ..ProptestConfig::default() })]

        /// Every short decimal, of up to 15 digits with the point anywhere:
        /// the same bits as `str::parse` (the sign of zero included).
        #[test]
        fn short_decimals_are_parsed_exactly(
            text in "-?[0-9]{1,8}(\\.[0-9]{1,8})?",
        ) {
            let parsed: f64 = text.parse().unwrap();
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            let ours = short_decimal(text.as_bytes());
            if digits <= 15 {
                prop_assert_eq!(ours.map(f64::to_bits), Some(parsed.to_bits()), "{}", text);
            } else {
                prop_assert_eq!(ours, None);
            }
        }
    }

    #[test]
    fn short_decimals_give_way_to_parse_for_the_rest() {
        assert_eq!(short_decimal(b"1e5"), None);
        assert_eq!(short_decimal(b"1.5E-3"), None);
        assert_eq!(short_decimal(b"1234567890123456"), None); // 16 digits
        assert_eq!(short_decimal(b"123456789012345"), Some(123456789012345.0));
        assert_eq!(short_decimal(b"0.000000000000001"), None); // 16 digits
        assert_eq!(short_decimal(b"0.1"), Some(0.1));
        assert_eq!(
            short_decimal(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        // Fifteen digits, where a conversion digit by digit in floating
        // point would round more than once.
        for text in ["0.30000000000000", "9007199254.74099", "0.99999999999999"] {
            assert_eq!(short_decimal(text.as_bytes()), text.parse().ok(), "{text}");
        }
    }

    #[test]
    fn literals_and_integers() {
        let read = |text: &str, f: fn(&mut Cursor) -> Option<()>| {
            let mut c = Cursor::new(text.as_bytes());
            f(&mut c).and_then(|()| c.end()).is_some()
        };
        assert!(read(" true", |c| c.boolean().map(drop)));
        assert!(!read("tru", |c| c.boolean().map(drop)));
        assert!(read("[1, -2]", |c| c.integers(2)));
        assert!(!read("[1,2,3]", |c| c.integers(2)));
        assert!(!read("[1.0,2]", |c| c.integers(2)));
        assert!(!read("[1,]", |c| c.integers(1)));
        assert!(read("7", |c| c.integer(true)));
        assert!(!read("-7", |c| c.integer(true)));
        assert!(!read("1234567890123456789", |c| c.integer(false)));
        assert!(read("{ \"a\" : 1 , \"b\":2 }", |c| c
            .object(|c, _| c.integer(true))));
        assert!(!read("{\"a\":1,}", |c| c.object(|c, _| c.integer(true))));
        assert!(!read("{\"a\" 1}", |c| c.object(|c, _| c.integer(true))));
        assert!(!read("{\"a\\u0062\":1}", |c| c.object(|c, _| c.integer(true))));
    }
}

#[cfg(all(test, feature = "generate"))]
mod tests {
    use super::*;

    #[test]
    fn generated_valid_lines_take_the_fast_path() {
        let data = crate::generate::records(3, 2000);
        let text = std::str::from_utf8(&data).unwrap();
        let fast = text
            .lines()
            .filter(|l| clean(l.as_bytes()).is_some())
            .count();
        assert_eq!(fast, 2000);
    }

    /// Whitespace between tokens is common in hand-made files; it must not
    /// send a line to the slow path.
    #[test]
    fn spaced_valid_lines_take_the_fast_path() {
        let data = crate::generate::records(4, 500);
        let text = std::str::from_utf8(&data).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let spaced = serde_json::to_string_pretty(&v)
                .unwrap()
                .replace('\n', "\r\n\t");
            assert!(clean(spaced.as_bytes()).is_some(), "{spaced}");
        }
    }
}
