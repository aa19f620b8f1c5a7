//! RFC 6587 framing of syslog over a byte stream (TCP, TLS).
//!
//! Each frame is detected on its own by its first byte, so a sender may mix framings:
//!
//! * octet counting, `MSG-LEN SP SYSLOG-MSG`, when the frame starts with a digit: the
//!   message is exactly `MSG-LEN` bytes and may hold newlines;
//! * non-transparent framing otherwise: the message runs to the next LF. A CR or NUL
//!   before the LF is part of the trailer and stripped too; empty lines are skipped.
//!
//! Only the framing is stripped; the message bytes are passed on as they came.
//!
//! Memory stays bounded by `max_message_bytes`: a longer message is cut at that size
//! ([`Frame::truncated`]) and the rest of it is read and discarded as it arrives (to the
//! end of the counted frame, or to the next LF). A frame that starts with a digit but has
//! no valid length prefix (`[1-9][0-9]{0,9} SP`) is a framing error: it is read as a
//! newline-framed line instead ([`Frame::framing_error`]), so nothing the peer sent is
//! lost and the stream resynchronises at the next LF.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Most digits a length prefix may have: anything longer is garbage, not a length.
const MAX_LENGTH_DIGITS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    OctetCounting,
    NonTransparent,
}

/// One syslog message with its framing stripped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub message: Bytes,
    pub framing: Framing,
    /// The message was longer than `max_message_bytes` and is cut to that size.
    pub truncated: bool,
    /// The frame started with a digit but had no valid length prefix: it was read as a
    /// newline-framed line.
    pub framing_error: bool,
}

#[derive(Debug)]
enum State {
    /// At a frame boundary (or inside a frame still arriving).
    Start,
    /// Discarding the rest of an oversized octet-counted frame.
    SkipBytes(usize),
    /// Discarding the rest of an over-long line, up to and including its LF.
    SkipLine,
}

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The RFC 6587 decoder; see the module documentation.
#[derive(Debug)]
pub struct SyslogDecoder {
    max_message_bytes: usize,
    state: State,
    /// Bytes at the head of the buffer already searched for a LF (no LF among them).
    scanned: usize,
    cut_short: bool,
}

enum Prefix {
    /// A valid prefix: the message length and where the message starts.
    Length {
        length: usize,
        start: usize,
    },
    /// Not enough bytes yet to tell.
    Incomplete,
    Invalid,
}

impl SyslogDecoder {
    pub fn new(max_message_bytes: usize) -> SyslogDecoder {
        SyslogDecoder {
            max_message_bytes: max_message_bytes.max(1),
            state: State::Start,
            scanned: 0,
            cut_short: false,
        }
    }

    /// The stream ended inside an octet-counted frame (its bytes were discarded).
    pub fn cut_short(&self) -> bool {
        self.cut_short
    }

    fn prefix(buf: &[u8]) -> Prefix {
        let window = &buf[..buf.len().min(MAX_LENGTH_DIGITS + 1)];
        match window.iter().position(|byte| !byte.is_ascii_digit()) {
            None if window.len() <= MAX_LENGTH_DIGITS => Prefix::Incomplete,
            None => Prefix::Invalid,
            Some(0) => Prefix::Invalid,
            Some(end) if window[end] == b' ' && buf[0] != b'0' => {
                // At most ten ASCII digits: the parse cannot fail on 64-bit targets.
                match std::str::from_utf8(&window[..end])
                    .ok()
                    .and_then(|digits| digits.parse::<usize>().ok())
                {
                    Some(length) => Prefix::Length {
                        length,
                        start: end + 1,
                    },
                    None => Prefix::Invalid,
                }
            }
            Some(_) => Prefix::Invalid,
        }
    }

