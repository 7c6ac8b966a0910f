//! `config/sources.yaml`: what to fetch, from where, how often, and where it lands.
//!
//! ```yaml
//! sources:
//!   - id: asx_eod
//!     url: "https://data.example.com/eod/{date-1d:%Y%m%d}.csv"
//!     type: direct
//!     schedule: cron(0 22 ? * MON-FRI *)
//!     timezone: Australia/Sydney
//!     target: asx/
//! ```
//!
//! Loading validates every source and reports every mistake at once, each
//! naming the file, the source and the field.

use std::collections::HashSet;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;
use crate::template::{Template, Zone};

/// The file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    pub sources: Vec<SourceDefinition>,
}

/// One source as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDefinition {
    /// Lowercase snake_case; names the source in state, messages and staging keys.
    pub id: String,
    /// An inactive source is not fetched.
    #[serde(default = "yes")]
    pub active: bool,
    /// A template: see [`crate::template`].
    pub url: String,
    #[serde(rename = "type")]
    pub kind: SourceKind,
    /// For `links`, `links_overwrite` and `ftp_files`: a regular expression
    /// the link (or FTP file name) must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `rate(1 hour)` or `cron(0 22 ? * MON-FRI *)`, as EventBridge reads them.
    pub schedule: String,
    /// The IANA zone or UTC offset the URL's placeholders are read in.
    #[serde(default = "utc")]
    pub timezone: String,
    /// The key prefix under `in/` the files land under, so that they route
    /// to a pipeline, e.g. `asx/`.
    pub target: String,
    /// Whether the URL may reach loopback, private or link-local addresses.
    #[serde(default)]
    pub allow_private_addresses: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// One URL, one file.
    Direct,
    /// A page whose `<a href>` links matching `pattern` are each downloaded.
    Links,
    /// As `links`, but every file is fetched again even when unchanged.
    LinksOverwrite,
    /// The files of an FTP directory whose names match `pattern`.
    FtpFiles,
}

impl SourceKind {
    fn needs_pattern(self) -> bool {
        !matches!(self, Self::Direct)
    }
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub active: bool,
    pub url: Template,
    pub kind: SourceKind,
    pub pattern: Option<Regex>,
    pub schedule: Schedule,
    pub zone: Zone,
    pub target: String,
    pub allow_private_addresses: bool,
}

/// A mistake in the sources file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {source_label}: `{field}`: {problem}\n    fix: {fix}")]
pub struct SourceError {
    pub file: String,
    /// `sources[2] (asx_eod)`.
    pub source_label: String,
    pub field: String,
    pub problem: String,
    pub fix: String,
}

/// Every mistake found.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SourceErrors(pub Vec<SourceError>);

impl fmt::Display for SourceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{} in the sources:", if n == 1 { "" } else { "s" })?;
        self.0.iter().try_for_each(|error| writeln!(f, "  {error}"))
    }
}

/// Every source of a file, validated.
#[derive(Debug, Clone, Default)]
pub struct SourceSet {
    pub sources: Vec<Source>,
}

/// `config/sources.yaml` as the harvester was built with it.
const EMBEDDED_SOURCES: &str = include_str!("../../../config/sources.yaml");

impl SourceSet {
    /// The sources file built into the binary, validated.
    pub fn embedded() -> Result<Self, SourceErrors> {
        Self::from_yaml("config/sources.yaml (built in)", EMBEDDED_SOURCES)
    }

    /// Parses and validates `text`; `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, SourceErrors> {
        let parsed: SourcesFile = serde_yaml_ng::from_str(text).map_err(|e| {
            SourceErrors(vec![SourceError {
                file: file.to_owned(),
                source_label: "(document)".into(),
                field: "(syntax)".into(),
                problem: e.to_string(),
                fix: "each source needs id, url, type, schedule and target; see config/sources.yaml's comments".into(),
            }])
        })?;
        let mut errors = Vec::new();
        let mut ids = HashSet::new();
        let mut sources = Vec::new();
        for (i, definition) in parsed.sources.into_iter().enumerate() {
            let label = format!("sources[{i}] ({})", definition.id);
            let mut problem = |field: &str, problem: String, fix: &str| {
                errors.push(SourceError {
                    file: file.to_owned(),
                    source_label: label.clone(),
                    field: field.to_owned(),
                    problem,
                    fix: fix.to_owned(),
                })
            };
            if !ids.insert(definition.id.clone()) {
                problem("id", format!("{:?} is used by another source", definition.id), "give each source its own id");
            }
            if let Some(source) = compile(definition, &mut problem) {
                sources.push(source);
            }
        }
        if !errors.is_empty() {
            return Err(SourceErrors(errors));
        }
        Ok(Self { sources })
    }

    pub fn get(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// The distinct schedules, in the order sources first name them: each is
    /// one EventBridge rule.
    pub fn schedules(&self) -> Vec<&Schedule> {
        let mut seen: Vec<&Schedule> = Vec::new();
        for source in &self.sources {
            if !seen.contains(&&source.schedule) {
                seen.push(&source.schedule);
            }
        }
        seen
    }
}

