//! SIP messages as mirrored to us: a normaliser that repairs what `rsip` 0.4 cannot read, and a
//! parser that turns a message into the small owned [`SipMessage`] summary the dialog tracker needs.
//!
//! The normaliser ([`normalise`]) rewrites only the head of the message:
//! - leading empty lines are dropped (RFC 3261 §7.5) and LF-only line ends become CRLF;
//! - folded header lines (continuations starting with a space or tab) are joined with one space;
//! - compact header names (`i`, `f`, `t`, `v`, `m`, `l`, `c`, `k`, `s`, `e`, `o`, `r`, `b`, `u`,
//!   `x`, `y`, `a`, `d`, `j`) are expanded to their long form;
//! - a comma-joined `Via` (as SIPp sends) becomes one `Via` line per value;
//! - whitespace around header names and values is trimmed.
//!
//! The body is copied byte for byte, and `Content-Length` is left as it was. The result is a fixed
//! point: normalising it again changes nothing.
//!
//! [`SipParser::parse`] then reads the start line and URIs with `rsip`, and the few headers it needs
//! from the normalised text. Whitespace-only datagrams (CRLF keep-alives) give `Ok(None)`. It
//! refuses a head with a control character other than CR, LF and tab (a NUL in a caller's number
//! would otherwise reach the log), and a message whose kept values (Call-ID, numbers, Contact,
//! correlation headers) break the domain's text rules (`hotline_domain::text`): the listener puts
//! such a datagram in its rejected list. Nothing is sanitised: what the log keeps is what was sent.
//!
//! Numbers are taken as the wire spells them. A user part is read from the URI text, not by
//! `rsip`: for `sip:`/`sips:` the text before `@` up to its first `;` or `:`, for `tel:` the number
//! up to its parameters (`tel:1800;phone-context=…` is `1800`) without its RFC 3966 visual
//! separators (`tel:+86-22-1800` is `+86221800`), `%` escapes decoded
//! (`%31%38%30%30` is `1800`; a bad escape refuses the message). The dialled number is the
//! Request-URI's user only, never To's (RFC 4475 `esc01`). The parser also refuses a Request-URI in
//! angle brackets, a `From`/`To`/`Contact`/`Refer-To` with an unbalanced quote or `<`, and a
//! duplicated, non-numeric or too large `Content-Length`. [`check_call_numbers`], which the
//! listener applies, refuses an initial INVITE whose dialled number or caller is not a phone
//! number by the domain's rule.

use hotline_domain::text::{self, TextError};

/// Why a datagram is not a SIP message this parser can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// The message head (start line and headers) is not UTF-8.
    #[error("message head is not utf-8")]
    NotUtf8,
    /// A header line has no colon or an invalid name.
    #[error("bad header line {line:?}")]
    BadHeaderLine {
        /// The offending line, cut to 80 characters.
        line: String,
    },
    /// A continuation line comes before any header.
    #[error("folded line before any header")]
    FoldBeforeHeader,
    /// `rsip` refused the normalised message.
    #[error("rsip cannot parse the message: {reason}")]
    Rsip {
        /// rsip's error text.
        reason: String,
    },
    /// A header every SIP message must have is absent.
    #[error("required header {0} is missing")]
    MissingHeader(&'static str),
    /// The head holds a control character other than CR, LF and tab (e.g. a NUL in a caller's
    /// number): RFC 3261 allows none, and the read models could not store it.
    #[error("control character U+{code:04X} on line {line} of the head")]
    ControlCharacter {
        /// The character's code point.
        code: u32,
        /// The head's line it is on, from 1.
        line: usize,
    },
    /// A value the log would keep (Call-ID, a caller's or callee's number, a Contact, a
    /// correlation header) is longer than the domain allows ([`hotline_domain::text`]).
    #[error(transparent)]
    Text(#[from] TextError),
    /// A header is present but its value cannot be read (e.g. an unbalanced quote in `From`, or
    /// a bad `%` escape in its URI's user part).
    #[error("header {name} has an unreadable value {value:?}")]
    BadHeader {
        /// The header's name.
        name: &'static str,
        /// Its value, cut to 80 characters.
        value: String,
    },
    /// The request line's URI is not a bare URI (e.g. `<sip:1800@h>`, which RFC 3261 §25.1
    /// forbids), or its user part has a bad `%` escape.
    #[error("request-uri {uri:?} is unreadable")]
    BadRequestUri {
        /// The Request-URI as written, cut to 80 characters.
        uri: String,
    },
    /// `Content-Length` appears more than once, is not a number, or counts more bytes than the
    /// datagram carries (RFC 3261 §18.3: such a message is discarded). Read as a normal call, it
    /// would put a body on the wrong message or hide a smuggled second one.
    #[error("content-length {reason}")]
    BadContentLength {
        /// What is wrong with it.
        reason: String,
    },
    /// A number a call would keep (the dialled number of an initial INVITE, or its caller) is not
    /// a phone number by the domain's rule ([`hotline_domain::values::PhoneNumber::parse`]). Only
    /// [`check_call_numbers`] reports it.
    #[error("{field} {value:?} is not a phone number")]
    NotANumber {
        /// Where the number was taken from.
        field: &'static str,
        /// The number after unescaping, cut to 80 characters.
        value: String,
    },
}

/// A SIP method. Methods the tracker does not act on are kept as [`SipMethod::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SipMethod {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// REGISTER.
    Register,
    /// REFER.
    Refer,
    /// Any other method, upper-cased.
    Other(String),
}

impl SipMethod {
    fn from_token(token: &str) -> SipMethod {
        match token.to_ascii_uppercase().as_str() {
            "INVITE" => SipMethod::Invite,
            "ACK" => SipMethod::Ack,
            "BYE" => SipMethod::Bye,
            "CANCEL" => SipMethod::Cancel,
            "REGISTER" => SipMethod::Register,
            "REFER" => SipMethod::Refer,
            other => SipMethod::Other(other.to_owned()),
        }
    }

    /// The method's name as on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            SipMethod::Invite => "INVITE",
            SipMethod::Ack => "ACK",
            SipMethod::Bye => "BYE",
            SipMethod::Cancel => "CANCEL",
            SipMethod::Register => "REGISTER",
            SipMethod::Refer => "REFER",
            SipMethod::Other(other) => other,
        }
    }
}

