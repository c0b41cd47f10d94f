//! Whether a sentence denies what it says: the one thing a paraphrase must not change that a
//! sentence embedder barely sees (e5 puts "You cannot change from stable to testing." as near
//! its source as a faithful rewording).

use unicode_segmentation::UnicodeSegmentation;

/// English words that deny (besides every "…n't").
const ENGLISH: [&str; 11] = [
    "not", "no", "never", "cannot", "without", "none", "nothing", "neither", "nor", "nobody",
    "nowhere",
];

/// Chinese characters that deny …
const CHINESE: &str = "不没无未非别勿";
/// … except in these words, where they do not: 不同 (different), 不仅 (not only: and also),
/// 不断 (without pause), 不少 (many), 不过 (but), 无论 (whatever), 非常 (very), 除非 (unless),
/// 差不多 (about), 别的 / 别人 / 分别 / 区别 / 类别 / 级别 (other, respectively, difference,
/// kind, level), 无线 (wireless).
const CHINESE_NOT_DENYING: [&str; 16] = [
    "不同",
    "不仅",
    "不断",
    "不少",
    "不过",
    "无论",
    "非常",
    "除非",
    "差不多",
    "别的",
    "别人",
    "分别",
    "区别",
    "类别",
    "级别",
    "无线",
];

/// Whether `text` holds a denial: an English negative ("not", "no", "…n't", "without", …) or
/// a Chinese one (不, 没, 无, 未, 非, 别, 勿 outside words where they do not deny).
pub fn denies(text: &str) -> bool {
    let english = text.unicode_words().any(|word| {
        let word = word.to_lowercase().replace('’', "'");
        word.ends_with("n't") || ENGLISH.contains(&word.as_str())
    });
    if english {
        return true;
    }
    let mut chinese = text.to_string();
    for word in CHINESE_NOT_DENYING {
        chinese = chinese.replace(word, "");
    }
    chinese.chars().any(|c| CHINESE.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_in_english_and_chinese() {
        for denying in [
            "You cannot change from stable to testing.",
            "The installer scripts are not designed to do that.",
            "It doesn't work with stable.",
            "It won’t boot without a kernel.",
            "稳定版不需要维护。",
            "您无法从稳定版切换。",
            "这些软件包没有经过测试。",
        ] {
            assert!(denies(denying), "{denying}");
        }
        for affirming in [
            "You can change from stable to testing.",
            "Notice the third field of sources.list.",
            "稳定版和测试版的软件包版本不同。",
            "无论哪个版本，都可以升级。",
            "这个过程非常简单。",
        ] {
            assert!(!denies(affirming), "{affirming}");
        }
    }
}
