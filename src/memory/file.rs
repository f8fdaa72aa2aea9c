//! Raw and sparse memory images: a plain file holding guest RAM at its offsets.
//!
//! Data extents come from FIEMAP (a few ioctls for the whole file) where the filesystem has it,
//! and from `SEEK_DATA`/`SEEK_HOLE` otherwise (tmpfs, NFS) or where FIEMAP reports an unwritten
//! extent (whose page cache may still hold data).

use super::{Extent, ImageKind, MemError, MemoryImage, normalize};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A raw (full or sparse) memory image.
#[derive(Debug)]
pub struct FileImage {
    name: String,
    path: PathBuf,
    file: File,
    len: u64,
}

impl FileImage {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Result<Self, MemError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| MemError::io(&name, e))?;
        let meta = file.metadata().map_err(|e| MemError::io(&name, e))?;
        if !meta.is_file() {
            return Err(MemError::format(&name, 0, "not a regular file"));
        }
        Ok(FileImage {
            name,
            path: path.to_path_buf(),
            len: meta.len(),
            file,
        })
    }

    /// An image over a file already open (for example an anonymous temporary file); `name`
    /// labels it in messages.
    pub fn from_file(file: File, name: &str) -> Result<Self, MemError> {
        let meta = file.metadata().map_err(|e| MemError::io(name, e))?;
        Ok(FileImage {
            name: name.to_string(),
            path: PathBuf::from(name),
            len: meta.len(),
            file,
        })
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file's path.
    pub fn file_path(&self) -> &Path {
        &self.path
    }
}

impl MemoryImage for FileImage {
    fn path(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ImageKind {
        ImageKind::Raw
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemError> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(MemError::format(
                &self.name,
                offset,
                format!("read of {} bytes past the end ({})", buf.len(), self.len),
            ));
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| MemError::io(&self.name, e))
    }

    fn extents(&self) -> Result<Vec<Extent>, MemError> {
        data_extents(&self.file, &self.name, self.len)
    }
}

/// The data extents of an open file of length `len`.
pub fn data_extents(file: &File, name: &str, len: u64) -> Result<Vec<Extent>, MemError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    match fiemap_extents(file, len) {
        Some(Ok(v)) => {
            // Unwritten extents read as zeros unless the page cache holds data written after
            // they were allocated: ask SEEK_DATA about those ranges.
            let mut out = Vec::with_capacity(v.len());
            for (e, unwritten) in v {
                if unwritten {
                    out.extend(seek_extents(file, name, e.offset, e.end())?);
                } else {
                    out.push(e);
                }
            }
            Ok(super::clip(normalize(out), len))
        }
        Some(Err(e)) => Err(MemError::io(name, e)),
        None => Ok(normalize(seek_extents(file, name, 0, len)?)),
    }
}

/// FIEMAP extents with an "unwritten" flag, or `None` where the filesystem has no FIEMAP.
fn fiemap_extents(file: &File, len: u64) -> Option<std::io::Result<Vec<(Extent, bool)>>> {
    use fiemap::FiemapExtentFlags as F;
    let mut out = Vec::new();
    for e in fiemap::Fiemap::new(file) {
        match e {
            Ok(e) => {
                if e.fe_logical >= len {
                    break;
                }
                out.push((
                    Extent {
                        offset: e.fe_logical,
                        len: e.fe_length,
                    },
                    e.fe_flags.contains(F::UNWRITTEN),
                ));
            }
            Err(e)
                if out.is_empty()
                    && matches!(
                        e.raw_os_error(),
                        Some(libc_errno::EOPNOTSUPP | libc_errno::ENOTTY | libc_errno::EINVAL)
                    ) =>
            {
                return None;
            }
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(out))
}

/// errno values FIEMAP returns where the filesystem does not implement it.
mod libc_errno {
    pub const EOPNOTSUPP: i32 = 95;
    pub const ENOTTY: i32 = 25;
    pub const EINVAL: i32 = 22;
}

/// Data extents in `[start, end)` by `SEEK_DATA`/`SEEK_HOLE`.
pub fn seek_extents(
    file: &File,
    name: &str,
    start: u64,
    end: u64,
) -> Result<Vec<Extent>, MemError> {
    use rustix::fs::{SeekFrom, seek};
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let data = match seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(MemError::io(name, e.into())),
        };
        if data >= end {
            break;
        }
        let hole = seek(file, SeekFrom::Hole(data)).map_err(|e| MemError::io(name, e.into()))?;
        let stop = hole.min(end);
        out.push(Extent {
            offset: data,
            len: stop - data,
        });
        pos = stop;
    }
    Ok(out)
}
