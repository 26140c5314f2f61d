//! What the git store read last for each router, keyed by the commits it was read from.
//! A commit's config and the history below a set of tips never change, so an entry is
//! right as long as its key matches the refs read now: a write by this server or one from
//! outside (an operator's `git push` into the bare repository) moves a ref, misses the
//! key and is read anew. No invalidation to forget; one entry per router.

use std::collections::HashMap;
use std::sync::Mutex;

use router_store_client::{HistoryEntry, RouterId};

/// The tips a history was read from, and that history.
type Keyed = (Vec<String>, Vec<HistoryEntry>);

#[derive(Debug, Default)]
pub struct ReadCache {
    /// Router → (commit, its config text).
    configs: Mutex<HashMap<RouterId, (String, String)>>,
    /// Router → (the tips the history was read from, that history).
    histories: Mutex<HashMap<RouterId, Keyed>>,
}

impl ReadCache {
    pub fn config(&self, id: &RouterId, commit: &str) -> Option<String> {
        let map = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(c, _)| c == commit)
            .map(|(_, text)| text.clone())
    }

    pub fn keep_config(&self, id: &RouterId, commit: &str, text: &str) {
        let mut map = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(id.clone(), (commit.to_owned(), text.to_owned()));
    }

    pub fn history(&self, id: &RouterId, tips: &[String]) -> Option<Vec<HistoryEntry>> {
        let map = self.histories.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(t, _)| t == tips)
            .map(|(_, h)| h.clone())
    }

    pub fn keep_history(&self, id: &RouterId, tips: &[String], history: &[HistoryEntry]) {
        let mut map = self.histories.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(id.clone(), (tips.to_vec(), history.to_vec()));
    }
}
