//! The YAML layer: splitting a file into documents, deserializing each with serde-saphyr, and
//! turning its errors into `file:line:column: message — hint` problems that name the YAML path.
//!
//! Each document is deserialized on its own, from its own lines (positions are moved down by
//! the lines before it, so they stay those of the file, and a file costs time linear in its
//! size): a mistake in one document does not hide the mistakes in the next, and a document's
//! `kind` can choose the Rust type of its `spec` without buffering (serde's buffering would
//! lose the positions `Located` values need). Within a document, every problem the parser can
//! find is reported (see [`deserialize`]).

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser};

use crate::error::Diagnostics;
use crate::located::{self, Position};
use crate::{reference, suggest};

/// The largest policy file read, in bytes. A policy file is a handful of documents of a few
/// KiB each; Kubernetes refuses objects over about 1.5 MiB (etcd's request limit) and 3 MiB
/// requests, so 4 MiB leaves generous room while bounding the time and memory a file costs.
pub const MAX_POLICY_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The most documents one policy file may hold (at most one of each kind but
/// `NaturalLanguagePolicy`, so real files hold a few; this bounds the work of a hostile one).
pub const MAX_POLICY_DOCUMENTS: usize = 10_000;

/// One YAML document of a file.
#[derive(Debug)]
pub(crate) struct YamlDocument {
    /// The document's own lines: from the start of the line it begins on to its end, with the
    /// part of its first line before it replaced by spaces (so columns are the file's).
    pub(crate) text: String,
    /// How many lines of the file come before `text` (added to the lines the parser reports
    /// for it, so positions are positions in the file).
    pub(crate) line_offset: u32,
    /// Where the document's content starts, in the file.
    pub(crate) start: Position,
    /// The root node is a mapping (the only shape a policy document may have).
    pub(crate) root_is_mapping: bool,
}

impl YamlDocument {
    /// A position the parser reported in `text`, as a position in the file.
    fn in_file(&self, position: Position) -> Position {
        position.shifted(self.line_offset)
    }
}

/// Walks a text forwards from character offsets (what the parser reports) to byte offsets and
/// line numbers, so splitting a file costs one pass over it whatever its document count.
struct Cursor<'a> {
    text: &'a str,
    chars: std::str::CharIndices<'a>,
    char_index: usize,
    byte_index: usize,
    lines_before: usize,
    line_start: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            text,
            chars: text.char_indices(),
            char_index: 0,
            byte_index: 0,
            lines_before: 0,
            line_start: 0,
        }
    }

    /// Moves to character `target` (never backwards).
    fn advance_to(&mut self, target: usize) {
        while self.char_index < target {
            let Some((at, c)) = self.chars.next() else {
                self.byte_index = self.text.len();
                return;
            };
            self.char_index += 1;
            self.byte_index = at + c.len_utf8();
            if c == '\n' {
                self.lines_before += 1;
                self.line_start = self.byte_index;
            }
        }
    }
}

