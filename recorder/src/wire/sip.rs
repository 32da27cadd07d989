//! SIP messages (RFC 3261 section 7), read in place.
//!
//! [`Message::parse`] splits a datagram into the start line, the headers and the body, and
//! keeps ranges into the header text, so reading a header allocates nothing. Real phones
//! differ in how they end lines (CRLF, bare LF, a mix), fold long headers and abbreviate
//! header names (compact forms, section 7.3.3); all of that is accepted. Header text that is
//! not UTF-8 is read lossily rather than rejected, as Wireshark does.
//!
//! Limits: at most [`MAX_HEADERS`] headers; a message with more is malformed (a flood of
//! headers must not cost unbounded work).

use std::borrow::Cow;
use std::ops::Range;

use super::Error;

/// The most headers a message may have before it is treated as malformed.
pub const MAX_HEADERS: usize = 256;

/// A SIP request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE: starts a call or changes its session (re-INVITE).
    Invite,
    /// ACK: confirms a final response to INVITE.
    Ack,
    /// BYE: ends a call.
    Bye,
    /// CANCEL: withdraws a pending INVITE.
    Cancel,
    /// INFO: mid-call information (RFC 6086), here the record button.
    Info,
    /// UPDATE: changes the session before or after answer (RFC 3311).
    Update,
    /// PRACK: acknowledges a reliable provisional response (RFC 3262).
    Prack,
    /// OPTIONS: capability query or keep-alive.
    Options,
    /// REGISTER: binds a user to a contact address.
    Register,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// REFER: call transfer (RFC 3515).
    Refer,
    /// MESSAGE: instant message (RFC 3428).
    Message,
    /// PUBLISH (RFC 3903).
    Publish,
    /// Any other token.
    Other,
}

impl Method {
    /// Reads a method token (case-sensitive, as RFC 3261 says).
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            _ => Method::Other,
        }
    }

    /// The method's token, `"OTHER"` for unknown ones.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other => "OTHER",
        }
    }
}

/// The headers this crate reads, with their compact forms folded in (RFC 3261 7.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderName {
    /// Call-ID, compact `i`.
    CallId,
    /// CSeq.
    CSeq,
    /// From, compact `f`.
    From,
    /// To, compact `t`.
    To,
    /// Via, compact `v`.
    Via,
    /// Contact, compact `m`.
    Contact,
    /// Content-Type, compact `c`.
    ContentType,
    /// Content-Length, compact `l`.
    ContentLength,
    /// User-Agent.
    UserAgent,
    /// Server.
    Server,
    /// P-Asserted-Identity (RFC 3325).
    PAssertedIdentity,
    /// Any other header; compare its name text.
    Other,
}

impl HeaderName {
    fn classify(name: &str) -> HeaderName {
        let is = |long: &str| name.eq_ignore_ascii_case(long);
        if name.len() == 1 {
            return match name.as_bytes()[0].to_ascii_lowercase() {
                b'i' => HeaderName::CallId,
                b'f' => HeaderName::From,
                b't' => HeaderName::To,
                b'v' => HeaderName::Via,
                b'm' => HeaderName::Contact,
                b'c' => HeaderName::ContentType,
                b'l' => HeaderName::ContentLength,
                _ => HeaderName::Other,
            };
        }
        if is("Call-ID") {
            HeaderName::CallId
        } else if is("CSeq") {
            HeaderName::CSeq
        } else if is("From") {
            HeaderName::From
        } else if is("To") {
            HeaderName::To
        } else if is("Via") {
            HeaderName::Via
        } else if is("Contact") {
            HeaderName::Contact
        } else if is("Content-Type") {
            HeaderName::ContentType
        } else if is("Content-Length") {
            HeaderName::ContentLength
        } else if is("User-Agent") {
            HeaderName::UserAgent
        } else if is("Server") {
            HeaderName::Server
        } else if is("P-Asserted-Identity") {
            HeaderName::PAssertedIdentity
        } else {
            HeaderName::Other
        }
    }
}

#[derive(Clone, Debug)]
struct HeaderEntry {
    kind: HeaderName,
    name: Range<usize>,
    value: Range<usize>,
}

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartLine {
    /// A request: its method.
    Request(Method),
    /// A response: its status code.
    Response(u16),
}

