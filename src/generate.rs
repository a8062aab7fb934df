//! A deterministic generator of realistic batch input lines, for tests, benches
//! and `cargo run --example gen`.
//!
//! Valid lines follow `spec/batch-format.md`: varied models, video or image
//! plus audio, text-to-speech, options, segments, URLs of realistic length;
//! about 250 to 600 bytes a line. With [`Generator::invalid_fraction`], that
//! share of lines is broken in one of the ways the spec lists
//! ([`Generator::next_record`] says which diagnostic code it should draw).
//!
//! ```
//! use syncbatch::generate::Generator;
//!
//! let mut g = Generator::new(7);
//! let mut line = Vec::new();
//! assert_eq!(g.next_record(&mut line), None); // a valid record
//! assert!(line.starts_with(b"{\"request_id\":\"req-1\""));
//! assert!(line.ends_with(b"\n"));
//! ```

use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The kinds of broken line the generator can make, by the diagnostic code the
/// validator must report for each.
pub const INVALID_KINDS: &[&str] = &[
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "duplicate_key",
    "blank_line",
    "missing_field",
    "wrong_type",
    "empty_request_id",
    "bad_request_id",
    "long_request_id",
    "request_id_whitespace",
    "duplicate_request_id",
    "bad_endpoint",
    "unknown_model",
    "deprecated_model",
    "unknown_field",
    "unknown_option",
    "deprecated_option",
    "bad_url",
    "bad_input_composition",
    "out_of_range",
    "bad_enum_value",
    "model_mismatch",
    "bad_segment",
    "input_too_long",
    "bad_output_file_name",
    "crlf",
];

const HOSTS: &[&str] = &[
    "https://assets.sync.so/docs",
    "https://storage.googleapis.com/acme-campaign-assets/2026/q3/localized",
    "https://acme-media.s3.us-east-1.amazonaws.com/uploads/personalized-outreach",
    "https://cdn.example-studio.com/projects/8f1c2a/renders",
];

const VOICES: &[&str] = &[
    "EXAVITQu4vr4xnSDxMaL",
    "21m00Tcm4TlvDq8ikWAM",
    "pNInz6obpgDQGcFmaJgB",
];

const SCRIPTS: &[&str] = &[
    "Hi there, thanks for signing up. Here is a quick tour of your new dashboard.",
    "Bonjour et bienvenue ! Voici les nouveautés de cette semaine.",
    "We noticed you have not finished setting up your account; it only takes a minute.",
    "Great news: your order has shipped and should arrive within three business days.",
];

/// Deterministic record generator: the same seed gives the same lines.
#[derive(Clone, Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    record: u64,
    invalid_fraction: f64,
    id_prefix: String,
    /// The id of the last valid record, for `duplicate_request_id`.
    last_valid: Option<String>,
}

