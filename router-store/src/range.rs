//! HTTP range requests (RFC 9110 §14) for the boot assets: one range per request, which
//! is what iPXE, curl and a resumed download send. Pure: the caller has the file's length.

/// What to send for a `Range` header against a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 and the whole body: no `Range`, a unit other than bytes, several ranges or a
    /// malformed header (a server may ignore a Range it does not serve).
    Full,
    /// 206 with bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

impl RangeAnswer {
    /// The `Content-Range` header of a 206 or 416 answer.
    pub fn content_range(self, len: u64) -> Option<String> {
        match self {
            RangeAnswer::Full => None,
            RangeAnswer::Partial { start, end } => Some(format!("bytes {start}-{end}/{len}")),
            RangeAnswer::Unsatisfiable => Some(format!("bytes */{len}")),
        }
    }
}

/// Parses a `Range` header value for a body of `len` bytes.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        // u64's parser takes a leading '+'; a range does not.
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-N`: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if len == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            None => RangeAnswer::Full,
        },
        // `A-`: from A to the end.
        (false, true) => match number(first) {
            Some(a) if a >= len => RangeAnswer::Unsatisfiable,
            Some(a) => RangeAnswer::Partial {
                start: a,
                end: len - 1,
            },
            None => RangeAnswer::Full,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => RangeAnswer::Full,
            (Some(a), Some(_)) if a >= len => RangeAnswer::Unsatisfiable,
            (Some(a), Some(b)) => RangeAnswer::Partial {
                start: a,
                end: b.min(len - 1),
            },
            _ => RangeAnswer::Full,
        },
        (true, true) => RangeAnswer::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::{Full, Partial, Unsatisfiable};
    use super::*;

    #[test]
    fn single_ranges() {
        let p = |h| parse_range(Some(h), 1000);
        assert_eq!(p("bytes=0-99"), Partial { start: 0, end: 99 });
        assert_eq!(
            p("bytes=500-"),
            Partial {
                start: 500,
                end: 999
            }
        );
        assert_eq!(
            p("bytes=-100"),
            Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(p("bytes=-5000"), Partial { start: 0, end: 999 });
        assert_eq!(
            p("bytes=990-5000"),
            Partial {
                start: 990,
                end: 999
            }
        );
        assert_eq!(
            p("bytes=999-999"),
            Partial {
                start: 999,
                end: 999
            }
        );
        assert_eq!(p(" bytes= 1 - 2 "), Partial { start: 1, end: 2 });
    }

    #[test]
    fn unsatisfiable() {
        let p = |h| parse_range(Some(h), 1000);
        assert_eq!(p("bytes=1000-"), Unsatisfiable);
        assert_eq!(p("bytes=1000-2000"), Unsatisfiable);
        assert_eq!(p("bytes=-0"), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-1"), 0), Unsatisfiable);
        assert_eq!(
            Unsatisfiable.content_range(1000).as_deref(),
            Some("bytes */1000")
        );
    }

    #[test]
    fn ignored_headers_give_the_whole_body() {
        let p = |h| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), Full);
        for h in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(p(h), Full, "{h}");
        }
    }

    #[test]
    fn content_range_of_a_part() {
        let part = parse_range(Some("bytes=10-19"), 100);
        assert_eq!(part.content_range(100).as_deref(), Some("bytes 10-19/100"));
        assert_eq!(Full.content_range(100), None);
    }
}
