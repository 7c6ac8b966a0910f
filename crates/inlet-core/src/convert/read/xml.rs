//! XML, streamed with quick-xml: a row per record, where a record is the
//! document's root, or each `record_element` wherever it occurs.
//!
//! A column is an element path below the record, its element names (without
//! namespace prefixes) in snake_case joined with `__`; an attribute adds its
//! own name. Text below a named element is gathered whole. A path that occurs
//! more than once gives its first value, every value joined, or, for the one
//! path that explodes, a row per occurrence.
//!
//! A package (`.tar.gz`, `.tgz`, `.tar`) is read member by member, each
//! `.xml` member a document of its own. A document that breaks (an unclosed
//! tag, a cut) rejects the record it was in, with the member, the line and
//! the byte offset, and the next document is read. In a single file of many
//! records, the records after a break cannot be found reliably, so the file
//! fails whole, naming the line.
//!
//! Lines count on across the members of a package, so rows and rejects keep
//! the order they had in it.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::QName;

use super::tar_members::TarMembers;
use super::{RawBatch, RawBatchBuilder, ReaderRejection, RecordReader};
use crate::archive::ArchiveKind;
use crate::convert::ConvertError;
use crate::pipeline::{DEFAULT_JOIN_SEPARATOR, RepeatRule, RepeatedPath, names};

/// What the XML reader is told.
#[derive(Debug, Clone, Default)]
pub struct XmlOptions {
    /// The element a row is made from; the root when `None`.
    pub record_element: Option<String>,
    /// The paths to read, in column order.
    pub fields: Vec<String>,
    pub repeated: Vec<RepeatedPath>,
}

/// How the input holds its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlContainer {
    /// The input is one document.
    Document,
    /// A gzipped document.
    Gzip,
    /// A tar package of documents, gzipped or not.
    Tar { gzipped: bool },
}

impl XmlContainer {
    /// The container a key's name says, by its suffix.
    pub fn of(key: &str) -> Self {
        match ArchiveKind::detect(key.rsplit('/').next().unwrap_or(key)) {
            Some((ArchiveKind::TarGz, _)) => Self::Tar { gzipped: true },
            Some((ArchiveKind::Tar, _)) => Self::Tar { gzipped: false },
            Some((ArchiveKind::Gz, _)) => Self::Gzip,
            _ => Self::Document,
        }
    }
}

/// The paths of the options, compiled for lookups while parsing.
struct Layout {
    columns: Vec<String>,
    column_of: HashMap<String, usize>,
    /// Per column, the separator when its values are joined.
    join: Vec<Option<String>>,
    /// The element whose occurrences make rows of their own.
    explode: Option<String>,
    /// Per column, whether it lies at or below `explode`.
    per_occurrence: Vec<bool>,
    /// Paths at or above something to read: anything else is skipped unparsed.
    wanted: HashSet<String>,
    record_element: Option<Vec<u8>>,
}

impl Layout {
    fn new(options: XmlOptions) -> Self {
        let rule_of = |path: &str| options.repeated.iter().find(|r| r.path == path);
        let explode = options.repeated.iter().find(|r| r.rule == RepeatRule::Explode).map(|r| r.path.clone());
        let under = |path: &str, top: &str| path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with("__"));
        let join = options
            .fields
            .iter()
            .map(|path| match rule_of(path) {
                Some(RepeatedPath { rule: RepeatRule::Join, separator, .. }) => {
                    Some(separator.clone().unwrap_or_else(|| DEFAULT_JOIN_SEPARATOR.to_owned()))
                }
                _ => None,
            })
            .collect();
        let per_occurrence = options.fields.iter().map(|path| explode.as_deref().is_some_and(|top| under(path, top))).collect();
        let mut wanted = HashSet::new();
        for path in options.fields.iter().chain(&explode) {
            let mut end = path.len();
            loop {
                wanted.insert(path[..end].to_owned());
                match path[..end].rfind("__") {
                    Some(cut) => end = cut,
                    None => break,
                }
            }
        }
        Self {
            column_of: options.fields.iter().enumerate().map(|(i, path)| (path.clone(), i)).collect(),
            columns: options.fields,
            join,
            explode,
            per_occurrence,
            wanted,
            record_element: options.record_element.map(String::into_bytes),
        }
    }
}

