//! Which language a question is in, so that docent answers (and says "I don't know") in it.

/// The two languages docent answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Any question that is not Chinese.
    English,
    /// A question with Han characters, at least one for every three Latin letters.
    Chinese,
}

/// A Han (Chinese) character: the CJK unified ideographs and their extensions A and B, and the
/// compatibility ideographs.
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
}

impl Language {
    /// Chinese when Han characters carry the question: each one counts as much as a short word
    /// of Latin letters, so "什么是 RAG？" is Chinese and "What does 检索 mean?" is English.
    pub fn detect(text: &str) -> Language {
        let han = text.chars().filter(|&c| is_han(c)).count();
        let latin = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
        if han > 0 && han * 3 >= latin {
            Language::Chinese
        } else {
            Language::English
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
    }
}
