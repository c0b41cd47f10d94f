//! A PDF's text layer, page by page: the pages joined by a page-break line (so chunks know their
//! pages: [`crate::chunk`]), the running headers and footers that repeat on most pages (a title,
//! "Page 3 of 12") left out, so they neither fill chunks nor match every query, and headings
//! marked as Markdown's, so that they head their chunks instead of running into the sentence
//! after them. Where the PDF has an outline (bookmarks), its entries are the headings, at their
//! levels, on their pages: the author's own structure. Without one, a heading is told by the
//! layout the text layer keeps (not by its font, which it loses): a short line standing alone,
//! without a sentence's end, before a paragraph.

use std::collections::HashMap;

use crate::chunk::PAGE_BREAK;
use crate::load::LoadError;

/// Lines at each end of a page where a running header or footer may stand.
const EDGE_LINES: usize = 2;

/// Pages a document needs before lines are judged to repeat on them.
const MIN_PAGES: usize = 3;

/// The text of the PDF in `bytes`, its pages separated by page-break lines.
pub(crate) fn pdf_text(bytes: &[u8]) -> Result<String, LoadError> {
    let parse_error = |e: &dyn std::fmt::Display| LoadError::Parse(format!("PDF: {e}"));
    // Parsed once, for both the pages' text and the outline.
    let mut document = lopdf::Document::load_mem(bytes).map_err(|e| parse_error(&e))?;
    // A PDF encrypted with the empty password opens, as in pdf-extract's own readers.
    if document.is_encrypted() {
        document.decrypt("").map_err(|e| parse_error(&e))?;
    }
    // Page by page up to the first that cannot be read, as pdf-extract's by-page reader.
    let mut pages = Vec::new();
    for number in 1u32.. {
        let mut text = String::new();
        let mut output = pdf_extract::PlainTextOutput::new(&mut text);
        if pdf_extract::output_doc_page(&document, &mut output, number).is_err() {
            break;
        }
        pages.push(text);
    }
    Ok(join_pages(&pages, &outline(&document)))
}

/// One entry of a PDF's outline.
struct Entry {
    /// 1 for the top level.
    level: usize,
    title: String,
    /// From 1.
    page: usize,
}

/// The PDF's outline, or nothing where it has none (or one that cannot be read: the layout
/// then tells the headings).
fn outline(document: &lopdf::Document) -> Vec<Entry> {
    document.get_toc().map_or_else(
        |_| Vec::new(),
        |toc| {
            toc.toc
                .into_iter()
                .map(|entry| Entry {
                    level: entry.level,
                    title: entry.title,
                    page: entry.page,
                })
                .collect()
        },
    )
}

/// The level of the outline entry that `line` of page `page` is, if it is one.
fn outline_level(outline: &[Entry], page: usize, line: &str) -> Option<usize> {
    let line = words(line);
    outline
        .iter()
        .find(|entry| entry.page == page && words(&entry.title) == line)
        .map(|entry| entry.level)
}

/// `pages` without their running headers and footers, joined by page-break lines, with
/// headings marked: by `outline` where it has entries, else by the layout.
fn join_pages(pages: &[String], outline: &[Entry]) -> String {
    let pages: Vec<Page> = pages.iter().map(|text| Page::new(text)).collect();
    let running = running_lines(&pages);
    let mut text = String::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            text.push_str(&format!("\n{PAGE_BREAK}\n"));
        }
        let lines: Vec<&str> = page
            .lines
            .iter()
            .enumerate()
            .filter(|(at, line)| !(page.edges.contains(at) && running.contains(&shape(line))))
            .map(|(_, line)| *line)
            .collect();
        let blank = |at: Option<usize>| {
            at.and_then(|at| lines.get(at))
                .is_none_or(|l| l.trim().is_empty())
        };
        // A heading heads something: a non-empty line comes after it on its page.
        let last = lines.iter().rposition(|l| !l.trim().is_empty());
        for (at, line) in lines.iter().enumerate() {
            let level = if outline.is_empty() {
                let alone = blank(at.checked_sub(1)) && blank(Some(at + 1));
                let followed = last.is_some_and(|last| at < last);
                (alone && followed && is_heading(line)).then_some(1)
            } else {
                outline_level(outline, i + 1, line)
            };
            if let Some(level) = level {
                text.push_str(&"#".repeat(level.min(6)));
                text.push(' ');
            }
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// A page's lines, and where a running header or footer may stand among them: the first and
/// last [`EDGE_LINES`] non-empty ones.
struct Page<'a> {
    lines: Vec<&'a str>,
    edges: Vec<usize>,
}

impl<'a> Page<'a> {
    fn new(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let filled: Vec<usize> = (0..lines.len())
            .filter(|&i| !lines[i].trim().is_empty())
            .collect();
        let head = filled.iter().take(EDGE_LINES);
        let tail = filled.iter().rev().take(EDGE_LINES);
        let edges = head.chain(tail).copied().collect();
        Page { lines, edges }
    }
}

