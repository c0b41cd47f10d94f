//! Generated text in, finished sentences out, each with the citation markers that follow it.

use crate::text::markers::{self, is_marker_char};
use crate::text::sentences;

/// Generated text in, finished sentences out. A sentence is finished once text that is not a
/// citation marker follows it, since a model writes "… free. [1] It …" as often as
/// "… free [1]. It …": markers after a sentence's end belong to that sentence.
#[derive(Default)]
pub struct SentenceStream {
    buffer: String,
}

impl SentenceStream {
    /// Adds generated text; returns the sentences it finished (markers included).
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buffer.push_str(text);
        // Everything before the last sentence that has begun (holds more than markers) is final,
        // once the text after the boundary settles it: UAX #29 ends no sentence at a period
        // that lowercase follows ("dpkg -i .. /foo.deb"), so until a letter, a stop or a line
        // break comes after it, a boundary at the end of the text so far may yet go away.
        let starts = sentence_starts(&self.buffer);
        let begun = starts.iter().rev().find(|&&s| settled(&self.buffer[s..]));
        match begun {
            Some(&cut) if cut > 0 => {
                let done: String = self.buffer.drain(..cut).collect();
                finished(&done)
            }
            _ => Vec::new(),
        }
    }

    /// The sentences left at the end of generation.
    pub fn finish(&mut self) -> Vec<String> {
        finished(&std::mem::take(&mut self.buffer))
    }
}

/// Where the sentences of generated text start: the boundaries evidence is cut at
/// ([`sentences::bounds`]), each moved past the citation markers that follow it (UAX #29 counts
/// a `[` after `。` as closing punctuation of the sentence before, so a marker split there is
/// first made whole again).
fn sentence_starts(text: &str) -> Vec<usize> {
    let mut starts = sentences::bounds(text);
    for i in 1..starts.len() {
        // A boundary inside the markers moved past by the one before is no boundary.
        starts[i] = starts[i].max(starts[i - 1]);
        let before = &text[starts[i - 1]..starts[i]];
        if let Some(open) = before
            .rfind('[')
            .filter(|&o| before[o + 1..].chars().all(is_marker_char))
        {
            starts[i] = starts[i - 1] + open;
        }
        starts[i] = (starts[i] + leading_markers(&text[starts[i]..])).max(starts[i - 1]);
    }
    starts.dedup();
    // "1. " before a list item's text is no sentence, nor is "Dan J." before "Bernstein", nor
    // "参见 “…记录？”" before "以获得…": UAX #29 ends one at their period or question mark.
    let mut i = 1;
    while i < starts.len() {
        let before = text[starts[i - 1]..starts[i]].trim();
        let next = &text[starts[i]..];
        if sentences::is_enumerator(before) || sentences::goes_on(before, next) {
            starts.remove(i);
        } else {
            i += 1;
        }
    }
    starts
}

/// Whether the text after a sentence boundary holds what keeps the boundary whatever comes next:
/// a letter (Han characters included), a sentence's stop or a line break.
fn settled(after: &str) -> bool {
    after.chars().any(|c| {
        c.is_alphabetic() || c == '\n' || matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
    })
}

/// Length of the citation markers (and whitespace) `text` starts with; all of it while the end
/// of `text` could still be the start of one ("[1").
fn leading_markers(text: &str) -> usize {
    let mut end = 0;
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        end += rest.len() - trimmed.len();
        rest = trimmed;
        let Some(inner) = rest.strip_prefix('[') else {
            return end;
        };
        match inner.find(']') {
            Some(close) if inner[..close].chars().all(is_marker_char) => {
                end += close + 2;
                rest = &inner[close + 1..];
            }
            None if inner.chars().all(is_marker_char) => return text.len(),
            _ => return end,
        }
    }
}

