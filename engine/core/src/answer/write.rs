//! The generator writes the answer: the prompt fitted to its context, then either its text as
//! written (`generate`: citations to no source removed, sentences judged afterwards for the
//! record) or each finished sentence judged as it streams, the supported ones shown (`auto`).

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::Result;

use crate::answer::citations::CitationFilter;
use crate::answer::evidence::Evidence;
use crate::answer::stream::SentenceStream;
use crate::answer::tool_calls::{self, CallSplitter, ToolUse};
use crate::answer::verify::{SentenceCheck, SentenceJudge, Verdict, Verifier};
use crate::answer::{AnswerMode, Timings, prompt, render};
use crate::generate::{Chat, GenerationParams, Generator, ToolCall};
use crate::text::language::Language;
use crate::text::sentences;

/// In `auto`, generation stops after this many drifting sentences in a row: every further
/// token costs time, and what follows a drift is rarely back on its sources.
const MAX_DRIFT_IN_A_ROW: usize = 2;

/// What the generator produced.
pub(crate) enum Written {
    /// `generate`: the text as written, its sentences judged for the record (all shown).
    Raw(String, Vec<SentenceCheck>),
    /// `auto`: the judged sentences, the supported ones shown.
    Checked(Vec<SentenceCheck>),
    /// The model called tools instead of answering (after the text shown, if any).
    Calls(String, Vec<ToolCall>),
}

/// One answer's writing: the generator, the verifier that judges it, and how.
pub(crate) struct Writer<'a> {
    pub generator: &'a dyn Generator,
    pub verifier: &'a dyn Verifier,
    pub params: &'a GenerationParams,
    /// `Generate` or `Auto` (`Extract` never writes).
    pub mode: AnswerMode,
    /// Tools the model may call, and the calls and results since the question.
    pub tools: Option<&'a ToolUse>,
}

impl Writer<'_> {
    /// Writes the answer to `question` from `sources`, the weakest of which are dropped until
    /// prompt and answer fit the model's context; streams what is shown to `on_text`. Where
    /// tools are offered, a reply that calls them ends as [`Written::Calls`].
    pub(crate) fn write(
        &self,
        question: &str,
        language: Language,
        sources: &mut Vec<Evidence>,
        timings: &mut Timings,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Written> {
        let budget = self
            .generator
            .context_length()
            .saturating_sub(self.params.max_tokens);
        let turns = self.tools.map(ToolUse::numbered_turns).unwrap_or_default();
        let reply_start = self
            .tools
            .map(|t| t.choice.reply_start())
            .unwrap_or_default();
        let tools = self.tools.map_or(&[][..], |t| &t.tools);
        let reply_start = reply_start.as_str();
        let offers = !tools.is_empty();
        let messages = prompt::fit(
            question,
            sources,
            language,
            &turns,
            offers,
            budget,
            &|messages| {
                self.generator.count_tokens(Chat {
                    messages,
                    tools,
                    reply_start,
                })
            },
        )?;
        let judge = self.verifier.prepare(question, sources, language)?;
        // Without tools every piece is answer text; with them, a call's markup is kept apart.
        let mut calls = CallSplitter::new(reply_start);
        let mut generate = |on_piece: &mut dyn FnMut(&str) -> ControlFlow<()>| {
            let chat = Chat {
                messages: &messages,
                tools,
                reply_start,
            };
            self.generator.generate(chat, self.params, &mut |piece| {
                let text: Cow<str> = if self.tools.is_some() {
                    calls.push(piece).into()
                } else {
                    piece.into()
                };
                if text.is_empty() {
                    ControlFlow::Continue(())
                } else {
                    on_piece(&text)
                }
            })
        };
        if self.mode == AnswerMode::Generate {
            let mut filter = CitationFilter::new(sources.len());
            let mut text = String::new();
            let mut show = |piece: &str| {
                let shown = filter.push(piece);
                text.push_str(&shown);
                if shown.is_empty() {
                    ControlFlow::Continue(())
                } else {
                    on_text(&shown)
                }
            };
            timings.generation = generate(&mut show)?;
            let (held, markup) = calls.finish();
            let _ = show(&held);
            let rest = filter.finish();
            text.push_str(&rest);
            if !rest.is_empty() {
                let _ = on_text(&rest);
            }
            if let Some(called) = read_calls(&markup, self.tools) {
                return Ok(Written::Calls(text.trim().to_string(), called));
            }
            let started = Instant::now();
            let checks = judge_all(judge.as_ref(), &text)?;
            timings.check_ms = elapsed_ms(started);
            return Ok(Written::Raw(text.trim().to_string(), checks));
        }
        let mut stream = SentenceStream::default();
        let mut checked = Checked::new(judge.as_ref());
        let mut stopped = false;
        timings.generation = generate(&mut |piece| {
            let flow = checked.take(stream.push(piece), on_text);
            stopped = flow.is_break();
            flow
        })?;
        let (held, markup) = calls.finish();
        // What is left is judged only when the model finished by itself: after a drift, a
        // language mismatch or a client gone, nothing more is shown.
        if !stopped {
            let _ = checked.take(stream.push(&held), on_text);
            let _ = checked.take(stream.finish(), on_text);
        }
        timings.check_ms = checked.check_ms;
        let checks = checked.finish()?;
        match read_calls(&markup, self.tools) {
            Some(called) => Ok(Written::Calls(render(&checks), called)),
            None => Ok(Written::Checked(checks)),
        }
    }
}