    /// Splits a line (to its LF) off `buf`, or a cut one when it is already too long.
    fn line(&mut self, buf: &mut BytesMut, framing_error: bool) -> Option<Frame> {
        let from = self.scanned.min(buf.len());
        match buf[from..].iter().position(|&byte| byte == b'\n') {
            Some(offset) => {
                let end = from + offset;
                self.scanned = 0;
                let mut line = buf.split_to(end + 1);
                line.truncate(end);
                while matches!(line.last(), Some(b'\r' | b'\0')) {
                    line.truncate(line.len() - 1);
                }
                let truncated = line.len() > self.max_message_bytes;
                line.truncate(self.max_message_bytes);
                Some(Frame {
                    message: line.freeze(),
                    framing: Framing::NonTransparent,
                    truncated,
                    framing_error,
                })
            }
            None if buf.len() > self.max_message_bytes => {
                self.scanned = 0;
                let message = buf.split_to(self.max_message_bytes).freeze();
                self.state = State::SkipLine;
                Some(Frame {
                    message,
                    framing: Framing::NonTransparent,
                    truncated: true,
                    framing_error,
                })
            }
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }
}

impl Decoder for SyslogDecoder {
    type Item = Frame;
    type Error = FramingError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        loop {
            match self.state {
                State::SkipBytes(remaining) => {
                    let skipped = remaining.min(buf.len());
                    buf.advance(skipped);
                    if skipped < remaining {
                        self.state = State::SkipBytes(remaining - skipped);
                        return Ok(None);
                    }
                    self.state = State::Start;
                }
                State::SkipLine => match buf.iter().position(|&byte| byte == b'\n') {
                    Some(end) => {
                        buf.advance(end + 1);
                        self.state = State::Start;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                },
                State::Start => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    let frame = if first.is_ascii_digit() {
                        match Self::prefix(buf) {
                            Prefix::Incomplete => return Ok(None),
                            Prefix::Invalid => self.line(buf, true),
                            Prefix::Length { length, start } => {
                                let kept = length.min(self.max_message_bytes);
                                if buf.len() < start + kept {
                                    buf.reserve(start + kept - buf.len());
                                    return Ok(None);
                                }
                                buf.advance(start);
                                let message = buf.split_to(kept).freeze();
                                if kept < length {
                                    self.state = State::SkipBytes(length - kept);
                                }
                                Some(Frame {
                                    message,
                                    framing: Framing::OctetCounting,
                                    truncated: kept < length,
                                    framing_error: false,
                                })
                            }
                        }
                    } else {
                        self.line(buf, false)
                    };
                    match frame {
                        // An empty line (a bare LF, CRLF or NUL LF) is no message.
                        Some(frame)
                            if frame.message.is_empty()
                                && frame.framing == Framing::NonTransparent => {}
                        Some(frame) => return Ok(Some(frame)),
                        None => return Ok(None),
                    }
                }
            }
        }
    }

