//! Step 2: from a file's bytes to its text. Markdown, HTML (text, not tags), PDF (the text
//! layer), plain text and source code; anything else is reported as unsupported.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use docent_core::DocumentKind;

use crate::isolate;

/// How a file is read and chunked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Markdown,
    /// HTML, read as Markdown-like text.
    Html,
    /// A PDF's text layer.
    Pdf,
    /// Plain text.
    Text,
    /// Source code.
    Code(Code),
    /// A Word document (`.docx`).
    Docx,
    /// A PowerPoint deck (`.pptx`).
    Pptx,
    /// An Excel workbook (`.xlsx`).
    Xlsx,
    /// An OpenDocument text (`.odt`).
    Odt,
    /// An EPUB book.
    Epub,
    /// An e-mail message (`.eml`).
    Eml,
    /// A Jupyter notebook.
    Ipynb,
    /// Comma-separated values.
    Csv,
}

/// Source code; languages with a grammar here are split along their syntax tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Rust, split along its syntax tree.
    Rust,
    /// Python, split along its syntax tree.
    Python,
    /// Any other language: split at blank lines and lines.
    Other,
}

const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "text", "rst", "adoc", "asciidoc", "org", "tex", "tsv", "log",
];
const CODE_EXTENSIONS: &[&str] = &[
    "js", "mjs", "ts", "tsx", "jsx", "go", "c", "h", "cc", "cpp", "hpp", "java", "kt", "swift",
    "rb", "php", "cs", "scala", "sh", "bash", "zsh", "sql", "lua", "pl", "r", "hs", "ml", "ex",
    "exs", "clj", "toml", "yaml", "yml", "json", "xml", "css", "scss", "proto", "cmake", "mk",
];
const CODE_NAMES: &[&str] = &[
    "Makefile",
    "Dockerfile",
    "CMakeLists.txt",
    "Justfile",
    "Rakefile",
];

impl Format {
    /// The format of a file by its name, or `None` when docent does not read it.
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        if CODE_NAMES.contains(&name) {
            return Some(Format::Code(Code::Other));
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("md" | "markdown" | "mdx") => Some(Format::Markdown),
            Some("html" | "htm" | "xhtml") => Some(Format::Html),
            Some("pdf") => Some(Format::Pdf),
            Some("docx") => Some(Format::Docx),
            Some("pptx") => Some(Format::Pptx),
            Some("xlsx") => Some(Format::Xlsx),
            Some("odt") => Some(Format::Odt),
            Some("epub") => Some(Format::Epub),
            Some("eml") => Some(Format::Eml),
            Some("ipynb") => Some(Format::Ipynb),
            Some("csv") => Some(Format::Csv),
            Some(e) if TEXT_EXTENSIONS.contains(&e) => Some(Format::Text),
            Some("rs") => Some(Format::Code(Code::Rust)),
            Some("py" | "pyi") => Some(Format::Code(Code::Python)),
            Some(e) if CODE_EXTENSIONS.contains(&e) => Some(Format::Code(Code::Other)),
            None if name.eq_ignore_ascii_case("README") || name.eq_ignore_ascii_case("LICENSE") => {
                Some(Format::Text)
            }
            _ => None,
        }
    }

    /// Its kind as filters and lists name it.
    pub fn kind(self) -> DocumentKind {
        match self {
            Format::Markdown => DocumentKind::Md,
            Format::Html => DocumentKind::Html,
            Format::Pdf => DocumentKind::Pdf,
            Format::Text => DocumentKind::Text,
            Format::Code(_) => DocumentKind::Code,
            Format::Docx => DocumentKind::Docx,
            Format::Pptx => DocumentKind::Pptx,
            Format::Xlsx => DocumentKind::Xlsx,
            Format::Odt => DocumentKind::Odt,
            Format::Epub => DocumentKind::Epub,
            Format::Eml => DocumentKind::Eml,
            Format::Ipynb => DocumentKind::Ipynb,
            Format::Csv => DocumentKind::Csv,
        }
    }

    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Format::Markdown => "Markdown",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
            Format::Text => "Text",
            Format::Code(_) => "Code",
            Format::Docx => "Word",
            Format::Pptx => "PowerPoint",
            Format::Xlsx => "Excel",
            Format::Odt => "OpenDocument",
            Format::Epub => "EPUB",
            Format::Eml => "e-mail",
            Format::Ipynb => "Jupyter notebook",
            Format::Csv => "CSV",
        }
    }

    /// Whether the extracted text has Markdown structure (headings) to chunk along: every
    /// format read into `#` headings (a PDF's are told by its layout: [`crate::pdf`]).
    pub fn is_markdown_like(self) -> bool {
        !matches!(self, Format::Text | Format::Code(_) | Format::Csv)
    }

    /// What in this format's extraction changed since its documents were first indexed (a
    /// recipe for their content hash, so they are indexed again): HTML's tables read cell after
    /// cell, not laid out as a grid; CSV read as rows under their header, not as plain text;
    /// PDF page by page, without running headers and footers, its headings marked.
    pub fn extraction(self) -> Option<&'static str> {
        match self {
            Format::Html => Some("html=cells"),
            Format::Csv => Some("csv=rows"),
            Format::Pdf => Some("pdf=pages,headings"),
            _ => None,
        }
    }

    /// Whether its parser runs in a worker process ([`crate::isolate`]): the formats whose
    /// parsing can be made to explode (compressed streams, deep markup, encoded mail).
    pub(crate) fn is_isolated(self) -> bool {
        matches!(
            self,
            Format::Pdf
                | Format::Html
                | Format::Docx
                | Format::Pptx
                | Format::Xlsx
                | Format::Odt
                | Format::Epub
                | Format::Eml
        )
    }
}

