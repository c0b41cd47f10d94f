//! The model as query planner: for a follow-up it names what the question points at in the
//! earlier questions (a lighter task than LlamaIndex's "condense question", which the small
//! local models fail at: asked to rewrite the whole follow-up, they mostly repeat the earlier
//! question), and for RAG-Fusion ([`Mode::Fusion`]) it writes other phrasings of the question,
//! the first in English when the question is Chinese (a Chinese question often has its answer
//! in an English document).
//!
//! The model is asked little and trusted less: a short prompt with worked examples, a bound on
//! tokens and time, a topic kept only when it is the earlier questions' own words, a phrasing
//! only when it is a question. Whatever it cannot do in time, or does badly, falls to the rule
//! ([`FollowUpRule`]), so a slow or absent model never costs an answer.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::generate::{Chat, ChatMessage, GenerationParams, Generator, Role};
use crate::retrieve::Mode;
use crate::retrieve::plan::{FollowUpRule, Plan, Query, QueryPlanner};
use crate::text::language::Language;

/// How much the planner may ask of the model per question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannerBudget {
    /// Tokens the model may write for a follow-up's topic.
    pub condense_tokens: usize,
    /// Tokens the model may write for the phrasings of RAG-Fusion.
    pub phrasing_tokens: usize,
    /// Wall-clock time per request to the model; past it the rule plans instead.
    pub time: Duration,
    /// Earlier questions shown to the model (the latest ones).
    pub turns: usize,
    /// Characters of conversation (those questions and the new one) the model is shown at
    /// most: a longer one is planned by the rule, since its prompt alone would take seconds.
    pub prompt_chars: usize,
}

impl Default for PlannerBudget {
    fn default() -> Self {
        PlannerBudget {
            condense_tokens: 24,
            phrasing_tokens: 80,
            time: Duration::from_secs(4),
            turns: 3,
            prompt_chars: 800,
        }
    }
}

/// Other phrasings RAG-Fusion searches for, beside the question as asked.
const PHRASINGS: usize = 2;

/// A longer "phrasing" is the model answering, not asking.
const MAX_PHRASING_CHARS: usize = 400;

const TOPIC_EN: &str = "The user's last question refers to something in the earlier \
questions (\"it\", \"them\", \"the first one\"), or leaves its topic out. Reply with that \
thing or topic only, in the earlier question's words: a few words, no sentence.";

const TOPIC_ZH: &str = "用户的最后一个问题指代前面问题中的某个东西（“它”“这个”“第一个”），或者省略了主题。\
只回复这个东西或主题，用前面问题中的原词：几个词，不要句子。";

/// Worked examples shown before the question, as earlier turns of the chat: a small model
/// copies the form of an example far more reliably than it follows a description.
const TOPIC_EXAMPLES_EN: [(&str, &str, &str); 2] = [
    ("What is dpkg?", "How do I install it?", "dpkg"),
    (
        "What does the testing distribution contain?",
        "How often is it updated?",
        "the testing distribution",
    ),
];

const TOPIC_EXAMPLES_ZH: [(&str, &str, &str); 2] = [
    ("什么是 dpkg？", "怎么安装它？", "dpkg"),
    ("测试版包含什么？", "多久更新一次？", "测试版"),
];

const PHRASE_EN: &str = "You help a search engine. Write two other ways to ask the user's \
question, with other words and the same meaning, one per line. Do not answer it.";

const PHRASE_ZH: &str = "你为搜索引擎服务。把用户的问题换两种说法，每行一种：第一种是它的英文翻译，\
第二种用简体中文、换用不同的词。不要回答问题。";

const PHRASE_EXAMPLE_EN: (&str, &str) = (
    "How do I install dpkg?",
    "What are the steps to install dpkg?\nHow can the dpkg package manager be installed?",
);

const PHRASE_EXAMPLE_ZH: (&str, &str) = (
    "怎么安装 dpkg？",
    "How do I install dpkg?\n安装 dpkg 软件包管理器的步骤是什么？",
);

