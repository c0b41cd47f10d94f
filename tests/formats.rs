//! Office, e-book, mail, notebook and table files made by the libraries people make them with
//! (`tests/make_documents.py`, writers installed into .docent/pywriters by `make test`): each is
//! ingested, found by its own sentence under its own heading, and cited; a zip bomb posing as a
//! Word document is refused alone.

mod common;

use common::{assert_citations_are_sources, docent, ingest, python, run_json, search};

#[test]
fn office_ebook_mail_notebook_and_table_files_are_searched_and_cited() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    if let Err(err) = python(
        "pywriters",
        "docx",
        "make_documents.py",
        &[docs.as_os_str()],
        &[],
    ) {
        panic!("tests/make_documents.py failed:\n{err}");
    }
    let store = dir.path().join("store");
    let report = ingest(&store, &docs);
    assert_eq!(report["added"], 9, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(failed[0]["path"].as_str().unwrap().ends_with("bomb.docx"));
    assert!(
        failed[0]["error"].as_str().unwrap().contains("a zip bomb?"),
        "{report}"
    );

    // Each file's sentence finds it first, under the heading its format gave it.
    for (query, path, heading, words) in [
        (
            "descale the kettle with vinegar",
            "manual.docx",
            "Kettle Manual",
            "## Descaling",
        ),
        (
            "用白醋给水壶除垢",
            "说明书.docx",
            "水壶说明书",
            "每个月用白醋给水壶除垢一次",
        ),
        (
            "how many lighthouse keepers will be hired",
            "deck.pptx",
            "Quarterly results",
            "# Hiring plan",
        ),
        (
            "copper kettles in the Rotterdam warehouse",
            "stock.xlsx",
            "Inventory",
            "Warehouse: Rotterdam; Count: 42",
        ),
        (
            "when to water tomatoes",
            "garden.odt",
            "Garden Notes",
            "## Tomatoes",
        ),
        (
            "how often the foghorn sounds in the storm",
            "lighthouse.epub",
            "The Keeper",
            "# The Storm",
        ),
        (
            "when does the boiler inspector come",
            "inspection.eml",
            "Boiler inspection on Friday",
            "From: Facilities",
        ),
        (
            "greenhouse sensor forecast",
            "forecast.ipynb",
            "Forecast",
            "```python",
        ),
        (
            "which port does the billing database use",
            "ports.csv",
            "",
            "Port: 5432; Service: postgres",
        ),
    ] {
        let hits = search(&store, query, 3);
        let hit = &hits[0];
        assert_eq!(hit["path"], path, "{query}: {hits:?}");
        let headings: Vec<&str> = hit["headings"]
            .as_array()
            .map(|h| h.iter().filter_map(|h| h.as_str()).collect())
            .unwrap_or_default();
        let expected: Vec<&str> = [heading].into_iter().filter(|h| !h.is_empty()).collect();
        assert_eq!(headings, expected, "{query}: {hit}");
        assert!(
            hit["text"].as_str().unwrap().contains(words),
            "{query}: {hit}"
        );
    }
    // `--type` names the new kinds.
    let slides = run_json(docent(&store).args(["search", "quarter", "--type", "pptx", "--json"]));
    assert!(
        slides["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["path"] == "deck.pptx")
    );

    // Answers cite them (quoted: no generator is needed to show the citation).
    for (question, path) in [
        ("How often should the kettle be descaled?", "manual.docx"),
        ("水壶多久除垢一次？", "说明书.docx"),
    ] {
        let answer =
            run_json(docent(&store).args(["ask", question, "--answer-mode", "extract", "--json"]));
        assert_citations_are_sources(&answer);
        assert_eq!(answer["citations"][0]["path"], path, "{answer}");
    }
}