pub struct XmlReader<'a> {
    layout: Layout,
    /// Documents not yet opened; `None` once they are all read.
    documents: Option<Documents<'a>>,
    parser: Option<DocumentParser<'a>>,
    package: bool,
    /// Lines of the documents already read.
    lines_before: u64,
    names: NameCache,
}

impl<'a> XmlReader<'a> {
    pub fn new(options: XmlOptions, container: XmlContainer, input: impl Read + Send + 'a) -> Self {
        let documents = match container {
            XmlContainer::Document => Documents::Single { input: Box::new(input), opened: false },
            XmlContainer::Gzip => Documents::Single { input: Box::new(MultiGzDecoder::new(input)), opened: false },
            XmlContainer::Tar { gzipped: false } => Documents::Package(TarMembers::new(Box::new(input))),
            XmlContainer::Tar { gzipped: true } => Documents::Package(TarMembers::new(Box::new(MultiGzDecoder::new(input)))),
        };
        let package = matches!(documents, Documents::Package(_));
        Self {
            layout: Layout::new(options),
            documents: Some(documents),
            parser: None,
            package,
            lines_before: 0,
            names: NameCache::default(),
        }
    }

    /// Opens the next document; `false` when there is none.
    fn open_next(&mut self) -> Result<bool, ConvertError> {
        let mut documents = match self.parser.take() {
            Some(parser) => {
                let (documents, lines) = parser.finish();
                self.lines_before = lines;
                documents
            }
            None => match self.documents.take() {
                Some(documents) => documents,
                None => return Ok(false),
            },
        };
        let at_line = self.lines_before;
        match documents.next_document().map_err(|e| ConvertError::Read { line: Some(at_line), message: e.to_string() })? {
            Some(member) => {
                self.parser = Some(DocumentParser::new(documents, member, self.lines_before));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Adds the next record's rows, or its rejection, to `batch`; `false`
    /// when the documents are all read.
    fn add_record(&mut self, batch: &mut RawBatchBuilder) -> Result<bool, ConvertError> {
        let Some(parser) = self.parser.as_mut() else { return self.open_next() };
        match parser.next_record(&self.layout, &mut self.names) {
            Ok(Some(record)) => {
                record.rows(|values| batch.push_row(record.line, values.iter().map(|v| v.as_deref().unwrap_or(""))));
                Ok(true)
            }
            Ok(None) => self.open_next(),
            Err(broken) if self.package || self.layout.record_element.is_none() => {
                batch.reject(broken.rejection(parser.member()));
                self.open_next()
            }
            Err(broken) => Err(ConvertError::Read {
                line: Some(broken.line),
                message: format!(
                    "{}; the records after it cannot be told apart, so the file is not loaded: fix the XML and drop it again",
                    broken.describe(parser.member())
                ),
            }),
        }
    }
}

impl RecordReader for XmlReader<'_> {
    fn columns(&self) -> &[String] {
        &self.layout.columns
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError> {
        let mut batch = RawBatchBuilder::new(self.layout.columns.len());
        while !batch.is_full() && self.add_record(&mut batch)? {}
        Ok(batch.finish())
    }

    fn record_separator(&self) -> String {
        " | ".into()
    }
}

/// The input as a run of documents, read one at a time.
enum Documents<'a> {
    Single { input: Box<dyn Read + Send + 'a>, opened: bool },
    Package(TarMembers<Box<dyn Read + Send + 'a>>),
}

impl Documents<'_> {
    /// Moves to the next document: its member name (empty for a single
    /// document), or `None` when there are no more.
    fn next_document(&mut self) -> io::Result<Option<String>> {
        match self {
            Self::Single { opened: true, .. } => Ok(None),
            Self::Single { opened, .. } => {
                *opened = true;
                Ok(Some(String::new()))
            }
            Self::Package(members) => loop {
                match members.next_file()? {
                    Some(name) if is_xml_member(&name) => return Ok(Some(name)),
                    Some(_) => continue,
                    None => return Ok(None),
                }
            },
        }
    }
}

/// Reads the current document.
impl Read for Documents<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Single { input, .. } => input.read(buf),
            Self::Package(members) => members.read(buf),
        }
    }
}

