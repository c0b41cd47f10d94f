//! The answer modes over a store fake (fixed chunks) and a generator fake (a scripted answer),
//! with the real e5 embedder, which the evidence selection and the support check use.

use std::ops::ControlFlow;
use std::sync::Arc;

use docent_core::testing::{FixedStore, ScriptedGenerator};
use docent_core::{
    Answer, AnswerMode, AnsweredBy, AskOptions, Engine, Hit, Language, ModelPaths, Verdict,
};
use docent_embed::E5Embedder;

fn scripted(script: &str) -> Arc<ScriptedGenerator> {
    Arc::new(ScriptedGenerator::new(script))
}

const DEBIAN: &str = "Debian is a free operating system for your computer. It comes with over 59000 packages.\n\
                      The archives are updated twice every day.";
const TEA: &str = "Green tea is brewed at 70 to 80 degrees. Boiling water makes it bitter.";

fn hit(path: &str, text: &str, score: f32) -> Hit {
    Hit {
        score,
        path: path.into(),
        doc_id: path.into(),
        chunk: 0,
        start_line: 10,
        end_line: 12,
        headings: Vec::new(),
        text: text.into(),
        pages: None,
    }
}

fn engine(generator: Arc<ScriptedGenerator>) -> Engine {
    engine_over(
        vec![hit("debian.md", DEBIAN, 0.95), hit("tea.md", TEA, 0.9)],
        generator,
    )
}

fn engine_over(hits: Vec<Hit>, generator: Arc<ScriptedGenerator>) -> Engine {
    let embedder = Arc::new(E5Embedder::load(&ModelPaths::locate(None)).unwrap());
    let store = Arc::new(FixedStore::new(embedder.as_ref(), hits));
    Engine::new(embedder, store, Some(generator)).unwrap()
}

fn ask(engine: &Engine, question: &str, answer_mode: AnswerMode) -> (Answer, Vec<String>) {
    let mut streamed = Vec::new();
    let options = AskOptions {
        answer_mode,
        min_score: Some(0.0),
        ..Default::default()
    };
    let answer = engine
        .ask(question, &options, &mut |text| {
            streamed.push(text.to_string());
            ControlFlow::Continue(())
        })
        .unwrap();
    (answer, streamed)
}

fn number_of(answer: &Answer, path: &str) -> usize {
    answer.sources.iter().find(|s| s.path == path).unwrap().n
}

#[test]
fn auto_keeps_supported_sentences_fixes_citations_and_drops_inventions() {
    let generator = scripted(
        "Debian is a free operating system for your computer [{tea.md}]. The moon is made of green cheese [{debian.md}].",
    );
    let engine = engine(generator.clone());
    let (answer, streamed) = ask(&engine, "What is Debian?", AnswerMode::Auto);
    let debian = number_of(&answer, "debian.md");
    assert_eq!(answer.answered_by, AnsweredBy::Generator, "{answer:?}");
    assert_eq!(
        answer.answer,
        format!("Debian is a free operating system for your computer. [{debian}]")
    );
    // The wrong citation was corrected, the invented sentence dropped, both on the record.
    assert_eq!(answer.sentences.len(), 2);
    assert!(answer.sentences[0].kept && answer.sentences[0].sources == vec![debian]);
    assert!(
        answer.sentences[1].verdict == Verdict::Unsupported && !answer.sentences[1].kept,
        "{:?}",
        answer.sentences[1]
    );
    assert_eq!(
        answer.citations.iter().map(|c| c.n).collect::<Vec<_>>(),
        vec![debian]
    );
    // Streamed sentence by sentence, checked: the stream is the answer.
    assert_eq!(streamed.concat(), answer.answer);
}

#[test]
fn auto_falls_back_to_the_evidence_when_nothing_is_supported() {
    let engine = engine(scripted(
        "The moon is made of green cheese [1]. Cows can fly [2].",
    ));
    let (answer, streamed) = ask(&engine, "What is Debian?", AnswerMode::Auto);
    assert_eq!(answer.answered_by, AnsweredBy::Extract, "{answer:?}");
    assert!(
        answer
            .answer
            .starts_with("Debian is a free operating system"),
        "{}",
        answer.answer
    );
    assert!(answer.sentences.iter().filter(|s| !s.kept).count() == 2);
    assert_eq!(streamed.concat(), answer.answer);
}

