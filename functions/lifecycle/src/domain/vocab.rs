//! Closed vocabularies stored as text: each enum lists its names once, in a table of
//! `(value, name)` pairs, and reads and writes them through these two lookups, with an
//! `Other(String)` arm for text another version wrote.

/// The name of `value` in `named`; `None` for a value the table does not list.
pub(crate) fn name_of<T: PartialEq>(
    named: &[(T, &'static str)],
    value: &T,
) -> Option<&'static str> {
    named
        .iter()
        .find(|(v, _)| v == value)
        .map(|(_, name)| *name)
}

/// The value named `text` in `named`.
pub(crate) fn value_of<T: Clone>(named: &[(T, &'static str)], text: &str) -> Option<T> {
    named
        .iter()
        .find(|(_, name)| *name == text)
        .map(|(v, _)| v.clone())
}
