//! docent's MCP server with a real client: the official Python MCP SDK (installed into
//! .docent/mcp-py by `make test`), over stdio (`docent mcp`) and over HTTP (`/mcp` on `serve`),
//! against a store of the sample corpus.

mod common;

use common::server::*;
use common::*;
use serde_json::Value;

/// Runs tests/mcp_client.py with `args`: what it saw, or its stderr when it failed.
fn client(args: &[&str]) -> Result<Value, String> {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    python("mcp-py", "mcp", "mcp_client.py", &args, &[])
        .map(|out| serde_json::from_str(&out).unwrap())
}

/// Over HTTP, `/mcp` is behind the server's keys (a read-only key may use every tool, none of
/// which writes) and its cross-site check, and counted in its metrics.
#[test]
fn the_python_mcp_sdk_works_over_http_behind_the_keys() {
    let server = start_with(&[
        "--answer-mode",
        "extract",
        "--api-key",
        "full-key",
        "--read-only-key",
        "ro-key",
    ]);
    let url = format!("{}/mcp", server.base);
    let refused = client(&["http", &url]).expect_err("no key, no tools");
    assert!(refused.contains("MCPError"), "{refused}");
    for key in ["ro-key", "full-key"] {
        let seen = client(&["http", &url, key]).unwrap_or_else(|e| panic!("{key}: {e}"));
        check(&seen);
    }
    let foreign = reqwest::blocking::Client::new()
        .post(&url)
        .header("authorization", "Bearer full-key")
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#)
        .send()
        .unwrap();
    assert_eq!(foreign.status(), reqwest::StatusCode::FORBIDDEN);
    let metrics = reqwest::blocking::Client::new()
        .get(format!("{}/metrics", server.base))
        .header("authorization", "Bearer ro-key")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(r#"docent_http_requests_total{route="/mcp",method="POST",status="401"}"#),
        "{metrics}"
    );
}

#[test]
fn the_python_mcp_sdk_lists_and_calls_every_tool_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    ingest(&store, &corpus());
    let docent = env!("CARGO_BIN_EXE_docent");
    let seen =
        client(&["stdio", docent, store.to_str().unwrap()]).unwrap_or_else(|e| panic!("{e}"));
    check(&seen);
}

/// What the client saw: the four tools with their schemas, each call's result, and each bad
/// input refused with its reason, the documents unchanged.
fn check(seen: &Value) {
    assert_eq!(seen["server"], "docent");
    let tools = seen["tools"].as_object().unwrap();
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["ask", "list_documents", "read_document", "search"]);
    for (name, tool) in tools {
        assert!(
            tool["description"].as_str().unwrap().len() > 60,
            "{name}: {tool}"
        );
    }
    assert_eq!(tools["search"]["required"], serde_json::json!(["query"]));
    assert_eq!(tools["ask"]["required"], serde_json::json!(["question"]));
    assert_eq!(
        tools["read_document"]["required"],
        serde_json::json!(["document"])
    );
    for filter in ["documents", "paths", "types", "modified_after"] {
        for tool in ["search", "ask"] {
            assert!(
                tools[tool]["properties"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(filter)),
                "{tool} takes {filter}"
            );
        }
    }

    let ok = |call: &str| -> &Value {
        let result = &seen[call];
        assert_eq!(result["error"], false, "{call}: {result}");
        &result["structured"]
    };
    let hits = ok("search")["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["path"], "en/fine-tuning.txt", "{hits:?}");
    assert!(hits[0]["text"].as_str().unwrap().contains("LoRA"));
    let zh = ok("search_zh")["hits"].as_array().unwrap();
    assert_eq!(zh[0]["path"], "zh/rag.zh.md", "{zh:?}");
    assert!(
        zh.iter()
            .all(|h| h["path"].as_str().unwrap().starts_with("zh/"))
    );

    let answer = ok("ask");
    assert_eq!(answer["answered_by"], "extract", "{answer}");
    let sources: Vec<&Value> = answer["sources"].as_array().unwrap().iter().collect();
    assert!(
        !answer["citations"].as_array().unwrap().is_empty(),
        "{answer}"
    );
    for citation in answer["citations"].as_array().unwrap() {
        assert!(
            sources
                .iter()
                .any(|s| s["n"] == citation["n"] && s["path"] == citation["path"]),
            "{citation} is one of the sources: {answer}"
        );
    }
    assert_eq!(
        answer["citations"][0]["path"], "en/retrieval-augmented-generation.md",
        "{answer}"
    );

    let listed = ok("list_documents");
    let documents = listed["documents"].as_array().unwrap();
    assert_eq!(documents.len(), walk(&corpus()).len());
    assert_eq!(
        listed["next"],
        Value::Null,
        "one page holds them all: {listed}"
    );
    // A page of 4, then the rest from its `next`: every document once.
    let pages = seen["list_pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2, "{pages:?}");
    let paged: Vec<Value> = pages
        .iter()
        .flat_map(|page| page["structured"]["documents"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        pages[0]["structured"]["documents"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let mut ids: Vec<&str> = paged
        .iter()
        .map(|d| d["doc_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), documents.len(), "{pages:?}");
    let read = ok("read_document");
    assert_eq!(read["path"], "en/prompting.md");
    let text = read["text"].as_str().unwrap();
    assert!(text.starts_with("     1 | # Prompting\n"), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert_eq!(read["next_line"], 6);

    // Every bad input is a tool error that says what was wrong, and changes nothing.
    for (call, says) in [
        ("missing_query", "query"),
        ("huge_k", "must be 1 to 50"),
        ("bad_glob", "[oops"),
        ("bad_mode", "not one of dense, lexical, hybrid, fusion"),
        ("bad_type", "no document is of type \"mp3\""),
        ("fusion_without_model", "mode fusion needs a generator"),
        ("unknown_document", "list_documents lists them"),
        ("too_many_lines", "must be 1 to 1000"),
        ("oversized_query", "the limit is 4000"),
        ("empty_question", "empty"),
        ("huge_limit", "must be 1 to 1000"),
        // Not dropped: a filter read by no one would widen the search.
        ("misspelt_filter", "unknown argument `path`"),
        ("unknown_argument", "unknown field `lines`"),
    ] {
        let result = &seen["bad"][call];
        assert_eq!(result["error"], true, "{call}: {result}");
        assert!(
            result["text"].as_str().unwrap().contains(says),
            "{call} says {says:?}: {result}"
        );
    }
    assert_eq!(seen["documents_after"], seen["list_documents"]);
}
