//! Step 3: text into chunks measured in the embedder's own tokens (so none is truncated when
//! embedded), with overlap. Markdown (and HTML, extracted as Markdown-like text) splits at
//! headings, paragraphs and whole lists and code blocks; Rust and Python along their syntax
//! trees (whole items, then blocks); other text at blank lines, lines and sentences (Chinese
//! sentences end at 。！？). Each chunk knows its line span and headings.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use docent_core::{Embedder, Pages};
use text_splitter::{ChunkConfig, ChunkSizer, CodeSplitter, MarkdownSplitter, TextSplitter};

use crate::load::{Code, Format};

/// A piece of a document, sized for the embedder.
#[derive(Debug, Clone, PartialEq)]
pub struct TextChunk {
    /// The chunk's text.
    pub text: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    /// Last line (inclusive).
    pub end_line: u32,
    /// Headings enclosing it, outermost first.
    pub headings: Vec<String>,
    /// The pages it lies on, in a paged document (PDF).
    pub pages: Option<Pages>,
}

impl TextChunk {
    /// The text both channels index: the heading path, then the chunk. A chunk deep in a
    /// section still carries what the section is about.
    pub fn indexed_text(&self) -> String {
        if self.headings.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.headings.join(" > "), self.text)
        }
    }
}

/// Measures text for the splitter in the embedder's tokens.
#[derive(Clone, Copy)]
struct EmbedderTokens<'a>(&'a dyn Embedder);

impl ChunkSizer for EmbedderTokens<'_> {
    fn size(&self, chunk: &str) -> usize {
        self.0.count_tokens(chunk)
    }
}

/// Splits text by format: Markdown by its structure, code along its syntax tree, the rest
/// by paragraphs, lines and sentences.
pub struct Chunker<'a> {
    markdown: MarkdownSplitter<EmbedderTokens<'a>>,
    text: TextSplitter<EmbedderTokens<'a>>,
    rust: CodeSplitter<EmbedderTokens<'a>>,
    python: CodeSplitter<EmbedderTokens<'a>>,
}

impl<'a> Chunker<'a> {
    /// Chunks of `tokens` of `embedder`'s (a range: the splitter fills up to its end,
    /// preferring semantic breaks once past its start) with `overlap` tokens shared by neighbours.
    pub fn new(embedder: &'a dyn Embedder, tokens: Range<usize>, overlap: usize) -> Result<Self> {
        let config = || -> Result<ChunkConfig<EmbedderTokens<'a>>> {
            Ok(ChunkConfig::new(tokens.clone())
                .with_overlap(overlap)?
                .with_sizer(EmbedderTokens(embedder)))
        };
        Ok(Chunker {
            markdown: MarkdownSplitter::new(config()?),
            text: TextSplitter::new(config()?),
            rust: CodeSplitter::new(tree_sitter_rust::LANGUAGE, config()?)?,
            python: CodeSplitter::new(tree_sitter_python::LANGUAGE, config()?)?,
        })
    }

    /// The chunks of `text`, read as `format`; `None` when `cancel` was set before they were
    /// all cut (splitting a long file takes seconds: a shutdown should not wait for it).
    pub fn chunk(
        &self,
        text: &str,
        format: Format,
        cancel: Option<&AtomicBool>,
    ) -> Option<Vec<TextChunk>> {
        let pieces: Box<dyn Iterator<Item = (usize, &str)>> = match format {
            _ if too_deep(text, format) => Box::new(self.text.chunk_indices(text)),
            Format::Code(Code::Rust) => Box::new(self.rust.chunk_indices(text)),
            Format::Code(Code::Python) => Box::new(self.python.chunk_indices(text)),
            // Every format read into `#` headings (HTML, PDF, Office, e-books, mail, notebooks).
            _ if format.is_markdown_like() => Box::new(self.markdown.chunk_indices(text)),
            _ => Box::new(self.text.chunk_indices(text)),
        };
        let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        let pieces: Vec<(usize, &str)> = pieces.take_while(|_| !cancelled()).collect();
        if cancelled() {
            return None;
        }
        let lines = LineIndex::new(text);
        let headings = if format.is_markdown_like() {
            markdown_headings(text)
        } else {
            Vec::new()
        };
        let page_breaks = page_breaks(text);
        Some(
            pieces
                .into_iter()
                .map(|(offset, piece)| {
                    let start_line = lines.line_of(offset);
                    let end_line = lines.line_of(offset + piece.len().saturating_sub(1));
                    TextChunk {
                        // The page-break marks stay out of what is stored: their lines stay blank.
                        text: piece.replace(PAGE_BREAK, ""),
                        start_line,
                        end_line,
                        headings: heading_path(&headings, offset),
                        pages: (format == Format::Pdf)
                            .then(|| pages(&page_breaks, start_line, end_line)),
                    }
                })
                .collect(),
        )
    }
}