/// The calls of offered tools in `markup`, if it holds any that can be read (markup that
/// cannot, calls of tools never offered, and a call made before with the same arguments —
/// a small model given a result often calls again instead of answering — are logged and
/// dropped: the reply is then an answer like any other, or none).
fn read_calls(markup: &str, tools: Option<&ToolUse>) -> Option<Vec<ToolCall>> {
    let tools = tools?;
    if markup.is_empty() {
        return None;
    }
    let mut calls = tool_calls::parse(markup)
        .map_err(|why| tracing::warn!("{why}; the reply is read as an answer"))
        .ok()?;
    let made_before: Vec<&ToolCall> = tools.turns.iter().flat_map(|t| &t.tool_calls).collect();
    calls.retain(|call| {
        let known = tools.tools.iter().any(|t| t.name == call.name);
        let again = made_before.contains(&call);
        if !known || again {
            tracing::warn!(
                "the model called {} {}; dropped",
                call.name,
                if again {
                    "again with the same arguments"
                } else {
                    "which was not offered"
                }
            );
        }
        known && !again
    });
    (!calls.is_empty()).then_some(calls)
}

/// Every sentence of `text`, judged and shown (`generate` shows what the model wrote).
fn judge_all(judge: &dyn SentenceJudge, text: &str) -> Result<Vec<SentenceCheck>> {
    let mut stream = SentenceStream::default();
    let mut sentences = stream.push(text);
    sentences.extend(stream.finish());
    let mut checks: Vec<SentenceCheck> = Vec::with_capacity(sentences.len());
    for sentence in &sentences {
        let check = judge.judge(sentence, checks.last())?;
        checks.push(SentenceCheck {
            kept: true,
            ..check
        });
    }
    Ok(checks)
}

/// `auto`'s judged stream: each finished sentence judged, the supported ones shown at once.
struct Checked<'a> {
    judge: &'a dyn SentenceJudge,
    checked: Vec<SentenceCheck>,
    /// The text shown so far.
    shown: String,
    /// Drifting sentences in a row.
    drift: usize,
    /// The supported sentence last judged, when it announces the next one ("To remove it,
    /// run:"): shown with that one, or not at all.
    held: Option<usize>,
    check_ms: f64,
    /// A failure of the judge, which ended generation; reported by [`Checked::finish`].
    failure: Option<anyhow::Error>,
}

impl<'a> Checked<'a> {
    fn new(judge: &'a dyn SentenceJudge) -> Self {
        Checked {
            judge,
            checked: Vec::new(),
            shown: String::new(),
            drift: 0,
            held: None,
            check_ms: 0.0,
            failure: None,
        }
    }

    /// Judges `sentences`, streaming the supported ones to `on_text`; `Break` once the answer
    /// should end (a drift, the wrong language before anything was shown, a client gone, or a
    /// failure).
    fn take(
        &mut self,
        sentences: Vec<String>,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for sentence in sentences {
            let started = Instant::now();
            let mut check = match self.judge.judge(&sentence, self.checked.last()) {
                Ok(check) => check,
                Err(err) => {
                    self.failure = Some(err);
                    return ControlFlow::Break(());
                }
            };
            self.check_ms += elapsed_ms(started);
            check.kept = check.verdict == Verdict::Supported;
            if check.kept {
                let before = self.shown.len();
                if let Some(held) = self.held.take() {
                    sentences::join(&mut self.shown, &self.checked[held].cited_text());
                }
                if sentences::announces(&check.text) {
                    self.held = Some(self.checked.len());
                } else {
                    sentences::join(&mut self.shown, &check.cited_text());
                }
                if self.shown.len() > before && on_text(&self.shown[before..]).is_break() {
                    self.checked.push(check);
                    self.drop_held();
                    return ControlFlow::Break(());
                }
            } else if check.verdict != Verdict::StatesNothing {
                // What states nothing (a code fence's "```") is no continuation, and no drop.
                self.drop_held();
            }
            self.drift = if check.verdict.drifts() {
                self.drift + 1
            } else {
                0
            };
            let verdict = check.verdict;
            self.checked.push(check);
            // An answer in another language than the question's is not going to be shown,
            // and a model that has drifted from its sources rarely comes back to them.
            let nothing_shown = !self.checked.iter().any(|c| c.kept);
            if (verdict == Verdict::WrongLanguage && nothing_shown)
                || self.drift >= MAX_DRIFT_IN_A_ROW
            {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// A held sentence whose announced one was not shown is not shown either.
    fn drop_held(&mut self) {
        if let Some(held) = self.held.take() {
            let check = &mut self.checked[held];
            check.kept = false;
            check.verdict = Verdict::Dangling;
        }
    }

    /// The judged sentences, or the judge's failure.
    fn finish(mut self) -> Result<Vec<SentenceCheck>> {
        self.drop_held();
        match self.failure {
            Some(err) => Err(err),
            None => Ok(self.checked),
        }
    }
}

pub(crate) fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}
