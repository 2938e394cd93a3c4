//! The YAML layer: splitting a file into documents, deserializing each with serde-saphyr, and
//! turning its errors into `file:line:column: message — hint` problems that name the YAML path.
//!
//! Each document is deserialized on its own (its text is the file with every other document
//! blanked out, so lines and columns stay those of the file): a mistake in one document does not
//! hide the mistakes in the next, and a document's `kind` can choose the Rust type of its `spec`
//! without buffering (serde's buffering would lose the positions `Located` values need).

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser};

use crate::error::Diagnostics;
use crate::located::Position;
use crate::suggest;

/// One YAML document of a file.
#[derive(Debug)]
pub(crate) struct YamlDocument {
    /// The whole file with every character outside this document replaced by a space (line
    /// breaks kept), so positions reported for it are positions in the file.
    pub(crate) text: String,
    /// Where the document's content starts.
    pub(crate) start: Position,
    /// The root node is a mapping (the only shape a policy document may have).
    pub(crate) root_is_mapping: bool,
}

/// Splits `text` into its non-empty documents. A YAML syntax error is reported and ends the
/// split: the parser cannot resume after one.
pub(crate) fn split_documents(text: &str, diagnostics: &mut Diagnostics) -> Vec<YamlDocument> {
    let mut documents = Vec::new();
    let mut start: Option<(usize, Position)> = None;
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
                start = Some((span.start.index(), Position::UNKNOWN));
                root = None;
                depth = 0;
            }
            Event::DocumentEnd => {
                if let (Some((from, first)), Some((is_mapping, is_empty))) = (start.take(), root)
                    && !is_empty
                {
                    documents.push(YamlDocument {
                        text: blank_outside(text, from, span.end.index()),
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

fn record_first(start: &mut Option<(usize, Position)>, line: usize, col: usize) {
    if let Some((_, first)) = start
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

fn blank_outside(text: &str, from: usize, to: usize) -> String {
    // Lines before the document become empty, the part of its first line before it becomes
    // spaces (so columns hold), and everything after it goes. Spaces on lines of their own
    // would read as content of a block scalar (`text: >-`) ending the document.
    let first_line_start = text
        .chars()
        .take(from)
        .enumerate()
        .filter(|(_, c)| *c == '\n')
        .last()
        .map_or(0, |(index, _)| index + 1);
    text.chars()
        .enumerate()
        .filter_map(|(index, c)| {
            if c == '\n' || (from..to).contains(&index) {
                Some(c)
            } else if (first_line_start..from).contains(&index) {
                Some(' ')
            } else {
                None
            }
        })
        .collect()
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
    }
}

/// Deserializes one document into `T`, reporting a failure as a problem.
pub(crate) fn deserialize<T: DeserializeOwned>(
    document: &YamlDocument,
    diagnostics: &mut Diagnostics,
) -> Option<T> {
    match serde_saphyr::from_str_with_options::<T>(&document.text, options()) {
        Ok(value) => Some(value),
        Err(error) => {
            report(&document.text, &error, diagnostics);
            None
        }
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

/// Every node starting at `position`, outermost first (a block mapping starts where its first
/// key does).
fn nodes_at(text: &str, position: Position) -> Vec<NodeAt> {
    let mut found = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<Segment> = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        let here = position_of(span.start.line(), span.start.col()) == position;
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
        let mut node_path = path.clone();
        node_path.extend(segment.clone());
        if here {
            found.push(NodeAt {
                path: node_path,
                is_key,
            });
        }
        match event {
            Event::MappingStart(..) => {
                path.extend(segment);
                stack.push(Frame::Mapping {
                    next_is_key: true,
                    key: String::new(),
                });
            }
            Event::SequenceStart(..) => {
                path.extend(segment);
                stack.push(Frame::Sequence { next: 0 });
            }
            _ => advance(&mut stack),
        }
    }
    found
}

/// Moves the innermost container past the node that just ended.
fn advance(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Mapping { next_is_key, .. }) => *next_is_key = !*next_is_key,
        Some(Frame::Sequence { next }) => *next += 1,
        None => {}
    }
}

/// The YAML path of the mapping that holds the key at `position`, e.g. `spec.isolation`.
fn parent_of_key(text: &str, position: Position) -> String {
    let nodes = nodes_at(text, position);
    match nodes.iter().find(|node| node.is_key) {
        Some(node) => render_path(&node.path[..node.path.len().saturating_sub(1)]),
        None => String::new(),
    }
}

/// The YAML path of the outermost node starting at `position`.
fn path_at(text: &str, position: Position) -> String {
    nodes_at(text, position)
        .first()
        .map(|node| render_path(&node.path))
        .unwrap_or_default()
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

/// Converts a serde-saphyr error into a problem at the right position with a YAML path.
fn report(text: &str, error: &serde_saphyr::Error, diagnostics: &mut Diagnostics) {
    use serde_saphyr::Error as E;
    let error = error.without_snippet();
    let position = error
        .location()
        .map(|location| Position::from_saphyr(&location))
        .unwrap_or(Position::UNKNOWN);
    let (message, hint) = match error {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let parent = place(&parent_of_key(text, position));
            let message = if expected.is_empty() {
                format!("unknown field '{field}' in {parent} (it takes no fields)")
            } else {
                format!(
                    "unknown field '{field}' in {parent} (expected one of: {})",
                    quoted_list(expected)
                )
            };
            let hint = suggest::hint(field, expected, "remove it or move it to where it belongs");
            (message, hint)
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let path = place(&path_at(text, position));
            (
                format!(
                    "unknown value '{variant}' for {path} (expected one of: {})",
                    quoted_list(expected)
                ),
                suggest::hint(variant, expected, "use one of the listed values"),
            )
        }
        E::SerdeMissingField { field, .. } => {
            let path = place(&path_at(text, position));
            (
                format!("missing field '{field}' in {path}"),
                format!("add '{field}: …' to {path}"),
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
            let path = place(&path_at(text, position));
            (
                format!("wrong value for {path}: found {unexpected}, expected {expected}"),
                format!("write {path} as {expected}"),
            )
        }
        E::DuplicateMappingKey { key, .. } => {
            let key = key.as_deref().unwrap_or("?");
            let parent = place(&parent_of_key(text, position));
            (
                format!("duplicate key '{key}' in {parent}"),
                format!("keep a single '{key}' entry"),
            )
        }
        E::Message { msg, .. } => {
            let (message, hint) = match msg.split_once(HINT_SEPARATOR) {
                Some((message, hint)) => (message, hint),
                None => (msg.as_str(), "fix the value here"),
            };
            let path = path_at(text, position);
            if path.is_empty() {
                (message.to_owned(), hint.to_owned())
            } else {
                (format!("{path}: {message}"), hint.to_owned())
            }
        }
        other => {
            let path = place(&path_at(text, position));
            let rendered = other.to_string();
            let message = match rendered.rsplit_once(" at line ") {
                Some((message, _)) => message.to_owned(),
                None => rendered,
            };
            (
                format!("{message} (in {path})"),
                "check the shape of this value against the policy reference".to_owned(),
            )
        }
    };
    diagnostics.error(position, message, hint);
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
            let _ = deserialize::<Doc>(document, &mut diagnostics);
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
        assert_eq!(documents[1].text.lines().nth(6), Some("b: 2"));
        assert_eq!(documents[1].text.lines().nth(2), Some(""));
        assert_eq!(documents[2].text.lines().nth(8), Some("--- [1]"));
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
            let _ = deserialize::<Doc>(document, &mut diagnostics);
        }
        let error = diagnostics.finish(()).unwrap_err();
        assert_eq!(error.problems().len(), 2);
        assert_eq!(error.problems()[1].position, Position::new(5, 24));
    }
}
