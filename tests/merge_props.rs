//! The merger against a simple reference: load every result line into a map,
//! apply the policy, write in request order.

use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Value};
use syncbatch::merge::{MergeSummary, Merger};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncbatch-merge-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn instant(v: Option<&Value>) -> i128 {
    v.and_then(Value::as_str)
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(i128::MIN, |t| t.unix_timestamp_nanos() / 1_000_000)
}

/// (COMPLETED, instant, file, line): the policy's order.
type Rank = (bool, i128, usize, usize);

/// The reference: (merged lines as values, figures).
fn reference(request_ids: &[String], files: &[Vec<String>]) -> (Vec<Value>, MergeSummary) {
    let mut s = MergeSummary {
        requests: request_ids.len() as u64,
        ..MergeSummary::default()
    };
    // id -> (key, line value)
    let mut best: std::collections::HashMap<String, (Rank, Value)> = Default::default();
    for (f, lines) in files.iter().enumerate() {
        for (l, text) in lines.iter().enumerate() {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
                s.malformed += 1;
                continue;
            };
            let id = map
                .get("request_id")
                .or(map.get("requestId"))
                .and_then(Value::as_str);
            let Some(id) = id else {
                s.malformed += 1;
                continue;
            };
            if !request_ids.iter().any(|r| r == id) {
                s.unknown += 1;
                continue;
            }
            let completed = map.get("status") == Some(&json!("COMPLETED"));
            let time = instant(map.get("updated_at").or(map.get("updatedAt")));
            let key = (completed, time, f, l);
            match best.get(id) {
                None => {
                    best.insert(id.to_owned(), (key, Value::Object(map)));
                }
                Some((old, _)) => {
                    s.duplicates += 1;
                    if key > *old {
                        best.insert(id.to_owned(), (key, Value::Object(map)));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (i, id) in request_ids.iter().enumerate() {
        let source = json!({"file": "requests.jsonl", "line": i + 1});
        let Some((_, v)) = best.get(id) else {
            s.missing += 1;
            out.push(json!({"request_id": id, "status": "MISSING", "error": null, "response": null, "updated_at": null, "source": source}));
            continue;
        };
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        match status {
            "COMPLETED" => s.completed += 1,
            "FAILED" => s.failed += 1,
            "REJECTED" => s.rejected += 1,
            _ => s.other += 1,
        }
        let updated = v
            .get("updated_at")
            .or(v.get("updatedAt"))
            .filter(|u| u.is_string())
            .cloned()
            .unwrap_or(Value::Null);
        out.push(json!({
            "request_id": id,
            "status": status,
            "error": v.get("error").cloned().unwrap_or(Value::Null),
            "response": v.get("response").cloned().unwrap_or(Value::Null),
            "updated_at": updated,
            "source": source,
        }));
    }
    (out, s)
}

fn merge(
    dir: &std::path::Path,
    request_ids: &[String],
    files: &[Vec<String>],
) -> (Vec<Value>, MergeSummary) {
    let requests: String = request_ids
        .iter()
        .map(|id| {
            format!(
                "{}\n",
                json!({"request_id": id, "endpoint": "/v2/generate", "payload": {}})
            )
        })
        .collect();
    let mut m = Merger::new();
    m.add_requests(syncbatch::Input::from_bytes("requests.jsonl", requests))
        .unwrap();
    for (i, lines) in files.iter().enumerate() {
        let path = dir.join(format!("out-{i}.jsonl"));
        fs::write(&path, lines.join("\n")).unwrap(); // the last line lacks its newline
        let input = syncbatch::Input::open(&path).unwrap();
        m.add_results(input, &mut std::io::sink()).unwrap();
    }
    let mut out = Vec::new();
    let summary = m.write_merged(&mut out).unwrap();
    let values = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (values, summary)
}

/// One result line, in one of the shapes seen in the wild.
fn result_line() -> impl Strategy<Value = (usize, String)> {
    let status = prop_oneof![
        Just("COMPLETED"),
        Just("COMPLETED"),
        Just("FAILED"),
        Just("REJECTED"),
        Just("CANCELED"),
        Just("PENDING"),
        Just("SOMETHING_NEW"),
    ];
    let time = prop_oneof![
        Just(None),
        (0u32..5).prop_map(|m| Some(format!("2026-11-28T10:0{m}:00Z"))),
        Just(Some("2026-11-28T11:02:00+01:00".to_owned())), // the same instant as 10:02Z
        Just(Some("not a time".to_owned())),
    ];
    let error = prop_oneof![
        Just(json!(null)),
        Just(json!({"code": "generation_timeout", "message": "late"})),
        Just(json!("a bare string")),
    ];
    (0usize..12, status, time, error, any::<bool>(), 0u8..12).prop_map(
        |(who, status, time, error, camel, shape)| {
            let (id_key, time_key) = if camel {
                ("requestId", "updatedAt")
            } else {
                ("request_id", "updated_at")
            };
            let mut v = json!({id_key: format!("r{who}"), "status": status, "error": error,
            "response": {"id": format!("g{who}"), "outputUrl": "https://x/y.mp4"}});
            if let Some(t) = time {
                v[time_key] = json!(t);
            }
            let text = match shape {
                0 => "not json at all".to_owned(),
                1 => json!({"status": "COMPLETED"}).to_string(), // no id
                2 => {
                    v.as_object_mut().unwrap().remove("error");
                    v.to_string()
                }
                3 => {
                    v.as_object_mut().unwrap().remove("response");
                    v.to_string()
                }
                _ => v.to_string(),
            };
            (who, text)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn merged_output_equals_the_reference(
        n in 1usize..10,
        lines in proptest::collection::vec((result_line(), 0usize..4), 0..40),
        truncate_last in any::<bool>(),
    ) {
        // Requests r0..r(n-1); results name r0..r11, so some are unknown.
        let request_ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let mut files: Vec<Vec<String>> = vec![Vec::new(); 4];
        for ((_, text), file) in lines {
            files[file].push(text);
        }
        if truncate_last {
            if let Some(last) = files[0].last_mut() {
                let cut = last.len() / 2;
                last.truncate(last.char_indices().map(|(i, _)| i).take_while(|&i| i <= cut).last().unwrap_or(0));
            }
        }
        let dir = scratch("prop");
        let (got, summary) = merge(&dir, &request_ids, &files);
        let (want, want_summary) = reference(&request_ids, &files);
        prop_assert_eq!(got.len(), request_ids.len(), "every request exactly once");
        prop_assert_eq!(got, want);
        prop_assert_eq!(summary, want_summary);
    }
}

#[test]
fn the_reference_applies_the_policy() {
    // Guards the reference: a wrong reference makes the property vacuous.
    let ids = vec!["a".to_owned()];
    let files = vec![
        vec![
            r#"{"request_id":"a","status":"FAILED","updated_at":"2026-01-01T00:00:09Z"}"#
                .to_owned(),
        ],
        vec![
            r#"{"request_id":"a","status":"COMPLETED","updated_at":"2026-01-01T00:00:01Z"}"#
                .to_owned(),
        ],
    ];
    let (out, s) = reference(&ids, &files);
    assert_eq!(out[0]["status"], "COMPLETED");
    assert_eq!(s.duplicates, 1);
}
