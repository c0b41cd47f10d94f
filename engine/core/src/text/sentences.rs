//! Sentences of a chunk, with the lines they span: the unit evidence is chosen in and answers
//! are checked in.
//!
//! A chunk is first cut into blocks by its layout: paragraphs (blank lines end them), list items
//! (each item is a block of its own), headings, and code (every line of a fenced or indented code
//! block stands whole, since a `.` in `os.path.join()` ends nothing). A paragraph's hard-wrapped
//! lines are joined (with a space, except between two Chinese characters) and cut into sentences
//! at Unicode's sentence boundaries (UAX #29: `.`, `!`, `?` before a capital, and `。！？`),
//! except after an initial or one of a few abbreviations ("Dan J. Bernstein"), after a question
//! quoted as a title ("参见第 12.4 节 “有没有已知的缺陷的记录？”以获得…") and inside a quotation
//! that closes in the next sentence; an opening bracket after a stop ("。（") begins the next
//! sentence rather than ending this one.

use unicode_segmentation::UnicodeSegmentation;

use crate::text::language::is_han;
use crate::text::markers;
use crate::text::tokens::STOPWORDS;

/// What a sentence is, by the block it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A sentence of running text.
    Prose,
    /// A list item.
    ListItem,
    /// A line of code.
    Code,
    /// A heading.
    Heading,
}

/// One sentence: its text (soft line breaks joined) and the lines it spans, counted from 0 at
/// the first line of the text it was cut from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    /// The sentence's text, wrapped lines joined.
    pub text: String,
    /// First line of the sentence in its document (1-based).
    pub first_line: u32,
    /// Last line (inclusive).
    pub last_line: u32,
    /// What kind of text it is.
    pub kind: Kind,
}

/// Shorter than this (in characters, punctuation included), a sentence joins the one before it:
/// "Yes." or a stray "1." is not a statement of its own.
const MIN_CHARS: usize = 4;

/// The sentences of `text`, in order.
pub fn split(text: &str) -> Vec<Sentence> {
    let mut out = Vec::new();
    let mut paragraph = Paragraph::default();
    let mut fence: Option<&str> = None;
    for (number, line) in text.lines().enumerate() {
        let number = number as u32;
        let trimmed = line.trim();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            } else if !trimmed.is_empty() {
                out.push(Sentence {
                    text: line.trim_end().to_string(),
                    first_line: number,
                    last_line: number,
                    kind: Kind::Code,
                });
            }
            continue;
        }
        if is_fence(trimmed) {
            paragraph.flush(&mut out);
            fence = Some(&trimmed[..3]);
            continue;
        }
        if trimmed.is_empty() {
            paragraph.flush(&mut out);
        } else if trimmed.starts_with('#') && trimmed.trim_start_matches('#').starts_with(' ') {
            paragraph.flush(&mut out);
            let heading = trimmed.trim_start_matches('#').trim().to_string();
            out.push(Sentence {
                text: heading,
                first_line: number,
                last_line: number,
                kind: Kind::Heading,
            });
        } else if (line.starts_with("    ") || line.starts_with('\t')) && paragraph.is_empty() {
            out.push(Sentence {
                text: line.trim_end().to_string(),
                first_line: number,
                last_line: number,
                kind: Kind::Code,
            });
        } else if let Some(item) = list_item(trimmed) {
            paragraph.flush(&mut out);
            paragraph.start(Kind::ListItem);
            paragraph.push(item, number);
        } else {
            paragraph.push(trimmed, number);
        }
    }
    paragraph.flush(&mut out);
    out
}

/// Whether `line` opens or closes a fenced code block ("```", "```python", "~~~"): layout, and
/// its info string ("python") names the code's language, not anything the code says.
pub fn is_fence(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.starts_with("```") || trimmed.starts_with("~~~")
}

