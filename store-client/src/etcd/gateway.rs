//! etcd's v3 API through its JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/watch`
//! on the client port), over the HTTP client the other stores already use. The gateway is
//! part of every etcd since 3.3 and speaks the same messages as gRPC, so a gRPC stack
//! (tonic, h2, prost: about a third of the router's binary) is not needed for the handful
//! of calls this store makes. Keys and values are base64; 64-bit numbers are strings.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// gRPC status codes that mean "try again, maybe elsewhere".
const CANCELLED: i64 = 1;
const UNKNOWN: i64 = 2;
const DEADLINE_EXCEEDED: i64 = 4;
const UNAVAILABLE: i64 = 14;

/// Why a call failed, before it becomes a [`crate::StoreError`].
#[derive(Debug)]
pub(super) struct Failure {
    /// Another member (or the same one later) may well answer.
    pub transient: bool,
    pub detail: String,
}

impl Failure {
    fn transport(e: &reqwest::Error) -> Failure {
        // The chain says what went wrong (refused, reset); reqwest's own line does not.
        Failure {
            transient: true,
            detail: crate::error_chain(e),
        }
    }

    fn protocol(detail: String) -> Failure {
        Failure {
            transient: false,
            detail,
        }
    }
}

/// One stored key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(super) struct KeyValue {
    #[serde(deserialize_with = "bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "bytes")]
    value: Vec<u8>,
    #[serde(deserialize_with = "number")]
    create_revision: i64,
    #[serde(deserialize_with = "number")]
    mod_revision: i64,
}

impl KeyValue {
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    pub fn value(&self) -> &[u8] {
        &self.value
    }
    pub fn create_revision(&self) -> i64 {
        self.create_revision
    }
    pub fn mod_revision(&self) -> i64 {
        self.mod_revision
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Header {
    #[serde(deserialize_with = "number")]
    revision: i64,
}

/// The answer to a range request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Range {
    header: Header,
    kvs: Vec<KeyValue>,
}

impl Range {
    /// The cluster's revision when it answered.
    pub fn revision(&self) -> i64 {
        self.header.revision
    }
    pub fn kvs(&self) -> &[KeyValue] {
        &self.kvs
    }
}

/// A compare of a transaction (only equality is needed).
#[derive(Debug, Clone)]
pub(super) enum Compare {
    CreateRevision(String, i64),
    ModRevision(String, i64),
}

impl Compare {
    fn to_json(&self) -> Value {
        match self {
            Compare::CreateRevision(key, r) => json!({
                "result": "EQUAL", "target": "CREATE", "key": B64.encode(key),
                "create_revision": r.to_string(),
            }),
            Compare::ModRevision(key, r) => json!({
                "result": "EQUAL", "target": "MOD", "key": B64.encode(key),
                "mod_revision": r.to_string(),
            }),
        }
    }
}

/// A request of a transaction.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Put(String, Vec<u8>),
    Get(String),
}

impl Op {
    pub fn put(key: String, value: impl Into<Vec<u8>>) -> Op {
        Op::Put(key, value.into())
    }

    fn to_json(&self) -> Value {
        match self {
            Op::Put(key, value) => json!({
                "request_put": {"key": B64.encode(key), "value": B64.encode(value)}
            }),
            Op::Get(key) => json!({"request_range": {"key": B64.encode(key)}}),
        }
    }
}