/// A parsed SIP message, borrowing the datagram it came from.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    head: Cow<'a, str>,
    start: StartLine,
    /// Method token (requests) or reason phrase (responses), as a range into `head`.
    start_text: Range<usize>,
    /// Request-URI (requests only).
    uri: Range<usize>,
    headers: Vec<HeaderEntry>,
    body: &'a [u8],
    /// True when Content-Length promised more body than the datagram held.
    truncated: bool,
}

impl<'a> Message<'a> {
    /// Parses one SIP message from a datagram (UDP, SCTP chunk, or a TCP-framed message).
    pub fn parse(data: &'a [u8]) -> Result<Message<'a>, Error> {
        let (head_end, body_start) = find_head_end(data).ok_or(Error::Truncated)?;
        let raw_head = &data[..head_end];

        // Folded headers (a line starting with space or tab continues the previous one) are
        // unfolded into an owned copy, so every value is one line.
        let folded = raw_head
            .windows(2)
            .any(|w| w[0] == b'\n' && (w[1] == b' ' || w[1] == b'\t'));
        let head: Cow<'a, str> = match std::str::from_utf8(raw_head) {
            Ok(text) if !folded => Cow::Borrowed(text),
            _ => Cow::Owned(unfold(&String::from_utf8_lossy(raw_head))),
        };

        let mut lines = LineIter {
            text: &head,
            pos: 0,
        };
        let (first, first_range) = lines.next().ok_or(Error::Truncated)?;
        let (start, start_text, uri) = parse_start_line(first, first_range.start)?;

        let mut headers = Vec::with_capacity(16);
        for (line, range) in lines {
            if line.is_empty() {
                continue;
            }
            let Some(colon) = line.find(':') else {
                return Err(Error::Malformed);
            };
            let name = line[..colon].trim_end();
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(Error::Malformed);
            }
            if headers.len() == MAX_HEADERS {
                return Err(Error::Malformed);
            }
            let value_start = range.start + colon + 1;
            let value = trimmed_range(&head, value_start..range.end);
            let name = range.start..range.start + name.len();
            headers.push(HeaderEntry {
                kind: HeaderName::classify(&head[name.clone()]),
                name,
                value,
            });
        }

        let mut message = Message {
            head,
            start,
            start_text,
            uri,
            headers,
            body: &[],
            truncated: false,
        };

        // The body is what Content-Length says; without it, the rest of the datagram.
        let rest = &data[body_start..];
        match message.content_length() {
            Some(len) if len <= rest.len() => message.body = &rest[..len],
            Some(_) => {
                message.body = rest;
                message.truncated = true;
            }
            None => message.body = rest,
        }
        Ok(message)
    }

    /// Request or response, and which.
    pub fn start_line(&self) -> StartLine {
        self.start
    }

    /// The method of a request; `None` for responses.
    pub fn method(&self) -> Option<Method> {
        match self.start {
            StartLine::Request(method) => Some(method),
            StartLine::Response(_) => None,
        }
    }

    /// The status code of a response; `None` for requests.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response(code) => Some(code),
            StartLine::Request(_) => None,
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    /// The method token as written (requests), or the reason phrase (responses).
    pub fn start_text(&self) -> &str {
        &self.head[self.start_text.clone()]
    }

    /// The Request-URI; empty for responses.
    pub fn request_uri(&self) -> &str {
        &self.head[self.uri.clone()]
    }

    /// The first value of a header this crate knows by name.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.kind == name)
            .map(|h| &self.head[h.value.clone()])
    }

    /// Every value of a known header, in order (Via has one per hop).
    pub fn headers(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |h| h.kind == name)
            .map(|h| &self.head[h.value.clone()])
    }

    /// The first value of a header by its full name, case-insensitive (e.g. `Record`).
    pub fn header_by_name(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| self.head[h.name.clone()].eq_ignore_ascii_case(name))
            .map(|h| &self.head[h.value.clone()])
    }

    /// Every header as (name, value), in order.
    pub fn all_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|h| (&self.head[h.name.clone()], &self.head[h.value.clone()]))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header(HeaderName::CallId).filter(|id| !id.is_empty())
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let value = self.header(HeaderName::CSeq)?;
        let mut parts = value.split_ascii_whitespace();
        let number = parts.next()?.parse().ok()?;
        let method = Method::from_token(parts.next()?);
        Some((number, method))
    }

    /// The From header, parsed.
    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::From).map(NameAddr::parse)
    }

    /// The To header, parsed.
    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::To).map(NameAddr::parse)
    }

    /// The `branch` parameter of the topmost Via: the transaction this message belongs to.
    pub fn top_via_branch(&self) -> Option<&str> {
        let via = self.header(HeaderName::Via)?;
        // Several Vias may share one header line, comma-separated; the first is the top.
        let top = via.split(',').next()?;
        param(top, "branch")
    }

    /// The Content-Length value, if present and a number.
    pub fn content_length(&self) -> Option<usize> {
        self.header(HeaderName::ContentLength)?.trim().parse().ok()
    }

    /// The Content-Type media type, lower-cased parameters removed (e.g. `application/sdp`).
    pub fn content_type(&self) -> Option<&str> {
        let value = self.header(HeaderName::ContentType)?;
        Some(value.split(';').next().unwrap_or("").trim())
    }

    /// The body bytes.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Whether Content-Length promised more than the datagram carried.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Whether the body is an SDP session description.
    pub fn has_sdp(&self) -> bool {
        if self.body.is_empty() {
            return false;
        }
        match self.content_type() {
            Some(kind) => kind.eq_ignore_ascii_case("application/sdp"),
            // Some devices omit Content-Type; an SDP body starts with its version line.
            None => self.body.starts_with(b"v=0"),
        }
    }
}

