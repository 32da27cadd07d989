//! Capture time: microseconds since the Unix epoch.
//!
//! Every state machine in this crate takes the time from its caller, so an import runs on the
//! capture file's clock and a live run on the packet timestamps the kernel gives.

use std::fmt;
use std::ops::{Add, Sub};

use chrono::{DateTime, SecondsFormat, Utc};

/// A point in capture time, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest representable time; useful as "never".
    pub const MIN: Timestamp = Timestamp(i64::MIN / 2);

    /// Builds a timestamp from microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Builds a timestamp from whole seconds and microseconds, as pcap headers carry them.
    pub fn from_secs_micros(secs: i64, micros: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000).saturating_add(micros))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, as a float (for display and ratios only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// This time as a UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// RFC 3339 with microseconds, e.g. `2026-12-04T17:00:22.123456Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// Parses RFC 3339 (`2026-12-04T17:00:00Z`), a date and time without zone (UTC, with `T`
    /// or a space, as `recorder calls` prints them), or a plain date (midnight UTC).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp(dt.timestamp_micros()));
        }
        for format in [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
                return Some(Timestamp(naive.and_utc().timestamp_micros()));
            }
        }
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        let midnight = date.and_hms_opt(0, 0, 0)?.and_utc();
        Some(Timestamp(midnight.timestamp_micros()))
    }

    /// The time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration((self.0 - earlier.0).max(0))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a time: {text}")))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A span of capture time in microseconds (never negative when built by `since`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    /// Builds a duration from microseconds.
    pub const fn from_micros(micros: i64) -> Self {
        Duration(micros)
    }

    /// Builds a duration from milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Duration(millis * 1_000)
    }

    /// Builds a duration from seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs * 1_000_000)
    }

    /// Microseconds in this span.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Seconds in this span, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(rhs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_rfc3339() {
        let day = Timestamp::parse("2026-12-04").unwrap();
        assert_eq!(day.to_rfc3339(), "2026-12-04T00:00:00.000000Z");
        let exact = Timestamp::parse("2026-12-04T01:02:03.5+01:00").unwrap();
        assert_eq!(exact.to_rfc3339(), "2026-12-04T00:02:03.500000Z");
        assert!(Timestamp::parse("yesterday").is_none());
        let printed = Timestamp::parse("2026-12-04 17:51:03").unwrap();
        assert_eq!(printed.to_rfc3339(), "2026-12-04T17:51:03.000000Z");
    }
}
