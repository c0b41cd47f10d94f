//! Which language a question is in, so that docent answers (and says "I don't know") in it.

/// The two languages docent answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Any question that is not Chinese.
    English,
    /// A question with Han characters, at least as many as words in Latin letters.
    Chinese,
}

/// A Han (Chinese) character: the CJK unified ideographs and their extensions A and B, and the
/// compatibility ideographs.
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
}

impl Language {
    /// Chinese when Han characters carry the question: each one counts as much as a word of
    /// Latin letters, so "什么是 RAG？" and "什么是 Debian GNU/Linux？" are Chinese (names and
    /// commands are long in letters, short in words) and "What does 检索 mean?" is English.
    pub fn detect(text: &str) -> Language {
        let han = text.chars().filter(|&c| is_han(c)).count();
        let latin_words = text
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .count();
        if han > 0 && han >= latin_words {
            Language::Chinese
        } else {
            Language::English
        }
    }

    /// Whether `sentence` is written in this language, as a sentence of an answer in it: a
    /// Chinese answer lists names in Latin letters ("例如 grml、LMDE（Linux Mint Debian
    /// Edition）、Knoppix 和 Ubuntu。"), so a sentence with two Han characters or more is
    /// Chinese there, however many names it holds.
    pub fn written_in(self, sentence: &str) -> bool {
        match self {
            Language::Chinese => sentence.chars().filter(|&c| is_han(c)).count() >= 2,
            Language::English => Language::detect(sentence) == Language::English,
        }
    }

    /// What docent says when its sources do not hold the answer.
    pub fn dont_know(self) -> &'static str {
        match self {
            Language::English => {
                "I don't know: the indexed documents do not seem to cover this question."
            }
            Language::Chinese => "我不知道：已索引的文档中似乎没有关于这个问题的内容。",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_question_language() {
        assert_eq!(
            Language::detect("What is retrieval-augmented generation?"),
            Language::English
        );
        assert_eq!(Language::detect("什么是检索增强生成？"), Language::Chinese);
        assert_eq!(Language::detect("什么是 RAG？"), Language::Chinese);
        assert_eq!(
            Language::detect("What does 检索 mean in this context?"),
            Language::English
        );
        assert_eq!(Language::detect("1234 ?"), Language::English);
        // A Chinese answer's sentence may be mostly names.
        let names = "例如 grml、LMDE（Linux Mint Debian Edition）、Knoppix 和 Ubuntu。";
        assert_eq!(Language::detect(names), Language::English);
        assert!(Language::Chinese.written_in(names));
        assert!(!Language::Chinese.written_in("Debian installs packages with apt (包)."));
        // Names and commands are long in letters: it is the words that count.
        assert_eq!(
            Language::detect("什么是 Debian GNU/Linux？"),
            Language::Chinese
        );
        assert_eq!(
            Language::detect("Debian 只做 GNU/Linux 吗？"),
            Language::Chinese
        );
        assert_eq!(
            Language::detect("How do I use 检索 with apt-get install?"),
            Language::English
        );
    }
}
