//! One pass over an XML document as a stream of opened and closed elements (by local name, with
//! their attributes) and text, entities resolved: what the Office and OpenDocument readers walk.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::load::LoadError;

/// One step of the walk.
pub(crate) enum Node<'a> {
    /// An element opens (an empty one is opened, then closed).
    Open(&'a Element),
    /// An element closes.
    Close(&'a str),
    /// Text inside the current element.
    Text(&'a str),
}

/// An element's local name (without its namespace prefix) and its attributes, by local name.
pub(crate) struct Element {
    pub name: String,
    attributes: Vec<(String, String)>,
}

impl Element {
    /// The value of the attribute of local name `name`.
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn read(start: &BytesStart) -> Element {
        let attributes = start
            .attributes()
            .flatten()
            .map(|a| {
                let value = a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_or_else(|_| a.value.to_string(), |v| v.into_owned());
                (local(a.key.as_ref()).to_string(), value)
            })
            .collect();
        Element {
            name: local(start.name().as_ref()).to_string(),
            attributes,
        }
    }
}

/// A name without its namespace prefix.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or_default()
}

/// Walks `xml`, handing each element and text to `on`; `label` names the format in errors.
pub(crate) fn walk(xml: &str, label: &str, on: &mut dyn FnMut(Node<'_>)) -> Result<(), LoadError> {
    let mut reader = Reader::from_str(xml);
    loop {
        let event = reader.read_event().map_err(|e| {
            LoadError::Parse(format!(
                "{label}: broken XML at byte {} ({e})",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::Start(start) => on(Node::Open(&Element::read(&start))),
            Event::Empty(start) => {
                let element = Element::read(&start);
                on(Node::Open(&element));
                on(Node::Close(&element.name));
            }
            Event::End(end) => {
                on(Node::Close(local(end.name().as_ref())));
            }
            Event::Text(text) => on(Node::Text(&text.xml10_content())),
            Event::CData(data) => on(Node::Text(&data)),
            Event::GeneralRef(entity) => {
                let resolved = quick_xml::escape::unescape(&format!("&{};", &*entity))
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                on(Node::Text(&resolved));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_and_text_come_in_order_with_entities_resolved() {
        let mut seen = Vec::new();
        walk(
            r#"<w:p a:val="x &amp; y"><w:t>Tom &amp; Jerry &#x4e2d;</w:t><w:br/></w:p>"#,
            "Word",
            &mut |node| {
                seen.push(match node {
                    Node::Open(e) => format!("<{} {:?}>", e.name, e.attribute("val")),
                    Node::Close(name) => format!("</{name}>"),
                    Node::Text(text) => text.to_string(),
                })
            },
        )
        .unwrap();
        assert_eq!(
            seen.concat(),
            "<p Some(\"x & y\")><t None>Tom & Jerry 中</t><br None></br></p>"
        );
        let err = walk("<a><b></a>", "Word", &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("Word: broken XML"), "{err}");
    }
}
