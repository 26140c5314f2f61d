//! `store rollback URL ID VERSION`: VERSION validated (list files from the store), then
//! written as a new current version; the one it replaces stays in history.

use super::push::report;
use super::{expect_current, validate, write, CommandError, Conn, Io};
use crate::store::note::message;
use crate::store::{Expect, RouterId, Version, WriteKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    id: RouterId,
    /// The version to go back to (from `store log`).
    version: String,
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open_writable()?;
    let store = store.as_ref();
    let target = Version(args.version.clone());
    let text = store.get_version(&args.id, &target).await?;
    let origin = format!("{}@{target}", args.id);
    validate(store, &args.id, &origin, &text)
        .await
        .map_err(|e| CommandError::Invalid(format!("not rolled back: {e}")))?;
    let (expect, _) = expect_current(store, &args.id).await?;
    let previous = match &expect {
        Expect::Version(v) => Some(v.0.clone()),
        Expect::Absent => None,
    };
    let summary = format!(
        "rollback to {target}{}",
        previous
            .as_ref()
            .map_or_else(String::new, |p| format!(" (from {p})"))
    );
    let version = write(
        store,
        &args.id,
        &text,
        &expect,
        &message(WriteKind::Rollback, &summary),
    )
    .await?;
    report(io, args.conn.json, &args.id, version, previous)
}
