//! Finding a line's delimiters and its end.

/// Where any of three bytes lies in a slice, in order, found eight bytes at a
/// time by integer arithmetic on a `u64`.
///
/// A field is a few bytes long, so a search for the next delimiter ends every
/// few bytes. `memchr3_iter` paid its vector set-up and an indirect call at
/// each one, and profiles showed more time there than in the searching. This
/// is the same plain arithmetic on every target.
pub(super) struct ThreeBytes<'a> {
    haystack: &'a [u8],
    /// Each needle in every byte of a word.
    needles: [u64; 3],
    word_start: usize,
    /// The high bit of each byte of the word at `word_start` that is a
    /// needle and not handed out yet.
    matches: u64,
}

const LOW_SEVEN_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

impl<'a> ThreeBytes<'a> {
    pub(super) fn new(needles: [u8; 3], haystack: &'a [u8]) -> Self {
        let mut search = Self { haystack, needles: needles.map(|byte| u64::from_le_bytes([byte; 8])), word_start: 0, matches: 0 };
        search.matches = search.matches_at(0);
        search
    }

    fn matches_at(&self, start: usize) -> u64 {
        let rest = &self.haystack[start..];
        let (word, valid) = match rest.first_chunk::<8>() {
            Some(word) => (u64::from_le_bytes(*word), u64::MAX),
            None => {
                let mut word = [0; 8];
                word[..rest.len()].copy_from_slice(rest);
                (u64::from_le_bytes(word), (1 << (8 * rest.len())) - 1)
            }
        };
        self.needles.iter().fold(0, |found, needle| found | zero_bytes(word ^ needle)) & valid
    }
}

/// The high bit of each byte of `word` that is zero, and no other bit. Adding
/// to the low seven bits alone never carries into the next byte, so unlike
/// the shorter `(word - 0x01..) & !word & 0x80..` no byte is marked falsely.
fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW_SEVEN_BITS) + LOW_SEVEN_BITS) | word | LOW_SEVEN_BITS)
}

impl Iterator for ThreeBytes<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.matches == 0 {
            self.word_start += 8;
            if self.word_start >= self.haystack.len() {
                return None;
            }
            self.matches = self.matches_at(self.word_start);
        }
        let byte = self.matches.trailing_zeros() as usize / 8;
        self.matches &= self.matches - 1;
        Some(self.word_start + byte)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The positions a byte-by-byte scan finds, whatever the bytes,
        /// the needles (the zero byte too) and the length.
        #[test]
        fn finds_what_a_byte_by_byte_scan_finds(
            haystack in proptest::collection::vec(prop::sample::select(vec![0u8, b',', b'\t', b'\n', b'\r', b'a', 0x80, 0xff, 0x7f, 0x8a]), 0..70),
            delimiter in prop::sample::select(vec![b',', b'\t', b';', 0u8, 0xff]),
        ) {
            let needles = [delimiter, b'\n', b'\r'];
            let expected: Vec<usize> = (0..haystack.len()).filter(|&i| needles.contains(&haystack[i])).collect();
            prop_assert_eq!(ThreeBytes::new(needles, &haystack).collect::<Vec<_>>(), expected);
        }
    }
}
