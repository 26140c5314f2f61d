//! Network boot: a VM with `-boot n` and nothing else (no -kernel, disk or ISO) PXE-boots
//! through qemu's iPXE ROM, TFTP (`boot.ipxe`) and the store server (its script by MAC,
//! kernel and initramfs over HTTP), pulls its config and applies it. The same router
//! booted with `-kernel` next to it, both timed from qemu's start to config applied.

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

    let mut spec = VmSpec::new("rnet", 0x0d);
    assert_eq!(spec.mgmt_mac, MAC);
    spec.mem_mib = 384;
    spec.boot = BootFrom::Network {
        tftp,
        bootfile: "boot.ipxe".into(),
    };
    let mut vm = Vm::boot(spec, &image, &work.0);
    report.watch(&vm);
    let net_time = vm.await_running(Duration::from_secs(300));
    let cmdline = vm.sh("cat /proc/cmdline");
    for want in [
        format!("router.store={public}"),
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
    let status = vm.sh("router-agent status 2>&1");
    assert!(status.contains("daemon: running"), "{status}");
    let addr = vm.sh("ip -br addr show dev svc");
    assert!(
        addr.contains("203.0.113.9/32"),
        "the config's address: {addr}"
    );
    let log = store.log();
    assert!(
        log.contains("boot script for 52:54:00:00:00:0d: router rnet image v1"),
        "{log}"
    );
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