/// The text of a list item (`- item`, `* item`, `+ item`, `• item`, `1. item`, `2) item`)
/// without its bullet or number, which are layout; `None` for any other line.
pub fn list_item(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix(['-', '*', '+', '•']) {
        return rest.strip_prefix(' ').map(str::trim_start);
    }
    line[enumerator_len(line)?..]
        .strip_prefix(' ')
        .map(str::trim_start)
}

/// Whether `text` is a list item's number alone ("1.", "12)"), which begins an item rather than
/// ending a sentence.
pub fn is_enumerator(text: &str) -> bool {
    enumerator_len(text) == Some(text.len())
}

/// Length of the item number `line` begins with: one to three digits and `.` or `)`.
fn enumerator_len(line: &str) -> Option<usize> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    line[digits..].starts_with(['.', ')']).then_some(digits + 1)
}

/// Lines being joined into one block, with where each line starts in the joined text.
#[derive(Default)]
struct Paragraph {
    text: String,
    line_starts: Vec<(usize, u32)>,
    kind: Option<Kind>,
}

impl Paragraph {
    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn start(&mut self, kind: Kind) {
        self.kind = Some(kind);
    }

    fn push(&mut self, line: &str, number: u32) {
        if let (Some(before), Some(after)) = (self.text.chars().last(), line.chars().next()) {
            // Chinese is written without spaces, so a line break between two of its characters
            // is layout only.
            if (!is_han(before) || !is_han(after)) && !before.is_whitespace() {
                self.text.push(' ');
            }
        }
        self.line_starts.push((self.text.len(), number));
        self.text.push_str(line);
    }

    /// The line holding byte `offset` of the joined text.
    fn line_at(&self, offset: usize) -> u32 {
        let i = self
            .line_starts
            .partition_point(|&(start, _)| start <= offset);
        self.line_starts[i.saturating_sub(1)].1
    }

    fn flush(&mut self, out: &mut Vec<Sentence>) {
        if self.text.is_empty() {
            self.kind = None;
            return;
        }
        let kind = self.kind.take().unwrap_or(Kind::Prose);
        // The sentence waiting for what may still join it, and where its text ends.
        let mut pending: Option<(Sentence, usize)> = None;
        let starts = bounds(&self.text);
        let ends = starts.iter().skip(1).copied().chain([self.text.len()]);
        for (offset, end) in starts.iter().copied().zip(ends) {
            let sentence = &self.text[offset..end];
            let text = sentence.trim();
            if text.is_empty() {
                continue;
            }
            let lead = sentence.len() - sentence.trim_start().len();
            let start = offset + lead;
            let end = start + text.len() - 1;
            let sentence = Sentence {
                text: text.to_string(),
                first_line: self.line_at(start),
                last_line: self.line_at(end),
                kind,
            };
            match pending.as_mut() {
                // A fragment too short to stand alone joins the sentence before it, and so does
                // what follows an initial, an abbreviation ("Dan J. Bernstein", "e.g. The") or a
                // question quoted as a title, where UAX #29 sees a sentence end: with a space
                // where the paragraph has any, without where it has none ("…记录？”以获得…").
                Some((before, until))
                    if text.chars().count() < MIN_CHARS || goes_on(&before.text, text) =>
                {
                    if start > *until {
                        before.text.push(' ');
                    }
                    before.text.push_str(text);
                    *until = start + text.len();
                    before.last_line = sentence.last_line;
                }
                _ => {
                    if let Some((done, _)) = pending.replace((sentence, start + text.len())) {
                        out.push(done);
                    }
                }
            }
        }
        out.extend(pending.map(|(sentence, _)| sentence));
        self.text.clear();
        self.line_starts.clear();
    }
}

