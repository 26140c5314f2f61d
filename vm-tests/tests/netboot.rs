//! Network boot: a VM with `-boot n` and nothing else (no -kernel, disk or ISO) PXE-boots
//! through qemu's iPXE ROM, TFTP (`boot.ipxe`) and the store server (its script by MAC,
//! kernel and initramfs over HTTP), pulls its config and applies it. The same router
//! booted with `-kernel` next to it, both timed from qemu's start to config applied. A
//! second, unlisted MAC boots the default image without a router id; the first router,
//! moved to another image version in `machines.toml`, boots that version next time.

use std::time::Duration;

use router_agent::store::{Expect, RouterId};
use vm_tests::netboot;
use vm_tests::{free_port, BootFrom, Image, Postmortem, Scratch, StoreServer, Vm, VmSpec};

const CONFIG: &str = r#"version = 1
hostname = "rnet"

[[interface]]
name = "svc"
kind = "dummy"
addresses = ["203.0.113.9/32"]
"#;

const MAC: &str = "52:54:00:00:00:0d";

/// The config from the store applied: the agent running, the dummy's address there.
fn assert_applied(vm: &mut Vm) {
    let status = vm.sh("router-agent status 2>&1");
    assert!(status.contains("daemon: running"), "{status}");
    let addr = vm.sh("ip -br addr show dev svc");
    assert!(
        addr.contains("203.0.113.9/32"),
        "the config's address: {addr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_machine_boots_over_the_network_by_its_mac_and_applies_its_config() {
    let image = Image::find();
    let work = Scratch::new("netboot");
    let images = work.path("images");
    netboot::publish(&image, &Vec::new(), &images, "v1");
    let store_dir = work.path("store");
    std::fs::create_dir_all(&store_dir).expect("store dir");
    std::fs::write(
        store_dir.join("machines.toml"),
        format!("[default]\nimage = \"v1\"\n\n[[machine]]\nmac = \"{MAC}\"\nid = \"rnet\"\nmgmt = \"dhcp\"\n"),
    )
    .expect("machines.toml");
    let port = free_port();
    let public = format!("http://10.0.2.2:{port}");
    let store = StoreServer::start_with(
        &store_dir,
        port,
        &[
            "--images".into(),
            images.display().to_string(),
            "--public-url".into(),
            public.clone(),
        ],
    );
    let mut report = Postmortem::new(&store);
    let id = RouterId::new("rnet").expect("id");
    store
        .client()
        .put(&id, CONFIG, &Expect::Absent, "seed")
        .await
        .expect("seed");
    let tftp = netboot::tftp_dir(&work.path("tftp"), port);

    let net_spec = |name: &str, mac_suffix: u8| {
        let mut spec = VmSpec::new(name, mac_suffix);
        spec.mem_mib = 384;
        spec.boot = BootFrom::Network {
            tftp: tftp.clone(),
            bootfile: "boot.ipxe".into(),
        };
        spec
    };
    let spec = net_spec("rnet", 0x0d);
    assert_eq!(spec.mgmt_mac, MAC);
    let mut vm = Vm::boot(spec, &image, &work.0);
    report.watch(&vm);
    let net_time = vm.await_running(Duration::from_secs(300));
    let cmdline = vm.sh("cat /proc/cmdline");
    for want in [
        format!("router.store={public}"),
        "router.image=v1".into(),
        "router.id=rnet".into(),
        "router.mgmt=dhcp".into(),
        "BOOTIF=01-52-54-00-00-00-0d".into(),
    ] {
        assert!(
            cmdline.contains(&want),
            "{want} not in /proc/cmdline: {cmdline}"
        );
    }
    assert!(!cmdline.contains("router.token"), "{cmdline}");
    assert_applied(&mut vm);
    let log = store.log();
    assert!(
        log.contains("boot script for 52:54:00:00:00:0d: router rnet image v1"),
        "{log}"
    );
    vm.kill();

    // Another MAC, not listed: the default image and no router id (it derives its own).
    let mut other = Vm::boot(net_spec("stranger", 0x0e), &image, &work.0);
    report.watch(&other);
    other.await_running(Duration::from_secs(300));
    let cmdline = other.sh("cat /proc/cmdline");
    assert!(
        !cmdline.contains("router.id="),
        "an unlisted machine got an id: {cmdline}"
    );
    assert!(cmdline.contains("router.image=v1"), "{cmdline}");
    let (rc, _) = other.sh_rc("ip link show svc", Duration::from_secs(10));
    assert_ne!(rc, 0, "the unlisted machine has rnet's config");
    assert!(store
        .log()
        .contains("boot script for 52:54:00:00:00:0e: unlisted machine image v1"));
    other.kill();

    // Moved to v2 at its next boot: publish v2, edit the mapping, reboot.
    netboot::publish(&image, &Vec::new(), &images, "v2");
    std::fs::write(
        store_dir.join("machines.toml"),
        format!("[default]\nimage = \"v1\"\n\n[[machine]]\nmac = \"{MAC}\"\nid = \"rnet\"\nimage = \"v2\"\n"),
    )
    .expect("machines.toml");
    let mut vm = Vm::boot(net_spec("rnet-v2", 0x0d), &image, &work.0);
    report.watch(&vm);
    vm.await_running(Duration::from_secs(300));
    let cmdline = vm.sh("cat /proc/cmdline");
    assert!(
        cmdline.contains("router.image=v2") && cmdline.contains("router.id=rnet"),
        "{cmdline}"
    );
    assert_applied(&mut vm);
    vm.kill();

    // The same router from -kernel, for the timing next to it.
    let mut spec = VmSpec::new("rnet-kernel", 0x0d);
    spec.append = format!("router.store={public} router.id=rnet router.mgmt=dhcp");
    let mut vm = Vm::boot(spec, &image, &work.0);
    report.watch(&vm);
    let kernel_time = vm.await_running(Duration::from_secs(300));
    eprintln!(
        "netboot: qemu start to config applied: {:.1} s over the network (iPXE, TFTP, HTTP), {:.1} s with -kernel",
        net_time.as_secs_f64(),
        kernel_time.as_secs_f64()
    );
}
