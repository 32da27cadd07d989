//! The appliance's configuration file (TOML), read once into a validated [`Config`].
//!
//! Every key has a default, so an empty file (or none) is a valid configuration: record on
//! demand, SIP on ports 5060 and 5080, nobody allowed to press the record button.

use std::path::Path;

use serde::Deserialize;

use crate::policy::pattern::Pattern;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What to capture.
    #[serde(default)]
    pub capture: CaptureConfig,
    /// When to record.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// The record-button INFO.
    #[serde(default)]
    pub on_demand: OnDemandConfig,
    /// Phone users and their permissions.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Audio encoding.
    #[serde(default)]
    pub recording: RecordingConfig,
    /// Time-outs for calls whose end is never seen.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Address translation the capture point sees.
    #[serde(default)]
    pub nat: NatConfig,
    /// How long calls and recordings are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// The size of the tables that follow traffic (floods evict beyond them).
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[nat]`: static address translation between what SDP says and what the wire shows.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatConfig {
    /// SDP address to the address its media really uses, e.g. `"10.0.0.5" = "203.0.113.5"`.
    /// Media is bound on both. (Symmetric RTP is latched without this; the map is for
    /// devices behind static NAT that the capture sees only on the outside.)
    #[serde(default)]
    pub aliases: std::collections::HashMap<std::net::IpAddr, std::net::IpAddr>,
}

/// `[limits]`: every table that grows with traffic has a limit; past it the stalest entries
/// are evicted, counted and logged (rate-limited), so a flood cannot exhaust memory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Calls followed at once (unanswered ones are evicted first).
    #[serde(default = "default_calls")]
    pub calls: usize,
    /// SIP-over-TCP stream directions followed at once.
    #[serde(default = "default_tcp_streams")]
    pub tcp_streams: usize,
    /// Bytes all TCP streams may hold while waiting for the rest of a message, in MiB.
    #[serde(default = "default_tcp_buffer_mib")]
    pub tcp_buffer_mib: usize,
    /// RTP streams seen without signalling, followed at once.
    #[serde(default = "default_unbound_streams")]
    pub unbound_streams: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            calls: default_calls(),
            tcp_streams: default_tcp_streams(),
            tcp_buffer_mib: default_tcp_buffer_mib(),
            unbound_streams: default_unbound_streams(),
        }
    }
}

fn default_calls() -> usize {
    100_000
}

fn default_tcp_streams() -> usize {
    8192
}

fn default_tcp_buffer_mib() -> usize {
    32
}

fn default_unbound_streams() -> usize {
    4096
}

/// `[retention]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Calls that ended more than this many days ago are deleted with their recordings,
    /// unless under legal hold; absent, everything is kept.
    pub days: Option<u32>,
}

/// `[capture]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// UDP/TCP ports that carry SIP. SIP elsewhere is still found by its first line.
    #[serde(default = "default_sip_ports")]
    pub sip_ports: Vec<u16>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            sip_ports: default_sip_ports(),
        }
    }
}

fn default_sip_ports() -> Vec<u16> {
    vec![5060, 5080]
}

/// The default recording mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Record every call no rule says otherwise about.
    Always,
    /// Record no call no rule says otherwise about; Record INFOs are ignored too.
    Never,
    /// Record only when a user presses the record button (a Record INFO).
    #[default]
    OnDemand,
}

/// What a rule does to the calls it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleAction {
    /// Record the whole call.
    Record,
    /// Do not record automatically; the record button still works.
    Skip,
    /// Never record, whatever anyone presses.
    Never,
}

/// Which way a call goes, seen from the site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallDirection {
    /// From outside to an internal number.
    Inbound,
    /// From an internal number to outside.
    Outbound,
    /// Between two internal numbers.
    Internal,
    /// Neither party is known to be internal.
    Unknown,
}

impl CallDirection {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
            CallDirection::Internal => "internal",
            CallDirection::Unknown => "unknown",
        }
    }
}

/// `[policy]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The mode for calls no rule matches.
    #[serde(default)]
    pub default: Mode,
    /// Keep the audio of on-demand calls from their start, so that a late record button
    /// covers the whole call. Off by default: consent usually starts at the button press.
    #[serde(default)]
    pub look_back: bool,
    /// Patterns of internal numbers (users' extensions are internal anyway), for directions.
    #[serde(default)]
    pub internal: Vec<Pattern>,
    /// Rules, first match wins; `never` rules are checked before all others.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// `[[policy.rules]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A name for decisions and logs; "rule N" if absent.
    pub name: Option<String>,
    /// Pattern for the caller's number.
    pub caller: Option<Pattern>,
    /// Pattern for the called number.
    pub callee: Option<Pattern>,
    /// Pattern for either party's number.
    pub number: Option<Pattern>,
    /// The call's direction.
    pub direction: Option<CallDirection>,
    /// What to do.
    pub action: RuleAction,
}

/// `[on_demand]`: the record button.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandConfig {
    /// The INFO header carrying the button state.
    #[serde(default = "default_header")]
    pub header: String,
    /// The value that starts recording.
    #[serde(default = "default_on")]
    pub on: String,
    /// The value that stops it.
    #[serde(default = "default_off")]
    pub off: String,
    /// Keys that start recording when a user presses them in a call (RFC 4733 events or DTMF
    /// INFO), e.g. `*1`; unset: keys do nothing.
    pub dtmf_on: Option<String>,
    /// Keys that stop it, e.g. `*2`.
    pub dtmf_off: Option<String>,
}

impl Default for OnDemandConfig {
    fn default() -> Self {
        OnDemandConfig {
            dtmf_on: None,
            dtmf_off: None,
            header: default_header(),
            on: default_on(),
            off: default_off(),
        }
    }
}