/// Whether a message is a request or a response, with what distinguishes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipKind {
    /// A request.
    Request {
        /// Its method.
        method: SipMethod,
        /// The user part of the request URI (the dialled number of an initial INVITE).
        uri_user: Option<String>,
    },
    /// A response; the method it answers is [`SipMessage::cseq_method`].
    Response {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// The media direction an SDP body offers for its first audio stream (or the session, if the
/// stream says nothing). RFC 2543 hold (`c=0.0.0.0`) is reported as [`SdpDirection::Inactive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpDirection {
    /// `a=sendrecv`, or no direction attribute.
    SendRecv,
    /// `a=sendonly`: the sender puts the other side on hold.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive` or `c=0.0.0.0`.
    Inactive,
}

impl SdpDirection {
    /// Whether the offer puts the other side on hold.
    pub fn is_hold(self) -> bool {
        matches!(self, SdpDirection::SendOnly | SdpDirection::Inactive)
    }
}

/// The owned summary of one SIP message: what the dialog tracker needs and nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// Request or response.
    pub kind: SipKind,
    /// The `Call-ID`.
    pub call_id: String,
    /// The user part of the `From` URI.
    pub from_user: Option<String>,
    /// The `From` tag.
    pub from_tag: Option<String>,
    /// The user part of the `To` URI.
    pub to_user: Option<String>,
    /// The `To` tag.
    pub to_tag: Option<String>,
    /// The `CSeq` number.
    pub cseq: u32,
    /// The `CSeq` method (for a response: the method it answers).
    pub cseq_method: SipMethod,
    /// The branch of the top `Via`.
    pub via_branch: Option<String>,
    /// The user part of the first `Contact` URI.
    pub contact_user: Option<String>,
    /// The first `Contact` URI, as written (`*` for a wildcard).
    pub contact_uri: Option<String>,
    /// The `expires` parameter of the first `Contact`.
    pub contact_expires: Option<u32>,
    /// The `Expires` header.
    pub expires: Option<u32>,
    /// The `Reason` header, as written.
    pub reason: Option<String>,
    /// The user part of the `Refer-To` URI.
    pub refer_to_user: Option<String>,
    /// The media direction of an SDP body, if the message has one.
    pub sdp_direction: Option<SdpDirection>,
    /// The correlation headers present, as `(configured name, value)`, in configured order.
    pub correlation: Vec<(String, String)>,
}

/// Compact header names (RFC 3261 §7.3.3 and the IANA registry) and their long forms.
const COMPACT_NAMES: [(char, &str); 19] = [
    ('a', "Accept-Contact"),
    ('b', "Referred-By"),
    ('c', "Content-Type"),
    ('d', "Request-Disposition"),
    ('e', "Content-Encoding"),
    ('f', "From"),
    ('i', "Call-ID"),
    ('j', "Reject-Contact"),
    ('k', "Supported"),
    ('l', "Content-Length"),
    ('m', "Contact"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('s', "Subject"),
    ('t', "To"),
    ('u', "Allow-Events"),
    ('v', "Via"),
    ('x', "Session-Expires"),
    ('y', "Identity"),
];

fn expand_name(name: &str) -> &str {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => {
            COMPACT_NAMES.iter().find(|(short, _)| short.eq_ignore_ascii_case(&c)).map_or(name, |(_, long)| long)
        }
        _ => name,
    }
}

/// RFC 3261 `token` characters, which a header name consists of.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Splits `value` at commas that are outside double quotes and angle brackets.
fn split_top_level_commas(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// Splits a message into its head (without the line end of its last line) and its body: the head
/// ends at the first empty line, whether lines end in CRLF or LF.
fn split_head_body(raw: &[u8]) -> (&[u8], &[u8]) {
    let without_line_end = |head: &[u8]| {
        let head = head.strip_suffix(b"\n").unwrap_or(head);
        head.strip_suffix(b"\r").unwrap_or(head).len()
    };
    let mut line_start = 0;
    for (i, byte) in raw.iter().enumerate() {
        if *byte == b'\n' {
            let line = &raw[line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                let head = &raw[..line_start];
                return (&head[..without_line_end(head)], &raw[i + 1..]);
            }
            line_start = i + 1;
        }
    }
    (&raw[..without_line_end(raw)], &[])
}

/// Normalises a raw SIP datagram (see the module docs). `Ok(None)` means a keep-alive: the
/// datagram is empty or whitespace only.
pub fn normalise(raw: &[u8]) -> Result<Option<Vec<u8>>, SipError> {
    let start = raw.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else { return Ok(None) };
    // Leading empty lines (and stray blanks before the start line) are not part of the message.
    let (head, body) = split_head_body(&raw[start..]);
    let head = std::str::from_utf8(head).map_err(|_| SipError::NotUtf8)?;

    let mut lines = head.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    // ASCII trimming only: `str::trim_end` would also eat e.g. a vertical tab, which the search
    // for the start above does not skip, and could leave an empty start line.
    let start_line = lines.next().unwrap_or_default().trim_end_matches(|c: char| c.is_ascii_whitespace());
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().ok_or(SipError::FoldBeforeHeader)?;
            let more = line.trim();
            if !more.is_empty() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
            }
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| SipError::BadHeaderLine { line: cut(line) })?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(SipError::BadHeaderLine { line: cut(line) });
        }
        headers.push((expand_name(name).to_owned(), value.trim().to_owned()));
    }

    let mut out = Vec::with_capacity(raw.len() + 64);
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &headers {
        let values = if name.eq_ignore_ascii_case("Via") {
            split_top_level_commas(value).into_iter().map(str::trim).filter(|v| !v.is_empty()).collect()
        } else {
            vec![value.as_str()]
        };
        for value in values {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(Some(out))
}

/// A name-addr or addr-spec header value (`From`, `To`, `Contact`, `Refer-To`), split into its URI
/// and header parameters.
struct NameAddr<'a> {
    uri: &'a str,
    params: &'a str,
}

/// Splits a name-addr or addr-spec; `None` when a quote or an angle bracket is left open.
fn name_addr(value: &str) -> Option<NameAddr<'_>> {
    // The display name may be quoted and hold '<', so look for '<' outside quotes.
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => {
                let (uri, params) = value[i + 1..].split_once('>')?;
                return Some(NameAddr { uri: uri.trim(), params });
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    // addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10).
    Some(match value.split_once(';') {
        Some((uri, params)) => NameAddr { uri: uri.trim(), params },
        None => NameAddr { uri: value.trim(), params: "" },
    })
}

