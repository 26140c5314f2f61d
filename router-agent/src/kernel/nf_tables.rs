//! Two questions to nf_tables over netlink, without nft: the agent's table's comment, and
//! the ruleset's generation (it changes with every committed transaction, by anyone). Any
//! `nft list` first loads the whole ruleset (a 100k-element set costs as much to list as to
//! load), while these are one small message each.

use std::io;

use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};

use super::netlink::{
    attrs, messages, parse_error, put_attr, put_header, NetlinkError, NLMSG_ERROR, NLMSG_HDRLEN,
    NLM_F_ACK, NLM_F_REQUEST,
};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_GEN_ID: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_USERDATA: u16 = 6;
/// struct nfgenmsg: family, version, resource id.
const NFGENMSG: usize = 4;

/// nftables families as the kernel numbers them (NFPROTO_*).
pub const NFPROTO_INET: u8 = 1;

fn request(msg: u16, family: u8, table: Option<&str>) -> Vec<u8> {
    let mut payload = vec![family, 0, 0, 0];
    if let Some(t) = table {
        put_attr(
            &mut payload,
            NFTA_TABLE_NAME,
            &[t.as_bytes(), &[0]].concat(),
        );
    }
    let mut m = Vec::with_capacity(NLMSG_HDRLEN + payload.len());
    let kind = (NFNL_SUBSYS_NFTABLES << 8) | msg;
    put_header(
        &mut m,
        NLMSG_HDRLEN + payload.len(),
        kind,
        NLM_F_REQUEST | NLM_F_ACK,
        1,
    );
    m.extend_from_slice(&payload);
    m
}

fn malformed(e: NetlinkError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// One message's attributes: (type, value).
type Attrs = Vec<(u16, Vec<u8>)>;

/// The attributes of each message of type `kind` in the answer, up to its ACK; `Ok(None)`
/// when the kernel answers ENOENT.
fn parse_answer(answer: &[u8], kind: u16) -> io::Result<Option<Vec<Attrs>>> {
    let mut found = Vec::new();
    for m in messages(answer) {
        let (k, flags, _, payload) = m.map_err(malformed)?;
        if k == NLMSG_ERROR {
            return match parse_error(flags, payload).map_err(malformed)? {
                None => Ok(Some(found)),
                Some(e) if e.errno == libc::ENOENT => Ok(None),
                Some(e) => Err(io::Error::from_raw_os_error(e.errno)),
            };
        }
        if k == (NFNL_SUBSYS_NFTABLES << 8) | kind && payload.len() >= NFGENMSG {
            found.push(
                attrs(&payload[NFGENMSG..])
                    .map(|(t, v)| (t, v.to_vec()))
                    .collect(),
            );
        }
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

/// Sends one request and collects the answer up to its ACK (an error message).
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
        // Each datagram holds whole messages.
        let acked = messages(&buf[..n]).any(|m| matches!(m, Ok((NLMSG_ERROR, ..))));
        answer.extend_from_slice(&buf[..n]);
        if acked {
            return Ok(answer);
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