/// A sentence that a source supports but that shares no word with the question, opening an
/// answer, says nothing about it: not kept, and two of them in a row end in the extractive
/// answer.
#[test]
fn sentences_beside_the_question_are_not_kept() {
    let engine = engine(scripted(
        "Green tea is brewed at 70 to 80 degrees [2]. Boiling water makes it bitter [2]. It comes with over 59000 packages [1].",
    ));
    let (answer, _) = ask(
        &engine,
        "How often are the Debian archives updated?",
        AnswerMode::Auto,
    );
    assert_eq!(answer.answered_by, AnsweredBy::Extract, "{answer:?}");
    assert!(
        answer.sentences[..2]
            .iter()
            .all(|s| s.verdict == Verdict::OffTopic && !s.kept && s.support >= 0.7),
        "{:?}",
        answer.sentences
    );
    assert!(
        answer.answer.contains("updated twice every day"),
        "{}",
        answer.answer
    );
}

#[test]
fn a_sentence_citing_nothing_gets_the_source_that_supports_it() {
    let engine = engine(scripted("Green tea is brewed at 70 to 80 degrees."));
    let (answer, _) = ask(
        &engine,
        "How hot should green tea be brewed?",
        AnswerMode::Auto,
    );
    let tea = number_of(&answer, "tea.md");
    assert_eq!(
        answer.answer,
        format!("Green tea is brewed at 70 to 80 degrees. [{tea}]")
    );
}

#[test]
fn chinese_questions_are_not_given_to_a_generator_that_cannot_write_chinese() {
    let generator = scripted("unused");
    let engine = engine(generator.clone());
    let (answer, _) = ask(&engine, "Debian 是什么？", AnswerMode::Auto);
    assert_eq!(answer.answered_by, AnsweredBy::Extract);
    assert_eq!(generator.asked(), 0);
}

/// A Chinese question over an English document: a sentence written in Chinese from it is
/// read against it across languages (e5 places a sentence and its translation near), kept and
/// cited; one the document does not say is dropped. The kept sentence is Qwen2.5-1.5B's own,
/// for the sample corpus's prompt-injection question.
#[test]
fn a_chinese_answer_from_an_english_source_is_read_across_languages() {
    const SAFETY: &str = "Prompt injection is an attack in which text that a model reads tries to \
                          override the instructions of the application. In a retrieval system \
                          the attack usually hides inside a document: a web page or a PDF that \
                          says ignore previous instructions.";
    const WRITTEN: &str = "提示注入是一种攻击，在其中文本被模型读取时试图覆盖应用程序的指令。";
    let mut generator =
        ScriptedGenerator::new(&format!("{WRITTEN}[1]提示注入只能靠更换显卡来防御。[1]"));
    generator.languages.push(Language::Chinese);
    let engine = engine_over(
        vec![hit("safety.pdf", SAFETY, 0.9), hit("tea.md", TEA, 0.8)],
        Arc::new(generator),
    );
    let (answer, _) = ask(&engine, "什么是提示注入？", AnswerMode::Auto);
    let safety = number_of(&answer, "safety.pdf");
    assert_eq!(answer.answered_by, AnsweredBy::Generator, "{answer:?}");
    assert_eq!(answer.answer, format!("{WRITTEN}[{safety}]"));
    assert!(
        answer.sentences[0].quotes[0].starts_with("Prompt injection is an attack"),
        "{:?}",
        answer.sentences[0]
    );
    assert_eq!(answer.sentences[1].verdict, Verdict::Unsupported);
}

#[test]
fn extract_quotes_without_the_generator_and_generate_shows_everything() {
    let generator = scripted("The moon is made of green cheese [1].");
    let engine = engine(generator.clone());
    let (extracted, _) = ask(
        &engine,
        "How often are the archives updated?",
        AnswerMode::Extract,
    );
    assert_eq!(generator.asked(), 0);
    let debian = number_of(&extracted, "debian.md");
    assert!(
        extracted.answer.starts_with(&format!(
            "The archives are updated twice every day. [{debian}]"
        )),
        "{}",
        extracted.answer
    );

    let (generated, streamed) = ask(&engine, "What is Debian?", AnswerMode::Generate);
    assert_eq!(generated.answered_by, AnsweredBy::Generator);
    assert_eq!(generated.answer, "The moon is made of green cheese [1].");
    assert!(generated.sentences[0].verdict == Verdict::Unsupported && generated.sentences[0].kept);
    assert_eq!(streamed.concat().trim(), generated.answer);
}
