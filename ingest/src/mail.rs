//! E-mail (`.eml`, RFC 5322) as text: the subject as its title, who sent it and when, then the
//! text of its body (HTML parts read as text; attachments left out). Legacy charsets (GB2312,
//! Big5, ISO-8859-*) are decoded.

use mail_parser::MessageParser;

use crate::load::LoadError;

/// The message's subject as a `#` heading, its sender and date, and its body's text parts.
pub(crate) fn eml_text(bytes: &[u8]) -> Result<String, LoadError> {
    let message = MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| LoadError::Parse("e-mail: not a readable message".into()))?;
    let mut text = String::new();
    if let Some(subject) = message.subject().filter(|s| !s.trim().is_empty()) {
        text.push_str(&format!("# {}\n\n", subject.trim()));
    }
    if let Some(from) = message.from().and_then(|from| from.first()) {
        let who = match (from.name(), from.address()) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (name, address) => name.or(address).unwrap_or_default().to_string(),
        };
        text.push_str(&format!("From: {who}\n"));
    }
    if let Some(date) = message.date() {
        text.push_str(&format!("Date: {}\n", date.to_rfc3339()));
    }
    text.push('\n');
    for i in 0..message.text_body_count() {
        if let Some(body) = message.body_text(i) {
            text.push_str(body.trim());
            text.push_str("\n\n");
        }
    }
    Ok(text)
}