/// Plans with the generator, falling back to [`FollowUpRule`].
pub struct ModelPlanner {
    generator: Arc<dyn Generator>,
    budget: PlannerBudget,
    follow_ups: bool,
}

impl ModelPlanner {
    /// A planner that asks `generator` within `budget`, for follow-ups and RAG-Fusion alike.
    pub fn new(generator: Arc<dyn Generator>, budget: PlannerBudget) -> Self {
        ModelPlanner {
            generator,
            budget,
            follow_ups: true,
        }
    }

    /// A planner that leaves follow-ups to the rule, and asks `generator` only for
    /// RAG-Fusion's phrasings.
    pub fn phrasings_only(generator: Arc<dyn Generator>, budget: PlannerBudget) -> Self {
        ModelPlanner {
            follow_ups: false,
            ..ModelPlanner::new(generator, budget)
        }
    }

    /// The first `lines` non-empty lines of the model's reply to `messages` (fewer when it
    /// wrote fewer), or `None` when it wrote none within `max_tokens` and the time budget. The
    /// model is stopped once it has written them; a line cut off by the deadline or the token
    /// bound is not used.
    fn ask(&self, chat: Chat, max_tokens: usize, lines: usize) -> Option<Vec<String>> {
        let deadline = Instant::now() + self.budget.time;
        let params = GenerationParams {
            max_tokens,
            deadline: Some(deadline),
            ..Default::default()
        };
        let mut done: Vec<String> = Vec::new();
        let mut line = String::new();
        let outcome = self.generator.generate(chat, &params, &mut |text| {
            for c in text.chars() {
                if c != '\n' {
                    line.push(c);
                } else if !line.trim().is_empty() {
                    done.push(std::mem::take(&mut line));
                    if done.len() == lines {
                        return ControlFlow::Break(());
                    }
                } else {
                    line.clear();
                }
            }
            ControlFlow::Continue(())
        });
        match outcome {
            Err(e) => {
                tracing::warn!("query planner: the model failed ({e:#}); the rule plans instead");
                return None;
            }
            // The reply ended by itself: its last line is whole.
            Ok(stats)
                if stats.generated_tokens < max_tokens
                    && Instant::now() < deadline
                    && done.len() < lines
                    && !line.trim().is_empty() =>
            {
                done.push(line)
            }
            Ok(_) => {}
        }
        if done.is_empty() {
            tracing::debug!("query planner: nothing usable from the model in time; the rule plans");
            return None;
        }
        Some(done)
    }

    /// `question` made to stand alone after `earlier` with the topic the model names in them,
    /// or `None` when it could not be asked or named none of their words.
    fn condense(&self, question: &str, earlier: &[String], language: Language) -> Option<String> {
        let shown = &earlier[earlier.len().saturating_sub(self.budget.turns)..];
        let chars: usize = shown
            .iter()
            .chain([&question.to_string()])
            .map(|q| q.chars().count())
            .sum();
        if chars > self.budget.prompt_chars {
            return None;
        }
        let (system, examples, earlier_label, last_label, topic_label) = match language {
            Language::English => (
                TOPIC_EN,
                TOPIC_EXAMPLES_EN,
                "Earlier questions:",
                "Last question:",
                "Topic:",
            ),
            Language::Chinese => (
                TOPIC_ZH,
                TOPIC_EXAMPLES_ZH,
                "前面的问题：",
                "最后一个问题：",
                "主题：",
            ),
        };
        let turn = |earlier: &[&str], last: &str| {
            let mut user = format!("{earlier_label}\n");
            for asked in earlier {
                user.push_str(&format!("- {}\n", one_line(asked)));
            }
            user.push_str(&format!("{last_label} {}", one_line(last)));
            ChatMessage::new(Role::User, user)
        };
        let mut messages = vec![ChatMessage::new(Role::System, system)];
        // Each reply opens with the label, and so does the model's: a small model asked a
        // question answers it ("大约10分钟") unless its reply is already a topic's.
        for (earlier, last, rewritten) in examples {
            messages.push(turn(&[earlier], last));
            messages.push(ChatMessage::new(
                Role::Assistant,
                format!("{topic_label} {rewritten}"),
            ));
        }
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        messages.push(turn(&shown, question));
        let chat = Chat {
            reply_start: topic_label,
            ..Chat::new(&messages)
        };
        let reply = self.ask(chat, self.budget.condense_tokens, 1)?;
        let topic =
            reply[0].trim_matches(|c: char| c.is_whitespace() || "\"'“”「」`.。".contains(c));
        // The topic must be the earlier questions' own words: what the model cannot point at
        // there, it made up.
        let lower = topic.to_lowercase();
        let pointed = !topic.is_empty()
            && topic.chars().count() <= 60
            && shown.iter().any(|q| q.to_lowercase().contains(&lower));
        if !pointed {
            return None;
        }
        if question.to_lowercase().contains(&lower) {
            return Some(question.trim().to_string());
        }
        Some(format!("{} {topic}", question.trim()))
    }

