//! HEP3 (HEPv3, magic `HEP3`) capture packets: a strict decoder for what capture agents mirror to
//! us (Kamailio `siptrace`, Asterisk `res_hep`, FreeSWITCH) and an encoder for tests and senders.
//!
//! Wire format: the 4-byte magic `HEP3`, a big-endian `u16` total length (header included), then
//! chunks of `vendor id: u16`, `type id: u16`, `length: u16` (the 6-byte chunk header included)
//! and the chunk value. Only generic chunks (vendor 0) are interpreted; vendor chunks and unknown
//! generic types are skipped after their bounds are checked.
//!
//! The decoder is strict on purpose: the declared total length must equal the datagram's length,
//! every chunk must lie inside it, fixed-size chunks must have their exact size, a known chunk may
//! appear only once, and the address family must match the address chunks. Anything else is a
//! [`HepError`] naming what was wrong, so the listener can count it by [`HepError::reason`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

/// The magic that opens every HEPv3 packet.
const MAGIC: &[u8; 4] = b"HEP3";
/// Magic plus total length.
const HEADER_LEN: usize = 6;
/// Vendor id, type id and length.
const CHUNK_HEADER_LEN: usize = 6;

const FAMILY_IPV4: u8 = 2;
const FAMILY_IPV6: u8 = 10;
const PROTOCOL_TYPE_SIP: u8 = 1;
const IP_PROTOCOL_UDP: u8 = 17;

/// The generic (vendor 0) chunk types this decoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HepChunk {
    /// 0x0001: IP protocol family (2 = IPv4, 10 = IPv6).
    IpFamily,
    /// 0x0002: IP protocol id (17 = UDP, 6 = TCP).
    IpProtocol,
    /// 0x0003: IPv4 source address.
    Ipv4Source,
    /// 0x0004: IPv4 destination address.
    Ipv4Destination,
    /// 0x0005: IPv6 source address.
    Ipv6Source,
    /// 0x0006: IPv6 destination address.
    Ipv6Destination,
    /// 0x0007: source port.
    SourcePort,
    /// 0x0008: destination port.
    DestinationPort,
    /// 0x0009: capture time, seconds since the Unix epoch.
    TimestampSeconds,
    /// 0x000a: capture time, microseconds within the second.
    TimestampMicros,
    /// 0x000b: protocol type of the payload (1 = SIP).
    ProtocolType,
    /// 0x000c: capture agent id.
    CaptureAgentId,
    /// 0x000d: keep-alive timer.
    KeepAliveTimer,
    /// 0x000e: authentication key.
    AuthKey,
    /// 0x000f: the captured packet payload.
    Payload,
    /// 0x0010: a compressed payload (not supported).
    CompressedPayload,
    /// 0x0011: internal correlation id.
    CorrelationId,
}

impl HepChunk {
    /// Every known chunk, in type-id order.
    const ALL: [HepChunk; 17] = [
        HepChunk::IpFamily,
        HepChunk::IpProtocol,
        HepChunk::Ipv4Source,
        HepChunk::Ipv4Destination,
        HepChunk::Ipv6Source,
        HepChunk::Ipv6Destination,
        HepChunk::SourcePort,
        HepChunk::DestinationPort,
        HepChunk::TimestampSeconds,
        HepChunk::TimestampMicros,
        HepChunk::ProtocolType,
        HepChunk::CaptureAgentId,
        HepChunk::KeepAliveTimer,
        HepChunk::AuthKey,
        HepChunk::Payload,
        HepChunk::CompressedPayload,
        HepChunk::CorrelationId,
    ];

    /// The chunk's generic type id.
    pub fn type_id(self) -> u16 {
        // The ids are 1..=0x11 in declaration order.
        HepChunk::ALL.iter().position(|c| *c == self).map_or(0, |i| i as u16 + 1)
    }

    fn from_type_id(type_id: u16) -> Option<HepChunk> {
        HepChunk::ALL.get(usize::from(type_id).checked_sub(1)?).copied()
    }