/// Why a file's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// A text file holding NUL bytes.
    #[error("binary content (NUL bytes) in a text file")]
    Binary,
    /// Nothing but whitespace.
    #[error("no text could be extracted")]
    Empty,
    /// The parser refused the file; the message says why.
    #[error("{0}")]
    Parse(String),
    /// The ingest was cancelled while the file was parsed.
    #[error("not read: the ingest was cancelled")]
    Cancelled,
}

/// How far into a file to look for NUL bytes, the mark of binary content.
const SNIFF: usize = 8192;

/// The most text any file yields (the default file cap): beyond it a file is refused.
pub const MAX_TEXT_BYTES: usize = 32 << 20;

/// Text every file may yield whatever its size: a small file's text may outgrow it a little
/// (a short HTML list's bullets and indents).
const TEXT_ALLOWANCE: usize = 64 << 10;

/// The most text a file of `input` bytes may yield. What a parser writes is bounded by what it
/// read, format by format: plain text at most triples (invalid UTF-8 becomes U+FFFD); HTML
/// loses its tags, so its text is shorter than its markup; a PDF's streams are compressed, and
/// real PDFs hold less text than their size (32× is far past any seen), where a built one
/// inflates 250-fold. The parser's work and memory scale with its output, so this bounds them
/// too (the isolated parsers are stopped as soon as they pass it).
pub fn max_text_bytes(format: Format, input: usize) -> usize {
    let ratio = match format {
        // Compressed archives of text, like a PDF's streams.
        Format::Pdf | Format::Docx | Format::Pptx | Format::Xlsx | Format::Odt | Format::Epub => 32,
        Format::Html => 2,
        Format::Markdown | Format::Text | Format::Code(_) | Format::Eml | Format::Ipynb => 3,
        // Each value gets its header: a narrow table's text is several times its size.
        Format::Csv => 8,
    };
    input
        .saturating_mul(ratio)
        .clamp(TEXT_ALLOWANCE, MAX_TEXT_BYTES)
}

/// The most chunks a file of `input` bytes may yield: one per 128 bytes of the most text it may
/// yield, and a few for any file. A chunk holds 200–400 tokens and a token is at least a byte or
/// so, so real text gives one per kilobyte or more; the bound guards the splitter's own work.
pub fn max_chunks(format: Format, input: usize) -> usize {
    16 + max_text_bytes(format, input) / 128
}

