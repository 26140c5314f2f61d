//! `store edit URL ID`: the current config in $VISUAL/$EDITOR (else vi), like `crontab -e`:
//! an edit that does not validate is shown with its error and opened again (or kept in its
//! file on "n"); a valid one is written with compare-and-swap against the version that was
//! opened, so an edit never overwrites a change made meanwhile.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::push::report;
use super::{expect_current, io_err, validate, write, CommandError, Conn, Io};
use crate::store::note::message;
use crate::store::{Expect, RouterId, WriteKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    id: RouterId,
    /// The history message.
    #[arg(short, long)]
    message: Option<String>,
}

/// What a new router's config starts from.
const TEMPLATE: &str = "version = 1\n";

fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into())
}

/// `$EDITOR FILE` through the shell, so that EDITOR may carry arguments (`code -w`).
fn run_editor(path: &Path) -> Result<(), CommandError> {
    let editor = editor();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(io_err(format!("running the editor `{editor}`")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CommandError::Usage(format!(
            "the editor `{editor}` failed ({status}); nothing written, the edit is kept in {}",
            path.display()
        )))
    }
}

/// Owner-only: configs hold BGP passwords and WireGuard keys.
fn scratch(id: &RouterId, text: &str) -> Result<PathBuf, CommandError> {
    let path = std::env::temp_dir().join(format!(
        "router-agent-edit-{id}-{}.toml",
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(format!("creating {}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(io_err(format!("writing {}", path.display())))?;
    Ok(path)
}

/// Asks whether to edit again; no answer (end of input) is no.
fn again(io: &mut Io<'_>) -> Result<bool, CommandError> {
    write!(io.err, "Edit again? [Y/n] ")
        .and_then(|()| io.err.flush())
        .map_err(io_err("asking"))?;
    let mut line = String::new();
    let n = io
        .input
        .read_line(&mut line)
        .map_err(io_err("reading the answer"))?;
    Ok(n > 0 && !line.trim().eq_ignore_ascii_case("n"))
}

pub async fn run(args: Args, io: &mut Io<'_>) -> Result<(), CommandError> {
    let store = args.conn.open_writable()?;
    let store = store.as_ref();
    let (expect, current) = expect_current(store, &args.id).await?;
    let original = current.map_or_else(|| TEMPLATE.to_owned(), |s| s.text);
    let path = scratch(&args.id, &original)?;
    let kept = |why: String| {
        CommandError::Invalid(format!(
            "{why}; nothing written, the edit is kept in {}",
            path.display()
        ))
    };
    let text = loop {
        run_editor(&path)?;
        let edited = std::fs::read_to_string(&path)
            .map_err(io_err(format!("reading {}", path.display())))?;
        if edited == original {
            let _ = std::fs::remove_file(&path);
            return writeln!(io.err, "{}: no changes; nothing written", args.id)
                .map_err(io_err("writing the output"));
        }
        let origin = format!("{}@edit", args.id);
        match validate(store, &args.id, &origin, &edited).await {
            Ok(_) => break edited,
            Err(e) => {
                writeln!(io.err, "{e}").map_err(io_err("writing the output"))?;
                if !again(io)? {
                    return Err(kept("the edit does not validate".into()));
                }
            }
        }
    };
    let summary = args.message.unwrap_or_else(|| "store edit".into());
    let previous = match &expect {
        Expect::Version(v) => Some(v.0.clone()),
        Expect::Absent => None,
    };
    let version = match write(
        store,
        &args.id,
        &text,
        &expect,
        &message(WriteKind::Edit, &summary),
    )
    .await
    {
        Ok(v) => v,
        Err(e @ CommandError::Conflict { .. }) => return Err(kept(e.to_string())),
        Err(e) => return Err(e),
    };
    let _ = std::fs::remove_file(&path);
    report(io, args.conn.json, &args.id, version, previous)
}