/// Splits `text` into its non-empty documents. A YAML syntax error is reported and ends the
/// split (the parser cannot resume after one), and so does a document past [`MAX_POLICY_DOCUMENTS`].
pub(crate) fn split_documents(text: &str, diagnostics: &mut Diagnostics) -> Vec<YamlDocument> {
    let mut documents = Vec::new();
    let mut cursor = Cursor::new(text);
    // Byte offsets of the document's first line and of the document, lines before it, and
    // where its content starts.
    let mut start: Option<(usize, usize, usize, Position)> = None;
    let mut root: Option<(bool, bool)> = None; // (is mapping, is empty scalar)
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(error) => {
                let marker = error.marker();
                diagnostics.error(
                    position_of(marker.line(), marker.col()),
                    format!("YAML syntax error: {}", error.info()),
                    "check the indentation, quoting and brackets here",
                );
                return documents;
            }
        };
        match event {
            Event::DocumentStart(..) => {
                cursor.advance_to(span.start.index());
                start = Some((
                    cursor.line_start,
                    cursor.byte_index,
                    cursor.lines_before,
                    Position::UNKNOWN,
                ));
                root = None;
                depth = 0;
            }
            Event::DocumentEnd => {
                if let (Some((line_start, from, lines_before, first)), Some((is_mapping, false))) =
                    (start.take(), root)
                {
                    if documents.len() == MAX_POLICY_DOCUMENTS {
                        diagnostics.error(
                            first,
                            format!(
                                "more than {MAX_POLICY_DOCUMENTS} documents in one policy file"
                            ),
                            format!(
                                "a policy file holds at most {MAX_POLICY_DOCUMENTS} documents; \
                                 split it or remove repeated documents"
                            ),
                        );
                        return documents;
                    }
                    cursor.advance_to(span.end.index());
                    let mut own = " ".repeat(text[line_start..from].chars().count());
                    own.push_str(&text[from..cursor.byte_index]);
                    documents.push(YamlDocument {
                        text: own,
                        line_offset: u32::try_from(lines_before).unwrap_or(u32::MAX),
                        start: first,
                        root_is_mapping: is_mapping,
                    });
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if depth == 0 {
                    root = Some((matches!(event, Event::MappingStart(..)), false));
                    record_first(&mut start, span.start.line(), span.start.col());
                }
                depth += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::Scalar(ref value, ..) if depth == 0 => {
                let empty = matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                root = Some((false, empty));
                record_first(&mut start, span.start.line(), span.start.col());
            }
            _ => {}
        }
    }
    documents
}

fn record_first(start: &mut Option<(usize, usize, usize, Position)>, line: usize, col: usize) {
    if let Some((.., first)) = start
        && !first.is_known()
    {
        *first = position_of(line, col);
    }
}

/// Converts the parser's 1-based line and 0-based column.
fn position_of(line: usize, col: usize) -> Position {
    Position::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col + 1).unwrap_or(u32::MAX),
    )
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
    }
}

/// Most problems reported for one document; each costs one more parse of it.
const MAX_PROBLEMS_PER_DOCUMENT: usize = 50;

/// Deserializes one document into `T`, reporting every problem the parser can find in it.
///
/// serde stops at the first error, so after each one the offending mapping entry is blanked
/// out (spaces, lines kept) and the document parsed again, until it parses or nothing more can
/// be removed. An error that only follows from a removal (a required field now missing) is not
/// reported; the entry holding it is removed in turn. `kind` (the document's kind, or a bare
/// block's key) chooses the reference section hints link to.
pub(crate) fn deserialize<T: DeserializeOwned>(
    document: &YamlDocument,
    kind: &str,
    diagnostics: &mut Diagnostics,
) -> Option<T> {
    let mut text = std::borrow::Cow::Borrowed(document.text.as_str());
    let mut removed: Vec<Vec<Segment>> = Vec::new();
    let mut reported = 0;
    loop {
        let parsed = located::with_line_offset(document.line_offset, || {
            serde_saphyr::from_str_with_options::<T>(&text, options())
        });
        let error = match parsed {
            Ok(value) => return (reported == 0).then_some(value),
            Err(error) => error,
        };
        let found = describe(&text, &error);
        // An error inside an entry already removed from (its mapping now empty, a required
        // field now missing) follows from the removal: not reported, the entry goes too.
        let consequence = found.path.as_ref().is_some_and(|path| {
            removed
                .iter()
                .any(|gone| gone.len() > path.len() && gone.starts_with(path))
        });
        if !consequence {
            // A removal can leave a flow collection malformed; what was written has been
            // reported by then.
            if found.syntactic && !removed.is_empty() {
                return None;
            }
            let hint = match &found.path {
                Some(path) if !kind.is_empty() => format!(
                    "{} (see {})",
                    found.hint,
                    reference::anchor(kind, &render_path(path))
                ),
                _ => found.hint,
            };
            diagnostics.error(document.in_file(found.position), found.message, hint);
            reported += 1;
            if !found.recoverable {
                return None;
            }
        }
        // The entry to remove: the mapping entry holding the offending node.
        let mut target = found.path?;
        while matches!(target.last(), Some(Segment::Index(_))) {
            target.pop();
        }
        if target.is_empty() || removed.contains(&target) || reported >= MAX_PROBLEMS_PER_DOCUMENT {
            return None;
        }
        let (from, to) = entry_span(&text, &target)?;
        text = std::borrow::Cow::Owned(
            text.chars()
                .enumerate()
                .map(|(index, c)| {
                    if (from..to).contains(&index) && c != '\n' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect(),
        );
        removed.push(target);
    }
}

/// A path segment in a YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Renders a path as `spec.egress.allow[0].domain`.
fn render_path(path: &[Segment]) -> String {
    let mut rendered = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                rendered.push_str(key);
            }
            Segment::Index(index) => rendered.push_str(&format!("[{index}]")),
        }
    }
    rendered
}

