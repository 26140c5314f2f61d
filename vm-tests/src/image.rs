//! The built image (`make image`), and overlays appended to its initramfs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone)]
pub struct Image {
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
    /// The kernel arguments every boot of the image needs, as image-recipe/build.sh wrote
    /// them (`cmdline`): the one source boot-qemu.sh, the smoke test and these tests share.
    pub cmdline: String,
}

impl Image {
    /// `ROUTER_IMAGE_DIR`, else `image-recipe/out` of this repository. Panics with what
    /// to run when the image is missing: these tests never skip.
    pub fn find() -> Image {
        let dir = std::env::var_os("ROUTER_IMAGE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../image-recipe/out"));
        let cmdline_file = dir.join("cmdline");
        let image = Image {
            vmlinuz: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            cmdline: std::fs::read_to_string(&cmdline_file)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        };
        for f in [&image.vmlinuz, &image.initrd, &cmdline_file] {
            assert!(
                f.is_file(),
                "{} missing: build the image first (`make image`), or point ROUTER_IMAGE_DIR at one",
                f.display()
            );
        }
        which("qemu-system-x86_64");
        image
    }
}

fn which(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} not found: run scripts/setup.sh (it installs qemu-system-x86)"
    );
}

/// Files to add to the guest's root: (path inside the guest, content, mode); a content
/// starting with `->` is a symlink to the rest.
pub type Files = Vec<(String, String, u32)>;

/// The root shell on ttyS1 for the harness: autologin, and no noise on that port.
pub fn shell_files() -> Files {
    let dropin = "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200 - vt220\n";
    vec![
        (
            "etc/systemd/system/serial-getty@ttyS1.service.d/harness.conf".into(),
            dropin.into(),
            0o644,
        ),
        (
            "etc/systemd/system/getty.target.wants/serial-getty@ttyS1.service".into(),
            "->/lib/systemd/system/serial-getty@.service".into(),
            0o777,
        ),
    ]
}

/// The image's initramfs with `files` appended by image-recipe/overlay.sh (the same overlay
/// boot-qemu.sh makes), written to `out`.
pub fn with_overlay(image: &Image, files: &Files, work: &Path, out: &Path) {
    let root = work.join("overlay");
    let _ = std::fs::remove_dir_all(&root);
    for (path, content, mode) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().expect("a path under the root")).expect("mkdir");
        if let Some(target) = content.strip_prefix("->") {
            std::os::unix::fs::symlink(target, &p).expect("symlink");
        } else {
            std::fs::write(&p, content).expect("overlay file");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).expect("chmod");
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../image-recipe/overlay.sh");
    let done = Command::new(&script)
        .arg(&image.initrd)
        .arg(out)
        .arg(&root)
        .stderr(Stdio::piped())
        .output()
        .expect("image-recipe/overlay.sh runs (apt-get install cpio)");
    assert!(
        done.status.success(),
        "overlay.sh failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}
