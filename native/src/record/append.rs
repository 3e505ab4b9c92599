//! Crash-safe appends (`agentlog._core.Appender`, the engine of `store.writer.LogWriter`):
//! whole lines in one `write()` on an O_APPEND descriptor.
//!
//! Why this is enough: on a local file system the kernel appends a single write() to a
//! regular file atomically with respect to other writers using O_APPEND, so lines from
//! many processes and threads never interleave. A line is torn only when it is split over
//! two writes, which never happens here, or when the disk fills mid-write: then our own
//! partial bytes are cut off again. A batch of lines is one write() too.
//!
//! Each open file's inode is re-checked at most every `reopen_check` seconds so a rename rotation
//! is noticed and the new file opened; the rotator waits longer than that before it
//! compresses the renamed file. Writing and syncing happen without the GIL.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    None,
    Event,
    Batch,
}

struct Open {
    file: File,
    ino: u64,
    checked: Instant,
    pending: usize, // lines written since the last sync
}

/// Why a write failed, turned into `store.writer.StoreError` once the GIL is back.
pub enum Failure {
    Io {
        path: PathBuf,
        error: io::Error,
        what: &'static str,
    },
    Short {
        path: PathBuf,
        written: usize,
        size: usize,
    },
}

impl Failure {
    pub fn into_py(self, py: Python<'_>) -> PyErr {
        let made = (|| -> PyResult<PyErr> {
            let writer = py.import("agentlog.store.writer")?;
            let error = match self {
                Failure::Io { path, error, what } => {
                    let os_error = PyErr::from(error).into_value(py);
                    writer
                        .getattr("store_error")?
                        .call1((path.to_string_lossy(), os_error, what))?
                }
                Failure::Short {
                    path,
                    written,
                    size,
                } => writer.getattr("StoreError")?.call1((
                    28, // ENOSPC
                    format!(
                        "cannot write {}: disk full ({written} of {size} bytes fit; nothing written)",
                        path.display()
                    ),
                ))?,
            };
            Ok(PyErr::from_value(error))
        })();
        made.unwrap_or_else(|err| err)
    }
}

struct Files {
    root: PathBuf,
    sync: Sync,
    batch_size: usize,
    max_open: usize,
    reopen_check: Duration,
    file_mode: u32,
    dir_mode: u32,
    open: IndexMap<String, Open>,
}

impl Files {
    fn write(&mut self, relpath: &str, data: &[u8], lines: usize) -> Result<(), Failure> {
        let now = Instant::now();
        let fresh =
            matches!(self.open.get(relpath), Some(h) if now - h.checked < self.reopen_check);
        if !fresh {
            self.check(relpath, now)?;
        }
        let path = || self.root.join(relpath);
        let handle = self.open.get_mut(relpath).expect("opened by check");
        let written = match handle.file.write(data) {
            Ok(n) => n,
            Err(error) => {
                return Err(Failure::Io {
                    path: path(),
                    error,
                    what: "cannot write",
                })
            }
        };
        if written != data.len() {
            undo_short_write(&mut handle.file, written);
            return Err(Failure::Short {
                path: path(),
                written,
                size: data.len(),
            });
        }
        if self.sync != Sync::None {
            handle.pending += lines;
            if self.sync == Sync::Event || handle.pending >= self.batch_size {
                sync(handle, &self.root, relpath)?;
            }
        }
        Ok(())
    }

    /// Open relpath, or reopen it when a rotation renamed or removed the open file.
    fn check(&mut self, relpath: &str, now: Instant) -> Result<(), Failure> {
        let path = self.root.join(relpath);
        if let Some(handle) = self.open.get_mut(relpath) {
            handle.checked = now;
            if std::fs::metadata(&path).map(|m| m.ino()).ok() == Some(handle.ino) {
                return Ok(());
            }
            self.drop_file(relpath)?;
        }
        let cannot_open = |error| Failure::Io {
            path: path.clone(),
            error,
            what: "cannot open",
        };
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(self.dir_mode)
                .create(parent)
                .map_err(cannot_open)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(self.file_mode)
            .open(&path)
            .map_err(cannot_open)?;
        let ino = file.metadata().map_err(cannot_open)?.ino();
        self.open.insert(
            relpath.to_string(),
            Open {
                file,
                ino,
                checked: now,
                pending: 0,
            },
        );
        while self.open.len() > self.max_open {
            let oldest = self.open.get_index(0).expect("not empty").0.clone();
            self.drop_file(&oldest)?;
        }
        Ok(())
    }

