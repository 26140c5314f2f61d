//! Network boot against a real `router-store serve --images` process: the iPXE
//! scripts per machine, the images streamed with ranges, and the bad requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

fn utf8(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[path = "support/serve.rs"]
mod serve;
use serve::Serve;

/// Raw HTTP against `serve`, byte for byte.
trait RawGet {
    fn addr(&self) -> &str;
    /// A GET sent byte for byte: (status, headers lowercased, body).
    fn get(&self, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
        let mut tcp = TcpStream::connect(self.addr()).expect("connect");
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: close\r\n\r\n",
            self.addr()
        )
        .expect("send");
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).expect("answer");
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header end");
        let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
        let status = head[9..12].parse().expect("status");
        (status, head, answer[split + 4..].to_vec())
    }
}

impl RawGet for Serve {
    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

fn hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Two versions; v-bad's initrd does not match its SHA256SUMS.
fn images(root: &Path) -> Vec<u8> {
    let initrd: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for (v, content) in [
        ("v1", &initrd[..]),
        ("v2", &initrd[..]),
        ("v-bad", &initrd[..10]),
    ] {
        let dir = root.join(v);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("vmlinuz"), b"kernel").expect("write");
        std::fs::write(dir.join("initrd.img"), content).expect("write");
        std::fs::write(dir.join("cmdline"), "rootfstype=ramfs console=ttyS0\n").expect("write");
        let sums = format!(
            "{}  vmlinuz\n{}  initrd.img\n",
            hex(b"kernel"),
            hex(&initrd)
        );
        std::fs::write(dir.join("SHA256SUMS"), sums).expect("write");
    }
    initrd
}

const MACHINES: &str = r#"
[default]
image = "v2"

[[machine]]
mac = "52:54:00:00:00:0b"
id = "r1"
image = "v1"
"#;

#[test]
fn machines_get_their_scripts_and_images_stream_with_ranges() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).expect("mkdir");
    std::fs::write(store.join("machines.toml"), MACHINES).expect("write");
    let initrd = images(&tmp.path().join("images"));
    let s = Serve::start(&store, &["--images", utf8(&tmp.path().join("images"))]);
    let base = s.url.clone();

    let (status, _, body) = s.get("/boot.ipxe", "");
    let body = String::from_utf8(body).expect("text");
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!(
            "chain {base}/ipxe?mac=${{netX/mac:hexhyp}}&uuid=${{uuid}}"
        )),
        "{body}"
    );

    let (status, _, body) = s.get("/ipxe?mac=52-54-00-00-00-0b&uuid=&serial=", "");
    let body = String::from_utf8(body).expect("text");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("kernel {base}/images/v1/vmlinuz rootfstype=ramfs console=ttyS0 initrd=initrd.img router.store={base} router.image=v1 router.id=r1 router.mgmt=dhcp BOOTIF=01-52-54-00-00-00-0b")),
        "{body}"
    );
    assert!(
        body.contains(&format!("initrd {base}/images/v1/initrd.img")),
        "{body}"
    );

    // An unknown MAC: the default image, no router's id.
    let (status, _, body) = s.get(
        "/ipxe?mac=52-54-00-00-00-99&uuid=00000000-0000-0000-0000-000000000000",
        "",
    );
    let body = String::from_utf8(body).expect("text");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("/images/v2/vmlinuz"), "{body}");
    assert!(!body.contains("router.id="), "{body}");

    // Bad input: 4xx and a script that says why and starts over.
    for (path, status_want, why) in [
        ("/ipxe?mac=zz&uuid=", 400, "is not a MAC"),
        ("/ipxe?uuid=", 400, "is not a MAC"),
        (
            "/ipxe?mac=52-54-00-00-00-0b&uuid=nope",
            400,
            "is not a UUID",
        ),
    ] {
        let (status, _, body) = s.get(path, "");
        let body = String::from_utf8(body).expect("text");
        assert_eq!(status, status_want, "{path}: {body}");
        assert!(body.starts_with("#!ipxe\necho router boot: "), "{body}");
        assert!(body.contains(why), "{path}: {body}");
        assert!(
            body.contains(&format!("sleep 10\nchain {base}/boot.ipxe")),
            "{body}"
        );
    }

    // The image: whole, ranges, 416, ETag.
    let (status, head, body) = s.get("/images/v1/initrd.img", "");
    assert_eq!(status, 200);
    assert_eq!(body, initrd);
    assert!(
        head.contains(&format!("content-length: {}", initrd.len())),
        "{head}"
    );
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an ETag")
        .to_owned();
    let (status, head, body) = s.get("/images/v1/initrd.img", "Range: bytes=1000-1999\r\n");
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, &initrd[1000..2000]);
    assert!(
        head.contains(&format!("content-range: bytes 1000-1999/{}", initrd.len())),
        "{head}"
    );
    assert!(head.contains("content-length: 1000"), "{head}");
    let (status, _, body) = s.get("/images/v1/initrd.img", "Range: bytes=-10\r\n");
    assert_eq!((status, &body[..]), (206, &initrd[initrd.len() - 10..]));
    let (status, head, _) = s.get("/images/v1/initrd.img", "Range: bytes=300000-\r\n");
    assert_eq!(status, 416, "{head}");
    assert!(head.contains("content-range: bytes */300000"), "{head}");
    let (status, _, _) = s.get(
        "/images/v1/initrd.img",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(status, 304);
    let (status, _, body) = s.get(
        "/images/v1/initrd.img",
        "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n",
    );
    assert_eq!(
        (status, body.len()),
        (200, initrd.len()),
        "If-Range of another version: all"
    );

    // Traversal, other files, unknown and broken versions.
    for (path, want) in [
        ("/images/..%2f..%2fetc/passwd", 400),
        ("/images/%2e%2e/initrd.img", 400),
        ("/images/v1/cmdline", 404),
        ("/images/v1/..", 404),
        ("/images/v9/vmlinuz", 404),
        ("/images/v-bad/initrd.img", 404),
        ("/images/v1/router.efi", 404),
    ] {
        let (status, _, body) = s.get(path, "");
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
    }
    let log = s.log();
    assert!(
        log.contains("image v-bad: initrd.img does not match SHA256SUMS"),
        "the broken version is reported at start:\n{log}"
    );
}