/// A node that starts at a given position.
#[derive(Debug)]
struct NodeAt {
    path: Vec<Segment>,
    is_key: bool,
}

enum Frame {
    Mapping { next_is_key: bool, key: String },
    Sequence { next: usize },
}

/// What [`walk`] reports: a node starting (with its path, whether it is a mapping key, its
/// position and character offset), or ending (with the character offset after it).
enum Visit<'a> {
    Start {
        path: &'a [Segment],
        is_key: bool,
        position: Position,
        index: usize,
    },
    End {
        path: &'a [Segment],
        index: usize,
    },
}

/// Walks the nodes of `text` in order, with their YAML paths.
fn walk(text: &str, mut visit: impl FnMut(Visit<'_>)) {
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<Segment> = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        let is_node = matches!(
            event,
            Event::Scalar(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Alias(_)
        );
        if !is_node {
            if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
                visit(Visit::End {
                    path: &path,
                    index: span.end.index(),
                });
                path.pop();
                advance(&mut stack);
            }
            continue;
        }
        // Where this node sits in its parent.
        let mut is_key = false;
        let segment = match stack.last_mut() {
            Some(Frame::Mapping { next_is_key, key }) => {
                if *next_is_key {
                    is_key = true;
                    if let Event::Scalar(ref value, ..) = event {
                        *key = value.to_string();
                    } else {
                        *key = "?".to_owned();
                    }
                }
                Some(Segment::Key(key.clone()))
            }
            Some(Frame::Sequence { next }) => Some(Segment::Index(*next)),
            None => None,
        };
        let depth = path.len();
        path.extend(segment);
        visit(Visit::Start {
            path: &path,
            is_key,
            position: position_of(span.start.line(), span.start.col()),
            index: span.start.index(),
        });
        match event {
            Event::MappingStart(..) => stack.push(Frame::Mapping {
                next_is_key: true,
                key: String::new(),
            }),
            Event::SequenceStart(..) => stack.push(Frame::Sequence { next: 0 }),
            _ => {
                visit(Visit::End {
                    path: &path,
                    index: span.end.index(),
                });
                path.truncate(depth);
                advance(&mut stack);
            }
        }
    }
}

/// Every node starting at `position`, outermost first (a block mapping starts where its first
/// key does).
fn nodes_at(text: &str, position: Position) -> Vec<NodeAt> {
    let mut found = Vec::new();
    walk(text, |visit| {
        if let Visit::Start {
            path,
            is_key,
            position: here,
            ..
        } = visit
            && here == position
        {
            found.push(NodeAt {
                path: path.to_vec(),
                is_key,
            });
        }
    });
    found
}

/// The character range of the mapping entry at `path` (its key through the end of its value).
fn entry_span(text: &str, path: &[Segment]) -> Option<(usize, usize)> {
    let mut from = None;
    let mut ends = 0;
    let mut span = None;
    walk(text, |visit| match visit {
        Visit::Start {
            path: here,
            is_key: true,
            index,
            ..
        } if here == path && from.is_none() => from = Some(index),
        Visit::End { path: here, index } if here == path && span.is_none() => {
            if let Some(start) = from {
                // The key ends first; the value's end closes the entry.
                ends += 1;
                if ends == 2 {
                    span = Some((start, index));
                }
            }
        }
        _ => {}
    });
    // An empty value ends where its key does: take the `:` after it too.
    span.map(|(from, to)| {
        let colon = text
            .chars()
            .skip(to)
            .take_while(|c| matches!(c, ':' | ' ' | '\t'))
            .count();
        (from, to + colon)
    })
}

