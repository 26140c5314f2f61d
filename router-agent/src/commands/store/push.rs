//! `store push URL ID FILE`: FILE validated like `check` (its list files read beside it),
//! the list files written beside the config in the store, then FILE written with
//! compare-and-swap against the version it was based on.

use std::path::Path;

use serde::Serialize;

use super::{expect_current, io_err, json, write, CommandError, Conn, Io};
use crate::store::note::message;
use crate::store::{Expect, FileName, RouterId, Version, WriteKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    id: RouterId,
    file: String,
    /// The version FILE was made from (from `store show`/`store log`): refused if the store
    /// has moved on since. Default: whatever is current when the push starts.
    #[arg(long)]
    base: Option<String>,
    /// The history message.
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Serialize)]
pub struct Written {
    pub id: String,
    pub version: String,
    pub previous: Option<String>,
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open_writable()?;
    crate::config_file::load(&args.file).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let text =
        std::fs::read_to_string(&args.file).map_err(io_err(format!("reading {}", args.file)))?;
    let lists = crate::model::parse(&args.file, &text)
        .map_err(|e| CommandError::Invalid(e.to_string()))?
        .list_files();
    let (mut expect, _) = expect_current(store.as_ref(), &args.id).await?;
    if let Some(base) = &args.base {
        expect = Expect::Version(Version(base.clone()));
    }
    let dir = Path::new(&args.file).parent().unwrap_or(Path::new(""));
    for name in lists {
        let file =
            FileName::new(name.as_str()).map_err(|e| CommandError::Invalid(e.to_string()))?;
        let path = dir.join(name.as_str());
        let bytes = std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
        store.put_file(&args.id, &file, &bytes).await?;
    }
    let summary = args
        .message
        .unwrap_or_else(|| format!("pushed {}", Path::new(&args.file).display()));
    let previous = match &expect {
        Expect::Version(v) => Some(v.0.clone()),
        Expect::Absent => None,
    };
    let version = write(
        store.as_ref(),
        &args.id,
        &text,
        &expect,
        &message(WriteKind::Push, &summary),
    )
    .await?;
    report(io, args.conn.json, &args.id, version, previous)
}

pub fn report(
    io: &mut Io<'_>,
    as_json: bool,
    id: &RouterId,
    version: Version,
    previous: Option<String>,
) -> Result<(), CommandError> {
    if as_json {
        return json(
            io.out,
            &Written {
                id: id.to_string(),
                version: version.0,
                previous,
            },
        );
    }
    writeln!(
        io.out,
        "{id}: version {version} written{}; the router applies it through its watch",
        previous.map_or_else(String::new, |p| format!(" (was {p})"))
    )
    .map_err(io_err("writing the output"))
}
