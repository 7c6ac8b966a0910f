//! What can go wrong in a launch, and whether trying again can help.

use inlet_core::error::{BoxError, Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum EmrError {
    #[error("{file} line {line}: ${{{name}}} is not set; set {name} in the launcher's environment, or write $${{ for a literal ${{")]
    UnsetVariable { file: String, line: usize, name: String },

    #[error("{file}: {message}")]
    Template { file: String, message: String },

    #[error("no EMR product {product:?}; the products are the folders of config/emr/: {known}")]
    UnknownProduct { product: String, known: String },

    #[error("the launch payload's {field}: {message}")]
    Payload { field: String, message: String },

    #[error("run state ({location}): {message}")]
    State {
        location: String,
        message: String,
        class: ErrorClass,
        #[source]
        source: BoxError,
    },

    /// Another launcher changed the run between this one's read and its write.
    #[error("run {correlation_id}/{product} was changed by another launcher; read it again")]
    Conflict { correlation_id: String, product: String },

    #[error("{engine} call {operation} failed ({class:?}): {message}")]
    Engine {
        engine: &'static str,
        operation: &'static str,
        message: String,
        class: ErrorClass,
        #[source]
        source: BoxError,
    },

    #[error("step {step} of run {correlation_id}/{product} failed: {message}")]
    Step { correlation_id: String, product: String, step: String, message: String },
}

impl Classify for EmrError {
    fn class(&self) -> ErrorClass {
        match self {
            EmrError::State { class, .. } | EmrError::Engine { class, .. } => *class,
            EmrError::Conflict { .. } => ErrorClass::Transient,
            EmrError::UnsetVariable { .. }
            | EmrError::Template { .. }
            | EmrError::UnknownProduct { .. }
            | EmrError::Payload { .. }
            | EmrError::Step { .. } => ErrorClass::Permanent,
        }
    }
}
