//! Keeping secrets out of what a run writes or prints.
//!
//! The secrets a run knows are the values of the environment variables its servers'
//! `api_key_env` name (sent as bearer tokens). A server may echo them (an error page that
//! prints the request's headers), so every text that reaches a file or the terminal goes
//! through one [`Redactor`]: `requests.csv` rows (at the writer), `run.json`'s
//! `status_reason`, the run's error line and its log messages on stderr. A suite sets no
//! other header, and its `env` values are written in the suite file itself (copied into
//! the results folder), so they are not secrets the run could hide.
//!
//! Values shorter than [`MIN_SECRET_CHARS`] are not redacted: replacing every occurrence
//! of so short a text would rewrite ordinary words and numbers of the records (a key
//! `1234` inside every timestamp), and a key that short protects nothing anyway; the run
//! warns about such a key instead.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// What replaces each occurrence of a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this (in characters) are not redacted (see the module docs).
pub const MIN_SECRET_CHARS: usize = 8;

/// The secrets a run knows, and their replacement by [`REDACTED`] in any text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for `secrets`; empty and too short values are left out.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .flat_map(|s| spellings(&s))
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// The API keys of `suite`'s servers (the variables their `api_key_env` name), as the
    /// environment holds them now.
    pub fn for_suite(suite: &crate::suite::Suite) -> Self {
        Self::new(api_keys(suite).into_iter().map(|(_, _, value)| value))
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Replaces every secret in the strings of a JSON value (keys are field names, kept), so
    /// the value serialises to valid JSON whatever the secrets are.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// Bytes with every secret replaced; bytes that are not UTF-8 are redacted in their
    /// valid parts (a secret is text).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(bytes);
        }
        match self.redact(&String::from_utf8_lossy(bytes)) {
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
        }
    }

    /// Makes this redactor the one stderr output goes through ([`redact_global`],
    /// [`RedactingStderr`]); a later call replaces it.
    pub fn install(&self) {
        if let Ok(mut global) = GLOBAL.write() {
            *global = self.clone();
        }
    }
}

/// A secret as written raw, and as a server's JSON answer (`"` and `\\` escaped, `/` as
/// `\/` by some encoders) or a CSV field (`"` doubled) may spell it.
fn spellings(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(secret)
        .to_string();
    vec![
        secret.to_string(),
        secret.replace('"', "\"\""),
        json.replace('/', "\\/"),
        json,
    ]
}

/// The redactor stderr output goes through ([`Redactor::install`]).
static GLOBAL: RwLock<Redactor> = RwLock::new(Redactor {
    secrets: Vec::new(),
});

/// `text` redacted by the installed redactor (unchanged when none is installed).
pub fn redact_global(text: &str) -> String {
    match GLOBAL.read() {
        Ok(r) => r.redact(text).into_owned(),
        Err(_) => text.to_string(),
    }
}

/// (server key, variable, value) of every API key variable of `suite` that is set.
pub fn api_keys(suite: &crate::suite::Suite) -> Vec<(String, String, String)> {
    suite
        .servers
        .iter()
        .filter_map(|(key, s)| {
            let var = s.api_key_env.as_ref()?;
            let value = std::env::var(var).ok()?;
            Some((key.clone(), var.clone(), value))
        })
        .collect()
}

/// Warnings for API keys too short to be redacted (see the module docs).
pub fn short_key_warnings(suite: &crate::suite::Suite) -> Vec<String> {
    api_keys(suite)
        .into_iter()
        .filter(|(_, _, value)| !value.is_empty() && value.chars().count() < MIN_SECRET_CHARS)
        .map(|(server, var, value)| {
            format!(
                "the API key of server `{server}` ({var}) has {} characters, fewer than {MIN_SECRET_CHARS}: it is not redacted from records and messages (a text that short would rewrite ordinary values)",
                value.chars().count()
            )
        })
        .collect()
}

/// Standard error through the installed redactor, for the log subscriber
/// (`with_writer(RedactingStderr::default)`); each log event is one `write` call.
#[derive(Debug, Default)]
pub struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let redacted = match GLOBAL.read() {
            Ok(r) => r.redact_bytes(buf).into_owned(),
            Err(_) => buf.to_vec(),
        };
        std::io::stderr().write_all(&redacted)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_replaced_and_short_values_are_left_alone() {
        let r = Redactor::new(["sk-secret-123", "", "abc", "sk-secret-123-long"]);
        assert_eq!(
            r.redact("Bearer sk-secret-123-long, again sk-secret-123!"),
            "Bearer [redacted], again [redacted]!"
        );
        assert_eq!(r.redact("abc 1234"), "abc 1234");
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert!(Redactor::new(["abc", ""]).is_empty());
        assert_eq!(
            &*r.redact_bytes(b"x,sk-secret-123,y\n"),
            b"x,[redacted],y\n"
        );
    }

    #[test]
    fn json_and_csv_spellings_of_a_secret_are_replaced_too() {
        let r = Redactor::new(["ab/cd\"ef\\gh"]);
        for text in [
            "ab/cd\"ef\\gh",
            "ab/cd\\\"ef\\\\gh",
            "ab\\/cd\\\"ef\\\\gh",
            "ab/cd\"\"ef\\gh",
        ] {
            assert_eq!(r.redact(text), REDACTED, "{text}");
        }
    }
}
