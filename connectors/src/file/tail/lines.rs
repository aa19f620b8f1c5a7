//! Cuts the bytes read from one file into records, remembering the file offset where
//! each record ends (what a position may advance to once it is acknowledged).
//!
//! One record per line, `\n` or `\r\n` removed; an empty line is consumed but gives no
//! record. A partial last line stays buffered until its newline comes or the caller
//! [`takes the rest`](LineSplitter::take_rest) (a rotated file that was drained). A line
//! longer than `max_line` is split into records of `max_line` bytes, so the buffer never
//! holds more than `max_line` bytes plus one read.

use std::ops::Range;

/// One record cut from the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The payload's bytes in [`LineSplitter::bytes`]; empty for an empty line.
    pub payload: Range<usize>,
    /// The file offset just after this record (its newline included).
    pub end: u64,
    /// Whether this is a piece of a line longer than `max_line`.
    pub split: bool,
}

#[derive(Debug)]
pub struct LineSplitter {
    buffer: Vec<u8>,
    /// Bytes of `buffer` already cut.
    cut: usize,
    /// File offset of `buffer[0]`.
    start: u64,
    /// Where the next newline search starts (bytes before it hold none).
    searched: usize,
    max_line: usize,
}

impl LineSplitter {
    pub fn new(offset: u64, max_line: usize) -> LineSplitter {
        LineSplitter {
            buffer: Vec::new(),
            cut: 0,
            start: offset,
            searched: 0,
            max_line: max_line.max(1),
        }
    }

    /// Forgets what is buffered and continues at `offset` (a truncated file).
    pub fn reset(&mut self, offset: u64) {
        *self = LineSplitter::new(offset, self.max_line);
    }

    /// The file offset after the last byte cut into a record.
    #[cfg(test)]
    pub fn consumed(&self) -> u64 {
        self.start + self.cut as u64
    }

    /// The file offset after the last byte read: where the next read starts.
    pub fn read_offset(&self) -> u64 {
        self.start + self.buffer.len() as u64
    }

    /// Bytes read but not yet cut (a partial line).
    pub fn pending(&self) -> usize {
        self.buffer.len() - self.cut
    }

    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buffer[range]
    }

    /// Appends bytes read at [`read_offset`](Self::read_offset); drops the bytes already
    /// cut first, so the buffer stays bounded.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.cut > 0 {
            self.buffer.drain(..self.cut);
            self.start += self.cut as u64;
            self.searched -= self.cut;
            self.cut = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Drops the bytes already cut and gives back memory a long read left behind, so an
    /// idle file holds no more than its partial line.
    pub fn release(&mut self) {
        self.buffer.drain(..self.cut);
        self.start += self.cut as u64;
        self.searched -= self.cut;
        self.cut = 0;
        self.buffer.shrink_to(self.buffer.len());
    }

    /// The next complete record, or `None` until more bytes come.
    pub fn next_cut(&mut self) -> Option<Cut> {
        // A line of `max_line` bytes ends at most two bytes later (`\r\n`).
        let window_end = self.buffer.len().min(self.cut + self.max_line + 2);
        let from = self.searched.max(self.cut);
        let newline = self.buffer[from..window_end]
            .iter()
            .position(|&byte| byte == b'\n')
            .map(|at| from + at);
        match newline {
            Some(newline) => {
                let mut payload_end = newline;
                if payload_end > self.cut && self.buffer[payload_end - 1] == b'\r' {
                    payload_end -= 1;
                }
                if payload_end - self.cut > self.max_line {
                    // The piece goes now, the short remainder with the next cut.
                    return Some(self.take(self.cut..self.cut + self.max_line, true));
                }
                let cut = Cut {
                    payload: self.cut..payload_end,
                    end: self.start + newline as u64 + 1,
                    split: false,
                };
                self.cut = newline + 1;
                self.searched = self.cut;
                Some(cut)
            }
            None if window_end - self.cut >= self.max_line + 2 => {
                Some(self.take(self.cut..self.cut + self.max_line, true))
            }
            None => {
                self.searched = window_end;
                None
            }
        }
    }

    /// Cuts whatever partial line is buffered (a drained file's last line).
    pub fn take_rest(&mut self) -> Option<Cut> {
        (self.pending() > 0).then(|| self.take(self.cut..self.buffer.len(), false))
    }

    fn take(&mut self, payload: Range<usize>, split: bool) -> Cut {
        self.cut = payload.end;
        self.searched = self.cut;
        Cut {
            end: self.start + payload.end as u64,
            payload,
            split,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(splitter: &mut LineSplitter) -> Vec<(String, u64, bool)> {
        let mut all = Vec::new();
        while let Some(cut) = splitter.next_cut() {
            let text = String::from_utf8_lossy(splitter.bytes(cut.payload.clone()));
            all.push((text.into_owned(), cut.end, cut.split));
        }
        all
    }

    fn line(text: &str, end: u64) -> (String, u64, bool) {
        (text.to_owned(), end, false)
    }

    #[test]
    fn lines_end_at_lf_or_crlf_and_empty_lines_are_consumed() {
        let mut splitter = LineSplitter::new(100, 64);
        splitter.push(b"one\r\n\ntwo\nthr");
        assert_eq!(
            cuts(&mut splitter),
            [line("one", 105), line("", 106), line("two", 110)]
        );
        assert_eq!(splitter.consumed(), 110);
        assert_eq!(splitter.read_offset(), 113);
        assert_eq!(splitter.pending(), 3);
        // The partial line waits for its newline.
        splitter.release();
        assert_eq!((splitter.consumed(), splitter.read_offset()), (110, 113));
        splitter.push(b"ee\n");
        assert_eq!(cuts(&mut splitter), [line("three", 116)]);
    }

    #[test]
    fn a_drained_partial_line_is_taken_whole() {
        let mut splitter = LineSplitter::new(0, 64);
        splitter.push(b"done\nlast words");
        assert_eq!(cuts(&mut splitter), [line("done", 5)]);
        let rest = splitter.take_rest().unwrap();
        assert_eq!(splitter.bytes(rest.payload), b"last words");
        assert_eq!(rest.end, 15);
        assert_eq!(splitter.take_rest(), None);
    }

    #[test]
    fn long_lines_are_split_into_bounded_pieces() {
        let mut splitter = LineSplitter::new(0, 4);
        splitter.push(b"abcdefghij\nxy\nabcd\r\n");
        assert_eq!(
            cuts(&mut splitter),
            [
                ("abcd".into(), 4, true),
                ("efgh".into(), 8, true),
                line("ij", 11),
                line("xy", 14),
                line("abcd", 20),
            ]
        );
        // Without a newline yet, a full piece still goes: the buffer stays bounded.
        splitter.push(b"0123456");
        assert_eq!(cuts(&mut splitter), [("0123".into(), 24, true)]);
        assert_eq!(splitter.pending(), 3);
    }

    #[test]
    fn a_reset_starts_over_at_the_offset() {
        let mut splitter = LineSplitter::new(0, 64);
        splitter.push(b"partial");
        splitter.reset(0);
        assert_eq!(splitter.pending(), 0);
        splitter.push(b"new\n");
        assert_eq!(cuts(&mut splitter), [line("new", 4)]);
    }
}
