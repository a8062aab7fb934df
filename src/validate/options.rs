//! The rules of a payload's `options`, `segments` and `dubParams`.

use super::json::Json;
use super::schema::{
    Checker, Entries, Path, BATCH_MAX_SECONDS, LEGACY_OPTIONS, MODEL_MODES, PROMPTS,
    REACT_MAX_SECONDS, SYNC_MODES,
};
use super::Code;

impl Checker<'_> {
    pub(super) fn options(&mut self, o: &Entries, path: &Path, model: Option<&str>) {
        if let Some((_, mode)) = self.opt_str(o, path, "sync_mode") {
            self.enum_value(path, "sync_mode", mode, SYNC_MODES);
        }
        if let Some((at, t)) = self.opt_number(o, path, "temperature") {
            self.range(path, "temperature", at, t, 0.0, 1.0);
        }
        for (key, allowed) in [("model_mode", MODEL_MODES), ("prompt", PROMPTS)] {
            if let Some((k, v)) = self.opt_str(o, path, key) {
                self.enum_value(path, key, v, allowed);
                if model.is_some_and(|m| m != "react-1") {
                    let at = self.at(k);
                    self.error(
                        Code::ModelMismatch,
                        &path.key(key),
                        at,
                        format!(
                            "option {key} is for model react-1 only, not {}",
                            model.unwrap_or_default()
                        ),
                    );
                }
            }
        }
        if let Some((_, asd)) = self.opt_object(o, path, "active_speaker_detection") {
            self.speaker_detection(asd, &path.key("active_speaker_detection"));
        }
        self.opt_bool(o, path, "occlusion_detection_enabled");
        for (key, _) in o {
            let key = key.as_ref();
            if LEGACY_OPTIONS.contains(&key) {
                let at = self.at(key);
                self.warn(
                    Code::DeprecatedOption,
                    &path.key(key),
                    at,
                    format!("option {key} is deprecated"),
                );
            } else if !matches!(
                key,
                "sync_mode"
                    | "temperature"
                    | "model_mode"
                    | "prompt"
                    | "active_speaker_detection"
                    | "occlusion_detection_enabled"
            ) {
                self.unknown(Code::UnknownOption, path, key, "option");
            }
        }
    }

    fn speaker_detection(&mut self, a: &Entries, path: &Path) {
        self.opt_bool(a, path, "auto_detect");
        if let Some((at, n)) = self.opt_number(a, path, "frame_number") {
            if !integral(n) || n < 0.0 {
                self.error(
                    Code::OutOfRange,
                    &path.key("frame_number"),
                    Some(at),
                    format!("frame_number is {n}; it must be a whole number >= 0"),
                );
            }
        }
        if let Some((k, v)) = Self::get(a, "coordinates") {
            if let Some(problem) = int_array_problem(v, 2) {
                let at = self.at(k);
                self.error(
                    Code::WrongType,
                    &path.key("coordinates"),
                    at,
                    format!("\"coordinates\" must be [x, y], two integers, not {problem}"),
                );
            }
        }
        match Self::get(a, "bounding_boxes") {
            None => {}
            Some((_, Json::Array(boxes))) => {
                let bpath = path.key("bounding_boxes");
                for (i, b) in boxes.iter().enumerate() {
                    let problem = match b {
                        Json::Null => None,
                        b => int_array_problem(b, 4),
                    };
                    if let Some(problem) = problem {
                        self.error(
                            Code::WrongType,
                            &bpath.index(i),
                            None,
                            format!(
                                "a bounding box must be [x1, y1, x2, y2] integers or null, not {problem}"
                            ),
                        );
                    }
                }
            }
            Some((k, v)) => self.wrong_type(path, "bounding_boxes", k, "an array", v),
        }
        for (key, _) in a {
            if !matches!(
                key.as_ref(),
                "auto_detect" | "frame_number" | "coordinates" | "bounding_boxes"
            ) {
                self.unknown(Code::UnknownOption, path, key, "option");
            }
        }
    }

    /// A time in seconds: present, a number, >= 0, within the batch limit.
    fn time(
        &mut self,
        obj: &Entries,
        path: &Path,
        key: &str,
        required: bool,
        model: Option<&str>,
    ) -> Option<f64> {
        let Some((at, t)) = self.opt_number(obj, path, key) else {
            if required && Self::get(obj, key).is_none() {
                self.missing(obj, path, key, "seconds");
            }
            return None;
        };
        if t < 0.0 {
            self.error(
                Code::BadSegment,
                &path.key(key),
                Some(at),
                format!("{key} is {t}; times are >= 0"),
            );
        } else if t > BATCH_MAX_SECONDS {
            self.error(
                Code::InputTooLong,
                &path.key(key),
                Some(at),
                format!("{key} is {t} s; batch inputs are limited to {BATCH_MAX_SECONDS} s"),
            );
        } else if t > REACT_MAX_SECONDS && model == Some("react-1") {
            self.warn(
                Code::InputTooLong,
                &path.key(key),
                Some(at),
                format!("{key} is {t} s; react-1 takes up to {REACT_MAX_SECONDS} s"),
            );
        }
        Some(t)
    }

    pub(super) fn segments(
        &mut self,
        items: &[Json],
        path: &Path,
        ref_ids: &[&str],
        model: Option<&str>,
    ) {
        for (i, seg) in items.iter().enumerate() {
            let spath = path.index(i);
            let Some(s) = seg.as_object() else {
                self.error(
                    Code::WrongType,
                    &spath,
                    None,
                    format!("a segment must be an object, not {}", seg.kind()),
                );
                continue;
            };
            let start = self.time(s, &spath, "startTime", true, model);
            let end = self.time(s, &spath, "endTime", true, model);
            if let (Some(a), Some(b)) = (start, end) {
                if b <= a {
                    self.error(
                        Code::BadSegment,
                        &spath.key("endTime"),
                        None,
                        format!("endTime {b} must be after startTime {a}"),
                    );
                }
            }
            match Self::get(s, "audioInput") {
                None => self.missing(s, &spath, "audioInput", "which audio plays"),
                Some((_, Json::Object(a))) => {
                    let apath = spath.key("audioInput");
                    if let Some((_, r)) = self.req_str(a, &apath, "refId") {
                        if !ref_ids.contains(&r) {
                            let at = self.at(r);
                            self.error(
                                Code::BadSegment,
                                &apath.key("refId"),
                                at,
                                format!("refId \"{r}\" names no audio or text input"),
                            );
                        }
                    }
                    let a_start = self.time(a, &apath, "startTime", false, model);
                    let a_end = self.time(a, &apath, "endTime", false, model);
                    match (a_start, a_end) {
                        (Some(x), Some(y)) if y <= x => self.error(
                            Code::BadSegment,
                            &apath.key("endTime"),
                            None,
                            format!("endTime {y} must be after startTime {x}"),
                        ),
                        (Some(_), None) | (None, Some(_)) => self.error(
                            Code::BadSegment,
                            &apath,
                            None,
                            "audioInput takes both startTime and endTime, or neither".into(),
                        ),
                        _ => {}
                    }
                    for (key, _) in a {
                        if !matches!(key.as_ref(), "refId" | "startTime" | "endTime") {
                            self.unknown(Code::UnknownField, &apath, key, "field");
                        }
                    }
                }
                Some((k, v)) => self.wrong_type(&spath, "audioInput", k, "an object", v),
            }
            for (key, _) in s {
                if !matches!(key.as_ref(), "startTime" | "endTime" | "audioInput") {
                    self.unknown(Code::UnknownField, &spath, key, "segment field");
                }
            }
        }
    }

    pub(super) fn dub_params(&mut self, d: &Entries, path: &Path) {
        self.req_str(d, path, "targetLang");
        self.opt_str(d, path, "sourceLang");
        self.opt_str(d, path, "providerName");
        for (key, _) in d {
            match key.as_ref() {
                "targetLang" | "sourceLang" | "providerName" => {}
                "numSpeakers" => {
                    let at = self.at(key);
                    self.warn(
                        Code::DeprecatedOption,
                        &path.key(key),
                        at,
                        "numSpeakers is deprecated".into(),
                    );
                }
                _ => self.unknown(Code::UnknownField, path, key, "dubParams field"),
            }
        }
    }
}

/// Whether a JSON number is an integer. As JSON Schema has it since draft 6
/// (and OpenAPI 3.1, which describes the API), that is any number with a zero
/// fractional part: `1.0` and `1e2` are integers, as they are to a server that
/// parses JSON into JavaScript numbers or a lax Python model.
pub(super) fn integral(n: f64) -> bool {
    n.fract() == 0.0
}

/// What keeps `v` from being an array of `len` integers, said so that it can
/// follow "not": `None` when it is one.
pub(super) fn int_array_problem(v: &Json, len: usize) -> Option<String> {
    let Json::Array(items) = v else {
        return Some(v.kind().to_owned());
    };
    if items.len() != len {
        return Some(match items.len() {
            1 => "an array of 1 item".to_owned(),
            n => format!("an array of {n} items"),
        });
    }
    items.iter().enumerate().find_map(|(i, x)| match x {
        Json::Number(n) if integral(*n) => None,
        Json::Number(n) => Some(format!("an array whose item {} is {n}", i + 1)),
        other => Some(format!("an array whose item {} is {}", i + 1, other.kind())),
    })
}