/// A line's words, spaces collapsed.
fn words(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a line is, whatever its page number: its [`words`], digits as `#`.
fn shape(line: &str) -> String {
    words(line)
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// The shapes of the lines standing at a page's edge on at least half the pages (and three).
fn running_lines(pages: &[Page]) -> Vec<String> {
    if pages.len() < MIN_PAGES {
        return Vec::new();
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for page in pages {
        let mut shapes: Vec<String> = page.edges.iter().map(|&i| shape(page.lines[i])).collect();
        shapes.sort();
        shapes.dedup();
        for shape in shapes {
            *seen.entry(shape).or_default() += 1;
        }
    }
    let needed = (pages.len() / 2).max(MIN_PAGES);
    seen.into_iter()
        .filter(|(_, pages)| *pages >= needed)
        .map(|(shape, _)| shape)
        .collect()
}

/// Longest heading, in characters and words.
const MAX_HEADING_CHARS: usize = 80;
const MAX_HEADING_WORDS: usize = 10;

/// Whether a line that stands alone reads as a heading: short, opening with a capital, a digit
/// or a Chinese character, and not ending as a sentence or a clause does.
fn is_heading(line: &str) -> bool {
    let line = line.trim();
    let opens = line.chars().next().is_some_and(|c| {
        c.is_uppercase() || c.is_ascii_digit() || docent_core::text::language::is_han(c)
    });
    let ends_as_prose = line.ends_with([
        '.', ',', ';', ':', '!', '?', '。', '，', '；', '：', '！', '？',
    ]);
    opens
        && !ends_as_prose
        && !line.starts_with('#')
        && line.chars().count() <= MAX_HEADING_CHARS
        && line.split_whitespace().count() <= MAX_HEADING_WORDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_line_alone_before_a_paragraph_is_a_heading() {
        let page = "Content safety\n\nContent safety filters check both the question and the answer.\n\n\
                    Local deployment\n\nDocuments stay on the machine.\n\nThe end\n";
        let text = join_pages(&[page.to_string()], &[]);
        assert!(
            text.starts_with("# Content safety\n\nContent safety filters"),
            "{text}"
        );
        assert!(text.contains("\n# Local deployment\n"), "{text}");
        // The last line, with nothing after it, heads nothing.
        assert!(
            text.contains("\nThe end\n") && !text.contains("# The end"),
            "{text}"
        );
        assert!(is_heading("3.2 Installing packages"));
        assert!(is_heading("内容安全"));
        assert!(!is_heading("See the figure below:"));
        assert!(!is_heading("and then it stops"));
        assert!(!is_heading("A sentence that ends like one."));
    }

    #[test]
    fn an_outline_names_the_headings_and_their_levels() {
        let pages = [
            "Installing\n\nSome words on the installer.\nA short line\n\nThe installer asks.\n"
                .to_string(),
            "Mirrors and keys\n\nEach mirror signs its lists.\n".to_string(),
        ];
        let outline = [
            Entry {
                level: 1,
                title: "Installing".into(),
                page: 1,
            },
            Entry {
                level: 2,
                title: "Mirrors  and keys".into(),
                page: 2,
            },
            // An entry whose title is not on its page marks nothing.
            Entry {
                level: 1,
                title: "Appendix".into(),
                page: 2,
            },
        ];
        let text = join_pages(&pages, &outline);
        assert!(text.starts_with("# Installing\n"), "{text}");
        assert!(text.contains("\n## Mirrors and keys\n"), "{text}");
        // With an outline, a line the layout would have taken is not a heading.
        assert!(text.contains("\nA short line\n"), "{text}");
        assert!(!text.contains("Appendix"), "{text}");
    }

    #[test]
    fn the_sample_pdfs_outline_is_read_with_its_pages() {
        let bytes = include_bytes!("../../corpus/en/prompt-injection-and-safety.pdf");
        let document = lopdf::Document::load_mem(bytes).unwrap();
        let entries: Vec<(usize, String, usize)> = outline(&document)
            .into_iter()
            .map(|e| (e.level, e.title, e.page))
            .collect();
        assert_eq!(
            entries,
            [
                (1, "Defending against prompt injection".into(), 1),
                (1, "Content safety".into(), 2),
            ]
        );
        // Its headings are the outline's, and its two pages stay apart.
        let text = pdf_text(bytes).unwrap();
        assert!(
            text.trim_start()
                .starts_with("# Defending against prompt injection\n"),
            "{text}"
        );
        // The one parse reads the pages as pdf-extract's own reader does.
        let pages = pdf_extract::extract_text_from_mem_by_pages(bytes).unwrap();
        assert_eq!(text, join_pages(&pages, &outline(&document)));
        assert!(text.contains("\n# Content safety\n"), "{text}");
        assert_eq!(text.matches(PAGE_BREAK).count(), 1, "{text}");
        assert!(matches!(
            pdf_text(b"%PDF-1.4 not really"),
            Err(LoadError::Parse(_))
        ));
    }

    #[test]
    fn running_headers_and_footers_are_left_out() {
        let words = ["apt", "dpkg", "mirrors", "keyrings"];
        let pages: Vec<String> = (1..=4)
            .map(|n| {
                let topic = words[n - 1];
                format!(
                    "Debian Reference\n\nOn {topic}, what this page says.\nMore about {topic}.\n\nPage {n} of 4\n"
                )
            })
            .collect();
        let text = join_pages(&pages, &[]);
        assert!(!text.contains("Debian Reference"), "{text}");
        assert!(!text.contains("of 4"), "{text}");
        assert!(text.contains("On mirrors, what this page says."));
        assert_eq!(text.matches(PAGE_BREAK).count(), 3);
        assert!(
            text.contains("\nOn mirrors"),
            "a paragraph is not a heading: {text}"
        );
        // Two pages are too few to tell a running title from a repeated one.
        let text = join_pages(&pages[..2], &[]);
        assert!(text.contains("Debian Reference") && text.contains("Page 2 of 4"));
    }
}
