//! `store show URL ID [VERSION]`: a version's text, byte for byte.

use serde::Serialize;

use super::{io_err, json, CommandError, Conn, Io};
use crate::store::{RouterId, StoreError, Version};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    id: RouterId,
    /// A version from `store log` (default: the current one).
    version: Option<String>,
}

#[derive(Serialize)]
struct Shown {
    id: String,
    version: String,
    text: String,
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open()?;
    let (version, text) = match args.version {
        Some(v) => {
            let v = Version(v);
            let text = store.get_version(&args.id, &v).await?;
            (v, text)
        }
        None => match store.get(&args.id).await? {
            Some(s) => (s.version, s.text),
            None => {
                return Err(StoreError::NoSuchVersion {
                    store: store.describe(),
                    id: args.id.to_string(),
                    version: Version("(current: the store has no config)".into()),
                }
                .into())
            }
        },
    };
    if args.conn.json {
        return json(
            io.out,
            &Shown {
                id: args.id.to_string(),
                version: version.0,
                text,
            },
        );
    }
    io.out
        .write_all(text.as_bytes())
        .map_err(io_err("writing the output"))
}