/// [`name_addr`] of header `name`, refused when it cannot be split.
fn header_name_addr<'a>(name: &'static str, value: &'a str) -> Result<NameAddr<'a>, SipError> {
    name_addr(value).ok_or_else(|| SipError::BadHeader { name, value: cut(value) })
}

/// The value of parameter `name` in a `;a=b;c` list (case-insensitive name, quotes removed).
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"'))
    })
}

/// Where a request's `tel:` Request-URI lies in its head, if it has one.
fn tel_request_uri(head: &str) -> Option<std::ops::Range<usize>> {
    let start_line = head.split("\r\n").next()?;
    let (method, rest) = start_line.split_once(' ')?;
    let uri = rest.split(' ').next()?;
    let is_tel = uri.get(..4).is_some_and(|scheme| scheme.eq_ignore_ascii_case("tel:"));
    let start = method.len() + 1;
    is_tel.then_some(start..start + uri.len())
}

/// The user part of a URI, `%` escapes decoded: for `sip:` and `sips:` (and other schemes) the
/// text before `@` up to its first `;` or `:` (user parameters, password); for `tel:` the number up
/// to its first parameter (`;phone-context=…`), without its visual separators (`-`, `.`, `(`,
/// `)`). `Ok(None)` when there is none; `Err(())` when an
/// escape is bad or decodes to something that is not UTF-8. Read here rather than by rsip, which
/// gives no user for a `tel:` URI and does not decode escapes.
fn uri_user(uri: &str) -> Result<Option<String>, ()> {
    let Some((scheme, rest)) = uri.split_once(':') else { return Ok(None) };
    let user = match rest.split_once('@') {
        Some((user, _)) => user,
        None if scheme.eq_ignore_ascii_case("tel") => rest,
        None => return Ok(None),
    };
    let user = user.split([';', ':', '?']).next().unwrap_or_default();
    let mut user = unescape(user)?;
    if scheme.eq_ignore_ascii_case("tel") {
        // RFC 3966 visual separators: a tel: number is its digits.
        user.retain(|c| !matches!(c, '-' | '.' | '(' | ')'));
    }
    Ok((!user.is_empty()).then_some(user))
}

/// Decodes `%XX` escapes (RFC 3261 §25.1 `escaped`); `Err(())` for a bad escape or non-UTF-8.
fn unescape(text: &str) -> Result<String, ()> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let hex = std::str::from_utf8(hex).map_err(|_| ())?;
            if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(());
            }
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// The user of header `name`'s URI, refused when it cannot be decoded.
fn header_uri_user(name: &'static str, value: &str, uri: &str) -> Result<Option<String>, SipError> {
    uri_user(uri).map_err(|()| SipError::BadHeader { name, value: cut(value) })
}

/// Refuses a duplicated `Content-Length`, one that is not a number, or one that counts more
/// bytes than the body has. None at all is fine over UDP (the body is the rest of the datagram).
fn check_content_length(headers: &[(&str, &str)], body: &[u8]) -> Result<(), SipError> {
    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length")).map(|(_, v)| *v);
    let Some(value) = values.next() else { return Ok(()) };
    if values.next().is_some() {
        return Err(SipError::BadContentLength { reason: "appears more than once".into() });
    }
    let length = Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<usize>().ok())
        .ok_or_else(|| SipError::BadContentLength { reason: format!("{:?} is not a number", cut(value)) })?;
    if length > body.len() {
        return Err(SipError::BadContentLength {
            reason: format!("{length} is more than the {} bytes of body", body.len()),
        });
    }
    Ok(())
}

/// The media direction of an SDP body: the first audio stream's attribute, else the session's.
fn sdp_direction(body: &[u8]) -> Option<SdpDirection> {
    let text = String::from_utf8_lossy(body);
    if !text.trim_start().starts_with("v=") {
        return None;
    }
    let mut session: Option<SdpDirection> = None;
    let mut audio: Option<SdpDirection> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut null_address = false;
    for line in text.lines().map(str::trim) {
        if let Some(media) = line.strip_prefix("m=") {
            // Only the first audio stream counts; later streams are ignored.
            in_audio = !seen_audio && media.starts_with("audio");
            seen_audio |= in_audio;
            continue;
        }
        if let Some(connection) = line.strip_prefix("c=") {
            if connection.split_whitespace().nth(2).is_some_and(|addr| addr == "0.0.0.0") {
                null_address = true;
            }
            continue;
        }
        let direction = match line {
            "a=sendrecv" => SdpDirection::SendRecv,
            "a=sendonly" => SdpDirection::SendOnly,
            "a=recvonly" => SdpDirection::RecvOnly,
            "a=inactive" => SdpDirection::Inactive,
            _ => continue,
        };
        if in_audio {
            audio.get_or_insert(direction);
        } else if !seen_audio {
            session.get_or_insert(direction);
        }
    }
    let direction = audio.or(session).unwrap_or(SdpDirection::SendRecv);
    Some(if null_address && !direction.is_hold() { SdpDirection::Inactive } else { direction })
}

/// Reads mirrored SIP into [`SipMessage`]s. Holds the names of the headers that correlate the legs
/// of one call across a B2BUA (for example `X-CID`).
#[derive(Debug, Clone, Default)]
pub struct SipParser {
    correlation_headers: Vec<String>,
}

impl SipParser {
    /// A parser that also collects the given correlation headers (names are case-insensitive).
    pub fn new(correlation_headers: Vec<String>) -> SipParser {
        SipParser { correlation_headers }
    }

    /// Normalises and parses one datagram. `Ok(None)` is a keep-alive.
    pub fn parse(&self, raw: &[u8]) -> Result<Option<SipMessage>, SipError> {
        let Some(normalised) = normalise(raw)? else { return Ok(None) };
        let (head, body) = split_head_body(&normalised);
        // The head was checked to be UTF-8 by the normaliser.
        let head = std::str::from_utf8(head).map_err(|_| SipError::NotUtf8)?;
        refuse_control_characters(head)?;
        // rsip cannot read a `tel:` Request-URI with visual separators (`tel:+86-22-1800`); the
        // URI is read here from the start line anyway, so rsip gets a stand-in.
        let message = match tel_request_uri(head) {
            Some(uri) => {
                let stand_in = [&normalised[..uri.start], b"sip:tel.invalid", &normalised[uri.end..]].concat();
                rsip::SipMessage::try_from(stand_in.as_slice())
            }
            None => rsip::SipMessage::try_from(normalised.as_slice()),
        }
        .map_err(|e| SipError::Rsip { reason: cut(&e.to_string()) })?;
        let mut lines = head.split("\r\n");
        let start_line = lines.next().unwrap_or_default();
        let headers: Vec<(&str, &str)> =
            lines.filter_map(|line| line.split_once(':')).map(|(n, v)| (n.trim(), v.trim())).collect();
        let first = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);