/// If every compare holds, the success ops, else the failure ops; all at one revision.
#[derive(Debug, Clone, Default)]
pub(super) struct Txn {
    compare: Vec<Compare>,
    success: Vec<Op>,
    failure: Vec<Op>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }
    pub fn when(mut self, compare: impl IntoIterator<Item = Compare>) -> Txn {
        self.compare.extend(compare);
        self
    }
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.success.extend(ops);
        self
    }
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.failure.extend(ops);
        self
    }

    fn to_json(&self) -> Value {
        let ops = |ops: &[Op]| ops.iter().map(Op::to_json).collect::<Vec<_>>();
        json!({
            "compare": self.compare.iter().map(Compare::to_json).collect::<Vec<_>>(),
            "success": ops(&self.success),
            "failure": ops(&self.failure),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TxnOpResponse {
    response_range: Option<Range>,
}

/// The answer to a transaction.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct TxnResponse {
    header: Header,
    succeeded: bool,
    responses: Vec<TxnOpResponse>,
}

impl TxnResponse {
    pub fn succeeded(&self) -> bool {
        self.succeeded
    }
    pub fn revision(&self) -> i64 {
        self.header.revision
    }
    /// The first key of each get, in the order of the ops that ran.
    pub fn gets(&self) -> Vec<Option<KeyValue>> {
        self.responses
            .iter()
            .filter_map(|r| r.response_range.as_ref())
            .map(|r| r.kvs.first().cloned())
            .collect()
    }
}

/// One change of a watched key.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Event {
    /// `PUT` is the default and left out of the JSON.
    #[serde(rename = "type")]
    kind: Option<String>,
    pub kv: Option<KeyValue>,
}

impl Event {
    pub fn is_delete(&self) -> bool {
        self.kind.as_deref() == Some("DELETE")
    }
}

/// One message of a watch stream.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WatchResponse {
    pub created: bool,
    pub canceled: bool,
    #[serde(deserialize_with = "number")]
    pub compact_revision: i64,
    pub cancel_reason: String,
    pub events: Vec<Event>,
}

/// The member at one endpoint, `http://HOST:PORT`.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    pub http: reqwest::Client,
    pub base: String,
}

impl Endpoint {
    async fn call(&self, path: &str, body: Value) -> Result<reqwest::Response, Failure> {
        let response = self
            .http
            .post(format!("{}/v3/{path}", self.base))
            // A member cut off from the leader refuses (and ends watches) instead of
            // serving stale data: etcd's "hasleader" metadata, through the gateway.
            .header("Grpc-Metadata-hasleader", "true")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Failure::transport(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(status_failure(status, &text))
    }

    async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, Failure> {
        let response = self.call(path, body).await?;
        let bytes = response.bytes().await.map_err(|e| Failure::transport(&e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::protocol(format!("unreadable answer to {path}: {e}")))
    }

    /// The key, or with `prefix` every key under it.
    pub async fn range(&self, key: &str, prefix: bool, keys_only: bool) -> Result<Range, Failure> {
        let mut body = json!({"key": B64.encode(key), "keys_only": keys_only});
        if prefix {
            body["range_end"] = B64.encode(prefix_end(key.as_bytes())).into();
        }
        self.json("kv/range", body).await
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), Failure> {
        let body = json!({"key": B64.encode(key), "value": B64.encode(value)});
        self.json::<Value>("kv/put", body).await.map(drop)
    }

    pub async fn txn(&self, txn: &Txn) -> Result<TxnResponse, Failure> {
        self.json("kv/txn", txn.to_json()).await
    }

    /// A watch on `key` from `start_revision` on.
    pub async fn watch(&self, key: &str, start_revision: i64) -> Result<WatchStream, Failure> {
        let body = json!({"create_request": {
            "key": B64.encode(key), "start_revision": start_revision.to_string(),
        }});
        let response = self.call("watch", body).await?;
        Ok(WatchStream {
            response,
            buffer: Vec::new(),
        })
    }
}

/// The gateway's error body: `{"error": ..., "code": N, "message": ...}`.
fn status_failure(status: reqwest::StatusCode, text: &str) -> Failure {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = body["code"].as_i64().unwrap_or(UNKNOWN);
    let message = body["message"]
        .as_str()
        .or(body["error"].as_str())
        .map_or_else(|| text.trim().chars().take(200).collect(), str::to_owned);
    Failure {
        transient: status.is_server_error()
            && matches!(code, CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | UNAVAILABLE),
        detail: format!("HTTP {status}: {message}"),
    }
}

/// The end of the range of keys that start with `prefix`: its last byte below 0xff plus one.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every key: etcd's "\0" range end.
    vec![0]
}

/// Largest JSON message accepted from a watch: bounds what a broken member can make us hold.
const MAX_MESSAGE: usize = 64 << 20;

/// The messages of one watch, one JSON object after another in a streamed body.
#[derive(Debug)]
pub(super) struct WatchStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl WatchStream {
    /// The next message; `None` when the member closed the stream.
    pub async fn message(&mut self) -> Result<Option<WatchResponse>, Failure> {
        loop {
            if let Some(message) = take_message(&mut self.buffer)? {
                return Ok(Some(message));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => return Ok(None),
                Err(e) => return Err(Failure::transport(&e)),
            }
            if self.buffer.len() > MAX_MESSAGE {
                return Err(Failure::protocol(format!(
                    "a watch message over {MAX_MESSAGE} bytes"
                )));
            }
        }
    }
}

/// A whole message at the front of `buffer`, taken out of it.
fn take_message(buffer: &mut Vec<u8>) -> Result<Option<WatchResponse>, Failure> {
    let mut stream = serde_json::Deserializer::from_slice(buffer).into_iter::<Value>();
    let value = match stream.next() {
        None => return Ok(None),
        Some(Err(e)) if e.is_eof() => return Ok(None),
        Some(Err(e)) => return Err(Failure::protocol(format!("unreadable watch message: {e}"))),
        Some(Ok(value)) => value,
    };
    let used = stream.byte_offset();
    buffer.drain(..used);
    if let Some(error) = value.get("error") {
        let code = error["grpc_code"]
            .as_i64()
            .or(error["code"].as_i64())
            .unwrap_or(UNKNOWN);
        return Err(Failure {
            transient: matches!(code, CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | UNAVAILABLE),
            detail: format!("watch ended: {}", error["message"].as_str().unwrap_or("")),
        });
    }
    let result = value.get("result").cloned().unwrap_or(value);
    serde_json::from_value(result)
        .map(Some)
        .map_err(|e| Failure::protocol(format!("unreadable watch message: {e}")))
}

fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    B64.decode(text).map_err(serde::de::Error::custom)
}

