//! One qemu guest: booted from the image with an overlay, its console logged, a root shell
//! on ttyS1 driven with begin/end markers.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::image::{self, Files, Image};
use crate::lan::LanNic;

/// A point-to-point link to another VM: one side listens, the other connects.
#[derive(Debug, Clone)]
pub struct Link {
    pub port: u16,
    pub listen: bool,
    pub mac: String,
}

#[derive(Debug, Clone)]
pub struct VmSpec {
    pub name: String,
    pub mem_mib: u32,
    /// Kernel arguments after the console's (router.store=, router.id=, ...).
    pub append: String,
    /// MAC of the management NIC (qemu user network, DHCP and the host at 10.0.2.2).
    pub mgmt_mac: String,
    pub links: Vec<Link>,
    /// NICs on shared segments with several other VMs.
    pub lans: Vec<LanNic>,
    /// Extra files for the root, beside the harness's shell.
    pub files: Files,
    /// Where the guest's kernel comes from.
    pub boot: BootFrom,
    /// TCP ports forwarded from the host's 127.0.0.1 to the guest's management address:
    /// (host, guest).
    pub hostfwd: Vec<(u16, u16)>,
}

/// `-kernel` and `-initrd` from the image, or the network.
#[derive(Debug, Clone, Default)]
pub enum BootFrom {
    #[default]
    Kernel,
    /// `-boot n`: the NIC's iPXE ROM asks qemu's DHCP, fetches `bootfile` from qemu's
    /// TFTP server (serving `tftp`), and goes on from there; no kernel, disk or ISO. The
    /// initramfs served must carry the harness's shell (see `netboot::publish`).
    Network { tftp: PathBuf, bootfile: String },
}

impl VmSpec {
    pub fn new(name: &str, mac_suffix: u8) -> VmSpec {
        VmSpec {
            name: name.into(),
            mem_mib: 256,
            append: String::new(),
            mgmt_mac: format!("52:54:00:00:00:{mac_suffix:02x}"),
            links: Vec::new(),
            lans: Vec::new(),
            files: Vec::new(),
            boot: BootFrom::Kernel,
            hostfwd: Vec::new(),
        }
    }
}

pub struct Vm {
    pub spec: VmSpec,
    child: Child,
    console_log: PathBuf,
    shell: UnixStream,
    out: Arc<Mutex<Vec<u8>>>,
    seq: u64,
    pub started: Instant,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

fn escapes() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\x1b\[[0-9;?]*[a-zA-Z]").expect("a valid regex"))
}

/// KVM only where its module is loaded: elsewhere /dev/kvm may exist and hang a guest.
fn accel() -> &'static str {
    let loaded = ["kvm_intel", "kvm_amd"]
        .iter()
        .any(|m| Path::new("/sys/module").join(m).exists());
    if loaded {
        "kvm"
    } else {
        "tcg"
    }
}

impl Vm {
    /// Boots a guest; its files go under `work/<name>/`.
    pub fn boot(spec: VmSpec, image: &Image, work: &Path) -> Vm {
        let dir = work.join(&spec.name);
        std::fs::create_dir_all(&dir).expect("vm dir");
        let console_log = dir.join("console.log");
        let sock = dir.join("shell.sock");
        let _ = std::fs::remove_file(&sock);
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args([
            "-accel",
            accel(),
            "-m",
            &spec.mem_mib.to_string(),
            "-smp",
            "1",
        ])
        .args(["-nodefaults", "-display", "none", "-no-reboot"]);
        let mut user_net = format!("user,model=virtio-net-pci,mac={}", spec.mgmt_mac);
        for (host, guest) in &spec.hostfwd {
            user_net.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
        }
        match &spec.boot {
            BootFrom::Kernel => {
                let initrd = dir.join("initrd.img");
                let mut files = image::shell_files();
                files.extend(spec.files.iter().cloned());
                image::with_overlay(image, &files, &dir, &initrd);
                cmd.arg("-kernel")
                    .arg(&image.vmlinuz)
                    .arg("-initrd")
                    .arg(&initrd)
                    .arg("-append")
                    .arg(format!("{} {}", image.cmdline, spec.append));
            }
            BootFrom::Network { tftp, bootfile } => {
                cmd.args(["-boot", "n"]);
                user_net.push_str(&format!(",tftp={},bootfile={bootfile}", tftp.display()));
            }
        }
        cmd.arg("-chardev")
            .arg(format!("file,id=con,path={}", console_log.display()))
            .args(["-serial", "chardev:con", "-chardev"])
            .arg(format!(
                "socket,id=sh,path={},server=on,wait=off",
                sock.display()
            ))
            .args(["-serial", "chardev:sh", "-nic"])
            .arg(user_net);
        for l in &spec.links {
            let side = if l.listen { "listen" } else { "connect" };
            cmd.arg("-nic").arg(format!(
                "socket,{side}=127.0.0.1:{},model=virtio-net-pci,mac={}",
                l.port, l.mac
            ));
        }
        for n in &spec.lans {
            cmd.arg("-nic").arg(n.qemu_arg());
        }
        let qemu_log = dir.join("qemu.log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&qemu_log).expect("qemu log"))
            .spawn()
            .expect("start qemu-system-x86_64");
        let started = Instant::now();
        let shell = loop {
            match UnixStream::connect(&sock) {
                Ok(s) => break s,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!(
                    "{}: qemu's shell socket: {e}; qemu said:\n{}",
                    spec.name,
                    std::fs::read_to_string(&qemu_log).unwrap_or_default()
                ),
            }
        };
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut reader = shell.try_clone().expect("clone the shell socket");
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        let mut vm = Vm {
            spec,
            child,
            console_log,
            shell,
            out,
            seq: 0,
            started,
        };
        vm.await_shell(Duration::from_secs(120));
        vm
    }

    /// The console log's file (written by qemu as the guest runs).
    pub fn console_path(&self) -> &Path {
        &self.console_log
    }

    pub fn console(&self) -> String {
        std::fs::read_to_string(&self.console_log).unwrap_or_default()
    }

    fn fail(&self, what: &str) -> ! {
        let console = self.console();
        let tail: Vec<&str> = console.lines().rev().take(80).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{}: {what}\n--- console of {} (last 80 lines) ---\n{}\n---",
            self.spec.name,
            self.spec.name,
            tail.join("\n")
        )
    }