    /// At the end of the stream a last line without its LF is still a message; a counted
    /// frame cut short is not ([`SyslogDecoder::cut_short`] says so afterwards).
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        if buf.is_empty() || !matches!(self.state, State::Start) {
            buf.clear();
            return Ok(None);
        }
        let framing_error = match buf.first() {
            Some(first) if first.is_ascii_digit() => match Self::prefix(buf) {
                Prefix::Length { .. } => {
                    self.cut_short = true;
                    buf.clear();
                    return Ok(None);
                }
                _ => true,
            },
            _ => false,
        };
        buf.extend_from_slice(b"\n");
        match self.line(buf, framing_error) {
            Some(frame) if !frame.message.is_empty() => Ok(Some(frame)),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `chunk` bytes and decodes everything, with EOF.
    fn decode_in_chunks(input: &[u8], chunk: usize, max: usize) -> (Vec<Frame>, usize) {
        let mut decoder = SyslogDecoder::new(max);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut peak = 0;
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            peak = peak.max(buf.len());
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        while let Some(frame) = decoder.decode_eof(&mut buf).unwrap() {
            frames.push(frame);
        }
        (frames, peak)
    }

    fn messages(frames: &[Frame]) -> Vec<&[u8]> {
        frames.iter().map(|frame| &frame.message[..]).collect()
    }

    fn counted(message: &[u8]) -> Vec<u8> {
        let mut frame = format!("{} ", message.len()).into_bytes();
        frame.extend_from_slice(message);
        frame
    }

    #[test]
    fn both_framings_interleave_and_survive_any_split() {
        let a: &[u8] = b"<34>1 2026-11-28T09:00:00Z host app - - [x@1 a=\"b c\"] multi\nline";
        let b: &[u8] = b"<13>Nov 28 09:00:00 host sshd[42]: Accepted password for root";
        let c: &[u8] = b"<165>1 2026-11-28T09:00:01Z h - - - - spaces  and [brackets]";
        let mut input = counted(a);
        input.extend_from_slice(b);
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(&counted(c));
        input.extend_from_slice(b);
        input.extend_from_slice(b"\0\n");
        input.extend_from_slice(b"\n\r\n");
        input.extend_from_slice(&counted(a));
        input.extend_from_slice(c);
        for chunk in 1..=input.len() {
            let (frames, _) = decode_in_chunks(&input, chunk, 1024);
            assert_eq!(messages(&frames), [a, b, c, b, a, c], "chunk {chunk}");
            let framings: Vec<Framing> = frames.iter().map(|frame| frame.framing).collect();
            use Framing::*;
            assert_eq!(
                framings,
                [
                    OctetCounting,
                    NonTransparent,
                    OctetCounting,
                    NonTransparent,
                    OctetCounting,
                    NonTransparent
                ]
            );
            assert!(frames
                .iter()
                .all(|frame| !frame.truncated && !frame.framing_error));
        }
    }

    #[test]
    fn an_oversized_counted_frame_is_cut_and_its_rest_skipped() {
        let big = vec![b'x'; 10_000];
        let mut input = counted(&big);
        input.extend_from_slice(&counted(b"<13>after"));
        for chunk in [1, 7, 100, 4096, input.len()] {
            let (frames, peak) = decode_in_chunks(&input, chunk, 64);
            assert_eq!(frames.len(), 2, "chunk {chunk}");
            assert_eq!(&frames[0].message[..], &big[..64]);
            assert!(frames[0].truncated);
            assert_eq!(&frames[1].message[..], b"<13>after");
            assert!(!frames[1].truncated);
            // The decoder never held more than the cut message, its prefix and one read.
            assert!(peak <= 64 + 6 + chunk, "peak {peak} for chunk {chunk}");
        }
    }

    #[test]
    fn an_over_long_line_is_cut_and_the_stream_resumes_after_its_lf() {
        let mut input = vec![b'<'; 5000];
        input.extend_from_slice(b"\n<13>next\n");
        for chunk in [1, 13, 512, input.len()] {
            let (frames, peak) = decode_in_chunks(&input, chunk, 100);
            assert_eq!(messages(&frames), [&[b'<'; 100][..], b"<13>next"]);
            assert!(frames[0].truncated && !frames[1].truncated);
            assert!(peak <= 101 + chunk, "peak {peak} for chunk {chunk}");
        }
    }

    #[test]
    fn a_garbage_length_prefix_is_read_as_a_line() {
        let input = b"12ab<13>first\n0 <13>zero\n123456789012 x\n<13>ok\n";
        for chunk in [1, 5, input.len()] {
            let (frames, _) = decode_in_chunks(input, chunk, 1024);
            assert_eq!(
                messages(&frames),
                [
                    &b"12ab<13>first"[..],
                    b"0 <13>zero",
                    b"123456789012 x",
                    b"<13>ok"
                ]
            );
            let errors: Vec<bool> = frames.iter().map(|frame| frame.framing_error).collect();
            assert_eq!(errors, [true, true, true, false]);
        }
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate_it() {
        let mut decoder = SyslogDecoder::new(1024);
        let mut buf = BytesMut::from(&b"9999999999 <13>"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() < 4096, "capacity {}", buf.capacity());
    }

    #[test]
    fn at_eof_a_last_line_counts_but_a_cut_counted_frame_does_not() {
        let (frames, _) = decode_in_chunks(b"<13>a\n<13>no newline", 3, 1024);
        assert_eq!(messages(&frames), [&b"<13>a"[..], b"<13>no newline"]);
        let mut decoder = SyslogDecoder::new(1024);
        let mut buf = BytesMut::from(&b"5 <13>a20 <13>cut"[..]);
        let first = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&first.message[..], b"<13>a");
        assert_eq!(decoder.decode_eof(&mut buf).unwrap(), None);
        assert!(decoder.cut_short() && buf.is_empty());
    }
}
