//! Server-sent events: bytes in, the `data` of each complete event out.
//!
//! Follows the WHATWG event-stream rules that matter for model servers: lines end with
//! `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with `\n`; a blank line
//! ends the event; comments (`:`) and other fields are ignored.

/// An incremental event-stream decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Option<String>,
    after_cr: bool,
}

impl SseDecoder {
    /// Feeds bytes; returns the data of every event they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, &mut events);
                }
                _ => self.line.push(b),
            }
        }
        events
    }

    /// The data of an event the stream ended in without its blank line.
    pub fn finish(mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        let mut events = Vec::new();
        self.line_done(&line, &mut events);
        events.pop().or(self.data)
    }

    fn line_done(&mut self, line: &[u8], events: &mut Vec<String>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                events.push(data);
            }
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_and_line_endings() {
        let mut d = SseDecoder::default();
        assert!(d.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            d.push(b":1}\n\n: keep-alive\n\ndata:x\r\ndata: y\r\n\r\n"),
            vec!["{\"a\":1}".to_string(), "x\ny".to_string()]
        );
        assert_eq!(
            d.push(b"event: ping\ndata: [DONE]\n\n"),
            vec!["[DONE]".to_string()]
        );
        let mut d = SseDecoder::default();
        assert!(d.push(b"data: tail").is_empty());
        assert_eq!(d.finish(), Some("tail".to_string()));
    }
}
