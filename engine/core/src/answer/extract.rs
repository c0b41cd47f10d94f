//! The extractive answer: the evidence's best sentences quoted verbatim, each with its citation.
//! What `extract` answers, and what `auto` falls back to when nothing the generator wrote holds.

use std::collections::HashSet;

use crate::answer::evidence::Evidence;
use crate::answer::verify::{SentenceCheck, Verdict};
use crate::retrieve::lexical;
use crate::text::language::is_han;
use crate::text::sentences;
use crate::text::tokens::content_terms;

/// A quote shorter than this (in words; a Chinese character counts as half a word) goes on with
/// the next sentence of its window: "RAG answers a question in two stages." or "Do this:" is no
/// answer without what follows.
const MIN_QUOTE_WORDS: usize = 20;

/// Documents an extractive answer quotes.
const EXTRACT_DOCUMENTS: usize = 3;

/// The extractive answer to `question`: the best evidence sentence (continued while it is
/// short, see [`MIN_QUOTE_WORDS`]), then the best one of each further document, up to
/// [`EXTRACT_DOCUMENTS`] (a document whose best sentence is one already quoted is a copy, and
/// skipped), each verbatim with its source. The further documents are the retriever's hedge: on
/// the development sets the best sentence's document was relevant for about half of the
/// questions, one of two for 0.61 (en) and 0.56 (zh), one of three for 0.70 and 0.59; token F1
/// against the gold answers rose with the third too (0.30 → 0.32 en, 0.37 → 0.38 zh). A further
/// quote must bear on the question, as a written sentence must: it shares with the question a
/// content word that some sources hold and others do not, and it says something the question
/// does not. By stems, here: a quote is its source's own words, so a stem that lets in one
/// beside the question costs a line, where for a written sentence stems let in wrong ones (see
/// [`crate::answer::verify`]). "读取文件并提取文本。" is no hedge for "什么是函数调用？" but a
/// sentence beside it; 20 such quotes of 61 English answers, 11 Chinese and 35 of 99 Python
/// ones were dropped so, 1, 0 and 4 of them from the document that answers. Where no word of
/// the question tells the sources apart, the further quotes stand as they are.
pub fn quotes(question: &str, evidence: &[Evidence]) -> Vec<SentenceCheck> {
    let question_stems = stems(question);
    let asked = distinctive_stems(&question_stems, evidence);
    // It must also say something the question does not: '"预依赖"' for "“预依赖”是什么意思？" is
    // the question's own word, quoted.
    let bears_on_the_question = |text: &str| {
        let words = stems(text);
        (asked.is_empty() || words.iter().any(|t| asked.contains(t)))
            && !words.is_subset(&question_stems)
    };
    let mut chosen: Vec<(&Evidence, String)> = Vec::new();
    for e in evidence {
        // A copy of a chosen document (the same file uploaded and in a folder) would only
        // repeat its quote.
        let new = chosen
            .iter()
            .all(|(c, _)| c.doc_id != e.doc_id && c.focus.first() != e.focus.first());
        if chosen.len() == EXTRACT_DOCUMENTS || !new {
            continue;
        }
        // A document with nothing to quote on its own, or nothing on the question, gives its
        // place to the next.
        if let Some(text) = quote(e, chosen.is_empty())
            && (chosen.is_empty() || bears_on_the_question(&text))
        {
            chosen.push((e, text));
        }
    }
    chosen
        .into_iter()
        .map(|(e, text)| SentenceCheck {
            quotes: vec![text.clone()],
            text,
            sources: vec![e.n],
            support: 1.0,
            verdict: Verdict::Supported,
            kept: true,
        })
        .collect()
}

/// The evidence's best sentence, with the sentences after it while it is short (`go_on`: the
/// first quote). One that refers back ("It …", "这…") is quoted with the sentence before it in
/// its window, and one that announces what follows ("To remove it, run:") with the sentence
/// after it — or not at all: "这种方式叫作自回归生成。" alone names a way nobody described, and
/// "请运行：" alone leaves out the command. The first quote alone keeps an announcement whose
/// continuation its window lacks (the chunk ended there): it is the best evidence, and its
/// citation leads to the rest.
fn quote(e: &Evidence, go_on: bool) -> Option<String> {
    let first = e.focus.first()?;
    let at = e.window.iter().position(|s| s == first);
    let mut text = if sentences::refers_back(first) {
        let mut text = e.window.get(at?.checked_sub(1)?)?.clone();
        sentences::join(&mut text, first);
        text
    } else {
        first.clone()
    };
    let mut after = at.map_or(&[][..], |at| &e.window[at + 1..]).iter();
    loop {
        let short = go_on && words(&text) < MIN_QUOTE_WORDS;
        let announces = sentences::announces(&text);
        if !short && !announces {
            break;
        }
        match after.next() {
            Some(next) => sentences::join(&mut text, next),
            None if announces && !go_on => return None,
            None => break,
        }
    }
    Some(text)
}

