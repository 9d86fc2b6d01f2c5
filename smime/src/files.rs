//! File helpers shared by the workspace: bounded reads of inputs (so `/dev/zero` or a huge file
//! ends with a clear error instead of exhausting memory) and owner-only writes of secrets (so a
//! private key is never left readable by other users, whatever the umask).

use std::io::Read;
use std::path::Path;

/// Size limit for configuration-like inputs: keys, certificates, password files, YAML.
pub const CONFIG_LIMIT: u64 = 4 * 1024 * 1024;

/// Why [`read_capped`] did not return the file's bytes.
#[derive(Debug)]
pub enum ReadCappedError {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// The input holds more than `limit` bytes.
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
}

/// `4 MiB`, `512 MiB` or `1000 bytes`: a limit as people write it.
pub fn describe_limit(limit: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if limit >= MIB && limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    }
}

/// Reads at most `limit` bytes of `path`. At most `limit + 1` bytes are ever read, so an endless
/// input (a pipe, `/dev/zero`) ends quickly with [`ReadCappedError::TooLarge`].
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadCappedError> {
    let file = std::fs::File::open(path).map_err(ReadCappedError::Io)?;
    // A regular file announces its size: refuse before reading anything.
    if let Ok(meta) = file.metadata()
        && meta.is_file()
        && meta.len() > limit
    {
        return Err(ReadCappedError::TooLarge { limit });
    }
    let mut buf = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(ReadCappedError::Io)?;
    if buf.len() as u64 > limit {
        return Err(ReadCappedError::TooLarge { limit });
    }
    Ok(buf)
}

/// Writes `bytes` to `path` readable and writable by the owner only (mode 0600 on Unix,
/// whatever the umask). An existing file is restricted before the secret is written into it.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // `mode` applies only when the file is created; an existing file keeps its old mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_stops_at_the_limit_of_an_endless_input() {
        let start = std::time::Instant::now();
        let r = read_capped(Path::new("/dev/zero"), 1024);
        assert!(matches!(r, Err(ReadCappedError::TooLarge { limit: 1024 })));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn read_capped_accepts_a_file_of_exactly_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [b'x'; 10]).unwrap();
        assert_eq!(read_capped(&p, 10).unwrap().len(), 10);
        assert!(matches!(
            read_capped(&p, 9),
            Err(ReadCappedError::TooLarge { limit: 9 })
        ));
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(describe_limit(CONFIG_LIMIT), "4 MiB");
        assert_eq!(describe_limit(512 * 1024 * 1024), "512 MiB");
        assert_eq!(describe_limit(1000), "1000 bytes");
    }

    #[cfg(unix)]
    #[test]
    fn write_private_gives_owner_only_mode_also_to_an_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&p, b"secret").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        let fresh = dir.path().join("new.p12");
        write_private(&fresh, b"x").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
