//! The citation marker grammar, in one place: `[n]` or `[n, m, …]` names the sources a sentence
//! comes from. A bracket holding anything else (`arr[i]`, `[x]`, `[]`) is prose.

/// Whether `c` may stand between a marker's brackets.
pub fn is_marker_char(c: char) -> bool {
    c.is_ascii_digit() || c == ',' || c == ' '
}

/// The source numbers of a marker's inside (`"1, 2"` → 1, 2), or `None` when it is no marker.
pub fn parse(inner: &str) -> Option<Vec<usize>> {
    inner.split(',').map(|n| n.trim().parse().ok()).collect()
}

/// The marker that cites `numbers`: `[1, 2]`.
pub fn format(numbers: &[usize]) -> String {
    let list: Vec<String> = numbers.iter().map(usize::to_string).collect();
    format!("[{}]", list.join(", "))
}

/// `text` without its markers (whitespace before them removed too), and the numbers those
/// markers held, in order.
pub fn strip(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut cited = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let numbers = after
            .find(']')
            .and_then(|close| parse(&after[..close]).map(|numbers| (close, numbers)));
        match numbers {
            Some((close, numbers)) => {
                out.push_str(rest[..open].trim_end());
                cited.extend(numbers);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out.trim().to_string(), cited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stripped_and_read() {
        assert_eq!(
            strip("It is free [1]. And stable [2, 3]."),
            ("It is free. And stable.".to_string(), vec![1, 2, 3])
        );
        assert_eq!(
            strip("arr[i] stays [x]"),
            ("arr[i] stays [x]".to_string(), vec![])
        );
    }

    #[test]
    fn markers_parse_and_print() {
        assert_eq!(parse("1, 2"), Some(vec![1, 2]));
        assert_eq!(parse(" 3 "), Some(vec![3]));
        assert_eq!(parse(""), None);
        assert_eq!(parse("i"), None);
        assert_eq!(format(&[1, 2]), "[1, 2]");
        assert_eq!(format(&[4]), "[4]");
    }
}
