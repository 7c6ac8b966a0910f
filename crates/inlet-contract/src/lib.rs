//! # inlet-contract
//!
//! The contract between inlet's functions and the stacks that deploy them.
//! Every fact both sides must agree on is written here once: the names of
//! environment variables, the app stack's outputs, the lifecycle prefixes of
//! the input bucket, the suffixes that decide where a dropped file goes, the
//! metrics the alarms watch, and the functions with the variables each one
//! reads.
//!
//! It is not configuration: nothing here changes per deployment. And it has no
//! dependencies, so `infra` can import it without compiling the engine.

pub mod env;
pub mod functions;
pub mod metrics;
pub mod outputs;
pub mod prefixes;
pub mod suffixes;

pub use functions::Function;
pub use suffixes::InputKind;
