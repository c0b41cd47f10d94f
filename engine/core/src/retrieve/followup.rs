//! Follow-up questions as standalone retrieval queries.
//!
//! "How do I install it?" after "What is dpkg?" searches for "it" unless something carries the
//! topic over. The rule, in full:
//!
//! 1. A question **refers back** when it holds a referring word (English: *it, its, this, these,
//!    those, they, them, their, such, same, one, ones*; Chinese: 它, 它们, 这个, 那个, 这些, 那些,
//!    这种, 那种, 上述, 前者, 后者, 另一个, 另外两个, an ordinal such as 第一个 or 第二种, 该 — not in
//!    应该 —, 其 — not in 其他, 其实, 其余, 其次, nor 其中 but as 其中一个 / 其中之一 ("one of
//!    them"); English ordinals come with *one*),
//!    or when it is **short**: at most [`SHORT_WORDS`] content words, a run of Chinese content
//!    characters counting as one word per two characters ("怎么安装？", "And on Ubuntu?").
//! 2. A question that refers back gets the **key terms** of the previous question appended, those
//!    it does not already hold (at most 8, none longer than 32 characters): its English words
//!    that are not stopwords or referring words, and its runs of Chinese characters between
//!    function characters (如何**配置网络接口** → 配置网络接口), in order.
//! 3. Turn by turn: the previous question is first made standalone from the ones before it, so a
//!    chain of follow-ups keeps its topic. Any other question stands as asked.
//!
//! Only the user's questions count, not the answers: an answer's words are the sources', and
//! would pull retrieval towards what was already found.

use unicode_segmentation::UnicodeSegmentation;

use crate::text::language::is_han;
use crate::text::tokens::{FUNCTION_CHARACTERS, STOPWORDS};

/// A question with at most this many content words is too short to stand alone.
pub const SHORT_WORDS: usize = 2;

/// At most this many terms are carried over (a long first question would otherwise bury a
/// short follow-up).
const MAX_CARRIED: usize = 8;

/// A longer "term" (a whole unpunctuated Chinese paragraph, a pasted hash) is not a topic, and
/// is not carried.
const MAX_TERM_CHARS: usize = 32;

const ENGLISH_REFERRING: &[&str] = &[
    "it", "its", "itself", "this", "these", "those", "they", "them", "their", "such", "same",
    "one", "ones",
];

const CHINESE_REFERRING: &[&str] = &[
    "它们",
    "它",
    "这个",
    "那个",
    "这些",
    "那些",
    "这种",
    "那种",
    "上述",
    "前者",
    "后者",
    "另一个",
    "另外两个",
];

/// Ordinals that point at something listed before: 第一个, 第二种 ("the first one").
const CHINESE_ORDINAL_DIGITS: &str = "一二三四五六七八九十";

/// `question` as a query that stands alone, given the user's `earlier` questions of the same
/// conversation, oldest first (see the module's rule).
pub fn standalone(question: &str, earlier: &[impl AsRef<str>]) -> String {
    let mut previous: Option<String> = None;
    for asked in earlier.iter().map(AsRef::as_ref).chain([question]) {
        let rewritten = match &previous {
            Some(before) if refers_back(asked) => carry_over(asked, before),
            _ => asked.trim().to_string(),
        };
        previous = Some(rewritten);
    }
    previous.unwrap_or_default()
}

/// `question` with the key terms of `before` it lacks, after a space.
fn carry_over(question: &str, before: &str) -> String {
    let held: Vec<String> = key_terms(question)
        .iter()
        .map(|t| t.to_lowercase())
        .collect();
    let mut out = question.trim().to_string();
    let mut carried: Vec<String> = Vec::new();
    for term in key_terms(before) {
        let lower = term.to_lowercase();
        let present = held.iter().any(|h| h == &lower)
            || (term.chars().any(is_han) && question.contains(&term));
        let topical = term.chars().count() <= MAX_TERM_CHARS;
        if topical && !present && !carried.iter().any(|c| c.to_lowercase() == lower) {
            carried.push(term);
        }
    }
    for term in carried.into_iter().take(MAX_CARRIED) {
        out.push(' ');
        out.push_str(&term);
    }
    out
}

/// Whether `question` refers back to an earlier one, or is too short to stand alone.
pub fn refers_back(question: &str) -> bool {
    let english = question
        .unicode_words()
        .any(|w| ENGLISH_REFERRING.contains(&w.to_lowercase().as_str()));
    english || refers_back_in_chinese(question) || content_words(question) <= SHORT_WORDS
}

fn refers_back_in_chinese(question: &str) -> bool {
    if CHINESE_REFERRING.iter().any(|w| question.contains(w)) {
        return true;
    }
    let chars: Vec<char> = question.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| match c {
        '该' => i == 0 || chars[i - 1] != '应',
        '第' => {
            chars
                .get(1 + i)
                .is_some_and(|&d| CHINESE_ORDINAL_DIGITS.contains(d))
                && chars.get(2 + i).is_some_and(|&m| "个种项".contains(m))
        }
        // 其中 ("among them") points back only as 其中一个 / 其中之一, "one of them": elsewhere
        // it points inside its own sentence (配置文件为 /etc/inittab，其中指定的…).
        '其' => match chars.get(i + 1) {
            Some('中') => chars.get(i + 2).is_some_and(|&c| c == '一' || c == '之'),
            Some(next) => !"他实余次".contains(*next),
            None => true,
        },
        _ => false,
    })
}

