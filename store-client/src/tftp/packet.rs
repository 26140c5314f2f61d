//! TFTP packets (RFC 1350) with option negotiation (RFC 2347: OACK; 2348: blksize;
//! 2349: tsize).

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// Error codes of RFC 1350.
pub(super) const FILE_NOT_FOUND: u16 = 1;
pub(super) const UNKNOWN_TID: u16 = 5;
/// RFC 2347: the client ends a transfer whose options it cannot accept.
pub(super) const BAD_OPTIONS: u16 = 8;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Packet<'a> {
    Data {
        block: u16,
        payload: &'a [u8],
    },
    Error {
        code: u16,
        message: String,
    },
    /// The options the server accepted, names lower-cased.
    Oack(Vec<(String, String)>),
    /// Anything a server should not send a reading client (RRQ, WRQ, ACK).
    Other(u16),
}

/// A read request in octet mode, asking for `blksize` and the size (`tsize` 0).
pub(super) fn rrq(path: &str, blksize: u16) -> Vec<u8> {
    let mut p = RRQ.to_be_bytes().to_vec();
    for field in [path, "octet", "blksize", &blksize.to_string(), "tsize", "0"] {
        p.extend_from_slice(field.as_bytes());
        p.push(0);
    }
    p
}

pub(super) fn ack(block: u16) -> Vec<u8> {
    let mut p = ACK.to_be_bytes().to_vec();
    p.extend_from_slice(&block.to_be_bytes());
    p
}

pub(super) fn error(code: u16, message: &str) -> Vec<u8> {
    let mut p = ERROR.to_be_bytes().to_vec();
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

pub(super) fn parse(bytes: &[u8]) -> Result<Packet<'_>, String> {
    let (Some(op), Some(rest)) = (bytes.get(..2), bytes.get(2..)) else {
        return Err(format!("a {}-byte packet", bytes.len()));
    };
    let op = u16::from_be_bytes([op[0], op[1]]);
    match op {
        DATA => match rest.split_at_checked(2) {
            Some((block, payload)) => Ok(Packet::Data {
                block: u16::from_be_bytes([block[0], block[1]]),
                payload,
            }),
            None => Err("a DATA packet without a block number".into()),
        },
        ERROR => match rest.split_at_checked(2) {
            Some((code, message)) => Ok(Packet::Error {
                code: u16::from_be_bytes([code[0], code[1]]),
                message: String::from_utf8_lossy(
                    message.split(|&b| b == 0).next().unwrap_or_default(),
                )
                .into_owned(),
            }),
            None => Err("an ERROR packet without a code".into()),
        },
        OACK => {
            let fields: Vec<String> = rest
                .strip_suffix(&[0])
                .ok_or("an OACK packet not ending in NUL")?
                .split(|&b| b == 0)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            if fields.len() % 2 != 0 {
                return Err("an OACK packet with an option but no value".into());
            }
            Ok(Packet::Oack(
                fields
                    .chunks(2)
                    .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].clone()))
                    .collect(),
            ))
        }
        other => Ok(Packet::Other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses() {
        assert_eq!(
            rrq("a/b", 1428),
            b"\x00\x01a/b\x00octet\x00blksize\x001428\x00tsize\x000\x00"
        );
        assert_eq!(ack(258), b"\x00\x04\x01\x02");
        assert_eq!(
            parse(b"\x00\x03\x00\x07hi"),
            Ok(Packet::Data {
                block: 7,
                payload: b"hi"
            })
        );
        assert_eq!(
            parse(&error(1, "File not found")),
            Ok(Packet::Error {
                code: 1,
                message: "File not found".into()
            })
        );
        assert_eq!(
            parse(b"\x00\x06BLKSIZE\x00512\x00tsize\x009\x00"),
            Ok(Packet::Oack(vec![
                ("blksize".into(), "512".into()),
                ("tsize".into(), "9".into())
            ]))
        );
        assert_eq!(parse(b"\x00\x04\x00\x01"), Ok(Packet::Other(4)));
        for bad in [
            &b""[..],
            b"\x00",
            b"\x00\x03\x00",
            b"\x00\x06a\x00",
            b"\x00\x06a",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
