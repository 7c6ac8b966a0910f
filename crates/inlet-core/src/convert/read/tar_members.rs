//! The regular files of a tar stream, one after another, without holding one.
//!
//! `tar::Archive::entries` borrows its archive, and its entries cannot cross
//! threads, while a reader must own its input and be `Send`. This walks the
//! 512-byte blocks itself and leaves the header fields to `tar::Header`.

use std::io::{self, Read};

const BLOCK: u64 = 512;
/// GNU long names and PAX headers are a few hundred bytes; more is not a name.
const MAX_NAME_DATA: u64 = 1 << 20;

pub(super) struct TarMembers<R> {
    input: R,
    /// The current member's bytes not yet read, and the padding after them.
    remaining: u64,
    padding: u64,
    /// Bytes of the archive consumed, for messages.
    offset: u64,
}

impl<R: Read> TarMembers<R> {
    pub(super) fn new(input: R) -> Self {
        Self { input, remaining: 0, padding: 0, offset: 0 }
    }

    /// Moves past what is left of the current member to the next regular
    /// file, and returns its path; `None` at the end of the archive.
    pub(super) fn next_file(&mut self) -> io::Result<Option<String>> {
        self.skip(self.remaining + self.padding)?;
        (self.remaining, self.padding) = (0, 0);
        let mut long_name: Option<String> = None;
        loop {
            let mut block = [0u8; BLOCK as usize];
            if !self.read_block(&mut block)? || block.iter().all(|b| *b == 0) {
                return Ok(None);
            }
            let header = tar::Header::from_byte_slice(&block);
            check_sum(header, &block, self.offset - BLOCK)?;
            let size = header.entry_size()?;
            let padding = (BLOCK - size % BLOCK) % BLOCK;
            let kind = header.entry_type();
            if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
                let data = self.read_name_data(size, padding)?;
                long_name = if kind.is_gnu_longname() { Some(gnu_name(&data)) } else { pax_path(&data).or(long_name) };
                continue;
            }
            if kind.is_file() || kind == tar::EntryType::Continuous {
                let name = long_name.take().unwrap_or_else(|| String::from_utf8_lossy(&header.path_bytes()).into_owned());
                (self.remaining, self.padding) = (size, padding);
                return Ok(Some(name));
            }
            // Folders, links and the like carry nothing to read.
            long_name = None;
            self.skip(size + padding)?;
        }
    }

    /// Reads a whole block; `false` at a clean end of the stream.
    fn read_block(&mut self, block: &mut [u8; BLOCK as usize]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < block.len() {
            match self.input.read(&mut block[filled..])? {
                0 if filled == 0 => return Ok(false),
                0 => return Err(cut_short(self.offset)),
                n => filled += n,
            }
        }
        self.offset += BLOCK;
        Ok(true)
    }

    fn read_name_data(&mut self, size: u64, padding: u64) -> io::Result<Vec<u8>> {
        if size > MAX_NAME_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a name header of {size} bytes at byte {} is not a name", self.offset),
            ));
        }
        let mut data = Vec::with_capacity(size as usize);
        (&mut self.input).take(size).read_to_end(&mut data)?;
        if data.len() as u64 != size {
            return Err(cut_short(self.offset));
        }
        self.offset += size;
        self.skip(padding)?;
        Ok(data)
    }

    fn skip(&mut self, bytes: u64) -> io::Result<()> {
        let skipped = io::copy(&mut (&mut self.input).take(bytes), &mut io::sink())?;
        self.offset += skipped;
        if skipped < bytes {
            return Err(cut_short(self.offset));
        }
        Ok(())
    }
}

/// Reads the current member; the end of the member is the end of the stream.
impl<R: Read> Read for TarMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.input.read(&mut buf[..wanted])?;
        if read == 0 {
            return Err(cut_short(self.offset));
        }
        self.remaining -= read as u64;
        self.offset += read as u64;
        Ok(read)
    }
}

fn cut_short(offset: u64) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("the archive ends at byte {offset}, inside a member: it was cut short"))
}

/// A header whose checksum does not add up is not tar: say so rather than
/// read garbage as a member.
fn check_sum(header: &tar::Header, block: &[u8], at: u64) -> io::Result<()> {
    let stored = header.cksum().map_err(|_| not_tar(at))?;
    let computed: u32 = block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(*b) }).sum();
    if stored != computed {
        return Err(not_tar(at));
    }
    Ok(())
}

fn not_tar(at: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the block at byte {at} is not a tar header: the file is not a tar archive, or is damaged"),
    )
}

fn gnu_name(data: &[u8]) -> String {
    let end = memchr::memchr(0, data).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn pax_path(data: &[u8]) -> Option<String> {
    tar::PaxExtensions::new(data)
        .filter_map(Result::ok)
        .find(|extension| extension.key_bytes() == b"path")
        .map(|extension| String::from_utf8_lossy(extension.value_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_dir("notices", ".").unwrap();
        for (name, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn read_all(bytes: &[u8]) -> io::Result<Vec<(String, String)>> {
        let mut members = TarMembers::new(bytes);
        let mut found = Vec::new();
        while let Some(name) = members.next_file()? {
            let mut text = String::new();
            members.read_to_string(&mut text)?;
            found.push((name, text));
        }
        Ok(found)
    }

    #[test]
    fn members_come_in_order_with_long_names_and_without_folders() {
        let long = format!("notices/{}.xml", "n".repeat(150));
        let bytes = archive(&[("notices/a.xml", b"<a/>"), (&long, b"<long/>"), ("notices/empty.xml", b"")]);
        let found = read_all(&bytes).unwrap();
        let expected = [("notices/a.xml", "<a/>"), (long.as_str(), "<long/>"), ("notices/empty.xml", "")];
        assert_eq!(found, expected.map(|(n, t)| (n.to_owned(), t.to_owned())));
    }

    #[test]
    fn an_unread_member_is_skipped() {
        let bytes = archive(&[("a.xml", &[b'x'; 700]), ("b.xml", b"<b/>")]);
        let mut members = TarMembers::new(bytes.as_slice());
        assert_eq!(members.next_file().unwrap().as_deref(), Some("a.xml"));
        assert_eq!(members.next_file().unwrap().as_deref(), Some("b.xml"));
        let mut text = String::new();
        members.read_to_string(&mut text).unwrap();
        assert_eq!(text, "<b/>");
    }

    #[test]
    fn a_cut_archive_and_a_file_that_is_not_tar_are_errors() {
        let bytes = archive(&[("a.xml", &[b'x'; 3000])]);
        let error = read_all(&bytes[..2048]).unwrap_err();
        assert!(error.to_string().contains("cut short"), "{error}");
        let error = read_all(&[b'<'; 1024]).unwrap_err();
        assert!(error.to_string().contains("not a tar archive"), "{error}");
    }
}
