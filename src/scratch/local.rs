//! A private PostgreSQL cluster from the local binaries (stub, being written).

use std::path::Path;

use super::ScratchError;
use crate::db::ConnInfo;

pub(super) struct LocalCluster {
    conn: ConnInfo,
}

impl LocalCluster {
    pub(super) async fn start(_want_major: Option<u32>) -> Result<LocalCluster, ScratchError> {
        Err(ScratchError::Start { what: "not implemented".into(), log: String::new() })
    }
    pub(super) fn conn(&self) -> &ConnInfo { &self.conn }
    pub(super) fn bin_dir(&self) -> &Path { Path::new("/") }
    pub(super) fn root(&self) -> &Path { Path::new("/") }
    pub(super) fn port(&self) -> u16 { 0 }
    pub(super) fn stop(self) -> Result<(), ScratchError> { Ok(()) }
}
