//! Rows of a table as text a search can match and a chunk can stand on: each row a line of
//! `header: value` pairs, so a row cut away from the top of its table still says what its
//! values are. CSV files, and the sheets of a workbook ([`crate::office`]).

use crate::load::LoadError;

/// Characters of a header kept before each value: a long header repeated on every row would
/// make a narrow table's text many times its size.
const MAX_HEADER_CHARS: usize = 40;

/// `rows` as text: the first row with any value is the header; each later row a line of its
/// non-empty cells, `header: value` joined by "; " (a cell without a header stands alone).
pub(crate) fn rows_under_header(rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut header: Option<Vec<String>> = None;
    let mut text = String::new();
    for row in rows {
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let Some(names) = &header else {
            header = Some(
                row.iter()
                    .map(|name| name.trim().chars().take(MAX_HEADER_CHARS).collect())
                    .collect(),
            );
            continue;
        };
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(i, value)| match names.get(i).filter(|n| !n.is_empty()) {
                Some(name) => format!("{name}: {}", value.trim()),
                None => value.trim().to_string(),
            })
            .collect();
        text.push_str(&cells.join("; "));
        text.push('\n');
    }
    // A table of one row is its header alone: that is its text.
    if text.is_empty() {
        return header.map(|h| h.join("; ") + "\n").unwrap_or_default();
    }
    text
}

/// A CSV file's rows under their header (quoted fields, any line endings; rows may differ in
/// length).
pub(crate) fn csv_text(bytes: &[u8]) -> Result<String, LoadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| LoadError::Parse(format!("CSV: {e}")))?;
        // Invalid UTF-8 is replaced, as in any text file.
        rows.push(
            record
                .iter()
                .map(|field| String::from_utf8_lossy(field).into_owned())
                .collect(),
        );
    }
    Ok(rows_under_header(rows.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_header_value_pairs() {
        let text = csv_text(
            b"Port,Service,Notes\n22,ssh,\"secure, shell\"\n\n80,http\r\n,,\n443,https,TLS,extra\n",
        )
        .unwrap();
        assert_eq!(
            text,
            "Port: 22; Service: ssh; Notes: secure, shell\nPort: 80; Service: http\n\
             Port: 443; Service: https; Notes: TLS; extra\n"
        );
        assert_eq!(csv_text("名称,用途\n".as_bytes()).unwrap(), "名称; 用途\n");
        let long = format!("{},b\n1,2\n", "h".repeat(100));
        assert_eq!(
            csv_text(long.as_bytes()).unwrap(),
            format!("{}: 1; b: 2\n", "h".repeat(40))
        );
    }
}
