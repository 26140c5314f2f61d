//! The iPXE scripts, as text (pure; `boot.rs` serves them). `boot.ipxe` is the same for
//! every machine and asks `/ipxe` with what the machine says about itself; `/ipxe`
//! answers that machine's kernel, initramfs and kernel arguments. No long-lived token is
//! ever put in a script (anyone on the boot network who claims a MAC can read it): at
//! most a single-use enrolment token (`enrol.rs`).

use super::assets::ImageVersion;
use super::machines::{Mac, MgmtArg};
use router_store_client::RouterId;

/// Seconds a machine waits before asking again after a failure.
pub const RETRY_SECS: u32 = 10;

/// The static first script. iPXE does not run the body of a 4xx answer, so the retry is
/// here: any failure of the chain (server down, 4xx) prints, waits and asks again.
pub fn boot_script(public: &str) -> String {
    format!(
        "#!ipxe\n\
         :retry\n\
         chain {public}/ipxe?mac=${{netX/mac:hexhyp}}&uuid=${{uuid}}&serial=${{serial:uristring}} || goto failed\n\
         :failed\n\
         echo router boot: {public}/ipxe gave no boot script; again in {RETRY_SECS} s\n\
         sleep {RETRY_SECS}\n\
         goto retry\n"
    )
}

/// What one machine boots.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    pub public: &'a str,
    pub image: &'a ImageVersion,
    /// The image's own kernel arguments (its `cmdline` file).
    pub image_args: &'a str,
    pub id: Option<&'a RouterId>,
    pub mgmt: &'a MgmtArg,
    pub mac: Mac,
    /// A single-use enrolment token (`router.enrol=`), for a listed machine of a store
    /// with tokens.
    pub enrol: Option<&'a str>,
}

/// The kernel arguments of a boot, after the image's own.
pub fn kernel_args(b: &Boot<'_>) -> String {
    let mut args = vec![b.image_args.trim().to_owned(), "initrd=initrd.img".into()];
    args.push(format!("router.store={}", b.public));
    // What the router booted, for it and its operators to see in /proc/cmdline.
    args.push(format!("router.image={}", b.image));
    if let Some(id) = b.id {
        args.push(format!("router.id={id}"));
    }
    args.push(format!("router.mgmt={}", b.mgmt.as_str()));
    if let Some(token) = b.enrol {
        args.push(format!("router.enrol={token}"));
    }
    args.push(format!("BOOTIF=01-{}", b.mac.hyphens()));
    args.retain(|a| !a.is_empty());
    args.join(" ")
}

/// The script of one machine; a failed download (or a truncated one iPXE notices) goes
/// back to `boot.ipxe` after a delay rather than stopping at a prompt.
pub fn machine_script(b: &Boot<'_>) -> String {
    let base = format!("{}/images/{}", b.public, b.image);
    let who = b.id.map_or_else(
        || "an unlisted machine (default image, id from DMI or MAC)".to_owned(),
        |id| format!("router {id}"),
    );
    format!(
        "#!ipxe\n\
         echo router boot: {who}, image {image}\n\
         kernel {base}/vmlinuz {args} || goto failed\n\
         initrd {base}/initrd.img || goto failed\n\
         boot || goto failed\n\
         :failed\n\
         echo router boot: loading image {image} failed; again in {RETRY_SECS} s\n\
         sleep {RETRY_SECS}\n\
         chain {public}/boot.ipxe\n",
        image = b.image,
        args = kernel_args(b),
        public = b.public,
    )
}

/// The answer to a bad request: prints why on the console, waits, starts over.
pub fn error_script(public: &str, reason: &str) -> String {
    format!(
        "#!ipxe\necho router boot: {}\nsleep {RETRY_SECS}\nchain {public}/boot.ipxe\n",
        confine(reason)
    )
}

/// Text for an iPXE `echo`: one line, no `${` expansion, no command separators.
fn confine(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .,:;/_=+-()'\"<>@".contains(c) {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot<'a>(image: &'a ImageVersion, id: Option<&'a RouterId>, mgmt: &'a MgmtArg) -> Boot<'a> {
        Boot {
            public: "http://10.0.2.2:8080",
            image,
            image_args: "rootfstype=ramfs console=ttyS0,115200n8 loglevel=4\n",
            id,
            mgmt,
            mac: Mac::parse("52:54:00:00:00:0b").expect("mac"),
            enrol: None,
        }
    }

    #[test]
    fn a_listed_machine_gets_its_id_image_and_mgmt() {
        let v = ImageVersion::new("2026-12-01").expect("v");
        let id = RouterId::new("r1").expect("id");
        let mgmt = MgmtArg::new("192.0.2.10/24,gw=192.0.2.1").expect("mgmt");
        assert_eq!(
            machine_script(&boot(&v, Some(&id), &mgmt)),
            "#!ipxe\n\
             echo router boot: router r1, image 2026-12-01\n\
             kernel http://10.0.2.2:8080/images/2026-12-01/vmlinuz rootfstype=ramfs console=ttyS0,115200n8 loglevel=4 initrd=initrd.img router.store=http://10.0.2.2:8080 router.image=2026-12-01 router.id=r1 router.mgmt=192.0.2.10/24,gw=192.0.2.1 BOOTIF=01-52-54-00-00-00-0b || goto failed\n\
             initrd http://10.0.2.2:8080/images/2026-12-01/initrd.img || goto failed\n\
             boot || goto failed\n\
             :failed\n\
             echo router boot: loading image 2026-12-01 failed; again in 10 s\n\
             sleep 10\n\
             chain http://10.0.2.2:8080/boot.ipxe\n"
        );
    }

    #[test]
    fn an_unlisted_machine_gets_no_id_and_no_token() {
        let v = ImageVersion::new("v1").expect("v");
        let script = machine_script(&boot(&v, None, &MgmtArg::default()));
        assert!(!script.contains("router.id="), "{script}");
        assert!(!script.contains("router.token"), "{script}");
        assert!(
            script.contains(" router.mgmt=dhcp BOOTIF=01-52-54-00-00-00-0b"),
            "{script}"
        );
        assert!(script.contains("unlisted machine"), "{script}");
    }

    #[test]
    fn an_enrolment_token_is_a_kernel_argument_never_a_router_token() {
        let v = ImageVersion::new("v1").expect("v");
        let id = RouterId::new("r1").expect("id");
        let mgmt = MgmtArg::default();
        let mut b = boot(&v, Some(&id), &mgmt);
        b.enrol = Some("00ff");
        let args = kernel_args(&b);
        assert!(
            args.contains(" router.mgmt=dhcp router.enrol=00ff "),
            "{args}"
        );
        assert!(!args.contains("router.token"), "{args}");
    }

    #[test]
    fn the_first_script_asks_with_the_machine_s_identity_and_retries() {
        let s = boot_script("http://store:8080");
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains(
            "chain http://store:8080/ipxe?mac=${netX/mac:hexhyp}&uuid=${uuid}&serial=${serial:uristring} || goto failed\n"
        ), "{s}");
        assert!(s.contains("sleep 10\ngoto retry\n"), "{s}");
    }

    #[test]
    fn error_scripts_say_why_and_cannot_be_injected_into() {
        let s = error_script("http://s", "mac \"${x}\"\nshell: not a MAC");
        assert_eq!(
            s,
            "#!ipxe\necho router boot: mac \"??x?\"?shell: not a MAC\nsleep 10\nchain http://s/boot.ipxe\n"
        );
    }
}
