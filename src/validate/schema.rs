//! The rules of one batch input line (batch-format.md sections 1 and 3),
//! checked on the borrowed tree of [`super::json`]. Every rule runs: a line
//! gets all its findings, not only the first.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::json::Json;
use super::url::url_scheme;
use super::{Code, Severity};

/// One problem found in a line, before it is placed in a file.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub path: Option<String>,
    /// Byte index in the line, when known.
    pub at: Option<usize>,
}

/// A JSON path built on the stack and rendered only when a finding needs it.
#[derive(Clone, Copy)]
pub(super) enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl<'p> Path<'p> {
    pub(super) fn key(&'p self, k: &'p str) -> Path<'p> {
        Path::Key(self, k)
    }

    pub(super) fn index(&'p self, i: usize) -> Path<'p> {
        Path::Index(self, i)
    }

    pub(super) fn render(&self) -> Option<String> {
        fn go(p: &Path, out: &mut String) {
            match p {
                Path::Root => {}
                Path::Key(parent, k) => {
                    go(parent, out);
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Path::Index(parent, i) => {
                    go(parent, out);
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        let mut out = String::new();
        go(self, &mut out);
        (!out.is_empty()).then_some(out)
    }
}

pub(super) type Entries<'a> = [(Cow<'a, str>, Json<'a>)];

/// The models the Generate API knows today.
pub const MODELS: &[&str] = &[
    "sync-3",
    "lipsync-2",
    "lipsync-2-pro",
    "lipsync-1.9.0-beta",
    "react-1",
];
/// Legacy models: accepted with a `deprecated_model` warning.
pub const LEGACY_MODELS: &[&str] = &["lipsync-1.8.0", "lipsync-1.7.1", "lipsync-1.6.0"];
pub(crate) const SYNC_MODES: &[&str] = &["bounce", "loop", "cut_off", "silence", "remap"];
pub(crate) const MODEL_MODES: &[&str] = &["lips", "face", "head"];
pub(crate) const PROMPTS: &[&str] = &["happy", "sad", "angry", "disgusted", "surprised", "neutral"];
pub(super) const LEGACY_OPTIONS: &[&str] = &[
    "pads",
    "speedup",
    "output_format",
    "fps",
    "output_resolution",
    "active_speaker",
];
/// The batch limit on input length, seconds.
pub(crate) const BATCH_MAX_SECONDS: f64 = 30.0;
/// Above this, `react-1` draws a warning, seconds.
pub(crate) const REACT_MAX_SECONDS: f64 = 15.0;
pub(crate) const MAX_SCRIPT_CHARS: usize = 5000;

/// Checks one parsed line and collects every finding.
pub(crate) struct Checker<'l> {
    pub(super) line: &'l str,
    pub findings: Vec<Finding>,
    /// The models a payload may name, when not the built-in list.
    pub(super) models: Option<&'l [String]>,
}

impl<'l> Checker<'l> {
    /// A checker for `line` that collects into `findings` (emptied first), so
    /// one allocation serves every line.
    pub fn new(line: &'l str, mut findings: Vec<Finding>) -> Self {
        findings.clear();
        Checker {
            line,
            findings,
            models: None,
        }
    }

    /// Where `s` stands in the line, if it is borrowed from it (the opening
    /// quote of a string or key). Computed only for findings.
    pub fn at(&self, s: &str) -> Option<usize> {
        position(self.line, s)
    }

    pub(super) fn push(
        &mut self,
        severity: Severity,
        code: Code,
        path: &Path,
        at: Option<usize>,
        message: String,
    ) {
        self.findings.push(Finding {
            severity,
            code,
            message,
            path: path.render(),
            at,
        });
    }

    pub(super) fn error(&mut self, code: Code, path: &Path, at: Option<usize>, message: String) {
        self.push(Severity::Error, code, path, at, message);
    }

    pub(super) fn warn(&mut self, code: Code, path: &Path, at: Option<usize>, message: String) {
        self.push(Severity::Warning, code, path, at, message);
    }

    /// Every object in the tree, checked for a key given twice.
    pub fn duplicate_keys(&mut self, value: &Json) {
        self.dup_walk(value, &Path::Root);
    }

    pub(super) fn dup_walk(&mut self, value: &Json, path: &Path) {
        match value {
            Json::Object(entries) => {
                for (i, (key, child)) in entries.iter().enumerate() {
                    if entries[..i].iter().any(|(k, _)| k == key) {
                        let at = self.at(key);
                        self.error(
                            Code::DuplicateKey,
                            &path.key(key),
                            at,
                            format!("key \"{key}\" appears more than once in this object"),
                        );
                    }
                    self.dup_walk(child, &path.key(key));
                }
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.dup_walk(item, &path.index(i));
                }
            }
            _ => {}
        }
    }

    /// Finds `key` in an object; `null` counts as absent.
    pub(super) fn get<'j, 'a>(
        entries: &'j Entries<'a>,
        key: &str,
    ) -> Option<(&'j str, &'j Json<'a>)> {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .filter(|(_, v)| !matches!(v, Json::Null))
            .map(|(k, v)| (k.as_ref(), v))
    }

    /// A required field absent from `obj`; the column points at the object
    /// (at its first key written without escapes), as the field has no place.
    pub(super) fn missing(&mut self, obj: &Entries, path: &Path, key: &str, what: &str) {
        let at = obj.iter().find_map(|(k, _)| self.at(k));
        self.error(
            Code::MissingField,
            &path.key(key),
            at,
            format!("required field \"{key}\" ({what}) is missing"),
        );
    }

    pub(super) fn wrong_type(&mut self, path: &Path, key: &str, at: &str, want: &str, got: &Json) {
        let at = self.at(at);
        self.error(
            Code::WrongType,
            &path.key(key),
            at,
            format!("\"{key}\" must be {want}, not {}", got.kind()),
        );
    }

    /// A required string field.
    pub(super) fn req_str<'j>(
        &mut self,
        obj: &'j Entries,
        path: &Path,
        key: &str,
    ) -> Option<(&'j str, &'j str)> {
        match Self::get(obj, key) {
            None => {
                self.missing(obj, path, key, "a string");
                None
            }
            Some((k, Json::Str(s))) => Some((k, s)),
            Some((k, other)) => {
                self.wrong_type(path, key, k, "a string", other);
                None
            }
        }
    }

    /// An optional field of a given shape; wrong types are reported.
    pub(super) fn opt_str<'j>(
        &mut self,
        obj: &'j Entries,
        path: &Path,
        key: &str,
    ) -> Option<(&'j str, &'j str)> {
        match Self::get(obj, key) {
            None => None,
            Some((k, Json::Str(s))) => Some((k, s)),
            Some((k, other)) => {
                self.wrong_type(path, key, k, "a string", other);
                None
            }
        }
    }

    pub(super) fn opt_number(
        &mut self,
        obj: &Entries,
        path: &Path,
        key: &str,
    ) -> Option<(usize, f64)> {
        match Self::get(obj, key) {
            None => None,
            Some((k, Json::Number(n))) => Some((self.at(k).unwrap_or(0), *n)),
            Some((k, other)) => {
                self.wrong_type(path, key, k, "a number", other);
                None
            }
        }
    }

    pub(super) fn opt_bool(&mut self, obj: &Entries, path: &Path, key: &str) {
        if let Some((k, v)) = Self::get(obj, key) {
            if !matches!(v, Json::Bool(_)) {
                self.wrong_type(path, key, k, "true or false", v);
            }
        }
    }

    pub(super) fn opt_object<'j, 'a>(
        &mut self,
        obj: &'j Entries<'a>,
        path: &Path,
        key: &str,
    ) -> Option<(&'j str, &'j Entries<'a>)> {
        match Self::get(obj, key) {
            None => None,
            Some((k, Json::Object(e))) => Some((k, e)),
            Some((k, other)) => {
                self.wrong_type(path, key, k, "an object", other);
                None
            }
        }
    }

    pub(super) fn enum_value(
        &mut self,
        path: &Path,
        key: &str,
        value: &str,
        allowed: &[&str],
    ) -> bool {
        if allowed.contains(&value) {
            return true;
        }
        let at = self.at(value);
        self.error(
            Code::BadEnumValue,
            &path.key(key),
            at,
            format!(
                "\"{key}\" is \"{value}\"; expected one of {}",
                allowed.join(", ")
            ),
        );
        false
    }

    pub(super) fn range(&mut self, path: &Path, key: &str, at: usize, n: f64, lo: f64, hi: f64) {
        if !(lo..=hi).contains(&n) {
            self.error(
                Code::OutOfRange,
                &path.key(key),
                Some(at),
                format!("\"{key}\" is {n}; it must be between {lo} and {hi}"),
            );
        }
    }

    pub(super) fn unknown(&mut self, code: Code, path: &Path, key: &str, what: &str) {
        let at = self.at(key);
        self.warn(
            code,
            &path.key(key),
            at,
            format!("unknown {what} \"{key}\" (the API may ignore or reject it)"),
        );
    }

    /// The envelope: `request_id`, `endpoint`, `payload`. Returns the
    /// request id when it is a string, for the uniqueness check.
    pub fn envelope<'j>(&mut self, top: &'j Json<'l>) -> Option<&'j Cow<'l, str>> {
        let Some(obj) = top.as_object() else {
            self.error(
                Code::NotAnObject,
                &Path::Root,
                Some(0),
                format!("a batch line must be a JSON object, not {}", top.kind()),
            );
            return None;
        };
        let root = Path::Root;
        let mut id = None;
        match obj
            .iter()
            .find(|(k, v)| k == "request_id" && !matches!(v, Json::Null))
        {
            None => self.missing(obj, &root, "request_id", "a unique string"),
            Some((k, Json::Str(s))) => {
                self.request_id(k, s);
                id = Some(s);
            }
            Some((k, other)) => self.wrong_type(&root, "request_id", k, "a string", other),
        }
        if let Some((_, endpoint)) = self.req_str(obj, &root, "endpoint") {
            if endpoint != "/v2/generate" {
                let at = self.at(endpoint);
                self.error(
                    Code::BadEndpoint,
                    &root.key("endpoint"),
                    at,
                    format!("endpoint is \"{endpoint}\"; it must be \"/v2/generate\""),
                );
            }
        }
        match Self::get(obj, "payload") {
            None => self.missing(obj, &root, "payload", "the Generate API request"),
            Some((_, Json::Object(payload))) => self.payload(payload, &root.key("payload")),
            Some((k, other)) => self.wrong_type(&root, "payload", k, "an object", other),
        }
        for (key, _) in obj {
            if !matches!(key.as_ref(), "request_id" | "endpoint" | "payload") {
                self.unknown(Code::UnknownField, &root, key, "field");
            }
        }
        id
    }

    pub(super) fn request_id(&mut self, key: &str, id: &str) {
        let path = Path::Root.key("request_id");
        let at = self.at(id).or(self.at(key));
        if id.is_empty() {
            self.error(
                Code::EmptyRequestId,
                &path,
                at,
                "request_id is empty".into(),
            );
            return;
        }
        if let Some(c) = id.chars().find(|c| c.is_control()) {
            self.error(
                Code::BadRequestId,
                &path,
                at,
                format!("request_id holds the control character U+{:04X}", c as u32),
            );
        }
        let chars = id.chars().count();
        if chars > 64 {
            self.warn(
                Code::LongRequestId,
                &path,
                at,
                format!("request_id is {chars} characters long; other batch APIs cap ids at 64"),
            );
        }
        if id.trim() != id {
            self.warn(
                Code::RequestIdWhitespace,
                &path,
                at,
                "request_id has leading or trailing white space; joins on it break easily".into(),
            );
        }
    }

    /// Whether `m` is a model of the list in force.
    fn known_model(&self, m: &str) -> bool {
        match self.models {
            Some(list) => list.iter().any(|k| k == m),
            None => MODELS.contains(&m),
        }
    }

    pub(super) fn payload(&mut self, p: &Entries, path: &Path) {
        let model = match self.req_str(p, path, "model") {
            Some((_, m)) => {
                let at = self.at(m);
                if LEGACY_MODELS.contains(&m) {
                    self.warn(
                        Code::DeprecatedModel,
                        &path.key("model"),
                        at,
                        format!("model \"{m}\" is deprecated"),
                    );
                } else if !self.known_model(m) {
                    let near = match self.models {
                        Some(list) => near_miss_in(m, list.iter().map(String::as_str)),
                        None => near_miss(m),
                    };
                    match near {
                        // A typo ships otherwise, to be refused a day later.
                        Some(known) => self.error(
                            Code::UnknownModel,
                            &path.key("model"),
                            at,
                            format!("model \"{m}\" is not a model: did you mean `{known}`?"),
                        ),
                        None => self.warn(
                            Code::UnknownModel,
                            &path.key("model"),
                            at,
                            format!(
                                "model \"{m}\" is not one of {} (a newer model may be fine)",
                                self.models
                                    .map_or_else(|| MODELS.join(", "), |l| l.join(", "))
                            ),
                        ),
                    }
                }
                Some(m)
            }
            None => None,
        };
        let dub = self.opt_object(p, path, "dubParams").map(|(_, d)| d);
        let segments = match Self::get(p, "segments") {
            None => None,
            Some((_, Json::Array(items))) => Some(items.as_slice()),
            Some((k, other)) => {
                self.wrong_type(path, "segments", k, "an array", other);
                None
            }
        };
        let ref_ids = match Self::get(p, "input") {
            None => {
                self.missing(p, path, "input", "an array of media inputs");
                Vec::new()
            }
            Some((k, Json::Array(items))) => {
                let at = self.at(k);
                self.inputs(items, path, at, model, dub.is_some(), segments.is_some())
            }
            Some((k, other)) => {
                self.wrong_type(path, "input", k, "an array", other);
                Vec::new()
            }
        };
        if let Some((_, options)) = self.opt_object(p, path, "options") {
            self.options(options, &path.key("options"), model);
        }
        if let Some(items) = segments {
            self.segments(items, &path.key("segments"), &ref_ids, model);
        }
        if let Some((_, url)) = self.opt_str(p, path, "webhookUrl") {
            let at = self.at(url);
            match url_scheme(url) {
                Some(true) => {}
                Some(false) => self.warn(
                    Code::BadUrl,
                    &path.key("webhookUrl"),
                    at,
                    format!("webhookUrl \"{url}\" is not https; the signed body travels in clear"),
                ),
                None => self.error(
                    Code::BadUrl,
                    &path.key("webhookUrl"),
                    at,
                    format!("webhookUrl \"{url}\" is not an absolute https:// URL"),
                ),
            }
        }
        if let Some((_, name)) = self.opt_str(p, path, "outputFileName") {
            if !output_file_name_ok(name) {
                let at = self.at(name);
                self.error(
                    Code::BadOutputFileName,
                    &path.key("outputFileName"),
                    at,
                    format!("outputFileName \"{name}\" must be 1 to 255 of A-Z a-z 0-9 _ -"),
                );
            }
        }
        if let Some(d) = dub {
            self.dub_params(d, &path.key("dubParams"));
        }
        self.opt_object(p, path, "dialogueEdit");
        self.opt_str(p, path, "projectId");
        for (key, _) in p {
            if !matches!(
                key.as_ref(),
                "model"
                    | "input"
                    | "options"
                    | "segments"
                    | "webhookUrl"
                    | "outputFileName"
                    | "dubParams"
                    | "dialogueEdit"
                    | "projectId"
            ) {
                self.unknown(Code::UnknownField, path, key, "field");
            }
        }
    }

    /// Checks the input items and their composition; returns the `refId`s.
    pub(super) fn inputs<'j>(
        &mut self,
        items: &'j [Json],
        parent: &Path,
        at: Option<usize>,
        model: Option<&str>,
        dubbing: bool,
        segmented: bool,
    ) -> Vec<&'j str> {
        let path = parent.key("input");
        let (mut visual, mut video, mut audio) = (0usize, 0usize, 0usize);
        let mut ref_ids: Vec<&'j str> = Vec::new();
        let mut missing_ref = false;
        for (i, item) in items.iter().enumerate() {
            let ipath = path.index(i);
            let Some(obj) = item.as_object() else {
                self.error(
                    Code::WrongType,
                    &ipath,
                    None,
                    format!("an input must be an object, not {}", item.kind()),
                );
                continue;
            };
            let Some((_, kind)) = self.req_str(obj, &ipath, "type") else {
                continue;
            };
            let known: &[&str] = match kind {
                "video" => &["type", "url", "assetId", "segments_secs", "segments_frames"],
                "image" => &["type", "url", "assetId"],
                "audio" => &["type", "url", "assetId", "refId"],
                "text" => &["type", "provider", "refId"],
                _ => {
                    self.enum_value(&ipath, "type", kind, &["video", "image", "audio", "text"]);
                    continue;
                }
            };
            match kind {
                "video" | "image" => {
                    visual += 1;
                    video += usize::from(kind == "video");
                    if kind == "image" && model.is_some_and(|m| m != "sync-3") {
                        let at = self.at(kind);
                        self.error(
                            Code::ModelMismatch,
                            &ipath.key("type"),
                            at,
                            format!(
                                "image inputs need model sync-3, not {}",
                                model.unwrap_or_default()
                            ),
                        );
                    }
                    self.media_source(obj, &ipath, kind);
                }
                "audio" => {
                    audio += 1;
                    self.media_source(obj, &ipath, kind);
                }
                _ => {
                    audio += 1;
                    match self.opt_object(obj, &ipath, "provider") {
                        Some((_, provider)) => self.provider(provider, &ipath.key("provider")),
                        None if Self::get(obj, "provider").is_none() => {
                            self.missing(obj, &ipath, "provider", "the text-to-speech provider")
                        }
                        None => {}
                    }
                }
            }
            if matches!(kind, "audio" | "text") {
                match self.opt_str(obj, &ipath, "refId") {
                    Some((_, r)) => {
                        if ref_ids.contains(&r) {
                            let at = self.at(r);
                            self.error(
                                Code::BadInputComposition,
                                &ipath.key("refId"),
                                at,
                                format!("refId \"{r}\" is used by more than one input"),
                            );
                        }
                        ref_ids.push(r);
                    }
                    None => missing_ref = true,
                }
            }
            for (key, _) in obj {
                if !known.contains(&key.as_ref()) {
                    self.unknown(Code::UnknownField, &ipath, key, "input field");
                }
            }
        }
        let compose = |this: &mut Self, msg: String| {
            this.error(Code::BadInputComposition, &path, at, msg);
        };
        if visual != 1 {
            compose(
                self,
                format!("the input needs exactly one video or image item, it has {visual}"),
            );
        }
        if dubbing {
            if video != 1 || audio != 0 {
                compose(
                    self,
                    "with dubParams the input is exactly one video and no audio or text".into(),
                );
            }
        } else if audio == 0 {
            compose(
                self,
                "the input needs an audio or text item (or dubParams)".into(),
            );
        } else if audio > 1 && !segmented {
            compose(
                self,
                format!("{audio} audio/text items need segments saying which plays when"),
            );
        } else if audio > 1 && missing_ref {
            compose(
                self,
                "with several audio/text items, every one needs a refId".into(),
            );
        }
        ref_ids
    }

    pub(super) fn media_source(&mut self, obj: &Entries, path: &Path, kind: &str) {
        let url = self.opt_str(obj, path, "url");
        let asset = self.opt_str(obj, path, "assetId");
        match (url, asset) {
            (Some(_), Some((k, _))) => {
                let at = self.at(k);
                self.error(
                    Code::BadInputComposition,
                    path,
                    at,
                    format!("a {kind} input takes url or assetId, not both"),
                );
            }
            (None, None) => {
                if Self::get(obj, "url").is_none() && Self::get(obj, "assetId").is_none() {
                    self.missing(obj, path, "url", "or assetId");
                }
            }
            (Some((_, u)), None) => {
                if url_scheme(u).is_none() {
                    let at = self.at(u);
                    self.error(
                        Code::BadUrl,
                        &path.key("url"),
                        at,
                        format!("\"{u}\" is not an absolute http:// or https:// URL with a host"),
                    );
                }
            }
            (None, Some((k, a))) => {
                if a.trim().is_empty() {
                    let at = self.at(k);
                    self.error(
                        Code::MissingField,
                        &path.key("assetId"),
                        at,
                        "assetId is empty".into(),
                    );
                }
            }
        }
    }

    pub(super) fn provider(&mut self, p: &Entries, path: &Path) {
        if let Some((_, name)) = self.req_str(p, path, "name") {
            self.enum_value(path, "name", name, &["elevenlabs"]);
        }
        self.req_str(p, path, "voiceId");
        if let Some((k, script)) = self.req_str(p, path, "script") {
            let n = script.chars().count();
            if n > MAX_SCRIPT_CHARS {
                let at = self.at(k);
                self.error(
                    Code::OutOfRange,
                    &path.key("script"),
                    at,
                    format!("script is {n} characters; the limit is {MAX_SCRIPT_CHARS}"),
                );
            }
        }
        for key in ["stability", "similarityBoost"] {
            if let Some((at, n)) = self.opt_number(p, path, key) {
                self.range(path, key, at, n, 0.0, 1.0);
            }
        }
        for (key, _) in p {
            if !matches!(
                key.as_ref(),
                "name" | "voiceId" | "script" | "stability" | "similarityBoost"
            ) {
                self.unknown(Code::UnknownField, path, key, "provider field");
            }
        }
    }
}