/// `.xml` members, but not the resource forks macOS leaves beside them.
fn is_xml_member(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    name.to_ascii_lowercase().ends_with(".xml") && !file.starts_with("._") && !name.starts_with("__MACOSX/")
}

/// Counts the lines the parser has consumed.
struct LineCounter<R> {
    inner: R,
    lines: u64,
    /// Whether the last byte consumed was not a line end.
    mid_line: bool,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The buffer is still filled, so this reads nothing.
        if let Ok(buffer) = self.inner.fill_buf() {
            let consumed = &buffer[..amount.min(buffer.len())];
            self.lines += memchr::memchr_iter(b'\n', consumed).count() as u64;
            if let Some(last) = consumed.last() {
                self.mid_line = *last != b'\n';
            }
        }
        self.inner.consume(amount);
    }
}

/// The snake_case of element and attribute names, computed once per name.
#[derive(Default)]
struct NameCache(HashMap<Vec<u8>, String>);

impl NameCache {
    /// Enough for any real schema; a file of endless names only recomputes.
    const CAPACITY: usize = 4096;

    fn snake(&mut self, local_name: &[u8]) -> &str {
        if self.0.len() >= Self::CAPACITY && !self.0.contains_key(local_name) {
            self.0.clear();
        }
        self.0.entry(local_name.to_vec()).or_insert_with(|| names::snake_case(&String::from_utf8_lossy(local_name)))
    }
}

/// A record the XML around it broke.
#[derive(Debug)]
struct Broken {
    line: u64,
    byte: u64,
    error: String,
}

impl Broken {
    fn describe(&self, member: &str) -> String {
        let place = if member.is_empty() { String::new() } else { format!("member {member}, ") };
        format!("{place}line {}, byte {}: {}", self.line, self.byte, self.error)
    }

    fn rejection(&self, member: &str) -> ReaderRejection {
        ReaderRejection::syntax(self.line, format!("{}; the rest of this document is not read", self.describe(member)), member.to_owned())
    }
}

/// One record's values.
struct Record {
    line: u64,
    values: Vec<Option<String>>,
    /// The exploded element's occurrences, each with its columns' values.
    occurrences: Vec<Vec<Option<String>>>,
    occurrence: Option<Vec<Option<String>>>,
}

impl Record {
    fn new(line: u64, columns: usize) -> Self {
        Self { line, values: vec![None; columns], occurrences: Vec::new(), occurrence: None }
    }

    /// Stores a column's value by its rule.
    fn set(&mut self, layout: &Layout, column: usize, value: String) {
        let values = match self.occurrence.as_mut() {
            Some(occurrence) if layout.per_occurrence[column] => occurrence,
            _ => &mut self.values,
        };
        match (&mut values[column], &layout.join[column]) {
            (slot @ None, _) => *slot = Some(value),
            (Some(joined), Some(separator)) => {
                joined.push_str(separator);
                joined.push_str(&value);
            }
            (Some(_), None) => {}
        }
    }

    /// Calls `row` with each row's values: one per occurrence of the exploded
    /// element, or one when it has none.
    fn rows(&self, mut row: impl FnMut(&[Option<String>])) {
        if self.occurrences.is_empty() {
            return row(&self.values);
        }
        for occurrence in &self.occurrences {
            let merged: Vec<Option<String>> =
                self.values.iter().zip(occurrence).map(|(shared, own)| own.clone().or_else(|| shared.clone())).collect();
            row(&merged);
        }
    }
}

/// Text being gathered for a column.
struct Capture {
    column: usize,
    depth: usize,
    text: String,
    /// Whether child elements split the text, whose layout is then not data.
    mixed: bool,
}