/// A From/To/Contact value: display name, URI and the `tag` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name without quotes, if any.
    pub display: Option<&'a str>,
    /// The URI inside `<...>`, or the bare URI.
    pub uri: &'a str,
    /// The `tag` header parameter.
    pub tag: Option<&'a str>,
}

impl<'a> NameAddr<'a> {
    /// Parses `"Alice" <sip:alice@host>;tag=x` and the bare `sip:alice@host;tag=x` form.
    pub fn parse(value: &'a str) -> NameAddr<'a> {
        let value = value.trim();
        if let Some(open) = value.find('<') {
            let close = value[open..]
                .find('>')
                .map(|c| open + c)
                .unwrap_or(value.len());
            let display = value[..open].trim().trim_matches('"').trim();
            let params = value.get(close + 1..).unwrap_or("");
            NameAddr {
                display: (!display.is_empty()).then_some(display),
                uri: &value[open + 1..close],
                tag: param(params, "tag"),
            }
        } else {
            // Without angle brackets, parameters after the URI belong to the header.
            let (uri, params) = value.split_once(';').unwrap_or((value, ""));
            NameAddr {
                display: None,
                uri: uri.trim(),
                tag: param(params, "tag"),
            }
        }
    }

    /// The user part of the URI (the number or extension), if any.
    pub fn user(&self) -> Option<&'a str> {
        uri_user(self.uri)
    }
}

/// The user part of a `sip:`, `sips:` or `tel:` URI: `sip:+4930123@host` gives `+4930123`.
pub fn uri_user(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("SIP:"))
        .or_else(|| uri.strip_prefix("SIPS:"));
    if let Some(rest) = rest {
        let (user, _) = rest.split_once('@')?;
        // user;password or user;param forms: the user is before ';' or ':'.
        let user = user.split([';', ':']).next().unwrap_or(user);
        return (!user.is_empty()).then_some(user);
    }
    let rest = uri
        .strip_prefix("tel:")
        .or_else(|| uri.strip_prefix("TEL:"))?;
    let number = rest.split(';').next().unwrap_or(rest);
    (!number.is_empty()).then_some(number)
}

/// A `;name=value` parameter from a parameter list (case-insensitive name).
pub fn param<'v>(params: &'v str, name: &str) -> Option<&'v str> {
    params
        .split(';')
        .skip_while(|p| p.trim().is_empty())
        .find_map(|p| {
            let (key, value) = p.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().trim_matches('"'))
        })
}