    /// The exact value length of a fixed-size chunk; `None` for variable-length chunks.
    fn fixed_len(self) -> Option<usize> {
        match self {
            HepChunk::IpFamily | HepChunk::IpProtocol | HepChunk::ProtocolType => Some(1),
            HepChunk::Ipv4Source | HepChunk::Ipv4Destination => Some(4),
            HepChunk::Ipv6Source | HepChunk::Ipv6Destination => Some(16),
            HepChunk::SourcePort | HepChunk::DestinationPort | HepChunk::KeepAliveTimer => Some(2),
            HepChunk::TimestampSeconds | HepChunk::TimestampMicros | HepChunk::CaptureAgentId => Some(4),
            HepChunk::AuthKey | HepChunk::Payload | HepChunk::CompressedPayload | HepChunk::CorrelationId => None,
        }
    }
}

impl std::fmt::Display for HepChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} (0x{:04x})", self.type_id())
    }
}

/// Why a datagram is not an acceptable HEP3 packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HepError {
    /// The datagram is shorter than the 6-byte HEP3 header.
    #[error("datagram of {len} bytes is shorter than the hep3 header")]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The datagram does not open with `HEP3`.
    #[error("datagram does not start with the HEP3 magic")]
    BadMagic,
    /// The declared total length differs from the datagram's length.
    #[error("hep3 header declares {declared} bytes but the datagram has {actual}")]
    LengthMismatch {
        /// The total length in the header.
        declared: usize,
        /// The datagram's length.
        actual: usize,
    },
    /// A chunk header or value runs past the end of the packet, or declares less than 6 bytes.
    #[error("chunk at offset {offset} is out of bounds (declared length {declared})")]
    ChunkOutOfBounds {
        /// Offset of the chunk header in the datagram.
        offset: usize,
        /// The chunk's declared length (0 when its header itself is cut off).
        declared: usize,
    },
    /// A fixed-size chunk has the wrong size.
    #[error("chunk {chunk} has {len} value bytes, expected {expected}")]
    BadChunkLength {
        /// The chunk.
        chunk: HepChunk,
        /// Its value length.
        len: usize,
        /// The length its type requires.
        expected: usize,
    },
    /// A known chunk appears twice.
    #[error("chunk {0} appears more than once")]
    DuplicateChunk(HepChunk),
    /// A required chunk is absent.
    #[error("required chunk {0} is missing")]
    MissingChunk(HepChunk),
    /// The IP family is neither IPv4 (2) nor IPv6 (10).
    #[error("unknown ip family {0}")]
    BadFamily(u8),
    /// The microseconds chunk is 1,000,000 or more, or the time is not representable.
    #[error("capture time {seconds}s {micros}us is not valid")]
    BadTimestamp {
        /// Seconds since the epoch.
        seconds: u32,
        /// Microseconds within the second.
        micros: u32,
    },
    /// An authentication key is configured and the packet's key is absent or different.
    #[error("hep3 authentication key is missing or wrong")]
    AuthFailed,
    /// The payload is not SIP (protocol type other than 1).
    #[error("payload protocol type {0} is not sip")]
    NotSip(u8),
    /// The payload is compressed, which this decoder does not support.
    #[error("compressed payloads are not supported")]
    CompressedPayload,
    /// The correlation id is not UTF-8.
    #[error("correlation id is not utf-8")]
    BadCorrelationId,
}

impl HepError {
    /// Every value [`HepError::reason`] can return, for counters indexed by reason.
    pub const REASONS: [&'static str; 13] = [
        "too_short",
        "bad_magic",
        "length_mismatch",
        "chunk_out_of_bounds",
        "bad_chunk_length",
        "duplicate_chunk",
        "missing_chunk",
        "bad_family",
        "bad_timestamp",
        "auth_failed",
        "not_sip",
        "compressed_payload",
        "bad_correlation_id",
    ];

    /// A stable snake_case name of the variant, for counters and logs.
    pub fn reason(&self) -> &'static str {
        Self::REASONS[self.reason_index()]
    }

    /// The position of [`HepError::reason`] in [`HepError::REASONS`].
    pub fn reason_index(&self) -> usize {
        match self {
            HepError::TooShort { .. } => 0,
            HepError::BadMagic => 1,
            HepError::LengthMismatch { .. } => 2,
            HepError::ChunkOutOfBounds { .. } => 3,
            HepError::BadChunkLength { .. } => 4,
            HepError::DuplicateChunk(_) => 5,
            HepError::MissingChunk(_) => 6,
            HepError::BadFamily(_) => 7,
            HepError::BadTimestamp { .. } => 8,
            HepError::AuthFailed => 9,
            HepError::NotSip(_) => 10,
            HepError::CompressedPayload => 11,
            HepError::BadCorrelationId => 12,
        }
    }
}

