//! List files beside the config (IRR-derived, e.g. written by bgpq4): one entry a line,
//! blank lines and `#` comments ignored. Errors name the file and line.

use super::{Asn, ListFile, PrefixPattern};

/// More errors than this in one file are counted, not listed.
const SHOWN: usize = 10;

fn parse_lines<T>(
    file: &ListFile,
    text: &str,
    entry: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut more = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match entry(line) {
            Ok(v) => out.push(v),
            Err(m) if errors.len() < SHOWN => errors.push(format!("{file}:{}: {m}", i + 1)),
            Err(_) => more += 1,
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    if more > 0 {
        errors.push(format!("{file}: and {more} more lines like these"));
    }
    Err(errors.join("\n  "))
}

/// `P`, `P+`, `P{MIN,MAX}`, or `P` followed by `ge MIN` and/or `le MAX`.
fn prefix_line(line: &str) -> Result<PrefixPattern, String> {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    if rest.is_empty() {
        return first.parse();
    }
    let bad = || format!("{line:?}: write P, P+, P{{MIN,MAX}}, or P ge MIN le MAX");
    let mut ge = None;
    let mut le = None;
    for pair in rest.chunks(2) {
        let n = pair
            .get(1)
            .and_then(|n| n.parse::<u8>().ok())
            .ok_or_else(bad)?;
        match pair[0] {
            "ge" if ge.is_none() => ge = Some(n),
            "le" if le.is_none() => le = Some(n),
            _ => return Err(bad()),
        }
    }
    let net: ipnet::IpNet = first.parse().map_err(|_| bad())?;
    let min = ge.unwrap_or(net.prefix_len());
    let max = le.unwrap_or(net.max_prefix_len());
    format!("{first}{{{min},{max}}}")
        .parse()
        .map_err(|m: String| format!("{line:?}: {m}"))
}

/// The prefix patterns of a list file.
pub fn prefixes(file: &ListFile, text: &str) -> Result<Vec<PrefixPattern>, String> {
    parse_lines(file, text, prefix_line)
}

/// The origin ASNs of a list file, `64501` or `AS64501` a line.
pub fn origins(file: &ListFile, text: &str) -> Result<Vec<Asn>, String> {
    parse_lines(file, text, str::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> ListFile {
        "as64501.prefixes".parse().expect("name")
    }

    #[test]
    fn prefix_lines_in_every_form() {
        let text = "# bgpq4 -A AS64501\n185.1.0.0/16{16,24}\n\n185.2.0.0/22+  # aggregate\n185.3.0.0/16 le 24\n185.4.0.0/16 ge 20 le 22\n2001:db8::/32 ge 48\n185.5.0.0/24\n";
        let got: Vec<String> = prefixes(&file(), text)
            .expect("valid")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "185.1.0.0/16{16,24}",
                "185.2.0.0/22+",
                "185.3.0.0/16{16,24}",
                "185.4.0.0/16{20,22}",
                "2001:db8::/32{48,128}",
                "185.5.0.0/24"
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = prefixes(
            &file(),
            "185.1.0.0/16\n185.1.0.0/33\n185.2.0.0/16 le\n10.0.0.0/8 le 4\n",
        )
        .expect_err("invalid");
        assert!(
            e.contains("as64501.prefixes:2: \"185.1.0.0/33\" is not a prefix"),
            "{e}"
        );
        assert!(
            e.contains("as64501.prefixes:3: \"185.2.0.0/16 le\": write P"),
            "{e}"
        );
        assert!(e.contains("as64501.prefixes:4: \"10.0.0.0/8 le 4\""), "{e}");
        let many: String = (0..25).map(|i| format!("bad{i}\n")).collect();
        let e = prefixes(&file(), &many).expect_err("invalid");
        assert!(e.contains(":10: ") && !e.contains(":11: "), "{e}");
        assert!(e.ends_with("and 15 more lines like these"), "{e}");
        let e = origins(&file(), "AS64501\n64502\nAS23456\n").expect_err("AS_TRANS");
        assert!(
            e.starts_with("as64501.prefixes:3: ASN 23456 is AS_TRANS"),
            "{e}"
        );
    }
}
