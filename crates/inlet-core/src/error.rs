//! Error classes: whether trying again can help.
//!
//! Every error from a backend carries its class. A transient one (a throttle,
//! a 5xx, a timeout, a dropped connection) leaves the input where it is and
//! fails the delivery, so that it is retried. A permanent one (access denied,
//! a malformed file, a bad definition) is filed in `failed/` at once: retrying
//! would fail the same way.

use serde::{Deserialize, Serialize};

/// The error type a backend keeps as the source of its own.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Trying again later may succeed.
    Transient,
    /// Trying again fails the same way until someone fixes the cause.
    Permanent,
}

/// Service error codes that mean "slow down" or "try again": AWS's throttling
/// and server-side codes across S3, Glue, SQS and DynamoDB.
pub const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServiceException",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "OperationTimeoutException",
    "ResourceNumberLimitExceededException",
];

impl ErrorClass {
    /// The class of a service's answer, from its error code and HTTP status.
    pub fn of_response(code: Option<&str>, status: Option<u16>) -> Self {
        let transient_code = code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
        let transient_status = status.is_some_and(|s| s >= 500 || s == 408 || s == 429);
        if transient_code || transient_status { ErrorClass::Transient } else { ErrorClass::Permanent }
    }

    /// The class of a local I/O error: interruptions and timeouts pass, the
    /// rest (permissions, a missing folder, a full disk) needs someone.
    pub fn of_io(error: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match error.kind() {
            Interrupted | TimedOut | WouldBlock | ConnectionReset | ConnectionAborted | ConnectionRefused | BrokenPipe | UnexpectedEof => {
                ErrorClass::Transient
            }
            _ => ErrorClass::Permanent,
        }
    }

    pub fn is_transient(self) -> bool {
        self == ErrorClass::Transient
    }
}

/// An error that knows its class.
pub trait Classify {
    fn class(&self) -> ErrorClass;

    fn is_transient(&self) -> bool {
        self.class().is_transient()
    }
}

/// The message of an error and all its sources, joined, without repeats.
///
/// SDK errors say only "service error" at the top; the code and message sit
/// further down the chain.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_and_server_errors_are_transient() {
        assert_eq!(ErrorClass::of_response(Some("SlowDown"), Some(503)), ErrorClass::Transient);
        assert_eq!(ErrorClass::of_response(Some("ThrottlingException"), Some(400)), ErrorClass::Transient);
        assert_eq!(ErrorClass::of_response(None, Some(500)), ErrorClass::Transient);
        assert_eq!(ErrorClass::of_response(Some("AccessDenied"), Some(403)), ErrorClass::Permanent);
        assert_eq!(ErrorClass::of_response(Some("NoSuchBucket"), Some(404)), ErrorClass::Permanent);
        assert_eq!(ErrorClass::of_io(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)), ErrorClass::Transient);
        assert_eq!(ErrorClass::of_io(&std::io::Error::from(std::io::ErrorKind::PermissionDenied)), ErrorClass::Permanent);
    }
}
