//! Restoring redacted values ([`crate::redaction`]) in an endpoint's answer.
//!
//! - **JSON** (`application/json`): the whole body is read, every placeholder replaced by its
//!   value escaped for a JSON string (placeholders only ever occur inside strings), and the
//!   answer sent with its new `Content-Length`. A body that is not UTF-8 passes unchanged.
//! - **Server-sent events** (`text/event-stream`): each event is held until its blank line (its
//!   `data` must be whole to be parsed), then every content string of its JSON — keyed by its
//!   path, array elements by their `index` field (each choice of a stream has its own) — is
//!   restored, the value escaped by serialization. A model writes a placeholder in several
//!   tokens, so one may be split across events: a string ending with the beginning of a
//!   placeholder keeps only that suffix back, and it is put in front of the next string at the
//!   same path. What is kept back and never completed is sent as it was, in an event of the same
//!   shape, before the next event of the same choice without that field, before `[DONE]`, or at
//!   the end. Events without such a string pass byte for byte; data that is not JSON too.
//! - Anything else passes unchanged.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, Incoming};
use serde_json::{Map, Value};

use crate::redaction::{Lookup, Placeholders};

/// Keys of an answer whose strings are structure: never restored.
const STRUCTURAL_KEYS: &[&str] = &[
    "id",
    "object",
    "model",
    "role",
    "type",
    "finish_reason",
    "system_fingerprint",
];

/// Appends `input` to `out` with every whole placeholder replaced by its value (JSON-escaped
/// when `escaped`). With `hold`, a trailing beginning of a placeholder is not appended: returns
/// where it starts (`input.len()` when there is none).
fn replace(
    input: &str,
    placeholders: &Placeholders,
    escaped: bool,
    hold: bool,
    out: &mut String,
) -> usize {
    let bytes = input.as_bytes();
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'[') {
        let start = at + offset;
        match placeholders.lookup(&input[start..]) {
            Lookup::Whole(len, entry) => {
                out.push_str(&input[copied..start]);
                out.push_str(if escaped {
                    &entry.escaped
                } else {
                    &entry.original
                });
                at = start + len;
                copied = at;
            }
            Lookup::Prefix if hold => {
                out.push_str(&input[copied..start]);
                return start;
            }
            Lookup::Prefix | Lookup::None => at = start + 1,
        }
    }
    out.push_str(&input[copied..]);
    input.len()
}

/// A JSON answer with its placeholders restored (unchanged when it is not UTF-8).
pub fn restore_json(body: &[u8], placeholders: &Placeholders) -> Bytes {
    match std::str::from_utf8(body) {
        Ok(text) => {
            let mut out = String::with_capacity(text.len());
            replace(text, placeholders, true, false, &mut out);
            Bytes::from(out)
        }
        Err(_) => Bytes::copy_from_slice(body),
    }
}

/// A path segment in an event's JSON.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    /// An array element: its position, and its `index` field when it has one.
    Element(usize, Option<u64>),
}

/// Text kept back at one path.
#[derive(Debug)]
struct Held {
    key: String,
    owner: String,
    text: String,
    /// An event carrying just the held text, for when it must be sent on its own.
    alone: Value,
}

/// Restores placeholders in a stream of server-sent events.
pub struct SseRestorer {
    placeholders: Arc<Placeholders>,
    buffer: Vec<u8>,
    held: Vec<Held>,
}

impl SseRestorer {
    /// A restorer for one answer.
    pub fn new(placeholders: Arc<Placeholders>) -> SseRestorer {
        SseRestorer {
            placeholders,
            buffer: Vec::new(),
            held: Vec::new(),
        }
    }

