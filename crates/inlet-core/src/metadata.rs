//! The metadata keys inlet writes into its Parquet files and reads back: the
//! writer sets them, the partitioner and the catalog read them, and neither
//! needs the other to know the names.

/// Arrow field metadata keys. They travel inside every Parquet file (in its
/// `ARROW:schema`), so the catalog can be rebuilt from the files alone.
pub const UNITS_KEY: &str = "units";
pub const DESCRIPTION_KEY: &str = "description";

/// The Parquet key-value metadata entry that holds the writing input's
/// correlation id.
pub const CORRELATION_ID_METADATA: &str = "inlet.correlation_id";