/// Finds where the header section ends (before the empty line) and where the body starts.
fn find_head_end(data: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(nl) = memchr(b'\n', &data[i..]) {
        let at = i + nl;
        // An empty line is "\n" right after the previous "\n", or "\r\n" right after it.
        let next = &data[at + 1..];
        if next.first() == Some(&b'\n') {
            return Some((at + 1, at + 2));
        }
        if next.starts_with(b"\r\n") {
            return Some((at + 1, at + 3));
        }
        i = at + 1;
    }
    // No empty line: a message with headers only and no terminator (seen from broken
    // stacks). Accept it when it at least has a complete first line.
    let last_nl = data.iter().rposition(|&b| b == b'\n')?;
    Some((last_nl + 1, data.len()))
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn unfold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    let mut continuation = false;
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(if continuation {
            line.trim_start()
        } else {
            line
        });
        continuation = lines
            .peek()
            .is_some_and(|next| next.starts_with([' ', '\t']));
        match lines.peek() {
            Some(_) if continuation => out.push(' '),
            Some(_) => out.push_str("\r\n"),
            None => {}
        }
    }
    out
}

struct LineIter<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Iterator for LineIter<'t> {
    type Item = (&'t str, Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (len, advance) = match rest.find('\n') {
            Some(nl) => (nl, nl + 1),
            None => (rest.len(), rest.len()),
        };
        let line = rest[..len].strip_suffix('\r').unwrap_or(&rest[..len]);
        let range = self.pos..self.pos + line.len();
        self.pos += advance;
        Some((line, range))
    }
}

fn trimmed_range(text: &str, range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.end - (slice.len() - slice.trim_end().len());
    start..end.max(start)
}

type StartParts = (StartLine, Range<usize>, Range<usize>);

fn parse_start_line(line: &str, offset: usize) -> Result<StartParts, Error> {
    if line.len() > 7 && line.as_bytes()[..7].eq_ignore_ascii_case(b"SIP/2.0") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let rest = line[7..].trim_start();
        let code_text = rest.get(..3).ok_or(Error::Malformed)?;
        let code: u16 = code_text.parse().map_err(|_| Error::Malformed)?;
        if !(100..700).contains(&code) || rest[3..].starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::Malformed);
        }
        let reason_start = offset + (line.len() - rest.len()) + 3;
        let reason = trimmed_range_in(line, offset, reason_start..offset + line.len());
        return Ok((StartLine::Response(code), reason, 0..0));
    }

    // Request-Line = Method SP Request-URI SP SIP-Version
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let method = parts.next().ok_or(Error::Malformed)?;
    let uri = parts.next().ok_or(Error::Malformed)?;
    let version = parts.next().ok_or(Error::Malformed)?;
    if !version.eq_ignore_ascii_case("SIP/2.0") || !method.bytes().all(is_token_char) {
        return Err(Error::Malformed);
    }
    let method_start = offset + subslice_offset(line, method);
    let uri_start = offset + subslice_offset(line, uri);
    Ok((
        StartLine::Request(Method::from_token(method)),
        method_start..method_start + method.len(),
        uri_start..uri_start + uri.len(),
    ))
}

fn trimmed_range_in(line: &str, offset: usize, range: Range<usize>) -> Range<usize> {
    let local = range.start - offset..range.end - offset;
    let trimmed = trimmed_range(line, local);
    trimmed.start + offset..trimmed.end + offset
}

