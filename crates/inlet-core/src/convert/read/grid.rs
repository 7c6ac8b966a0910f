//! ESRI ASCII grids: a header of `key value` lines (`ncols`, `nrows`,
//! `xllcorner` or `xllcenter`, `yllcorner` or `yllcenter`, `cellsize`, and
//! an optional `NODATA_value`, in any case and spacing), then `nrows` rows of
//! `ncols` values, the northern row first.
//!
//! Each cell becomes a row holding its centre's `longitude` and `latitude`
//! and its `value`; NODATA cells are skipped. A grid is one measurement, so a
//! header that is wrong, or a body with more or fewer values than the header
//! promises, fails the whole file, naming the line. A value that is not a
//! number goes through as text, and the engine rejects that cell's row alone.
//!
//! Values are read as a stream of whitespace-separated numbers, so a row that
//! wraps over several lines reads the same; each row keeps the line its
//! value is on.

use std::io::{BufRead, BufReader, Read};

use super::{RawBatch, RawBatchBuilder, RecordReader};
use crate::convert::ConvertError;
use crate::pipeline::GRID_COLUMNS;

/// Where a grid lies and how big it is, from its header.
#[derive(Debug, Clone, PartialEq)]
struct GridHeader {
    ncols: u64,
    nrows: u64,
    /// The western edge (or the first column's centre, with `xllcenter`).
    x: f64,
    /// The southern edge (or the last row's centre, with `yllcenter`).
    y: f64,
    /// 0.5 when `x` and `y` are corners, 0 when they are cell centres.
    to_centre: f64,
    cellsize: f64,
    nodata: Option<f64>,
}

impl GridHeader {
    fn cells(&self) -> u64 {
        self.ncols * self.nrows
    }

    fn longitude(&self, col: u64) -> f64 {
        self.x + (col as f64 + self.to_centre) * self.cellsize
    }

    fn latitude(&self, row: u64) -> f64 {
        self.y + ((self.nrows - 1 - row) as f64 + self.to_centre) * self.cellsize
    }
}

/// The header's keys as they are read, before they are checked.
#[derive(Debug, Default)]
struct HeaderFields {
    ncols: Option<u64>,
    nrows: Option<u64>,
    x: Option<(f64, bool)>,
    y: Option<(f64, bool)>,
    cellsize: Option<f64>,
    nodata: Option<f64>,
}

/// The widest grid read. Each column's longitude is kept as text for the
/// whole file, so a header's `ncols` decides memory before a value is read;
/// the BOM's grids have 839.
const MAX_GRID_COLUMNS: u64 = 100_000;

const HEADER_KEYS: &str = "ncols, nrows, xllcorner or xllcenter, yllcorner or yllcenter, cellsize and an optional NODATA_value";

impl HeaderFields {
    /// Takes one `key value` line; `false` when `key` is not a header key.
    fn take(&mut self, key: &str, value: &str, line: u64) -> Result<bool, ConvertError> {
        let number = || value.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad_header(line, key, value, "a number"));
        let count = || value.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| bad_header(line, key, value, "a whole number above 0"));
        let slot_taken = match key.to_ascii_lowercase().as_str() {
            "ncols" => self.ncols.replace(count()?).is_some(),
            "nrows" => self.nrows.replace(count()?).is_some(),
            "xllcorner" => self.x.replace((number()?, true)).is_some(),
            "xllcenter" => self.x.replace((number()?, false)).is_some(),
            "yllcorner" => self.y.replace((number()?, true)).is_some(),
            "yllcenter" => self.y.replace((number()?, false)).is_some(),
            "cellsize" => self.cellsize.replace(number()?.abs()).is_some(),
            "nodata_value" => self.nodata.replace(number()?).is_some(),
            _ => return Ok(false),
        };
        if slot_taken {
            return Err(grid_error(line, format!("the header gives {key} (or its corner/centre twin) a second time")));
        }
        Ok(true)
    }

    fn finish(self, line: u64) -> Result<GridHeader, ConvertError> {
        let missing: Vec<&str> = [
            ("ncols", self.ncols.is_none()),
            ("nrows", self.nrows.is_none()),
            ("xllcorner", self.x.is_none()),
            ("yllcorner", self.y.is_none()),
            ("cellsize", self.cellsize.is_none_or(|size| size == 0.0)),
        ]
        .into_iter()
        .filter_map(|(key, missing)| missing.then_some(key))
        .collect();
        let (Some(ncols), Some(nrows), Some((x, x_corner)), Some((y, y_corner)), Some(cellsize), true) =
            (self.ncols, self.nrows, self.x, self.y, self.cellsize, missing.is_empty())
        else {
            return Err(grid_error(line, format!("the header ends without {} (a grid header has {HEADER_KEYS})", missing.join(", "))));
        };
        if x_corner != y_corner {
            return Err(grid_error(line, "the header mixes a corner and a centre (xllcorner with yllcenter, or the reverse)".into()));
        }
        if ncols > MAX_GRID_COLUMNS {
            return Err(grid_error(
                line,
                format!("the header's ncols is {ncols}, more than the {MAX_GRID_COLUMNS} columns a grid may have"),
            ));
        }
        if ncols.checked_mul(nrows).is_none() {
            return Err(grid_error(line, format!("the header's {nrows} rows × {ncols} columns are more cells than can be counted")));
        }
        let to_centre = if x_corner { 0.5 } else { 0.0 };
        Ok(GridHeader { ncols, nrows, x, y, to_centre, cellsize, nodata: self.nodata })
    }
}

