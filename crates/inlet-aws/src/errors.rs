//! Classifying SDK errors: throttles, 5xx, timeouts and dropped connections
//! are transient, everything else is permanent.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse as Response;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use inlet_core::error::{BoxError, ErrorClass};
use inlet_core::storage::{ObjectLocation, StoreError};

/// The class of any SDK call's error.
pub fn class_of<E: ProvideErrorMetadata>(error: &SdkError<E, Response>) -> ErrorClass {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorClass::Transient,
        SdkError::ServiceError(service) => ErrorClass::of_response(service.err().code(), Some(service.raw().status().as_u16())),
        _ => ErrorClass::Permanent,
    }
}

/// The HTTP status of a service's answer, if it answered.
pub fn status_of<E>(error: &SdkError<E, Response>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// A store error that keeps the SDK error as its source.
pub fn store_error<E>(operation: &'static str, location: &ObjectLocation, error: SdkError<E, Response>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let class = class_of(&error);
    StoreError::backend(operation, location, class, error)
}

/// A store error for a failure outside the SDK's error type (a body stream).
pub fn stream_error(operation: &'static str, location: &ObjectLocation, error: impl Into<BoxError>) -> StoreError {
    StoreError::backend(operation, location, ErrorClass::Transient, error)
}
