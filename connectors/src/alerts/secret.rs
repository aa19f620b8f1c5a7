//! Secrets: webhook URLs, API tokens, routing keys and signing keys.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show `[redacted]`, so a
//! secret that ends up in a log line, an error or a dead letter by accident shows nothing.
//! Code that needs the value calls [`Secret::expose`], which is easy to audit.
//!
//! Some leaks do not go through our formatting: an HTTP error that prints the URL, or a
//! vendor that echoes the request in its error response. A [`Redactor`] knows every form
//! of a destination's secrets and scrubs them from such text before it is logged or
//! dead-lettered.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// Replaces a secret wherever it would be printed.
pub const REDACTED: &str = "[redacted]";

/// A value that must not appear in logs, errors or dead letters.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself: only for building the request that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret<String> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Expands `${NAME}` references from `lookup` (the process environment at load time).
///
/// `key` names the config key in errors; the error names the variable, never its value.
/// A `$` not followed by `{` is kept as it is, so secrets that contain `$` need no
/// escaping unless they contain `${`.
pub fn expand_env(
    text: &str,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut expanded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        expanded.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "{key}: unterminated ${{ in an environment reference"
            ));
        };
        let name = &after[..end];
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "{key}: ${{{name}}} is not an environment variable name"
            ));
        }
        match lookup(name) {
            Some(value) => expanded.push_str(&value),
            None => return Err(format!("{key}: environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    expanded.push_str(rest);
    Ok(expanded)
}

/// Scrubs a destination's secrets from text that came from outside our control.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    forms: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.forms.len())
    }
}

/// Shorter strings are too likely to be ordinary text (a path of `/`, a one-letter
/// user); the secrets we guard are far longer.
const MIN_SCRUBBED_LEN: usize = 4;

impl Redactor {
    /// Adds one literal form of a secret.
    pub fn add(&mut self, form: impl Into<String>) {
        let form = form.into();
        if form.len() >= MIN_SCRUBBED_LEN && !self.forms.contains(&form) {
            self.forms.push(form);
            self.forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        }
    }

    /// Adds a secret URL: the whole URL, and its path with the query, which is where a
    /// webhook keeps its token and what a server echoes back.
    pub fn add_url(&mut self, url: &url::Url) {
        self.add(url.as_str());
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        if path != "/" {
            self.add(path);
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for form in &self.forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), REDACTED);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_its_value() {
        let secret = Secret::new("xoxb-very-secret".to_owned());
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "xoxb-very-secret");
    }

    #[test]
    fn env_references_expand_and_errors_name_the_key_not_the_value() {
        let lookup = |name: &str| (name == "PD_KEY").then(|| "abc123".to_owned());
        assert_eq!(
            expand_env("${PD_KEY}", "k", &lookup).as_deref(),
            Ok("abc123")
        );
        assert_eq!(
            expand_env("Bearer-${PD_KEY}-x", "k", &lookup).as_deref(),
            Ok("Bearer-abc123-x")
        );
        assert_eq!(
            expand_env("pa$$word", "k", &lookup).as_deref(),
            Ok("pa$$word")
        );
        assert_eq!(
            expand_env("${MISSING}", "destinations[0].token", &lookup),
            Err("destinations[0].token: environment variable MISSING is not set".to_owned())
        );
        assert!(expand_env("${PD_KEY", "k", &lookup).is_err());
        assert!(expand_env("${1X}", "k", &lookup).is_err());
        assert!(expand_env("${}", "k", &lookup).is_err());
    }

    #[test]
    fn the_redactor_scrubs_every_form_of_a_url_and_leaves_short_strings() {
        let mut redactor = Redactor::default();
        let url =
            url::Url::parse("https://hooks.example.com/services/T0/B0/XYZsecret").expect("url");
        redactor.add_url(&url);
        redactor.add("ab");
        assert_eq!(
            redactor.scrub("POST https://hooks.example.com/services/T0/B0/XYZsecret failed"),
            "POST [redacted] failed"
        );
        assert_eq!(
            redactor.scrub("no route for /services/T0/B0/XYZsecret"),
            "no route for [redacted]"
        );
        assert_eq!(redactor.scrub("ab stays"), "ab stays");
    }
}
