//! A blocking HTTP/1.1 client of a few lines for the dashboard's tests (one request per
//! connection), and a store to show: routers written through the API, status records.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// `METHOD PATH` against `url` (http://ADDR) with extra header lines and a body.
pub fn request(url: &str, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Answer {
    let addr = url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).expect("connect to the store");
    tcp.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).expect("send");
    tcp.write_all(body).expect("send the body");
    let answer = String::from_utf8_lossy(&read_answer(&mut tcp)).into_owned();
    let (headers, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    Answer {
        status,
        headers: headers.to_owned(),
        body: body.to_owned(),
    }
}

/// Up to the end of the body its Content-Length gives (Chromium's DevTools server keeps
/// the connection open), else to the end of the connection.
fn read_answer(tcp: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = tcp.read(&mut buf).expect("read the answer");
        if n == 0 {
            return answer;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length = text[..end].lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        });
        if length.is_some_and(|len| answer.len() >= end + 4 + len) {
            return answer;
        }
    }
}

pub fn get(url: &str, path: &str) -> Answer {
    request(url, "GET", path, &[], b"")
}

/// A form POST (`application/x-www-form-urlencoded`; values given already encoded).
pub fn post_form(url: &str, path: &str, fields: &[(&str, &str)], extra: &[&str]) -> Answer {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = vec!["Content-Type: application/x-www-form-urlencoded"];
    headers.extend_from_slice(extra);
    request(url, "POST", path, &headers, body.join("&").as_bytes())
}

/// Writes `text` as router `id`'s config (created or replacing the current one).
pub fn put_config(url: &str, auth: &[&str], id: &str, text: &str) -> String {
    let path = format!("/v1/routers/{id}/config");
    let current = request(url, "GET", &path, auth, b"");
    let tag = current
        .headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .map(|t| format!("If-Match: {t}"))
        .unwrap_or_else(|| "If-None-Match: *".into());
    let mut headers = vec![tag.as_str()];
    headers.extend_from_slice(auth);
    let put = request(url, "PUT", &path, &headers, text.as_bytes());
    assert!(put.status == 200 || put.status == 201, "{put:?}");
    put.headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("etag: ")
                .map(str::to_owned)
        })
        .expect("an ETag")
        .trim_matches('"')
        .to_owned()
}

/// A status record as a router sends it, written `ago` seconds before now.
pub fn status_json(ago: u64, heartbeat: u64, phase: &str, reason: Option<&str>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let reason = reason.map_or_else(String::new, |r| {
        format!(",\"reason\":{}", serde_json::Value::from(r))
    });
    format!(
        "{{\"agent_version\":\"0.1.0\",\"unix_time\":{},\"boot_unix_time\":{},\
         \"heartbeat_secs\":{heartbeat},\"phase\":\"{phase}\",\"snapshot_pending\":false,\
         \"bgp\":{{\"up\":1,\"total\":2}}{reason}}}",
        now - ago,
        now - ago - 3600
    )
}

pub fn put_status(url: &str, auth: &[&str], id: &str, json: &str) {
    let put = request(
        url,
        "PUT",
        &format!("/v1/routers/{id}/status"),
        auth,
        json.as_bytes(),
    );
    assert_eq!(put.status, 204, "{put:?}");
}

/// A config that validates; `tag` is one of its routes' metric, so versions differ.
pub fn config(hostname: &str, metric: u32) -> String {
    format!(
        "version = 1\nhostname = \"{hostname}\"\n\n[[interface]]\nname = \"dummy0\"\n\
         kind = \"dummy\"\naddresses = [\"192.0.2.1/24\"]\n\n[[route]]\nto = \"10.0.0.0/8\"\n\
         via = \"192.0.2.254\"\nmetric = {metric}\n"
    )
}
