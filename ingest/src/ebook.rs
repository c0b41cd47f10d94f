//! EPUB books as Markdown-like text: the chapters in reading order (the package's spine), each
//! read as HTML is, so a chapter's headings become its chunks' section path.

use crate::archive::Archive;
use crate::load::{LoadError, html_text};
use crate::xml::{Node, walk};

const LABEL: &str = "EPUB";

/// The book's text, chapter after chapter.
pub(crate) fn epub_text(bytes: &[u8]) -> Result<String, LoadError> {
    let mut archive = Archive::open(bytes, LABEL)?;
    // META-INF/container.xml names the package document; it lists the files and their order.
    let container = archive.required("META-INF/container.xml")?;
    let mut package = None;
    walk(&container, LABEL, &mut |node| {
        if let Node::Open(e) = node
            && e.name == "rootfile"
            && package.is_none()
        {
            package = e.attribute("full-path").map(str::to_string);
        }
    })?;
    let package = package
        .ok_or_else(|| LoadError::Parse(format!("{LABEL}: its container names no package")))?;
    let opf = archive.required(&package)?;
    let base = package.rsplit_once('/').map_or("", |(dir, _)| dir);
    let (mut files, mut spine) = (Vec::new(), Vec::new());
    walk(&opf, LABEL, &mut |node| {
        if let Node::Open(e) = node {
            match e.name.as_str() {
                "item" => {
                    if let (Some(id), Some(href)) = (e.attribute("id"), e.attribute("href")) {
                        files.push((id.to_string(), href.to_string()));
                    }
                }
                "itemref" => spine.extend(e.attribute("idref").map(str::to_string)),
                _ => {}
            }
        }
    })?;
    let mut text = String::new();
    for id in spine {
        let Some((_, href)) = files.iter().find(|(item, _)| *item == id) else {
            continue;
        };
        let path = resolve(base, href);
        if let Some(chapter) = archive.bytes(&path)? {
            text.push_str(&html_text(&chapter)?);
            text.push_str("\n\n");
        }
    }
    Ok(text)
}

/// `href` (relative to the package's folder `base`, percent-escaped) as an archive path.
fn resolve(base: &str, href: &str) -> String {
    let href = href.split('#').next().unwrap_or_default();
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in href.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    percent_decode(&parts.join("/"))
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_paths_resolve_against_the_package() {
        assert_eq!(
            resolve("OEBPS", "text/ch1.xhtml#start"),
            "OEBPS/text/ch1.xhtml"
        );
        assert_eq!(resolve("OEBPS/pkg", "../ch%201.xhtml"), "OEBPS/ch 1.xhtml");
        assert_eq!(resolve("", "ch.xhtml"), "ch.xhtml");
    }
}
