//! The zip archives that Office, OpenDocument and EPUB files are, opened with bounds: a file that
//! poses as a document and inflates to gigabytes (a zip bomb) is refused before it is inflated,
//! by its entry count and declared sizes, and stopped while it is, by what it really yields.
//! (Its parser also runs in a worker process with a memory limit: [`crate::isolate`].)

use std::io::{Cursor, Read};

use zip::ZipArchive;

use crate::load::LoadError;

/// Entries an archive may hold: documents have tens, a few thousand with images.
const MAX_ENTRIES: usize = 10_000;

/// How much an entry may inflate relative to its compressed size: XML compresses 5–20×,
/// a bomb's runs of zeros 1,000× and more.
const MAX_RATIO: u64 = 200;

/// Entries this small may inflate at any ratio (an empty part compresses to a few bytes).
const SMALL_ENTRY: u64 = 1 << 20;

/// Bytes all the entries read from one archive may inflate to.
fn inflate_budget(input: usize) -> usize {
    input.saturating_mul(100).clamp(16 << 20, 256 << 20)
}

/// A zip archive of `label`'s format, whose entries are read within one budget.
pub(crate) struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    label: &'static str,
    /// Inflated bytes still allowed.
    budget: usize,
}

impl<'a> Archive<'a> {
    /// Opens `bytes` as an archive, refusing one with too many entries or an entry that claims
    /// to inflate past the budget or by a bomb's ratio.
    pub(crate) fn open(bytes: &'a [u8], label: &'static str) -> Result<Self, LoadError> {
        let fail = |why: String| LoadError::Parse(format!("{label}: {why}"));
        let mut zip = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| fail(format!("not a readable zip archive ({e})")))?;
        if zip.len() > MAX_ENTRIES {
            return Err(fail(format!(
                "{} entries in its archive (docent reads up to {MAX_ENTRIES})",
                zip.len()
            )));
        }
        let budget = inflate_budget(bytes.len());
        let mut declared: u64 = 0;
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| fail(format!("a damaged archive entry ({e})")))?;
            let (size, packed) = (entry.size(), entry.compressed_size().max(1));
            if size > SMALL_ENTRY && size / packed > MAX_RATIO {
                return Err(fail(format!(
                    "{} inflates {}-fold ({size} bytes from {packed}): a zip bomb?",
                    String::from_utf8_lossy(entry.name_raw()),
                    size / packed
                )));
            }
            declared = declared.saturating_add(size);
        }
        if declared > budget as u64 {
            return Err(fail(format!(
                "its archive inflates to {declared} bytes (docent reads up to {budget} from a file of its size)"
            )));
        }
        Ok(Archive { zip, label, budget })
    }

    /// The names of the entries, in the archive's order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.zip
            .file_names_raw()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    }

    /// The entry `name`'s bytes, or `None` when there is none; an entry that inflates past what
    /// is left of the budget, whatever its header claimed, is an error.
    pub(crate) fn bytes(&mut self, name: &str) -> Result<Option<Vec<u8>>, LoadError> {
        let label = self.label;
        let mut entry = match self.zip.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(LoadError::Parse(format!("{label}: {name}: {e}"))),
        };
        let mut bytes = Vec::new();
        (&mut entry)
            .take(self.budget as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| LoadError::Parse(format!("{label}: {name}: {e}")))?;
        if bytes.len() > self.budget {
            return Err(LoadError::Parse(format!(
                "{label}: {name} inflates past what a file of its size may hold: a zip bomb?"
            )));
        }
        self.budget -= bytes.len();
        Ok(Some(bytes))
    }

    /// The entry `name` as text (invalid UTF-8 replaced), as [`Archive::bytes`].
    pub(crate) fn text(&mut self, name: &str) -> Result<Option<String>, LoadError> {
        Ok(self
            .bytes(name)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The entry `name`, which the format requires.
    pub(crate) fn required(&mut self, name: &str) -> Result<String, LoadError> {
        self.text(name)?
            .ok_or_else(|| LoadError::Parse(format!("{}: no {name} in its archive", self.label)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut out);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, bytes) in entries {
                zip.start_file(*name, options).unwrap();
                zip.write_all(bytes).unwrap();
            }
            zip.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn a_bomb_is_refused_before_it_is_inflated() {
        let zeros = vec![0u8; 300 << 20];
        let bomb = zip_of(&[("word/document.xml", &zeros)]);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let err = Archive::open(&bomb, "Word").err().unwrap().to_string();
        assert!(err.contains("a zip bomb?"), "{err}");

        let many: Vec<(String, Vec<u8>)> = (0..MAX_ENTRIES + 1)
            .map(|i| (format!("{i}.xml"), Vec::new()))
            .collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let err = Archive::open(&zip_of(&refs), "Word")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("10001 entries"), "{err}");

        let err = Archive::open(b"not a zip", "Word")
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("Word: not a readable zip archive"), "{err}");
    }

    #[test]
    fn entries_are_read_within_the_budget() {
        let doc = zip_of(&[
            ("a.xml", b"<a>text</a>"),
            ("b.xml", "\u{4e2d}\u{6587}".as_bytes()),
        ]);
        let mut archive = Archive::open(&doc, "Word").unwrap();
        assert_eq!(archive.names(), ["a.xml", "b.xml"]);
        assert_eq!(archive.required("a.xml").unwrap(), "<a>text</a>");
        assert_eq!(archive.text("b.xml").unwrap().unwrap(), "中文");
        assert_eq!(archive.text("c.xml").unwrap(), None);
        assert!(archive.required("c.xml").is_err());
        archive.budget = 3;
        let err = archive.text("a.xml").unwrap_err().to_string();
        assert!(err.contains("inflates past"), "{err}");
    }
}
