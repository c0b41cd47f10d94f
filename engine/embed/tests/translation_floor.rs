//! e5's translation floor, measured where its figures come from: the Debian FAQ in English and
//! its Chinese translation (`../shared/eval`), answers aligned sentence by sentence where both
//! split into the same number of sentences. A Chinese sentence must reach the floor against its
//! English original, and seldom against another sentence of the same answer.

use std::collections::HashMap;

use docent_core::ModelPaths;
use docent_core::embed::Embedder;
use docent_embed::E5Embedder;

fn corpus(set: &str) -> HashMap<String, String> {
    let path = format!(
        "{}/../../../shared/eval/{set}/corpus.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{path}: {err} (the evaluation sets sit in ../shared/eval)"));
    text.lines()
        .map(|line| {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                doc["id"].as_str().unwrap().to_string(),
                doc["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// English sentences: whitespace collapsed, cut after ".", "?" or "!" before a capital.
fn english_sentences(text: &str) -> Vec<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = text.chars().collect();
    let (mut sentences, mut current) = (Vec::new(), String::new());
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let ends = matches!(c, '.' | '?' | '!')
            && chars.get(i + 1) == Some(&' ')
            && chars.get(i + 2).is_some_and(|n| n.is_ascii_uppercase());
        if ends {
            sentences.push(std::mem::take(&mut current).trim().to_string());
        }
    }
    sentences.push(current.trim().to_string());
    sentences.retain(|s| s.chars().count() > 30);
    sentences
}

/// Chinese sentences: whitespace removed, cut after "。", "？" or "！".
fn chinese_sentences(text: &str) -> Vec<String> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (mut sentences, mut current) = (Vec::new(), String::new());
    for c in text.chars() {
        current.push(c);
        if matches!(c, '。' | '？' | '！') {
            sentences.push(std::mem::take(&mut current));
        }
    }
    sentences.push(current);
    sentences.retain(|s| s.chars().count() > 12);
    sentences
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn translations_reach_the_floor_and_other_sentences_seldom_do() {
    let (english, chinese) = (corpus("debian-faq-en"), corpus("debian-faq-zh"));
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    let mut ids: Vec<&String> = english
        .keys()
        .filter(|id| chinese.contains_key(*id))
        .collect();
    ids.sort();
    for id in ids {
        let (en, zh) = (
            english_sentences(&english[id]),
            chinese_sentences(&chinese[id]),
        );
        if en.len() == zh.len() && (2..=6).contains(&en.len()) {
            pairs.extend(en.into_iter().zip(zh).map(|(e, z)| (id.clone(), e, z)));
        }
    }
    assert!(pairs.len() > 200, "{} aligned sentences", pairs.len());

    let e5 = E5Embedder::load(&ModelPaths::locate(None)).unwrap();
    let floor = e5.translation_floor().unwrap();
    let vectors = |texts: Vec<&String>| -> Vec<Vec<f32>> {
        texts.iter().map(|t| e5.embed_query(t).unwrap()).collect()
    };
    let en = vectors(pairs.iter().map(|p| &p.1).collect());
    let zh = vectors(pairs.iter().map(|p| &p.2).collect());
    let (mut translations, mut others, mut with_others) = (0, 0, 0);
    for (i, (id, _, _)) in pairs.iter().enumerate() {
        translations += usize::from(cosine(&zh[i], &en[i]) >= floor);
        let nearest_other = (0..pairs.len())
            .filter(|&j| j != i && pairs[j].0 == *id)
            .map(|j| cosine(&zh[i], &en[j]))
            .reduce(f32::max);
        if let Some(nearest) = nearest_other {
            with_others += 1;
            others += usize::from(nearest >= floor);
        }
    }
    let share = |n: usize, of: usize| n as f64 / of as f64;
    let (reached, mistaken) = (share(translations, pairs.len()), share(others, with_others));
    eprintln!(
        "{} aligned sentences at the floor {floor}: the translation reaches it for {reached:.2}, \
         the nearest other sentence of the same answer for {mistaken:.2}",
        pairs.len()
    );
    assert!(reached >= 0.9, "{reached}");
    assert!(mistaken <= 0.25, "{mistaken}");
}
