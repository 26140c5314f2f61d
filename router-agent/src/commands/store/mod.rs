//! `router-agent store ...`: the fleet from the management host, over any store URL
//! (`http(s)://`, `file://`, `etcd://`; `tftp://` read-only). One file per subcommand;
//! output for people by default, `--json` for scripts.

mod diff;
mod edit;
mod log;
mod ls;
mod push;
mod rollback;
mod show;
mod text;

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::model;
use crate::store::fleet::Validate;
use crate::store::{self, ConfigStore, Expect, RouterId, StoreError, StoreOptions, Version};

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Every router: health, current version, last write, last status report.
    Ls(ls::Args),
    /// A router's history, newest first, with what each version changed.
    Log(log::Args),
    /// A version of a router's config (default: the current one).
    Show(show::Args),
    /// Unified diff of two versions (default: the one before the current, and the current).
    Diff(diff::Args),
    /// Validate FILE like `check`, then write it as the current config (compare-and-swap).
    Push(push::Args),
    /// Write an older version again as the current one (the router applies it).
    Rollback(rollback::Args),
    /// Edit the current config in $EDITOR; validated and written with compare-and-swap.
    Edit(edit::Args),
    /// Moved: the store server is its own program, `router-store serve`.
    #[command(hide = true, disable_help_flag = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// How to reach the store: the daemon's options.
#[derive(Debug, Clone, clap::Args)]
pub struct Conn {
    /// The store: http(s)://HOST[:PORT], file://DIR, etcd://HOST:PORT/PREFIX, tftp://HOST/PATH.
    pub url: String,
    /// File holding the bearer token for HTTP(S) stores (an argument would show in `ps`).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) for the store's TLS.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Output JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the config of {id} changed meanwhile: the store now has version {newer}; nothing written \
         (compare with `router-agent store diff URL {id} {newer}`)"
    )]
    Conflict { id: RouterId, newer: String },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CommandError {
    let what = what.into();
    move |source| CommandError::Io { what, source }
}

/// Where a command's output goes (stdout and stderr in the binary, buffers in tests).
pub struct Io<'a> {
    /// Answers to questions (`store edit`'s "edit again?").
    pub input: &'a mut dyn std::io::BufRead,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Colour the diff (stdout is a terminal and NO_COLOR is unset).
    pub colour: bool,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("colour", &self.colour)
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub fn open(&self) -> Result<Box<dyn ConfigStore>, CommandError> {
        let token = match &self.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(io_err(format!("--token-file {}", path.display())))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        let options = StoreOptions {
            token,
            ca_cert: self.ca_cert.clone(),
            ..StoreOptions::default()
        };
        Ok(store::open(&self.url, &options)?)
    }

    /// The store, refused up front when it cannot take writes.
    pub fn open_writable(&self) -> Result<Box<dyn ConfigStore>, CommandError> {
        let store = self.open()?;
        if store.read_only() {
            return Err(StoreError::ReadOnly {
                store: store.describe(),
            }
            .into());
        }
        Ok(store)
    }
}

/// Runs a store subcommand to its end.
pub fn run(command: StoreCommand, io: &mut Io<'_>) -> Result<(), CommandError> {
    if let StoreCommand::Serve { .. } = command {
        return Err(CommandError::Usage(
            "the store server is its own program now: run `router-store serve` with the same \
             options (built from the router-store crate, beside router-agent)"
                .into(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("starting the async runtime"))?;
    runtime.block_on(async move {
        match command {
            StoreCommand::Ls(a) => ls::run(a, io).await,
            StoreCommand::Log(a) => log::run(a, io).await,
            StoreCommand::Show(a) => show::run(a, io).await,
            StoreCommand::Diff(a) => diff::run(a, io).await,
            StoreCommand::Push(a) => push::run(a, io).await,
            StoreCommand::Rollback(a) => rollback::run(a, io).await,
            StoreCommand::Edit(a) => edit::run(a, io).await,
            StoreCommand::Serve { .. } => Ok(()),
        }
    })
}

/// Validates like the daemon does before applying: the model's checks, with the list
/// files the config names read from the store.
#[derive(Debug, Clone, Copy)]
pub struct FromStore;

#[async_trait]
impl Validate for FromStore {
    async fn check(
        &self,
        store: &dyn ConfigStore,
        id: &RouterId,
        text: &str,
    ) -> Result<(), String> {
        validate(store, id, &format!("{id}@store"), text)
            .await
            .map(drop)
    }
}

pub async fn validate(
    store: &dyn ConfigStore,
    id: &RouterId,
    origin: &str,
    text: &str,
) -> Result<model::ValidConfig, String> {
    let mut config = model::parse(origin, text).map_err(|e| e.to_string())?;
    for name in config.list_files() {
        let read = match store::FileName::new(name.as_str()) {
            Err(e) => Err(e.to_string()),
            Ok(file) => match store.get_file(id, &file).await {
                Ok(Some(bytes)) => String::from_utf8(bytes)
                    .map_err(|_| format!("{name} in the store is not UTF-8 text")),
                Ok(None) => Err(format!(
                    "the store has no file {name} for {id}; put it beside the config"
                )),
                Err(e) => Err(format!("reading {name} from the store: {e}")),
            },
        };
        config.set_file(name, read);
    }
    model::validate_text(config, origin, text).map_err(|e| e.to_string())
}

/// Writes `text` as `id`'s current config if the store is still at `expect`; a conflict
/// names the newer version.
pub async fn write(
    store: &dyn ConfigStore,
    id: &RouterId,
    text: &str,
    expect: &Expect,
    message: &str,
) -> Result<Version, CommandError> {
    match store.put(id, text, expect, message).await {
        Ok(v) => Ok(v),
        Err(StoreError::Conflict { current, .. }) => Err(CommandError::Conflict {
            id: id.clone(),
            newer: current.map_or_else(|| "(none: it was deleted)".to_owned(), |v| v.0),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The current config's version as a write expects it.
pub async fn expect_current(
    store: &dyn ConfigStore,
    id: &RouterId,
) -> Result<(Expect, Option<store::Stored>), CommandError> {
    let current = store.get(id).await?;
    let expect = match &current {
        Some(s) => Expect::Version(s.version.clone()),
        None => Expect::Absent,
    };
    Ok((expect, current))
}

fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CommandError> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|e| io_err("writing JSON")(std::io::Error::other(e)))?;
    writeln!(out).map_err(io_err("writing the output"))
}
