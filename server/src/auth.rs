//! API keys. With none configured the API is open (for a server on localhost); with keys, every
//! route but `/healthz` and the web page at `/` (which holds no data, and asks for a key itself)
//! needs `Authorization: Bearer KEY`. A read-only key may search and ask;
//! changing the store (ingesting, uploading, deleting) needs a full key.
//!
//! Keys are compared through their SHA-256 digests in constant time, so neither a key's content
//! nor its length leaks through response timing, and they are never logged.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// What a request may do, put into its extensions by [`authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    Full,
}

/// Who may call: full keys and read-only keys, kept as SHA-256 digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    full: Vec<[u8; 32]>,
    read_only: Vec<[u8; 32]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Keys with full access, and keys that may only read.
    pub fn new(full: &[String], read_only: &[String]) -> Self {
        ApiKeys {
            full: full.iter().map(|k| digest(k)).collect(),
            read_only: read_only.iter().map(|k| digest(k)).collect(),
        }
    }

    /// True when no key is set: every route is open.
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.read_only.is_empty()
    }

    /// The access `presented` grants, checking every key (no early exit on a match).
    fn access(&self, presented: &str) -> Option<Access> {
        let presented = digest(presented);
        let matches = |keys: &[[u8; 32]]| {
            keys.iter()
                .fold(0u8, |found, key| found | key.ct_eq(&presented).unwrap_u8())
                == 1
        };
        let (full, read_only) = (matches(&self.full), matches(&self.read_only));
        if full {
            Some(Access::Full)
        } else if read_only {
            Some(Access::ReadOnly)
        } else {
            None
        }
    }
}

/// Middleware: lets the request through with its [`Access`], or answers 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let open = matches!(request.uri().path(), "/healthz" | "/");
    let access = if state.keys.is_empty() || open {
        Some(Access::Full)
    } else {
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|key| state.keys.access(key.trim()))
    };
    match access {
        Some(access) => {
            request.extensions_mut().insert(access);
            next.run(request).await
        }
        None => {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or invalid API key: send `Authorization: Bearer KEY`",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// For routes that change the store.
pub fn require_full(access: Access) -> Result<(), ApiError> {
    match access {
        Access::Full => Ok(()),
        Access::ReadOnly => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this API key is read-only: it may search and ask, not change the store",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_grant_their_access_and_nothing_else() {
        let keys = ApiKeys::new(
            &["full-key".into()],
            &["reader".into(), "other-reader".into()],
        );
        assert_eq!(keys.access("full-key"), Some(Access::Full));
        assert_eq!(keys.access("reader"), Some(Access::ReadOnly));
        assert_eq!(keys.access("other-reader"), Some(Access::ReadOnly));
        assert_eq!(keys.access("full-ke"), None);
        assert_eq!(keys.access("full-key "), None);
        assert_eq!(keys.access(""), None);
        assert!(ApiKeys::default().is_empty());
    }
}
