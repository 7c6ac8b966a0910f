//! `${NAME}` substitution in cluster templates.
//!
//! Names match `[A-Z_][A-Z0-9_]*` and come from the function's environment.
//! `$${` writes a literal `${`, for the Spark and Hadoop settings that use
//! that syntax themselves. Anything else after a `$` is left as it is.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::EmrError;

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\$\{|\$\{([A-Z_][A-Z0-9_]*)\}").expect("the placeholder pattern compiles"));

/// Replaces every `${NAME}` in `text` with `lookup(NAME)`; `file` names the
/// template in the error an unset name gets.
pub fn substitute(file: &str, text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EmrError> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for found in PLACEHOLDER.captures_iter(text) {
        let whole = found.get(0).expect("group 0 is the match");
        out.push_str(&text[last..whole.start()]);
        match found.get(1) {
            None => out.push_str("${"),
            Some(name) => {
                let value = lookup(name.as_str()).ok_or_else(|| EmrError::UnsetVariable {
                    file: file.to_owned(),
                    line: text[..whole.start()].matches('\n').count() + 1,
                    name: name.as_str().to_owned(),
                })?;
                out.push_str(&value);
            }
        }
        last = whole.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "LOG_BUCKET" => Some("logs-1".into()),
            "RELEASE" => Some("emr-7.5.0".into()),
            _ => None,
        }
    }

    #[test]
    fn names_are_replaced_and_escapes_kept() {
        let text = "LogUri: s3://${LOG_BUCKET}/emr/\nReleaseLabel: ${RELEASE}\nspark.driver.extraJavaOptions: -Dx=$${java.io.tmpdir} $HOME ${lower}";
        let out = substitute("cluster.yaml", text, &vars).unwrap();
        assert_eq!(
            out,
            "LogUri: s3://logs-1/emr/\nReleaseLabel: emr-7.5.0\nspark.driver.extraJavaOptions: -Dx=${java.io.tmpdir} $HOME ${lower}"
        );
    }

    #[test]
    fn an_unset_name_names_the_file_line_and_variable() {
        let error = substitute("config/emr/p/instances.yaml", "a: 1\nb: ${SUBNET_ID}\n", &vars).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("config/emr/p/instances.yaml"), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("SUBNET_ID"), "{message}");
    }

    #[test]
    fn an_escaped_placeholder_is_not_looked_up() {
        assert_eq!(substitute("f", "$${UNSET}", &vars).unwrap(), "${UNSET}");
    }
}
