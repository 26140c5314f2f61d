//! Network boot from the store server: an image version published into a `--images`
//! directory (the initramfs carrying the harness's shell), and qemu's TFTP directory with
//! the store's `boot.ipxe`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::{self, Files, Image};

/// Publishes `image` as `images/<version>/` (vmlinuz, initrd.img with the harness's
/// shell and `files`, cmdline, SHA256SUMS), as an operator would copy a build.
pub fn publish(image: &Image, files: &Files, images: &Path, version: &str) -> PathBuf {
    let dir = images.join(version);
    std::fs::create_dir_all(&dir).expect("image version dir");
    std::fs::copy(&image.vmlinuz, dir.join("vmlinuz")).expect("copy vmlinuz");
    let mut all = image::shell_files();
    all.extend(files.iter().cloned());
    let work = images.join(format!(".work-{version}"));
    std::fs::create_dir_all(&work).expect("overlay work dir");
    image::with_overlay(image, &all, &work, &dir.join("initrd.img"));
    let _ = std::fs::remove_dir_all(&work);
    // The build's own arguments (image-recipe/out/cmdline); the -kernel boots use these.
    std::fs::write(dir.join("cmdline"), &image.cmdline).expect("cmdline");
    let sums = Command::new("sha256sum")
        .args(["vmlinuz", "initrd.img"])
        .current_dir(&dir)
        .output()
        .expect("sha256sum");
    assert!(sums.status.success(), "sha256sum failed");
    std::fs::write(dir.join("SHA256SUMS"), sums.stdout).expect("SHA256SUMS");
    dir
}

/// qemu's TFTP directory: the store's `boot.ipxe` as `GET /boot.ipxe` answers it for a
/// guest (the server then answers with its --public-url).
pub fn tftp_dir(dir: &Path, store_port: u16) -> PathBuf {
    use std::io::{Read, Write};
    std::fs::create_dir_all(dir).expect("tftp dir");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", store_port)).expect("store");
    write!(
        tcp,
        "GET /boot.ipxe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("ask boot.ipxe");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("boot.ipxe");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "GET /boot.ipxe: {head}");
    std::fs::write(dir.join("boot.ipxe"), body).expect("write boot.ipxe");
    dir.to_owned()
}
