//! Extractors whose rejections come in the error envelope with a code of their own, rather
//! than axum's plain-text 400.

use axum::extract::{FromRequestParts, Path, Query};
use axum::response::Response;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::reply::error;

/// Path parameters (`{name}`, `{priority}`); one that does not parse (a rule priority that
/// is not a number) is `400 Admin.InvalidPathParameter`.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub(crate) T);

/// The query string; one that does not parse (`?dry_run=maybe`) is `400 Admin.InvalidQuery`.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

// === impl ApiPath ===

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(error(
                rejection.status(),
                "Admin.InvalidPathParameter",
                &rejection.body_text(),
            )),
        }
    }
}

// === impl ApiQuery ===

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(error(
                rejection.status(),
                "Admin.InvalidQuery",
                &rejection.body_text(),
            )),
        }
    }
}
