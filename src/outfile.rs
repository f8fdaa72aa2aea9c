//! Outputs are written beside their final name and renamed into place when complete; this
//! module makes those temporary files and cleans up after runs that were killed.
//!
//! A temporary output is `.NAME.snaptool-tmp-XXXXXX` (a directory: `.NAME.tmp-XXXXXX`) in the
//! destination's directory, locked with `flock` while its writer lives. A run killed before the
//! rename leaves it behind, unlocked, and the next run that writes NAME removes it. An arcbox
//! directory replaced in place is moved aside to `.NAME.old-XXXXXX` for the instant between two
//! renames; a run killed in that instant leaves NAME absent and the previous directory there,
//! and the next run that writes NAME puts it back first.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Leftovers younger than this are left alone: a live writer may not have locked its file yet.
const MIN_AGE: Duration = Duration::from_secs(2);

/// Takes `f`'s exclusive `flock`, held until it is closed: the mark of a live writer.
pub(crate) fn lock(f: &File) {
    let _ = rustix::fs::flock(f, rustix::fs::FlockOperation::NonBlockingLockExclusive);
}

/// Whether the file or directory at `p` is locked by a live writer.
fn locked(p: &Path) -> bool {
    let Ok(f) = File::open(p) else {
        return true;
    };
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
}

fn old_enough(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= MIN_AGE)
}

/// The directory an output at `path` is written in.
pub(crate) fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The final name of `path`, for temporary names.
pub(crate) fn base_of(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned())
}

/// Removes what killed runs left of outputs named `path`: unlocked temporary files and
/// directories, and restores a directory moved aside when `path` itself is missing. Best effort:
/// anything that cannot be removed stays.
pub(crate) fn sweep(path: &Path) {
    let (dir, base) = (dir_of(path), base_of(path));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let (tmp_file, tmp_dir, old_dir) = (
        format!(".{base}.snaptool-tmp-"),
        format!(".{base}.tmp-"),
        format!(".{base}.old-"),
    );
    let mut olds: Vec<PathBuf> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if name.starts_with(&old_dir) {
            olds.push(p);
            continue;
        }
        if !(name.starts_with(&tmp_file) || name.starts_with(&tmp_dir)) {
            continue;
        }
        if !old_enough(&p) || locked(&p) {
            continue;
        }
        let _ = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
    }
    for p in olds {
        if !old_enough(&p) {
            continue;
        }
        if std::fs::symlink_metadata(path).is_err() {
            let _ = std::fs::rename(&p, path);
        } else {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// An output file being written: a locked temporary file beside its final path.
pub struct TempOutput {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl TempOutput {
    /// Cleans up what killed runs left of `path` (see the module notes), then creates the temporary
    /// file (mode 0644) in `path`'s directory and locks it.
    ///
    /// # Errors
    /// When the file cannot be created, naming `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        sweep(path);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.snaptool-tmp-", base_of(path)))
            .tempfile_in(dir_of(path))
            .map_err(named)?;
        lock(tmp.as_file());
        // Readable like a file `create` makes (the temporary file starts private).
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(named)?;
        Ok(TempOutput {
            path: path.to_path_buf(),
            tmp,
        })
    }

    /// The file to write.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The file to write, mutably.
    pub fn file_mut(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the finished file over the final name.
    ///
    /// # Errors
    /// When the rename fails, naming the final path.
    pub fn commit(self) -> io::Result<()> {
        let path = self.path;
        self.tmp
            .persist(&path)
            .map(|_| ())
            .map_err(|e| io::Error::new(e.error.kind(), format!("{}: {}", path.display(), e.error)))
    }
}
