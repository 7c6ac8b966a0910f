//! Splitting delimited text into records, each numbered by the line it starts on.
//!
//! Most lines of most files hold no quote: such a line is a record whose
//! fields lie between delimiters, and one scan ([`ThreeBytes`]) finds both
//! its end and its delimiters. A line with a quote, or a stray `\r`, goes
//! to `csv_core`, which handles quoted delimiters and line breaks. Its
//! byte-at-a-time state machine was the largest cost of reading a CSV in
//! profiles, so it sees only the lines that need it.
//!
//! Lines are counted as an editor counts them: a break is a `\n`, a `\r\n` or
//! a lone `\r`, quoted or not, and blank lines count though they hold no record.

use std::io::{self, Read};

use csv_core::ReadRecordResult;

use super::three_bytes::ThreeBytes;

/// One record's fields: where each lies in `bytes`, which holds a plain
/// line as read (delimiters and all) or a quoted record's fields end to end.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl<'a> Fields<'a> {
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// The bytes every field lies in.
    pub fn as_slice(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn range(&self, field: usize) -> std::ops::Range<usize> {
        let (start, end) = self.bounds[field];
        start..end
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let bytes = self.bytes;
        self.bounds.iter().map(move |&(start, end)| &bytes[start..end])
    }
}

/// Where the last record's bytes are.
#[derive(Debug, Clone, Copy)]
enum Last {
    /// `buffer[start..end]`: a plain line, read in place.
    Line { start: usize, end: usize },
    /// `quoted_bytes`.
    Quoted,
}

/// `reader` once it has seen a blank line: `csv_core` takes the first three
/// bytes it is given for a byte-order mark when they look like one, and the
/// first record it is given may lie anywhere in the file. The file's own mark
/// is skipped before.
fn primed(mut reader: csv_core::Reader) -> csv_core::Reader {
    let (result, ..) = reader.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
    debug_assert_eq!(result, ReadRecordResult::InputEmpty);
    reader
}

/// Bytes read from the source at a time.
const READ_SIZE: usize = 64 * 1024;

pub struct Records<R> {
    input: R,
    buffer: Vec<u8>,
    /// The first byte of `buffer` not yet consumed.
    start: usize,
    at_end_of_input: bool,
    delimiter: u8,
    quoted: csv_core::Reader,
    /// Line breaks consumed so far.
    breaks: u64,
    /// The last byte consumed was a `\r`, so a `\n` next ends no other line.
    after_cr: bool,
    /// Where the first `"` at or after `start` is in `buffer`, if any: a line
    /// that ends before it is plain.
    next_quote: Option<usize>,
    last: Last,
    bounds: Vec<(usize, usize)>,
    quoted_bytes: Vec<u8>,
    quoted_ends: Vec<usize>,
}

impl<R: Read> Records<R> {
    pub fn new(input: R, delimiter: u8) -> Self {
        Self {
            input,
            buffer: Vec::with_capacity(READ_SIZE),
            start: 0,
            at_end_of_input: false,
            delimiter,
            quoted: primed(csv_core::ReaderBuilder::new().delimiter(delimiter).build()),
            breaks: 0,
            after_cr: false,
            next_quote: None,
            last: Last::Quoted,
            bounds: Vec::new(),
            quoted_bytes: Vec::new(),
            quoted_ends: Vec::new(),
        }
    }

