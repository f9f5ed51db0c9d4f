//! Writes the core's snapshots (ban list, address book) to the data directory on a
//! blocking thread, never on a network task and never under the core's lock. Snapshots
//! of the same file queued while a write runs collapse into the newest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Driver;
use crate::node::StoredFile;

/// File name of the ban list inside the data directory.
pub(crate) const BAN_FILE: &str = "banlist.dat";
/// File name of the address book inside the data directory.
pub(crate) const ADDRESS_FILE: &str = "peers.dat";
/// File name of the anchors (block-relay-only peers to dial first) in the data directory.
pub(crate) const ANCHORS_FILE: &str = "anchors.dat";

pub(crate) fn path_of(dir: &Path, file: StoredFile) -> PathBuf {
    dir.join(match file {
        StoredFile::Bans => BAN_FILE,
        StoredFile::Addresses => ADDRESS_FILE,
        StoredFile::Anchors => ANCHORS_FILE,
    })
}

/// Replaces `file` in `dir` atomically.
pub(crate) fn write_file(dir: &Path, file: StoredFile, bytes: &[u8]) -> std::io::Result<()> {
    crate::persist::write_atomic(&path_of(dir, file), bytes)
}

/// The storage writer task's inbox.
pub(crate) struct Writer {
    queue: mpsc::UnboundedSender<(StoredFile, Vec<u8>)>,
}

impl Writer {
    pub fn start(driver: &Arc<Driver>, dir: PathBuf) -> Writer {
        let (queue, mut rx) = mpsc::unbounded_channel::<(StoredFile, Vec<u8>)>();
        driver.spawn(async move {
            while let Some(first) = rx.recv().await {
                // Only the newest snapshot of each file matters.
                let mut newest = vec![first];
                while let Ok(next) = rx.try_recv() {
                    newest.retain(|(file, _)| *file != next.0);
                    newest.push(next);
                }
                let dir = dir.clone();
                // The blocking thread logs through this engine's subscriber too.
                let log = tracing::dispatcher::get_default(|d| d.clone());
                let written = tokio::task::spawn_blocking(move || {
                    tracing::dispatcher::with_default(&log, || {
                        for (file, bytes) in newest {
                            if let Err(e) = write_file(&dir, file, &bytes) {
                                tracing::warn!(error = %e, ?file, "cannot write snapshot");
                            }
                        }
                    })
                });
                let _ = written.await;
            }
        });
        Writer { queue }
    }

    pub fn write(&self, file: StoredFile, bytes: Vec<u8>) {
        let _ = self.queue.send((file, bytes));
    }
}