/// `^[A-Za-z0-9_-]{1,255}$`: one table lookup a byte (a test of each
/// range took 17 instructions a byte, 1.3% of `validate`'s by callgrind).
pub(crate) fn output_file_name_ok(name: &(impl AsRef<[u8]> + ?Sized)) -> bool {
    /// Whether each byte may be in an output file name.
    static NAME: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
            b += 1;
        }
        t
    };
    let name = name.as_ref();
    (1..=255).contains(&name.len()) && name.iter().all(|&b| NAME[usize::from(b)])
}

/// Where `s` stands in `line` when it is a slice of it: the byte index of the
/// opening quote of a borrowed string or key. `None` for an unescaped copy.
pub(crate) fn position(line: &str, s: &str) -> Option<usize> {
    let start = line.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    (p >= start && p <= start + line.len()).then(|| (p - start).saturating_sub(1))
}

/// The known model (current or legacy) that `name` most likely misspells:
/// the same but for case, or within two edits (insertions, deletions,
/// substitutions) of it; the nearest, the first listed on a tie. `None`
/// for a name far from every known one, which may be a newer model.
pub(crate) fn near_miss(name: &str) -> Option<&'static str> {
    near_miss_in(name, MODELS.iter().chain(LEGACY_MODELS).copied())
}