impl Generator {
    /// A generator of valid records from `seed`.
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            record: 0,
            invalid_fraction: 0.0,
            id_prefix: "req-".to_owned(),
            last_valid: None,
        }
    }

    /// Makes about this fraction (0 to 1) of the lines invalid, each in one of
    /// the [`INVALID_KINDS`].
    pub fn invalid_fraction(mut self, fraction: f64) -> Self {
        self.invalid_fraction = fraction.clamp(0.0, 1.0);
        self
    }

    /// Sets the prefix of generated request ids (`req-` by default).
    pub fn id_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.id_prefix);
        self
    }

    /// Appends the next line, `\n` included, to `out`. Returns the diagnostic
    /// code the line must draw, or `None` for a valid line. Cost: one line's
    /// formatting; allocates only inside `out`.
    pub fn next_record(&mut self, out: &mut Vec<u8>) -> Option<&'static str> {
        self.record += 1;
        let id = format!("{}{}", self.id_prefix, self.record);
        if self.invalid_fraction > 0.0 && self.rng.gen_bool(self.invalid_fraction) {
            let mut kind = *INVALID_KINDS.choose(&mut self.rng).expect("not empty");
            if kind == "duplicate_request_id" && self.last_valid.is_none() {
                kind = "unknown_field";
            }
            self.invalid(kind, &id, out);
            return Some(kind);
        }
        let payload = self.payload();
        envelope(out, &format!("\"{id}\""), &payload);
        self.last_valid = Some(id);
        None
    }

    /// Appends a bare Generate request (a payload, no envelope) and `\n`.
    pub fn next_payload(&mut self, out: &mut Vec<u8>) {
        self.record += 1;
        let payload = self.payload();
        out.extend_from_slice(payload.as_bytes());
        out.push(b'\n');
    }

    fn url(&mut self, stem: &str, ext: &str) -> String {
        let host = HOSTS.choose(&mut self.rng).expect("not empty");
        let n: u32 = self.rng.gen_range(1..100_000);
        format!("{host}/{stem}-{n:05}.{ext}")
    }

    fn payload(&mut self) -> String {
        let model = *[
            "lipsync-2",
            "lipsync-2",
            "lipsync-2-pro",
            "sync-3",
            "react-1",
            "lipsync-1.9.0-beta",
        ]
        .choose(&mut self.rng)
        .expect("not empty");
        let visual = if model == "sync-3" && self.rng.gen_bool(0.3) {
            format!(
                "{{\"type\":\"image\",\"url\":\"{}\"}}",
                self.url("portrait", "png")
            )
        } else if self.rng.gen_bool(0.1) {
            let asset: u64 = self.rng.gen();
            format!("{{\"type\":\"video\",\"assetId\":\"asset_{asset:016x}\"}}")
        } else {
            format!(
                "{{\"type\":\"video\",\"url\":\"{}\"}}",
                self.url("speaker", "mp4")
            )
        };
        let segmented = self.rng.gen_bool(0.15);
        let mut inputs = vec![visual];
        let mut segments = String::new();
        if segmented {
            inputs.push(format!(
                "{{\"type\":\"audio\",\"url\":\"{}\",\"refId\":\"a1\"}}",
                self.url("voice", "wav")
            ));
            inputs.push(format!(
                "{{\"type\":\"audio\",\"url\":\"{}\",\"refId\":\"a2\"}}",
                self.url("voice", "mp3")
            ));
            // Times in tenths of a second, printed exactly; react-1 stays within 15 s.
            let cut: u32 = self.rng.gen_range(20..120);
            let mut end: u32 = cut + self.rng.gen_range(20..150);
            if model == "react-1" {
                end = end.min(150);
            }
            let tenths = |t: u32| format!("{}.{}", t / 10, t % 10);
            segments = format!(
                ",\"segments\":[{{\"startTime\":0,\"endTime\":{},\"audioInput\":{{\"refId\":\"a1\"}}}},{{\"startTime\":{},\"endTime\":{},\"audioInput\":{{\"refId\":\"a2\",\"startTime\":0,\"endTime\":{}}}}}]",
                tenths(cut),
                tenths(cut),
                tenths(end),
                tenths(end - cut)
            );
        } else if self.rng.gen_bool(0.25) {
            let voice = VOICES.choose(&mut self.rng).expect("not empty");
            let script = SCRIPTS.choose(&mut self.rng).expect("not empty");
            let stability: u32 = self.rng.gen_range(0..=10);
            inputs.push(format!(
                "{{\"type\":\"text\",\"provider\":{{\"name\":\"elevenlabs\",\"voiceId\":\"{voice}\",\"script\":\"{script}\",\"stability\":{}}}}}",
                f64::from(stability) / 10.0
            ));
        } else {
            inputs.push(format!(
                "{{\"type\":\"audio\",\"url\":\"{}\"}}",
                self.url("voice", "wav")
            ));
        }
        let mut options = Vec::new();
        if self.rng.gen_bool(0.6) {
            let mode = ["bounce", "loop", "cut_off", "silence", "remap"]
                .choose(&mut self.rng)
                .expect("not empty");
            options.push(format!("\"sync_mode\":\"{mode}\""));
        }
        if self.rng.gen_bool(0.4) {
            let t: u32 = self.rng.gen_range(0..=10);
            options.push(format!("\"temperature\":{}", f64::from(t) / 10.0));
        }
        if model == "react-1" && self.rng.gen_bool(0.7) {
            let mode = ["lips", "face", "head"]
                .choose(&mut self.rng)
                .expect("not empty");
            let prompt = ["happy", "sad", "neutral", "surprised"]
                .choose(&mut self.rng)
                .expect("not empty");
            options.push(format!("\"model_mode\":\"{mode}\",\"prompt\":\"{prompt}\""));
        }
        if self.rng.gen_bool(0.15) {
            let frame: u32 = self.rng.gen_range(0..300);
            let (x, y): (u32, u32) = (self.rng.gen_range(0..1920), self.rng.gen_range(0..1080));
            options.push(format!(
                "\"active_speaker_detection\":{{\"auto_detect\":false,\"frame_number\":{frame},\"coordinates\":[{x},{y}]}}"
            ));
        }
        let mut payload = format!("{{\"model\":\"{model}\",\"input\":[{}]", inputs.join(","));
        if !options.is_empty() {
            payload.push_str(&format!(",\"options\":{{{}}}", options.join(",")));
        }
        payload.push_str(&segments);
        if self.rng.gen_bool(0.3) {
            payload.push_str(&format!(
                ",\"outputFileName\":\"campaign_{}_{}\"",
                self.record,
                self.rng.gen_range(100..999u32)
            ));
        }
        if self.rng.gen_bool(0.2) {
            payload.push_str(",\"webhookUrl\":\"https://hooks.example.com/sync/generation-done\"");
        }
        payload.push('}');
        payload
    }

    fn invalid(&mut self, kind: &str, id: &str, out: &mut Vec<u8>) {
        let quoted = format!("\"{id}\"");
        let good = self.payload();
        let video = "{\"type\":\"video\",\"url\":\"https://assets.sync.so/docs/v.mp4\"}";
        let audio = "{\"type\":\"audio\",\"url\":\"https://assets.sync.so/docs/a.wav\"}";
        let fixed = |model: &str, extra: &str| {
            format!("{{\"model\":\"{model}\",\"input\":[{video},{audio}]{extra}}}")
        };
        match kind {
            "invalid_utf8" => {
                let mut line = Vec::new();
                envelope(
                    &mut line,
                    &quoted,
                    &fixed("lipsync-2", ",\"outputFileName\":\"x\""),
                );
                let at = line.len() - 4;
                line.insert(at, 0xFF);
                out.extend_from_slice(&line);
                return;
            }
            "invalid_json" => {
                let mut line = Vec::new();
                envelope(&mut line, &quoted, &good);
                line.truncate(line.len() - 3);
                line.push(b'\n');
                out.extend_from_slice(&line);
                return;
            }
            "not_an_object" => {
                out.extend_from_slice(format!("[{quoted},\"/v2/generate\"]\n").as_bytes());
                return;
            }
            "duplicate_key" => {
                let line = format!(
                    "{{\"request_id\":{quoted},\"request_id\":{quoted},\"endpoint\":\"/v2/generate\",\"payload\":{good}}}\n"
                );
                out.extend_from_slice(line.as_bytes());
                return;
            }
            "blank_line" => {
                out.extend_from_slice(b"   \n");
                return;
            }
            "crlf" => {
                envelope(out, &quoted, &good);
                out.pop();
                out.extend_from_slice(b"\r\n");
                return;
            }
            "missing_field" => {
                out.extend_from_slice(
                    format!("{{\"request_id\":{quoted},\"payload\":{good}}}\n").as_bytes(),
                );
                return;
            }
            "wrong_type" => {
                return envelope(out, &format!("{}", self.record), &good);
            }
            "empty_request_id" => return envelope(out, "\"\"", &good),
            "bad_request_id" => return envelope(out, &format!("\"{id}\\u0007\""), &good),
            "long_request_id" => {
                return envelope(out, &format!("\"{id}-{}\"", "x".repeat(70)), &good)
            }
            "request_id_whitespace" => return envelope(out, &format!("\" {id}\""), &good),
            "duplicate_request_id" => {
                let earlier = format!("\"{}\"", self.last_valid.as_deref().unwrap_or_default());
                return envelope(out, &earlier, &good);
            }
            "bad_endpoint" => {
                let line = format!(
                    "{{\"request_id\":{quoted},\"endpoint\":\"/v2/generations\",\"payload\":{good}}}\n"
                );
                out.extend_from_slice(line.as_bytes());
                return;
            }
            _ => {}
        }
        let payload = match kind {
            "unknown_model" => fixed("wav2lip-hd", ""),
            "deprecated_model" => fixed("lipsync-1.7.1", ""),
            "unknown_field" => fixed("lipsync-2", ",\"watermark\":true"),
            "unknown_option" => fixed("lipsync-2", ",\"options\":{\"sync_mode\":\"loop\",\"turbo\":true}"),
            "deprecated_option" => fixed("lipsync-2", ",\"options\":{\"output_format\":\"mp4\"}"),
            "bad_url" => fixed("lipsync-2", "").replacen("https://", "htps:/", 1),
            "bad_input_composition" => {
                format!("{{\"model\":\"lipsync-2\",\"input\":[{video}]}}")
            }
            "out_of_range" => fixed("lipsync-2", ",\"options\":{\"temperature\":1.5}"),
            "bad_enum_value" => fixed("lipsync-2", ",\"options\":{\"sync_mode\":\"wrap\"}"),
            "model_mismatch" => fixed("lipsync-2", ",\"options\":{\"model_mode\":\"head\"}"),
            "bad_segment" => fixed(
                "lipsync-2",
                ",\"segments\":[{\"startTime\":5,\"endTime\":2,\"audioInput\":{\"refId\":\"a1\"}}]",
            )
            .replacen(audio, &audio.replacen('}', ",\"refId\":\"a1\"}", 1), 1),
            "input_too_long" => fixed(
                "lipsync-2",
                ",\"segments\":[{\"startTime\":0,\"endTime\":31.5,\"audioInput\":{\"refId\":\"a1\"}}]",
            )
            .replacen(audio, &audio.replacen('}', ",\"refId\":\"a1\"}", 1), 1),
            "bad_output_file_name" => fixed("lipsync-2", ",\"outputFileName\":\"final cut.mp4\""),
            other => unreachable!("no generator for {other}"),
        };
        envelope(out, &quoted, &payload);
    }
}

