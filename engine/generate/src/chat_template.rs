//! Renders a chat with the Jinja template the model ships in its GGUF metadata, so each model
//! gets the exact markup it was trained on — tools offered and calls made included, for a
//! template that has them.

use anyhow::{Result, anyhow};
use minijinja::{Environment, Error, ErrorKind, Value, context};
use serde::Serialize;

use docent_core::{ChatMessage, Tool};

/// A GGUF's Jinja chat template, rendered with minijinja.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Whether the template offers tools and writes calls as `<tool_call>` JSON (Qwen, Hermes).
    calls_tools: bool,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles the template `source`, with the model's BOS and EOS tokens.
    pub fn new(source: String, bos_token: String, eos_token: String) -> Result<Self> {
        let mut env = Environment::new();
        // Hugging Face templates are written against Python's Jinja: `.strip()`, `.items()`, ...
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        // As Hugging Face's `tojson`, which the models saw in training: Python's `json.dumps`
        // (", " and ": " between items, non-ASCII as is).
        env.add_filter("tojson", |value: Value| -> Result<Value, Error> {
            python_json(&value)
                .map(Value::from_safe_string)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
        });
        let calls_tools = source.contains("<tool_call>") && source.contains("tools");
        env.add_template_owned("chat", source)
            .map_err(|e| anyhow!("the model's chat template: {e}"))?;
        Ok(ChatTemplate {
            env,
            calls_tools,
            bos_token,
            eos_token,
        })
    }

    /// Whether the template offers tools and writes the model's calls as `<tool_call>` JSON.
    pub fn calls_tools(&self) -> bool {
        self.calls_tools
    }

    /// The prompt text for `messages` (with `tools` offered), ending where the assistant's
    /// reply begins.
    pub fn render(&self, messages: &[ChatMessage], tools: &[Tool]) -> Result<String> {
        self.render_with(messages, tools, true)
    }

    /// The text of `messages` (with `tools` offered) as the start of a longer chat: no reply
    /// begun after them.
    pub fn render_opening(&self, messages: &[ChatMessage], tools: &[Tool]) -> Result<String> {
        self.render_with(messages, tools, false)
    }

    fn render_with(
        &self,
        messages: &[ChatMessage],
        tools: &[Tool],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.env.get_template("chat")?;
        // Offered as Hugging Face's templates expect them: OpenAI's `{"type": "function", …}`.
        let tools: Option<Vec<OfferedTool>> = (!tools.is_empty()).then(|| {
            tools
                .iter()
                .map(|function| OfferedTool {
                    kind: "function",
                    function,
                })
                .collect()
        });
        template
            .render(context! {
                messages => messages,
                tools => tools,
                add_generation_prompt => add_generation_prompt,
                // Reasoning models' templates (Qwen3) answer without thinking when asked.
                enable_thinking => false,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| anyhow!("rendering the chat template: {e}"))
    }
}

#[derive(Serialize)]
struct OfferedTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a Tool,
}

/// `value` as Python's `json.dumps` writes it.
fn python_json(value: &Value) -> serde_json::Result<String> {
    struct Python;
    /// Between two items of an array or an object.
    fn separate<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    impl serde_json::ser::Formatter for Python {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            separate(writer, first)
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            separate(writer, first)
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
        ) -> std::io::Result<()> {
            writer.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, Python,
    ))?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_core::Role;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + \
        message['content'].strip() + '<|im_end|>' + '\n'}}{% endfor %}\
        {% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml_with_generation_prompt() {
        let template =
            ChatTemplate::new(CHATML.into(), String::new(), "<|im_end|>".into()).unwrap();
        let out = template
            .render(
                &[
                    ChatMessage::new(Role::System, "Be brief. "),
                    ChatMessage::new(Role::User, "Hi"),
                ],
                &[],
            )
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    /// Qwen3's template writes an empty thinking block when thinking is turned off, so the
    /// model answers at once.
    #[test]
    fn reasoning_templates_are_asked_not_to_think() {
        let qwen3_ending = format!(
            "{CHATML}{{%- if enable_thinking is defined and enable_thinking is false %}}\
             {{{{- '<think>\n\n</think>\n\n' }}}}{{%- endif %}}"
        );
        let template = ChatTemplate::new(qwen3_ending, String::new(), String::new()).unwrap();
        let out = template
            .render(&[ChatMessage::new(Role::User, "Hi")], &[])
            .unwrap();
        assert!(
            out.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
            "{out:?}"
        );
    }

    #[test]
    fn template_errors_surface() {
        let template = ChatTemplate::new(
            "{{ raise_exception('no system role') }}".into(),
            String::new(),
            String::new(),
        )
        .unwrap();
        let err = template.render(&[], &[]).unwrap_err().to_string();
        assert!(err.contains("no system role"), "{err}");
    }
}
