//! Office documents as Markdown-like text, so that their structure becomes each chunk's section
//! path as Markdown headings do: Word (`.docx`) and OpenDocument (`.odt`) headings become `#`
//! lines, a PowerPoint slide's title heads its slide, an Excel sheet's name heads its rows.
//! Each reads its zip archive through [`Archive`]'s bounds.

use std::io::Cursor;

use calamine::{Data, Reader as _, Xlsx};

use crate::archive::Archive;
use crate::load::LoadError;
use crate::table;
use crate::xml::{Node, walk};

/// Paragraphs as Markdown: headings as `#` lines, each paragraph a block of its own.
#[derive(Default)]
struct Blocks {
    text: String,
}

impl Blocks {
    fn push(&mut self, level: Option<usize>, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if let Some(level) = level {
            self.text.push_str(&"#".repeat(level.clamp(1, 6)));
            self.text.push(' ');
        }
        self.text.push_str(line);
        self.text.push_str("\n\n");
    }
}

/// A heading's level from its style's name: "Title" 1, "heading N" N + 1 (Word's names, in
/// any language Word was run in, as `styles.xml` records them).
fn heading_level(style_name: &str) -> Option<usize> {
    let name = style_name.trim().to_ascii_lowercase();
    if name == "title" {
        return Some(1);
    }
    let n = name.strip_prefix("heading")?.trim().parse::<usize>().ok()?;
    Some(n + 1)
}

/// A Word document's text: paragraphs in order (table cells' too), headings as `#` lines.
pub(crate) fn docx_text(bytes: &[u8]) -> Result<String, LoadError> {
    const LABEL: &str = "Word";
    let mut archive = Archive::open(bytes, LABEL)?;
    // Style ids name styles in the document ("Heading1", or "1" in a Chinese Word); their names
    // ("heading 1") say what they are.
    let mut styles: Vec<(String, String)> = Vec::new();
    if let Some(xml) = archive.text("word/styles.xml")? {
        let mut id = None;
        walk(&xml, LABEL, &mut |node| match node {
            Node::Open(e) if e.name == "style" => id = e.attribute("styleId").map(str::to_string),
            Node::Open(e) if e.name == "name" => {
                if let (Some(id), Some(name)) = (id.take(), e.attribute("val")) {
                    styles.push((id, name.to_string()));
                }
            }
            _ => {}
        })?;
    }
    let level_of = |style_id: &str| {
        let name = styles
            .iter()
            .find(|(id, _)| id == style_id)
            .map_or(style_id, |(_, name)| name.as_str());
        heading_level(name)
    };
    let document = archive.required("word/document.xml")?;
    let mut blocks = Blocks::default();
    let (mut line, mut level, mut in_text) = (String::new(), None, false);
    walk(&document, LABEL, &mut |node| match node {
        Node::Open(e) => match e.name.as_str() {
            "p" => {
                line.clear();
                level = None;
            }
            "pStyle" => level = e.attribute("val").and_then(level_of),
            "outlineLvl" if level.is_none() => {
                level = e
                    .attribute("val")
                    .and_then(|v| v.parse::<usize>().ok())
                    .map(|l| l + 2)
            }
            "t" => in_text = true,
            "tab" => line.push('\t'),
            "br" | "cr" => line.push('\n'),
            _ => {}
        },
        Node::Close("t") => in_text = false,
        Node::Close("p") => blocks.push(level, &line),
        Node::Text(text) if in_text => line.push_str(text),
        _ => {}
    })?;
    Ok(blocks.text)
}