    fn drop_file(&mut self, relpath: &str) -> Result<(), Failure> {
        if let Some(mut handle) = self.open.shift_remove(relpath) {
            if handle.pending > 0 {
                sync(&mut handle, &self.root, relpath)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        let root = &self.root;
        for (relpath, handle) in self.open.iter_mut() {
            if handle.pending > 0 {
                sync(handle, root, relpath)?;
            }
        }
        Ok(())
    }
}

fn sync(handle: &mut Open, root: &Path, relpath: &str) -> Result<(), Failure> {
    handle.file.sync_data().map_err(|error| Failure::Io {
        path: root.join(relpath),
        error,
        what: "cannot sync",
    })?;
    handle.pending = 0;
    Ok(())
}

/// Only a full disk or a size limit cuts a regular-file write short. Our bytes end at the
/// descriptor's offset; if nobody appended after them, cut them off again, so the file
/// never holds a partial line.
fn undo_short_write(file: &mut File, written: usize) {
    let Ok(end) = file.stream_position() else {
        return;
    };
    if file.metadata().map(|m| m.len()).ok() == Some(end) {
        let _ = file.set_len(end - written as u64);
        let _ = file.seek(SeekFrom::End(0));
    }
}

/// Appends lines to files under a root directory, keeping descriptors open.
///
/// fsync: "none" (the page cache survives a process crash), "event" (fdatasync each
/// write before returning) or "batch" (fdatasync every `batch_size` lines and on flush()).
#[pyclass(frozen, module = "agentlog._core")]
pub struct Appender {
    files: Mutex<Files>,
}

impl Appender {
    fn files(&self, py: Python<'_>) -> MutexGuard<'_, Files> {
        crate::gil::lock(py, &self.files)
    }

    /// Write `data` (whole lines, `lines` of them) to each file, without the GIL.
    pub fn write_many(
        &self,
        py: Python<'_>,
        relpaths: &[&str],
        data: &[u8],
        lines: usize,
    ) -> PyResult<()> {
        let mut guard = self.files(py);
        let files: &mut Files = &mut guard;
        py.detach(|| {
            relpaths
                .iter()
                .try_for_each(|relpath| files.write(relpath, data, lines))
        })
        .map_err(|failure| failure.into_py(py))
    }
}

#[pymethods]
impl Appender {
    #[new]
    #[pyo3(signature = (root, *, fsync = "none", batch_size = 256, max_open = 64, reopen_check = 0.25, file_mode = 0o600, dir_mode = 0o700))]
    fn new(
        root: PathBuf,
        fsync: &str,
        batch_size: usize,
        max_open: usize,
        reopen_check: f64,
        file_mode: u32,
        dir_mode: u32,
    ) -> PyResult<Self> {
        let sync = match fsync {
            "none" => Sync::None,
            "event" => Sync::Event,
            "batch" => Sync::Batch,
            other => {
                return Err(PyValueError::new_err(format!(
                    "fsync must be none, event or batch, not '{other}'"
                )))
            }
        };
        Ok(Appender {
            files: Mutex::new(Files {
                root,
                sync,
                batch_size: batch_size.max(1),
                max_open: max_open.max(1),
                reopen_check: Duration::from_secs_f64(reopen_check.max(0.0)),
                file_mode,
                dir_mode,
                open: IndexMap::new(),
            }),
        })
    }

    /// Append the same line (ending in b"\n") to several files (stream, transcript, errors).
    fn append_many(&self, py: Python<'_>, relpaths: Vec<String>, line: &[u8]) -> PyResult<()> {
        let relpaths: Vec<&str> = relpaths.iter().map(String::as_str).collect();
        self.write_many(py, &relpaths, line, 1)
    }

    /// Append lines to several files, each file's lines in one write(): whole lines in
    /// order, and one system call per file however many lines the batch holds.
    fn write_batch(&self, py: Python<'_>, batch: &Bound<'_, PyDict>) -> PyResult<()> {
        for (relpath, lines) in batch.iter() {
            let relpath: String = relpath.extract()?;
            let (mut data, mut count) = (Vec::new(), 0);
            for line in lines.try_iter()? {
                data.extend_from_slice(line?.cast::<PyBytes>()?.as_bytes());
                count += 1;
            }
            self.write_many(py, &[&relpath], &data, count)?;
        }
        Ok(())
    }

    /// Make every line appended so far durable (a no-op with fsync="none").
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.files(py);
        let files: &mut Files = &mut guard;
        py.detach(|| files.flush()).map_err(|f| f.into_py(py))
    }

    /// Flush, then close every file (the appender opens them again when written to).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.files(py);
        let files: &mut Files = &mut guard;
        let flushed = py.detach(|| files.flush());
        files.open.clear();
        flushed.map_err(|f| f.into_py(py))
    }
}