/// Parses one document into records.
struct DocumentParser<'a> {
    reader: Reader<LineCounter<BufReader<Documents<'a>>>>,
    member: String,
    buf: Vec<u8>,
    /// Elements open outside any record.
    depth: usize,
}

impl<'a> DocumentParser<'a> {
    fn new(documents: Documents<'a>, member: String, lines_before: u64) -> Self {
        let counter = LineCounter { inner: BufReader::with_capacity(64 * 1024, documents), lines: lines_before, mid_line: false };
        let mut reader = Reader::from_reader(counter);
        reader.config_mut().check_end_names = true;
        Self { reader, member, buf: Vec::new(), depth: 0 }
    }

    fn member(&self) -> &str {
        &self.member
    }

    /// Gives the documents back, past the end of this one, and the lines it had.
    fn finish(self) -> (Documents<'a>, u64) {
        let mut counter = self.reader.into_inner();
        // The rest of a broken document still counts its lines, so that the
        // next one's are right; a read error here is the next document's.
        let _ = io::copy(&mut counter, &mut io::sink());
        // The next document starts on a line of its own.
        (counter.inner.into_inner(), counter.lines + u64::from(counter.mid_line))
    }

    /// The next record, or `None` at the end of the document.
    fn next_record(&mut self, layout: &Layout, names: &mut NameCache) -> Result<Option<Record>, Broken> {
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf).map_err(|e| broken_at(&self.reader, e))?;
            let (start, empty) = match event {
                Event::Eof if self.depth > 0 => {
                    return Err(broken_at(&self.reader, "the document ends before its root element closes: it is cut short"));
                }
                Event::Eof => return Ok(None),
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    continue;
                }
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                _ => continue,
            };
            let is_record = match &layout.record_element {
                Some(element) => start.local_name().as_ref() == element.as_slice(),
                None => self.depth == 0,
            };
            if !is_record {
                self.depth += usize::from(!empty);
                continue;
            }
            let mut record = Record::new(self.reader.get_ref().lines + 1, layout.columns.len());
            record_attributes(&start, "", layout, names, &mut record);
            let record_name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
            if !empty {
                self.read_record(&record_name, layout, names, &mut record)?;
            }
            return Ok(Some(record));
        }
    }

    /// Reads a record's content up to its end tag.
    fn read_record(&mut self, record_name: &str, layout: &Layout, names: &mut NameCache, record: &mut Record) -> Result<(), Broken> {
        let mut walk = Walk::default();
        let mut skipped = Vec::new();
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf).map_err(|e| broken_at(&self.reader, e))?;
            let (start, empty) = match event {
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                Event::End(_) if walk.path_lengths.is_empty() => return Ok(()),
                Event::End(_) => {
                    walk.leave(layout, record);
                    continue;
                }
                Event::Text(text) if walk.capturing() => {
                    walk.add_text(&text.decode().map_err(|e| broken_at(&self.reader, e))?);
                    continue;
                }
                Event::CData(data) if walk.capturing() => {
                    walk.add_text(&data.decode().map_err(|e| broken_at(&self.reader, e))?);
                    continue;
                }
                Event::GeneralRef(reference) if walk.capturing() => {
                    walk.add_text(&resolve_reference(&reference).map_err(|e| broken_at(&self.reader, e))?);
                    continue;
                }
                Event::Eof => return Err(broken_at(&self.reader, format!("the document ends inside <{record_name}>: it is cut short"))),
                _ => continue,
            };
            if walk.enter(&start, layout, names, record) {
                if empty {
                    walk.leave(layout, record);
                }
            } else if !empty {
                // Nothing below it is read: pass over it unparsed.
                let end = start.name().as_ref().to_vec();
                self.reader.read_to_end_into(QName(&end), &mut skipped).map_err(|e| broken_at(&self.reader, e))?;
                skipped.clear();
            }
        }
    }
}