    /// The fields of the record [`Records::next_record`] last read.
    pub fn fields(&self) -> Fields<'_> {
        let bytes = match self.last {
            Last::Line { start, end } => &self.buffer[start..end],
            Last::Quoted => &self.quoted_bytes,
        };
        Fields { bytes, bounds: &self.bounds }
    }

    /// The line the next record would start on, from 1, for errors.
    pub fn line(&self) -> u64 {
        self.breaks + 1
    }

    /// Reads the next record; the line it starts on, or `None` at the end.
    pub fn next_record(&mut self) -> io::Result<Option<u64>> {
        if !self.skip_blank_lines()? {
            return Ok(None);
        }
        let line = self.line();
        if !self.read_plain_line()? {
            self.read_quoted_record()?;
        }
        Ok(Some(line))
    }

    /// Consumes line breaks up to the next record; false at the end of input.
    fn skip_blank_lines(&mut self) -> io::Result<bool> {
        loop {
            let unread = &self.buffer[self.start..];
            let blank = unread.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
            self.consume(blank);
            if self.start < self.buffer.len() {
                return Ok(true);
            }
            if !self.fill()? {
                return Ok(false);
            }
        }
    }

    /// Reads a line without quotes or `\r` (but for a `\r\n` ending it) as a
    /// record, in place; false, consuming nothing, for any other line. One
    /// pass finds its delimiters and its end.
    fn read_plain_line(&mut self) -> io::Result<bool> {
        let (content, terminator) = loop {
            self.bounds.clear();
            let unread = &self.buffer[self.start..];
            let mut field_start = 0;
            let mut end = None;
            for at in ThreeBytes::new([self.delimiter, b'\n', b'\r'], unread) {
                match unread[at] {
                    b'\n' => end = Some((at, 1)),
                    b'\r' if unread.get(at + 1) == Some(&b'\n') => end = Some((at, 2)),
                    // A lone `\r`, or one whose next byte is not read yet.
                    b'\r' if at + 1 < unread.len() || self.at_end_of_input => return Ok(false),
                    b'\r' => break,
                    _ => {
                        self.bounds.push((field_start, at));
                        field_start = at + 1;
                        continue;
                    }
                }
                break;
            }
            match end {
                Some(end) => break end,
                None if self.at_end_of_input => break (unread.len(), 0),
                None => {
                    self.fill()?;
                }
            }
        };
        if self.next_quote.is_some_and(|quote| quote < self.start + content) {
            return Ok(false);
        }
        let (start, end) = (self.start, self.start + content);
        self.bounds.push((self.bounds.last().map_or(0, |last| last.1 + 1), content));
        self.last = Last::Line { start, end };
        // One line break, after which no `\r` is pending.
        self.breaks += u64::from(terminator > 0);
        self.after_cr = false;
        self.start = end + terminator;
        Ok(true)
    }

    /// Reads one record with `csv_core`, however many lines it spans.
    fn read_quoted_record(&mut self) -> io::Result<()> {
        let (mut written, mut ended) = (0, 0);
        self.bounds.clear();
        self.quoted_bytes.clear();
        self.quoted_ends.clear();
        loop {
            if self.start == self.buffer.len() && !self.at_end_of_input {
                self.fill()?;
                continue;
            }
            if self.quoted_bytes.len() - written < 64 {
                self.quoted_bytes.resize((self.quoted_bytes.len() * 2).max(1024), 0);
            }
            if self.quoted_ends.len() - ended < 4 {
                self.quoted_ends.resize((self.quoted_ends.len() * 2).max(64), 0);
            }
            // Empty input tells csv_core the input has ended.
            let input = &self.buffer[self.start..];
            let (result, read, wrote, ends) =
                self.quoted.read_record(input, &mut self.quoted_bytes[written..], &mut self.quoted_ends[ended..]);
            self.consume(read);
            (written, ended) = (written + wrote, ended + ends);
            match result {
                ReadRecordResult::InputEmpty | ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::Record | ReadRecordResult::End => {
                    self.quoted_bytes.truncate(written);
                    let ends = &self.quoted_ends[..ended];
                    self.bounds.extend(ends.iter().scan(0, |start, &end| Some((std::mem::replace(start, end), end))));
                    self.last = Last::Quoted;
                    return Ok(());
                }
            }
        }
    }

    /// Marks `count` bytes consumed, counting the line breaks among them.
    fn consume(&mut self, count: usize) {
        let consumed = &self.buffer[self.start..self.start + count];
        for at in memchr::memchr2_iter(b'\r', b'\n', consumed) {
            let continues_crlf = consumed[at] == b'\n' && if at == 0 { self.after_cr } else { consumed[at - 1] == b'\r' };
            self.breaks += u64::from(!continues_crlf);
        }
        if let Some(last) = consumed.last() {
            self.after_cr = *last == b'\r';
        }
        self.start += count;
        if self.next_quote.is_some_and(|quote| quote < self.start) {
            self.next_quote = memchr::memchr(b'"', &self.buffer[self.start..]).map(|at| self.start + at);
        }
    }

    /// Reads more of the input, keeping the unconsumed bytes; false at its end.
    ///
    /// At least as much again as it keeps: a line longer than one read is
    /// scanned again from its start after each fill, and doubling keeps the
    /// bytes scanned in all to a few times the line.
    fn fill(&mut self) -> io::Result<bool> {
        if self.at_end_of_input {
            return Ok(false);
        }
        self.buffer.drain(..self.start);
        self.start = 0;
        let kept = self.buffer.len();
        let wanted = kept + READ_SIZE.max(kept);
        let read = self.read_until(wanted);
        self.next_quote = memchr::memchr(b'"', &self.buffer);
        read?;
        Ok(self.buffer.len() > kept)
    }

    /// Reads until `buffer` holds `wanted` bytes or the input ends.
    fn read_until(&mut self, wanted: usize) -> io::Result<()> {
        while self.buffer.len() < wanted {
            let filled = self.buffer.len();
            self.buffer.resize(wanted, 0);
            let read = self.input.read(&mut self.buffer[filled..]);
            self.buffer.truncate(filled + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => {
                    self.at_end_of_input = true;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Hands out at most `.1` bytes a read, to split lines, `\r\n`s and
    /// quoted fields across reads.
    struct Chunked<'a>(&'a [u8], usize);

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn split(text: &[u8], chunk: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut records = Records::new(Chunked(text, chunk), b',');
        std::iter::from_fn(|| records.next_record().unwrap().map(|line| (line, records.fields().iter().map(<[u8]>::to_vec).collect())))
            .collect()
    }

    /// What the `csv` crate reads, each record with the line its first
    /// byte is on: past the blank lines `csv` skips before it.
    fn reference(text: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text);
        let mut record = csv::ByteRecord::new();
        let mut records = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let read_from = record.position().expect("a position").byte() as usize;
            let first_byte = read_from + text[read_from..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
            let before = &text[..first_byte];
            let breaks = (0..before.len()).filter(|&i| before[i] == b'\r' || (before[i] == b'\n' && (i == 0 || before[i - 1] != b'\r')));
            records.push((breaks.count() as u64 + 1, record.iter().map(<[u8]>::to_vec).collect()));
        }
        records
    }

    #[test]
    fn plain_quoted_and_broken_lines() {
        let text = b"a,b\r\n\r\n\"q,1\",\"two\nlines\"\rc,\"\"\"\",d\n\ne,f";
        assert_eq!(split(text, 64 * 1024), reference(text));
        assert_eq!(
            split(text, 1).iter().map(|(line, _)| *line).collect::<Vec<_>>(),
            [1, 3, 5, 7],
            "a record's line is where its first byte is"
        );
    }

    #[test]
    fn a_line_longer_than_many_reads_is_one_record() {
        let long = "x".repeat(5 << 20);
        let text = format!("{long},1\r\n\"q\",{long}\nz");
        let records = split(text.as_bytes(), 4096);
        assert_eq!(records.len(), 3);
        assert_eq!((records[0].0, records[0].1[0].len(), records[0].1[1].as_slice()), (1, 5 << 20, &b"1"[..]));
        assert_eq!((records[1].0, records[1].1[1].len()), (2, 5 << 20));
        assert_eq!(records[2], (3, vec![b"z".to_vec()]));
    }

    proptest! {
        /// Every record and line number as the `csv` crate reads them,
        /// whatever the quotes, line ends and read sizes. 256 cases a run;
        /// `PROPTEST_CASES=20000` for a longer one.
        #[test]
        fn records_and_lines_match_the_csv_crate(
            text in proptest::collection::vec(prop::sample::select(b"ab ,\"\r\n\xc3\xa9".to_vec()), 0..200),
            chunk in prop::sample::select(vec![1usize, 2, 3, 7, 64 * 1024]),
        ) {
            prop_assert_eq!(split(&text, chunk), reference(&text));
        }
    }
}