    /// Other phrasings of `question`, by the model: the usable lines of its reply, at most
    /// [`PHRASINGS`], none equal to the question.
    fn phrasings(&self, question: &str, language: Language) -> Vec<String> {
        if question.chars().count() > self.budget.prompt_chars {
            return Vec::new();
        }
        let (system, (example, phrased)) = match language {
            Language::English => (PHRASE_EN, PHRASE_EXAMPLE_EN),
            Language::Chinese => (PHRASE_ZH, PHRASE_EXAMPLE_ZH),
        };
        let messages = [
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, example),
            ChatMessage::new(Role::Assistant, phrased),
            ChatMessage::new(Role::User, one_line(question)),
        ];
        let Some(reply) = self.ask(Chat::new(&messages), self.budget.phrasing_tokens, PHRASINGS)
        else {
            return Vec::new();
        };
        let mut found: Vec<String> = Vec::new();
        for line in &reply {
            // A phrasing is a question: a line that is not one is the model answering.
            if !line.trim_end().ends_with(['?', '？']) {
                continue;
            }
            // Either language will do: the English line of a Chinese question is welcome.
            if let Some(phrasing) = usable_question(line)
                && !same_text(&phrasing, question)
                && !found.iter().any(|f| same_text(f, &phrasing))
            {
                found.push(phrasing);
            }
            if found.len() == PHRASINGS {
                break;
            }
        }
        found
    }
}

impl QueryPlanner for ModelPlanner {
    fn plan(&self, question: &str, earlier: &[String], mode: Mode) -> Result<Plan> {
        let language = Language::detect(question);
        if !self.generator.writes(language) {
            return match mode {
                Mode::Fusion => Err(fusion_needs_a_writer()),
                _ => FollowUpRule.plan(question, earlier, mode),
            };
        }
        let condensed = if earlier.is_empty() || !self.follow_ups {
            None
        } else {
            self.condense(question, earlier, language)
        };
        // The rule's rewrite is searched too: it carries all the earlier question's terms, the
        // model's names what the follow-up points at.
        let mut plan = FollowUpRule.plan(question, earlier, Mode::Hybrid)?;
        if let Some(standalone) = condensed {
            if !plan.queries.iter().any(|q| same_text(&q.text, &standalone)) {
                plan.queries.push(Query {
                    text: standalone.clone(),
                    weight: 1.0,
                });
            }
            plan.standalone = standalone;
        }
        if mode == Mode::Fusion {
            let standalone = plan.standalone.clone();
            for phrasing in self.phrasings(&standalone, language) {
                plan.queries.push(Query {
                    text: phrasing,
                    weight: 1.0,
                });
            }
        }
        tracing::debug!(queries = ?plan.queries, "query planner: the model's plan");
        Ok(plan)
    }
}

