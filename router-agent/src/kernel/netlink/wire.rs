//! The netlink wire format: message headers, attributes and error replies, read and
//! written by hand where a million routes make the crates' per-message allocations count.

use super::{NetlinkError, NlError, NLMSGERR_ATTR_MSG, NLMSG_HDRLEN, NLM_F_ACK_TLVS};

pub(crate) fn put_header(out: &mut Vec<u8>, len: usize, kind: u16, flags: u16, seq: u32) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The netlink messages in one datagram: (type, flags, seq, payload).
pub(crate) fn messages(
    mut b: &[u8],
) -> impl Iterator<Item = Result<(u16, u16, u32, &[u8]), NetlinkError>> {
    std::iter::from_fn(move || {
        if b.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32_at(b, 0) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            b = &[];
            return Some(Err(NetlinkError::Malformed(format!(
                "message length {len}"
            ))));
        }
        let item = (
            u16_at(b, 4),
            u16_at(b, 6),
            u32_at(b, 8),
            &b[NLMSG_HDRLEN..len],
        );
        b = &b[(len + 3) & !3..];
        Some(Ok(item))
    })
}

/// The error code and extended-ack message of an NLMSG_ERROR payload.
pub(crate) fn parse_error(flags: u16, p: &[u8]) -> Result<Option<NlError>, NetlinkError> {
    if p.len() < 4 {
        return Err(NetlinkError::Malformed("short error message".into()));
    }
    let code = i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
    if code == 0 {
        return Ok(None);
    }
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 && p.len() >= 4 + NLMSG_HDRLEN {
        // With NETLINK_CAP_ACK the request is not echoed: only its header precedes the TLVs.
        let orig_len = u32_at(p, 4) as usize;
        let skip = 4 + if flags & 0x100 != 0 {
            NLMSG_HDRLEN
        } else {
            orig_len.max(NLMSG_HDRLEN)
        };
        let mut t = p.get(skip..).unwrap_or(&[]);
        while t.len() >= 4 {
            let len = u16_at(t, 0) as usize;
            if len < 4 || len > t.len() {
                break;
            }
            if u16_at(t, 2) == NLMSGERR_ATTR_MSG {
                message = Some(
                    String::from_utf8_lossy(&t[4..len])
                        .trim_end_matches('\0')
                        .to_owned(),
                );
            }
            t = &t[((len + 3) & !3).min(t.len())..];
        }
    }
    Ok(Some(NlError {
        errno: -code,
        message,
    }))
}

/// Appends a netlink attribute (type, value), padded to 4 bytes.
pub fn put_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// An address as netlink carries it: 4 or 16 bytes.
pub fn ip_bytes(a: &std::net::IpAddr) -> Vec<u8> {
    match a {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// An address attribute's value; `None` unless it is 4 or 16 bytes.
pub fn parse_ip(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// The attributes in `b`: (type without flag bits, value).
pub fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16_at(b, 0) as usize;
        if len < 4 || len > b.len() {
            return None;
        }
        let item = (u16_at(b, 2) & 0x3fff, &b[4..len]);
        b = &b[((len + 3) & !3).min(b.len())..];
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut b = Vec::new();
        put_attr(&mut b, 1, &[1, 2, 3]);
        put_attr(&mut b, 6, &7u32.to_ne_bytes());
        let got: Vec<_> = attrs(&b).collect();
        assert_eq!(
            got,
            vec![(1, &[1u8, 2, 3][..]), (6, &7u32.to_ne_bytes()[..])]
        );
    }

    #[test]
    fn error_with_extack_message() {
        let mut p = (-17i32).to_ne_bytes().to_vec();
        put_header(&mut p, 40, 24, 0, 9);
        put_attr(&mut p, NLMSGERR_ATTR_MSG, b"File exists\0");
        let e = parse_error(NLM_F_ACK_TLVS | 0x100, &p).unwrap().unwrap();
        assert_eq!(e.errno, 17);
        assert_eq!(e.message.as_deref(), Some("File exists"));
        assert_eq!(parse_error(0, &0i32.to_ne_bytes()).unwrap(), None);
    }
}