/// The question's stems that tell the sources apart: some hold them and some do not (with one
/// source, all of them). A word no source holds ("意思" of "是什么意思？") tells nothing.
fn distinctive_stems(question: &HashSet<String>, evidence: &[Evidence]) -> HashSet<String> {
    let sources: Vec<HashSet<String>> = evidence.iter().map(|e| stems(&e.text)).collect();
    question
        .iter()
        .filter(|t| {
            sources.len() < 2
                || (sources.iter().any(|s| s.contains(*t))
                    && sources.iter().any(|s| !s.contains(*t)))
        })
        .cloned()
        .collect()
}

/// A text's content words, English ones as their stems ("migrating" and "migrate" meet).
fn stems(text: &str) -> HashSet<String> {
    content_terms(text)
        .iter()
        .map(|t| lexical::word_term(t))
        .collect()
}

fn words(text: &str) -> usize {
    let han = text.chars().filter(|&c| is_han(c)).count();
    text.split_whitespace()
        .filter(|w| !w.chars().any(is_han))
        .count()
        + han / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{citations, render};
    use crate::testing::evidence;

    fn source(n: usize, score: f32, focus: &str) -> Evidence {
        Evidence {
            doc_id: format!("d{n}"),
            end_line: 2,
            score,
            window: vec![focus.into(), "And more.".into()],
            ..evidence(n, &format!("{n}.md"), focus)
        }
    }

    #[test]
    fn extractive_answers_quote_the_best_sentences_with_citations() {
        let mut sources = [
            source(1, 0.8, "Debian is free."),
            source(2, 0.75, "Stable is stable."),
            source(3, 0.5, "Tea is hot."),
            source(4, 0.4, "Snow is cold."),
        ];
        // A question without content words tells no quote apart: every document may be quoted.
        let sentences = quotes("", &sources);
        // A short first quote goes on with the next sentence of its window; three documents.
        assert_eq!(
            render(&sentences),
            "Debian is free. And more. [1] Stable is stable. [2] Tea is hot. [3]"
        );
        assert_eq!(
            citations(&sentences, &sources)
                .iter()
                .map(|c| c.n)
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Each quote comes from another document.
        sources[1].doc_id = sources[0].doc_id.clone();
        assert_eq!(
            render(&quotes("", &sources)),
            "Debian is free. And more. [1] Tea is hot. [3] Snow is cold. [4]"
        );
        // A copy of a quoted document (same best sentence, another id) is not quoted again.
        sources[1].doc_id = "copy".into();
        sources[1].focus = sources[0].focus.clone();
        assert_eq!(
            render(&quotes("", &sources)),
            "Debian is free. And more. [1] Tea is hot. [3] Snow is cold. [4]"
        );
        let long = "Debian is a free operating system that comes with thousands of packages, each one built, tested and kept up to date by volunteers around the world.";
        assert_eq!(
            render(&quotes("", &[source(1, 0.8, long)])),
            format!("{long} [1]")
        );
        let mut chinese = [
            source(
                1,
                0.8,
                "Debian 是一个自由的操作系统，包含了数以万计的软件包，每个软件包都由志愿者构建和测试。",
            ),
            source(2, 0.8, "稳定版很稳定。"),
        ];
        chinese[0].window.truncate(1);
        assert_eq!(
            render(&quotes("", &chinese)),
            format!("{}[1]稳定版很稳定。[2]", chinese[0].focus[0])
        );
        assert!(quotes("", &[]).is_empty());
    }

    /// A further document is quoted only where its quote shares with the question a word (by
    /// its stem) that not every source holds; where every source holds every question word, no
    /// word tells them apart and each is quoted. The first quote is the best evidence, always.
    #[test]
    fn a_further_quote_must_bear_on_the_question() {
        let sources = [
            source(1, 0.8, "Stable releases change every two years."),
            source(2, 0.7, "Migrations to a new release need a backup."),
            source(3, 0.6, "Tea is hot."),
            source(4, 0.5, "Snow is cold."),
        ];
        assert_eq!(
            render(&quotes(
                "How often does a release change when I migrate?",
                &sources
            )),
            "Stable releases change every two years. And more. [1] Migrations to a new release \
             need a backup. [2]"
        );
        // In Chinese, by pairs of characters.
        let mut chinese = [
            source(
                1,
                0.8,
                "函数调用让模型输出一个结构化的工具调用，包括函数名和参数。",
            ),
            source(2, 0.7, "提示注入是一种攻击。"),
            source(3, 0.6, "应用程序执行真正的函数。"),
        ];
        chinese[0].window.truncate(1);
        assert_eq!(
            render(&quotes("什么是函数调用？", &chinese)),
            format!("{}[1]应用程序执行真正的函数。[3]", chinese[0].focus[0])
        );
        // A quote of nothing but the question's words says nothing.
        let mut echo = [
            source(1, 0.8, "“预依赖（Pre-Depend）”是一种特殊的依赖关系。"),
            source(2, 0.7, "\"预依赖\""),
            source(3, 0.6, "预依赖的软件包先于依赖它的软件包解压。"),
        ];
        echo[0].window.truncate(1);
        assert_eq!(
            render(&quotes("“预依赖”是什么意思？", &echo)),
            format!(
                "{}[1]预依赖的软件包先于依赖它的软件包解压。[3]",
                echo[0].focus[0]
            )
        );
        // Every source holds "snow": nothing tells them apart.
        let snow = [
            source(1, 0.8, "Snow falls in winter when the air is cold enough."),
            source(2, 0.7, "Snow melts."),
            source(3, 0.6, "Snow is white."),
        ];
        assert_eq!(
            render(&quotes("What about snow?", &snow)),
            "Snow falls in winter when the air is cold enough. And more. [1] Snow melts. [2] \
             Snow is white. [3]"
        );
    }

    /// A best sentence that refers back is quoted with the one before it in its window, or,
    /// first in its window, not at all.
    #[test]
    fn a_quote_that_refers_back_brings_the_sentence_before_it() {
        let mut first = source(1, 0.8, "Debian is a free operating system for everyone.");
        first.window.truncate(1);
        let mut second = source(2, 0.7, "It is tested for months.");
        second.window = vec![
            "Debian's stable release changes rarely.".into(),
            "It is tested for months.".into(),
        ];
        second.best_at = 1;
        let third = source(3, 0.6, "这种方式叫作自回归生成。");
        let fourth = source(4, 0.5, "Tea is hot.");
        // The third has nothing to quote on its own: the fourth takes its place.
        assert_eq!(
            render(&quotes("", &[first, second, third, fourth])),
            "Debian is a free operating system for everyone. [1] Debian's stable release changes \
             rarely. It is tested for months. [2] Tea is hot. [4]"
        );
    }

    /// A quote that announces what follows ("run:") brings the next sentence of its window (a
    /// command is a sentence of its own), or, last in its window, is not quoted unless it is the
    /// first.
    #[test]
    fn a_quote_that_announces_the_next_sentence_brings_it() {
        let mut first = source(
            1,
            0.8,
            "Debian is a free operating system that anyone may use, study, change and share \
             with others.",
        );
        first.window.truncate(1);
        let mut second = source(2, 0.7, "To remove the foo package from your system, run:");
        second.window = vec![second.focus[0].clone(), "apt remove foo".into()];
        let mut third = source(3, 0.6, "要升级您系统中的所有软件包，请运行：");
        third.window.truncate(1);
        let fourth = source(4, 0.5, "Tea is hot.");
        assert_eq!(
            render(&quotes("", &[first, second, third.clone(), fourth])),
            "Debian is a free operating system that anyone may use, study, change and share with \
             others. [1] To remove the foo package from your system, run: apt remove foo [2] Tea \
             is hot. [4]"
        );
        // The best evidence is quoted even when its window ends at the announcement.
        assert_eq!(
            render(&quotes("", &[third])),
            "要升级您系统中的所有软件包，请运行：[3]"
        );
    }
}