        check_content_length(&headers, body)?;

        let kind = match &message {
            rsip::SipMessage::Request(request) => {
                // The Request-URI as written: rsip gives no user for `tel:` and takes `<sip` as
                // the user of `<sip:1800@h>`.
                let uri = start_line.split(' ').nth(1).unwrap_or_default();
                let bad_uri = || SipError::BadRequestUri { uri: cut(uri) };
                if uri.starts_with('<') || uri.ends_with('>') {
                    return Err(bad_uri());
                }
                SipKind::Request {
                    method: SipMethod::from_token(&request.method.to_string()),
                    uri_user: uri_user(uri).map_err(|()| bad_uri())?,
                }
            }
            rsip::SipMessage::Response(response) => SipKind::Response {
                status: response.status_code.code(),
                // rsip drops the phrase of codes it knows, so read it from the status line.
                reason: start_line.splitn(3, ' ').nth(2).unwrap_or_default().to_owned(),
            },
        };
        let call_id = first("Call-ID").filter(|v| !v.is_empty()).ok_or(SipError::MissingHeader("Call-ID"))?;
        let from_value = first("From").ok_or(SipError::MissingHeader("From"))?;
        let from = header_name_addr("From", from_value)?;
        let to_value = first("To").ok_or(SipError::MissingHeader("To"))?;
        let to = header_name_addr("To", to_value)?;
        let cseq_value = first("CSeq").ok_or(SipError::MissingHeader("CSeq"))?;
        let bad_cseq = || SipError::BadHeader { name: "CSeq", value: cut(cseq_value) };
        let mut cseq_parts = cseq_value.split_whitespace();
        let cseq = cseq_parts.next().and_then(|n| n.parse::<u32>().ok()).ok_or_else(bad_cseq)?;
        let cseq_method = SipMethod::from_token(cseq_parts.next().ok_or_else(bad_cseq)?);
        let via_branch = first("Via").and_then(|via| param(via, "branch")).map(str::to_owned);
        let contact_value = first("Contact").and_then(|value| split_top_level_commas(value).into_iter().next());
        let contact = contact_value.map(|c| header_name_addr("Contact", c.trim())).transpose()?;
        let contact_user = match (&contact, contact_value) {
            (Some(c), Some(value)) => header_uri_user("Contact", value, c.uri)?,
            _ => None,
        };
        let refer_to_user = match first("Refer-To") {
            Some(value) => header_uri_user("Refer-To", value, header_name_addr("Refer-To", value)?.uri)?,
            None => None,
        };
        let expires = first("Expires").and_then(|v| v.parse::<u32>().ok());
        let correlation = self
            .correlation_headers
            .iter()
            .filter_map(|name| first(name).map(|value| (name.clone(), value.to_owned())))
            .collect();

        let message = SipMessage {
            kind,
            call_id: call_id.to_owned(),
            from_user: header_uri_user("From", from_value, from.uri)?,
            from_tag: param(from.params, "tag").filter(|t| !t.is_empty()).map(str::to_owned),
            to_user: header_uri_user("To", to_value, to.uri)?,
            to_tag: param(to.params, "tag").filter(|t| !t.is_empty()).map(str::to_owned),
            cseq,
            cseq_method,
            via_branch,
            contact_user,
            contact_uri: contact.as_ref().map(|c| c.uri.to_owned()).filter(|u| !u.is_empty()),
            contact_expires: contact.as_ref().and_then(|c| param(c.params, "expires")?.parse().ok()),
            expires,
            reason: first("Reason").map(str::to_owned),
            refer_to_user,
            sdp_direction: sdp_direction(body),
            correlation,
        };
        check_stored_texts(&message)?;
        Ok(Some(message))
    }
}

/// The caller that stands for "number withheld" (RFC 3323 privacy: `sip:anonymous@anonymous.invalid`).
/// It is kept as written rather than refused, so a withheld number is still a call.
pub const ANONYMOUS_CALLER: &str = "anonymous";

/// Callers that say the number is withheld or unknown, as carriers spell it (any case): kept as
/// written, like [`ANONYMOUS_CALLER`] and a From with no user at all, so no such call is lost.
pub const WITHHELD_CALLERS: [&str; 6] =
    [ANONYMOUS_CALLER, "restricted", "unknown", "unavailable", "private", "withheld"];

/// Refuses an initial INVITE (no To tag) whose numbers cannot be a call's: the dialled number is the
/// Request-URI user (never the To user, which a proxy may leave as first dialled) and must be a
/// [`PhoneNumber`](hotline_domain::values::PhoneNumber); the caller is the From user and must be one
/// too, or withheld (no user, or one of [`WITHHELD_CALLERS`]). Any other message passes. The listener puts a refused datagram in
/// its rejected list with this error as the reason; the parser does not call it, so captures of
/// test peers with names for numbers (SIPp's `sipp` → `service`) still parse.
pub fn check_call_numbers(message: &SipMessage) -> Result<(), SipError> {
    use hotline_domain::values::PhoneNumber;
    let SipKind::Request { method: SipMethod::Invite, uri_user } = &message.kind else { return Ok(()) };
    if message.to_tag.is_some() {
        return Ok(());
    }
    let not_a_number = |field, value: &Option<String>| SipError::NotANumber {
        field,
        value: cut(value.as_deref().unwrap_or_default()),
    };
    if uri_user.as_deref().and_then(PhoneNumber::parse).is_none() {
        return Err(not_a_number("dialled number (Request-URI user)", uri_user));
    }
    match message.from_user.as_deref() {
        // No user, or a withheld number: a call all the same.
        None => Ok(()),
        Some(caller) if WITHHELD_CALLERS.iter().any(|w| caller.eq_ignore_ascii_case(w)) => Ok(()),
        Some(caller) if PhoneNumber::parse(caller).is_some() => Ok(()),
        Some(_) => Err(not_a_number("caller (From user)", &message.from_user)),
    }
}

/// Refuses a head with a control character other than CR, LF and tab.
fn refuse_control_characters(head: &str) -> Result<(), SipError> {
    for (index, line) in head.split("\r\n").enumerate() {
        if let Some(c) = line.chars().find(|c| !text::allowed(*c, text::Lines::Many)) {
            return Err(SipError::ControlCharacter { code: u32::from(c), line: index + 1 });
        }
    }
    Ok(())
}

