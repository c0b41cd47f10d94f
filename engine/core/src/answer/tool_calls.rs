//! Function calling: the tools a caller offers the model, the calls the model writes back, and
//! their results read into the answer as sources of their own.
//!
//! The models docent runs write a call as `<tool_call>{"name": …, "arguments": {…}}</tool_call>`
//! (Qwen2.5's and Qwen3's templates, the Hermes format); [`CallSplitter`] keeps that markup out
//! of the answer's text as it streams, and [`parse`] reads it. A call the caller insists on
//! ([`ToolChoice::Required`], [`ToolChoice::Function`]) is begun for the model
//! ([`ToolChoice::reply_start`]): a small model asked politely mostly answers instead.

use serde_json::Value;

use crate::answer::evidence::Evidence;
use crate::error::Error;
use crate::generate::{ChatMessage, Role, Tool, ToolCall};

/// Where a call begins and ends in the model's text.
const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";
/// A Markdown code fence, which a small model may put its call in instead.
const FENCE: &str = "```";

/// Whether the model must call a tool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model answers or calls, as it sees fit.
    #[default]
    Auto,
    /// The model calls one of the tools.
    Required,
    /// The model calls this tool.
    Function(String),
}

impl ToolChoice {
    /// The reply's first words, written for the model, so that it calls what it must.
    pub fn reply_start(&self) -> String {
        match self {
            ToolChoice::Auto => String::new(),
            ToolChoice::Required => format!("{OPEN}\n{{\"name\": \""),
            ToolChoice::Function(name) => {
                format!(
                    "{OPEN}\n{{\"name\": {}, \"arguments\": ",
                    Value::from(name.as_str())
                )
            }
        }
    }
}

/// Tools offered for one answer, and what has happened since the question: the model's calls
/// and their results, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolUse {
    /// The tools the model may call.
    pub tools: Vec<Tool>,
    /// Whether it must.
    pub choice: ToolChoice,
    /// After the question: assistant messages with their calls, and `Role::Tool` messages with
    /// the results, a call's result after it.
    pub turns: Vec<ChatMessage>,
}

impl ToolUse {
    /// Whether the choice fits the tools: a call it insists on needs tools, and the function
    /// it names must be among them.
    pub fn check(&self) -> Result<(), Error> {
        if let ToolChoice::Function(name) = &self.choice
            && !self.tools.iter().any(|t| &t.name == name)
        {
            return Err(Error::InvalidInput(format!(
                "tool_choice names {name}, which is not among the tools offered"
            )));
        }
        if self.choice != ToolChoice::Auto && self.tools.is_empty() {
            return Err(Error::InvalidInput(
                "tool_choice asks for a call, and no tools are offered".into(),
            ));
        }
        Ok(())
    }

    /// The tool results as sources, numbered from 1 in the order they came; each one's path
    /// names the tool (`tool:get_weather`), found by its place among the calls before it.
    pub(crate) fn results(&self) -> Vec<Evidence> {
        let mut calls: Vec<&str> = Vec::new();
        let mut results = Vec::new();
        for turn in &self.turns {
            match turn.role {
                Role::Assistant => {
                    calls = turn.tool_calls.iter().map(|c| c.name.as_str()).collect()
                }
                Role::Tool => {
                    let name = if calls.is_empty() {
                        "result"
                    } else {
                        calls.remove(0)
                    };
                    results.push(Evidence::from_tool(results.len() + 1, name, &turn.content));
                }
                _ => {}
            }
        }
        results
    }

    /// The turns as the model reads them: each result opens with its source number, so that
    /// the answer can cite it as `[n]`.
    pub(crate) fn numbered_turns(&self) -> Vec<ChatMessage> {
        let mut n = 0;
        self.turns
            .iter()
            .map(|turn| {
                let mut turn = turn.clone();
                if turn.role == Role::Tool {
                    n += 1;
                    turn.content = format!("[{n}] {}", turn.content.trim());
                }
                turn
            })
            .collect()
    }
}

/// Separates, as the model's text streams in, the answer from a call: text before a call's
/// markup passes on at once (after the first few characters, held until they cannot be its
/// start), the markup from there on is kept for [`parse`]. A reply that opens with `{` or a
/// code fence is held whole: Qwen2.5-0.5B often writes its call as bare JSON, or fenced, without
/// the tags.
#[derive(Debug, Default)]
pub(crate) struct CallSplitter {
    /// Text held back while it may still be the start of a call.
    held: String,
    /// The markup of the calls, from their opening tag.
    calls: String,
    /// Whether text has been passed on (the reply is not a bare call).
    passing: bool,
    /// Whether the reply opened with `{` or a fence: a call without its tags, perhaps.
    bare: bool,
}