/// Why a [`HepPacket`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HepEncodeError {
    /// The encoded packet or one of its chunks would exceed 65,535 bytes.
    #[error("encoded hep3 packet would be {size} bytes, more than 65535")]
    TooLarge {
        /// The size it would have.
        size: usize,
    },
    /// The capture time is before the epoch or after 2106 (HEP3 carries `u32` seconds).
    #[error("capture time {0} does not fit hep3's u32 seconds")]
    TimeOutOfRange(DateTime<Utc>),
    /// Source and destination are of different IP families.
    #[error("source {src} and destination {dst} are of different ip families")]
    MixedFamilies {
        /// Source address.
        src: SocketAddr,
        /// Destination address.
        dst: SocketAddr,
    },
}

/// One decoded HEP3 packet carrying SIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HepPacket {
    /// Where the captured packet came from.
    pub src: SocketAddr,
    /// Where the captured packet went.
    pub dst: SocketAddr,
    /// When the capture agent saw it (microsecond precision).
    pub captured_at: DateTime<Utc>,
    /// The captured SIP message, as sent on the wire.
    pub payload: Bytes,
    /// The capture agent's correlation id (chunk 0x0011), if any.
    pub correlation_id: Option<String>,
    /// The capture agent's id (chunk 0x000c), if any: with the datagram's source, it says whose
    /// clock stamped `captured_at` (`crate::clock`).
    pub capture_agent: Option<u32>,
}

/// The chunks found in one packet; each slot is filled at most once.
#[derive(Default)]
struct Found<'a> {
    values: [Option<&'a [u8]>; HepChunk::ALL.len()],
}

impl<'a> Found<'a> {
    fn get(&self, chunk: HepChunk) -> Option<&'a [u8]> {
        self.values[usize::from(chunk.type_id()) - 1]
    }

    fn require(&self, chunk: HepChunk) -> Result<&'a [u8], HepError> {
        self.get(chunk).ok_or(HepError::MissingChunk(chunk))
    }
}

fn be_u16(value: &[u8]) -> u16 {
    value.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b))
}

fn be_u32(value: &[u8]) -> u32 {
    value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

fn ip_from(value: &[u8]) -> IpAddr {
    match <[u8; 4]>::try_from(value) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => {
            let mut v6 = [0u8; 16];
            for (slot, byte) in v6.iter_mut().zip(value) {
                *slot = *byte;
            }
            IpAddr::V6(Ipv6Addr::from(v6))
        }
    }
}

