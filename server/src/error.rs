//! JSON errors, and a JSON body extractor whose rejections are JSON errors too.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use docent_core::store::Unavailable;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds the client should wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// OpenAI's error shape on every route, so that OpenAI clients show docent's message:
/// `{"error": {"message", "type", "code"}}`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        let body = serde_json::json!({ "error": { "message": self.message, "type": kind, "code": self.status.as_u16() } });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// The engine's errors: the caller's mistakes are 400s, everything else a 500.
impl From<docent_core::Error> for ApiError {
    fn from(err: docent_core::Error) -> Self {
        match err {
            docent_core::Error::InvalidInput(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, message)
            }
            docent_core::Error::Backend(err) => err.into(),
        }
    }
}

/// Every other failure (the store, an ingest) is docent's: a 500; a store out of reach (a lost
/// node of a Qdrant cluster) a 503, for the client to retry.
impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        if err.downcast_ref::<Unavailable>().is_some() {
            return unavailable(format!("{err:#}"));
        }
        internal(format!("{err:#}"))
    }
}

/// A 503: the store, or a shard of it, cannot be reached now. The details (node addresses) go
/// to the log, as a 500's do.
fn unavailable(details: String) -> ApiError {
    let incident = uuid::Uuid::new_v4();
    tracing::error!(%incident, "store unavailable: {details}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the document store cannot be reached now: a node of its cluster is down (incident {incident}; the details are in the server's log). Retry later; GET /healthz shows which shards are out of reach"
        ),
    )
    .retry_after(5)
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        internal(format!("the request's worker failed: {err}"))
    }
}

/// A 500: the details (an error chain names files and folders of the server) go to the log under
/// an incident id, and the client gets only the id to quote.
fn internal(details: String) -> ApiError {
    let incident = uuid::Uuid::new_v4();
    tracing::error!(%incident, "request failed: {details}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the server failed to answer (incident {incident}; the details are in its log)"),
    )
}

/// The fields of a request that none of its fields took, kept last in a request (with
/// `#[serde(flatten)]`, where serde's `deny_unknown_fields` cannot be used): a misspelt filter
/// ("pathz") or setting would otherwise be dropped unread, and the search widened or the answer
/// written otherwise than asked, without a word.
#[derive(Deserialize, Default)]
#[serde(transparent)]
pub struct Unknown(BTreeMap<String, IgnoredAny>);

impl Unknown {
    /// The first unknown field's name, if any.
    pub fn first(&self) -> Option<&str> {
        self.0.keys().next().map(String::as_str)
    }

    /// A 400 naming the first unknown field, when there is one.
    pub fn refuse(&self) -> Result<(), ApiError> {
        match self.first() {
            None => Ok(()),
            Some(name) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown field `{name}`: this request does not take it (GET /openapi.json \
                     lists the fields of each request)"
                ),
            )),
        }
    }
}

/// `axum::Json`, with malformed bodies answered as JSON errors (keeping axum's status:
/// 400 bad syntax, 415 wrong content type, 422 wrong shape or types, 413 too large).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_sends_no_internals() {
        let err = anyhow::anyhow!("permission denied").context("reading /srv/private/notes.md");
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !api.message.contains("/srv") && api.message.contains("incident"),
            "{}",
            api.message
        );
        let invalid = ApiError::from(docent_core::Error::InvalidInput(
            "k must be at least 1".into(),
        ));
        assert_eq!(
            (invalid.status, invalid.message.as_str()),
            (StatusCode::BAD_REQUEST, "k must be at least 1")
        );
        let backend = ApiError::from(docent_core::Error::Backend(anyhow::anyhow!(
            "store at /srv/x is broken"
        )));
        assert_eq!(backend.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!backend.message.contains("/srv"), "{}", backend.message);
    }
}