/// Where the sentences of `text` start by Unicode's rules (UAX #29), except that an opening
/// bracket or quotation mark after a sentence's stop starts the next sentence, where UAX #29,
/// which counts opening punctuation among the closing, ends the first one: "…搜索 foo。（目前，…）"
/// would quote "…搜索 foo。（".
pub fn bounds(text: &str) -> Vec<usize> {
    const OPENING: [char; 11] = [
        '（', '(', '【', '「', '『', '《', '〈', '〔', '“', '‘', '｛',
    ];
    const CLOSING: [char; 9] = ['）', ')', '】', '」', '』', '》', '〉', '”', '’'];
    let mut starts: Vec<usize> = text
        .split_sentence_bound_indices()
        .map(|(offset, _)| offset)
        .collect();
    for i in 1..starts.len() {
        let piece = text[starts[i - 1]..starts[i]].trim_end();
        let kept = piece.trim_end_matches(OPENING);
        if kept.len() < piece.len() && kept.trim_end_matches(CLOSING).ends_with(STOPS) {
            starts[i] = starts[i - 1] + kept.len();
        }
    }
    starts
}

/// The marks that end a sentence.
const STOPS: [char; 6] = ['.', '!', '?', '。', '！', '？'];

/// Abbreviations whose period ends no sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Mrs.", "Ms.", "Dr.", "St.",
];

/// Whether `text`, followed by `next`, ends with an initial ("J.") or an abbreviation rather
/// than a sentence's period. A capital and a period before a word that opens sentences ("This",
/// "The", "It": an English stopword) end one: "… written in C. This is …"; before a name they
/// are an initial: "Dan J. Bernstein".
fn ends_short(text: &str, next: &str) -> bool {
    let last = text.rsplit(char::is_whitespace).next().unwrap_or(text);
    let mut chars = last.chars();
    let capital_dot = matches!(
        (chars.next(), chars.next(), chars.next()),
        (Some(c), Some('.'), None) if c.is_ascii_uppercase()
    );
    let opens_a_sentence = || {
        next.split(|c: char| !c.is_alphanumeric())
            .find(|w| !w.is_empty())
            .is_some_and(|w| STOPWORDS.contains(w.to_lowercase().as_str()))
    };
    (capital_dot && !opens_a_sentence()) || ABBREVIATIONS.contains(&last)
}

/// Whether `text`, cut from `next` at a sentence boundary of UAX #29, is a sentence that goes on
/// into `next`: it ends with an initial or an abbreviation ([`ends_short`]), with a question
/// quoted as a title ([`ends_in_a_quoted_title`]), inside a quotation `next` closes
/// ([`inside_a_quotation`]), or with a quoted question that lowercase goes on from ('He asked,
/// "Why?" and left.'). Evidence and generated answers are cut alike.
pub fn goes_on(text: &str, next: &str) -> bool {
    ends_short(text, next)
        || ends_in_a_quoted_title(text)
        || inside_a_quotation(text, next)
        || (ends_in_a_quoted_question(text)
            && next
                .trim_start()
                .starts_with(|c: char| c.is_ascii_lowercase()))
}

/// Whether `text` ends with a question or exclamation inside quotation marks or brackets.
fn ends_in_a_quoted_question(text: &str) -> bool {
    let body = text.trim_end_matches(['”', '"', '’', ')']);
    body.len() < text.len() && body.ends_with(['?', '!'])
}

/// Whether `text` leaves a quotation open that the next sentence of `next` closes: a section's
/// title quoted whole, stops and all ('See Section 14.3, “I am making a distribution for a
/// "vertical market". Can I use Debian for the guts of it?” for more information.'), is part of
/// the sentence that cites it.
fn inside_a_quotation(text: &str, next: &str) -> bool {
    let open =
        |s: &str| s.matches(['“', '「']).count() as isize - s.matches(['”', '」']).count() as isize;
    open(text) > 0
        && next
            .split_sentence_bounds()
            .next()
            .is_some_and(|piece| open(piece) < 0)
}

