//! Every example in `configs/` (found by listing the directory, so new files are covered)
//! validates, and survives the render round trip: `render(state)` loaded again gives the
//! same state, and the firewall rendered as `show` does (`Firewall::to_config`) loaded
//! again gives the same firewall.

use std::fs;
use std::path::{Path, PathBuf};

use router_agent::model;

fn configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.expect("listing configs/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Loads an example with the list files beside it.
fn load(path: &Path) -> model::ValidConfig {
    router_agent::config_file::load(&path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_examples_exist() {
    let names: Vec<String> = configs()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for want in [
        "core-router.toml",
        "edge-router.toml",
        "lab.toml",
        "route-server.toml",
    ] {
        assert!(names.iter().any(|n| n == want), "configs/{want} is missing");
    }
}

#[test]
fn every_example_validates() {
    for path in configs() {
        let valid = load(&path);
        assert!(
            !valid.state.links.is_empty() || !valid.state.routes.is_empty(),
            "{}: an example with neither interfaces nor routes",
            path.display()
        );
    }
}

#[test]
fn every_example_survives_render_and_reload() {
    for path in configs() {
        let first = load(&path).state;
        let text = model::render(&first);
        let origin = format!("render of {}", path.display());
        let again = model::load(&origin, &text)
            .unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{text}"))
            .state;
        assert_eq!(
            first,
            again,
            "{}: render round trip (render leaves out values equal to the kernel's default, \
             such as mtu = 1500: leave them out of the example too)\n{text}",
            path.display()
        );
        // Applying the rendered config to a router in the example's state changes nothing.
        let p = router_agent::plan::diff(&again, &first).expect("plannable");
        assert!(
            p.is_empty(),
            "{}: rendered config plans changes:\n{p}",
            path.display()
        );
        // Rendering is stable: the second render is byte for byte the first.
        assert_eq!(
            text,
            model::render(&again),
            "{}: render is not stable",
            path.display()
        );
    }
}

#[test]
fn every_firewall_survives_render_and_reload() {
    let mut seen = 0;
    for path in configs() {
        let valid = load(&path);
        let Some(first) = valid.firewall else {
            continue;
        };
        seen += 1;
        // As `show` prints it: the network state and the firewall read back, in one file.
        let mut config = model::to_config(&valid.state);
        config.firewall = Some(first.to_config());
        let text = model::render_config(&config);
        let origin = format!("render of {}", path.display());
        let again =
            model::load(&origin, &text).unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{text}"));
        assert_eq!(
            Some(&first),
            again.firewall.as_ref(),
            "{}: firewall render round trip\n{text}",
            path.display()
        );
        let mut config = model::to_config(&again.state);
        config.firewall = again.firewall.as_ref().map(|f| f.to_config());
        assert_eq!(
            text,
            model::render_config(&config),
            "{}: firewall render is not stable",
            path.display()
        );
    }
    assert!(seen >= 3, "only {seen} examples have a [firewall]");
}

#[test]
fn large_prefix_lists_render_compactly() {
    let core = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/core-router.toml"));
    let blackholes = core
        .state
        .routes
        .values()
        .filter(|r| r.kind == model::RouteType::Blackhole)
        .count();
    assert!(
        blackholes >= 500,
        "core-router has only {blackholes} blackholes"
    );
    let text = model::render(&core.state);
    // One `prefixes` text block, not hundreds of [[route]] tables.
    assert!(
        text.matches("[[route]]").count() < 20,
        "render wrote a table per route:\n{text}"
    );
}

#[test]
fn every_bgp_section_survives_render_and_reload() {
    let mut peers = 0;
    for path in configs() {
        let Some(first) = load(&path).bgp else {
            continue;
        };
        peers += first.peers.len();
        // As `show` prints it: the model read back from the bird.conf the agent wrote.
        let file = router_agent::bgp::render_file(&first);
        let back = match router_agent::bgp::parse_file("bird.conf", &file) {
            Ok(router_agent::bgp::Read::Agent(b)) => *b,
            other => panic!("{}: read back: {other:?}", path.display()),
        };
        assert_eq!(first, back, "{}: bgp read back", path.display());
        let config = model::Config {
            bgp: Some(back.to_config()),
            ..model::to_config(&load(&path).state)
        };
        let text = model::render_config(&config);
        // The list files stay references; they are read beside the config again.
        let mut reread = model::parse("render", &text).unwrap_or_else(|e| panic!("{e}"));
        for (name, body) in &first.files {
            reread.set_file(name.clone(), Ok(body.clone()));
        }
        let again =
            model::validate_text(reread, "render", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            Some(first),
            again.bgp,
            "{}: [bgp] render round trip",
            path.display()
        );
    }
    assert!(peers >= 20, "the examples have only {peers} BGP peers");
}
