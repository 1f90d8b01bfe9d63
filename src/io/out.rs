//! Writing outputs without destroying anything.
//!
//! Every output lowp writes goes through here, with one rule set:
//! * a **regular file** (or a missing one) is replaced atomically: the bytes go to
//!   a temporary file in the same directory, which is renamed over the target
//!   only once complete, so the output is complete or absent;
//! * a **symlink** is written through: the file it points to is the target (the
//!   link stays a link);
//! * any other existing **non-regular file** (a character device such as
//!   `/dev/null` or `/dev/full`, a FIFO) is opened and written in place, never
//!   replaced; a write error (`/dev/full`: no space) is an error;
//! * a **directory** is refused as a file output;
//! * `-` is standard output where a command allows it ([`Output::parse`]).
//!
//! A directory output ([`write_dir`]) is built beside the target and swapped in,
//! so it is complete or absent too, and holds nothing from an earlier run; a
//! directory that lowp did not write (no [`DIR_MARKER`]) is replaced only when
//! the caller says so (`--force`).

use crate::Error;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file lowp writes into every output directory it makes, naming the command.
/// A non-empty directory without it is not replaced unless forced.
pub const DIR_MARKER: &str = ".lowp-output";

/// Where a file output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Standard output (`-`).
    Stdout,
    /// A path, written by the rules of the module docs.
    Path(PathBuf),
}

impl Output {
    /// `-` is standard output, anything else a path.
    ///
    /// # Examples
    /// ```
    /// use lowp::io::out::Output;
    /// assert_eq!(Output::parse("-".as_ref()), Output::Stdout);
    /// assert!(matches!(Output::parse("d.npy".as_ref()), Output::Path(_)));
    /// ```
    pub fn parse(p: &Path) -> Output {
        if p.as_os_str() == "-" { Output::Stdout } else { Output::Path(p.to_path_buf()) }
    }

    /// Writes `bytes` to the output.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Closed`] when standard output is a
    /// closed pipe.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut w = self.create()?;
        w.write_all(bytes)?;
        w.commit()
    }

    /// A writer for a streamed output: its bytes reach the target at
    /// [`Sink::commit`] (atomically for regular files); dropped uncommitted, it
    /// leaves nothing.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn create(&self) -> Result<Sink, Error> {
        match self {
            Output::Stdout => Ok(Sink { kind: SinkKind::Stdout(raw_stdout()), name: "standard output".into() }),
            Output::Path(p) => Sink::file(p),
        }
    }
}

/// The destination of a streamed output ([`Output::create`]).
pub struct Sink {
    kind: SinkKind,
    name: String,
}

enum SinkKind {
    Stdout(StdoutWriter),
    /// A temporary file renamed to `target` at commit.
    Atomic {
        file: fs::File,
        tmp: PathBuf,
        target: PathBuf,
        done: bool,
    },
    /// A device or FIFO, written in place.
    Direct(fs::File),
}

/// The path a file output really goes to: a symlink's (final) target.
fn resolve(p: &Path) -> Result<PathBuf, Error> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
    match fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(p) {
            Ok(t) => Ok(t),
            // a dangling link: its target is created where it points
            Err(_) => {
                let t = fs::read_link(p).map_err(io)?;
                Ok(if t.is_absolute() { t } else { p.parent().unwrap_or(Path::new(".")).join(t) })
            }
        },
        _ => Ok(p.to_path_buf()),
    }
}

/// Where standard-output sinks write: the stdout file descriptor itself on
/// Unix (a duplicate of it), so that large binary outputs skip `Stdout`'s line
/// buffering, which scans every write for a newline (a quarter of `lowp
/// dequantize -o -`'s time before); elsewhere the locked `Stdout`.
#[cfg(unix)]
type StdoutWriter = Box<dyn Write>;
#[cfg(not(unix))]
type StdoutWriter = std::io::Stdout;

#[cfg(unix)]
fn raw_stdout() -> StdoutWriter {
    use std::os::fd::AsFd;
    // whatever Rust's own stdout buffer holds goes first
    let _ = std::io::stdout().flush();
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(fs::File::from(fd)),
        Err(_) => Box::new(std::io::stdout()),
    }
}
#[cfg(not(unix))]
fn raw_stdout() -> StdoutWriter {
    std::io::stdout()
}

/// A temporary name beside `target`: `.NAME.lowp-tmp-PID-N`.
fn beside(target: &Path, what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let n = N.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.lowp-{what}-{}-{n}", std::process::id()))
}

impl Sink {
    fn file(p: &Path) -> Result<Sink, Error> {
        let name = p.display().to_string();
        let io = |e: std::io::Error| Error::Io(format!("{name}: {e}"));
        let target = resolve(p)?;
        match fs::metadata(&target) {
            Ok(m) if m.is_dir() => return Err(Error::Io(format!("{name}: is a directory, not a file"))),
            Ok(m) if !m.is_file() => {
                // a device or FIFO: write into it, never replace it
                let f = fs::OpenOptions::new().write(true).open(&target).map_err(io)?;
                return Ok(Sink { kind: SinkKind::Direct(f), name });
            }
            _ => {}
        }
        let tmp = beside(&target, "tmp");
        let file = fs::File::create(&tmp).map_err(io)?;
        Ok(Sink { kind: SinkKind::Atomic { file, tmp, target, done: false }, name })
    }

