//! Renders a chat with the Jinja template the model ships in its GGUF metadata, so each model
//! gets the exact markup it was trained on.

use anyhow::{Result, anyhow};
use minijinja::{Environment, Error, ErrorKind, context};

use docent_core::ChatMessage;

/// A GGUF's Jinja chat template, rendered with minijinja.
pub struct ChatTemplate {
    env: Environment<'static>,
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
        env.add_template_owned("chat", source)
            .map_err(|e| anyhow!("the model's chat template: {e}"))?;
        Ok(ChatTemplate {
            env,
            bos_token,
            eos_token,
        })
    }

    /// The prompt text for `messages`, ending where the assistant's reply begins.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        self.render_with(messages, true)
    }

    /// The text of `messages` as the start of a longer chat: no reply begun after them.
    pub fn render_opening(&self, messages: &[ChatMessage]) -> Result<String> {
        self.render_with(messages, false)
    }

    fn render_with(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template("chat")?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                // Reasoning models' templates (Qwen3) answer without thinking when asked.
                enable_thinking => false,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| anyhow!("rendering the chat template: {e}"))
    }
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
            .render(&[
                ChatMessage::new(Role::System, "Be brief. "),
                ChatMessage::new(Role::User, "Hi"),
            ])
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
            .render(&[ChatMessage::new(Role::User, "Hi")])
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
        let err = template.render(&[]).unwrap_err().to_string();
        assert!(err.contains("no system role"), "{err}");
    }
}