/// Moves the innermost container past the node that just ended.
fn advance(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Mapping { next_is_key, .. }) => *next_is_key = !*next_is_key,
        Some(Frame::Sequence { next }) => *next += 1,
        None => {}
    }
}

fn place(path: &str) -> String {
    if path.is_empty() {
        "the document".to_owned()
    } else {
        path.to_owned()
    }
}

fn quoted_list(items: &[&str]) -> String {
    items.join(", ")
}

/// Separates a custom error message written as `message — hint`.
pub(crate) const HINT_SEPARATOR: &str = " — ";

/// A parse error, explained.
struct Found {
    /// Where, in the document's text.
    position: Position,
    /// The YAML path of the offending node, when known.
    path: Option<Vec<Segment>>,
    message: String,
    hint: String,
    /// Removing the node's entry lets the parse go on (not so after syntax-level errors).
    recoverable: bool,
    /// An error in the YAML's structure rather than in a value.
    syntactic: bool,
}

/// A type as serde names it (`u64`, `struct Isolation`), in a policy author's words.
fn in_words(expected: &str) -> String {
    let expected = expected.trim_start_matches("a ").trim_start_matches("an ");
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "integer" => "a whole number".to_owned(),
        "f32" | "f64" | "float" => "a number".to_owned(),
        "bool" | "boolean" => "true or false".to_owned(),
        "string" | "str" | "borrowed string" => "text".to_owned(),
        "char" => "a single character".to_owned(),
        "sequence" | "seq" => "a list".to_owned(),
        "map" | "mapping" => "a mapping (key: value entries)".to_owned(),
        "unit" | "null" => "empty".to_owned(),
        other if other.starts_with("struct ") || other.starts_with("map") => {
            "a mapping (key: value entries)".to_owned()
        }
        other if other.starts_with("sequence") || other.starts_with("a sequence") => {
            "a list".to_owned()
        }
        other if other.starts_with("enum ") || other.starts_with("variant") => {
            "one of the listed values".to_owned()
        }
        other => other.to_owned(),
    }
}

/// The scalar written at `position`, for messages.
fn scalar_at(text: &str, position: Position) -> Option<String> {
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        if let Event::Scalar(value, ..) = event
            && position_of(span.start.line(), span.start.col()) == position
        {
            return Some(value.to_string());
        }
    }
    None
}