/// Whether `text` was cut after a question or exclamation that closes a quoted title rather than
/// quoted speech: "参见本 FAQ 的第 12.4 节 “有没有已知的缺陷的记录？” 以获得…" goes on past the title, where
/// UAX #29 ends a sentence before the next Chinese character. Speech is opened by a colon
/// (他问：“…？”) and may end its sentence; a title is not.
fn ends_in_a_quoted_title(text: &str) -> bool {
    // A title cited in brackets closes them too: "控制文件（参见第 7.4 节“什么是控制文件？”）记录了…".
    let text = text.trim_end_matches(['）', ')', '】', ']']);
    let Some(body) = text.strip_suffix('”').or_else(|| text.strip_suffix('」')) else {
        return false;
    };
    if !body.ends_with(['？', '！', '?', '!']) {
        return false;
    }
    let Some(open) = body.rfind(['“', '「']) else {
        return false;
    };
    !body[..open].trim_end().ends_with(['：', ':', '，', ','])
}

/// The spans of `sentence` between quotation marks that ask something: a section's title quoted
/// as a question, not a term the sentence names ('The name “sid” comes from …' answers "What is
/// “sid”?").
pub fn quoted_questions(sentence: &str) -> impl Iterator<Item = &str> {
    const QUOTES: [(char, char); 3] = [('“', '”'), ('「', '」'), ('"', '"')];
    QUOTES
        .into_iter()
        .flat_map(move |(open, close)| {
            let mut rest = sentence;
            std::iter::from_fn(move || {
                let start = rest.find(open)? + open.len_utf8();
                let len = rest[start..].find(close)?;
                let quote = &rest[start..start + len];
                rest = &rest[start + len + close.len_utf8()..];
                Some(quote)
            })
        })
        .filter(|quote| quote.trim_end().ends_with(['?', '？']))
}

/// Appends `next` to `text` with the space that belongs between them: none after Chinese (its
/// citation markers aside: "…的。[1]" ends in Chinese).
pub fn join(text: &mut String, next: &str) {
    let last = markers::strip(text).0.chars().last();
    let needs_space = last.is_some_and(|c| !is_han(c) && !is_cjk_punctuation(c))
        && !text.ends_with(char::is_whitespace)
        && next.chars().next().is_some_and(|c| !is_cjk_punctuation(c));
    if needs_space {
        text.push(' ');
    }
    text.push_str(next);
}

/// Words that open a sentence by pointing back at the one before it ("It …", "This …"): such a
/// sentence says what it says only with that one.
const REFERS_BACK: [&str; 14] = [
    "it", "its", "it's", "this", "that", "these", "those", "they", "their", "them", "such", "he",
    "she", "his",
];

/// Characters that open a Chinese sentence by pointing back (它 it, 其 its, 这 this, 此 this,
/// 该 the said, 他/她 he/she, 那 that).
const REFERS_BACK_ZH: [char; 8] = ['它', '其', '这', '此', '该', '他', '她', '那'];

/// Words that begin with one of those characters and point nowhere (其他 other, 其实 in fact,
/// 此外 besides: a sentence that adds, not one that refers).
const STANDS_ALONE_ZH: [&str; 5] = ["其他", "其它", "其实", "他人", "此外"];

/// Whether `sentence` (citation markers aside) opens by referring back to the sentence before
/// it: "It turns text into vectors.", "这一步叫做索引。"
pub fn refers_back(sentence: &str) -> bool {
    let (text, _) = markers::strip(sentence);
    let text = text.trim_start();
    let first = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .next()
        .unwrap_or_default()
        .to_lowercase();
    REFERS_BACK.contains(&first.as_str())
        || (text.starts_with(REFERS_BACK_ZH)
            && !STANDS_ALONE_ZH.iter().any(|word| text.starts_with(word)))
}

/// Whether `sentence` (citation markers aside) ends by announcing what follows it ("To remove
/// it, run:", "Debian 提供："): such a sentence says what it says only with the next one.
pub fn announces(sentence: &str) -> bool {
    markers::strip(sentence).0.ends_with([':', '：'])
}

