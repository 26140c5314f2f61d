//! The fleet table: filtered, sorted and paged on the server (`?q=&health=&sort=&desc=&
//! page=&per=`), so that a thousand routers cost one page of rows in the browser. Health
//! (stale, broken, ...) is store-client's [`fleet::row`], the same as `store ls`.

use router_model::human::{age, short};
use router_store_client::fleet::{FleetRow, Health};
use router_store_client::RouterId;
use serde::{Deserialize, Serialize};

pub const DEFAULT_PER: usize = 50;
pub const MAX_PER: usize = 500;

/// The query as sent: every field text, so that a hand-edited URL gets defaults, not a 400.
#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    page: Option<String>,
    per: Option<String>,
    sort: Option<String>,
    desc: Option<String>,
    q: Option<String>,
    health: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    Id,
    Health,
    Uptime,
    Version,
    Seen,
    Bgp,
}

impl SortKey {
    fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "id" => SortKey::Id,
            "health" => SortKey::Health,
            "uptime" => SortKey::Uptime,
            "version" => SortKey::Version,
            "seen" => SortKey::Seen,
            "bgp" => SortKey::Bgp,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub page: usize,
    pub per: usize,
    pub sort: SortKey,
    pub desc: bool,
    pub q: String,
    /// One of [`health_name`]'s names, or empty for all.
    pub health: String,
}

impl From<RawQuery> for Params {
    fn from(raw: RawQuery) -> Self {
        let number = |s: Option<String>| s.and_then(|s| s.trim().parse::<usize>().ok());
        let health = raw.health.unwrap_or_default();
        Params {
            page: number(raw.page).unwrap_or(1).max(1),
            per: number(raw.per).unwrap_or(DEFAULT_PER).clamp(1, MAX_PER),
            sort: raw
                .sort
                .as_deref()
                .and_then(SortKey::parse)
                .unwrap_or(SortKey::Id),
            desc: raw.desc.is_some_and(|d| d == "1"),
            q: raw.q.unwrap_or_default().trim().chars().take(100).collect(),
            health: if HEALTHS.contains(&health.as_str()) {
                health
            } else {
                String::new()
            },
        }
    }
}

impl Params {
    /// Sorting by id without a health filter needs only the rows of the page shown.
    pub fn needs_all_rows(&self) -> bool {
        self.sort != SortKey::Id || !self.health.is_empty()
    }
}

pub const HEALTHS: [&str; 5] = ["ok", "degraded", "stale", "broken", "no-report"];

pub fn health_name(h: Health) -> &'static str {
    match h {
        Health::Ok => "ok",
        Health::Degraded => "degraded",
        Health::Stale => "stale",
        Health::Broken => "broken",
        Health::NoReport => "no-report",
    }
}

/// Ids containing `q` (case-insensitive), sorted.
pub fn filter_ids(mut ids: Vec<RouterId>, q: &str) -> Vec<RouterId> {
    ids.sort();
    ids.dedup();
    let q = q.to_lowercase();
    ids.retain(|id| id.as_str().to_lowercase().contains(&q));
    ids
}

#[derive(Debug, Clone, Serialize)]
pub struct Paging {
    pub page: usize,
    pub pages: usize,
    pub total: usize,
    pub first: usize,
    pub last: usize,
}

/// Page `page` (from 1; past the end: the last) of `items`, `per` a page.
pub fn page_of<T>(items: Vec<T>, page: usize, per: usize) -> (Vec<T>, Paging) {
    let total = items.len();
    let pages = total.div_ceil(per).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * per;
    let shown: Vec<T> = items.into_iter().skip(start).take(per).collect();
    let paging = Paging {
        page,
        pages,
        total,
        first: if shown.is_empty() { 0 } else { start + 1 },
        last: start + shown.len(),
    };
    (shown, paging)
}

fn bgp_up(r: &FleetRow) -> Option<(u32, u32)> {
    r.status
        .as_ref()
        .and_then(|s| s.bgp)
        .map(|b| (b.up, b.total))
}

