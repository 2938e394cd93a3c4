//! Errors: every problem names the file, line and column and carries a one-line fix hint.

use std::fmt;

use crate::located::Position;

/// One problem found in a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file name as given to the loader (used verbatim in messages).
    pub file: String,
    /// Where the problem is; `Position::UNKNOWN` when it concerns the file as a whole.
    pub position: Position,
    /// What is wrong.
    pub message: String,
    /// How to fix it, in one line.
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.position.is_known() {
            write!(f, "{}:{}: ", self.file, self.position)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        write!(f, "{} — {}", self.message, self.hint)
    }
}

/// Errors returned by loading, validating and compiling policies.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file could not be read.
    #[error("{path}: cannot read policy file: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policy is invalid; one line per problem, in file order.
    #[error("{}", ProblemLines(.0))]
    Invalid(Vec<Problem>),
    /// The policy is valid but cannot be applied to this container with these options.
    #[error("cannot apply policy '{policy}': {reason}")]
    Harden {
        /// The policy name.
        policy: String,
        /// Why, with what to change.
        reason: String,
    },
}

impl PolicyError {
    /// The problems of an `Invalid` error (empty for other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

struct ProblemLines<'a>(&'a [Problem]);

impl fmt::Display for ProblemLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Collects the problems of one file so validation can report all of them at once.
#[derive(Debug)]
pub(crate) struct Diagnostics {
    file: String,
    problems: Vec<Problem>,
    /// The document kind the checks under way are about: their hints link to its reference.
    kind: Option<&'static str>,
}

impl Diagnostics {
    pub(crate) fn new(file: &str) -> Self {
        Diagnostics {
            file: file.to_owned(),
            problems: Vec::new(),
            kind: None,
        }
    }

    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    pub(crate) fn error(
        &mut self,
        position: Position,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let message = message.into();
        let mut hint = hint.into();
        if let Some(kind) = self.kind
            && !hint.contains("(see ")
        {
            hint = format!("{hint} (see {})", reference_link(kind, &message));
        }
        self.problems.push(Problem {
            file: self.file.clone(),
            position,
            message,
            hint,
        });
    }

    /// Runs `checks` of a `kind` document: the hints of their problems link to its reference.
    pub(crate) fn checking(&mut self, kind: &'static str, checks: impl FnOnce(&mut Self)) {
        let outer = self.kind.replace(kind);
        checks(self);
        self.kind = outer;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(value)` when nothing was reported, else every problem sorted by position.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, PolicyError> {
        if self.problems.is_empty() {
            return Ok(value);
        }
        self.problems
            .sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
        self.problems.dedup();
        Err(PolicyError::Invalid(self.problems))
    }
}

/// The reference entry for the field a message names (`spec.isolation.tmpfs`, …), else for the
/// document kind.
fn reference_link(kind: &str, message: &str) -> String {
    let field = message
        .split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ',' | ':' | '(' | ')'))
        .find(|word| word.starts_with("spec.") && word.len() > "spec.".len())
        .unwrap_or("spec");
    crate::reference::anchor(kind, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_print_file_line_column_message_and_hint() {
        let mut diagnostics = Diagnostics::new("policy.yaml");
        diagnostics.error(Position::new(9, 3), "second", "fix b");
        diagnostics.error(Position::new(7, 5), "first", "fix a");
        let error = diagnostics.finish(()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "policy.yaml:7:5: first — fix a\npolicy.yaml:9:3: second — fix b"
        );
        assert_eq!(error.problems().len(), 2);
    }

    #[test]
    fn whole_file_problems_have_no_position() {
        let mut diagnostics = Diagnostics::new("p.yaml");
        diagnostics.error(Position::UNKNOWN, "empty", "add a document");
        assert_eq!(
            diagnostics.finish(()).unwrap_err().to_string(),
            "p.yaml: empty — add a document"
        );
    }
}