/// proto3's JSON writes 64-bit integers as strings; accepts numbers too.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        N(i64),
    }
    match N::deserialize(d)? {
        N::N(n) => Ok(n),
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }

    #[test]
    fn answers_as_the_gateway_writes_them() {
        let range: Range = serde_json::from_str(
            r#"{"header":{"cluster_id":"1","revision":"7"},"kvs":[{"key":"L2EvY29uZmln",
            "create_revision":"3","mod_revision":"7","version":"2","value":"eD0x"}],"count":"1"}"#,
        )
        .expect("range");
        assert_eq!(range.revision(), 7);
        assert_eq!(range.kvs()[0].key(), b"/a/config");
        assert_eq!(range.kvs()[0].value(), b"x=1");
        assert_eq!(range.kvs()[0].mod_revision(), 7);
        // An empty range: no kvs, no count.
        let empty: Range = serde_json::from_str(r#"{"header":{"revision":"9"}}"#).expect("empty");
        assert!(empty.kvs().is_empty());
        let failed: TxnResponse = serde_json::from_str(
            r#"{"header":{"revision":"9"},"responses":[{"response_range":{"header":{},
            "kvs":[{"key":"YQ==","mod_revision":"5"}]}}]}"#,
        )
        .expect("txn");
        assert!(!failed.succeeded());
        assert_eq!(
            failed.gets()[0].as_ref().map(KeyValue::mod_revision),
            Some(5)
        );
    }

    #[tokio::test]
    async fn watch_messages_split_anywhere() {
        let two = concat!(
            r#"{"result":{"header":{"revision":"4"},"created":true}}"#,
            "\n",
            r#"{"result":{"header":{"revision":"5"},"events":[{"kv":{"key":"YQ==","mod_revision":"5","value":"Yg=="}},{"type":"DELETE","kv":{"key":"YQ==","mod_revision":"6"}}]}}"#,
        );
        for cut in [1, 30, 60, two.len() - 1] {
            let mut buffer = two.as_bytes()[..cut].to_vec();
            let parse = |buffer: &mut Vec<u8>| take_message(buffer).expect("parses");
            let mut seen = Vec::new();
            while let Some(m) = parse(&mut buffer) {
                seen.push(m);
            }
            buffer.extend_from_slice(&two.as_bytes()[cut..]);
            while let Some(m) = parse(&mut buffer) {
                seen.push(m);
            }
            assert_eq!(seen.len(), 2, "cut at {cut}");
            assert!(seen[0].created);
            assert!(!seen[1].events[0].is_delete());
            assert!(seen[1].events[1].is_delete());
        }
    }

    #[test]
    fn gateway_errors() {
        let e = status_failure(
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}"#,
        );
        assert!(e.transient);
        assert!(e.detail.contains("no leader"), "{}", e.detail);
        let e = status_failure(
            reqwest::StatusCode::BAD_REQUEST,
            r#"{"error":"bad","code":3,"message":"bad"}"#,
        );
        assert!(!e.transient);
    }
}
