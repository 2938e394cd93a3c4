//! Values that remember where in a policy file they were written.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 1-based line and column in a policy file. `Position::UNKNOWN` (0:0) marks values that were
/// not read from YAML (defaults, values built in code, documents received as JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line number; 0 when unknown.
    pub line: u32,
    /// 1-based column number (in characters); 0 when unknown.
    pub column: u32,
}

impl Position {
    /// The position of a value that does not come from a file.
    pub const UNKNOWN: Position = Position { line: 0, column: 0 };

    /// A position at `line`:`column` (both 1-based).
    pub const fn new(line: u32, column: u32) -> Self {
        Position { line, column }
    }

    /// Whether this position points into a file.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }

    /// This position `lines` further down (unknown positions stay unknown).
    pub(crate) fn shifted(self, lines: u32) -> Self {
        if self.is_known() {
            Position {
                line: self.line.saturating_add(lines),
                column: self.column,
            }
        } else {
            self
        }
    }

    pub(crate) fn from_saphyr(location: &serde_saphyr::Location) -> Self {
        Position {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            column: u32::try_from(location.column()).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

thread_local! {
    /// Lines of the file before the document being deserialized on this thread.
    static LINE_OFFSET: Cell<u32> = const { Cell::new(0) };
}

/// Runs `parse` with the positions of every [`Located`] value it reads moved `lines` down:
/// each document is parsed from its own text (so a file costs time linear in its size), and
/// serde gives `Deserialize` no context to carry where that text sits in the file.
pub(crate) fn with_line_offset<R>(lines: u32, parse: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            LINE_OFFSET.with(|offset| offset.set(self.0));
        }
    }
    let _restore = Restore(LINE_OFFSET.with(|offset| offset.replace(lines)));
    parse()
}

/// A value together with the position it was read from, so that checks made after parsing
/// can still point at the exact place in the file.
///
/// Equality, ordering and hashing look at the value only; serialization writes the bare value.
#[derive(Clone, Debug, Default)]
pub struct Located<T> {
    /// The value as parsed.
    pub value: T,
    /// Where the value was written.
    pub position: Position,
}

impl<T> Located<T> {
    /// A value with a known position.
    pub const fn new(value: T, position: Position) -> Self {
        Located { value, position }
    }

    /// A value that does not come from a file (a default or a value built in code).
    pub const fn unplaced(value: T) -> Self {
        Located {
            value,
            position: Position::UNKNOWN,
        }
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Located<T> {}

impl<T: PartialOrd> PartialOrd for Located<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Located<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: Hash> Hash for Located<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Located<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    /// Reads the position from serde-saphyr's span support; other formats (JSON) give
    /// `Position::UNKNOWN`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Located {
            position: Position::from_saphyr(&spanned.referenced)
                .shifted(LINE_OFFSET.with(Cell::get)),
            value: spanned.value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        name: Located<String>,
        count: Located<u32>,
    }

    #[test]
    fn yaml_values_keep_their_line_and_column() {
        let probe: Probe = serde_saphyr::from_str("# c\nname: abc\ncount:   7\n").unwrap();
        assert_eq!(probe.name.value, "abc");
        assert_eq!(probe.name.position, Position::new(2, 7));
        assert_eq!(probe.count.position, Position::new(3, 10));
    }

    #[test]
    fn json_values_have_an_unknown_position_and_serialize_bare() {
        let probe: Located<String> = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(probe.value, "x");
        assert!(!probe.position.is_known());
        assert_eq!(serde_json::to_string(&probe).unwrap(), "\"x\"");
    }

    #[test]
    fn equality_ignores_position() {
        assert_eq!(
            Located::new(3, Position::new(1, 1)),
            Located::new(3, Position::new(9, 9))
        );
    }
}