    /// What the shell printed, without the tty's carriage returns and terminal escapes.
    fn text(&self) -> String {
        let raw = String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|p| p.into_inner()))
            .replace('\r', "");
        escapes().replace_all(&raw, "").into_owned()
    }

    fn send(&mut self, line: &str) {
        if let Err(e) = self.shell.write_all(line.as_bytes()) {
            self.fail(&format!("writing to the shell: {e}"));
        }
    }

    /// Pokes the shell until it answers: getty's autologin takes part of the boot.
    fn await_shell(&mut self, limit: Duration) {
        let t = Instant::now();
        loop {
            self.send("\nstty -echo; bind 'set enable-bracketed-paste off' 2>/dev/null; export PS1= PS2=; printf '@@%s@@\\n' ready\n");
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                if self.text().contains("@@ready@@") {
                    return;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    self.fail(&format!("qemu exited ({status}) before the shell answered"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if t.elapsed() > limit {
                self.fail(&format!("no root shell on ttyS1 within {limit:?}"));
            }
        }
    }

    /// Runs a shell command; returns (exit status, output).
    pub fn sh_rc(&mut self, cmd: &str, limit: Duration) -> (i32, String) {
        self.seq += 1;
        let n = self.seq;
        let start = self.text().len();
        self.send(&format!(
            "printf '@@%s@@\\n' b{n}\n{cmd}\nprintf '\\n@@%s@@%d@@\\n' e{n} $?\n"
        ));
        let begin = format!("@@b{n}@@\n");
        let end = format!("@@e{n}@@");
        let t = Instant::now();
        loop {
            let text = self.text();
            let fresh = &text[start.min(text.len())..];
            if let (Some(b), Some(e)) = (fresh.find(&begin), fresh.find(&end)) {
                if e > b {
                    let output = fresh[b + begin.len()..e]
                        .trim_end_matches('\n')
                        .replace('\r', "");
                    let rest = &fresh[e + end.len()..];
                    if let Some(rc) = rest.split("@@").next().and_then(|r| r.parse().ok()) {
                        return (rc, output);
                    }
                }
            }
            if t.elapsed() > limit {
                self.fail(&format!("`{cmd}` did not finish within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a shell command that must succeed; returns its output.
    pub fn sh(&mut self, cmd: &str) -> String {
        let (rc, out) = self.sh_rc(cmd, Duration::from_secs(60));
        if rc != 0 {
            self.fail(&format!("`{cmd}` exited {rc}:\n{out}"));
        }
        out
    }

    /// Polls `cmd` until its output matches `want`.
    pub fn until(
        &mut self,
        what: &str,
        cmd: &str,
        limit: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let t = Instant::now();
        loop {
            let (_, out) = self.sh_rc(cmd, limit);
            if want(&out) {
                return out;
            }
            if t.elapsed() > limit {
                self.fail(&format!(
                    "{what}: not within {limit:?}; last output of `{cmd}`:\n{out}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits for the agent to report its config applied; returns the time since qemu
    /// started.
    pub fn await_running(&mut self, limit: Duration) -> Duration {
        self.until(
            "router-agent running",
            "router-agent status 2>&1",
            limit,
            |s| {
                ["daemon: running", "daemon: DEGRADED", "daemon: FAILED"]
                    .iter()
                    .any(|p| s.contains(p))
            },
        );
        self.started.elapsed()
    }

    /// Power cut: qemu killed.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `poweroff` in the guest, and the ordered shutdown to its end (qemu exits).
    pub fn poweroff(mut self, limit: Duration) {
        self.send("poweroff\n");
        let t = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            if t.elapsed() > limit {
                self.fail(&format!("no power-off within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