    fn err(&self, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::Closed
        } else {
            Error::Io(format!("{}: {e}", self.name))
        }
    }

    /// Appends bytes.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Closed`] for a closed pipe.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let r = match &mut self.kind {
            SinkKind::Stdout(s) => s.write_all(bytes),
            SinkKind::Atomic { file, .. } => file.write_all(bytes),
            SinkKind::Direct(f) => f.write_all(bytes),
        };
        r.map_err(|e| self.err(e))
    }

    /// Finishes the output: flushes, and for a regular file renames the complete
    /// temporary file over the target.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file (nothing is left behind).
    pub fn commit(mut self) -> Result<(), Error> {
        let r = match &mut self.kind {
            SinkKind::Stdout(s) => s.flush(),
            SinkKind::Direct(f) => f.flush().and_then(|_| f.sync_all().or(Ok(()))),
            SinkKind::Atomic { file, tmp, target, done } => {
                let r = file.sync_all().and_then(|_| fs::rename(&*tmp, &*target));
                *done = r.is_ok();
                r
            }
        };
        r.map_err(|e| self.err(e))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let SinkKind::Atomic { tmp, done: false, .. } = &self.kind {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes `bytes` to the file `path` by the module's rules (atomic for regular
/// files, through symlinks, in place for devices; `-` is *not* stdout here).
///
/// # Examples
/// ```
/// let p = std::env::temp_dir().join("lowp_doc_write_file.bin");
/// lowp::io::out::write_file(&p, b"abc").unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"abc");
/// lowp::io::out::write_file("/dev/null".as_ref(), b"abc").unwrap(); // written into, not replaced
/// assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_file() == false);
/// # std::fs::remove_file(&p).unwrap();
/// ```
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    Output::Path(path.to_path_buf()).write(bytes)
}

/// Writes a directory of files (`(name, bytes)`) as one output: built complete
/// beside the target (with [`DIR_MARKER`] naming `command`), then swapped in; an
/// earlier output of lowp there is replaced whole, so no stale file of another
/// run survives. A symlink to a directory is written through.
///
/// # Errors
/// [`Error::Io`] when the target exists and is not a directory, when it is a
/// non-empty directory lowp did not write and `force` is false, or on any I/O
/// failure (the target is then as it was, or absent if it did not exist).
///
/// # Examples
/// ```
/// let d = std::env::temp_dir().join("lowp_doc_write_dir");
/// lowp::io::out::write_dir(&d, &[("a.txt", b"1".to_vec())], "doc", false).unwrap();
/// lowp::io::out::write_dir(&d, &[("b.txt", b"2".to_vec())], "doc", false).unwrap();
/// assert!(!d.join("a.txt").exists() && d.join("b.txt").exists()); // nothing stale
/// # std::fs::remove_dir_all(&d).unwrap();
/// ```
pub fn write_dir<S: AsRef<str>>(path: &Path, files: &[(S, Vec<u8>)], command: &str, force: bool) -> Result<(), Error> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| Error::Io(format!("{name}: {e}"));
    if path.as_os_str() == "-" {
        return Err(Error::Io("-: this output is a directory; standard output cannot hold it".into()));
    }
    let target = resolve(path)?;
    let existed = match fs::metadata(&target) {
        Ok(m) if !m.is_dir() => return Err(Error::Io(format!("{name}: exists and is not a directory"))),
        Ok(_) => {
            let empty = fs::read_dir(&target).map_err(io)?.next().is_none();
            if !empty && !target.join(DIR_MARKER).exists() && !force {
                return Err(Error::Io(format!(
                    "{name}: a directory lowp did not write (no {DIR_MARKER}); pass --force to replace it"
                )));
            }
            true
        }
        Err(_) => false,
    };
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = beside(&target, "tmp");
    let build = || -> std::io::Result<()> {
        fs::create_dir(&tmp)?;
        let marker = format!("lowp {command}\n").into_bytes();
        let all = files.iter().map(|(f, b)| (f.as_ref(), b)).chain([(DIR_MARKER, &marker)]);
        for (f, bytes) in all {
            // a name with a directory part (`x_row/codes.npy`) makes that directory
            if let Some(d) = Path::new(f).parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(tmp.join(d))?;
            }
            let mut h = fs::File::create(tmp.join(f))?;
            h.write_all(bytes)?;
            h.sync_all()?;
        }
        Ok(())
    };
    if let Err(e) = build() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(io(e));
    }
    if existed {
        let old = beside(&target, "old");
        if let Err(e) = fs::rename(&target, &old) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io(e));
        }
        if let Err(e) = fs::rename(&tmp, &target) {
            let _ = fs::rename(&old, &target);
            let _ = fs::remove_dir_all(&tmp);
            return Err(io(e));
        }
        let _ = fs::remove_dir_all(&old);
    } else if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(io(e));
    }
    Ok(())
}