impl HepPacket {
    /// Decodes one datagram. When `auth_key` is given, the packet must carry an equal
    /// authentication chunk (compared in constant time); without one, any key is ignored.
    pub fn decode(datagram: &[u8], auth_key: Option<&[u8]>) -> Result<HepPacket, HepError> {
        if datagram.len() < HEADER_LEN {
            return Err(HepError::TooShort { len: datagram.len() });
        }
        if &datagram[..4] != MAGIC {
            return Err(HepError::BadMagic);
        }
        let declared = usize::from(be_u16(&datagram[4..6]));
        if declared != datagram.len() {
            return Err(HepError::LengthMismatch { declared, actual: datagram.len() });
        }

        let mut found = Found::default();
        let mut offset = HEADER_LEN;
        while offset < datagram.len() {
            let header = datagram
                .get(offset..offset + CHUNK_HEADER_LEN)
                .ok_or(HepError::ChunkOutOfBounds { offset, declared: 0 })?;
            let vendor = be_u16(&header[0..2]);
            let type_id = be_u16(&header[2..4]);
            let len = usize::from(be_u16(&header[4..6]));
            if len < CHUNK_HEADER_LEN {
                return Err(HepError::ChunkOutOfBounds { offset, declared: len });
            }
            let value = datagram
                .get(offset + CHUNK_HEADER_LEN..offset + len)
                .ok_or(HepError::ChunkOutOfBounds { offset, declared: len })?;
            offset += len;
            // Vendor chunks and unknown generic types are allowed and skipped.
            let Some(chunk) = (vendor == 0).then(|| HepChunk::from_type_id(type_id)).flatten() else {
                continue;
            };
            if let Some(expected) = chunk.fixed_len() {
                if value.len() != expected {
                    return Err(HepError::BadChunkLength { chunk, len: value.len(), expected });
                }
            }
            let slot = &mut found.values[usize::from(type_id) - 1];
            if slot.is_some() {
                return Err(HepError::DuplicateChunk(chunk));
            }
            *slot = Some(value);
        }

        // Authentication first: an unauthenticated sender learns nothing else about the packet.
        if let Some(expected) = auth_key {
            let given = found.get(HepChunk::AuthKey).ok_or(HepError::AuthFailed)?;
            if !bool::from(given.ct_eq(expected)) {
                return Err(HepError::AuthFailed);
            }
        }

        let family = found.require(HepChunk::IpFamily)?[0];
        found.require(HepChunk::IpProtocol)?;
        let (src_chunk, dst_chunk) = match family {
            FAMILY_IPV4 => (HepChunk::Ipv4Source, HepChunk::Ipv4Destination),
            FAMILY_IPV6 => (HepChunk::Ipv6Source, HepChunk::Ipv6Destination),
            other => return Err(HepError::BadFamily(other)),
        };
        let src_ip = ip_from(found.require(src_chunk)?);
        let dst_ip = ip_from(found.require(dst_chunk)?);
        let src_port = be_u16(found.require(HepChunk::SourcePort)?);
        let dst_port = be_u16(found.require(HepChunk::DestinationPort)?);
        let seconds = be_u32(found.require(HepChunk::TimestampSeconds)?);
        let micros = be_u32(found.require(HepChunk::TimestampMicros)?);
        let captured_at = (micros < 1_000_000)
            .then(|| DateTime::from_timestamp(i64::from(seconds), micros * 1_000))
            .flatten()
            .ok_or(HepError::BadTimestamp { seconds, micros })?;
        let protocol_type = found.require(HepChunk::ProtocolType)?[0];
        if protocol_type != PROTOCOL_TYPE_SIP {
            return Err(HepError::NotSip(protocol_type));
        }
        let payload = match (found.get(HepChunk::Payload), found.get(HepChunk::CompressedPayload)) {
            (Some(payload), _) => Bytes::copy_from_slice(payload),
            (None, Some(_)) => return Err(HepError::CompressedPayload),
            (None, None) => return Err(HepError::MissingChunk(HepChunk::Payload)),
        };
        let correlation_id = found
            .get(HepChunk::CorrelationId)
            .map(|raw| std::str::from_utf8(raw).map(str::to_owned).map_err(|_| HepError::BadCorrelationId))
            .transpose()?;
        let capture_agent = found.get(HepChunk::CaptureAgentId).map(be_u32);

        Ok(HepPacket {
            src: SocketAddr::new(src_ip, src_port),
            dst: SocketAddr::new(dst_ip, dst_port),
            captured_at,
            payload,
            correlation_id,
            capture_agent,
        })
    }

