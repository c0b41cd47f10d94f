//! `docent_search`, the store as a tool the model calls (agentic RAG): after the question's own
//! search, the model reads the best passages found and decides whether to search again, and for
//! what — up to a few searches per answer. What it searched joins the plan; the answer is then
//! written and checked from the fused hits as any other.
//!
//! The first search is the question's, made for the model and shown to it as its own call: the
//! small local models asked to search first mostly answer from memory instead, and the call in
//! the chat shows them the markup a further one takes.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::answer::tool_calls::{CallSplitter, parse};
use crate::error::Result;
use crate::generate::{Chat, ChatMessage, GenerationParams, Generator, Role, Tool, ToolCall};
use crate::limits::MAX_QUERY_CHARS;
use crate::text::language::Language;
use crate::text::tokens::content_tokens;
use crate::types::Hit;

/// The tool's name, as the model calls it.
pub const NAME: &str = "docent_search";

/// Searches the model may add to the question's own, at most.
pub const MAX_SEARCHES: usize = 3;

/// Tokens the model may write per decision: a call with its query.
const DECISION_TOKENS: usize = 48;

/// Wall-clock time per decision; past it, no further search.
const DECISION_TIME: Duration = Duration::from_secs(6);

/// Passages shown to the model per search, and characters of each.
const SHOWN_HITS: usize = 3;
const SHOWN_CHARS: usize = 240;

const SYSTEM_EN: &str = "You look for the passages of the user's documents that answer the user's \
question. docent_search has been run on the question; its best passages follow. If they do not \
answer the question, call docent_search again with other words: the terms a document on the \
topic would use. If they answer it, reply DONE.";

const SYSTEM_ZH: &str = "你负责在用户的文档中查找能回答问题的段落。已经用 docent_search 搜索了这个问题，\
下面是找到的最佳段落。如果它们没有回答问题，就换一种说法再调用 docent_search：用相关文档会用的词，\
或者用英文。如果它们回答了问题，就回复 DONE。";

/// `docent_search` as the model is offered it.
pub fn tool() -> Tool {
    Tool {
        name: NAME.into(),
        description: "Search the user's documents. Returns the best passages for the query, \
            each with its file."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "description": "What to search for, in words the documents would use" }
            },
            "required": ["query"],
        }),
    }
}

/// The further queries the model searches for `question` (whose own search, for `first`, found
/// `hits`), each run through `search` and its passages shown to the model before it decides
/// again; at most `searches`. A model that fails, stalls or answers instead ends the search.
pub(crate) fn further_queries(
    generator: &dyn Generator,
    question: &str,
    first: &str,
    hits: &[Hit],
    searches: usize,
    search: &mut dyn FnMut(&str) -> Result<Vec<Hit>>,
) -> Result<Vec<String>> {
    let system = match Language::detect(question) {
        Language::English => SYSTEM_EN,
        Language::Chinese => SYSTEM_ZH,
    };
    let tools = [tool()];
    let mut chat = vec![
        ChatMessage::new(Role::System, system),
        ChatMessage::new(Role::User, question.trim()),
    ];
    let mut searched = vec![first.trim().to_string()];
    let mut found = hits.to_vec();
    let mut queries = Vec::new();
    for _ in 0..searches.min(MAX_SEARCHES) {
        chat.push(call(searched.last().expect("one search at least")));
        chat.push(ChatMessage::new(Role::Tool, shown(&found)));
        let Some(query) = decide(generator, &chat, &tools) else {
            break;
        };
        if searched.iter().any(|q| q.eq_ignore_ascii_case(&query)) {
            break;
        }
        found = search(&query)?;
        searched.push(query.clone());
        queries.push(query);
    }
    Ok(queries)
}

/// The model's call of `docent_search` for `query`.
fn call(query: &str) -> ChatMessage {
    ChatMessage::calling(
        "",
        vec![ToolCall {
            name: NAME.into(),
            arguments: json!({ "query": query }),
        }],
    )
}

