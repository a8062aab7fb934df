//! The fast path: decides, for the common line, that it draws no diagnostic
//! at all, without building a tree.
//!
//! The line is deserialized straight into borrowed structs whose visitors
//! accept only objects, only the keys the API defines, each key once, and
//! strings without escapes; anything else makes the parse fail. The checks
//! below run on plain fields as each part (payload, input, provider,
//! options) is read, and a part that is not clean fails the parse too, so
//! no large struct is built or moved. The answer is only ever "clean" or "not
//! sure": on "not sure" the caller runs the full rules ([`super::rules`]),
//! which find and place every diagnostic. So the fast path needs to be
//! exactly as strict as the rules about *whether* a line is clean, never
//! about what is wrong with it; `tests/validate_rules.rs` checks that
//! `clean(line)` implies that the rules find nothing, on generated, broken
//! and mutated lines, and the `validate` fuzz target checks it on any bytes.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::rules::{
    output_file_name_ok, url_scheme, BATCH_MAX_SECONDS, MAX_SCRIPT_CHARS, MODELS, MODEL_MODES,
    PROMPTS, REACT_MAX_SECONDS, SYNC_MODES,
};

/// Declares a struct of optional fields whose visitor takes a JSON object
/// with only these keys, each at most once. Field types borrow from the line.
macro_rules! object {
    ($name:ident { $($field:ident : $ty:ty = $key:literal,)* }) => {
        #[derive(Default)]
        pub(crate) struct $name<'a> {
            $(pub $field: Option<$ty>,)*
            _line: PhantomData<&'a str>,
        }

        impl<'de> Deserialize<'de> for $name<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(stringify!($name))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<&'de str>()? {
                            match key {
                                $($key => {
                                    if out.$field.is_some() {
                                        return Err(de::Error::duplicate_field($key));
                                    }
                                    out.$field = Some(map.next_value()?);
                                })*
                                _ => return Err(de::Error::custom("not a known key")),
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

object!(Envelope {
    request_id: &'a str = "request_id",
    endpoint: &'a str = "endpoint",
    payload: CleanPayload = "payload",
});

object!(Payload {
    model: &'a str = "model",
    input: Inputs<'a> = "input",
    options: CleanOptions = "options",
    segments: Vec<Segment<'a>> = "segments",
    webhook_url: &'a str = "webhookUrl",
    output_file_name: &'a str = "outputFileName",
    dub_params: IgnoredAny = "dubParams",
    dialogue_edit: IgnoredAny = "dialogueEdit",
    project_id: &'a str = "projectId",
});

object!(Input {
    kind: &'a str = "type",
    url: &'a str = "url",
    asset_id: &'a str = "assetId",
    ref_id: &'a str = "refId",
    provider: CleanProvider = "provider",
    segments_secs: IgnoredAny = "segments_secs",
    segments_frames: IgnoredAny = "segments_frames",
});

object!(Provider {
    name: &'a str = "name",
    voice_id: &'a str = "voiceId",
    script: &'a str = "script",
    stability: f64 = "stability",
    similarity_boost: f64 = "similarityBoost",
});

object!(Options {
    sync_mode: &'a str = "sync_mode",
    temperature: f64 = "temperature",
    model_mode: &'a str = "model_mode",
    prompt: &'a str = "prompt",
    active_speaker_detection: SpeakerDetection<'a> = "active_speaker_detection",
    occlusion_detection_enabled: bool = "occlusion_detection_enabled",
});

object!(SpeakerDetection {
    auto_detect: bool = "auto_detect",
    frame_number: u64 = "frame_number",
    coordinates: [i64; 2] = "coordinates",
    bounding_boxes: Vec<Option<[i64; 4]>> = "bounding_boxes",
});

object!(Segment {
    start: f64 = "startTime",
    end: f64 = "endTime",
    audio: AudioInput<'a> = "audioInput",
});

object!(AudioInput {
    ref_id: &'a str = "refId",
    start: f64 = "startTime",
    end: f64 = "endTime",
});

/// The fast path's answer for a part of the line that the checks below
/// find clean; the parse fails on any other, so the caller's structs stay
/// small (they are moved a few times a line, and that showed in profiles).
fn not_clean<E: de::Error>() -> E {
    E::custom("not clean")
}

/// A `payload` that passes [`payload_clean`].
pub(crate) struct CleanPayload;

/// Reads a `T` and fails the parse unless `clean` passes it.
fn checked<'de, T, D>(d: D, clean: impl FnOnce(&T) -> bool) -> Result<(), D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let part = T::deserialize(d)?;
    clean(&part).then_some(()).ok_or_else(not_clean)
}

impl<'de> Deserialize<'de> for CleanPayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, payload_clean).map(|()| CleanPayload)
    }
}

/// A text-to-speech `provider` that passes [`provider_clean`].
pub(crate) struct CleanProvider;

impl<'de> Deserialize<'de> for CleanProvider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, provider_clean).map(|()| CleanProvider)
    }
}

