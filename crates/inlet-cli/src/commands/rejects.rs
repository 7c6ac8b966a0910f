//! `inlet rejects TABLE`: the rows a table's checks rejected, with the check,
//! the column, the value and the source line of each; a query over the
//! table's `_rejects` table, locally or in Athena.

use std::process::ExitCode;

use inlet_core::layout;

use super::query::{self, Output};
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The table, as `inlet tables` names it (its `_rejects` table works too).
    table: String,

    /// Only rows this check rejected: missing, fail_min, fail_max, type,
    /// shape, encoding, …
    #[arg(long, value_name = "NAME")]
    check: Option<String>,

    /// Only rows of sources whose URI contains this text.
    #[arg(long, value_name = "TEXT")]
    source: Option<String>,

    /// Also show each whole source record.
    #[arg(long)]
    records: bool,

    /// At most this many rows, by source and line (0: all).
    #[arg(long, default_value_t = 100)]
    limit: usize,

    #[command(flatten)]
    output: Output,
}

impl Args {
    fn rejects_table(&self) -> String {
        let table = self.table.strip_suffix(layout::REJECTS_TABLE_SUFFIX).unwrap_or(&self.table);
        layout::rejects_table(table)
    }

    fn sql(&self) -> String {
        let mut columns = vec!["source", "line", "check_name", "column_name", "raw_value", "reason"];
        if self.records {
            columns.push("record");
        }
        let mut sql = format!("SELECT {} FROM {}", columns.join(", "), identifier(&self.rejects_table()));
        let conditions: Vec<String> = [
            self.check.as_deref().map(|check| format!("check_name = {}", literal(check))),
            self.source.as_deref().map(|text| format!("strpos(source, {}) > 0", literal(text))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        sql.push_str(" ORDER BY source, line");
        if self.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", self.limit));
        }
        sql
    }
}

fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let tables = state.catalog.list_tables(&state.names.database).await?;
    let rejects = args.rejects_table();
    if !tables.iter().any(|t| t.name == rejects) {
        let table = rejects.strip_suffix(layout::REJECTS_TABLE_SUFFIX).unwrap_or(&rejects);
        if tables.iter().any(|t| t.name == table) {
            println!("no rows of {table} were rejected");
            return Ok(ExitCode::SUCCESS);
        }
        anyhow::bail!("there is no table {table} in {}; `inlet tables` lists them", state.names.database);
    }
    query::print_result(state, &args.sql(), &args.output).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn filters_become_a_where_clause_with_quoted_values() {
        let args = Cli::parse_from(["rejects", "buoy_rejects", "--check", "fail_max", "--source", "o'brien", "--limit", "5"]).args;
        assert_eq!(
            args.sql(),
            "SELECT source, line, check_name, column_name, raw_value, reason FROM \"buoy_rejects\" \
             WHERE check_name = 'fail_max' AND strpos(source, 'o''brien') > 0 ORDER BY source, line LIMIT 5"
        );
    }
}