impl CallSplitter {
    /// A splitter for a reply that begins with `reply_start` (written for the model).
    pub(crate) fn new(reply_start: &str) -> Self {
        CallSplitter {
            calls: reply_start.to_string(),
            ..Default::default()
        }
    }

    /// The part of `piece` that is answer text, to pass on now.
    pub(crate) fn push(&mut self, piece: &str) -> String {
        if !self.calls.is_empty() {
            self.calls.push_str(piece);
            return String::new();
        }
        self.held.push_str(piece);
        if let Some(at) = self.held.find(OPEN) {
            self.calls = self.held.split_off(at);
            return std::mem::take(&mut self.held);
        }
        let start = self.held.trim_start();
        self.bare |= !self.passing && (start.starts_with('{') || start.starts_with(FENCE));
        let may_open = OPEN.starts_with(start) || FENCE.starts_with(start);
        if self.bare || (!self.passing && may_open) {
            return String::new();
        }
        self.passing = true;
        // A tag split across pieces: keep back what could begin one.
        let keep = (1..OPEN.len())
            .rev()
            .find(|&n| self.held.ends_with(&OPEN[..n]))
            .unwrap_or(0);
        let pass = self.held.len() - keep;
        let rest = self.held.split_off(pass);
        std::mem::replace(&mut self.held, rest)
    }

    /// What was held back, as text, and the calls' markup (empty when the model called none).
    pub(crate) fn finish(self) -> (String, String) {
        if self.bare && self.calls.is_empty() {
            let json = self.held.trim();
            let json = json
                .strip_prefix(FENCE)
                .map(|fenced| fenced.trim_start_matches("json").trim_end_matches(FENCE))
                .unwrap_or(json);
            // The first JSON value only: a small model may go on with another after it.
            let first = serde_json::Deserializer::from_str(json.trim())
                .into_iter::<Value>()
                .next()
                .and_then(|value| value.ok());
            if let Some(first) = first {
                let tagged = format!("{OPEN}{first}{CLOSE}");
                if parse(&tagged).is_ok() {
                    return (String::new(), tagged);
                }
            }
        }
        (self.held, self.calls)
    }
}