    /// Encodes the packet as HEP3 (IP protocol UDP, protocol type SIP), with an authentication
    /// chunk when `auth_key` is given. `decode(encode(p))` gives `p` back.
    pub fn encode(&self, auth_key: Option<&[u8]>) -> Result<Vec<u8>, HepEncodeError> {
        let seconds = u32::try_from(self.captured_at.timestamp())
            .map_err(|_| HepEncodeError::TimeOutOfRange(self.captured_at))?;
        let micros = self.captured_at.timestamp_subsec_micros().min(999_999);
        let mut out = Vec::with_capacity(128 + self.payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[0, 0]);
        let mut chunk = |chunk: HepChunk, value: &[u8]| -> Result<(), HepEncodeError> {
            let len = CHUNK_HEADER_LEN + value.len();
            let len16 = u16::try_from(len).map_err(|_| HepEncodeError::TooLarge { size: len })?;
            out.extend_from_slice(&0u16.to_be_bytes());
            out.extend_from_slice(&chunk.type_id().to_be_bytes());
            out.extend_from_slice(&len16.to_be_bytes());
            out.extend_from_slice(value);
            Ok(())
        };
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                chunk(HepChunk::IpFamily, &[FAMILY_IPV4])?;
                chunk(HepChunk::IpProtocol, &[IP_PROTOCOL_UDP])?;
                chunk(HepChunk::Ipv4Source, &src.octets())?;
                chunk(HepChunk::Ipv4Destination, &dst.octets())?;
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                chunk(HepChunk::IpFamily, &[FAMILY_IPV6])?;
                chunk(HepChunk::IpProtocol, &[IP_PROTOCOL_UDP])?;
                chunk(HepChunk::Ipv6Source, &src.octets())?;
                chunk(HepChunk::Ipv6Destination, &dst.octets())?;
            }
            _ => return Err(HepEncodeError::MixedFamilies { src: self.src, dst: self.dst }),
        }
        chunk(HepChunk::SourcePort, &self.src.port().to_be_bytes())?;
        chunk(HepChunk::DestinationPort, &self.dst.port().to_be_bytes())?;
        chunk(HepChunk::TimestampSeconds, &seconds.to_be_bytes())?;
        chunk(HepChunk::TimestampMicros, &micros.to_be_bytes())?;
        chunk(HepChunk::ProtocolType, &[PROTOCOL_TYPE_SIP])?;
        if let Some(agent) = self.capture_agent {
            chunk(HepChunk::CaptureAgentId, &agent.to_be_bytes())?;
        }
        if let Some(key) = auth_key {
            chunk(HepChunk::AuthKey, key)?;
        }
        if let Some(correlation_id) = &self.correlation_id {
            chunk(HepChunk::CorrelationId, correlation_id.as_bytes())?;
        }
        chunk(HepChunk::Payload, &self.payload)?;
        let total = u16::try_from(out.len()).map_err(|_| HepEncodeError::TooLarge { size: out.len() })?;
        out[4..6].copy_from_slice(&total.to_be_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet() -> HepPacket {
        HepPacket {
            src: "10.0.0.1:5060".parse().expect("address"),
            dst: "10.0.0.2:5070".parse().expect("address"),
            captured_at: DateTime::from_timestamp(1_700_000_000, 123_456_000).expect("time"),
            payload: Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"),
            correlation_id: Some("abc".to_owned()),
            capture_agent: Some(7),
        }
    }

    /// One generic chunk.
    fn chunk(type_id: u16, value: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0];
        out.extend_from_slice(&type_id.to_be_bytes());
        out.extend_from_slice(&(value.len() as u16 + 6).to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    /// A packet made of the given chunks, with a correct header.
    fn assemble(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut out = b"HEP3".to_vec();
        out.extend_from_slice(&(body.len() as u16 + 6).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn required_chunks() -> Vec<Vec<u8>> {
        vec![
            chunk(1, &[2]),
            chunk(2, &[17]),
            chunk(3, &[10, 0, 0, 1]),
            chunk(4, &[10, 0, 0, 2]),
            chunk(7, &5060u16.to_be_bytes()),
            chunk(8, &5070u16.to_be_bytes()),
            chunk(9, &1_700_000_000u32.to_be_bytes()),
            chunk(10, &5u32.to_be_bytes()),
            chunk(11, &[1]),
            chunk(15, b"SIP"),
        ]
    }

    fn check(datagram: &[u8], key: Option<&[u8]>, expect: Result<(), HepError>) {
        let got = HepPacket::decode(datagram, key).map(|_| ());
        assert_eq!(got, expect, "datagram {datagram:?}");
    }

    #[test]
    fn decode_accepts_a_minimal_packet() {
        let decoded = HepPacket::decode(&assemble(&required_chunks()), None).expect("decodes");
        assert_eq!(decoded.src, "10.0.0.1:5060".parse().expect("address"));
        assert_eq!(decoded.dst, "10.0.0.2:5070".parse().expect("address"));
        assert_eq!(decoded.captured_at, DateTime::from_timestamp(1_700_000_000, 5_000).expect("time"));
        assert_eq!(&decoded.payload[..], b"SIP");
        assert_eq!(decoded.correlation_id, None);
    }

    #[test]
    fn decode_rejects_what_is_not_strict_hep3() {
        let good = assemble(&required_chunks());
        check(b"HEP", None, Err(HepError::TooShort { len: 3 }));
        check(b"HEP2\x00\x06", None, Err(HepError::BadMagic));
        let mut longer = good.clone();
        longer.push(0);
        check(&longer, None, Err(HepError::LengthMismatch { declared: good.len(), actual: good.len() + 1 }));
        check(
            &good[..good.len() - 1],
            None,
            Err(HepError::LengthMismatch { declared: good.len(), actual: good.len() - 1 }),
        );

        // A chunk claiming less than its own header, and one running past the end.
        let mut short_chunk = required_chunks();
        short_chunk.push(vec![0, 0, 0, 0x20, 0, 5]);
        let offset = assemble(&short_chunk).len() - 6;
        check(&assemble(&short_chunk), None, Err(HepError::ChunkOutOfBounds { offset, declared: 5 }));
        let mut past_end = required_chunks();
        past_end.push(vec![0, 0, 0, 0x20, 0, 9, 1]);
        let offset = assemble(&past_end).len() - 7;
        check(&assemble(&past_end), None, Err(HepError::ChunkOutOfBounds { offset, declared: 9 }));
        let mut cut_header = required_chunks();
        cut_header.push(vec![0, 0, 0]);
        let offset = assemble(&cut_header).len() - 3;
        check(&assemble(&cut_header), None, Err(HepError::ChunkOutOfBounds { offset, declared: 0 }));

        let mut chunks = required_chunks();
        chunks[4] = chunk(7, &[1]);
        check(
            &assemble(&chunks),
            None,
            Err(HepError::BadChunkLength { chunk: HepChunk::SourcePort, len: 1, expected: 2 }),
        );
        let mut chunks = required_chunks();
        chunks.push(chunk(15, b"again"));
        check(&assemble(&chunks), None, Err(HepError::DuplicateChunk(HepChunk::Payload)));
        let mut chunks = required_chunks();
        chunks[0] = chunk(1, &[7]);
        check(&assemble(&chunks), None, Err(HepError::BadFamily(7)));
        let mut chunks = required_chunks();
        chunks[0] = chunk(1, &[10]);
        check(&assemble(&chunks), None, Err(HepError::MissingChunk(HepChunk::Ipv6Source)));
        let mut chunks = required_chunks();
        chunks[7] = chunk(10, &1_000_000u32.to_be_bytes());
        check(&assemble(&chunks), None, Err(HepError::BadTimestamp { seconds: 1_700_000_000, micros: 1_000_000 }));
        let mut chunks = required_chunks();
        chunks[8] = chunk(11, &[5]);
        check(&assemble(&chunks), None, Err(HepError::NotSip(5)));
        let mut chunks = required_chunks();
        chunks[9] = chunk(16, b"zz");
        check(&assemble(&chunks), None, Err(HepError::CompressedPayload));
        let mut chunks = required_chunks();
        chunks.push(chunk(17, &[0xff, 0xfe]));
        check(&assemble(&chunks), None, Err(HepError::BadCorrelationId));
    }

    #[test]
    fn decode_requires_every_mandatory_chunk() {
        let expected = [
            HepChunk::IpFamily,
            HepChunk::IpProtocol,
            HepChunk::Ipv4Source,
            HepChunk::Ipv4Destination,
            HepChunk::SourcePort,
            HepChunk::DestinationPort,
            HepChunk::TimestampSeconds,
            HepChunk::TimestampMicros,
            HepChunk::ProtocolType,
            HepChunk::Payload,
        ];
        for (i, missing) in expected.iter().enumerate() {
            let mut chunks = required_chunks();
            chunks.remove(i);
            check(&assemble(&chunks), None, Err(HepError::MissingChunk(*missing)));
        }
    }

    #[test]
    fn decode_skips_vendor_and_unknown_chunks() {
        let mut chunks = required_chunks();
        chunks.push(vec![0, 8, 0, 1, 0, 8, 0xaa, 0xbb]); // vendor 8's type 1 is not our IP family
        chunks.push(chunk(0x99, b"future"));
        check(&assemble(&chunks), None, Ok(()));
    }

    #[test]
    fn decode_checks_the_auth_key_when_configured() {
        let mut with_key = required_chunks();
        with_key.push(chunk(14, b"secret"));
        let with_key = assemble(&with_key);
        let without_key = assemble(&required_chunks());
        check(&with_key, Some(b"secret"), Ok(()));
        check(&with_key, Some(b"secreT"), Err(HepError::AuthFailed));
        check(&with_key, Some(b"secret-longer"), Err(HepError::AuthFailed));
        check(&without_key, Some(b"secret"), Err(HepError::AuthFailed));
        // Without a configured key, a key in the packet is ignored.
        check(&with_key, None, Ok(()));
    }

    #[test]
    fn auth_is_checked_before_anything_else_is_reported() {
        let mut chunks = required_chunks();
        chunks[8] = chunk(11, &[5]);
        check(&assemble(&chunks), Some(b"k"), Err(HepError::AuthFailed));
    }

    #[test]
    fn encode_and_decode_round_trip_v4_and_v6() {
        let v4 = packet();
        let encoded = v4.encode(Some(b"key")).expect("encodes");
        assert_eq!(HepPacket::decode(&encoded, Some(b"key")), Ok(v4.clone()));
        let v6 =
            HepPacket { src: "[::1]:5060".parse().expect("v6"), dst: "[2001:db8::2]:5070".parse().expect("v6"), ..v4 };
        assert_eq!(HepPacket::decode(&v6.encode(None).expect("encodes"), None), Ok(v6));
    }

    #[test]
    fn encode_refuses_what_hep3_cannot_carry() {
        let mixed = HepPacket { dst: "[::1]:1".parse().expect("v6"), ..packet() };
        assert!(matches!(mixed.encode(None), Err(HepEncodeError::MixedFamilies { .. })));
        let huge = HepPacket { payload: Bytes::from(vec![b'x'; 70_000]), ..packet() };
        assert!(matches!(huge.encode(None), Err(HepEncodeError::TooLarge { .. })));
        let early = HepPacket { captured_at: DateTime::from_timestamp(-1, 0).expect("time"), ..packet() };
        assert!(matches!(early.encode(None), Err(HepEncodeError::TimeOutOfRange(_))));
    }

    #[test]
    fn every_error_has_a_distinct_reason() {
        let mut reasons = HepError::REASONS.to_vec();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), HepError::REASONS.len());
        assert_eq!(HepError::AuthFailed.reason(), "auth_failed");
        assert_eq!(HepError::MissingChunk(HepChunk::Payload).to_string(), "required chunk Payload (0x000f) is missing");
    }

    fn any_packet() -> impl Strategy<Value = HepPacket> {
        let v4 = (any::<[u8; 4]>(), any::<u16>(), any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(s, sp, d, dp)| (SocketAddr::from((s, sp)), SocketAddr::from((d, dp))));
        let v6 = (any::<[u8; 16]>(), any::<u16>(), any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(s, sp, d, dp)| (SocketAddr::from((s, sp)), SocketAddr::from((d, dp))));
        (
            prop_oneof![v4, v6],
            any::<u32>(),
            0u32..1_000_000,
            proptest::collection::vec(any::<u8>(), 0..2000),
            proptest::option::of("[ -~]{0,40}"),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|((src, dst), seconds, micros, payload, correlation_id, capture_agent)| HepPacket {
                src,
                dst,
                captured_at: DateTime::from_timestamp(i64::from(seconds), micros * 1000).expect("in range"),
                payload: Bytes::from(payload),
                correlation_id,
                capture_agent,
            })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(packet in any_packet(), key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32))) {
            let encoded = packet.encode(key.as_deref()).expect("encodes");
            prop_assert_eq!(HepPacket::decode(&encoded, key.as_deref()), Ok(packet));
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = HepPacket::decode(&data, None);
            let _ = HepPacket::decode(&data, Some(b"key"));
        }

        #[test]
        fn decode_never_panics_on_mangled_valid_packets(packet in any_packet(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
            let mut encoded = packet.encode(None).expect("encodes");
            for (at, byte) in flips {
                let len = encoded.len();
                encoded[at % len] = byte;
            }
            let _ = HepPacket::decode(&encoded, None);
        }
    }
}
