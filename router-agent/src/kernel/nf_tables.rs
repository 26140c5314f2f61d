//! Two questions to nf_tables over netlink, without nft: the agent's table's comment, and
//! the ruleset's generation (it changes with every committed transaction, by anyone). Any
//! `nft list` first loads the whole ruleset (a 100k-element set costs as much to list as to
//! load), while these are one small message each.

use std::io;

use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_GEN_ID: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_USERDATA: u16 = 6;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_HDR: usize = 16;
const NFGENMSG: usize = 4;

/// nftables families as the kernel numbers them (NFPROTO_*).
pub const NFPROTO_INET: u8 = 1;

fn request(msg: u16, family: u8, table: Option<&str>) -> Vec<u8> {
    let name = table.map(|t| [t.as_bytes(), &[0]].concat());
    let attr_len = name.as_ref().map_or(0, |n| 4 + n.len());
    let len = NLMSG_HDR + NFGENMSG + attr_len.next_multiple_of(4);
    let mut m = Vec::with_capacity(len);
    m.extend((len as u32).to_ne_bytes());
    m.extend(((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
    m.extend((NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m.extend(1u32.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend([family, 0, 0, 0]);
    if let Some(name) = name {
        m.extend((attr_len as u16).to_ne_bytes());
        m.extend(NFTA_TABLE_NAME.to_ne_bytes());
        m.extend(name);
    }
    m.resize(len, 0);
    m
}

/// One message's attributes: (type, payload).
type Attrs = Vec<(u16, Vec<u8>)>;

/// The attributes of each message of type `kind` in the answer, until the ACK; `Ok(None)`
/// when the kernel answers ENOENT.
fn parse_answer(mut b: &[u8], kind_wanted: u16) -> io::Result<Option<Vec<Attrs>>> {
    let mut found = Vec::new();
    while b.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        if len < NLMSG_HDR || len > b.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            ));
        }
        let body = &b[NLMSG_HDR..len];
        if kind == NLMSG_ERROR {
            let code = body
                .get(..4)
                .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .unwrap_or(-libc::EBADMSG);
            return match -code {
                0 => Ok(Some(found)),
                libc::ENOENT => Ok(None),
                errno => Err(io::Error::from_raw_os_error(errno)),
            };
        }
        if kind == (NFNL_SUBSYS_NFTABLES << 8) | kind_wanted && body.len() >= NFGENMSG {
            let mut attrs = &body[NFGENMSG..];
            let mut out = Vec::new();
            while attrs.len() >= 4 {
                let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                let akind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
                if alen < 4 || alen > attrs.len() {
                    break;
                }
                out.push((akind, attrs[4..alen].to_vec()));
                attrs = &attrs[alen.next_multiple_of(4).min(attrs.len())..];
            }
            found.push(out);
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    Err(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "netlink answer without an ACK",
    ))
}

/// The user data of table `family name` in this network namespace, or `None` if there is
/// no such table.
pub fn table_userdata(family: u8, table: &str) -> io::Result<Option<Vec<u8>>> {
    let answer = exchange(&request(NFT_MSG_GETTABLE, family, Some(table)))?;
    Ok(parse_answer(&answer, NFT_MSG_NEWTABLE)?.map(|tables| {
        tables
            .into_iter()
            .flatten()
            .find(|(k, _)| *k == NFTA_TABLE_USERDATA)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }))
}

/// The ruleset's generation in this network namespace.
pub fn generation() -> io::Result<u32> {
    let answer = exchange(&request(NFT_MSG_GETGEN, 0, None))?;
    parse_answer(&answer, NFT_MSG_NEWGEN)?
        .into_iter()
        .flatten()
        .flatten()
        .find(|(k, v)| *k == NFTA_GEN_ID && v.len() == 4)
        .map(|(_, v)| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no generation in the answer"))
}

/// Sends one request and collects the answer up to its ACK.
fn exchange(req: &[u8]) -> io::Result<Vec<u8>> {
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    sock.send(req, 0)?;
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = sock.recv(&mut &mut buf[..], 0)?;
        if n == 0 {
            return Ok(answer);
        }
        let start = answer.len();
        answer.extend_from_slice(&buf[..n]);
        // Each datagram holds whole messages; the ACK (an error message) ends the answer.
        let mut b = &answer[start..];
        while b.len() >= NLMSG_HDR {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if u16::from_ne_bytes([b[4], b[5]]) == NLMSG_ERROR {
                return Ok(answer);
            }
            if len < NLMSG_HDR || len > b.len() {
                break;
            }
            b = &b[len.next_multiple_of(4).min(b.len())..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_well_formed() {
        let r = request(NFT_MSG_GETTABLE, NFPROTO_INET, Some("router_agent"));
        assert_eq!(r.len(), 16 + 4 + 20);
        assert_eq!(
            u32::from_ne_bytes([r[0], r[1], r[2], r[3]]) as usize,
            r.len()
        );
        assert_eq!(&r[24..36], b"router_agent");
    }

    #[test]
    fn an_error_answer_is_absent_or_an_error() {
        let mut enoent = 36u32.to_ne_bytes().to_vec();
        enoent.extend(NLMSG_ERROR.to_ne_bytes());
        enoent.extend([0u8; 10]);
        enoent.extend((-libc::ENOENT).to_ne_bytes());
        enoent.extend([0u8; 16]);
        assert_eq!(
            parse_answer(&enoent, NFT_MSG_NEWTABLE).expect("absent"),
            None
        );
        let mut eperm = enoent.clone();
        eperm[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert!(parse_answer(&eperm, NFT_MSG_NEWTABLE).is_err());
    }
}
