//! Cutting a byte stream (SIP over TCP, RFC 3261 §18.3) into whole messages.

use crate::MAX_MESSAGE_LEN;

/// The stream broke the framing rules; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header section or message exceeds [`MAX_MESSAGE_LEN`].
    #[error("message too large for the stream")]
    TooLarge,
    /// A stream message must carry a valid Content-Length.
    #[error("missing or bad Content-Length on a stream")]
    ContentLength,
}

/// Accumulates stream bytes and yields complete messages.
///
/// Feed with [`StreamFramer::push`], then call [`StreamFramer::next_message`] until it
/// returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether part of a message has arrived (keep-alive CRLFs do not count).
    pub fn has_partial(&self) -> bool {
        self.buf.iter().any(|b| !matches!(b, b'\r' | b'\n'))
    }

    /// Returns the next complete message, if one has fully arrived.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        // RFC 5626 keep-alives: bare CRLFs between messages.
        let skip = self
            .buf
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(self.buf.len());
        self.buf.drain(..skip);

        let Some(head_end) = find_head_end(&self.buf) else {
            if self.buf.len() > MAX_MESSAGE_LEN {
                return Err(FrameError::TooLarge);
            }
            return Ok(None);
        };
        let body_len = stream_content_length(&self.buf[..head_end])?;
        let total = head_end + body_len;
        if total > MAX_MESSAGE_LEN {
            return Err(FrameError::TooLarge);
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let message: Vec<u8> = self.buf.drain(..total).collect();
        Ok(Some(message))
    }
}

/// Index just past the blank line that ends the header section.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn stream_content_length(head: &[u8]) -> Result<usize, FrameError> {
    let text = std::str::from_utf8(head).map_err(|_| FrameError::ContentLength)?;
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            return value
                .trim()
                .parse::<usize>()
                .map_err(|_| FrameError::ContentLength);
        }
    }
    Err(FrameError::ContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pipelined_messages_and_waits_for_body() {
        let mut framer = StreamFramer::new();
        framer.push(b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nab");
        assert_eq!(framer.next_message(), Ok(None));
        framer.push(b"cBYE sip:b SIP/2.0\r\nl: 0\r\n\r\n");
        let first = framer.next_message().expect("ok").expect("message");
        assert!(first.starts_with(b"OPTIONS") && first.ends_with(b"abc"));
        let second = framer.next_message().expect("ok").expect("message");
        assert!(second.starts_with(b"BYE"));
        assert_eq!(framer.next_message(), Ok(None));
    }

    #[test]
    fn missing_content_length_is_an_error() {
        let mut framer = StreamFramer::new();
        framer.push(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(framer.next_message(), Err(FrameError::ContentLength));
    }
}