/// Content words of `question`: English words that are not stopwords, and a word per two
/// Chinese content characters (rounded up).
fn content_words(question: &str) -> usize {
    key_terms(question)
        .iter()
        .map(|term| {
            let han = term.chars().filter(|&c| is_han(c)).count();
            if han > 0 { han.div_ceil(2) } else { 1 }
        })
        .sum()
}

/// The terms a question is about, in order: English words that are neither stopwords nor
/// referring words (as written), and runs of Chinese characters between function characters.
fn key_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut run = String::new();
    // Unicode's word bounds make each Han character a segment of its own.
    let mut segments = text.split_word_bounds().peekable();
    while let Some(segment) = segments.next() {
        let mut chars = segment.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if is_han(c) => {
                if FUNCTION_CHARACTERS.contains(c) {
                    push_run(&mut terms, &mut run);
                    // 一下, 一点 ("a little", after a verb: 介绍一下) are function words whose
                    // second character is not: left in, 介绍一下钢做的水壶 gave the term 下钢做.
                    if c == '一' && segments.next_if(|s| matches!(*s, "下" | "点")).is_some() {
                        continue;
                    }
                } else {
                    run.push(c);
                }
            }
            _ => {
                push_run(&mut terms, &mut run);
                let lower = segment.to_lowercase();
                if segment.chars().any(char::is_alphanumeric)
                    && !STOPWORDS.contains(lower.as_str())
                    && !ENGLISH_REFERRING.contains(&lower.as_str())
                {
                    terms.push(segment.to_string());
                }
            }
        }
    }
    push_run(&mut terms, &mut run);
    terms
}

/// Ends a run of Chinese content characters: two or more make a term (a lone one is too vague
/// to carry).
fn push_run(terms: &mut Vec<String>, run: &mut String) {
    let text = std::mem::take(run);
    if text.chars().count() >= 2 {
        terms.push(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_without_history_stands_as_asked() {
        assert_eq!(
            standalone(" What is dpkg? ", &[] as &[&str]),
            "What is dpkg?"
        );
    }

    #[test]
    fn an_english_follow_up_gets_the_previous_topic() {
        assert_eq!(
            standalone("How do I install it?", &["What is dpkg?"]),
            "How do I install it? dpkg"
        );
        assert_eq!(
            standalone("And on Ubuntu?", &["Can I use apt packages on Knoppix?"]),
            "And on Ubuntu? use apt packages Knoppix"
        );
    }

    #[test]
    fn a_question_that_stands_alone_is_left_alone() {
        assert_eq!(
            standalone(
                "How do I configure the network interfaces on Debian?",
                &["What is dpkg?"]
            ),
            "How do I configure the network interfaces on Debian?"
        );
        assert_eq!(
            standalone(
                "其他发行版的软件包可以在 Debian 上使用吗？",
                &["什么是 dpkg？"]
            ),
            "其他发行版的软件包可以在 Debian 上使用吗？"
        );
    }

    #[test]
    fn a_chinese_follow_up_gets_the_previous_topic() {
        assert_eq!(
            standalone("它的配置文件在哪里？", &["如何配置网络接口？"]),
            "它的配置文件在哪里？ 配置网络接口"
        );
        assert_eq!(
            standalone("它烧开一升水要多久？", &["介绍一下钢做的水壶。"]),
            "它烧开一升水要多久？ 介绍 钢做 水壶"
        );
        assert_eq!(
            standalone("怎么安装？", &["什么是 Debian 软件包？"]),
            "怎么安装？ Debian 软件包"
        );
    }

    #[test]
    fn terms_the_follow_up_already_holds_are_not_repeated() {
        assert_eq!(
            standalone("Is dpkg safe to use on it?", &["What is dpkg?"]),
            "Is dpkg safe to use on it?"
        );
    }

    #[test]
    fn what_is_carried_over_stays_short() {
        let paragraph = "软件包".repeat(20);
        let earlier = [format!("{paragraph}是什么？ dpkg")];
        assert_eq!(standalone("怎么安装它？", &earlier), "怎么安装它？ dpkg");
        let many = ["What about alpha beta gamma delta epsilon zeta eta theta iota kappa?"];
        assert_eq!(
            standalone("And it?", &many),
            "And it? alpha beta gamma delta epsilon zeta eta theta"
        );
    }

    #[test]
    fn a_chain_of_follow_ups_keeps_its_topic() {
        assert_eq!(
            standalone(
                "Where are its logs?",
                &["What is the X server?", "How do I restart it?"]
            ),
            "Where are its logs? restart X server"
        );
    }

    #[test]
    fn referring_words_are_told_from_words_that_only_contain_them() {
        assert!(refers_back("该软件包的维护者是谁？"));
        assert!(!refers_back(
            "我应该使用 Debian 的哪个发布版本来运行服务器？"
        ));
        assert!(!refers_back("其他发行版的软件包可以在 Debian 上使用吗？"));
        assert!(refers_back("为什么第二个会坏掉好几个月？"));
        assert!(refers_back("如何显示其中一个包含的文件？"));
        assert!(!refers_back(
            "Debian 有三个发布版本，服务器应该用其中哪个发布版本？"
        ));
        assert!(!refers_back("第一次安装 Debian 时应该选择哪个发布版本？"));
        assert!(refers_back("What does this mean?"));
        assert!(!refers_back(
            "Which Debian distribution should a web server run?"
        ));
    }
}