/// How [`fabricate_outputs`] shapes the batch output files.
#[derive(Clone, Debug)]
pub struct OutputShape {
    /// How many files to spread the lines over.
    pub files: usize,
    /// Share of requests given a second, different result line.
    pub duplicates: f64,
    /// Share of requests given no result line.
    pub missing: f64,
    /// Result lines for ids that are not among the requests, as a share of requests.
    pub unknown: f64,
    /// Share of lines spelled `requestId` / `updatedAt`.
    pub camel_case: f64,
}

impl Default for OutputShape {
    fn default() -> Self {
        OutputShape {
            files: 4,
            duplicates: 0.03,
            missing: 0.02,
            unknown: 0.01,
            camel_case: 0.05,
        }
    }
}

const ERRORS: &[&str] = &[
    "generation_timeout",
    "generation_pipeline_failed",
    "generation_audio_length_exceeded",
    "generation_media_metadata_missing",
    "generation_input_validation_failed",
];

/// Fabricates batch output lines (`output.jsonl`) for the given request ids:
/// random statuses (mostly `COMPLETED`), errors as objects or bare strings,
/// realistic `response` objects, some duplicates (a retried request), some
/// missing and some unknown ids, shuffled and spread over `shape.files` files.
/// Calls `line(file, bytes)` for each line (no newline), in the order to write.
/// Deterministic for a seed.
pub fn fabricate_outputs(
    ids: &[String],
    seed: u64,
    shape: &OutputShape,
    mut line: impl FnMut(usize, &[u8]),
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // (index into ids, or none for an unknown id), then shuffled.
    let mut plan: Vec<Option<u32>> = Vec::with_capacity(ids.len() + ids.len() / 10);
    for i in 0..ids.len() {
        if rng.gen_bool(shape.missing.clamp(0.0, 1.0)) {
            continue;
        }
        plan.push(Some(i as u32));
        if rng.gen_bool(shape.duplicates.clamp(0.0, 1.0)) {
            plan.push(Some(i as u32));
        }
    }
    let unknown = (ids.len() as f64 * shape.unknown.max(0.0)).round() as usize;
    plan.extend(std::iter::repeat_n(None, unknown));
    plan.shuffle(&mut rng);
    let files = shape.files.max(1);
    let mut out = Vec::with_capacity(1024);
    for (n, entry) in plan.into_iter().enumerate() {
        out.clear();
        let id = match entry {
            Some(i) => ids[i as usize].clone(),
            None => format!("unknown-{n}"),
        };
        output_line(&mut rng, &id, shape, &mut out);
        line(rng.gen_range(0..files), &out);
    }
}