/// Deepest structure split along its syntax. The structural splitters' work grows faster than
/// the file with nesting depth (a 4 KB Python file of nested brackets took 17 s and gave a chunk
/// per bracket; a Markdown list nested 3,000 deep did not finish in a minute), and a tree that deep
/// has no units worth keeping whole: such files are split as plain text.
const MAX_CODE_NESTING: usize = 100;
/// For Markdown: the longest run of indentation and `>` quote marks that opens a line.
const MAX_MARKDOWN_INDENT: usize = 200;

fn too_deep(text: &str, format: Format) -> bool {
    match format {
        Format::Code(_) => bracket_depth(text) > MAX_CODE_NESTING,
        _ if format.is_markdown_like() => text.lines().any(|line| {
            line.bytes()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'>'))
                .count()
                > MAX_MARKDOWN_INDENT
        }),
        _ => false,
    }
}

/// How deep `(`, `[` and `{` nest in `text` (brackets in strings and comments count too, which
/// can only send a file to the text splitter).
fn bracket_depth(text: &str) -> usize {
    let (mut open, mut deepest) = (0usize, 0usize);
    for byte in text.bytes() {
        match byte {
            b'(' | b'[' | b'{' => {
                open += 1;
                deepest = deepest.max(open);
            }
            b')' | b']' | b'}' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Byte offsets of line starts, to turn a chunk's offset into a line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> u32 {
        self.starts.partition_point(|&start| start <= offset) as u32
    }
}

/// The line a paged document's text (a PDF's) puts between two pages ([`crate::isolate`]).
pub(crate) const PAGE_BREAK: char = '\u{c}';

/// The lines of `text` that are page breaks, in order.
fn page_breaks(text: &str) -> Vec<u32> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim_matches(' ') == PAGE_BREAK.to_string())
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

/// The pages of the lines `start..=end`, given the document's page-break lines.
fn pages(breaks: &[u32], start: u32, end: u32) -> Pages {
    Pages {
        // A chunk that opens on a break line begins on the page after it.
        first: 1 + breaks.iter().filter(|&&b| b <= start).count() as u32,
        // The page after a break begins on the line that follows it.
        breaks: breaks
            .iter()
            .filter(|&&b| b > start && b < end)
            .map(|&b| b + 1)
            .collect(),
    }
}

/// A Markdown ATX heading: where it starts, its level and its title.
struct Heading {
    offset: usize,
    level: usize,
    title: String,
}

/// The document's headings (ATX and Setext), with their title's plain text. Markdown's own
/// parser, so a `#` line inside a code block or an HTML block is not a heading.
fn markdown_headings(text: &str) -> Vec<Heading> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut headings = Vec::new();
    let mut open: Option<Heading> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                open = Some(Heading {
                    offset: range.start,
                    level: level as usize,
                    title: String::new(),
                });
            }
            Event::Text(piece) | Event::Code(piece) => {
                if let Some(heading) = open.as_mut() {
                    heading.title.push_str(&piece);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                headings.extend(
                    open.take()
                        .filter(|h| !h.title.trim().is_empty())
                        .map(|mut h| {
                            h.title = h.title.trim().to_string();
                            h
                        }),
                );
            }
            _ => {}
        }
    }
    headings
}

