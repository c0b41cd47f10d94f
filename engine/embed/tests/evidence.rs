//! Evidence selection over the real e5 embedder: which sentences of the hits an answer is
//! written from.

use docent_core::answer::evidence::{EvidenceOptions, select};
use docent_core::{Embedder, Hit, ModelPaths};
use docent_embed::E5Embedder;

fn hit(chunk: u32, text: &str) -> Hit {
    Hit {
        score: 1.0,
        path: "faq.md".into(),
        doc_id: "faq".into(),
        chunk,
        start_line: 20,
        end_line: 22,
        headings: Vec::new(),
        text: text.into(),
        pages: None,
    }
}

#[test]
fn evidence_is_windows_of_the_best_sentences_and_never_a_cut_sentence_alone() {
    let embedder = E5Embedder::load(&ModelPaths::locate(None)).unwrap();
    // Chunk 1 starts with the tail of a sentence the chunker cut in two.
    let text = "updated twice every day by the mirror network.\nTea is a drink. The archives are updated twice \
                every day.\nKettles boil water. Cats sleep a lot. Dogs bark at night.";
    let question = "How often are the archives updated?";
    let vector = embedder.embed_query(question).unwrap();
    let evidence = select(
        question,
        &vector,
        &[hit(1, text)],
        &embedder,
        &EvidenceOptions::default(),
    )
    .unwrap();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let best = &evidence[0];
    assert_eq!(best.focus[0], "The archives are updated twice every day.");
    // The window: the chosen sentence and its neighbours, with their lines.
    assert!(
        best.text.contains(
            "Tea is a drink. The archives are updated twice every day. Kettles boil water."
        ),
        "{best:?}"
    );
    assert_eq!((best.start_line, best.end_line), (21, 22));
    assert!(
        !best.focus.iter().any(|s| s.starts_with("updated")),
        "{best:?}"
    );

    // A budget too small for any window still keeps the best sentence.
    let tight = select(
        question,
        &vector,
        &[hit(1, text)],
        &embedder,
        &EvidenceOptions { budget_tokens: 1 },
    )
    .unwrap();
    assert_eq!(tight[0].text, "The archives are updated twice every day.");
}

/// A cross-reference that quotes the question is never chosen, however well it matches;
/// each document's best sentence comes before a second from the same document, even when
/// that document has more chunks among the hits and ranks first.
#[test]
fn evidence_skips_restatements_and_spans_the_documents() {
    let embedder = E5Embedder::load(&ModelPaths::locate(None)).unwrap();
    let doc = |id: &str, chunk: u32, text: &str| Hit {
        doc_id: id.into(),
        path: format!("{id}.md"),
        ..hit(chunk, text)
    };
    let question = "How do I set a different default editor?";
    let hits = [
        doc(
            "tools",
            0,
            "The default editor is a setting of each user. \
                         For more, see the section \"How do I set a different default editor?\"",
        ),
        doc(
            "tools",
            1,
            "A different default editor is chosen with the EDITOR variable.",
        ),
        doc(
            "links",
            0,
            "Debian keeps symbolic links in /etc/alternatives.",
        ),
    ];
    let vector = embedder.embed_query(question).unwrap();
    // Room for two windows: the second is the other document's, though "tools" has a better
    // sentence left.
    let options = EvidenceOptions { budget_tokens: 55 };
    let evidence = select(question, &vector, &hits, &embedder, &options).unwrap();
    assert!(
        evidence
            .iter()
            .flat_map(|e| &e.focus)
            .all(|s| !s.starts_with("For more")),
        "{evidence:?}"
    );
    let documents: Vec<&str> = evidence.iter().map(|e| e.doc_id.as_str()).collect();
    assert_eq!(documents, ["tools", "links"], "{evidence:?}");

    // With room for every window.
    let evidence_for = |question: &str, hits: &[Hit]| {
        let vector = embedder.embed_query(question).unwrap();
        select(
            question,
            &vector,
            hits,
            &embedder,
            &EvidenceOptions::default(),
        )
        .unwrap()
    };
    let chinese = "有些用户喜欢 vim，有些喜欢 emacs；Debian 如何让每个用户使用自己喜欢的编辑器？";
    let quoted = [doc(
        "faq",
        0,
        "详见第 11.11 节“有些用户喜欢 vim，有些喜欢 emacs；Debian 如何让每个用户使用自己喜欢的编辑器？”。\
         运行 update-alternatives 命令可以选择默认的编辑器。",
    )];
    let evidence = evidence_for(chinese, &quoted);
    assert!(evidence[0].focus[0].starts_with("运行"), "{evidence:?}");

    // A sentence that quotes the question among much else points at the answer and is not it;
    // a quoted term the question asks about is no such quote.
    let question = "Debian 系统中还能获得哪些有针对性的文档？";
    let hits = [
        doc(
            "authors",
            0,
            "Debian 邮件列表存档，dpkg 程序员手册和 Debian 政策文档（参见第 12.1 节 “Debian 系统中还能获得\
             哪些有针对性的文档？”），众多开发者、志愿者和 beta 测试人员。",
        ),
        doc(
            "docs",
            0,
            "通过使用“dwww”或“dhelp”命令，您可以用 WWW 浏览器访问您系统中的许多文档。",
        ),
    ];
    let evidence = evidence_for(question, &hits);
    assert_eq!(evidence[0].doc_id, "docs", "{evidence:?}");
    assert!(
        evidence.iter().all(|e| e.doc_id != "authors"),
        "{evidence:?}"
    );
    // However short the question.
    let hits = [
        doc(
            "maintainers",
            0,
            "Maintainers who package this software are listed in the Debian control file (see \
             Section 7.4, “What is a Debian control file?”).",
        ),
        doc(
            "controlfile",
            0,
            "Specifics regarding the contents of a Debian control file are provided in the \
             Debian Policy Manual.",
        ),
    ];
    let evidence = evidence_for("What is a Debian control file?", &hits);
    assert!(
        evidence.iter().all(|e| e.doc_id != "maintainers"),
        "{evidence:?}"
    );
    let named = [doc(
        "sid",
        0,
        "The name “sid” stays with the unstable distribution for good.",
    )];
    assert_eq!(evidence_for("What is “sid”?", &named).len(), 1);
}