fn output_line(rng: &mut ChaCha8Rng, id: &str, shape: &OutputShape, out: &mut Vec<u8>) {
    let roll: f64 = rng.gen();
    let status = match roll {
        r if r < 0.80 => "COMPLETED",
        r if r < 0.92 => "FAILED",
        r if r < 0.96 => "REJECTED",
        r if r < 0.98 => "TIMED_OUT",
        _ => "PENDING",
    };
    let camel = rng.gen_bool(shape.camel_case.clamp(0.0, 1.0));
    let minute: u32 = rng.gen_range(0..60);
    let second: u32 = rng.gen_range(0..60);
    let updated = format!(
        "2026-11-2{}T1{}:{minute:02}:{second:02}Z",
        rng.gen_range(0..8),
        rng.gen_range(0..10)
    );
    let gen_id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.gen::<u32>(),
        rng.gen::<u16>(),
        rng.gen_range(0..0x1000u32),
        rng.gen_range(0..0x1000u32),
        rng.gen::<u64>() & 0xFFFF_FFFF_FFFF
    );
    let error = if status == "COMPLETED" {
        "null".to_owned()
    } else {
        let code = ERRORS.choose(rng).expect("not empty");
        if rng.gen_bool(0.2) {
            format!("\"{code}: the generation could not finish\"")
        } else {
            format!("{{\"code\":\"{code}\",\"message\":\"The generation failed: {code}.\"}}")
        }
    };
    let response = if status == "COMPLETED" || status == "FAILED" {
        let (url, duration) = if status == "COMPLETED" {
            (
                format!("\"https://storage.sync.so/generations/{gen_id}/output.mp4\""),
                format!("{}.{}", rng.gen_range(2..30), rng.gen_range(0..10)),
            )
        } else {
            ("null".to_owned(), "null".to_owned())
        };
        format!(
            "{{\"id\":\"{gen_id}\",\"createdAt\":\"2026-11-20T09:00:00Z\",\"status\":\"{status}\",\"model\":\"lipsync-2\",\"input\":[{{\"type\":\"video\",\"url\":\"https://assets.sync.so/docs/example-video.mp4\"}},{{\"type\":\"audio\",\"url\":\"https://assets.sync.so/docs/example-audio.wav\"}}],\"options\":{{\"sync_mode\":\"cut_off\"}},\"outputUrl\":{url},\"outputDuration\":{duration},\"webhookUrl\":null,\"error\":null}}"
        )
    } else {
        "null".to_owned()
    };
    let (id_key, time_key) = if camel {
        ("requestId", "updatedAt")
    } else {
        ("request_id", "updated_at")
    };
    out.extend_from_slice(
        format!(
            "{{\"{id_key}\":\"{id}\",\"endpoint\":\"/v2/generate\",\"payload\":{{}},\"status\":\"{status}\",\"error\":{error},\"response\":{response},\"{time_key}\":\"{updated}\"}}"
        )
        .as_bytes(),
    );
}