/// Refuses a message whose values that calls and phones keep in the log break the domain's text
/// rules, so the datagram lands in the listener's rejected list instead of being refused later
/// as a signal (and its call lost without a trace of the datagram).
fn check_stored_texts(message: &SipMessage) -> Result<(), TextError> {
    let mut texts = vec![text::Text::new("Call-ID", text::SIP_TOKEN, &message.call_id)];
    let users = [("From user", &message.from_user), ("To user", &message.to_user)];
    for (field, user) in users {
        texts.extend(user.as_deref().map(|u| text::Text::new(field, text::PHONE_NUMBER, u)));
    }
    if let SipKind::Request { uri_user: Some(user), .. } = &message.kind {
        texts.push(text::Text::new("Request-URI user", text::PHONE_NUMBER, user));
    }
    texts.extend(message.contact_user.as_deref().map(|u| text::Text::new("Contact user", text::CODE, u)));
    texts.extend(message.contact_uri.as_deref().map(|u| text::Text::new("Contact", text::URI, u)));
    texts.extend(message.refer_to_user.as_deref().map(|u| text::Text::new("Refer-To user", text::CODE, u)));
    texts.extend(message.correlation.iter().map(|(_, v)| text::Text::new("correlation header", text::SIP_TOKEN, v)));
    text::check_all(texts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_normalise(input: &str, expect: Result<Option<&str>, SipError>) {
        let got = normalise(input.as_bytes()).map(|o| o.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()));
        assert_eq!(got, expect.map(|o| o.map(str::to_owned)), "input {input:?}");
    }

    #[test]
    fn normalise_repairs_what_rsip_cannot_read() {
        // LF-only line ends.
        check_normalise("BYE sip:a@h SIP/2.0\ni: x\n\n", Ok(Some("BYE sip:a@h SIP/2.0\r\nCall-ID: x\r\n\r\n")));
        // Compact names, upper or lower case; unknown one-letter names stay.
        check_normalise(
            "BYE sip:a@h SIP/2.0\r\nf: <sip:a@h>\r\nT: <sip:b@h>\r\nl: 0\r\nc: application/sdp\r\nm: <sip:a@h>\r\nr: <sip:c@h>\r\nk: timer\r\nz: 1\r\n\r\n",
            Ok(Some("BYE sip:a@h SIP/2.0\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nContent-Length: 0\r\nContent-Type: application/sdp\r\nContact: <sip:a@h>\r\nRefer-To: <sip:c@h>\r\nSupported: timer\r\nz: 1\r\n\r\n")),
        );
        // Folded lines, with spaces and tabs.
        check_normalise(
            "BYE sip:a@h SIP/2.0\r\nSubject: I know you're there,\r\n   pick up the phone\r\n\tand talk to me!\r\n\r\n",
            Ok(Some("BYE sip:a@h SIP/2.0\r\nSubject: I know you're there, pick up the phone and talk to me!\r\n\r\n")),
        );
        // Comma-joined Via (SIPp), but not commas inside quotes.
        check_normalise(
            "BYE sip:a@h SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP h;x=\"a,b\"\r\n\r\n",
            Ok(Some("BYE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP h;x=\"a,b\"\r\n\r\n")),
        );
        // Leading empty lines dropped, spaces around names trimmed, body kept byte for byte.
        check_normalise(
            "\r\n\r\nINVITE sip:a@h SIP/2.0  \r\nCall-ID  :   x  \r\n\r\nv=0\nc=IN IP4 0.0.0.0\n",
            Ok(Some("INVITE sip:a@h SIP/2.0\r\nCall-ID: x\r\n\r\nv=0\nc=IN IP4 0.0.0.0\n")),
        );
        // No blank line at all: the head ends the message.
        check_normalise(
            "OPTIONS sip:a@h SIP/2.0\r\nCall-ID: x",
            Ok(Some("OPTIONS sip:a@h SIP/2.0\r\nCall-ID: x\r\n\r\n")),
        );
    }

    /// Regression (found by proptest): a start line of a lone vertical tab was trimmed away by
    /// Unicode trimming, so normalising gave an empty message, and normalising that gave `None`.
    #[test]
    fn normalise_keeps_a_start_line_that_is_not_ascii_whitespace() {
        check_normalise("\u{b}", Ok(Some("\u{b}\r\n\r\n")));
        assert_eq!(normalise(b"\x0b\r\n\r\n"), Ok(Some(b"\x0b\r\n\r\n".to_vec())));
    }

    #[test]
    fn normalise_reports_keepalives_and_bad_lines() {
        check_normalise("", Ok(None));
        check_normalise("\r\n\r\n", Ok(None));
        check_normalise(" \t\r\n", Ok(None));
        check_normalise(
            "BYE sip:a@h SIP/2.0\r\nno colon here\r\n\r\n",
            Err(SipError::BadHeaderLine { line: "no colon here".into() }),
        );
        check_normalise(
            "BYE sip:a@h SIP/2.0\r\nbad name: x\r\n\r\n",
            Err(SipError::BadHeaderLine { line: "bad name: x".into() }),
        );
        check_normalise("BYE sip:a@h SIP/2.0\r\n folded\r\n\r\n", Err(SipError::FoldBeforeHeader));
        assert_eq!(normalise(b"BYE sip:a@h SIP/2.0\r\nX: \xff\r\n\r\n"), Err(SipError::NotUtf8));
        // A non-UTF-8 body is fine: it is not read as text.
        assert!(normalise(b"BYE sip:a@h SIP/2.0\r\nX: y\r\n\r\n\xff\xfe").is_ok());
    }

    /// A message from lines joined with CRLF.
    fn message(lines: &[&str]) -> Vec<u8> {
        let mut text = lines.join("\r\n");
        text.push_str("\r\n");
        text.into_bytes()
    }

    fn parse(raw: &[u8]) -> SipMessage {
        SipParser::new(vec!["X-CID".into(), "X-Other".into()]).parse(raw).expect("parses").expect("not a keep-alive")
    }

    const SDP_HOLD: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";

    #[test]
    fn parse_reads_a_sipp_style_invite() {
        let head = [
            "INVITE sip:4001@10.0.0.2:5060 SIP/2.0",
            "v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-proxy, SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK-uac",
            "f: \"Alice, <the caller>\" <sip:13800138000@10.0.0.1:5080>;tag=ftag",
            "t: <sip:4001@10.0.0.2>",
            "i: call-1@10.0.0.1",
            "CSeq: 1 INVITE",
            "m: <sip:13800138000@10.0.0.1:5080;transport=udp>",
            "x-cid: leg-42",
            "Subject: a long",
            "  subject",
            "c: application/sdp",
        ];
        let raw = format!("{}\nl: {}\n\n{SDP_HOLD}", head.join("\n"), SDP_HOLD.len());
        let parsed = parse(raw.as_bytes());
        assert_eq!(
            parsed,
            SipMessage {
                kind: SipKind::Request { method: SipMethod::Invite, uri_user: Some("4001".into()) },
                call_id: "call-1@10.0.0.1".into(),
                from_user: Some("13800138000".into()),
                from_tag: Some("ftag".into()),
                to_user: Some("4001".into()),
                to_tag: None,
                cseq: 1,
                cseq_method: SipMethod::Invite,
                via_branch: Some("z9hG4bK-proxy".into()),
                contact_user: Some("13800138000".into()),
                contact_uri: Some("sip:13800138000@10.0.0.1:5080;transport=udp".into()),
                contact_expires: None,
                expires: None,
                reason: None,
                refer_to_user: None,
                sdp_direction: Some(SdpDirection::SendOnly),
                correlation: vec![("X-CID".into(), "leg-42".into())],
            }
        );
    }

    #[test]
    fn parse_reads_responses_with_their_reason_phrase() {
        let raw = message(&[
            "SIP/2.0 180 Ringing Now",
            "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1",
            "From: <sip:a@h>;tag=1",
            "To: <sip:4001@h>;tag=2",
            "Call-ID: c",
            "CSeq: 7 INVITE",
            "Contact: <sip:4002@10.0.0.3>",
            "",
        ]);
        let parsed = parse(&raw);
        assert_eq!(parsed.kind, SipKind::Response { status: 180, reason: "Ringing Now".into() });
        assert_eq!((parsed.cseq, parsed.cseq_method), (7, SipMethod::Invite));
        assert_eq!(parsed.to_tag.as_deref(), Some("2"));
        assert_eq!(parsed.contact_user.as_deref(), Some("4002"));
        let unknown = parse(&message(&[
            "SIP/2.0 499 Odd",
            "From: <sip:a@h>",
            "To: <sip:b@h>",
            "Call-ID: c",
            "CSeq: 1 INVITE",
            "",
        ]));
        assert_eq!(unknown.kind, SipKind::Response { status: 499, reason: "Odd".into() });
    }

    #[test]
    fn parse_reads_register_cancel_and_refer_headers() {
        let register = parse(&message(&[
            "REGISTER sip:h SIP/2.0",
            "From: <sip:4001@h>;tag=r",
            "To: sip:4001@h",
            "Call-ID: reg",
            "CSeq: 2 REGISTER",
            "Contact: <sip:4001@10.0.0.7:5062>;expires=120, <sip:4001@10.0.0.8>",
            "Expires: 300",
            "",
        ]));
        assert_eq!(register.contact_uri.as_deref(), Some("sip:4001@10.0.0.7:5062"));
        assert_eq!((register.contact_expires, register.expires), (Some(120), Some(300)));
        let wildcard = parse(&message(&[
            "REGISTER sip:h SIP/2.0",
            "From: <sip:4001@h>",
            "To: <sip:4001@h>",
            "Call-ID: r",
            "CSeq: 3 REGISTER",
            "Contact: *",
            "Expires: 0",
            "",
        ]));
        assert_eq!((wildcard.contact_uri.as_deref(), wildcard.expires), (Some("*"), Some(0)));
        let cancel = parse(&message(&[
            "CANCEL sip:4001@h SIP/2.0",
            "From: <sip:a@h>;tag=1",
            "To: <sip:4001@h>",
            "Call-ID: c",
            "CSeq: 1 CANCEL",
            "Reason: SIP;cause=200;text=\"Call completed elsewhere\"",
            "",
        ]));
        assert_eq!(cancel.reason.as_deref(), Some("SIP;cause=200;text=\"Call completed elsewhere\""));
        let refer = parse(&message(&[
            "REFER sip:a@h SIP/2.0",
            "f: <sip:4001@h>;tag=2",
            "t: <sip:a@h>;tag=1",
            "i: c",
            "CSeq: 5 REFER",
            "r: \"Desk\" <sip:4009@h?Replaces=x>",
            "",
        ]));
        assert_eq!(refer.refer_to_user.as_deref(), Some("4009"));
        // A tel: URI, which rsip does not read, still yields its number.
        let tel = parse(&message(&[
            "BYE sip:a@h SIP/2.0",
            "From: <tel:+8613800138000>;tag=1",
            "To: <sip:b@h>",
            "Call-ID: c",
            "CSeq: 2 BYE",
            "",
        ]));
        assert_eq!(tel.from_user.as_deref(), Some("+8613800138000"));
    }

    #[test]
    fn parse_reports_what_is_missing_or_broken() {
        let parser = SipParser::default();
        let check =
            |lines: &[&str], expect: SipError| assert_eq!(parser.parse(&message(lines)), Err(expect), "{lines:?}");
        check(
            &["BYE sip:a@h SIP/2.0", "From: <sip:a@h>", "To: <sip:b@h>", "CSeq: 1 BYE", ""],
            SipError::MissingHeader("Call-ID"),
        );
        check(
            &["BYE sip:a@h SIP/2.0", "Call-ID: c", "To: <sip:b@h>", "CSeq: 1 BYE", ""],
            SipError::MissingHeader("From"),
        );
        check(
            &["BYE sip:a@h SIP/2.0", "Call-ID: c", "From: <sip:b@h>", "CSeq: 1 BYE", ""],
            SipError::MissingHeader("To"),
        );
        check(
            &["BYE sip:a@h SIP/2.0", "Call-ID: c", "From: <sip:a@h>", "To: <sip:b@h>", ""],
            SipError::MissingHeader("CSeq"),
        );
        check(
            &["BYE sip:a@h SIP/2.0", "Call-ID: c", "From: <sip:a@h>", "To: <sip:b@h>", "CSeq: one BYE", ""],
            SipError::BadHeader { name: "CSeq", value: "one BYE".into() },
        );
        assert!(matches!(parser.parse(b"HELLO world\r\n\r\n"), Err(SipError::Rsip { .. })));
        check(
            &[
                "INVITE sip:4001@h SIP/2.0",
                "Call-ID: c",
                "From: <sip:138\u{0}1@h>",
                "To: <sip:4001@h>",
                "CSeq: 1 INVITE",
                "",
            ],
            SipError::ControlCharacter { code: 0, line: 3 },
        );
        check(
            &[
                "INVITE sip:4001@h SIP/2.0",
                "Call-ID: c\u{1b}[2J",
                "From: <sip:1@h>",
                "To: <sip:4001@h>",
                "CSeq: 1 INVITE",
                "",
            ],
            SipError::ControlCharacter { code: 0x1b, line: 2 },
        );
        let long_caller = format!("From: <sip:{}@h>", "1".repeat(33));
        check(
            &["INVITE sip:4001@h SIP/2.0", "Call-ID: c", &long_caller, "To: <sip:4001@h>", "CSeq: 1 INVITE", ""],
            SipError::Text(TextError::TextTooLong { field: "From user", length: 33, max: 32 }),
        );
        assert_eq!(parser.parse(b"\r\n\r\n"), Ok(None));
    }

    /// An initial INVITE with the given Request-URI and From value, as exact bytes.
    fn invite(request_uri: &str, from: &str) -> Vec<u8> {
        message(&[
            &format!("INVITE {request_uri} SIP/2.0"),
            "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1",
            &format!("From: {from}"),
            "To: <sip:4001@h>",
            "Call-ID: c",
            "CSeq: 1 INVITE",
            "",
        ])
    }

    /// The Request-URI user and the From user the parser reads, and whether the numbers pass.
    fn numbers(raw: &[u8]) -> (Option<String>, Option<String>, Result<(), SipError>) {
        let parsed = parse(raw);
        let SipKind::Request { uri_user, .. } = &parsed.kind else { panic!("a request") };
        (uri_user.clone(), parsed.from_user.clone(), check_call_numbers(&parsed))
    }

    #[test]
    fn tel_request_uri_gives_its_number() {
        let raw = invite("tel:1800", "<sip:13800138000@h>;tag=1");
        assert_eq!(numbers(&raw), (Some("1800".into()), Some("13800138000".into()), Ok(())));
    }

    #[test]
    fn tel_request_uri_with_phone_context_gives_its_number() {
        let raw = invite("tel:1800;phone-context=+86-22", "<tel:+8613800138000;phone-context=example.com>;tag=1");
        assert_eq!(numbers(&raw), (Some("1800".into()), Some("+8613800138000".into()), Ok(())));
    }

    #[test]
    fn tel_numbers_with_visual_separators_give_their_digits() {
        // rsip refuses these Request-URIs; the number is read here and its separators dropped.
        for (uri, number) in [
            ("tel:+86.22.1800", "+86221800"),
            ("tel:+86-22-1800;phone-context=+86", "+86221800"),
            ("tel:(022)1800", "0221800"),
            ("TEL:1800", "1800"),
        ] {
            let raw = invite(uri, "<tel:+86-138-0013-8000>;tag=1");
            assert_eq!(numbers(&raw), (Some(number.into()), Some("+8613800138000".into()), Ok(())), "{uri}");
        }
    }

    #[test]
    fn percent_escaped_numbers_are_unescaped() {
        let raw = invite("sip:%31%38%30%30@h", "<sip:%31%33%38%30%30%31%33%38%30%30%30@h>;tag=1");
        assert_eq!(numbers(&raw), (Some("1800".into()), Some("13800138000".into()), Ok(())));
        // A bad escape is refused, not kept as written.
        let parser = SipParser::default();
        assert_eq!(
            parser.parse(&invite("sip:18%3@h", "<sip:1@h>;tag=1")),
            Err(SipError::BadRequestUri { uri: "sip:18%3@h".into() })
        );
        assert_eq!(
            parser.parse(&invite("sip:1800@h", "<sip:13%zz@h>;tag=1")),
            Err(SipError::BadHeader { name: "From", value: "<sip:13%zz@h>;tag=1".into() })
        );
    }

    #[test]
    fn request_uri_in_angle_brackets_is_refused() {
        assert_eq!(
            SipParser::default().parse(&invite("<sip:1800@h>", "<sip:13800138000@h>;tag=1")),
            Err(SipError::BadRequestUri { uri: "<sip:1800@h>".into() })
        );
    }

    /// RFC 4475 §3.1.1.7 `esc01`, its head byte for byte (Via, Max-Forwards, Contact and the body
    /// left out): the dialled number is the Request-URI's user, decoded, which is no number.
    #[test]
    fn rfc4475_esc01_takes_the_dialled_number_from_the_request_uri() {
        let raw = message(&[
            "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
            "To: sip:%75se%72@example.com",
            "From: <sip:I%20have%20spaces@example.net>;tag=938",
            "Call-ID: 0ha0isndaksdj@10.0.0.1",
            "CSeq: 8 INVITE",
            "",
        ]);
        let parsed = parse(&raw);
        assert_eq!(
            parsed.kind,
            SipKind::Request { method: SipMethod::Invite, uri_user: Some("sips:user@example.com".into()) }
        );
        assert_eq!(parsed.to_user.as_deref(), Some("user"));
        assert_eq!(parsed.from_user.as_deref(), Some("I have spaces"));
        assert_eq!(
            check_call_numbers(&parsed),
            Err(SipError::NotANumber {
                field: "dialled number (Request-URI user)",
                value: "sips:user@example.com".into()
            })
        );
        // The dialog tracker offers what the Request-URI says, whatever To holds: see
        // `dialog::tests::rfc4475_esc01_is_offered_as_its_request_uri_says`.
    }

    #[test]
    fn unbalanced_quote_in_from_is_refused() {
        let from = "\"Alice <sip:13800138000@h>;tag=1";
        assert_eq!(
            SipParser::default().parse(&invite("sip:1800@h", from)),
            Err(SipError::BadHeader { name: "From", value: from.into() })
        );
        // An unclosed '<' too.
        assert_eq!(
            SipParser::default().parse(&invite("sip:1800@h", "<sip:13800138000@h;tag=1")),
            Err(SipError::BadHeader { name: "From", value: "<sip:13800138000@h;tag=1".into() })
        );
    }

    #[test]
    fn nul_in_from_user_is_refused_raw_or_escaped() {
        assert_eq!(
            SipParser::default().parse(&invite("sip:1800@h", "<sip:138\u{0}1@h>;tag=1")),
            Err(SipError::ControlCharacter { code: 0, line: 3 })
        );
        assert_eq!(
            SipParser::default().parse(&invite("sip:1800@h", "<sip:138%001@h>;tag=1")),
            Err(SipError::Text(TextError::ControlCharacter { field: "From user", code: 0, position: 4 }))
        );
    }

    #[test]
    fn check_call_numbers_refuses_what_cannot_be_a_number() {
        let check = |uri: &str, from: &str, expect: Result<(), SipError>| {
            assert_eq!(check_call_numbers(&parse(&invite(uri, from))), expect, "{uri} {from}");
        };
        check("sip:1800@h", "<sip:13800138000@h>;tag=1", Ok(()));
        check("sip:+86-22-1800@h", "<sip:+8613800138000@h>;tag=1", Ok(()));
        // A withheld number (RFC 3323) is still a call.
        check("sip:1800@h", "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1", Ok(()));
        check(
            "sip:service@h",
            "<sip:13800138000@h>;tag=1",
            Err(SipError::NotANumber { field: "dialled number (Request-URI user)", value: "service".into() }),
        );
        check(
            "sip:h",
            "<sip:13800138000@h>;tag=1",
            Err(SipError::NotANumber { field: "dialled number (Request-URI user)", value: String::new() }),
        );
        check(
            "sip:1800@h",
            "<sip:sipp@h>;tag=1",
            Err(SipError::NotANumber { field: "caller (From user)", value: "sipp".into() }),
        );
        // A From with no user, or a carrier's word for a withheld or unknown number, is a call
        // too (review: these were refused, and the calls lost).
        check("sip:1800@h", "<sip:h>;tag=1", Ok(()));
        for withheld in ["Restricted", "unknown", "UNAVAILABLE", "private", "withheld"] {
            check("sip:1800@h", &format!("<sip:{withheld}@h>;tag=1"), Ok(()));
        }
        // Only an initial INVITE is judged: a BYE between names passes.
        let bye = parse(&message(&[
            "BYE sip:agent@h SIP/2.0",
            "From: <sip:a@h>;tag=1",
            "To: <sip:b@h>;tag=2",
            "Call-ID: c",
            "CSeq: 2 BYE",
            "",
        ]));
        assert_eq!(check_call_numbers(&bye), Ok(()));
    }

    #[test]
    fn duplicated_or_impossible_content_length_is_refused() {
        let with = |lengths: &[&str], body: &str| {
            let mut lines = vec![
                "INVITE sip:1800@h SIP/2.0",
                "From: <sip:13800138000@h>;tag=1",
                "To: <sip:1800@h>",
                "Call-ID: c",
                "CSeq: 1 INVITE",
            ];
            let lengths: Vec<String> = lengths.iter().map(|l| l.to_string()).collect();
            lines.extend(lengths.iter().map(String::as_str));
            let mut raw = message(&lines);
            raw.extend_from_slice(b"\r\n");
            raw.extend_from_slice(body.as_bytes());
            SipParser::default().parse(&raw).map(|m| m.is_some())
        };
        let bad = |reason: &str| Err(SipError::BadContentLength { reason: reason.into() });
        assert_eq!(with(&["Content-Length: 0"], ""), Ok(true));
        assert_eq!(with(&[], "v=0\r\n"), Ok(true));
        assert_eq!(with(&["Content-Length: 5"], "v=0\r\n"), Ok(true));
        assert_eq!(with(&["Content-Length: 0", "l: 0"], ""), bad("appears more than once"));
        assert_eq!(with(&["Content-Length: 0", "Content-Length: 5"], "v=0\r\n"), bad("appears more than once"));
        assert_eq!(with(&["Content-Length: -1"], ""), bad("\"-1\" is not a number"));
        assert_eq!(
            with(&["Content-Length: 99999999999999999999999"], ""),
            bad("\"99999999999999999999999\" is not a number")
        );
        assert_eq!(with(&["Content-Length: 10"], "v=0\r\n"), bad("10 is more than the 5 bytes of body"));
    }

    #[test]
    fn sdp_direction_covers_attributes_and_null_address() {
        let check =
            |body: &str, expect: Option<SdpDirection>| assert_eq!(sdp_direction(body.as_bytes()), expect, "{body:?}");
        let base = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n";
        check(&format!("{base}m=audio 4000 RTP/AVP 0\r\n"), Some(SdpDirection::SendRecv));
        check(&format!("{base}m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"), Some(SdpDirection::SendOnly));
        check(&format!("{base}m=audio 4000 RTP/AVP 0\r\na=inactive\r\n"), Some(SdpDirection::Inactive));
        check(&format!("{base}m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n"), Some(SdpDirection::RecvOnly));
        // Session level applies when the stream says nothing; the stream wins otherwise.
        check(&format!("{base}a=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n"), Some(SdpDirection::SendOnly));
        check(&format!("{base}a=sendonly\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n"), Some(SdpDirection::SendRecv));
        // Video's direction does not count.
        check(
            &format!("{base}m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\na=inactive\r\n"),
            Some(SdpDirection::SendRecv),
        );
        // RFC 2543 hold.
        check("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n", Some(SdpDirection::Inactive));
        check("", None);
        check("not sdp", None);
    }

    fn sip_like() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just("INVITE sip:1@h SIP/2.0".to_owned()),
            Just("SIP/2.0 200 OK".to_owned()),
            Just("v: SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b".to_owned()),
            Just(" folded".to_owned()),
            Just("\tfolded".to_owned()),
            Just("i: x".to_owned()),
            Just("".to_owned()),
            Just("Via: ,,".to_owned()),
            Just("X: \"a,<b\" <c,d>".to_owned()),
            "[ -~]{0,20}",
            "[a-z]{1,3}: [ -~]{0,20}",
        ];
        (proptest::collection::vec(line, 0..12), prop_oneof![Just("\r\n"), Just("\n"), Just("\r")])
            .prop_map(|(lines, end)| lines.join(end).into_bytes())
    }

    proptest! {
        #[test]
        fn normalise_is_idempotent_on_sip_like_text(raw in sip_like()) {
            if let Ok(Some(once)) = normalise(&raw) {
                prop_assert_eq!(normalise(&once), Ok(Some(once.clone())));
            }
        }

        #[test]
        fn normalise_is_idempotent_and_parse_never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(Some(once)) = normalise(&raw) {
                prop_assert_eq!(normalise(&once), Ok(Some(once.clone())));
            }
            let _ = SipParser::new(vec!["X-CID".into()]).parse(&raw);
        }

        #[test]
        fn parse_never_panics_on_sip_like_text(raw in sip_like()) {
            let _ = SipParser::default().parse(&raw);
        }
    }
}