#[test]
fn the_mapping_is_re_read_and_a_broken_one_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).expect("mkdir");
    let _ = images(&tmp.path().join("images"));
    std::fs::write(store.join("machines.toml"), "[default]\nimage = \"v9\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_router-store"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&store)
        .arg("--images")
        .arg(tmp.path().join("images"))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("image v9 is not among the bootable versions"),
        "{err}"
    );

    std::fs::write(store.join("machines.toml"), MACHINES).expect("write");
    let s = Serve::start(&store, &["--images", utf8(&tmp.path().join("images"))]);
    let ask = "/ipxe?mac=52-54-00-00-00-0c&uuid=";
    let (_, _, body) = s.get(ask, "");
    assert!(String::from_utf8_lossy(&body).contains("/images/v2/"));
    // Moved to v1 at its next boot, by editing the mapping.
    std::fs::write(
        store.join("machines.toml"),
        format!(
            "{MACHINES}\n[[machine]]\nmac = \"52:54:00:00:00:0c\"\nid = \"r2\"\nimage = \"v1\"\n"
        ),
    )
    .expect("write");
    let (_, _, body) = s.get(ask, "");
    let body = String::from_utf8_lossy(&body).into_owned();
    assert!(
        body.contains("/images/v1/") && body.contains("router.id=r2"),
        "{body}"
    );
    // A broken edit keeps the previous mapping.
    std::fs::write(
        store.join("machines.toml"),
        "[[machine]]\nid = \"x\"\nmac = 3\n",
    )
    .expect("write");
    let (status, _, body) = s.get(ask, "");
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200);
    assert!(body.contains("router.id=r2"), "{body}");
}

fn sha256_hex(s: &str) -> String {
    hex(s.as_bytes())
}

/// One request sent byte for byte: (status, body).
fn send(addr: &str, method: &str, path: &str, extra: &str, body: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a header end");
    (head[9..12].parse().expect("status"), body.to_owned())
}

/// The boot script of a listed machine carries a single-use enrolment token, never a
/// router's own; the exchange at `POST /v1/enrol` gives the router a token the store
/// accepts, and a replay gets nothing and is recorded.
#[test]
fn a_boot_script_s_enrolment_token_is_exchanged_once_over_http() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).expect("mkdir");
    std::fs::write(store.join("machines.toml"), MACHINES).expect("write");
    let _ = images(&tmp.path().join("images"));
    let tokens = tmp.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsha256 = \"{}\"\nrouter = \"*\"\n",
            sha256_hex("admin-token")
        ),
    )
    .expect("tokens file");
    let s = Serve::start(
        &store,
        &[
            "--images",
            utf8(&tmp.path().join("images")),
            "--tokens",
            utf8(&tokens),
        ],
    );
    let (status, _, script) = s.get("/ipxe?mac=52-54-00-00-00-0b&uuid=&serial=", "");
    let script = String::from_utf8(script).expect("text");
    assert_eq!(status, 200, "{script}");
    assert!(!script.contains("router.token="), "{script}");
    assert!(!script.contains("admin-token"), "{script}");
    let enrol = script
        .split_whitespace()
        .find_map(|w| w.strip_prefix("router.enrol="))
        .unwrap_or_else(|| panic!("an enrolment token in {script}"))
        .to_owned();
    // An unknown machine gets no enrolment token at all.
    let (_, _, other) = s.get("/ipxe?mac=52-54-00-00-00-99&uuid=", "");
    assert!(!String::from_utf8_lossy(&other).contains("router.enrol="));

    let addr = s.addr().to_owned();
    let (status, answer) = send(&addr, "POST", "/v1/enrol", "", &enrol);
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["router"], "r1", "{answer}");
    let own = answer["token"].as_str().expect("a token").to_owned();
    assert_ne!(own, enrol);

    // The router's own token is accepted for its own config (absent: 404, not 401/403)
    // and refused for another router's.
    let bearer = format!("Authorization: Bearer {own}\r\n");
    let (status, body) = send(&addr, "GET", "/v1/routers/r1/config", &bearer, "");
    assert_eq!(status, 404, "{body}");
    let (status, body) = send(&addr, "GET", "/v1/routers/r2/config", &bearer, "");
    assert_eq!(status, 403, "{body}");

    // A replay gets nothing, and the attempt is on record.
    let (status, body) = send(&addr, "POST", "/v1/enrol", "", &enrol);
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains(&own), "{body}");
    let admin = "Authorization: Bearer admin-token\r\n";
    let (status, events) = send(&addr, "GET", "/v1/routers/r1/enrolments", admin, "");
    assert_eq!(status, 200, "{events}");
    assert!(
        events.contains("enrolled") && events.contains("replayed"),
        "{events}"
    );
}