/// Explains a serde-saphyr error with the YAML path it concerns.
fn describe(text: &str, error: &serde_saphyr::Error) -> Found {
    use serde_saphyr::Error as E;
    let error = error.without_snippet();
    let position = error
        .location()
        .map(|location| Position::from_saphyr(&location))
        .unwrap_or(Position::UNKNOWN);
    let nodes = nodes_at(text, position);
    let key = nodes
        .iter()
        .find(|node| node.is_key)
        .map(|node| node.path.clone());
    let outermost = nodes.first().map(|node| node.path.clone());
    let place_of =
        |path: &Option<Vec<Segment>>| place(&path.as_deref().map(render_path).unwrap_or_default());
    let value_place = place_of(&outermost);
    let got =
        || scalar_at(text, position).map_or_else(String::new, |value| format!(", got '{value}'"));
    let found = |path: Option<Vec<Segment>>, message: String, hint: String| Found {
        position,
        path,
        message,
        hint,
        recoverable: true,
        syntactic: false,
    };
    match error {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let parent = key
                .as_deref()
                .map(|path| place(&render_path(&path[..path.len().saturating_sub(1)])))
                .unwrap_or_else(|| place(""));
            let message = if expected.is_empty() {
                format!("unknown field '{field}' in {parent} (it takes no fields)")
            } else {
                format!(
                    "unknown field '{field}' in {parent} (expected one of: {})",
                    quoted_list(expected)
                )
            };
            let hint = suggest::hint(field, expected, "remove it or move it to where it belongs");
            found(key, message, hint)
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => found(
            outermost,
            format!(
                "unknown value '{variant}' for {value_place} (expected one of: {})",
                quoted_list(expected)
            ),
            suggest::hint(variant, expected, "use one of the listed values"),
        ),
        E::SerdeMissingField { field, .. } => {
            // Reported where the mapping starts: at its first key, or at its `{`.
            let mapping = match key {
                Some(mut path) => {
                    path.pop();
                    Some(path)
                }
                None => outermost,
            };
            let mapping_place = place_of(&mapping);
            found(
                mapping,
                format!("missing field '{field}' in {mapping_place}"),
                format!("add '{field}: …' to {mapping_place}"),
            )
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => {
            let expected = in_words(expected);
            found(
                outermost,
                format!("{value_place} must be {expected}, got {unexpected}"),
                format!("write {value_place} as {expected}"),
            )
        }
        E::InvalidScalar { ty, .. } => {
            let expected = in_words(ty);
            found(
                outermost,
                format!("{value_place} must be {expected}{}", got()),
                format!("write {value_place} as {expected}"),
            )
        }
        E::InvalidBooleanStrict { .. } => found(
            outermost,
            format!("{value_place} must be true or false{}", got()),
            "write true or false (yes, no, on and off are not booleans in YAML 1.2)".to_owned(),
        ),
        E::DuplicateMappingKey { key: name, .. } => {
            let name = name.as_deref().unwrap_or("?");
            let parent = key
                .as_deref()
                .map(|path| place(&render_path(&path[..path.len().saturating_sub(1)])))
                .unwrap_or_else(|| place(""));
            Found {
                recoverable: false,
                ..found(
                    key,
                    format!("duplicate key '{name}' in {parent}"),
                    format!("keep a single '{name}' entry"),
                )
            }
        }
        E::Message { msg, .. } => {
            let (message, hint) = match msg.split_once(HINT_SEPARATOR) {
                Some((message, hint)) => (message, hint),
                None => (msg.as_str(), "fix the value here"),
            };
            let message = match outermost.as_deref().map(render_path) {
                Some(path) if !path.is_empty() => format!("{path}: {message}"),
                _ => message.to_owned(),
            };
            found(outermost, message, hint.to_owned())
        }
        E::Budget { breach, .. } => {
            let limit = format!("{breach:?}");
            let limit = limit
                .split([' ', '{'])
                .next()
                .unwrap_or("size")
                .to_ascii_lowercase();
            Found {
                recoverable: false,
                ..found(
                    None,
                    format!("the document exceeds the parser's limit on {limit}"),
                    "write it out plainly: fewer nodes, less nesting, fewer anchors and aliases"
                        .to_owned(),
                )
            }
        }
        other => {
            let rendered = other.to_string();
            let message = match rendered.rsplit_once(" at line ") {
                Some((message, _)) => message.to_owned(),
                None => rendered,
            };
            Found {
                recoverable: false,
                syntactic: true,
                ..found(
                    outermost,
                    format!("{message} (in {value_place})"),
                    "check the shape of this value".to_owned(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Isolation {
        #[serde(rename = "network")]
        _network: Option<Mode>,
        #[serde(rename = "filesystem")]
        _filesystem: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        None,
        Host,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Spec {
        #[serde(rename = "isolation")]
        _isolation: Isolation,
        #[serde(rename = "list", default)]
        _list: Vec<Isolation>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(rename = "spec")]
        _spec: Spec,
    }

    fn first_problem(text: &str) -> crate::error::Problem {
        let mut diagnostics = Diagnostics::new("p.yaml");
        let documents = split_documents(text, &mut diagnostics);
        for document in &documents {
            let _ = deserialize::<Doc>(document, "", &mut diagnostics);
        }
        diagnostics.finish(()).unwrap_err().problems()[0].clone()
    }

    #[test]
    fn documents_are_split_with_their_positions() {
        let text = "# head\n---\na: 1\n---\n# empty\n---\nb: 2\n...\n--- [1]\n";
        let mut diagnostics = Diagnostics::new("p.yaml");
        let documents = split_documents(text, &mut diagnostics);
        assert!(diagnostics.is_empty());
        assert_eq!(documents.len(), 3);
        assert_eq!(documents[0].start, Position::new(3, 1));
        assert_eq!(documents[1].start, Position::new(7, 1));
        assert_eq!(documents[2].start, Position::new(9, 5));
        assert!(documents[0].root_is_mapping);
        assert!(!documents[2].root_is_mapping);
        // Each document holds its own lines only, placed by its line offset.
        assert_eq!(documents[0].text, "---\na: 1\n");
        assert_eq!(documents[0].line_offset, 1);
        assert_eq!(documents[1].text.lines().next(), Some("---"));
        assert_eq!(documents[1].text.lines().nth(1), Some("b: 2"));
        assert_eq!(documents[1].line_offset, 5);
        assert_eq!(documents[2].text, "--- [1]");
        assert_eq!(documents[2].line_offset, 8);
    }

    #[test]
    fn syntax_errors_point_at_the_fault() {
        let mut diagnostics = Diagnostics::new("p.yaml");
        split_documents("a: 1\nb: [1, 2\n", &mut diagnostics);
        let problem = &diagnostics.finish(()).unwrap_err().problems()[0].clone();
        assert!(
            problem.message.starts_with("YAML syntax error"),
            "{problem}"
        );
        assert_eq!(problem.position.line, 2);
    }

    #[test]
    fn unknown_fields_name_the_enclosing_path_and_suggest() {
        let problem = first_problem("spec:\n  isolation:\n    filesystem: x\n    netwrk: none\n");
        assert_eq!(problem.position, Position::new(4, 5));
        assert_eq!(
            problem.message,
            "unknown field 'netwrk' in spec.isolation (expected one of: network, filesystem)"
        );
        assert_eq!(problem.hint, "did you mean 'network'?");
    }

    #[test]
    fn unknown_first_field_still_names_its_mapping() {
        let problem = first_problem("spec:\n  isolation:\n    netwrk: none\n");
        assert_eq!(problem.position, Position::new(3, 5));
        assert!(problem.message.contains("in spec.isolation"), "{problem}");
    }

    #[test]
    fn unknown_fields_inside_lists_show_the_index() {
        let problem =
            first_problem("spec:\n  isolation: {}\n  list:\n    - network: none\n    - nope: 1\n");
        assert_eq!(problem.position, Position::new(5, 7));
        assert!(problem.message.contains("in spec.list[1]"), "{problem}");
    }

    #[test]
    fn unknown_values_name_the_field_and_suggest() {
        let problem = first_problem("spec:\n  isolation:\n    network: hots\n");
        assert_eq!(problem.position, Position::new(3, 14));
        assert_eq!(
            problem.message,
            "unknown value 'hots' for spec.isolation.network (expected one of: none, host)"
        );
        assert_eq!(problem.hint, "did you mean 'host'?");
    }

    #[test]
    fn missing_fields_and_duplicates_are_reported() {
        let problem = first_problem("spec:\n  list: []\n");
        assert_eq!(problem.message, "missing field 'isolation' in spec");
        let problem = first_problem("spec:\n  isolation:\n    network: none\n    network: host\n");
        assert_eq!(problem.message, "duplicate key 'network' in spec.isolation");
        assert_eq!(problem.position, Position::new(4, 5));
    }

    #[test]
    fn a_bad_document_does_not_hide_the_next_one() {
        let text = "spec:\n  isolation: {nope: 1}\n---\nspec:\n  isolation: {network: bad}\n";
        let mut diagnostics = Diagnostics::new("p.yaml");
        for document in &split_documents(text, &mut diagnostics) {
            let _ = deserialize::<Doc>(document, "", &mut diagnostics);
        }
        let error = diagnostics.finish(()).unwrap_err();
        assert_eq!(error.problems().len(), 2);
        assert_eq!(error.problems()[1].position, Position::new(5, 24));
    }
}
