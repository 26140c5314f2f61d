//! Property tests of the config parser: no input makes `model::load` panic, and generated
//! valid configs survive render -> load unchanged. Case counts stay modest (2-core CI).

use proptest::prelude::*;
use router_agent::{model, plan};

mod support;

use support::configs::{config_text, seeds, spec};

/// Whatever loads must render to a config that loads again, and plan as a no-op against
/// itself.
fn check_loaded(text: &str) {
    if let Ok(v) = model::load("fuzz.toml", text) {
        let rendered = model::render(&v.state);
        let again = model::load("rendered.toml", &rendered)
            .unwrap_or_else(|e| panic!("render of an accepted config is refused: {e}\n{rendered}"));
        if let Ok(p) = plan::diff(&again.state, &again.state) {
            assert!(p.is_empty(), "{p}");
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    ReplaceDigit(usize, char),
    SwapLines(usize, usize),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        Just("[".to_owned()),
        Just("]]".to_owned()),
        Just("\"".to_owned()),
        Just("= ".to_owned()),
        Just("\n[[interface]]\n".to_owned()),
        Just("\n[[route]]\n".to_owned()),
        Just("/33".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999".to_owned()),
        Just("::".to_owned()),
        Just("\u{0}".to_owned()),
        Just("é".to_owned()),
        "[ -~]{1,8}",
    ];
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), snippet).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), proptest::char::range('0', '9'))
            .prop_map(|(a, c)| Mutation::ReplaceDigit(a, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

/// The nearest char boundary at or before `i % (len + 1)`.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut s = text.to_owned();
    match m {
        Mutation::Delete(a, n) => {
            let a = boundary(&s, *a);
            let b = boundary(&s, a + n);
            if b > a {
                s.replace_range(a..b, "");
            }
        }
        Mutation::Insert(a, t) => {
            let a = boundary(&s, *a);
            s.insert_str(a, t);
        }
        Mutation::ReplaceDigit(a, c) => {
            let digits: Vec<usize> = s
                .match_indices(|ch: char| ch.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            if !digits.is_empty() {
                let i = digits[a % digits.len()];
                s.replace_range(i..i + 1, &c.to_string());
            }
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = s.lines().collect();
            if !lines.is_empty() {
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
            }
            s = lines.join("\n");
        }
        Mutation::DuplicateLine(a) => {
            let mut lines: Vec<&str> = s.lines().collect();
            if !lines.is_empty() {
                let a = a % lines.len();
                lines.insert(a, lines[a]);
            }
            s = lines.join("\n");
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_loaded(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn toml_shaped_noise_never_panics(text in "(version = 1\n)?(\\[\\[(interface|route|rule)\\]\\]\n|[a-z_]{1,10} = (\"[a-z0-9./:]{0,20}\"|[0-9]{1,6}|true|\\[\"[0-9a-f.:/]{1,20}\"\\])\n){0,12}") {
        check_loaded(&text);
    }

    #[test]
    fn mutated_valid_configs_never_panic(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let mut text = seeds[seed.index(seeds.len())].clone();
        for m in &muts {
            text = apply(&text, m);
        }
        check_loaded(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_survive_render_and_reload(s in spec()) {
        let text = config_text(&s);
        if std::env::var_os("SHOW_GENERATED").is_some() {
            eprintln!("{text}\n----");
        }
        let first = model::load("gen.toml", &text)
            .unwrap_or_else(|e| panic!("generated config is invalid: {e}\n{text}"))
            .state;
        let rendered = model::render(&first);
        let again = model::load("rendered.toml", &rendered)
            .unwrap_or_else(|e| panic!("{e}\n--- generated:\n{text}\n--- rendered:\n{rendered}"))
            .state;
        prop_assert_eq!(&first, &again, "\n--- generated:\n{}\n--- rendered:\n{}", text, rendered);
        prop_assert_eq!(rendered, model::render(&again));
        let p = plan::diff(&again, &first).expect("a state plans against itself");
        prop_assert!(p.is_empty(), "{}", p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A snapshot rendered over any previous text (the examples and golden cases, with their
    /// comments, or another generated config) means exactly the canonical render of the
    /// running config: the merge itself gets there, not the fallback.
    #[test]
    fn rendering_over_a_previous_text_means_exactly_the_canonical_render(
        seed in any::<prop::sample::Index>(),
        prev in spec(),
        s in spec(),
        over_seed in any::<bool>(),
        running_seed in any::<prop::sample::Index>(),
        run_seed in any::<bool>(),
    ) {
        let seeds = seeds();
        let previous = if over_seed {
            seeds[seed.index(seeds.len())].clone()
        } else {
            model::render(&model::load("prev.toml", &config_text(&prev)).expect("generated config").state)
        };
        // A seed as written (firewall and BGP included), or a generated state read back.
        let running = if run_seed {
            let text = &seeds[running_seed.index(seeds.len())];
            model::parse("seed.toml", text).expect("seed config")
        } else {
            model::to_config(&model::load("gen.toml", &config_text(&s)).expect("generated config").state)
        };
        let text = model::try_render_over(&previous, &running)
            .unwrap_or_else(|e| panic!("{e}\n--- previous:\n{previous}\n--- running:\n{}", model::render_config(&running)));
        let back: model::Config = toml::from_str(&text).expect("checked by try_render_over");
        let canonical: model::Config = toml::from_str(&model::render_config(&running)).expect("canonical");
        prop_assert_eq!(back, canonical);
        // Over itself, a text comes back unchanged.
        prop_assert_eq!(model::render_over(&text, &running), text);
    }
}