/// Checks one source; `None` when it has a mistake, which `problem` heard of.
fn compile(definition: SourceDefinition, problem: &mut impl FnMut(&str, String, &str)) -> Option<Source> {
    let id_ok = is_snake_case(&definition.id);
    if !id_ok {
        problem("id", format!("{:?} is not lowercase snake_case", definition.id), "use letters, digits and _, starting with a letter");
    }
    let url = Template::parse(&definition.url).map_err(|e| problem("url", e, "fix the placeholder; the README lists them")).ok();
    if let Some(url) = &url {
        check_scheme(definition.kind, url.as_str(), problem);
    }
    let schedule = Schedule::parse(&definition.schedule).map_err(|e| problem("schedule", e, "use rate(1 hour) or cron(0 6 * * ? *)")).ok();
    let zone = Zone::parse(&definition.timezone)
        .map_err(|e| problem("timezone", e, "use UTC, an IANA name such as Australia/Sydney, or +10:00"))
        .ok();
    let pattern = match (&definition.pattern, definition.kind.needs_pattern()) {
        (Some(text), true) => Regex::new(text)
            .map_err(|e| problem("pattern", format!("not a regular expression: {e}"), "escape literal dots as \\."))
            .ok()
            .map(Some),
        (None, true) => {
            problem(
                "pattern",
                format!("a {:?} source needs the pattern its files match", definition.kind),
                "add pattern: '\\.csv$' or narrower",
            );
            None
        }
        (Some(_), false) => {
            problem("pattern", "a direct source has one URL, so no pattern".into(), "remove pattern, or use type: links");
            None
        }
        (None, false) => Some(None),
    };
    let target = check_target(&definition.target).map_err(|e| problem("target", e, "use a relative prefix such as asx/")).ok();
    Some(Source {
        id: definition.id,
        active: definition.active,
        url: url?,
        kind: definition.kind,
        pattern: pattern?,
        schedule: schedule?,
        zone: zone?,
        target: target?,
        allow_private_addresses: definition.allow_private_addresses,
    })
    .filter(|_| id_ok)
}

fn check_scheme(kind: SourceKind, url: &str, problem: &mut impl FnMut(&str, String, &str)) {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    let allowed: &[&str] = if kind == SourceKind::FtpFiles { &["ftp"] } else { &["http", "https"] };
    if !scheme.as_deref().is_some_and(|s| allowed.contains(&s)) {
        problem("url", format!("{url:?} is not an {} URL", allowed.join(" or ")), "start the URL with https:// (or ftp:// for ftp_files)");
    }
}

/// The prefix as used under `in/`: relative, with no `..`, ending in `/`.
fn check_target(target: &str) -> Result<String, String> {
    let trimmed = target.trim();
    if trimmed.is_empty() || trimmed.starts_with('/') || trimmed.split('/').any(|part| part == ".." || part == ".") {
        return Err(format!("{target:?} is not a relative key prefix"));
    }
    Ok(if trimmed.ends_with('/') { trimmed.to_owned() } else { format!("{trimmed}/") })
}

fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn yes() -> bool {
    true
}

fn utc() -> String {
    "UTC".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
sources:
  - id: asx_eod
    url: "https://data.example.com/eod/{date-1d:%Y%m%d}.csv"
    type: direct
    schedule: cron(0 22 ? * MON-FRI *)
    timezone: Australia/Sydney
    target: asx
  - id: bom_solar
    url: "https://data.example.com/solar/{year}/"
    type: links
    pattern: 'solar_ghi_\d{8}_\d{2}UT\.txt$'
    schedule: rate(1 hour)
    target: bom/
"#;

    #[test]
    fn a_good_file_loads_with_its_schedules_and_targets() {
        let set = SourceSet::from_yaml("config/sources.yaml", GOOD).unwrap();
        assert_eq!(set.get("asx_eod").unwrap().target, "asx/");
        assert!(set.get("bom_solar").unwrap().active);
        let schedules: Vec<String> = set.schedules().iter().map(|s| s.expression().to_owned()).collect();
        assert_eq!(schedules, ["cron(0 22 ? * MON-FRI *)", "rate(1 hour)"]);
    }

    #[test]
    fn every_mistake_names_the_file_the_source_and_the_field() {
        let bad = GOOD
            .replace("{date-1d:%Y%m%d}", "{mnth}")
            .replace("cron(0 22 ? * MON-FRI *)", "every day")
            .replace("timezone: Australia/Sydney", "timezone: Sydney")
            .replace("target: asx\n", "target: ../asx\n")
            .replace("    pattern: 'solar_ghi_\\d{8}_\\d{2}UT\\.txt$'\n", "")
            .replace("id: bom_solar", "id: asx_eod");
        let errors = SourceSet::from_yaml("config/sources.yaml", &bad).unwrap_err().0;
        let found: Vec<(String, String)> = errors.iter().map(|e| (e.source_label.clone(), e.field.clone())).collect();
        assert_eq!(
            found,
            [
                ("sources[0] (asx_eod)", "url"),
                ("sources[0] (asx_eod)", "schedule"),
                ("sources[0] (asx_eod)", "timezone"),
                ("sources[0] (asx_eod)", "target"),
                ("sources[1] (asx_eod)", "id"),
                ("sources[1] (asx_eod)", "pattern"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert!(errors[0].to_string().starts_with("config/sources.yaml: sources[0] (asx_eod): `url`:"), "{}", errors[0]);
    }

    #[test]
    fn an_unknown_field_is_a_syntax_error_naming_it() {
        let error = SourceSet::from_yaml("s.yaml", &GOOD.replace("    target: bom/", "    target: bom/\n    interval: 5")).unwrap_err();
        assert!(error.to_string().contains("interval"), "{error}");
    }
}
