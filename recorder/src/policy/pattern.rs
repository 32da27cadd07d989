//! Number patterns: `*` matches any run of characters, `?` exactly one, the rest literally.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A number pattern such as `+4930*` or `1???`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Wraps a pattern text.
    pub fn new(text: &str) -> Pattern {
        Pattern(text.trim().to_string())
    }

    /// Whether `number` matches the whole pattern.
    pub fn matches(&self, number: &str) -> bool {
        glob(self.0.as_bytes(), number.as_bytes())
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "a number pattern must not be empty",
            ));
        }
        Ok(Pattern::new(&text))
    }
}

/// Iterative wildcard match with single-star backtracking: linear for one `*`, quadratic
/// at worst, never exponential.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(Pattern::new("+4930*").matches("+4930123456"));
        assert!(Pattern::new("+4930*").matches("+4930"));
        assert!(!Pattern::new("+4930*").matches("+4940123"));
        assert!(Pattern::new("1???").matches("1001"));
        assert!(!Pattern::new("1???").matches("10011"));
        assert!(Pattern::new("*555*").matches("0305551234"));
        assert!(Pattern::new("1001").matches("1001"));
        assert!(!Pattern::new("1001").matches("100"));
    }
}
