//! One journal entry (journalctl's JSON) to one RFC 5424 message. Pure: the transports
//! add the framing (RFC 6587 octet counting over TCP, one datagram over UDP).

use std::fmt::Write;

/// A message longer than this is cut (at a character boundary): a collector keeps it in
/// one record, and a datagram stays deliverable.
pub const MAX_FRAME: usize = 8192;

/// What a frame is built from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Microseconds since the Unix epoch (`__REALTIME_TIMESTAMP`).
    pub realtime_us: Option<u64>,
    /// Syslog severity 0..=7 (`PRIORITY`, default 6: info).
    pub severity: u8,
    /// Syslog facility 0..=23 (`SYSLOG_FACILITY`; kernel messages 0, else 3: daemon).
    pub facility: u8,
    /// `SYSLOG_IDENTIFIER`, else `_COMM` (kernel messages: "kernel").
    pub app: Option<String>,
    pub pid: Option<String>,
    pub unit: Option<String>,
    pub message: String,
}

/// A journal field's text: journalctl writes a string, or an array of bytes for what is
/// not UTF-8 (or holds control characters), or null.
fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(bytes) => {
            let b: Vec<u8> = bytes
                .iter()
                .filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            Some(String::from_utf8_lossy(&b).into_owned())
        }
        _ => None,
    }
}

impl Entry {
    /// One line of `journalctl -o json`; none for what is not an object with a MESSAGE.
    pub fn from_json(line: &[u8]) -> Option<Entry> {
        let v: serde_json::Value = serde_json::from_slice(line).ok()?;
        let field = |k: &str| v.get(k).and_then(text);
        let number = |k: &str| field(k).and_then(|s| s.parse::<u8>().ok());
        let kernel = field("_TRANSPORT").as_deref() == Some("kernel");
        Some(Entry {
            realtime_us: field("__REALTIME_TIMESTAMP").and_then(|s| s.parse().ok()),
            severity: number("PRIORITY").filter(|p| *p <= 7).unwrap_or(6),
            facility: number("SYSLOG_FACILITY")
                .filter(|f| *f <= 23)
                .unwrap_or(if kernel { 0 } else { 3 }),
            app: field("SYSLOG_IDENTIFIER")
                .or_else(|| field("_COMM"))
                .or_else(|| kernel.then(|| "kernel".to_owned())),
            pid: field("_PID"),
            unit: field("_SYSTEMD_UNIT"),
            message: field("MESSAGE")?,
        })
    }
}

/// A header field: PRINTUSASCII (33..=126) only, at most `max` bytes, "-" when empty.
fn header(out: &mut String, s: Option<&str>, max: usize) {
    let clean: String = s
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    out.push_str(if clean.is_empty() { "-" } else { &clean });
    out.push(' ');
}

/// An SD-PARAM value: '"', '\' and ']' escaped with '\' (RFC 5424, 6.3.3).
fn sd_value(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// RFC 3339 in UTC with microseconds, from microseconds since the epoch.
fn timestamp(us: u64) -> String {
    let secs = us / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = router_model::human::civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        us % 1_000_000
    )
}

/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`. The hostname is the router
/// id; the unit goes in `[journal@32473 unit=".."]` (32473: RFC 5612's example number,
/// for a private SD-ID). MSG is the journal's text, UTF-8 without a BOM (MSG-ANY), one
/// trailing newline removed.
pub fn frame(e: &Entry, hostname: &str) -> Vec<u8> {
    let mut out = String::with_capacity(128 + e.message.len());
    let _ = write!(
        out,
        "<{}>1 ",
        u16::from(e.facility) * 8 + u16::from(e.severity)
    );
    match e.realtime_us {
        Some(us) => {
            out.push_str(&timestamp(us));
            out.push(' ');
        }
        None => out.push_str("- "),
    }
    header(&mut out, Some(hostname), 255);
    header(&mut out, e.app.as_deref(), 48);
    header(&mut out, e.pid.as_deref(), 128);
    out.push_str("- ");
    match &e.unit {
        Some(unit) => {
            out.push_str("[journal@32473 unit=\"");
            sd_value(&mut out, unit);
            out.push_str("\"]");
        }
        None => out.push('-'),
    }
    let msg = e.message.strip_suffix('\n').unwrap_or(&e.message);
    if !msg.is_empty() {
        out.push(' ');
        out.push_str(msg);
    }
    let mut cut = out.len().min(MAX_FRAME);
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    out.into_bytes()
}

#[cfg(test)]
mod tests;
