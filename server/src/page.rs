//! `GET /`: the web page, built into the binary, with headers that keep it from being framed or
//! made to run anything but its own script.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("page.html");

/// The page's one inline script and one inline style are allowed by their hashes, so an
/// injected script would not run; it may talk to this server only, and nothing may frame it.
static POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        inline_hash("script"),
        inline_hash("style")
    )
});

/// The CSP source for the content of the page's `<tag>` element: `'sha256-…'`.
fn inline_hash(tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let content = PAGE
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(content, _)| content);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(content))
    )
}

/// The web page: plain HTML, CSS and JavaScript.
#[utoipa::path(get, path = "/", responses((status = 200, description = "The web page", content_type = "text/html")))]
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, POLICY.as_str()),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(PAGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_inline_script_and_style_by_hash() {
        assert_eq!(POLICY.matches("'sha256-").count(), 2, "{}", *POLICY);
        assert!(!POLICY.contains("unsafe-inline"), "{}", *POLICY);
        assert!(
            !POLICY.contains("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"),
            "an empty element's hash: {}",
            *POLICY
        );
    }
}