/// The calls in `markup` (one or more `<tool_call>{…}</tool_call>`; the last may lack its end
/// tag, cut by the end of the reply), or why they cannot be read.
pub fn parse(markup: &str) -> Result<Vec<ToolCall>, String> {
    let mut calls = Vec::new();
    for part in markup.split(OPEN).skip(1) {
        let body = part.split(CLOSE).next().unwrap_or_default().trim();
        let call: Value = serde_json::from_str(body)
            .map_err(|e| format!("the model wrote a tool call that is not JSON ({e}): {body}"))?;
        let name = call
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the model's tool call names no function: {body}"))?;
        let arguments = match call.get("arguments") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            // Some models write the arguments as a JSON string, as OpenAI's API carries them.
            Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
                format!("the arguments of the model's call to {name} are not JSON ({e})")
            })?,
            Some(value) => value.clone(),
        };
        if !arguments.is_object() {
            return Err(format!(
                "the arguments of the model's call to {name} are not an object"
            ));
        }
        calls.push(ToolCall {
            name: name.to_string(),
            arguments,
        });
    }
    if calls.is_empty() {
        return Err("the model began a tool call and wrote none".into());
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(pieces: &[&str], reply_start: &str) -> (String, String) {
        let mut splitter = CallSplitter::new(reply_start);
        let mut text: String = pieces.iter().map(|p| splitter.push(p)).collect();
        let (rest, calls) = splitter.finish();
        text.push_str(&rest);
        (text, calls)
    }

    #[test]
    fn text_passes_and_a_call_is_kept_apart() {
        let (text, calls) = split(&["APT installs ", "packages [1]."], "");
        assert_eq!(
            (text.as_str(), calls.as_str()),
            ("APT installs packages [1].", "")
        );

        // A bare call, its opening tag split across pieces, nothing shown.
        let (text, calls) = split(
            &[
                "\n<tool",
                "_call>\n{\"name\": \"f\", ",
                "\"arguments\": {}}\n</tool_call>",
            ],
            "",
        );
        assert_eq!(text, "\n");
        assert_eq!(
            parse(&calls).unwrap(),
            vec![ToolCall {
                name: "f".into(),
                arguments: json!({})
            }]
        );

        // Text, then a call.
        let (text, calls) = split(
            &[
                "Let me look. <",
                "tool_call>{\"name\": \"g\", \"arguments\": {\"q\": 1}}",
            ],
            "",
        );
        assert_eq!(text, "Let me look. ");
        assert_eq!(parse(&calls).unwrap()[0].arguments, json!({"q": 1}));

        // A "<" that begins no call is shown after all.
        let (text, calls) = split(&["<b>", " is bold."], "");
        assert_eq!((text.as_str(), calls.as_str()), ("<b> is bold.", ""));

        // A call without its tags is a call (what follows it is not); other JSON is text,
        // shown once whole.
        let (text, calls) = split(&["{\"name\": \"f\", \"arguments\": {}}\n{\"sky\": 1}"], "");
        assert_eq!((text.as_str(), parse(&calls).unwrap().len()), ("", 1));
        let (text, calls) = split(&[" {\"name\": \"f\",", " \"arguments\": {\"x\": 2}}"], "");
        assert_eq!(text, "");
        assert_eq!(parse(&calls).unwrap()[0].arguments, json!({"x": 2}));
        let (text, calls) = split(&["{\"a\": 1}", " is JSON."], "");
        assert_eq!((text.as_str(), calls.as_str()), ("{\"a\": 1} is JSON.", ""));
        let (text, calls) = split(
            &["``", "`json\n{\"name\": \"f\", \"arguments\": {}}\n``", "`"],
            "",
        );
        assert_eq!(
            (text.as_str(), parse(&calls).unwrap()[0].name.as_str()),
            ("", "f")
        );
        let (text, _) = split(&["```sh\napt update\n```", " updates the lists."], "");
        assert_eq!(text, "```sh\napt update\n``` updates the lists.");
    }

    #[test]
    fn a_forced_call_is_read_with_the_words_written_for_the_model() {
        let start = ToolChoice::Function("get_weather".into()).reply_start();
        let (text, calls) = split(&["{\"city\": \"Paris\"}}\n</tool_call>"], &start);
        assert_eq!(text, "");
        assert_eq!(
            parse(&calls).unwrap(),
            vec![ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"})
            }]
        );
        let start = ToolChoice::Required.reply_start();
        let (_, calls) = split(&["lookup\", \"arguments\": \"{\\\"id\\\": 7}\"}"], &start);
        assert_eq!(parse(&calls).unwrap()[0].arguments, json!({"id": 7}));
    }

    #[test]
    fn broken_calls_say_what_is_wrong() {
        for (markup, says) in [
            ("<tool_call>{\"name\": \"f\", \"arguments\": {", "not JSON"),
            (
                "<tool_call>{\"arguments\": {}}</tool_call>",
                "names no function",
            ),
            (
                "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>",
                "not an object",
            ),
            ("<tool_call></tool_call>", "not JSON"),
        ] {
            let err = parse(markup).unwrap_err();
            assert!(err.contains(says), "{markup}: {err}");
        }
    }

    #[test]
    fn results_are_sources_named_for_their_calls() {
        let call = |name: &str| ToolCall {
            name: name.into(),
            arguments: json!({}),
        };
        let use_ = ToolUse {
            turns: vec![
                ChatMessage::calling("", vec![call("weather"), call("time")]),
                ChatMessage::new(Role::Tool, "Sunny, 21 °C."),
                ChatMessage::new(Role::Tool, " 14:05 "),
            ],
            ..Default::default()
        };
        let results = use_.results();
        let named: Vec<(usize, &str, &str)> = results
            .iter()
            .map(|e| (e.n, e.path.as_str(), e.text.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (1, "tool:weather", "Sunny, 21 °C."),
                (2, "tool:time", "14:05")
            ]
        );
        let turns = use_.numbered_turns();
        assert_eq!(turns[1].content, "[1] Sunny, 21 °C.");
        assert_eq!(turns[2].content, "[2] 14:05");
        assert_eq!(turns[0].tool_calls.len(), 2);
    }
}
