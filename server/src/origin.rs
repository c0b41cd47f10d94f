//! Requests from other sites: a browser sends a form or a multipart POST cross-origin without
//! asking, so a page anywhere could make a user's local docent ingest or delete when it has no
//! keys. And a name that an attacker's DNS points at 127.0.0.1 (DNS rebinding) makes such a
//! page same-origin with it. Two rules, before anything else:
//! - a request that may change something (any method but GET, HEAD and OPTIONS) with an `Origin`
//!   header must come from this server's own origin;
//! - a server bound to loopback answers only to loopback host names.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Middleware: refuses cross-site writes, and foreign host names on a loopback server (403).
pub async fn same_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(refusal) = refusal(&state, &request) {
        return ApiError::new(StatusCode::FORBIDDEN, refusal).into_response();
    }
    next.run(request).await
}

fn refusal(state: &AppState, request: &Request) -> Option<&'static str> {
    let header_text = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    let host = header_text(header::HOST).unwrap_or_default();
    if state.loopback_only && !is_loopback_host(&host) {
        return Some("this server answers to localhost only");
    }
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let foreign = |origin: &String| {
        *origin != format!("http://{host}") && *origin != format!("https://{host}")
    };
    header_text(header::ORIGIN)
        .filter(|origin| changes && foreign(origin))
        .map(|_| "requests from another site may not call this API")
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_only() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:3000",
            "127.1.2.3",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:80",
            "",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