    /// The bytes to send for `chunk`: every event it completes, restored.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.buffer.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(end) = event_end(&self.buffer[start..]) {
            let event = self.buffer[start..start + end].to_vec();
            self.event(&event, &mut out);
            start += end;
        }
        self.buffer.drain(..start);
        out
    }

    /// The bytes to send at the end of the stream: a last event without its blank line, and
    /// whatever is still held.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buffer);
        if !rest.is_empty() {
            self.event(&rest, &mut out);
        }
        self.flush(|_| true, &mut out);
        out
    }

    fn flush(&mut self, which: impl Fn(&Held) -> bool, out: &mut Vec<u8>) {
        let (flushed, kept): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(which);
        self.held = kept;
        for held in flushed {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(held.alone.to_string().as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }

    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(event);
        let data: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            out.extend_from_slice(event);
            return;
        }
        let data = data.join("\n");
        let Ok(mut json) = serde_json::from_str::<Value>(&data) else {
            // `[DONE]` or other text: what is held goes first.
            self.flush(|_| true, out);
            out.extend_from_slice(event);
            return;
        };
        let mut strings = Vec::new();
        collect(&json, &mut Vec::new(), None, &mut strings);
        let mut owners = HashSet::new();
        choices(&json, "", &mut owners);
        let mut changed = false;
        let mut new_held = Vec::new();
        let mut updates = Vec::new();
        for (path, value) in &strings {
            let (key, owner) = describe(path);
            let mut input = String::new();
            if let Some(at) = self.held.iter().position(|h| h.key == key) {
                input.push_str(&self.held.remove(at).text);
                changed = true;
            }
            input.push_str(value);
            let mut restored = String::with_capacity(input.len());
            let from = replace(&input, &self.placeholders, false, true, &mut restored);
            if from < input.len() {
                let rest = input[from..].to_owned();
                new_held.push(Held {
                    alone: alone(&json, path, &rest),
                    key,
                    owner,
                    text: rest,
                });
            }
            if restored != *value {
                changed = true;
                updates.push((path.clone(), restored));
            }
        }
        self.flush(|h| owners.contains(&h.owner), out);
        self.held.extend(new_held);
        if !changed {
            out.extend_from_slice(event);
            return;
        }
        for (path, restored) in updates {
            if let Some(slot) = locate(&mut json, &path) {
                *slot = Value::String(restored);
            }
        }
        let mut data_written = false;
        for line in text.lines() {
            if line.starts_with("data:") {
                if !data_written {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(json.to_string().as_bytes());
                    out.push(b'\n');
                    data_written = true;
                }
            } else if !line.is_empty() {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        out.push(b'\n');
    }
}

/// Where the first event in `buffer` ends (after its blank line).
fn event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The owners (see [`describe`]) present in `value`: each element of the first arrays met.
fn choices(value: &Value, prefix: &str, out: &mut HashSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                choices(v, &format!("{prefix}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (position, item) in items.iter().enumerate() {
                out.insert(match item.get("index").and_then(Value::as_u64) {
                    Some(i) => format!("{prefix}/#{i}"),
                    None => format!("{prefix}/@{position}"),
                });
            }
        }
        _ => {}
    }
}