fn envelope(out: &mut Vec<u8>, id_json: &str, payload: &str) {
    out.extend_from_slice(b"{\"request_id\":");
    out.extend_from_slice(id_json.as_bytes());
    out.extend_from_slice(b",\"endpoint\":\"/v2/generate\",\"payload\":");
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b"}\n");
}

/// Generates `records` lines from `seed` into one buffer (for benches).
pub fn records(seed: u64, records: usize) -> Vec<u8> {
    let mut g = Generator::new(seed);
    let mut out = Vec::with_capacity(records * 450);
    for _ in 0..records {
        g.next_record(&mut out);
    }
    out
}

/// Generates valid records from `seed` until the buffer holds at least `bytes`.
pub fn records_of_size(seed: u64, bytes: usize) -> Vec<u8> {
    let mut g = Generator::new(seed);
    let mut out = Vec::with_capacity(bytes + 1024);
    while out.len() < bytes {
        g.next_record(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lines() {
        let a = records(42, 200);
        assert_eq!(a, records(42, 200));
        assert_ne!(a, records(43, 200));
    }

    #[test]
    fn valid_lines_are_json_objects_of_realistic_size() {
        let data = records(1, 2000);
        let mut sizes = Vec::new();
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
            assert_eq!(v["endpoint"], "/v2/generate");
            sizes.push(line.len());
        }
        assert_eq!(sizes.len(), 2000);
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((250..=600).contains(&mean), "mean line {mean} bytes");
        assert!(*sizes.iter().min().unwrap() >= 150);
        assert!(*sizes.iter().max().unwrap() <= 900);
    }

    #[test]
    fn every_invalid_kind_is_made() {
        let mut g = Generator::new(3).invalid_fraction(0.5);
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for _ in 0..5000 {
            seen.extend(g.next_record(&mut out));
        }
        assert_eq!(seen.len(), INVALID_KINDS.len());
    }
}