/// `options` that pass [`options_clean`] for some model: whether they do
/// for every model or only for `react-1` (`model_mode` and `prompt`).
pub(crate) struct CleanOptions {
    react_only: bool,
}

impl<'de> Deserialize<'de> for CleanOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let o = Options::deserialize(d)?;
        if options_clean(&o, false) {
            Ok(CleanOptions { react_only: false })
        } else if options_clean(&o, true) {
            Ok(CleanOptions { react_only: true })
        } else {
            Err(not_clean())
        }
    }
}

/// The `input` array, each item checked on its own as it is read and
/// folded into what the payload's checks need of them all.
#[derive(Default)]
pub(crate) struct Inputs<'a> {
    /// Videos and images.
    visual: usize,
    /// Images alone (only `sync-3` takes one).
    images: usize,
    /// Audio and text inputs.
    audio: usize,
    /// Whether an audio or text input has no `refId`.
    missing_ref: bool,
    /// The `refId`s of audio and text inputs, each once.
    ref_ids: Vec<&'a str>,
}

impl<'a> Inputs<'a> {
    /// Takes one input; false when it is not clean.
    fn take(&mut self, input: &Input<'a>) -> bool {
        if input.segments_secs.is_some() || input.segments_frames.is_some() {
            return false;
        }
        let media = match input.kind {
            Some(kind @ ("video" | "image")) => {
                self.visual += 1;
                self.images += usize::from(kind == "image");
                if input.ref_id.is_some() {
                    return false;
                }
                true
            }
            Some("audio") => {
                self.audio += 1;
                true
            }
            Some("text") => {
                self.audio += 1;
                false
            }
            _ => return false,
        };
        if media {
            let source_ok = match (input.url, input.asset_id) {
                (Some(url), None) => url_scheme(url).is_some(),
                (None, Some(asset)) => !asset.trim().is_empty(),
                _ => false,
            };
            if !source_ok || input.provider.is_some() {
                return false;
            }
        } else if input.url.is_some() || input.asset_id.is_some() || input.provider.is_none() {
            return false;
        }
        if input.kind == Some("audio") || input.kind == Some("text") {
            match input.ref_id {
                Some(r) if self.ref_ids.contains(&r) => return false,
                Some(r) => self.ref_ids.push(r),
                None => self.missing_ref = true,
            }
        }
        true
    }
}

impl<'de> Deserialize<'de> for Inputs<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Inputs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of inputs")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Inputs::default();
                while let Some(input) = seq.next_element::<Input>()? {
                    if !out.take(&input) {
                        return Err(not_clean());
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// The line's request id when the line draws no diagnostic of its own (the
/// caller still checks that the id is new); `None` when unsure.
///
/// It takes text already checked as UTF-8 in one pass: cheaper than
/// serde_json checking each borrowed string on its own.
pub(crate) fn clean(line: &str) -> Option<&str> {
    let envelope: Envelope = serde_json::from_str(line).ok()?;
    let id = envelope.request_id?;
    // A payload is there only when it passed `payload_clean`.
    envelope.payload?;
    let ok = request_id_clean(id) && envelope.endpoint? == "/v2/generate";
    ok.then_some(id)
}

fn request_id_clean(id: &str) -> bool {
    !id.is_empty()
        && !id.chars().any(char::is_control)
        && (id.len() <= 64 || id.chars().count() <= 64)
        && id.trim() == id
}

fn payload_clean(p: &Payload) -> bool {
    // Rare features take the full rules.
    if p.dub_params.is_some() || p.dialogue_edit.is_some() {
        return false;
    }
    let Some(model) = p.model.filter(|m| MODELS.contains(m)) else {
        return false;
    };
    let react = model == "react-1";
    let Some(inputs) = &p.input else {
        return false;
    };
    if inputs.images > 0 && model != "sync-3" {
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
    if p.options.as_ref().is_some_and(|o| o.react_only && !react) {
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

fn provider_clean(p: &Provider) -> bool {
    let unit = |x: Option<f64>| x.is_none_or(|x| (0.0..=1.0).contains(&x));
    p.name == Some("elevenlabs")
        && p.voice_id.is_some()
        && p.script
            .is_some_and(|s| s.len() <= MAX_SCRIPT_CHARS || s.chars().count() <= MAX_SCRIPT_CHARS)
        && unit(p.stability)
        && unit(p.similarity_boost)
}

fn options_clean(o: &Options, react: bool) -> bool {
    o.sync_mode.is_none_or(|m| SYNC_MODES.contains(&m))
        && o.temperature.is_none_or(|t| (0.0..=1.0).contains(&t))
        && o.model_mode
            .is_none_or(|m| react && MODEL_MODES.contains(&m))
        && o.prompt.is_none_or(|m| react && PROMPTS.contains(&m))
}

#[cfg(all(test, feature = "generate"))]
mod tests {
    use super::*;

    #[test]
    fn generated_valid_lines_take_the_fast_path() {
        let data = crate::generate::records(3, 2000);
        let text = std::str::from_utf8(&data).unwrap();
        let fast = text.lines().filter(|l| clean(l).is_some()).count();
        assert_eq!(fast, 2000);
    }
}