fn grid_error(line: u64, message: String) -> ConvertError {
    ConvertError::Read { line: Some(line), message: format!("{message}; the grid is not loaded") }
}

fn bad_header(line: u64, key: &str, value: &str, wanted: &str) -> ConvertError {
    grid_error(line, format!("header key {key} has {value:?}, which is not {wanted}"))
}

/// Reads an ESRI ASCII grid, a cell at a time.
pub struct GridReader<R: Read> {
    input: BufReader<R>,
    header: GridHeader,
    columns: Vec<String>,
    /// The line in `text`, from 1.
    line: u64,
    text: String,
    /// How far into `text` the values are taken.
    offset: usize,
    /// Cells taken so far, NODATA ones among them.
    cells: u64,
    /// Each column's longitude and each row's latitude, as text: the same
    /// few hundred values recur in every row of the grid.
    longitudes: Vec<String>,
    latitude: (u64, String),
}

impl<R: Read> GridReader<R> {
    /// Reads and checks the header.
    pub fn new(input: R) -> Result<Self, ConvertError> {
        let mut input = BufReader::with_capacity(64 * 1024, input);
        let mut text = String::new();
        let mut line = 0;
        let mut fields = HeaderFields::default();
        loop {
            line += 1;
            if read_line(&mut input, &mut text, line)? == 0 {
                return Err(fields.finish(line).err().unwrap_or_else(|| grid_error(line, "the grid has a header but no values".into())));
            }
            let mut words = text.split_ascii_whitespace();
            let Some(key) = words.next() else { continue };
            let value = words.next().unwrap_or("");
            if !fields.take(key, value, line)? {
                break;
            }
        }
        let header = fields.finish(line)?;
        let longitudes = (0..header.ncols).map(|col| header.longitude(col).to_string()).collect();
        let latitude = (0, header.latitude(0).to_string());
        let columns = GRID_COLUMNS.map(String::from).to_vec();
        Ok(Self { input, header, columns, line, text, offset: 0, cells: 0, longitudes, latitude })
    }

    /// Reads the next line into `text`; `false` at the end of the input.
    fn next_line(&mut self) -> Result<bool, ConvertError> {
        self.line += 1;
        self.offset = 0;
        Ok(read_line(&mut self.input, &mut self.text, self.line)? > 0)
    }

    /// The next value of the current line, and where it ends.
    fn next_value(&self) -> Option<(usize, usize)> {
        let rest = &self.text.as_bytes()[self.offset..];
        let start = self.offset + rest.iter().position(|b| !b.is_ascii_whitespace())?;
        let len = self.text.as_bytes()[start..].iter().position(u8::is_ascii_whitespace).unwrap_or(self.text.len() - start);
        Some((start, start + len))
    }

    /// Adds the cell `value` to the batch, unless it is NODATA.
    fn add_cell(&mut self, value: (usize, usize), batch: &mut RawBatchBuilder) -> Result<(), ConvertError> {
        let cell = self.cells;
        if cell >= self.header.cells() {
            return Err(grid_error(
                self.line,
                format!("there are more values than the header's {} rows × {} columns", self.header.nrows, self.header.ncols),
            ));
        }
        self.cells += 1;
        let text = &self.text[value.0..value.1];
        let is_nodata = self.header.nodata.is_some_and(|nodata| text.parse::<f64>().is_ok_and(|v| v == nodata));
        if is_nodata {
            return Ok(());
        }
        let (row, col) = (cell / self.header.ncols, cell % self.header.ncols);
        if self.latitude.0 != row {
            self.latitude = (row, self.header.latitude(row).to_string());
        }
        batch.push_row(self.line, [self.longitudes[col as usize].as_str(), self.latitude.1.as_str(), text]);
        Ok(())
    }

    fn check_complete(&self) -> Result<(), ConvertError> {
        if self.cells == self.header.cells() {
            return Ok(());
        }
        Err(grid_error(
            self.line - 1,
            format!(
                "the grid ends after {} of its {} values ({} rows × {} columns): the file is cut short, or its header is wrong",
                self.cells,
                self.header.cells(),
                self.header.nrows,
                self.header.ncols
            ),
        ))
    }
}

fn read_line(input: &mut impl BufRead, text: &mut String, line: u64) -> Result<usize, ConvertError> {
    text.clear();
    input.read_line(text).map_err(|e| grid_error(line, format!("the line cannot be read as text ({e})")))
}