/// Finished generated text as sentences (each with the markers that follow it).
fn finished(text: &str) -> Vec<String> {
    let starts = sentence_starts(text);
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| text[start..end].trim().to_string())
        .filter(|s| !markers::strip(s).0.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(pieces: &[&str]) -> Vec<Vec<String>> {
        let mut stream = SentenceStream::default();
        let mut out: Vec<Vec<String>> = pieces.iter().map(|p| stream.push(p)).collect();
        out.push(stream.finish());
        out
    }

    #[test]
    fn sentences_are_released_once_finished_with_their_markers() {
        let out = stream(&[
            "Debian is free",
            ". [",
            "1] It has ",
            "many packages [2]. ",
            "And",
            " more.",
        ]);
        assert_eq!(
            out,
            vec![
                vec![],
                vec![],
                vec!["Debian is free. [1]".to_string()],
                vec![],
                vec!["It has many packages [2].".to_string()],
                vec![],
                vec!["And more.".to_string()],
            ]
        );
    }

    #[test]
    fn chinese_sentences_stream_too() {
        let out = stream(&["Debian 是自由的。[", "1]软件", "包很多。"]);
        assert_eq!(
            out,
            vec![
                vec![],
                vec!["Debian 是自由的。[1]".to_string()],
                vec![],
                vec!["软件包很多。".to_string()]
            ]
        );
        // An opening bracket after a stop begins the next sentence, as in the evidence.
        assert_eq!(
            stream(&["它会搜索 foo。（", "目前等价于 grep。）[2]"]).concat(),
            ["它会搜索 foo。", "（目前等价于 grep。）[2]"]
        );
    }

    #[test]
    fn a_list_items_number_begins_its_sentence() {
        let out = stream(&["Do this:\n1", ". Download it. [1]\n", "2) Build it [2]."]);
        assert_eq!(
            out.concat(),
            ["Do this:", "1. Download it. [1]", "2) Build it [2]."]
        );
    }

    #[test]
    fn an_initial_or_an_abbreviation_ends_no_sentence() {
        // As the evidence's sentences are cut (`text::sentences`): the check judged "Dan J."
        // and "Bernstein wrote all that software." apart.
        let out = stream(&[
            "Dan J",
            ". Bern",
            "stein wrote it [1]. Some agree, e.g. ",
            "Debian. It is written in C. Th",
            "is works.",
        ]);
        assert_eq!(
            out.concat(),
            [
                "Dan J. Bernstein wrote it [1].",
                "Some agree, e.g. Debian.",
                "It is written in C.",
                "This works."
            ]
        );
    }

    #[test]
    fn a_question_quoted_as_a_title_ends_no_sentence() {
        let out = stream(&[
            "请阅读第 12.1 节“还有哪些文档？",
            "”",
            "以了解更多。[1]他问：“能升级吗？”我说可以。",
        ]);
        assert_eq!(
            out.concat(),
            [
                "请阅读第 12.1 节“还有哪些文档？”以了解更多。[1]",
                "他问：“能升级吗？”",
                "我说可以。"
            ]
        );
    }

    /// "dpkg -i .. /foo.deb" is one sentence once "foo" has come: the boundary UAX #29 puts after
    /// ".." while "/" ends the text is not final.
    #[test]
    fn a_boundary_the_next_letter_may_undo_releases_nothing() {
        let out = stream(&[
            "2. 编译完成后，执行 `dpkg -i .. ",
            "/",
            "foo_1.0_amd64.deb` 命令来安装。[2]",
            "然后重启。",
        ]);
        assert_eq!(
            out.concat(),
            [
                "2. 编译完成后，执行 `dpkg -i .. /foo_1.0_amd64.deb` 命令来安装。[2]",
                "然后重启。"
            ]
        );
    }

    #[test]
    fn any_split_of_the_text_gives_the_same_sentences() {
        let text = "Debian is free. [1] [2]\n\n```\n[3]. It is 2.0 [4 ]! 软件。[5]?? [\nEnd [6";
        let whole = {
            let mut stream = SentenceStream::default();
            let mut all = stream.push(text);
            all.extend(stream.finish());
            all
        };
        for size in 1..8 {
            let mut stream = SentenceStream::default();
            let chars: Vec<char> = text.chars().collect();
            let mut all: Vec<String> = chars
                .chunks(size)
                .flat_map(|c| stream.push(&c.iter().collect::<String>()))
                .collect();
            all.extend(stream.finish());
            let squash = |v: &[String]| v.concat().split_whitespace().collect::<String>();
            assert_eq!(squash(&all), squash(&whole), "pieces of {size}");
        }
    }
}