fn subslice_offset(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// RFC 3261 `token` characters (section 25.1).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether a payload looks like the start of a SIP message, for SIP on unconfigured ports.
pub fn looks_like_sip(payload: &[u8]) -> bool {
    // Every SIP message starts with an upper-case letter; RTP starts with 0x80-0xbf. This
    // one comparison keeps the check off the media path's profile.
    if !payload.first().is_some_and(u8::is_ascii_uppercase) {
        return false;
    }
    let head = &payload[..payload.len().min(512)];
    if head.len() >= 12 && head[..8].eq_ignore_ascii_case(b"SIP/2.0 ") {
        return head[8..11].iter().all(u8::is_ascii_digit);
    }
    let Some(line_end) = head.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return false;
    };
    let line = &head[..line_end];
    line.len() > 12
        && line[line.len() - 8..].eq_ignore_ascii_case(b" SIP/2.0")
        && line
            .iter()
            .take_while(|&&b| b != b' ')
            .all(|&b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &[u8] = b"INFO sip:2002@10.77.0.2:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.77.0.1:5060;branch=z9hG4bK-1025-1-6;rport\r\n\
Max-Forwards: 70\r\n\
From: \"1001\" <sip:1001@10.77.0.2>;tag=1025SIPpTag001\r\n\
To: <sip:2002@10.77.0.2>;tag=970SIPpTag011\r\n\
Call-ID: 1-1025@10.77.0.1\r\n\
CSeq: 2 INFO\r\n\
Record: on\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn parses_a_record_info() {
        let msg = Message::parse(INFO).unwrap();
        assert_eq!(msg.method(), Some(Method::Info));
        assert_eq!(msg.request_uri(), "sip:2002@10.77.0.2:5060");
        assert_eq!(msg.call_id(), Some("1-1025@10.77.0.1"));
        assert_eq!(msg.cseq(), Some((2, Method::Info)));
        let from = msg.from().unwrap();
        assert_eq!(from.display, Some("1001"));
        assert_eq!(from.user(), Some("1001"));
        assert_eq!(from.tag, Some("1025SIPpTag001"));
        assert_eq!(msg.to().unwrap().tag, Some("970SIPpTag011"));
        assert_eq!(msg.top_via_branch(), Some("z9hG4bK-1025-1-6"));
        assert_eq!(msg.header_by_name("record"), Some("on"));
        assert!(msg.body().is_empty());
    }

    #[test]
    fn compact_forms_bare_lf_and_folding() {
        let text = b"SIP/2.0 180 Ringing\n\
v: SIP/2.0/UDP a;branch=z9hG4bK1\n\
f: <sip:1@a>;tag=x\n\
t: sip:2@b;tag=y\n\
i: abc\n\
Subject: long\n\
\x20continued\n\
CSeq: 7 INVITE\n\
l:   3\n\nv=0";
        let msg = Message::parse(text).unwrap();
        assert_eq!(msg.status(), Some(180));
        assert_eq!(msg.start_text(), "Ringing");
        assert_eq!(msg.call_id(), Some("abc"));
        assert_eq!(msg.to().unwrap().tag, Some("y"));
        assert_eq!(msg.to().unwrap().user(), Some("2"));
        assert_eq!(msg.header_by_name("subject"), Some("long continued"));
        assert_eq!(msg.cseq(), Some((7, Method::Invite)));
        assert_eq!(msg.body(), b"v=0");
    }

    #[test]
    fn lying_content_length_is_marked_truncated() {
        let msg =
            Message::parse(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 65536\r\n\r\nxy").unwrap();
        assert!(msg.is_truncated());
        assert_eq!(msg.body(), b"xy");
    }

    #[test]
    fn rejects_garbage() {
        assert!(Message::parse(b"").is_err());
        assert!(Message::parse(b"\x80\x81\x82\r\n\r\n").is_err());
        assert!(Message::parse(b"SIP/2.0 9999 Nope\r\n\r\n").is_err());
        assert!(Message::parse(b"HELLO world\r\n\r\n").is_err());
        assert!(Message::parse(b"INVITE sip:a SIP/2.0\r\nno colon here\r\n\r\n").is_err());
    }

    #[test]
    fn too_many_headers_are_refused() {
        let mut text = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
        for i in 0..10_000 {
            text.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        assert_eq!(Message::parse(&text).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn every_prefix_parses_or_fails_cleanly() {
        for cut in 0..INFO.len() {
            let _ = Message::parse(&INFO[..cut]);
        }
    }

    #[test]
    fn uri_users() {
        assert_eq!(
            uri_user("sip:+4930123@example.com;user=phone"),
            Some("+4930123")
        );
        assert_eq!(uri_user("tel:+1-555;phone-context=x"), Some("+1-555"));
        assert_eq!(uri_user("sip:example.com"), None);
    }

    #[test]
    fn recognises_sip_first_lines() {
        assert!(looks_like_sip(b"INVITE sip:1@a SIP/2.0\r\n"));
        assert!(looks_like_sip(b"SIP/2.0 200 OK\r\n"));
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_sip(&[0x80, 0, 1, 2]));
    }
}