/// Sorted by `key` (ties by id), reversed with `desc`.
pub fn sort_rows(rows: &mut [FleetRow], key: SortKey, desc: bool) {
    let rank = |h: Health| HEALTHS.iter().position(|n| *n == health_name(h));
    rows.sort_by(|a, b| {
        let (sa, sb) = (a.status.as_ref(), b.status.as_ref());
        let order = match key {
            SortKey::Id => std::cmp::Ordering::Equal,
            SortKey::Health => rank(a.health).cmp(&rank(b.health)),
            SortKey::Uptime => sa
                .map(|s| s.uptime_secs())
                .cmp(&sb.map(|s| s.uptime_secs())),
            SortKey::Version => a.current_version.cmp(&b.current_version),
            SortKey::Seen => sa.map(|s| s.unix_time).cmp(&sb.map(|s| s.unix_time)),
            SortKey::Bgp => bgp_up(a).cmp(&bgp_up(b)),
        };
        order.then_with(|| a.id.cmp(&b.id))
    });
    if desc {
        rows.reverse();
    }
}

/// One row as the page shows it: text only.
#[derive(Debug, Clone, Serialize)]
pub struct RowView {
    pub id: String,
    pub health: &'static str,
    pub uptime: String,
    pub store_version: String,
    pub running_version: String,
    /// The router runs what the store holds.
    pub in_sync: bool,
    pub seen: String,
    pub bgp: String,
    /// Why it is broken or degraded.
    pub notes: Vec<String>,
}

pub fn view(r: &FleetRow, now: u64) -> RowView {
    let s = r.status.as_ref();
    let dash = || "-".to_owned();
    let mut notes = r.problems.clone();
    if let Some(why) = s.filter(|s| s.degraded()).and_then(|s| s.reason.as_ref()) {
        notes.push(why.clone());
    }
    let running = s.and_then(|s| s.running_version.clone());
    RowView {
        id: r.id.clone(),
        health: health_name(r.health),
        uptime: s.map_or_else(dash, |s| age(s.uptime_secs())),
        store_version: r
            .current_version
            .as_deref()
            .map_or_else(dash, |v| short(v).to_owned()),
        running_version: running
            .as_deref()
            .map_or_else(dash, |v| short(v).to_owned()),
        in_sync: running.is_some() && running == r.current_version,
        seen: s.map_or_else(dash, |s| {
            format!("{} ago", age(now.saturating_sub(s.unix_time)))
        }),
        bgp: s.and_then(|s| s.bgp).map_or_else(dash, |b| {
            if b.bird_unreachable {
                "BIRD down".to_owned()
            } else {
                format!("{}/{}", b.up, b.total)
            }
        }),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Params {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let raw: RawQuery = parse_query(&text.join("&"));
        Params::from(raw)
    }

    fn parse_query(q: &str) -> RawQuery {
        let mut raw = RawQuery::default();
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = Some(v.to_owned());
            match k {
                "page" => raw.page = v,
                "per" => raw.per = v,
                "sort" => raw.sort = v,
                "desc" => raw.desc = v,
                "q" => raw.q = v,
                "health" => raw.health = v,
                _ => {}
            }
        }
        raw
    }

    #[test]
    fn garbage_gets_defaults() {
        let p = query(&[
            ("page", "x"),
            ("per", "100000"),
            ("sort", "nope"),
            ("health", "<b>"),
        ]);
        assert_eq!((p.page, p.per, p.sort), (1, MAX_PER, SortKey::Id));
        assert!(p.health.is_empty() && !p.needs_all_rows());
        let p = query(&[("sort", "seen"), ("desc", "1"), ("per", "0")]);
        assert_eq!((p.sort, p.desc, p.per), (SortKey::Seen, true, 1));
        assert!(p.needs_all_rows());
    }

    #[test]
    fn pages_and_filters() {
        let (shown, paging) = page_of((1..=1000).collect(), 3, 50);
        assert_eq!((shown[0], shown[49], paging.pages), (101, 150, 20));
        assert_eq!((paging.first, paging.last, paging.total), (101, 150, 1000));
        let (shown, paging) = page_of((1..=10).collect(), 99, 4);
        assert_eq!((shown, paging.page), (vec![9, 10], 3));
        let (shown, paging) = page_of(Vec::<u8>::new(), 1, 4);
        assert!(shown.is_empty() && paging.first == 0 && paging.pages == 1);
        let ids = ["edge-2", "core-1", "Edge-1"].map(|s| RouterId::new(s).expect("id"));
        let kept = filter_ids(ids.to_vec(), "EDGE");
        let kept: Vec<&str> = kept.iter().map(RouterId::as_str).collect();
        assert_eq!(kept, ["Edge-1", "edge-2"]);
    }
}