/// Full-width punctuation, after which Chinese puts no space.
pub fn is_cjk_punctuation(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF65)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_that_announce_the_next_end_with_a_colon() {
        assert!(announces(
            "To remove the foo package from your system, run: [3]"
        ));
        assert!(announces("要从您的系统中卸载软件包 foo，请运行："));
        assert!(!announces("Run apt remove foo. [3]"));
        assert!(!announces("The ratio is 3:2 here."));
    }

    #[test]
    fn sentences_that_refer_back_are_known_by_their_first_word() {
        for continues in [
            "It turns text into vectors. [1]",
            "This step is called indexing.",
            "They are stored in a vector database.",
            "它通过检索相关文档来回答问题。",
            "这一步叫做索引。[2]",
            "其中最常用的是余弦相似度。",
        ] {
            assert!(refers_back(continues), "{continues}");
        }
        for stands in [
            "Retrieval-augmented generation answers from documents.",
            "Items are stored in a vector database.",
            "Iterators are lazy.",
            "检索增强生成先检索再生成。",
            "其他发行版也使用 APT。",
            "此外，我们会发布一个 CD 厂商的列表。",
            "Thistle is a plant.",
        ] {
            assert!(!refers_back(stands), "{stands}");
        }
    }

    fn texts(text: &str) -> Vec<String> {
        split(text).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn english_prose_splits_at_sentence_ends_and_joins_wrapped_lines() {
        let text = "Debian is a free operating system.\nIt comes with over 59000\npackages! Is it stable? Yes, e.g. for servers.";
        let sentences = split(text);
        assert_eq!(
            sentences
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>(),
            [
                "Debian is a free operating system.",
                "It comes with over 59000 packages!",
                "Is it stable?",
                "Yes, e.g. for servers."
            ]
        );
        assert_eq!((sentences[1].first_line, sentences[1].last_line), (1, 2));
        assert_eq!((sentences[3].first_line, sentences[3].last_line), (2, 2));
    }

    #[test]
    fn chinese_splits_at_full_width_stops_and_joins_lines_without_spaces() {
        let text = "Debian 是 Linux 操作系统的一个发行版。用户可以选择安\n装哪些软件包！软件仓库每日更新两次？";
        assert_eq!(
            texts(text),
            [
                "Debian 是 Linux 操作系统的一个发行版。",
                "用户可以选择安装哪些软件包！",
                "软件仓库每日更新两次？"
            ]
        );
        assert_eq!(split(text)[1].last_line, 1);
        // A question quoted as a title ends no sentence; quoted speech after a colon may.
        assert_eq!(
            texts(
                "参见本 FAQ 的第 12.4 节 “有没有已知的缺陷的记录？” 以获得额外信息。他问：“能升级吗？”我说可以。"
            ),
            [
                "参见本 FAQ 的第 12.4 节 “有没有已知的缺陷的记录？” 以获得额外信息。",
                "他问：“能升级吗？”",
                "我说可以。"
            ]
        );
        assert_eq!(
            texts("请阅读第 12.1 节“还有哪些文档？”以了解更多。"),
            ["请阅读第 12.1 节“还有哪些文档？”以了解更多。"]
        );
        // Nor does one closed inside brackets.
        assert_eq!(
            texts(
                "Debian 控制文件（参见第 7.4 节“什么是 Debian 控制文件？”）记录了软件包的维护者。"
            ),
            ["Debian 控制文件（参见第 7.4 节“什么是 Debian 控制文件？”）记录了软件包的维护者。"]
        );
    }

    #[test]
    fn an_opening_bracket_after_a_stop_opens_the_next_sentence() {
        assert_eq!(
            texts(
                "这会在已安装的软件包中搜索 foo。（目前，该命令等价于搜索 .list 文件。）另一个更快的方法是使用 dlocate。"
            ),
            [
                "这会在已安装的软件包中搜索 foo。",
                "（目前，该命令等价于搜索 .list 文件。）",
                "另一个更快的方法是使用 dlocate。"
            ]
        );
        assert_eq!(
            texts("他说完了。“下一个问题？”她问。"),
            ["他说完了。", "“下一个问题？”她问。"]
        );
    }

    #[test]
    fn a_quoted_title_with_stops_inside_stays_in_the_sentence_that_cites_it() {
        let cites = "See Section 14.3, “I am making a special Linux distribution for a \"vertical \
                     market\". Can I use Debian GNU/Linux for the guts of a Linux system?” for more \
                     information.";
        assert_eq!(
            texts(&format!("Debian is free. {cites} It works.")),
            ["Debian is free.", cites, "It works."]
        );
        // A question quoted in English goes on where lowercase follows it; speech that closes
        // its sentence does not, and nor does an unquoted question.
        assert_eq!(
            texts(
                "He asked, \"Why?\" and left. She said, “No!” Then she left. Is it apt? apt is a tool."
            ),
            [
                "He asked, \"Why?\" and left.",
                "She said, “No!”",
                "Then she left.",
                "Is it apt?",
                "apt is a tool."
            ]
        );
    }

    #[test]
    fn quoted_questions_are_the_quotes_that_ask() {
        let sentence = "See Section 12.1, “What other documentation exists?”, the name “sid”, \
                        「有没有已知的缺陷的记录？」 and \"How do I install it? \".";
        assert_eq!(
            quoted_questions(sentence).collect::<Vec<_>>(),
            [
                "What other documentation exists?",
                "有没有已知的缺陷的记录？",
                "How do I install it? "
            ]
        );
        assert_eq!(quoted_questions("An unclosed “quote?").count(), 0);
    }

    #[test]
    fn list_items_and_headings_are_blocks_of_their_own() {
        let text = "# Installing\n\nUse one of these:\n- apt install foo. It is quick.\n- dpkg -i foo.deb\n  when offline.\n1. Third way";
        let sentences = split(text);
        let kinds: Vec<(&str, Kind)> = sentences
            .iter()
            .map(|s| (s.text.as_str(), s.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("Installing", Kind::Heading),
                ("Use one of these:", Kind::Prose),
                ("apt install foo.", Kind::ListItem),
                ("It is quick.", Kind::ListItem),
                ("dpkg -i foo.deb when offline.", Kind::ListItem),
                ("Third way", Kind::ListItem),
            ]
        );
        assert_eq!((sentences[4].first_line, sentences[4].last_line), (4, 5));
    }

    #[test]
    fn code_lines_stay_whole() {
        let text = "Call it like this:\n\n```python\nimport os.path\nos.path.join(a, b). Done? no\n```\n\n    $ apt-get install foo. bar\n";
        let sentences = split(text);
        let code: Vec<&str> = sentences
            .iter()
            .filter(|s| s.kind == Kind::Code)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(
            code,
            [
                "import os.path",
                "os.path.join(a, b). Done? no",
                "    $ apt-get install foo. bar"
            ]
        );
        assert_eq!(
            sentences
                .iter()
                .find(|s| s.text == "import os.path")
                .unwrap()
                .first_line,
            3
        );
    }

    #[test]
    fn an_initial_or_an_abbreviation_ends_no_sentence() {
        assert_eq!(
            texts(
                "Other software of Dan J. Bernstein is shipped. Some agree, e.g. Debian. It works. \
                 Write it in C. This is explained by J. Smith. It was written in C. Python calls it."
            ),
            [
                "Other software of Dan J. Bernstein is shipped.",
                "Some agree, e.g. Debian.",
                "It works.",
                "Write it in C.",
                "This is explained by J. Smith.",
                // Before a name, a capital and a period read as an initial: the rule's cost.
                "It was written in C. Python calls it."
            ]
        );
    }

    #[test]
    fn short_fragments_join_the_sentence_before() {
        assert_eq!(
            texts("It works. Ok. Then go on."),
            ["It works. Ok.", "Then go on."]
        );
    }
}