fn default_header() -> String {
    "Record".into()
}

fn default_on() -> String {
    "on".into()
}

fn default_off() -> String {
    "off".into()
}

/// `[[users]]`: a phone user.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The extension (SIP user part) of the user's phone.
    pub extension: String,
    /// A display name.
    pub name: Option<String>,
    /// Whether the user's record button counts.
    #[serde(default)]
    pub may_record: bool,
}

/// `[recording]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// Opus bitrate for both channels together, bits per second.
    #[serde(default = "default_bitrate")]
    pub bitrate: i32,
    /// libopus complexity 0-10.
    #[serde(default = "default_complexity")]
    pub complexity: i32,
    /// Which of libopus's coders to use.
    #[serde(default)]
    pub coder: Coder,
}

/// libopus's two coders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coder {
    /// SILK (the speech coder): keeps the two parties apart on their channels.
    #[default]
    Speech,
    /// CELT (the transform coder): about twice as fast on telephone audio, but its intensity
    /// stereo lets a loud party leak into a quiet party's channel at these bitrates.
    Fast,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            bitrate: default_bitrate(),
            complexity: default_complexity(),
            coder: Coder::Speech,
        }
    }
}

fn default_bitrate() -> i32 {
    32_000
}

fn default_complexity() -> i32 {
    0
}

/// `[timeouts]`, in seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    /// An unanswered call with no message for this long is given up.
    #[serde(default = "default_ringing")]
    pub ringing: u32,
    /// An answered call with no message and no media for this long is given up.
    #[serde(default = "default_media")]
    pub media: u32,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            ringing: default_ringing(),
            media: default_media(),
        }
    }
}

fn default_ringing() -> u32 {
    180
}

fn default_media() -> u32 {
    300
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: display.clone(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: display,
            message,
        })
    }

    /// Parses configuration text; the error names the line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            let message = e.message().trim().to_string();
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.on_demand.header.trim().is_empty() {
            return Err("on_demand.header must not be empty".into());
        }
        if self.on_demand.on.eq_ignore_ascii_case(&self.on_demand.off) {
            return Err("on_demand.on and on_demand.off must differ".into());
        }
        for keys in [&self.on_demand.dtmf_on, &self.on_demand.dtmf_off]
            .into_iter()
            .flatten()
        {
            let valid = |c: char| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D');
            if keys.is_empty() || keys.len() > 8 || !keys.chars().all(valid) {
                return Err(format!(
                    "on_demand DTMF keys {keys:?}: 1 to 8 of 0-9, *, #, A-D"
                ));
            }
        }
        if self.on_demand.dtmf_on.is_some() && self.on_demand.dtmf_on == self.on_demand.dtmf_off {
            return Err("on_demand.dtmf_on and on_demand.dtmf_off must differ".into());
        }
        if !(0..=10).contains(&self.recording.complexity) {
            return Err("recording.complexity must be between 0 and 10".into());
        }
        if !(6_000..=510_000).contains(&self.recording.bitrate) {
            return Err("recording.bitrate must be between 6000 and 510000".into());
        }
        for (i, rule) in self.policy.rules.iter().enumerate() {
            let empty = rule.caller.is_none()
                && rule.callee.is_none()
                && rule.number.is_none()
                && rule.direction.is_none();
            if empty {
                return Err(format!(
                    "policy.rules[{}] matches every call; give it caller, callee, number or \
                     direction (use policy.default for all calls)",
                    i + 1
                ));
            }
        }
        if self.timeouts.ringing < 5 || self.timeouts.media < 5 {
            return Err("timeouts.ringing and timeouts.media must be at least 5 seconds".into());
        }
        let limits = &self.limits;
        if limits.calls < 10 || limits.tcp_streams < 10 || limits.unbound_streams < 10 {
            return Err(
                "limits.calls, limits.tcp_streams and limits.unbound_streams must be at \
                        least 10"
                    .into(),
            );
        }
        if limits.tcp_buffer_mib < 1 {
            return Err("limits.tcp_buffer_mib must be at least 1".into());
        }
        if self.retention.days == Some(0) {
            return Err(
                "retention.days must be at least 1 (leave it out to keep everything)".into(),
            );
        }
        if self.capture.sip_ports.is_empty() {
            return Err("capture.sip_ports must name at least one port".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses() {
        let config = Config::parse(
            r#"
[policy]
default = "on-demand"
[[policy.rules]]
callee = "+4930*"
action = "record"
[on_demand]
header = "Record"
on = "on"
off = "off"
[[users]]
extension = "1001"
may_record = true
"#,
        )
        .unwrap();
        assert_eq!(config.policy.default, Mode::OnDemand);
        assert_eq!(config.policy.rules[0].action, RuleAction::Record);
        assert!(config.users[0].may_record);
        assert_eq!(config.capture.sip_ports, vec![5060, 5080]);
    }

    #[test]
    fn nat_aliases_are_addresses() {
        let config = Config::parse("[nat.aliases]\n\"10.0.0.5\" = \"203.0.113.5\"\n").unwrap();
        let sdp: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(config.nat.aliases[&sdp].to_string(), "203.0.113.5");
        assert!(Config::parse("[nat.aliases]\n\"x\" = \"203.0.113.5\"\n").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let err = Config::parse("[policy]\ndefault = \"sometimes\"\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = Config::parse("[polcy]\n").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        let err = Config::parse("[[policy.rules]]\naction = \"record\"\n").unwrap_err();
        assert!(err.contains("matches every call"), "{err}");
    }
}
