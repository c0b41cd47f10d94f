//! End-to-end tests of `docent serve`: the real binary on a free port, real models, real store.

mod common;

use common::server::*;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Parses a Server-Sent Events body into (event, data) pairs.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|block| block.contains("data:"))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .filter_map(|l| l.strip_prefix(name))
                    .map(|v| v.strip_prefix(' ').unwrap_or(v))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            (
                field("event:"),
                serde_json::from_str(&field("data:")).unwrap(),
            )
        })
        .collect()
}

#[test]
fn serves_search_ask_and_streaming_ask() {
    let server = start();

    let health: Value = client()
        .get(format!("{}/healthz", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["chunks"].as_u64().unwrap() >= 9);

    let (status, found) = post(
        &server,
        "/v1/search",
        json!({"query": "How does LoRA work?", "k": 2}),
    );
    assert_eq!(status, StatusCode::OK);
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["path"], "en/fine-tuning.txt");

    let (status, answer) = post(
        &server,
        "/v1/ask",
        json!({"question": "What is function calling?", "max_tokens": 32}),
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(!answer["answer"].as_str().unwrap().is_empty());
    assert!(
        ["generator", "extract"].contains(&answer["answered_by"].as_str().unwrap()),
        "{answer}"
    );
    // auto shows only sentences a source supports.
    for sentence in kept_sentences(&answer) {
        assert_eq!(sentence["supported"], true, "{answer}");
        assert!(
            !sentence["sources"].as_array().unwrap().is_empty(),
            "{answer}"
        );
    }
    assert_citations_are_sources(&answer);

    // extract: no generator, the evidence quoted.
    let (status, quoted) = post(
        &server,
        "/v1/ask",
        json!({"question": "What is function calling?", "answer_mode": "extract"}),
    );
    assert_eq!(status, StatusCode::OK, "{quoted}");
    assert_eq!(quoted["answered_by"], "extract", "{quoted}");
    assert_eq!(quoted["timings"]["generated_tokens"], 0);
    assert_quotes_its_sources(&quoted);
    let (status, wrong) = post(
        &server,
        "/v1/ask",
        json!({"question": "What is function calling?", "answer_mode": "verbatim"}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");

    // Streamed in each mode: the text streamed is the answer.
    let stream = |body: Value| -> Vec<(String, Value)> {
        let response = client()
            .post(format!("{}/v1/ask", server.base))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        events(&response.text().unwrap())
    };
    let question = "How is the next token picked?";
    for mode in ["generate", "auto", "extract"] {
        let events = stream(
            json!({"question": question, "max_tokens": 24, "stream": true, "answer_mode": mode}),
        );
        let (last, tokens) = events.split_last().expect("events arrived");
        assert_eq!(last.0, "done", "{events:?}");
        assert!(tokens.iter().all(|(name, _)| name == "token"));
        let streamed: String = tokens
            .iter()
            .map(|(_, data)| data["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            streamed.trim(),
            last.1["answer"].as_str().unwrap(),
            "{mode}: the stream is the answer"
        );
        assert_citations_are_sources(&last.1);
        match mode {
            // The model's text as it is written, token by token.
            "generate" => assert!(
                tokens.len() > 1,
                "the answer arrives token by token: {events:?}"
            ),
            // Checked sentences, each with its citation.
            "auto" => assert!(
                tokens
                    .iter()
                    .all(|(_, d)| d["text"].as_str().unwrap().trim_end().ends_with(']')),
                "{events:?}"
            ),
            _ => assert_eq!(tokens.len(), 1, "{events:?}"),
        }
    }
}

/// Every kept sentence of an extractive answer is its cited source's own text.
fn assert_quotes_its_sources(answer: &Value) {
    let sources = answer["sources"].as_array().unwrap();
    for sentence in answer["sentences"].as_array().unwrap() {
        let n = sentence["sources"][0].as_u64().unwrap() as usize;
        let source = sources[n - 1]["text"].as_str().unwrap();
        assert!(
            source.contains(sentence["text"].as_str().unwrap()),
            "{sentence} is not in {source}"
        );
    }
}

#[test]
fn bad_requests_get_json_errors() {
    let server = start_with(&["--answer-mode", "extract"]);
    let url = |route: &str| format!("{}{route}", server.base);
    let check = |response: reqwest::blocking::Response, expected: StatusCode| {
        assert_eq!(response.status(), expected);
        let body: Value = response.json().expect("errors are JSON");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        assert_eq!(body["error"]["code"], expected.as_u16(), "{body}");
    };
    let c = client();
    let json_post = |route: &str, body: &'static str| {
        c.post(url(route))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };

    check(
        json_post("/v1/search", "{not json"),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/search", r#"{"query": 42}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    // RAG-Fusion from a server that loaded no model: nothing can write the phrasings.
    check(
        json_post("/v1/search", r#"{"query": "tea", "mode": "fusion"}"#),
        StatusCode::BAD_REQUEST,
    );
    // Filters the caller got wrong: a broken glob, a type no document has, a date that is not one.
    check(
        json_post("/v1/search", r#"{"query": "tea", "paths": ["[oops"]}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/ask", r#"{"question": "tea", "types": ["mp3"]}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post(
            "/v1/search",
            r#"{"query": "tea", "modified_after": "last week"}"#,
        ),
        StatusCode::BAD_REQUEST,
    );
    // A field the request does not take (a misspelt filter) is refused by name, not dropped:
    // dropped, it would widen the search without a word.
    for (route, body, field) in [
        (
            "/v1/search",
            r#"{"query": "tea", "path": ["en/*"]}"#,
            "`path`",
        ),
        (
            "/v1/ask",
            r#"{"question": "tea", "filters": {"paths": ["en/*"]}}"#,
            "`filters`",
        ),
        (
            "/v1/ingest",
            r#"{"path": "docs", "recursive": true}"#,
            "`recursive`",
        ),
    ] {
        let refused = json_post(route, body);
        assert!(refused.status().is_client_error(), "{route}");
        let body: Value = refused.json().unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{route}: {body}"
        );
    }
    check(
        json_post("/v1/search", r#"{"k": 3}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    check(
        json_post("/v1/search", r#"{"query": "x", "k": 0}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/search", r#"{"query": "x", "k": 100000}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/ask", r#"{"question": "   "}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/ask", r#"{"question": "   ", "stream": true}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/ask", r#"{"question": "x", "max_tokens": 0}"#),
        StatusCode::BAD_REQUEST,
    );
    // An answer draws on at most 50 sources (a search may rank 1,000): more only holds the slot.
    check(
        json_post("/v1/ask", r#"{"question": "What is LoRA?", "k": 51}"#),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post(
            "/v1/ask",
            r#"{"question": "What is LoRA?", "k": 1000, "stream": true}"#,
        ),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/chat/completions", r#"{"messages": []}"#),
        StatusCode::BAD_REQUEST,
    );
    let long_question = json!({ "question": "why ".repeat(1500) }).to_string();
    // A 1 MB question (the body still under the 1 MiB limit) is refused by its length.
    let megabyte_question = json!({ "question": "x".repeat(1_000_000) }).to_string();
    check(
        c.post(url("/v1/ask"))
            .header("content-type", "application/json")
            .body(megabyte_question)
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
    );
    check(
        c.post(url("/v1/ask"))
            .header("content-type", "application/json")
            .body(long_question)
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
    );
    let huge_body = json!({ "query": "x".repeat(2 * 1024 * 1024) }).to_string();
    // On its own client: the server refuses without reading the rest and closes the connection,
    // which a pooled connection shared with the next requests would trip over.
    check(
        client()
            .post(url("/v1/search"))
            .header("content-type", "application/json")
            .body(huge_body)
            .send()
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    check(
        json_post(
            "/v1/chat/completions",
            r#"{"messages": [{"role": "system", "content": "hi"}]}"#,
        ),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post(
            "/v1/chat/completions",
            r#"{"messages": [{"role": "user", "content": "  "}]}"#,
        ),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/chat/completions", r#"{"messages": "hello"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    check(
        json_post(
            "/v1/chat/completions",
            r#"{"messages": [{"role": "user", "content": "x"}], "temperature": 9}"#,
        ),
        StatusCode::BAD_REQUEST,
    );
    check(
        c.post(url("/v1/search"))
            .body(r#"{"query": "x"}"#)
            .send()
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    check(
        c.get(url("/v1/search")).send().unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    );
    check(
        c.get(url("/no/such/route")).send().unwrap(),
        StatusCode::NOT_FOUND,
    );
    let invalid_utf8 = b"{\"query\": \"caf\xe9\"}".to_vec();
    check(
        c.post(url("/v1/search"))
            .header("content-type", "application/json")
            .body(invalid_utf8)
            .send()
            .unwrap(),
        StatusCode::BAD_REQUEST,
    );
    check(
        json_post("/v1/search", r#"{"query": "x", "k": -1}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    check(
        json_post("/v1/search", r#"{"query": "x", "mode": "fuzzy"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    // The server is still healthy after all of that.
    assert_eq!(
        c.get(url("/healthz")).send().unwrap().status(),
        StatusCode::OK
    );

    // Its store is locked: another process is told so instead of corrupting it.
    let output = docent(&server.store)
        .args(["search", "anything"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another docent process"),
        "{stderr}"
    );
}

/// The official `openai` Python client (installed into .docent/pyclient by `make test`) against
/// the OpenAI-compatible routes: models, a completion, a streamed completion, and tools refused
/// by a generator that cannot call them.
#[test]
fn the_openai_python_client_works_against_docent() {
    let server = start();
    let out = python_json(
        "pyclient",
        "openai",
        "openai_client.py",
        &[server.base.as_ref()],
    );

    assert_eq!(out["models"], json!(["docent"]));
    assert!(!out["content"].as_str().unwrap().trim().is_empty(), "{out}");
    // The list names the generator behind `docent`, and the names `serve --model` takes.
    let listed = get(&server, "/v1/models");
    assert!(
        listed["data"][0]["generator"]
            .as_str()
            .unwrap()
            .starts_with("Smollm2 135M"),
        "{listed}"
    );
    assert_eq!(
        listed["generators"],
        json!(["smollm2", "qwen2.5-0.5b", "qwen2.5-1.5b", "gemma3-270m"])
    );
    assert!(
        ["stop", "length"].contains(&out["finish_reason"].as_str().unwrap()),
        "{out}"
    );
    assert!(out["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(out["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let citations = out["citations"]
        .as_array()
        .expect("citations ride on the message");
    for citation in citations {
        assert!(
            citation["path"].as_str().unwrap().starts_with("en/")
                || citation["path"].as_str().unwrap().starts_with("zh/")
        );
    }

    assert_eq!(
        out["stream_roles"],
        json!(["assistant"]),
        "the role comes once, first: {out}"
    );
    assert!(
        !out["stream_text"].as_str().unwrap().trim().is_empty(),
        "{out}"
    );
    assert!(
        out["stream_citations"].is_array(),
        "the last chunk carries the citations: {out}"
    );
    assert!(
        ["stop", "length"].contains(&out["stream_finish"].as_str().unwrap()),
        "{out}"
    );
    assert!(
        out["tools_error"]
            .as_str()
            .unwrap()
            .contains("cannot call tools: its chat template has no tool-call format"),
        "{out}"
    );
}

/// Function calling with the official `openai` client and Qwen2.5-1.5B (the 0.5B calls, but
/// given the result mostly calls again instead of answering): `tool_calls` for the tool offered,
/// streamed and not, then, with the tool's result sent back, an answer that cites it.
#[test]
fn the_openai_client_calls_a_tool_and_gets_an_answer_citing_its_result() {
    let server = start_with(&["--model", "qwen2.5-1.5b"]);
    let out = python_json(
        "pyclient",
        "openai",
        "openai_tools.py",
        &[server.base.as_ref()],
    );
    for (calls, finish) in [
        ("calls", "finish_reason"),
        ("stream_calls", "stream_finish"),
    ] {
        assert_eq!(out[finish], "tool_calls", "{out}");
        let call = &out[calls][0];
        assert_eq!(call["name"], "get_weather", "{out}");
        assert!(call["id"].as_str().unwrap().starts_with("call_"), "{out}");
        assert!(
            call["arguments"]["city"]
                .as_str()
                .is_some_and(|city| city.contains("Paris")),
            "{out}"
        );
    }
    assert_eq!(out["answer_calls"], 0, "{out}");
    assert!(out["answer"].as_str().unwrap().contains("21"), "{out}");
    let cited: Vec<&str> = out["citations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert!(cited.contains(&"tool:get_weather"), "{out}");
}

/// Bad function-calling input gets a 400 that says what is wrong, before any model runs.
#[test]
fn bad_tools_get_400s_that_say_why() {
    let server = start();
    let tool = |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}});
    let question = json!([{"role": "user", "content": "What is RAG?"}]);
    let many: Vec<Value> = (0..33).map(|i| tool(&format!("t{i}"))).collect();
    let huge = json!([{"type": "function", "function": {"name": "big", "description": "x".repeat(40_000)}}]);
    let call = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]});
    let cases = [
        (
            json!({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}),
            "only \"function\"",
        ),
        (
            json!({"tools": [tool("no spaces allowed")]}),
            "1 to 64 letters",
        ),
        (json!({"tools": [tool("f"), tool("f")]}), "offered twice"),
        (json!({"tools": many}), "at most 32"),
        (json!({"tools": huge}), "bytes of JSON"),
        (
            json!({"tools": [tool("f")], "tool_choice": "always"}),
            "tool_choice \"always\"",
        ),
        (json!({"tool_choice": "required"}), "no tools are offered"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": [1]}}]}),
            "JSON Schema object",
        ),
        (
            json!({"messages_after": [call.clone(), {"role": "tool", "content": "x"}]}),
            "needs the tool_call_id",
        ),
        (
            json!({"messages_after": [call.clone(), {"role": "tool", "tool_call_id": "call_9", "content": "x"}]}),
            "answers no call",
        ),
        (
            json!({"messages_after": [call.clone()]}),
            "has no tool message",
        ),
        (
            json!({"messages_after": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "x"}]}),
            "not a JSON object",
        ),
        // Well formed, for a generator whose template cannot call tools (SmolLM2).
        (json!({"tools": [tool("f")]}), "cannot call tools"),
    ];
    for (extra, says) in cases {
        let mut body = json!({"model": "docent", "messages": question});
        for (key, value) in extra.as_object().unwrap() {
            if key == "messages_after" {
                body["messages"]
                    .as_array_mut()
                    .unwrap()
                    .extend(value.as_array().unwrap().clone());
            } else {
                body[key] = value.clone();
            }
        }
        let (status, reply) = post(&server, "/v1/chat/completions", body.clone());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{says:?} not in {message:?}");
    }
}

#[test]
fn api_keys_guard_every_route_but_health_and_read_only_keys_cannot_delete() {
    let server = start_with(&[
        "--api-key",
        "full-secret-1",
        "--read-only-key",
        "reader-secret-2",
        "--answer-mode",
        "extract",
    ]);
    let url = |route: &str| format!("{}{route}", server.base);
    let c = client();
    let search = |key: Option<&str>| {
        let mut request = c
            .post(url("/v1/search"))
            .json(&json!({"query": "What is LoRA?", "k": 1}));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().unwrap()
    };

    assert_eq!(
        c.get(url("/healthz")).send().unwrap().status(),
        StatusCode::OK,
        "health needs no key"
    );
    let refused = search(None);
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_eq!(search(Some("wrong")).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        search(Some("full-secret")).status(),
        StatusCode::UNAUTHORIZED,
        "a prefix is not the key"
    );
    assert_eq!(search(Some("reader-secret-2")).status(), StatusCode::OK);
    assert_eq!(search(Some("full-secret-1")).status(), StatusCode::OK);
    assert_eq!(
        c.get(url("/v1/models")).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.get(url("/no/such/route")).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let list = |key: &str| -> Value {
        c.get(url("/v1/documents"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let documents = list("reader-secret-2")["documents"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(documents.len(), 9);
    let victim = documents
        .iter()
        .find(|d| d["path"] == "en/fine-tuning.txt")
        .unwrap();
    let id = victim["doc_id"].as_str().unwrap();

    let delete = |key: &str| {
        c.delete(url(&format!("/v1/documents/{id}")))
            .bearer_auth(key)
            .send()
            .unwrap()
    };
    assert_eq!(delete("reader-secret-2").status(), StatusCode::FORBIDDEN);
    assert_eq!(
        list("full-secret-1")["documents"].as_array().unwrap().len(),
        9,
        "a refused delete changes nothing"
    );
    let deleted = delete("full-secret-1");
    assert_eq!(deleted.status(), StatusCode::OK);
    let deleted: Value = deleted.json().unwrap();
    assert_eq!(deleted["deleted"]["path"], "en/fine-tuning.txt");
    let remaining = list("full-secret-1")["documents"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(remaining.len(), 8);
    assert!(remaining.iter().all(|d| d["path"] != "en/fine-tuning.txt"));
    assert_eq!(
        delete("full-secret-1").status(),
        StatusCode::NOT_FOUND,
        "deleting twice finds nothing"
    );
    let hits: Value = search(Some("full-secret-1")).json().unwrap();
    assert_ne!(
        hits["hits"][0]["path"], "en/fine-tuning.txt",
        "its chunks are gone from search"
    );

    let log = server.log.lock().unwrap().clone();
    assert!(
        !log.contains("full-secret-1") && !log.contains("reader-secret-2"),
        "keys must never be logged:\n{log}"
    );
}

#[test]
fn a_full_generation_queue_answers_503_with_retry_after() {
    let server = start_with(&["--max-generations", "1", "--queue", "0"]);
    let ask = |base: String| {
        std::thread::spawn(move || {
            let response = client()
                .post(format!("{base}/v1/ask"))
                .json(&json!({"question": "What is retrieval-augmented generation?", "max_tokens": 32}))
                .send()
                .unwrap();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (response.status(), retry_after)
        })
    };
    // Two at once: one generates, the other finds no slot and no room to wait.
    let (first, second) = (ask(server.base.clone()), ask(server.base.clone()));
    let mut outcomes = vec![first.join().unwrap(), second.join().unwrap()];
    outcomes.sort_by_key(|(status, _)| *status);
    assert_eq!(outcomes[0].0, StatusCode::OK, "{outcomes:?}");
    assert_eq!(
        outcomes[1],
        (StatusCode::SERVICE_UNAVAILABLE, Some("5".to_string())),
        "{outcomes:?}"
    );
    // Search needs no generation slot, and the server answers again once the slot is free.
    let (status, _) = post(&server, "/v1/search", json!({"query": "LoRA", "k": 1}));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ask(server.base.clone()).join().unwrap().0, StatusCode::OK);
}

#[test]
fn metrics_count_requests_answers_and_the_store() {
    let server = start();
    let c = client();
    let url = |route: &str| format!("{}{route}", server.base);
    assert_eq!(
        post(&server, "/v1/search", json!({"query": "LoRA", "k": 1})).0,
        StatusCode::OK
    );
    assert_eq!(
        post(&server, "/v1/search", json!({"query": "LoRA", "k": 1})).0,
        StatusCode::OK
    );
    assert_eq!(
        post(
            &server,
            "/v1/ask",
            json!({"question": "What is LoRA?", "max_tokens": 8})
        )
        .0,
        StatusCode::OK
    );
    assert_eq!(
        c.get(url("/no/such/route")).send().unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // Invented methods (any client can send them, before any key check) all count as "other":
    // they must not add a series, and memory, each.
    for n in 0..20 {
        let method =
            reqwest::Method::from_bytes(format!("PROBE{n}{}", "X".repeat(200)).as_bytes()).unwrap();
        c.request(method, url("/v1/search")).send().unwrap();
    }
    let chunks = c
        .get(url("/healthz"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["chunks"]
        .as_u64()
        .unwrap();

    let text = c.get(url("/metrics")).send().unwrap().text().unwrap();
    let value = |prefix: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        value(r#"docent_http_requests_total{route="/v1/search",method="POST",status="200"}"#),
        2.0
    );
    assert_eq!(
        value(r#"docent_http_requests_total{route="/v1/ask",method="POST",status="200"}"#),
        1.0
    );
    assert_eq!(
        value(r#"docent_http_requests_total{route="unmatched",method="GET",status="404"}"#),
        1.0
    );
    assert!(!text.contains("PROBE"), "{text}");
    let invented: f64 = text
        .lines()
        .filter(|l| l.contains(r#"method="other""#))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(invented, 20.0, "{text}");
    // Two searches and the twenty invented methods (405).
    assert_eq!(
        value(r#"docent_http_request_seconds_count{route="/v1/search"}"#),
        22.0
    );
    assert_eq!(value("docent_retrieval_seconds_count"), 1.0);
    assert_eq!(value("docent_generation_seconds_count"), 1.0);
    let generated = value("docent_generated_tokens_total");
    assert!((1.0..=8.0).contains(&generated), "{generated}");
    assert!(value("docent_prompt_tokens_total") > 100.0);
    assert_eq!(value("docent_store_chunks"), chunks as f64);
}

/// The web page in headless Chromium (installed by `make test`): it loads, a question typed into
/// it streams an answer, the sources appear with path and line span, and a click shows a chunk.
/// The screenshot is kept as target/test-artifacts/web-page.png.
#[test]
fn the_web_page_streams_an_answer_in_headless_chromium() {
    // generate streams token by token (auto streams checked sentences), which is what is tested.
    let server = start_with(&["--api-key", "page-key", "--answer-mode", "generate"]);
    // The page itself needs no key (it holds no data); the API behind it does.
    let page = client().get(&server.base).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // The page runs only its own inline script (by hash: the run below proves the hash right),
    // talks only to this server, and cannot be framed.
    let header = |name: &str| {
        page.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let policy = header("content-security-policy");
    assert!(
        policy.contains("script-src 'sha256-") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(page.text().unwrap().contains("<title>docent</title>"));

    let artifacts = artifacts("page-ask");
    // Without the key the page shows the API's refusal, not an answer.
    let refused = browse(
        &server,
        &["ask", "What is retrieval-augmented generation?"],
        None,
        &artifacts,
    );
    assert!(
        refused["error"].as_str().unwrap().contains("API key"),
        "{refused}"
    );

    let out = browse(
        &server,
        &["ask", "What is retrieval-augmented generation?"],
        Some("page-key"),
        &artifacts,
    );
    assert_eq!(out["title"], "docent");
    assert_eq!(out["error"], "", "{out}");
    // The key stays in the tab's session: nothing else served on this origin can read it later.
    let kept = &out["key_storage"];
    assert_eq!(
        (&kept["local"], kept["session"].as_str()),
        (&Value::Null, Some("page-key")),
        "{out}"
    );
    assert!(
        kept["note"].as_str().unwrap().contains("this tab only"),
        "{out}"
    );
    assert!(!out["answer"].as_str().unwrap().trim().is_empty(), "{out}");
    // Streamed: the first text was on the page before the answer was complete.
    let (first, total) = (
        out["first_text_seconds"].as_f64().expect("text appeared"),
        out["seconds"].as_f64().unwrap(),
    );
    assert!(first < total, "{out}");
    let sources = strings(&out["sources"]);
    assert!(!sources.is_empty(), "{out}");
    for source in &sources {
        assert!(
            source.contains(".") && source.contains(':') && source.contains('-'),
            "path:start-end, got {source}"
        );
    }
    assert!(
        sources[0].starts_with("en/retrieval-augmented-generation.md:"),
        "{sources:?}"
    );
    // A citation opens its source, the sentence behind it marked.
    let evidence = &out["evidence"];
    let marked = strings(&evidence["marked"]);
    assert!(!marked.is_empty(), "{out}");
    for mark in &marked {
        assert!(
            evidence["text"].as_str().unwrap().contains(mark.as_str()),
            "{out}"
        );
    }
    assert_real_png(&artifacts.join("ask.png"));
}

/// The prompt-injection question on the page, in Chinese and in English, with Qwen2.5-1.5B
/// writing: the answer is in the question's language and its first citation opens the English
/// PDF at the sentence that defines the attack.
#[test]
fn the_page_answers_the_prompt_injection_question_from_the_pdf() {
    let server = start_with(&["--model", "qwen2.5-1.5b"]);
    let artifacts = artifacts("page-injection");
    for question in [
        "什么是提示注入？如何防御？",
        "What is prompt injection and how do you defend against it?",
    ] {
        let out = browse(&server, &["ask", question], None, &artifacts);
        assert_eq!(out["error"], "", "{out}");
        let han = han_characters(out["answer"].as_str().unwrap());
        assert_eq!(han > 10, !question.is_ascii(), "{out}");
        let evidence = &out["evidence"];
        assert!(
            evidence["where"]
                .as_str()
                .unwrap()
                .contains("prompt-injection-and-safety.pdf"),
            "{out}"
        );
        assert!(
            strings(&evidence["marked"])
                .iter()
                .any(|m| m.contains("Prompt injection is an attack")),
            "{out}"
        );
    }
}

/// The whole "ChatPDF" round in headless Chromium: upload the corpus's PDF from the page, see it
/// listed, ask only it and open a citation's evidence, ask a follow-up that only the first turn
/// explains, delete the PDF after confirming, drop a file on the page, and read the page at a
/// phone's width. Every step's screenshot is kept under target/test-artifacts/page-round/.
#[test]
fn the_page_does_the_whole_chatpdf_round_in_headless_chromium() {
    // Quoted answers: what is tested is the page, not the generator (the test above streams one).
    let server = start_with(&["--answer-mode", "extract"]);
    let artifacts = artifacts("page-round");
    let pdf = corpus().join("en/prompt-injection-and-safety.pdf");
    let (question, follow_up) = ("What is prompt injection?", "Where does it hide?");
    let out = browse(
        &server,
        &["round", pdf.to_str().unwrap(), question, follow_up],
        None,
        &artifacts,
    );
    assert_eq!(out["documents_before"], 9, "{out}");
    assert!(
        out["placeholder"].as_str().unwrap().contains("提一个问题"),
        "{out}"
    );
    assert!(
        out["upload_status"]
            .as_str()
            .unwrap()
            .starts_with("Added 1,"),
        "{out}"
    );
    assert!(
        out["listed"].as_str().unwrap().contains("pdf · 1 chunk"),
        "{out}"
    );
    assert!(
        out["scope"]
            .as_str()
            .unwrap()
            .contains("prompt-injection-and-safety.pdf"),
        "{out}"
    );

    // Asked of the upload only: every source is the uploaded PDF, and the citation's sentence
    // is marked in its source.
    let first = &out["first"];
    assert_eq!(first["error"], "", "{out}");
    assert!(!strings(&first["citations"]).is_empty(), "{out}");
    for source in strings(&first["sources"]) {
        assert!(
            source.starts_with("prompt-injection-and-safety.pdf:"),
            "{out}"
        );
    }
    let marked = strings(&first["evidence"]["marked"]);
    assert!(
        marked
            .iter()
            .any(|m| m.contains("Prompt injection is an attack")),
        "{out}"
    );

    // The follow-up, asked of every document, is searched for with the first turn's topic and
    // answered from the PDF; asked alone, the same words find nothing relevant.
    let second = &out["follow_up"];
    assert!(
        second["meta"]
            .as_str()
            .unwrap()
            .contains("searched for: Where does it hide? prompt injection"),
        "{out}"
    );
    assert!(
        second["answer"]
            .as_str()
            .unwrap()
            .contains("hides inside a document"),
        "{out}"
    );
    assert!(
        strings(&second["evidence"]["marked"])
            .iter()
            .any(|m| m.contains("hides inside a document")),
        "{out}"
    );
    let (status, alone) = post(&server, "/v1/ask", json!({ "question": follow_up }));
    assert_eq!(status, StatusCode::OK, "{alone}");
    assert_eq!(alone["grounded"], false, "{alone}");

    // The Filters panel reaches the API: a search kept to HTML finds HTML only.
    let filtered = strings(&out["filtered_search"]["sources"]);
    assert!(!filtered.is_empty(), "{out}");
    assert!(filtered.iter().all(|s| s.contains(".html:")), "{out}");
    assert_eq!(
        out["confirmation"], "Delete prompt-injection-and-safety.pdf?",
        "{out}"
    );
    assert_eq!(out["documents_after"], 9, "{out}");
    assert!(
        strings(&out["listed_after"])
            .iter()
            .all(|d| !d.starts_with("upload/")),
        "{out}"
    );
    assert!(
        out["dropped_status"]
            .as_str()
            .unwrap()
            .starts_with("Added 1,"),
        "a dropped file is uploaded: {out}"
    );
    assert_eq!(out["phone_overflow"], false, "{out}");
    for shot in [
        "1-page.png",
        "2-uploaded.png",
        "3-answer.png",
        "4-evidence.png",
        "5-follow-up.png",
        "6-deleted.png",
        "7-phone.png",
    ] {
        assert_real_png(&artifacts.join(shot));
    }
}

/// `/v1/chat/completions` reads the earlier user turns: a follow-up that only makes sense after
/// them is answered from the right document, and the same message alone is not.
#[test]
fn chat_completions_answer_a_follow_up_from_the_earlier_turns() {
    let server = start_with(&["--answer-mode", "extract"]);
    let chat = |messages: Value| {
        let (status, body) = post(
            &server,
            "/v1/chat/completions",
            json!({ "messages": messages }),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    let answered = chat(json!([
        { "role": "user", "content": "What is prompt injection?" },
        { "role": "assistant", "content": "An attack in which text a model reads overrides its instructions. [1]" },
        { "role": "user", "content": "Where does it hide?" },
    ]));
    let message = &answered["choices"][0]["message"];
    assert!(
        message["content"]
            .as_str()
            .unwrap()
            .contains("hides inside a document"),
        "{answered}"
    );
    assert_eq!(
        message["citations"][0]["path"], "en/prompt-injection-and-safety.pdf",
        "{answered}"
    );
    let alone = chat(json!([{ "role": "user", "content": "Where does it hide?" }]));
    assert!(
        alone["choices"][0]["message"]["citations"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{alone}"
    );
}

/// Two kettles, one of steel and one of copper, each boiling a litre in its own time, described
/// in English and in Chinese: after "the copper kettle", "How long does it take to boil a litre?"
/// is about the red one. With `--planner model` the generator names the topic (searched beside
/// the rule's rewrite, in an answer quoted from the sources), and the chat's answer cites the
/// copper kettle's file first. In Chinese, after "介绍一下钢做的水壶。" (the steel one),
/// "它烧开一升水要多久？" — "it", no kettle named — cites the steel kettle's file, `lan.md`: the
/// rule's rewrite alone, at equal say with the follow-up as asked, ranks the copper kettle's page
/// first. Qwen2.5-1.5B plans both (the 0.5B answers the Chinese follow-up instead of naming its
/// topic).
#[test]
fn the_model_planner_keeps_a_follow_up_on_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("kettles");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("blue.md"),
        "# The blue kettle\n\nThe blue kettle is made of stainless steel and holds one and a half litres. \
         Its handle is insulated.\n\nOn an induction hob it boils a litre of water in about four minutes, \
         and its spout whistles when the water boils.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("red.md"),
        "# The red kettle\n\nThe red kettle is made of copper and holds one litre. Copper carries heat \
         quickly.\n\nOn a gas stove it boils a litre of water in about six minutes.\n\nPolish the copper \
         now and then with lemon juice, or it turns dull.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("lan.md"),
        "# 蓝色水壶\n\n蓝色水壶是不锈钢做的，能装一点五升水。它的把手是隔热的。\n\n\
         在电磁炉上，它烧开一升水大约要四分钟，水开时壶嘴会鸣笛。\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("hong.md"),
        "# 红色水壶\n\n红色水壶是铜做的，能装一升水。铜导热很快。\n\n\
         在燃气灶上，它烧开一升水大约要六分钟。\n\n要不时用柠檬汁擦亮铜面，否则它会变暗。\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    ingest(&store, &docs);
    let server = start_over(
        &store,
        &[
            "--answer-mode",
            "extract",
            "--planner",
            "model",
            "--model",
            "qwen2.5-1.5b",
            "--plan-seconds",
            PLAN_SECONDS,
        ],
    );
    let (status, answer) = post(
        &server,
        "/v1/ask",
        json!({
            "question": "How long does it take to boil a litre?",
            "earlier": ["Tell me about the copper kettle."],
        }),
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    let queries = strings(&answer["queries"]);
    assert_eq!(
        queries[0], "How long does it take to boil a litre?",
        "{answer}"
    );
    // The rule's rewrite is "… Tell copper kettle"; the model's, the topic alone.
    assert!(
        queries.contains(&"How long does it take to boil a litre? copper kettle".to_string()),
        "the model's topic: {answer}"
    );
    assert_eq!(answer["citations"][0]["path"], "red.md", "{answer}");

    // Over chat completions, in English and in Chinese: each answer cites its kettle first.
    for (earlier, said, follow_up, cited) in [
        (
            "Tell me about the copper kettle.",
            "It is made of copper and holds one litre. [1]",
            "How long does it take to boil a litre?",
            "red.md",
        ),
        (
            "介绍一下钢做的水壶。",
            "蓝色水壶是不锈钢做的，能装一点五升水。[1]",
            "它烧开一升水要多久？",
            "lan.md",
        ),
    ] {
        let (status, chat) = post(
            &server,
            "/v1/chat/completions",
            json!({ "messages": [
                { "role": "user", "content": earlier },
                { "role": "assistant", "content": said },
                { "role": "user", "content": follow_up },
            ]}),
        );
        assert_eq!(status, StatusCode::OK, "{chat}");
        assert_eq!(
            chat["choices"][0]["message"]["citations"][0]["path"], cited,
            "{chat}"
        );
    }
}

/// A fresh folder for a test's screenshots under target/test-artifacts/.
fn artifacts(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_real_png(path: &std::path::Path) {
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} is not a real screenshot",
        path.display()
    );
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Runs tests/browser.py (Playwright, installed into .docent/playwright by `make test`, driving
/// Debian's Chromium) against the server, with `key` typed into the page's key field.
fn browse(
    server: &Server,
    command: &[&str],
    key: Option<&str>,
    artifacts: &std::path::Path,
) -> Value {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        command[0].as_ref(),
        server.base.as_ref(),
        artifacts.as_os_str(),
    ];
    args.extend(command[1..].iter().map(std::ffi::OsStr::new));
    let key = [("DOCENT_PAGE_KEY", key.unwrap_or(""))];
    let out = python("playwright", "playwright", "browser.py", &args, &key).unwrap_or_else(|err| {
        panic!("browser.py failed (is chromium installed? `make test` installs it):\n{err}")
    });
    serde_json::from_str(&out).unwrap()
}

/// POST /v1/ingest reads only under --allow-ingest-from: `..`, absolute paths outside, and
/// symbolic links that leave the root are refused, and a link inside an allowed folder is not
/// followed. Off without the flag; never with a read-only key.
#[test]
fn http_ingest_stays_inside_its_allowed_roots() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.md"),
        "# Secret\n\nThe launch code is zebra-kumquat-42.\n",
    )
    .unwrap();
    let allowed = tempfile::tempdir().unwrap();
    let docs = allowed.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("kettle.md"),
        "# Kettles\n\nA kettle boils water for tea in about three minutes.\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), docs.join("leak.md")).unwrap();
    std::os::unix::fs::symlink(outside.path(), allowed.path().join("escape")).unwrap();

    let root = allowed.path().to_str().unwrap();
    let server = start_with(&[
        "--api-key",
        "full",
        "--read-only-key",
        "reader",
        "--allow-ingest-from",
        root,
        "--answer-mode",
        "extract",
    ]);
    let ingest = |path: &str, key: &str| {
        let response = client()
            .post(format!("{}/v1/ingest", server.base))
            .bearer_auth(key)
            .json(&json!({ "path": path }))
            .send()
            .unwrap();
        let status = response.status();
        (status, response.json::<Value>().unwrap())
    };
    let outside_path = outside.path().to_str().unwrap();

    assert_eq!(
        ingest(&format!("{root}/docs"), "reader").0,
        StatusCode::FORBIDDEN,
        "read-only keys cannot ingest"
    );
    assert_eq!(
        ingest(&format!("{root}/docs/../docs"), "full").0,
        StatusCode::BAD_REQUEST,
        "`..` is refused outright"
    );
    assert_eq!(
        ingest(
            &format!(
                "{root}/../{}",
                outside.path().file_name().unwrap().to_str().unwrap()
            ),
            "full"
        )
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ingest(outside_path, "full").0,
        StatusCode::FORBIDDEN,
        "an absolute path outside"
    );
    // No answer tells what exists outside: the same for a file there and for none.
    assert_eq!(
        ingest("/etc/passwd", "full"),
        ingest("/etc/no-such-file", "full")
    );
    assert_eq!(ingest("/etc/passwd", "full").0, StatusCode::FORBIDDEN);
    let (status, body) = ingest(&format!("{root}/escape"), "full");
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a symlink that leaves the root: {body}"
    );
    assert_eq!(
        ingest("escape/secret.md", "full").0,
        StatusCode::NOT_FOUND,
        "relative, through the link"
    );
    let through_link = |name: &str| {
        ingest(&format!("escape/{name}"), "full").1["error"]["message"]
            .as_str()
            .unwrap()
            .replace(name, "")
    };
    assert_eq!(
        through_link("secret.md"),
        through_link("absent.md"),
        "the link does not tell what exists behind it"
    );
    assert_eq!(
        ingest(&format!("{root}/nothing-here"), "full").0,
        StatusCode::NOT_FOUND
    );
    std::fs::write(allowed.path().join(".env"), "TOKEN=zebra-kumquat-42\n").unwrap();
    std::fs::write(allowed.path().join(".gitignore"), "private.md\n").unwrap();
    std::fs::write(
        allowed.path().join("private.md"),
        "The launch code is zebra-kumquat-42.\n",
    )
    .unwrap();
    assert_eq!(
        ingest(".env", "full").0,
        StatusCode::NOT_FOUND,
        "a hidden file, named directly"
    );
    assert_eq!(
        ingest("private.md", "full").0,
        StatusCode::NOT_FOUND,
        "an ignored file, named directly"
    );
    let fifo = allowed.path().join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (status, body) = ingest("pipe", "full");
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a FIFO is no document: {body}"
    );
    assert!(
        !body.to_string().contains(root),
        "no server path in the answer: {body}"
    );

    std::fs::write(docs.join("broken.pdf"), "%PDF-1.7 not really").unwrap();
    let (status, report) = ingest("docs", "full");
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["added"], 1,
        "the kettle only; the link inside is not followed: {report}"
    );
    assert_eq!(
        report["failed"].as_array().unwrap().len(),
        1,
        "the broken PDF: {report}"
    );
    assert!(
        !report.to_string().contains(root),
        "the report names no server path: {report}"
    );
    let listing = client()
        .get(format!("{}/v1/documents", server.base))
        .bearer_auth("reader")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        listing.contains("kettle.md") && !listing.contains(root),
        "the listing names no server path: {listing}"
    );
    let found = client()
        .post(format!("{}/v1/search", server.base))
        .bearer_auth("reader")
        .json(&json!({"query": "launch code zebra-kumquat", "k": 20, "mode": "lexical"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    for hit in found["hits"].as_array().unwrap() {
        assert!(
            !hit["text"].as_str().unwrap().contains("zebra-kumquat"),
            "the secret leaked: {hit}"
        );
    }
    let kettle = client()
        .post(format!("{}/v1/search", server.base))
        .bearer_auth("reader")
        .json(&json!({"query": "kettle boils water", "k": 1}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(kettle["hits"][0]["path"], "kettle.md", "{kettle}");

    // Without --allow-ingest-from the route is off.
    let closed = start_with(&["--answer-mode", "extract"]);
    let (status, body) = post(&closed, "/v1/ingest", json!({"path": "/tmp"}));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-ingest-from"),
        "{body}"
    );
}

/// POST /v1/documents: a multipart upload is ingested (and searchable), a re-upload replaces the
/// document, and the limits on names, formats, file count and size hold.
/// Without keys, a page on another site cannot make a local docent ingest (browsers send a
/// multipart POST cross-origin without asking), nor reach it under a rebound DNS name; the
/// server's own page and clients without an Origin go on working.
#[test]
fn other_sites_cannot_write_and_foreign_names_are_refused() {
    use reqwest::blocking::multipart::{Form, Part};
    let server = start_with(&["--answer-mode", "extract"]);
    let host = server.base.trim_start_matches("http://").to_string();
    let upload = |headers: &[(&str, &str)]| {
        let form = Form::new().part(
            "file",
            Part::bytes(b"Planted by another site.".to_vec()).file_name("planted.txt"),
        );
        let mut request = client()
            .post(format!("{}/v1/documents", server.base))
            .multipart(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().unwrap().status()
    };
    assert_eq!(
        upload(&[("origin", "https://evil.example")]),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        upload(&[("host", "evil.example"), ("origin", "http://evil.example")]),
        StatusCode::FORBIDDEN,
        "DNS rebinding"
    );
    let rebound = client()
        .get(format!("{}/v1/documents", server.base))
        .header("host", "evil.example:80")
        .send()
        .unwrap();
    assert_eq!(
        rebound.status(),
        StatusCode::FORBIDDEN,
        "a loopback server answers to loopback names only"
    );
    let listed: Value = client()
        .get(format!("{}/v1/documents", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        listed["documents"].as_array().unwrap().len(),
        9,
        "nothing was planted: {listed}"
    );

    assert_eq!(
        upload(&[("origin", &format!("http://{host}"))]),
        StatusCode::OK,
        "the server's own page"
    );
    assert_eq!(upload(&[]), StatusCode::OK, "a client that sends no Origin");
    let page = client()
        .get(&server.base)
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "reading the page is no write"
    );
}

/// A server with a full key `full` and a read-only key `reader`, answering by quoting.
fn keyed() -> Server {
    start_with(&[
        "--api-key",
        "full",
        "--read-only-key",
        "reader",
        "--answer-mode",
        "extract",
    ])
}

/// `POST /v1/documents` with `form`, as `key`.
fn upload(
    server: &Server,
    form: reqwest::blocking::multipart::Form,
    key: &str,
) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/v1/documents", server.base))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .unwrap();
    (response.status(), response.json::<Value>().unwrap())
}

#[test]
fn uploads_are_ingested_and_limited() {
    use reqwest::blocking::multipart::{Form, Part};
    let server = keyed();
    let upload = |form: Form, key: &str| upload(&server, form, key);
    let file =
        |name: &str, text: &str| Part::bytes(text.as_bytes().to_vec()).file_name(name.to_string());

    let form = Form::new()
        .part(
            "file",
            file(
                "../../teapots.md",
                "# Teapots\n\nA cast-iron teapot keeps tea warm for an hour.\n",
            ),
        )
        .part(
            "file",
            file(
                "kettle.txt",
                "An electric kettle switches itself off when the water boils.",
            ),
        );
    let (status, body) = upload(form, "full");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["added"], 2, "{body}");
    assert_eq!(
        body["documents"][0]["path"], "teapots.md",
        "only the last path component is kept: {body}"
    );

    let search = |query: &str| -> Value {
        client()
            .post(format!("{}/v1/search", server.base))
            .bearer_auth("reader")
            .json(&json!({"query": query, "k": 1}))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(
        search("cast-iron teapot keeps tea warm")["hits"][0]["path"],
        "teapots.md"
    );
    let documents = || -> Value {
        client()
            .get(format!("{}/v1/documents", server.base))
            .bearer_auth("reader")
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let listed = documents();
    assert_eq!(
        listed["documents"].as_array().unwrap().len(),
        11,
        "the corpus and the two uploads: {listed}"
    );

    // The same name again replaces the document.
    let (status, body) = upload(
        Form::new().part(
            "file",
            file(
                "teapots.md",
                "# Teapots\n\nPorcelain teapots suit green tea.\n",
            ),
        ),
        "full",
    );
    assert_eq!(
        (status, body["report"]["updated"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    let hit = search("porcelain teapots green tea");
    assert_eq!(hit["hits"][0]["path"], "teapots.md");
    assert!(
        hit["hits"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Porcelain"),
        "{hit}"
    );

    let one = || Form::new().part("file", file("a.md", "# A\n\ntext\n"));
    assert_eq!(
        upload(one(), "reader").0,
        StatusCode::FORBIDDEN,
        "read-only keys cannot upload"
    );
    assert_eq!(
        upload(Form::new().text("note", "no files"), "full").0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        upload(Form::new().part("file", file("tool.exe", "MZ")), "full").0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let many = (0..33).fold(Form::new(), |form, i| {
        form.part("file", file(&format!("f{i}.md"), "# F\n\nx\n"))
    });
    assert_eq!(
        upload(many, "full").0,
        StatusCode::BAD_REQUEST,
        "at most 32 files"
    );
    let huge = Form::new().part(
        "file",
        Part::bytes(vec![b'a'; 33 * 1024 * 1024]).file_name("huge.txt"),
    );
    assert_eq!(upload(huge, "full").0, StatusCode::PAYLOAD_TOO_LARGE);
    // None of the refused uploads left anything behind.
    let listed = documents();
    assert_eq!(listed["documents"].as_array().unwrap().len(), 11);
}

#[test]
fn waits_and_answers_are_bounded_in_time() {
    // An answer past --answer-timeout is stopped: 504, or an error event when streaming.
    let server = start_with(&["--answer-timeout", "1"]);
    let question = json!({"question": "What is retrieval-augmented generation?", "max_tokens": 64});
    let (status, body) = post(&server, "/v1/ask", question.clone());
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--answer-timeout"),
        "{body}"
    );
    let mut streamed = question.clone();
    streamed["stream"] = json!(true);
    let text = client()
        .post(format!("{}/v1/ask", server.base))
        .json(&streamed)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let last = events(&text).pop().unwrap();
    assert_eq!(last.0, "error", "{text}");
    assert!(
        last.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--answer-timeout"),
        "{text}"
    );

    // A question waiting longer than --queue-timeout for the only slot gets 503.
    let server = start_with(&[
        "--max-generations",
        "1",
        "--queue",
        "4",
        "--queue-timeout",
        "1",
    ]);
    let ask = |base: String| {
        std::thread::spawn(move || {
            client()
                .post(format!("{base}/v1/ask"))
                .json(&json!({"question": "What is RAG?", "max_tokens": 32}))
                .send()
                .unwrap()
                .status()
        })
    };
    let (first, second) = (ask(server.base.clone()), ask(server.base.clone()));
    let mut statuses = vec![first.join().unwrap(), second.join().unwrap()];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE]
    );
}

/// Clients that send their headers or their body a byte at a time are cut off, and cannot take
/// every connection: a well-behaved client gets its answer once their time is up.
#[test]
fn slow_clients_are_cut_off() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let server = start_with(&[
        "--max-connections",
        "4",
        "--header-timeout",
        "2",
        "--body-timeout",
        "2",
        "--answer-mode",
        "extract",
    ]);
    let host = server.base.trim_start_matches("http://").to_string();
    let connect = || {
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n").as_bytes())
            .unwrap();
        stream
    };
    let started = Instant::now();
    let mut slow: Vec<_> = (0..4).map(|_| connect()).collect();
    // Every connection is taken; this request waits until the slow ones are closed.
    let status = client()
        .get(format!("{}/healthz", server.base))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    for stream in &mut slow {
        let mut rest = Vec::new();
        // The server closes the connection (perhaps after a 408): the read ends instead of timing out.
        stream
            .read_to_end(&mut rest)
            .expect("the server closed a connection whose headers never ended");
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "slow headers held for {:?}",
        started.elapsed()
    );

    // A body that trickles in gets 408, though each byte arrives well within the timeout.
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let head = format!(
        "POST /v1/search HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut response = Vec::new();
    while started.elapsed() < Duration::from_secs(15) {
        if stream.write_all(b" ").is_err() {
            break;
        }
        let mut buffer = [0u8; 1024];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
            Err(_) => {} // nothing yet
        }
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response:?}");
    assert!(response.contains("took longer than 2 s"), "{response:?}");
}

/// SIGTERM while an answer streams: the answer finishes, the process exits cleanly, and the store
/// opens again with everything in it.
#[test]
fn sigterm_lets_in_flight_answers_finish() {
    // A generous grace: on a loaded 2-core machine this answer alone can take over 10 s.
    let mut server = start_with(&["--shutdown-grace", "50"]);
    let base = server.base.clone();
    let in_flight = std::thread::spawn(move || {
        let response = client()
            .post(format!("{base}/v1/ask"))
            .json(&json!({"question": "What is few-shot prompting?", "max_tokens": 24, "stream": true}))
            .send()
            .unwrap();
        (response.status(), response.text().unwrap())
    });
    // Give the request time to reach the server and start (prompt processing takes seconds).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        server.terminate(),
        "docent serve should exit cleanly on SIGTERM"
    );
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, StatusCode::OK);
    let last = events(&body).pop().unwrap();
    assert_eq!(last.0, "done", "the in-flight answer completed: {body}");
    assert!(server.log.lock().unwrap().contains("shutting down"));
    assert_eq!(
        documents(&server.store).len(),
        9,
        "the store opens again, whole"
    );
}

/// An ingest whose client goes away keeps the one-at-a-time lock until its work is done (a
/// second ingest waits, and finds everything already stored); at SIGTERM a running ingest stops
/// at its next file, the process exits, and the store holds only whole documents.
#[test]
fn an_ingest_outlives_its_client_and_stops_at_shutdown() {
    let root = tempfile::tempdir().unwrap();
    let write_files = |from: usize, to: usize| {
        for n in from..to {
            let text = format!(
                "# Note {n}\n\nThe kettle number {n} boils water in {} seconds on stove {}.\n",
                60 + n,
                n % 7
            );
            std::fs::write(root.path().join(format!("note-{n:03}.md")), text).unwrap();
        }
    };
    write_files(0, 400);
    let path = root.path().to_str().unwrap().to_string();
    let mut server = start_with(&[
        "--api-key",
        "full",
        "--allow-ingest-from",
        &path,
        "--answer-mode",
        "extract",
    ]);
    let ingest_with = |timeout: u64| {
        reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(timeout))
            .build()
            .unwrap()
            .post(format!("{}/v1/ingest", server.base))
            .bearer_auth("full")
            .json(&json!({ "path": path }))
            .send()
    };
    assert!(
        ingest_with(1).unwrap_err().is_timeout(),
        "the first client gives up after a second, mid-ingest"
    );
    let report: Value = ingest_with(300).unwrap().json().unwrap();
    assert_eq!(
        (report["added"].as_u64(), report["unchanged"].as_u64()),
        (Some(0), Some(400)),
        "the second ingest ran after the first: {report}"
    );

    write_files(400, 1400);
    assert!(
        ingest_with(2).unwrap_err().is_timeout(),
        "an ingest of 1,000 new files is running"
    );
    assert!(
        server.terminate(),
        "docent serve exits cleanly on SIGTERM during an ingest"
    );
    // The corpus, the first 400, and some of the 1,000: the ingest stopped early.
    let stored = documents(&server.store);
    assert!(
        stored.len() >= 9 + 400 && stored.len() < 9 + 1400,
        "{} documents",
        stored.len()
    );
    assert!(
        stored.iter().all(|(_, _, complete)| *complete),
        "only whole documents: {stored:?}"
    );
}

#[test]
fn the_openapi_description_lists_every_route() {
    let server = start_with(&["--answer-mode", "extract"]);
    let (status, spec) = {
        let response = client()
            .get(format!("{}/openapi.json", server.base))
            .send()
            .unwrap();
        (response.status(), response.json::<Value>().unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("/", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v1/search", "post"),
        ("/v1/ask", "post"),
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/v1/ingest", "post"),
        ("/v1/documents", "get"),
        ("/v1/documents", "post"),
        ("/v1/documents/{id}", "delete"),
    ];
    for (path, method) in routes {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} missing from the description"
        );
    }
    let described: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        described,
        routes.len(),
        "the description has routes this test does not know: {}",
        spec["paths"]
    );
    for schema in [
        "SearchRequest",
        "AskRequest",
        "ChatRequest",
        "IngestRequest",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "no schema {schema}"
        );
    }
    // The filter fields are a schema of their own, flattened in (an allOf).
    let search = &spec["components"]["schemas"]["SearchRequest"];
    let parts = search["allOf"].as_array().cloned().unwrap_or_default();
    let required: Vec<&Value> = std::iter::once(search)
        .chain(parts.iter())
        .filter_map(|part| part["required"].as_array())
        .flatten()
        .collect();
    assert_eq!(required, [&json!("query")], "{search}");
    assert!(
        parts
            .iter()
            .any(|p| p["$ref"] == "#/components/schemas/FilterFields"),
        "{search}"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// `serve --watch` ingests a folder at start and follows real edits while it answers: a new
/// file is found by search, a deleted one is gone, and SIGTERM stops the watch with the server.
#[test]
fn a_watched_folder_is_searchable_as_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let folder = notes_folder(dir.path());
    let mut server = start_with(&["--watch", folder.to_str().unwrap(), "--debounce-ms", "300"]);
    let paths = || -> Vec<String> {
        let listed: Value = client()
            .get(format!("{}/v1/documents", server.base))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let mut paths: Vec<String> = listed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["root"] == "notes")
            .map(|d| d["path"].as_str().unwrap().to_string())
            .collect();
        paths.sort();
        paths
    };
    let wait_for = |expected: &[&str], what: &str| {
        let started = std::time::Instant::now();
        while paths() != expected {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{what}: the store holds {:?}, not {expected:?}",
                paths()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_for(&["tea.md"], "the first sync");
    std::fs::write(
        folder.join("kettle.md"),
        "# Kettles\n\nThe zephyr kettle whistles when the water boils.\n",
    )
    .unwrap();
    wait_for(&["kettle.md", "tea.md"], "a new file");
    let (status, found) = post(
        &server,
        "/v1/search",
        json!({ "query": "Which kettle whistles?", "k": 1 }),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["hits"][0]["path"], "kettle.md", "{found}");
    std::fs::rename(folder.join("tea.md"), folder.join("green-tea.md")).unwrap();
    wait_for(&["green-tea.md", "kettle.md"], "a rename");
    std::fs::remove_file(folder.join("kettle.md")).unwrap();
    wait_for(&["green-tea.md"], "a deletion");
    assert!(server.terminate(), "the server and its watch stop cleanly");
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .contains("docent: watch: 1 added"),
        "{}",
        server.log.lock().unwrap()
    );
}

/// The filter fields of `/v1/search` and `/v1/ask` reach the store: every hit and every source
/// passes them.
#[test]
fn search_and_ask_keep_to_their_filters() {
    let server = start_with(&["--answer-mode", "extract"]);
    let (status, found) = post(
        &server,
        "/v1/search",
        json!({ "query": "How does a model call a tool?", "k": 10, "types": ["html"],
                "modified_after": "2000-01-01" }),
    );
    assert_eq!(status, StatusCode::OK, "{found}");
    let hits = found["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{found}");
    for hit in hits {
        assert!(hit["path"].as_str().unwrap().ends_with(".html"), "{found}");
    }
    let (status, answer) = post(
        &server,
        "/v1/ask",
        json!({ "question": "检索增强生成如何建立索引？", "paths": ["zh/*.md"] }),
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sources = answer["sources"].as_array().unwrap();
    assert!(!sources.is_empty(), "{answer}");
    for source in sources {
        let path = source["path"].as_str().unwrap();
        assert!(path.starts_with("zh/") && path.ends_with(".md"), "{answer}");
    }
}

/// The second attack review's hostile requests, each refused or bounded with the server's
/// memory measured: path globs built to blow up the matcher, with a read-only key, eight at once
/// (a fresh server went from 110 MB to 3.2 GB); an upload of HTML tables that grow with width ×
/// rows (155 KB took 1.8 GB); two parts of one name; names that look alike through invisible
/// characters; a body that is not multipart; the last second of the calendar as a date.
#[test]
fn hostile_requests_are_refused_or_bounded() {
    use reqwest::blocking::multipart::{Form, Part};
    let server = keyed();
    let before = server.peak_rss_mb();

    let globs = vec!["*a".repeat(10_000); 32];
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (base, globs) = (server.base.clone(), globs.clone());
            std::thread::spawn(move || {
                let response = client()
                    .post(format!("{base}/v1/search"))
                    .bearer_auth("reader")
                    .json(&json!({ "query": "kettle", "paths": globs }))
                    .send()
                    .unwrap();
                (response.status(), response.json::<Value>().unwrap())
            })
        })
        .collect();
    for sender in senders {
        let (status, body) = sender.join().unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("the limit is 256"),
            "{body}"
        );
    }
    // An ask is refused before it waits for a slot, without compiling anything.
    let started = std::time::Instant::now();
    let response = client()
        .post(format!("{}/v1/ask", server.base))
        .bearer_auth("reader")
        .json(&json!({ "question": "kettle?", "paths": globs }))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let after_globs = server.peak_rss_mb();
    assert!(
        after_globs < before + 100,
        "peak RSS {before} MB before the globs, {after_globs} MB after"
    );

    let upload = |form: Form| upload(&server, form, "full");
    let part = |name: &str, bytes: Vec<u8>| Part::bytes(bytes).file_name(name.to_string());
    // The review's two tables: one cell 90,000 wide over 1,000 rows (122 KB: 918 MB), and one
    // 1,000 wide over 50 rows (3 KB: 156 chunks in 47.8 s). Its wide cell was 90,000 × `W`,
    // which e5 reads as some 70,000 tokens; no-break spaces make a cell as wide that costs no
    // embedding (the extraction before this fix was stopped after 700 s at 3.8 GB on it).
    let table = |width: usize, rows: usize| {
        format!(
            "<html><body><h1>Table</h1><table><tr><td>wide{}cell</td><td>q</td></tr>{}</table></body></html>",
            "\u{a0}".repeat(width),
            "<tr><td>aI</td><td>b</td></tr>".repeat(rows)
        )
    };
    let (wide, small) = (table(90_000, 1_000), table(1_000, 50));
    let started = std::time::Instant::now();
    let (status, body) = upload(
        Form::new()
            .part("file", part("wide.html", wide.clone().into_bytes()))
            .part("file", part("small.html", small.into_bytes())),
    );
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["added"], 2, "{body}");
    let chunks = body["report"]["chunks_written"].as_u64().unwrap();
    // Chunks for the text the cells hold, not for a grid of padding.
    assert!(
        chunks <= 30,
        "{chunks} chunks from {} KB: {body}",
        wide.len() >> 10
    );
    let after_tables = server.peak_rss_mb();
    eprintln!(
        "peak RSS: {before} MB at start, {after_globs} MB after the glob attacks, {after_tables} MB after the tables (uploaded in {took:.1?}, {chunks} chunks)"
    );
    assert!(
        after_tables < after_globs + 300,
        "peak RSS {after_globs} MB before the tables, {after_tables} MB after ({took:?})"
    );

    let (status, body) = upload(
        Form::new()
            .part("file", part("a/dup.md", b"# A\n\nfirst\n".to_vec()))
            .part("file", part("b/dup.md", b"# B\n\nsecond\n".to_vec())),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two files named dup.md"),
        "{body}"
    );
    for hidden in [
        '\u{200B}',
        '\u{2028}',
        '\u{3164}',
        '\u{FEFF}',
        '\u{E0041}',
        '\u{00AD}',
    ] {
        let (status, body) = upload(Form::new().part(
            "file",
            part(&format!("report{hidden}.md"), b"# R\n\nx\n".to_vec()),
        ));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hidden:?}: {body}");
    }
    let response = client()
        .post(format!("{}/v1/documents", server.base))
        .bearer_auth("full")
        .json(&json!({ "file": "notes.md" }))
        .send()
        .unwrap();
    assert!(response.status().is_client_error());
    let body: Value = response.json().expect("a JSON error, not plain text");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("multipart/form-data"),
        "{body}"
    );
    // Only the two tables were added: the refused uploads left nothing.
    let listed: Value = client()
        .get(format!("{}/v1/documents", server.base))
        .bearer_auth("reader")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        listed["documents"].as_array().unwrap().len(),
        9 + 2,
        "{listed}"
    );

    let (status, found) = {
        let response = client()
            .post(format!("{}/v1/search", server.base))
            .bearer_auth("reader")
            .json(&json!({ "query": "kettle", "modified_after": "9999-12-31T23:59:59Z" }))
            .send()
            .unwrap();
        (response.status(), response.json::<Value>().unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["hits"],
        json!([]),
        "nothing was modified after the end of time"
    );
}

/// The second attack review's shutdown: a big file lands in a watched folder and SIGTERM comes
/// two seconds into its sync, with `--shutdown-grace 2`. The sync stops between slices of the
/// file's embedding (the server took 17.0 s to exit when it embedded a file in one call), and
/// the file is left for the next run, not half stored.
#[test]
fn shutdown_does_not_wait_for_a_watched_files_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let folder = notes_folder(dir.path());
    let mut server = start_with(&[
        "--watch",
        folder.to_str().unwrap(),
        "--debounce-ms",
        "300",
        "--shutdown-grace",
        "2",
    ]);
    let synced = || -> bool {
        get(&server, "/v1/documents")["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"] == "tea.md")
    };
    let started = std::time::Instant::now();
    while !synced() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the first sync"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // About 150 chunks of 300 tokens: most of a minute of embedding on two cores.
    let big: String = (0..150)
        .map(|n| {
            let words: String = (0..220)
                .map(|w| format!("kettle{} ", (n * 220 + w) % 997))
                .collect();
            format!("## Section {n}\n\n{words}\n\n")
        })
        .collect();
    std::fs::write(folder.join("big.md"), big).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let stopping = std::time::Instant::now();
    assert!(server.terminate(), "the server exits cleanly");
    let took = stopping.elapsed();
    eprintln!("exited {took:.1?} after SIGTERM");
    assert!(
        took < std::time::Duration::from_secs(8),
        "exited {took:?} after SIGTERM"
    );
    let stored = documents(&server.store);
    assert!(
        stored
            .iter()
            .all(|(path, _, complete)| path != "big.md" && *complete),
        "the interrupted file is not stored, not even in part: {stored:?}"
    );
}
