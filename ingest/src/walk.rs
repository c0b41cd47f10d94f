//! Step 1: from the paths a user names to the files to ingest, honouring `.gitignore`,
//! `.ignore` and hidden files. Symbolic links are not followed, so a walk never leaves its root
//! and never loops.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::load::Format;

/// A document to ingest: its identity (root and relative path) and where its content is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The canonical root folder (or another stable name of the collection it belongs to).
    pub root: String,
    /// Path relative to `root`, with `/` separators.
    pub rel: String,
    /// Where its bytes come from.
    pub origin: Origin,
}

/// Where a source's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk, read when its turn comes: `path`, found under the folder `root` (and
    /// opened from it, one component at a time).
    File {
        /// The folder the walk started from (a single named file's own folder).
        root: PathBuf,
        /// The file's absolute path, inside `root`.
        path: PathBuf,
    },
    /// A document already in memory (a record of a JSONL corpus, an upload).
    Memory {
        /// The document's bytes.
        bytes: Vec<u8>,
        /// How to read them.
        format: Format,
    },
}

impl Source {
    /// How the document is named in reports.
    pub fn display(&self) -> String {
        match &self.origin {
            Origin::File { path, .. } => path.display().to_string(),
            Origin::Memory { .. } => format!("{}/{}", self.root, self.rel),
        }
    }
}

/// What one named path covers: documents of this root not found in the walk are deleted only
/// when the walk covered the whole root folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A whole root folder: documents of it that the walk did not find are gone.
    Folder {
        /// The root folder.
        root: String,
    },
    /// One named file: nothing else of its root is deleted.
    File {
        /// The file's root folder.
        root: String,
        /// The file's path in it.
        rel: String,
    },
}

impl Scope {
    /// Whether this scope covers document `rel` of `root`.
    pub fn covers(&self, root: &str, rel: &str) -> bool {
        match self {
            Scope::Folder { root: r } => r == root,
            Scope::File { root: r, rel: p } => r == root && p == rel,
        }
    }
}

/// Problems met while walking (unreadable folders, ...): reported, never fatal.
#[derive(Debug, Clone)]
pub struct WalkProblem {
    /// The path, as reports name it.
    pub path: String,
    /// What went wrong.
    pub error: String,
}

/// What a walk found.
pub struct Walk {
    /// The files to ingest, sorted.
    pub files: Vec<Source>,
    /// What each named path covers.
    pub scopes: Vec<Scope>,
    /// What could not be walked.
    pub problems: Vec<WalkProblem>,
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Walks every path (a folder, or a single file whose folder becomes its root).
pub fn walk(paths: &[PathBuf]) -> Result<Walk> {
    let mut walk = Walk {
        files: Vec::new(),
        scopes: Vec::new(),
        problems: Vec::new(),
    };
    for path in paths {
        let canonical = std::fs::canonicalize(path)
            .with_context(|| format!("cannot ingest {}: no such file or folder", path.display()))?;
        if canonical.is_file() {
            let root = canonical.parent().unwrap_or(Path::new("/")).to_path_buf();
            let rel = relative(&root, &canonical);
            walk.scopes.push(Scope::File {
                root: root.to_string_lossy().into_owned(),
                rel: rel.clone(),
            });
            walk.files.push(Source {
                root: root.to_string_lossy().into_owned(),
                rel,
                origin: Origin::File {
                    root,
                    path: canonical,
                },
            });
            continue;
        }
        if !canonical.is_dir() {
            bail!(
                "cannot ingest {}: not a regular file or folder",
                path.display()
            );
        }
        let root = canonical.to_string_lossy().into_owned();
        walk.scopes.push(Scope::Folder { root: root.clone() });
        for entry in walker(&canonical).build() {
            match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    let abs = entry.into_path();
                    let rel = relative(&canonical, &abs);
                    walk.files.push(Source {
                        root: root.clone(),
                        rel,
                        origin: Origin::File {
                            root: canonical.clone(),
                            path: abs,
                        },
                    });
                }
                Ok(_) => {}
                Err(e) => walk.problems.push(WalkProblem {
                    path: path.display().to_string(),
                    error: e.to_string(),
                }),
            }
        }
    }
    walk.files
        .sort_by(|a, b| (&a.root, &a.rel).cmp(&(&b.root, &b.rel)));
    walk.files.dedup();
    Ok(walk)
}

/// A walk from `root` by the rules of every ingest: hidden files and what `.gitignore`,
/// `.ignore` and `.git/info/exclude` name are left out, links are not followed.
fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        .parents(false)
        .require_git(false)
        .follow_links(false);
    builder
}

/// Whether a walk of the folder `root` reaches `path` (a real path inside it): false for a
/// hidden or ignored file or folder, or one below such a folder. For callers that take a path
/// inside a root (HTTP ingest), so that naming a file does not get around the rules.
pub fn visible(root: &Path, path: &Path) -> bool {
    let target = path.to_path_buf();
    walker(root)
        .filter_entry(move |entry| target.starts_with(entry.path()))
        .build()
        .filter_map(Result::ok)
        .any(|entry| entry.path() == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_gitignore_and_hidden_files_and_skips_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs/deep")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::write(root.join(".gitignore"), "ignored.md\nbuild/\n").unwrap();
        std::fs::write(root.join("a.md"), "a").unwrap();
        std::fs::write(root.join("ignored.md"), "x").unwrap();
        std::fs::create_dir_all(root.join("build")).unwrap();
        std::fs::write(root.join("build/out.txt"), "x").unwrap();
        std::fs::write(root.join(".hidden/secret.md"), "x").unwrap();
        std::fs::write(root.join("docs/deep/b.txt"), "b").unwrap();
        std::os::unix::fs::symlink(root, root.join("docs/loop")).unwrap();

        let walk = walk(&[root.to_path_buf()]).unwrap();
        let rels: Vec<&str> = walk.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, vec!["a.md", "docs/deep/b.txt"]);
        let canonical = std::fs::canonicalize(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(walk.scopes, vec![Scope::Folder { root: canonical }]);

        // Named one by one, the same files pass or not.
        let root = std::fs::canonicalize(root).unwrap();
        for (rel, seen) in [
            ("a.md", true),
            ("docs", true),
            ("docs/deep/b.txt", true),
            ("", true),
            ("ignored.md", false),
            ("build", false),
            ("build/out.txt", false),
            (".hidden", false),
            (".hidden/secret.md", false),
        ] {
            assert_eq!(visible(&root, &root.join(rel)), seen, "{rel}");
        }
    }

    #[test]
    fn a_single_file_is_its_own_scope() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("one.md"), "1").unwrap();
        std::fs::write(dir.path().join("two.md"), "2").unwrap();
        let walk = walk(&[dir.path().join("one.md")]).unwrap();
        assert_eq!(walk.files.len(), 1);
        let root = walk.files[0].root.clone();
        assert!(walk.scopes[0].covers(&root, "one.md"));
        assert!(!walk.scopes[0].covers(&root, "two.md"));
    }

    #[test]
    fn a_missing_path_is_a_clear_error() {
        let err = walk(&[PathBuf::from("/no/such/folder")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no such file or folder"), "{err}");
    }
}