/// The error of RAG-Fusion asked of a planner without a model that writes the question's
/// language.
pub(crate) fn fusion_needs_a_writer() -> Error {
    Error::InvalidInput(
        "mode fusion needs a generator that writes the question's language, to phrase it other ways \
         (load one with --model, or search with --mode hybrid)"
            .into(),
    )
}

/// `text` on one line (a question with line breaks would read as several in the prompt).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether two questions are the same but for case and spacing.
fn same_text(a: &str, b: &str) -> bool {
    one_line(a).to_lowercase() == one_line(b).to_lowercase()
}

/// The question in a model's `reply`, when it is usable as a query: the first non-empty line,
/// without a label, list mark or quotes; not empty, not a refusal, and no longer than
/// [`MAX_PHRASING_CHARS`] and 60 words.
fn usable_question(reply: &str) -> Option<String> {
    let line = reply.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .split_once([':', '：'])
        .filter(|(label, _)| {
            let label = label.to_lowercase();
            ["question", "问题", "rewritten", "改写", "standalone"]
                .iter()
                .any(|w| label.contains(w))
        })
        .map_or(line, |(_, rest)| rest);
    let line = line
        .trim_start_matches(|c: char| c.is_ascii_digit() || "-*•.、)） ".contains(c))
        .trim_matches(|c: char| c.is_whitespace() || "\"'“”「」`".contains(c));
    let words = line.split_whitespace().count();
    let usable = !line.is_empty()
        && line.chars().count() <= MAX_PHRASING_CHARS
        && words <= 60
        && !line.to_lowercase().contains("i don't know")
        && !line.contains("不知道");
    usable.then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScriptedGenerator;

    fn planner(script: &str, languages: Vec<Language>) -> (ModelPlanner, Arc<ScriptedGenerator>) {
        let mut generator = ScriptedGenerator::new(script);
        generator.languages = languages;
        let generator = Arc::new(generator);
        (
            ModelPlanner::new(generator.clone(), PlannerBudget::default()),
            generator,
        )
    }

    #[test]
    fn a_question_alone_is_not_sent_to_the_model() {
        let (planner, generator) = planner("Anything?", vec![Language::English]);
        let plan = planner.plan("What is dpkg?", &[], Mode::Hybrid).unwrap();
        assert_eq!(plan, Plan::as_asked("What is dpkg?"));
        assert_eq!(generator.asked(), 0);
    }

    #[test]
    fn a_follow_up_is_searched_as_asked_by_the_rule_and_with_the_models_topic() {
        let (planner, generator) = planner(
            "\"the testing distribution\".\nExtra line",
            vec![Language::English],
        );
        let earlier = ["What does the testing distribution contain?".to_string()];
        let plan = planner
            .plan("How often is it updated?", &earlier, Mode::Hybrid)
            .unwrap();
        assert_eq!(
            plan.standalone,
            "How often is it updated? the testing distribution"
        );
        assert_eq!(
            plan.texts(),
            [
                "How often is it updated?",
                "How often is it updated? testing distribution contain",
                "How often is it updated? the testing distribution"
            ]
        );
        assert_eq!(generator.asked(), 1);
        // The model's reply is begun as a topic, as the worked examples' replies are.
        let (messages, _, reply_start) = generator.last_chat();
        assert_eq!(reply_start, "Topic:");
        assert_eq!(messages[2].content, "Topic: dpkg");
    }

    #[test]
    fn a_chinese_follow_up_gets_its_topic_in_chinese() {
        let (planner, generator) =
            planner("钢做的水壶", vec![Language::English, Language::Chinese]);
        let earlier = ["介绍一下钢做的水壶。".to_string()];
        let plan = planner
            .plan("它烧开一升水要多久？", &earlier, Mode::Hybrid)
            .unwrap();
        assert_eq!(plan.standalone, "它烧开一升水要多久？ 钢做的水壶");
        assert_eq!(generator.last_chat().2, "主题：");
    }

    #[test]
    fn a_topic_not_in_the_earlier_questions_falls_back_to_the_rule() {
        let earlier = ["What is dpkg?".to_string()];
        let rule = FollowUpRule
            .plan("How do I install it?", &earlier, Mode::Hybrid)
            .unwrap();
        // Made up, another language, a refusal, nothing at all.
        for reply in ["apt", "如何安装 dpkg？", "I don't know.", "  \n "] {
            let (planner, generator) = planner(reply, vec![Language::English]);
            let plan = planner
                .plan("How do I install it?", &earlier, Mode::Hybrid)
                .unwrap();
            assert_eq!(plan, rule, "reply {reply:?}");
            assert_eq!(generator.asked(), 1);
        }
    }

    #[test]
    fn a_language_the_model_cannot_write_is_planned_by_the_rule() {
        let (planner, generator) = planner("它", vec![Language::English]);
        let earlier = ["介绍一下钢做的水壶。".to_string()];
        let plan = planner
            .plan("它烧开一升水要多久？", &earlier, Mode::Hybrid)
            .unwrap();
        assert_eq!(
            plan,
            FollowUpRule
                .plan("它烧开一升水要多久？", &earlier, Mode::Hybrid)
                .unwrap()
        );
        assert_eq!(generator.asked(), 0);
        let err = planner
            .plan("它烧开一升水要多久？", &earlier, Mode::Fusion)
            .unwrap_err();
        assert!(err.to_string().contains("mode fusion needs a generator"));
    }

    #[test]
    fn a_conversation_too_long_to_show_is_planned_by_the_rule() {
        let (planner, generator) = planner("What is dpkg used for?", vec![Language::English]);
        let earlier = [format!("What is dpkg? {}", "word ".repeat(200))];
        planner
            .plan("How do I install it?", &earlier, Mode::Hybrid)
            .unwrap();
        assert_eq!(generator.asked(), 0);
    }

    #[test]
    fn fusion_searches_the_question_and_its_phrasings() {
        let (planner, _) = planner(
            "1. How is dpkg installed?\n\n如何安装 dpkg？\nOne more way?\n",
            vec![Language::English, Language::Chinese],
        );
        let plan = planner.plan("What is dpkg?", &[], Mode::Fusion).unwrap();
        assert_eq!(
            plan.texts(),
            ["What is dpkg?", "How is dpkg installed?", "如何安装 dpkg？"]
        );
        assert_eq!(plan.standalone, "What is dpkg?");
    }

    #[test]
    fn a_phrasings_only_planner_leaves_follow_ups_to_the_rule() {
        let generator = Arc::new(ScriptedGenerator::new("How is dpkg installed?"));
        let planner = ModelPlanner::phrasings_only(generator.clone(), PlannerBudget::default());
        let earlier = ["What is dpkg?".to_string()];
        let plan = planner
            .plan("How do I install it?", &earlier, Mode::Hybrid)
            .unwrap();
        assert_eq!(
            plan,
            FollowUpRule
                .plan("How do I install it?", &earlier, Mode::Hybrid)
                .unwrap()
        );
        assert_eq!(generator.asked(), 0);
        let plan = planner
            .plan("How do I install it?", &earlier, Mode::Fusion)
            .unwrap();
        assert_eq!(
            plan.texts(),
            [
                "How do I install it?",
                "How do I install it? dpkg",
                "How is dpkg installed?"
            ]
        );
    }

    #[test]
    fn fusion_leaves_out_answers_and_repeats_of_the_question() {
        let (planner, _) = planner(
            "Dpkg is Debian's package manager.\nWhat is dpkg?\n",
            vec![Language::English],
        );
        let plan = planner.plan("What is dpkg?", &[], Mode::Fusion).unwrap();
        assert_eq!(plan, Plan::as_asked("What is dpkg?"));
    }
}