/// Extracts the text of a file, within [`max_text_bytes`]; PDF and HTML are parsed in a worker
/// process ([`crate::isolate`]), stopped when `cancel` is set. Invalid UTF-8 in text formats is
/// replaced, not fatal.
pub fn extract_text(
    bytes: &[u8],
    format: Format,
    cancel: Option<&AtomicBool>,
) -> Result<String, LoadError> {
    let max_text = max_text_bytes(format, bytes.len());
    let binary = bytes[..bytes.len().min(SNIFF)].contains(&0);
    let text = match format {
        // HTML is text: NUL bytes mean a binary file under its name.
        Format::Html if binary => return Err(LoadError::Binary),
        _ if format.is_isolated() => isolate::extract(format, bytes, max_text, cancel)?,
        _ if binary => return Err(LoadError::Binary),
        Format::Csv => crate::table::csv_text(bytes)?,
        Format::Ipynb => crate::notebook::ipynb_text(bytes)?,
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    if text.len() > max_text {
        return Err(LoadError::Parse(format!(
            "{}: its text runs past {max_text} bytes, more than a file of its size holds (a file built to expand?)",
            format.label()
        )));
    }
    let text = text.replace("\r\n", "\n");
    if text.trim().is_empty() {
        Err(LoadError::Empty)
    } else {
        Ok(text)
    }
}

/// Wide enough that html2text never wraps a paragraph: chunking decides where text breaks.
const HTML_WIDTH: usize = 100_000;

/// HTML as Markdown-like text: headings stay `#` lines, so chunks keep their heading path.
/// Tables are read cell by cell, each cell its own line: laid out as a grid, every cell is
/// padded to its column's width, and a table with one wide cell costs width × rows (a 155 KB
/// page took 1.8 GB).
pub(crate) fn html_text(bytes: &[u8]) -> Result<String, LoadError> {
    let depth = html_nesting(bytes);
    if depth > MAX_HTML_NESTING {
        return Err(LoadError::Parse(format!(
            "HTML: elements nested {depth} deep (docent reads up to {MAX_HTML_NESTING})"
        )));
    }
    // Link footnotes are off: their `[1]` markers would read like citations.
    html2text::config::plain()
        .link_footnotes(false)
        .raw_mode(true)
        .string_from_read(bytes, HTML_WIDTH)
        .map_err(|e| LoadError::Parse(format!("HTML: {e}")))
}

/// Deepest element nesting docent parses. HTML's tree builder checks the stack of open elements
/// at each tag, so its work grows with tags × depth: 200,000 nested `<div>`s take minutes. Real
/// pages stay far below this.
const MAX_HTML_NESTING: usize = 1000;

/// Elements that never hold others, and those whose end tag may be left out (a page of `<p>`s
/// without `</p>` is not deep).
const FLAT_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option",
    "optgroup", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
];

