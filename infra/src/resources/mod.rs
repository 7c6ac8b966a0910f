//! The resource constructs, one module per AWS service family. Each is a
//! typed constructor with secure defaults plus grants; anything a default
//! does not cover is set through [`crate::stack::ResourceRef::set`].

pub mod alarms;
pub mod analytics;
pub mod delivery;
pub mod dynamodb;
pub mod emr;
pub mod lambda;
pub mod notify;
pub mod s3;
pub mod sqs;