/// A PowerPoint deck's text: each slide under its title (or "Slide N"), its other text after.
pub(crate) fn pptx_text(bytes: &[u8]) -> Result<String, LoadError> {
    const LABEL: &str = "PowerPoint";
    let mut archive = Archive::open(bytes, LABEL)?;
    let mut slides: Vec<(usize, String)> = archive
        .names()
        .into_iter()
        .filter_map(|name| {
            let n = name
                .strip_prefix("ppt/slides/slide")?
                .strip_suffix(".xml")?
                .parse()
                .ok()?;
            Some((n, name))
        })
        .collect();
    slides.sort();
    let mut blocks = Blocks::default();
    for (n, name) in slides {
        let xml = archive.required(&name)?;
        let (mut title, mut body) = (String::new(), Vec::<String>::new());
        let (mut shape_is_title, mut paragraph, mut in_text) = (false, String::new(), false);
        walk(&xml, LABEL, &mut |node| match node {
            Node::Open(e) => match e.name.as_str() {
                "sp" => shape_is_title = false,
                "ph" => shape_is_title = matches!(e.attribute("type"), Some("title" | "ctrTitle")),
                "p" => paragraph.clear(),
                "t" => in_text = true,
                "br" => paragraph.push('\n'),
                _ => {}
            },
            Node::Close("t") => in_text = false,
            Node::Close("p") if !paragraph.trim().is_empty() => {
                if shape_is_title {
                    if !title.is_empty() {
                        title.push(' ');
                    }
                    title.push_str(paragraph.trim());
                } else {
                    body.push(paragraph.clone());
                }
            }
            Node::Text(text) if in_text => paragraph.push_str(text),
            _ => {}
        })?;
        if title.is_empty() {
            title = format!("Slide {n}");
        }
        blocks.push(Some(1), &title.replace('\n', " "));
        for paragraph in body {
            blocks.push(None, &paragraph);
        }
    }
    Ok(blocks.text)
}

/// An OpenDocument text's paragraphs in order, its headings (`text:h`) as `#` lines.
pub(crate) fn odt_text(bytes: &[u8]) -> Result<String, LoadError> {
    const LABEL: &str = "OpenDocument";
    let mut archive = Archive::open(bytes, LABEL)?;
    let content = archive.required("content.xml")?;
    let mut blocks = Blocks::default();
    // Paragraphs nest (a note's inside a paragraph): each open one keeps its own text.
    let mut open: Vec<(Option<usize>, String)> = Vec::new();
    let mut in_body = false;
    walk(&content, LABEL, &mut |node| match node {
        Node::Open(e) => match e.name.as_str() {
            "text" => in_body = true,
            "h" if in_body => {
                let level = e.attribute("outline-level").and_then(|l| l.parse().ok());
                open.push((Some(level.unwrap_or(1)), String::new()));
            }
            "p" if in_body => open.push((None, String::new())),
            // Spaces (`text:s`, with a count), tabs and line breaks are elements in ODF.
            "s" | "tab" | "line-break" => {
                let n: usize = e.attribute("c").and_then(|c| c.parse().ok()).unwrap_or(1);
                let inserted = match e.name.as_str() {
                    "s" => " ".repeat(n.min(64)),
                    "tab" => "\t".into(),
                    _ => "\n".into(),
                };
                if let Some((_, line)) = open.last_mut() {
                    line.push_str(&inserted);
                }
            }
            _ => {}
        },
        Node::Close("h" | "p") => {
            if let Some((level, line)) = open.pop() {
                blocks.push(level, &line);
            }
        }
        Node::Text(text) => {
            if let Some((_, line)) = open.last_mut() {
                line.push_str(text);
            }
        }
        _ => {}
    })?;
    Ok(blocks.text)
}

/// An Excel workbook's sheets, each under its name, its rows as text under their header.
pub(crate) fn xlsx_text(bytes: &[u8]) -> Result<String, LoadError> {
    const LABEL: &str = "Excel";
    // The archive's bounds, checked before calamine inflates anything.
    Archive::open(bytes, LABEL)?;
    let fail = |e: calamine::XlsxError| LoadError::Parse(format!("{LABEL}: {e}"));
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(fail)?;
    let mut text = String::new();
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).map_err(fail)?;
        let rows = range.rows().map(|row| row.iter().map(cell_text).collect());
        let sheet = table::rows_under_header(rows);
        if !sheet.trim().is_empty() {
            text.push_str(&format!("# {name}\n\n{sheet}\n"));
        }
    }
    Ok(text)
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_levels_come_from_style_names() {
        assert_eq!(heading_level("Title"), Some(1));
        assert_eq!(heading_level("heading 1"), Some(2));
        assert_eq!(heading_level("Heading2"), Some(3));
        assert_eq!(heading_level("Normal"), None);
        assert_eq!(heading_level("Heading Char"), None);
    }
}