impl<R: Read + Send> RecordReader for GridReader<R> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError> {
        let mut batch = RawBatchBuilder::new(self.columns.len());
        while !batch.is_full() {
            match self.next_value() {
                Some(value) => {
                    self.offset = value.1;
                    self.add_cell(value, &mut batch)?;
                }
                None if self.next_line()? => {}
                None => {
                    self.check_complete()?;
                    break;
                }
            }
        }
        Ok(batch.finish())
    }

    fn record_separator(&self) -> String {
        ",".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(grid: &str) -> Result<Vec<(u64, String, String, String)>, ConvertError> {
        let mut reader = GridReader::new(grid.as_bytes())?;
        let mut rows = Vec::new();
        while let Some(batch) = reader.next_batch()? {
            for row in 0..batch.num_rows() {
                let text = |c: usize| batch.column(c).value(row).to_owned();
                rows.push((batch.lines[row], text(0), text(1), text(2)));
            }
        }
        Ok(rows)
    }

    fn error_of(grid: &str) -> (Option<u64>, String) {
        match rows(grid) {
            Err(ConvertError::Read { line, message }) => (line, message),
            other => panic!("expected a read error, got {other:?}"),
        }
    }

    fn row(line: u64, lon: &str, lat: &str, value: &str) -> (u64, String, String, String) {
        (line, lon.into(), lat.into(), value.into())
    }

    #[test]
    fn corner_cells_are_placed_at_their_centres_north_first_and_nodata_is_skipped() {
        let grid = "ncols 3\nNROWS   2\nxllcorner 110\nYllCorner -40\ncellsize 0.5\nNODATA_value -999\n1 2 -999\n4 -999.0 6\n";
        assert_eq!(
            rows(grid).unwrap(),
            vec![
                row(7, "110.25", "-39.25", "1"),
                row(7, "110.75", "-39.25", "2"),
                row(8, "110.25", "-39.75", "4"),
                row(8, "111.25", "-39.75", "6"),
            ]
        );
    }

    #[test]
    fn centre_coordinates_are_the_cells_own_and_rows_may_wrap() {
        let grid = "ncols 2\nnrows 2\nxllcenter 10\nyllcenter 20\ncellsize 1\r\n1\r\n2 3\r\n4";
        assert_eq!(
            rows(grid).unwrap(),
            vec![row(6, "10", "21", "1"), row(7, "11", "21", "2"), row(7, "10", "20", "3"), row(8, "11", "20", "4")]
        );
    }

    #[test]
    fn a_value_that_is_not_a_number_goes_through_for_the_engine_to_reject() {
        let grid = "ncols 2\nnrows 1\nxllcorner 0\nyllcorner 0\ncellsize 1\nx7 2\n";
        assert_eq!(rows(grid).unwrap()[0], row(6, "0.5", "0.5", "x7"));
    }

    #[test]
    fn too_few_values_fail_the_grid_at_its_last_line() {
        let (line, message) = error_of("ncols 2\nnrows 2\nxllcorner 0\nyllcorner 0\ncellsize 1\n1 2\n3\n");
        assert_eq!(line, Some(7));
        assert!(message.contains("ends after 3 of its 4 values"), "{message}");
    }

    #[test]
    fn too_many_values_fail_the_grid_at_the_line_that_has_them() {
        let (line, message) = error_of("ncols 1\nnrows 1\nxllcorner 0\nyllcorner 0\ncellsize 1\n1\n2\n");
        assert_eq!(line, Some(7));
        assert!(message.contains("more values than"), "{message}");
    }

    #[test]
    fn a_header_too_wide_or_too_large_to_count_fails_before_any_value_is_read() {
        let (line, message) = error_of("ncols 14856906103830\nnrows 68\nxllcorner 112\nyllcorner -44\ncellsize .5\n1 2\n");
        assert_eq!(line, Some(6));
        assert!(message.contains("more than the 100000 columns"), "{message}");
        let (_, message) = error_of("ncols 100000\nnrows 18446744073709551615\nxllcorner 0\nyllcorner 0\ncellsize 1\n1\n");
        assert!(message.contains("more cells than can be counted"), "{message}");
    }

    #[test]
    fn a_header_without_ncols_names_what_is_missing() {
        let (line, message) = error_of("nrows 2\nxllcorner 0\nyllcorner 0\ncellsize 1\n1 2\n");
        assert_eq!(line, Some(5));
        assert!(message.contains("without ncols"), "{message}");
    }

    #[test]
    fn a_header_value_that_is_not_a_number_is_named() {
        let (line, message) = error_of("ncols two\nnrows 2\n");
        assert_eq!(line, Some(1));
        assert!(message.contains("ncols has \"two\""), "{message}");
    }

    #[test]
    fn a_header_alone_is_no_grid() {
        let (_, message) = error_of("ncols 1\nnrows 1\nxllcorner 0\nyllcorner 0\ncellsize 1\n");
        assert!(message.contains("no values"), "{message}");
    }
}
