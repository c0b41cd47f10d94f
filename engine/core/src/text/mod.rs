//! Text as the answer's chain reads it: sentences with their lines, the question's language, the
//! tokens answers are compared in, and the grammar of citation markers. Imports nothing from the
//! retrieval or answer rooms: both read text through here.

pub mod language;
pub mod markers;
pub mod polarity;
pub mod sentences;
pub mod tokens;

/// `items` without repeats, in the order of their first appearance.
pub fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
