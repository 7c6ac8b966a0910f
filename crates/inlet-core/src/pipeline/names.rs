//! Column and table naming rules shared by the config and the readers.

/// `Surface Temperature (C)` → (`surface_temperature`, Some(`C`)).
///
/// A trailing parenthesised part is taken as units, as in most instrument
/// exports. CamelCase is split (`NumberOfBins` → `number_of_bins`).
pub fn split_units(source: &str) -> (String, Option<String>) {
    let trimmed = source.trim();
    // A name that is already snake_case stays as it is: a flattened JSON
    // path such as `sensor__id` keeps its `__`.
    if is_snake_case(trimmed) {
        return (trimmed.to_owned(), None);
    }
    if let Some(open) = trimmed.rfind('(')
        && trimmed.ends_with(')')
        && open > 0
    {
        let units = trimmed[open + 1..trimmed.len() - 1].trim();
        let base = &trimmed[..open];
        if !units.is_empty() {
            return (snake_case(base), Some(units.to_owned()));
        }
    }
    (snake_case(trimmed), None)
}

/// Lowercase snake_case, as Athena and Glue want column names.
pub fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && i > 0 {
                let prev = chars[i - 1];
                let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                let boundary = prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_is_lower);
                if boundary && !out.ends_with('_') && !out.is_empty() {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        return "column".into();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "c_");
    }
    out
}

/// The quality-bit column of a column `c` is `qc_c`; no other column may
/// start so.
const QUALITY_COLUMN_PREFIX: &str = "qc_";

/// The name of the column that holds `column`'s quality bits.
pub fn quality_column(column: &str) -> String {
    format!("{QUALITY_COLUMN_PREFIX}{column}")
}

/// Whether `name` is a quality-bit column's name, which no other column may take.
pub fn is_quality_column(name: &str) -> bool {
    name.starts_with(QUALITY_COLUMN_PREFIX)
}

/// Whether `name` is already lowercase snake_case: `[a-z][a-z0-9_]*`.
pub fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')) && !name.ends_with('_')
}

/// Makes a value safe as a Hive partition directory: no `/`, `=`, `:` (Athena
/// and `MSCK REPAIR` mishandle it) or control characters.
pub fn partition_value(raw: &str) -> String {
    let cleaned: String =
        raw.trim().chars().map(|c| if c == '/' || c == '=' || c == ':' || c == '\\' || c.is_control() { '-' } else { c }).collect();
    if cleaned.is_empty() || cleaned.starts_with('.') || cleaned.starts_with('_') {
        // Hive's own marker for a missing value; readers know it.
        return crate::partition::DEFAULT_PARTITION.into();
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buoy_headers_become_snake_case_with_units() {
        let cases = [
            ("Surface Temperature (C)", "surface_temperature", Some("C")),
            ("Conductivity (Siemens/m)", "conductivity", Some("Siemens/m")),
            ("Solar Radiation (W/m^2)", "solar_radiation", Some("W/m^2")),
            ("Relative Humidity (%)", "relative_humidity", Some("%")),
            ("Vel12 (mm/s)", "vel12", Some("mm/s")),
            ("NumberOfBins", "number_of_bins", None),
            ("DataTimeStamp", "data_time_stamp", None),
            ("Latitude", "latitude", None),
            ("HTTPServer id", "http_server_id", None),
            ("2nd value", "c_2nd_value", None),
            ("  ", "column", None),
        ];
        for (source, name, units) in cases {
            assert_eq!(split_units(source), (name.to_owned(), units.map(String::from)), "{source}");
        }
    }

    #[test]
    fn snake_case_check() {
        assert!(is_snake_case("surface_temperature"));
        assert!(is_snake_case("vel1"));
        assert!(!is_snake_case("Vel1"));
        assert!(!is_snake_case("1vel"));
        assert!(!is_snake_case("a-b"));
        assert!(!is_snake_case("trailing_"));
    }

    #[test]
    fn partition_values_are_athena_safe() {
        assert_eq!(partition_value("2020-12-01T00:00"), "2020-12-01T00-00");
        assert_eq!(partition_value("a/b=c"), "a-b-c");
        assert_eq!(partition_value(""), "__HIVE_DEFAULT_PARTITION__");
        assert_eq!(partition_value("._x"), "__HIVE_DEFAULT_PARTITION__");
        assert_eq!(partition_value("BHP"), "BHP");
    }
}
