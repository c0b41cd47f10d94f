//! Jupyter notebooks (`.ipynb`) as Markdown: markdown cells as written (their headings become
//! the section path), code cells fenced in the notebook's language; outputs left out.

use serde_json::Value;

use crate::load::LoadError;

/// The notebook's cells, in order.
pub(crate) fn ipynb_text(bytes: &[u8]) -> Result<String, LoadError> {
    let notebook: Value = serde_json::from_slice(bytes)
        .map_err(|e| LoadError::Parse(format!("Jupyter notebook: not JSON ({e})")))?;
    let cells = notebook["cells"].as_array().ok_or_else(|| {
        LoadError::Parse("Jupyter notebook: no cells (an nbformat 4 notebook has a list)".into())
    })?;
    let metadata = &notebook["metadata"];
    let language = metadata["language_info"]["name"]
        .as_str()
        .or_else(|| metadata["kernelspec"]["language"].as_str())
        .unwrap_or_default();
    let mut text = String::new();
    for cell in cells {
        let source = source(&cell["source"]);
        if source.trim().is_empty() {
            continue;
        }
        match cell["cell_type"].as_str() {
            Some("markdown") => text.push_str(source.trim()),
            Some("code") => text.push_str(&format!("```{language}\n{}\n```", source.trim_end())),
            _ => continue,
        }
        text.push_str("\n\n");
    }
    Ok(text)
}

/// A cell's source: a string, or a list of its lines.
fn source(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_markdown_and_fenced_code() {
        let notebook = br##"{"cells": [
            {"cell_type": "markdown", "source": ["# Setup\n", "Install the packages."]},
            {"cell_type": "code", "source": "import apt\n", "outputs": [{"text": "noise"}]},
            {"cell_type": "raw", "source": "skipped"}],
          "metadata": {"language_info": {"name": "python"}}, "nbformat": 4}"##;
        assert_eq!(
            ipynb_text(notebook).unwrap(),
            "# Setup\nInstall the packages.\n\n```python\nimport apt\n```\n\n"
        );
        assert!(ipynb_text(b"{\"cells\": 3}").is_err());
        assert!(ipynb_text(b"not json").is_err());
    }
}