/// [`near_miss`] among the models `known`.
pub(crate) fn near_miss_in<'k>(
    name: &str,
    known: impl Iterator<Item = &'k str> + Clone,
) -> Option<&'k str> {
    if let Some(same) = known.clone().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    known
        .filter_map(|k| edits_within(name, k, 2).map(|d| (d, k)))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// The edit distance between `a` and `b` (by characters), when it is at
/// most `max`. `O(len(a) * len(b))` for the short names it compares.
fn edits_within(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    let d = row[b.len()];
    (d <= max).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_known_models_are_named() {
        assert_eq!(near_miss("lipsync-2-prp"), Some("lipsync-2-pro"));
        assert_eq!(near_miss("Lipsync-2"), Some("lipsync-2"));
        assert_eq!(near_miss("LIPSYNC-2-PRO"), Some("lipsync-2-pro"));
        assert_eq!(near_miss("lipsync2"), Some("lipsync-2"));
        assert_eq!(near_miss("react-2"), Some("react-1"));
        assert_eq!(near_miss("lipsync-1.8.1"), Some("lipsync-1.8.0"));
        assert_eq!(near_miss("wav2lip-hd"), None);
        assert_eq!(near_miss("lipsync-9000"), None);
        assert_eq!(near_miss(""), None);
    }

    #[test]
    fn edit_distance_against_a_reference() {
        // Every pair of short strings over a small alphabet, against the
        // plain recursive definition.
        fn reference(a: &[u8], b: &[u8]) -> usize {
            match (a, b) {
                ([], _) => b.len(),
                (_, []) => a.len(),
                ([x, ra @ ..], [y, rb @ ..]) => (reference(ra, rb) + usize::from(x != y))
                    .min(reference(ra, b) + 1)
                    .min(reference(a, rb) + 1),
            }
        }
        let words: Vec<String> = (0..81)
            .flat_map(|n: u32| {
                let w: String = (0..n % 5)
                    .map(|k| ['a', 'b', 'c'][((n / 3u32.pow(k)) % 3) as usize])
                    .collect();
                [w]
            })
            .collect();
        for a in &words {
            for b in &words {
                let d = reference(a.as_bytes(), b.as_bytes());
                let want = (d <= 2).then_some(d);
                assert_eq!(edits_within(a, b, 2), want, "{a:?} {b:?}");
            }
        }
    }
}