/// The passages of a search as the model reads them: the best few, each cut short.
fn shown(hits: &[Hit]) -> String {
    if hits.is_empty() {
        return "No passage found.".into();
    }
    hits.iter()
        .take(SHOWN_HITS)
        .enumerate()
        .map(|(i, hit)| {
            let text: String = hit.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let cut: String = text.chars().take(SHOWN_CHARS).collect();
            format!("[{}] {}: {cut}", i + 1, hit.path)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The query of the model's next `docent_search` call, or `None` when it calls none (it is
/// done, answered, failed, or ran out of time or tokens).
fn decide(generator: &dyn Generator, chat: &[ChatMessage], tools: &[Tool]) -> Option<String> {
    let params = GenerationParams {
        max_tokens: DECISION_TOKENS,
        deadline: Some(Instant::now() + DECISION_TIME),
        ..Default::default()
    };
    let mut splitter = CallSplitter::new("");
    let outcome = generator.generate(
        Chat {
            messages: chat,
            tools,
            reply_start: "",
        },
        &params,
        &mut |piece| {
            // Text before a call is the model answering: it is done searching.
            if splitter.push(piece).trim().is_empty() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        },
    );
    if let Err(e) = outcome {
        tracing::warn!("docent_search: the model failed ({e:#}); no further search");
        return None;
    }
    let (_, markup) = splitter.finish();
    let calls = parse(&markup).ok()?;
    let query = calls
        .iter()
        .find(|c| c.name == NAME)?
        .arguments
        .get("query")
        .and_then(Value::as_str)?
        .trim()
        .to_string();
    // A query of no content words ("No.", "?") finds nothing the question's search did not.
    let searchable = !content_tokens(&query).is_empty() && query.chars().count() <= MAX_QUERY_CHARS;
    searchable.then_some(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedGenerator;

    fn hit(path: &str, text: &str) -> Hit {
        Hit {
            score: 1.0,
            path: path.into(),
            doc_id: path.into(),
            chunk: 0,
            start_line: 1,
            end_line: 1,
            headings: Vec::new(),
            text: text.into(),
            pages: None,
        }
    }

    const CALL: &str = "<tool_call>\n{\"name\": \"docent_search\", \"arguments\": {\"query\": \"kettle boiling time\"}}\n</tool_call>";

    /// The model reads what the question found, searches again, sees that search's passages,
    /// and stops when it says so.
    #[test]
    fn the_model_searches_again_until_it_is_done() {
        let generator = ScriptedGenerator::replies(&[CALL, "DONE"]);
        let mut asked = Vec::new();
        let queries = further_queries(
            &generator,
            "How long does it take?",
            "How long does it take?",
            &[hit("tea.md", "Green tea is brewed at 70 degrees.")],
            MAX_SEARCHES,
            &mut |q| {
                asked.push(q.to_string());
                Ok(vec![hit(
                    "kettle.md",
                    "The kettle boils a litre in four minutes.",
                )])
            },
        )
        .unwrap();
        assert_eq!(queries, ["kettle boiling time"]);
        assert_eq!(asked, queries);
        assert_eq!(generator.asked(), 2);
        let (chat, tools, start) = generator.last_chat();
        assert_eq!((tools, start.as_str()), (vec![tool()], ""));
        // The question's search, shown as the model's call, then the model's own.
        let roles: Vec<Role> = chat.iter().map(|m| m.role).collect();
        use Role::*;
        assert_eq!(roles, [System, User, Assistant, Tool, Assistant, Tool]);
        assert_eq!(
            chat[2].tool_calls[0].arguments["query"],
            "How long does it take?"
        );
        assert!(
            chat[3].content.starts_with("[1] tea.md: Green tea"),
            "{}",
            chat[3].content
        );
        assert!(chat[5].content.contains("kettle.md: The kettle boils"));
    }

    /// Searches are bounded, a repeated query ends them, and a model that answers instead of
    /// calling searches nothing more.
    #[test]
    fn searches_are_bounded_and_end_when_the_model_answers() {
        let mut count = 0;
        let mut search = |_: &str| {
            count += 1;
            Ok(Vec::new())
        };
        let repeated = ScriptedGenerator::new(CALL);
        let queries = further_queries(&repeated, "Q?", "first", &[], 10, &mut search).unwrap();
        assert_eq!(
            queries.len(),
            1,
            "the same query twice is not searched twice"
        );

        let empty = ScriptedGenerator::new(
            "<tool_call>{\"name\": \"docent_search\", \"arguments\": {\"query\": \"No.\"}}</tool_call>",
        );
        assert!(
            further_queries(&empty, "Q?", "Q?", &[], 3, &mut search)
                .unwrap()
                .is_empty()
        );
        let answering = ScriptedGenerator::new("The kettle boils in four minutes.");
        assert!(
            further_queries(&answering, "Q?", "Q?", &[], 3, &mut search)
                .unwrap()
                .is_empty()
        );
        let other_tool = ScriptedGenerator::new(
            "<tool_call>{\"name\": \"weather\", \"arguments\": {\"query\": \"x\"}}</tool_call>",
        );
        assert!(
            further_queries(&other_tool, "Q?", "Q?", &[], 3, &mut search)
                .unwrap()
                .is_empty()
        );
        assert_eq!(count, 1);

        let many = |n: usize| {
            format!(
                "<tool_call>{{\"name\": \"docent_search\", \"arguments\": {{\"query\": \"q{n}\"}}}}</tool_call>"
            )
        };
        let replies: Vec<String> = (0..10).map(many).collect();
        let refs: Vec<&str> = replies.iter().map(String::as_str).collect();
        let eager = ScriptedGenerator::replies(&refs);
        let queries =
            further_queries(&eager, "Q?", "Q?", &[], 10, &mut |_| Ok(Vec::new())).unwrap();
        assert_eq!(queries, ["q0", "q1", "q2"]);
    }
}