/// The headings in force at `offset`, outermost first.
fn heading_path(headings: &[Heading], offset: usize) -> Vec<String> {
    let mut path: Vec<&Heading> = Vec::new();
    for heading in headings.iter().take_while(|h| h.offset <= offset) {
        path.retain(|h| h.level < heading.level);
        path.push(heading);
    }
    path.into_iter().map(|h| h.title.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks measured in words (one token a word, or a Chinese character).
    fn embedder() -> docent_core::testing::WordEmbedder {
        docent_core::testing::WordEmbedder::default()
    }

    const DOC: &str = "# Guide\n\nIntro line.\n\n## Setup\n\nInstall it.\n\n```sh\n# not a heading\nmake\n```\n\n## Use\n\nRun it.\n\n### Details\n\nMore.\n";

    #[test]
    fn heading_paths_follow_the_document_outline() {
        let headings = markdown_headings(DOC);
        let titles: Vec<&str> = headings.iter().map(|h| h.title.as_str()).collect();
        assert_eq!(titles, vec!["Guide", "Setup", "Use", "Details"]);
        let at = |needle: &str| heading_path(&headings, DOC.find(needle).unwrap());
        assert_eq!(at("Intro"), vec!["Guide"]);
        assert_eq!(at("make"), vec!["Guide", "Setup"]);
        assert_eq!(at("More."), vec!["Guide", "Use", "Details"]);
    }

    #[test]
    fn line_numbers_are_one_based_and_inclusive() {
        let index = LineIndex::new("a\nbb\n\nc");
        assert_eq!(
            [0, 1, 2, 4, 5, 6].map(|o| index.line_of(o)),
            [1, 1, 2, 2, 3, 4]
        );
    }

    #[test]
    fn chunks_fit_the_token_budget_and_carry_their_place() {
        let embedder = embedder();
        let chunker = Chunker::new(&embedder, 20..40, 5).unwrap();
        let section = |n: usize| {
            format!(
                "## Part {n}\n\n{}\n\n",
                "Retrieval finds passages that answer the question. ".repeat(6)
            )
        };
        let doc: String = std::iter::once("# Book\n\n".to_string())
            .chain((1..=4).map(section))
            .collect();
        let chunks = chunker.chunk(&doc, Format::Markdown, None).unwrap();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for chunk in &chunks {
            let tokens = embedder.count_tokens(&chunk.text);
            assert!(tokens <= 40, "chunk of {tokens} tokens: {:?}", chunk.text);
            let lines: Vec<&str> = doc.lines().collect();
            let first = lines[chunk.start_line as usize - 1];
            assert!(
                first.contains(chunk.text.lines().next().unwrap()),
                "line {} is {first:?}",
                chunk.start_line
            );
            assert!(chunk.end_line >= chunk.start_line);
            assert_eq!(chunk.headings[0], "Book");
        }
        let last = chunks.last().unwrap();
        assert_eq!(last.headings, vec!["Book", "Part 4"]);
    }

    #[test]
    fn code_is_split_at_whole_items() {
        let embedder = embedder();
        let chunker = Chunker::new(&embedder, 20..60, 0).unwrap();
        let function = |n: usize| {
            format!("fn step_{n}(x: u32) -> u32 {{\n    let y = x * {n};\n    y + {n}\n}}\n\n")
        };
        let source: String = (1..=6).map(function).collect();
        let chunks = chunker
            .chunk(&source, Format::Code(Code::Rust), None)
            .unwrap();
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!(chunk.text.starts_with("fn step_"), "{:?}", chunk.text);
            assert!(chunk.text.ends_with('}'), "{:?}", chunk.text);
        }
        let python = "def a():\n    return 1\n\n\ndef b():\n    return 2\n".repeat(8);
        for chunk in chunker
            .chunk(&python, Format::Code(Code::Python), None)
            .unwrap()
        {
            assert!(chunk.text.starts_with("def "), "{:?}", chunk.text);
        }
    }

    #[test]
    fn pathologically_nested_code_is_split_as_text() {
        let embedder = embedder();
        let chunker = Chunker::new(&embedder, 20..60, 0).unwrap();
        // Along its syntax tree, 4 KB like this took 17 s and gave a chunk per bracket.
        let source = format!("x = {}1{}\n", "[".repeat(3_000), "]".repeat(3_000));
        let started = std::time::Instant::now();
        let chunks = chunker
            .chunk(&source, Format::Code(Code::Python), None)
            .unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        assert!(chunks.len() < 300, "{} chunks", chunks.len());
        assert_eq!(
            chunks.iter().map(|c| c.text.len()).sum::<usize>(),
            source.trim_end().len()
        );
        assert_eq!(bracket_depth("f(a[0], {1: (2)})"), 3);
        let list: String = (0..3_000)
            .map(|i| format!("{}- item {i}\n", "  ".repeat(i)))
            .collect();
        assert!(too_deep(&list, Format::Markdown) && !too_deep(DOC, Format::Markdown));
    }

    #[test]
    fn chinese_text_is_split_at_sentence_ends() {
        let embedder = embedder();
        let chunker = Chunker::new(&embedder, 10..30, 0).unwrap();
        let text = "检索增强生成先检索相关段落。然后模型根据这些段落生成回答。这样回答更可靠，也能给出出处。".repeat(3);
        let chunks = chunker.chunk(&text, Format::Text, None).unwrap();
        assert!(chunks.len() > 1);
        for chunk in &chunks[..chunks.len() - 1] {
            assert!(chunk.text.ends_with('。'), "{:?}", chunk.text);
        }
    }
}