/// Every content string of `value` with its path.
fn collect<'v>(
    value: &'v Value,
    path: &mut Vec<Segment>,
    key: Option<&str>,
    out: &mut Vec<(Vec<Segment>, &'v str)>,
) {
    match value {
        Value::String(s) if !key.is_some_and(|k| STRUCTURAL_KEYS.contains(&k)) => {
            out.push((path.clone(), s));
        }
        Value::Array(items) => {
            for (position, item) in items.iter().enumerate() {
                let index = item.get("index").and_then(Value::as_u64);
                path.push(Segment::Element(position, index));
                collect(item, path, key, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                path.push(Segment::Key(k.clone()));
                collect(v, path, Some(k), out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A path's key (array elements by their `index` when they have one) and its owner: the key up
/// to the first array element (a choice), or the root.
fn describe(path: &[Segment]) -> (String, String) {
    let mut key = String::new();
    let mut owner = None;
    for segment in path {
        match segment {
            Segment::Key(k) => {
                key.push('/');
                key.push_str(k);
            }
            Segment::Element(position, index) => {
                match index {
                    Some(i) => key.push_str(&format!("/#{i}")),
                    None => key.push_str(&format!("/@{position}")),
                }
                owner.get_or_insert_with(|| key.clone());
            }
        }
    }
    let owner = owner.unwrap_or_default();
    (key, owner)
}

fn locate<'v>(value: &'v mut Value, path: &[Segment]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |node, segment| match segment {
        Segment::Key(k) => node.get_mut(k.as_str()),
        Segment::Element(position, _) => node.get_mut(*position),
    })
}

/// An event of `event`'s shape carrying only `text` at `path`: the top level's scalar fields
/// (`id`, `model`, `created`), and along the path each object's `index`.
fn alone(event: &Value, path: &[Segment], text: &str) -> Value {
    fn build(node: &Value, path: &[Segment], text: &str, top: bool) -> Value {
        match path.split_first() {
            None => Value::String(text.to_owned()),
            Some((Segment::Key(k), rest)) => {
                let mut map = Map::new();
                if let Value::Object(object) = node {
                    for (name, value) in object {
                        let keep = if top {
                            !value.is_object() && !value.is_array()
                        } else {
                            name == "index"
                        };
                        if keep {
                            map.insert(name.clone(), value.clone());
                        }
                    }
                }
                let child = node.get(k.as_str()).unwrap_or(&Value::Null);
                map.insert(k.clone(), build(child, rest, text, false));
                Value::Object(map)
            }
            Some((Segment::Element(position, _), rest)) => {
                let child = node.get(*position).unwrap_or(&Value::Null);
                Value::Array(vec![build(child, rest, text, false)])
            }
        }
    }
    build(event, path, text, true)
}

/// A streamed answer whose events are restored as they pass.
pub struct RestoringBody {
    inner: Incoming,
    restorer: SseRestorer,
    done: bool,
}

impl RestoringBody {
    /// Wraps an endpoint's event stream.
    pub fn new(inner: Incoming, placeholders: Arc<Placeholders>) -> RestoringBody {
        RestoringBody {
            inner,
            restorer: SseRestorer::new(placeholders),
            done: false,
        }
    }
}

impl Body for RestoringBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = self.restorer.push(&data);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    self.done = true;
                    let out = self.restorer.finish();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use openshell_classifier::Scanner;
    use openshell_policy::wire::DataTypeSet;
    use serde_json::json;

    use super::*;
    use crate::redaction::redact;

    /// Placeholders for an email, a value needing JSON escapes, and a phone number.
    fn placeholders() -> Arc<Placeholders> {
        let body =
            json!({"input": "jane.doe@example.com, password=se\\cr\u{1}t and +44 20 7946 0958"});
        Arc::new(redact(&body, DataTypeSet::ALL, Scanner::global(), "").placeholders)
    }

    fn chunk(content: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                   "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
        )
    }

    /// The content an SSE stream carries, in order, from `data:` lines.
    fn contents(stream: &[u8]) -> String {
        let text = String::from_utf8(stream.to_vec()).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| {
                let v: Value = serde_json::from_str(d).unwrap();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn json_answers_are_restored_with_escapes() {
        let p = placeholders();
        let secret = p
            .entries_for_tests()
            .find(|(_, original)| original.contains('\\'))
            .map(|(placeholder, _)| placeholder.to_owned())
            .expect("a value with a backslash was redacted");
        let answer = json!({"choices": [{"message": {"content":
            format!("Mail [EMAIL_1] ([EMAIL_1]), key {secret}, [EMAIL_9] stays, [EMAIL_")}}]});
        let restored = restore_json(answer.to_string().as_bytes(), &p);
        let value: Value = serde_json::from_slice(&restored).expect("still JSON");
        assert_eq!(
            value["choices"][0]["message"]["content"],
            "Mail jane.doe@example.com (jane.doe@example.com), key se\\cr\u{1}t, [EMAIL_9] \
             stays, [EMAIL_"
        );
        assert_eq!(&restore_json(b"\xff[EMAIL_1]", &p)[..], b"\xff[EMAIL_1]");
    }

    #[test]
    fn placeholders_split_across_events_and_frames_are_restored() {
        let p = placeholders();
        let events: String = [
            "Hi ",
            "[",
            "EMA",
            "IL",
            "_1",
            "] and [PHONE",
            "_1]!",
            " [x] [",
        ]
        .iter()
        .map(|c| chunk(c))
        .collect::<String>()
            + "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
            + "data: [DONE]\n\n";
        let expected = "Hi jane.doe@example.com and +44 20 7946 0958! [x] [";
        // Every way of cutting the stream into frames gives the same text.
        for size in [1, 2, 3, 7, 64, events.len()] {
            let mut restorer = SseRestorer::new(Arc::clone(&p));
            let mut out = Vec::new();
            for frame in events.as_bytes().chunks(size) {
                out.extend(restorer.push(frame));
            }
            out.extend(restorer.finish());
            assert_eq!(contents(&out), expected, "frames of {size}");
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("[EMA") || text.contains("jane"), "{text}");
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            // The held `[` is sent before the finish event, in an event of the same shape.
            let finish = text.find("\"finish_reason\":\"stop\"").unwrap();
            let held = text.find("\"content\":\"[\"").unwrap();
            assert!(held < finish, "{text}");
            assert!(text.contains(
                "{\"choices\":[{\"delta\":{\"content\":\"[\"},\"index\":0}],\"id\":\"c1\",\"model\":\"m\",\"object\":\"chat.completion.chunk\"}"
            ) || text.contains("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[\"}}]"), "{text}");
        }
    }

    #[test]
    fn untouched_events_pass_byte_for_byte_and_escapes_survive() {
        let p = placeholders();
        let plain = ": keep-alive\n\nevent: x\ndata: {\"a\": \"no placeholder\"}\r\n\r\n";
        let mut restorer = SseRestorer::new(Arc::clone(&p));
        let mut out = restorer.push(plain.as_bytes());
        out.extend(restorer.finish());
        assert_eq!(String::from_utf8(out).unwrap(), plain);
        let secret = p
            .entries_for_tests()
            .find(|(_, original)| original.contains('\\'))
            .map(|(placeholder, _)| placeholder.to_owned())
            .unwrap();
        let mut restorer = SseRestorer::new(p);
        let out = restorer.push(chunk(&format!("key {secret}")).as_bytes());
        assert_eq!(contents(&out), "key se\\cr\u{1}t");
        // Choices are kept apart by their index.
        let two = "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"[EMAIL\"}}]}\n\n\
                   data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"_1]\"}}]}\n\n\
                   data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"_1]\"}}]}\n\n";
        let out = String::from_utf8(restorer.push(two.as_bytes())).unwrap();
        assert!(out.contains("\"content\":\"_1]\""), "{out}");
        assert!(
            out.contains("\"content\":\"jane.doe@example.com\""),
            "{out}"
        );
    }
}