/// How deep the elements of an HTML document nest, by one linear pass of the tokenizer.
fn html_nesting(bytes: &[u8]) -> usize {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::{
        BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer,
    };
    use std::cell::Cell;

    #[derive(Default)]
    struct Depth {
        open: Cell<usize>,
        deepest: Cell<usize>,
    }
    impl TokenSink for Depth {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            if let Token::TagToken(tag) = token {
                if tag.self_closing || FLAT_ELEMENTS.contains(&&*tag.name) {
                    return TokenSinkResult::Continue;
                }
                match tag.kind {
                    TagKind::StartTag => {
                        self.open.set(self.open.get() + 1);
                        self.deepest.set(self.deepest.get().max(self.open.get()));
                    }
                    TagKind::EndTag => self.open.set(self.open.get().saturating_sub(1)),
                }
            }
            TokenSinkResult::Continue
        }
    }

    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(&String::from_utf8_lossy(bytes)));
    let tokenizer = Tokenizer::new(Depth::default(), Default::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.deepest.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!(Format::of(Path::new("a/b.MD")), Some(Format::Markdown));
        assert_eq!(Format::of(Path::new("index.htm")), Some(Format::Html));
        assert_eq!(Format::of(Path::new("paper.pdf")), Some(Format::Pdf));
        assert_eq!(
            Format::of(Path::new("main.rs")),
            Some(Format::Code(Code::Rust))
        );
        assert_eq!(
            Format::of(Path::new("tool.py")),
            Some(Format::Code(Code::Python))
        );
        assert_eq!(
            Format::of(Path::new("app.ts")),
            Some(Format::Code(Code::Other))
        );
        assert_eq!(
            Format::of(Path::new("Makefile")),
            Some(Format::Code(Code::Other))
        );
        assert_eq!(Format::of(Path::new("notes.txt")), Some(Format::Text));
        assert_eq!(Format::of(Path::new("photo.jpg")), None);
        assert_eq!(Format::of(Path::new("noext")), None);
    }

    #[test]
    fn html_nested_past_reason_is_refused_at_once() {
        let deep = format!(
            "<html><body>{}deep{}</body></html>",
            "<div>".repeat(200_000),
            "</div>".repeat(200_000)
        );
        let started = std::time::Instant::now();
        let err = extract_text(deep.as_bytes(), Format::Html, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "HTML: elements nested 200000 deep (docent reads up to 1000)"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // Elements whose end tag may be left out do not count as nesting.
        let flat = format!("<ul>{}</ul>", "<li><p>An item".repeat(5_000));
        assert_eq!(html_nesting(flat.as_bytes()), 1);
        assert!(
            extract_text(flat.as_bytes(), Format::Html, None)
                .unwrap()
                .contains("An item")
        );
    }

    #[test]
    fn html_loses_its_tags_but_keeps_text_and_headings() {
        let html = b"<html><head><style>p{color:red}</style></head><body><h1>Title</h1>\
                     <p>Hello <b>world</b> &amp; friends.</p><script>var x = 1;</script></body></html>";
        let text = extract_text(html, Format::Html, None).unwrap();
        assert!(
            text.starts_with("# Title\n"),
            "headings stay Markdown headings: {text}"
        );
        assert!(text.contains("Hello **world** & friends."), "{text}");
        assert!(
            !text.contains("<b>") && !text.contains("color:red") && !text.contains("var x"),
            "{text}"
        );
    }

    /// The first attack review's tables: one cell 90,000 wide then N narrow rows (122 KB took
    /// 918 MB), and a 3 KB table 1,000 wide and 50 deep (156 chunks in 47.8 s). Read cell by
    /// cell, each yields about its own size in text.
    #[test]
    fn html_tables_yield_their_cells_not_a_padded_grid() {
        let rows = "<tr><td>aI</td><td>b</td></tr>".repeat(1_000);
        let wide = format!(
            "<table><tr><td>{}</td><td>q</td></tr>{rows}</table>",
            "W".repeat(90_000)
        );
        let text = extract_text(wide.as_bytes(), Format::Html, None).unwrap();
        assert!(
            text.len() <= wide.len(),
            "{} from {}",
            text.len(),
            wide.len()
        );
        assert!(text.contains(&"W".repeat(90_000)) && text.matches("aI").count() == 1_000);

        let row = format!("<tr>{}</tr>", "<td>x</td>".repeat(1_000));
        let grid = format!("<table>{}</table>", row.repeat(50));
        let text = extract_text(grid.as_bytes(), Format::Html, None).unwrap();
        assert_eq!(text.matches('x').count(), 50_000);
        assert!(
            text.len() <= grid.len() / 2,
            "{} from {}",
            text.len(),
            grid.len()
        );

        // A small table still reads in order, a cell a line.
        let small =
            b"<table><tr><th>Port</th><th>Use</th></tr><tr><td>22</td><td>ssh</td></tr></table>";
        let text = extract_text(small, Format::Html, None).unwrap();
        assert_eq!(text, "Port\nUse\n22\nssh\n");
    }

    #[test]
    fn text_is_bounded_by_the_input_it_came_from() {
        // Lists nested deep indent every line: 4 bytes of `<br>` become a whole indent.
        let deep_list = format!("{}{}", "<ul><li>".repeat(500), "x<br>".repeat(20_000));
        let err = extract_text(deep_list.as_bytes(), Format::Html, None).unwrap_err();
        assert!(
            err.to_string().contains("its text runs past 208000 bytes"),
            "{err}"
        );
        // Invalid UTF-8 triples as it is replaced: past the 32 MiB cap, a text file is refused too.
        let invalid = vec![0xFFu8; 12 << 20];
        let err = extract_text(&invalid, Format::Text, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Text: its text runs past 33554432 bytes"),
            "{err}"
        );
        assert_eq!(max_text_bytes(Format::Pdf, 9_000), 288_000);
        assert_eq!(max_text_bytes(Format::Pdf, 1), 64 << 10);
        assert_eq!(max_text_bytes(Format::Pdf, 30 << 20), MAX_TEXT_BYTES);
        assert_eq!(max_text_bytes(Format::Text, 100_000), 300_000);
    }

    #[test]
    fn bad_input_is_an_error_not_a_crash() {
        assert_eq!(
            extract_text(b"abc\0def", Format::Text, None),
            Err(LoadError::Binary)
        );
        assert_eq!(
            extract_text(b" \n\t ", Format::Markdown, None),
            Err(LoadError::Empty)
        );
        assert!(matches!(
            extract_text(b"%PDF-1.4 garbage", Format::Pdf, None),
            Err(LoadError::Parse(_))
        ));
        // Invalid UTF-8 is replaced, the rest of the text is kept.
        assert_eq!(
            extract_text(b"caf\xe9 ok", Format::Text, None).unwrap(),
            "caf\u{fffd} ok"
        );
    }
}
