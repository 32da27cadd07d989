//! Call filters from query strings, shared by the journal page and `GET /api/v1/calls`.
//!
//! Parameters (all optional; empty values are ignored, as HTML forms send them):
//! `from`, `to` (RFC 3339, or a date `YYYY-MM-DD`: `from` starts at its midnight UTC, `to`
//! includes that whole day; an RFC 3339 `to` is exclusive), `number` (caller or callee, `*`
//! and `?` wildcards), `direction` (`inbound`, `outbound`, `internal`, `unknown`),
//! `disposition` (`answered`, `cancelled`, `busy`, `rejected`, `failed`), `recorded_only`
//! (`true`, `on` or `1`), `min_duration` (seconds), and for the API `limit` and `offset`.

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::auth::Scope;
use crate::error::WebError;
use crate::store::CallQuery;

/// Directions a call can have.
pub const DIRECTIONS: [&str; 4] = ["inbound", "outbound", "internal", "unknown"];

/// Outcomes (dispositions) a call can have.
pub const DISPOSITIONS: [&str; 5] = ["answered", "cancelled", "busy", "rejected", "failed"];

/// The filter parameters as they come in a query string.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CallParams {
    /// Start of the period.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the period.
    #[serde(default)]
    pub to: Option<String>,
    /// Caller or callee.
    #[serde(default)]
    pub number: Option<String>,
    /// Direction.
    #[serde(default)]
    pub direction: Option<String>,
    /// Outcome.
    #[serde(default)]
    pub disposition: Option<String>,
    /// Only recorded calls.
    #[serde(default)]
    pub recorded_only: Option<String>,
    /// Minimum duration in seconds.
    #[serde(default)]
    pub min_duration: Option<String>,
}

impl CallParams {
    /// The store query these parameters describe, limited to what `scope` may see; `None`
    /// when the scope sees nothing.
    pub fn to_query(&self, scope: &Scope) -> Result<Option<CallQuery>, WebError> {
        let party = match scope {
            Scope::All => None,
            Scope::Party(ext) => Some(ext.clone()),
            Scope::Nothing => return Ok(None),
        };
        let direction = choice(&self.direction, &DIRECTIONS, "direction")?;
        let disposition = choice(&self.disposition, &DISPOSITIONS, "disposition")?;
        let min_duration_s = match given(&self.min_duration) {
            Some(text) => match text.parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => Some(s),
                _ => {
                    return Err(WebError::BadRequest(format!(
                        "min_duration '{text}' is not a number of seconds"
                    )));
                }
            },
            None => None,
        };
        let recorded_only = match given(&self.recorded_only) {
            None | Some("false" | "off" | "0") => false,
            Some("true" | "on" | "1") => true,
            Some(other) => {
                return Err(WebError::BadRequest(format!(
                    "recorded_only '{other}' is not true or false"
                )));
            }
        };
        Ok(Some(CallQuery {
            from_us: given(&self.from).map(|t| time(t, false)).transpose()?,
            to_us: given(&self.to).map(|t| time(t, true)).transpose()?,
            number: given(&self.number).map(str::to_string),
            direction,
            disposition,
            recorded_only,
            min_duration_s,
            party,
            ..CallQuery::default()
        }))
    }

    /// The parameters as a query string (for links to other pages of the same list).
    pub fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("from", &self.from),
            ("to", &self.to),
            ("number", &self.number),
            ("direction", &self.direction),
            ("disposition", &self.disposition),
            ("recorded_only", &self.recorded_only),
            ("min_duration", &self.min_duration),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// The value if present and not blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn choice(
    value: &Option<String>,
    allowed: &[&str],
    name: &str,
) -> Result<Option<String>, WebError> {
    match given(value) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
        Some(v) => Err(WebError::BadRequest(format!(
            "{name} '{v}' is not one of {}",
            allowed.join(", ")
        ))),
    }
}

/// Microseconds since the epoch of an RFC 3339 time or a date; a date as the end of a period
/// means the end of that day.
fn time(text: &str, end: bool) -> Result<i64, WebError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end { date.succ_opt() } else { Some(date) };
        if let Some(t) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(WebError::BadRequest(format!(
        "'{text}' is not a time (use 2026-12-04 or 2026-12-04T17:00:00Z)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &str) -> CallParams {
        serde_urlencoded::from_str(pairs).unwrap()
    }

    #[test]
    fn form_values_become_a_query_and_blanks_are_ignored() {
        let p = params(
            "from=2026-12-04&to=2026-12-04&number=10*&direction=inbound&disposition=&\
             recorded_only=on&min_duration=5",
        );
        let q = p.to_query(&Scope::All).unwrap().unwrap();
        assert_eq!(q.from_us, Some(1_796_342_400_000_000));
        // A date as the end includes that day.
        assert_eq!(q.to_us, Some(1_796_342_400_000_000 + 86_400_000_000));
        assert_eq!(q.number.as_deref(), Some("10*"));
        assert_eq!(q.direction.as_deref(), Some("inbound"));
        assert_eq!(q.disposition, None);
        assert!(q.recorded_only);
        assert_eq!(q.min_duration_s, Some(5.0));
        assert_eq!(q.party, None);
    }

    #[test]
    fn an_agent_query_is_limited_to_the_extension() {
        let q = params("").to_query(&Scope::Party("1001".into())).unwrap();
        assert_eq!(q.unwrap().party.as_deref(), Some("1001"));
        assert_eq!(params("").to_query(&Scope::Nothing).unwrap(), None);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            "direction=sideways",
            "disposition=maybe",
            "from=yesterday",
            "min_duration=-1",
            "recorded_only=perhaps",
        ] {
            assert!(
                matches!(
                    params(bad).to_query(&Scope::All),
                    Err(WebError::BadRequest(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_query_string_keeps_only_given_filters() {
        let p = params("number=1001&direction=&recorded_only=on");
        assert_eq!(p.query_string(), "number=1001&recorded_only=on");
    }
}
