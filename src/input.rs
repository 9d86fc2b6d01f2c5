//! Bounded reads of every file a user names (`--sut`, `--answers`, `--registry`, case files,
//! S/MIME input): an endless or huge input ends with an error naming the file and the limit
//! instead of exhausting memory.

use std::path::Path;

use kvc_smime::files::{ReadCappedError, describe_limit, read_capped};

/// Limit for configuration files: SUT description, answers, registry, case files.
pub const CONFIG_LIMIT: u64 = kvc_smime::files::CONFIG_LIMIT;

/// Limit for S/MIME input files: the same as `lint --max-size`'s default.
pub const MESSAGE_LIMIT: u64 = crate::lint::DEFAULT_MAX_SIZE;

/// Reads at most `limit` bytes of `path`; `what` names the kind of input in the error
/// (`configuration files`, `S/MIME input`). Errors start with the file name.
pub fn read_capped_bytes(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    read_capped(path, limit).map_err(|e| match e {
        ReadCappedError::Io(e) => format!("{}: {e}", path.display()),
        ReadCappedError::TooLarge { limit } => format!(
            "{}: larger than the {} limit for {what}",
            path.display(),
            describe_limit(limit)
        ),
    })
}

/// A configuration file (at most [`CONFIG_LIMIT`] bytes) as UTF-8 text.
pub fn read_config(path: &Path) -> Result<String, String> {
    let bytes = read_capped_bytes(path, CONFIG_LIMIT, "configuration files")?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_config_names_file_and_limit() {
        let e = read_config(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e,
            "/dev/zero: larger than the 4 MiB limit for configuration files"
        );
    }

    #[test]
    fn missing_config_names_the_file() {
        let e = read_config(Path::new("/nonexistent/x.yaml")).unwrap_err();
        assert!(e.starts_with("/nonexistent/x.yaml: "), "{e}");
    }

    #[test]
    fn non_utf8_config_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yaml");
        std::fs::write(&p, b"a: \xff\n").unwrap();
        let e = read_config(&p).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