fn broken_at<R: BufRead>(reader: &Reader<LineCounter<R>>, error: impl ToString) -> Broken {
    Broken { line: reader.get_ref().lines + 1, byte: reader.error_position().max(reader.buffer_position()), error: error.to_string() }
}

/// Where a record's parse is: the open elements' path, and the text being
/// gathered for columns.
#[derive(Default)]
struct Walk {
    path: String,
    /// The path's length before each open element was added.
    path_lengths: Vec<usize>,
    captures: Vec<Capture>,
}

impl Walk {
    fn capturing(&self) -> bool {
        !self.captures.is_empty()
    }

    fn add_text(&mut self, text: &str) {
        self.captures.iter_mut().for_each(|c| c.text.push_str(text));
    }

    /// An element boundary inside gathered text parts its words.
    fn split_text(&mut self) {
        for capture in &mut self.captures {
            capture.text.push(' ');
            capture.mixed = true;
        }
    }

    /// Opens an element; `false` when nothing at or below it is read.
    fn enter(&mut self, start: &BytesStart<'_>, layout: &Layout, names: &mut NameCache, record: &mut Record) -> bool {
        let parent_length = self.path.len();
        if !self.path.is_empty() {
            self.path.push_str("__");
        }
        self.path.push_str(names.snake(start.local_name().as_ref()));
        // Below a column's element, everything is its text.
        if !layout.wanted.contains(&self.path) && !self.capturing() {
            self.path.truncate(parent_length);
            return false;
        }
        self.split_text();
        if layout.explode.as_deref() == Some(self.path.as_str()) {
            record.occurrence = Some(vec![None; layout.columns.len()]);
        }
        record_attributes(start, &self.path, layout, names, record);
        if let Some(&column) = layout.column_of.get(&self.path) {
            self.captures.push(Capture { column, depth: self.path_lengths.len(), text: String::new(), mixed: false });
        }
        self.path_lengths.push(parent_length);
        true
    }

    /// Closes the innermost open element: its column's text is stored, and
    /// an exploded occurrence is complete.
    fn leave(&mut self, layout: &Layout, record: &mut Record) {
        let depth = self.path_lengths.len() - 1;
        if self.captures.last().is_some_and(|c| c.depth == depth) {
            let capture = self.captures.pop().expect("just seen");
            record.set(layout, capture.column, tidy(&capture.text, capture.mixed));
        }
        if layout.explode.as_deref() == Some(self.path.as_str())
            && let Some(occurrence) = record.occurrence.take()
        {
            record.occurrences.push(occurrence);
        }
        self.split_text();
        self.path.truncate(self.path_lengths.pop().expect("an element is open"));
    }
}

/// Text as stored: trimmed, and, where child elements split it, with each
/// run of whitespace (the document's indentation) made one space.
fn tidy(text: &str, mixed: bool) -> String {
    if mixed { text.split_whitespace().collect::<Vec<_>>().join(" ") } else { text.trim().to_owned() }
}

/// Stores the attributes of the element at `path` that columns read.
fn record_attributes(start: &BytesStart<'_>, path: &str, layout: &Layout, names: &mut NameCache, record: &mut Record) {
    for attribute in start.attributes().with_checks(false).flatten() {
        let key = attribute.key;
        if key.as_ref().starts_with(b"xmlns") {
            continue;
        }
        let name = names.snake(key.local_name().as_ref());
        let attribute_path = if path.is_empty() { name.to_owned() } else { format!("{path}__{name}") };
        if let Some(&column) = layout.column_of.get(&attribute_path) {
            let value = attribute
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&attribute.value).into_owned());
            record.set(layout, column, value);
        }
    }
}

/// `&amp;` and the other predefined entities, and `&#...;` characters. An
/// entity a DTD would define is kept as written.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, quick_xml::Error> {
    if let Some(character) = reference.resolve_char_ref()? {
        return Ok(character.to_string());
    }
    let name = reference.decode().map_err(quick_xml::Error::Encoding)?;
    Ok(quick_xml::escape::resolve_predefined_entity(&name).map_or_else(|| format!("&{name};"), str::to_owned))
}

#[cfg(test)]
mod tests;
