//! The permission rule for plugin files: a plugin is native code, so neither the file nor the
//! directory holding it may be writable by anyone but its owner, and the owner must be the
//! current user or root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The effective user id of this process.
fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks one file system object (`what` is `"file"` or `"directory"`, for the message).
fn check_one(path: &Path, what: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot inspect {what} {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "{what} {} is writable by other users (mode {:o}); fix it with `chmod go-w {}`",
            path.display(),
            mode,
            path.display()
        ));
    }
    let (owner, me) = (meta.uid(), current_uid());
    if owner != 0 && owner != me {
        return Err(format!(
            "{what} {} is owned by uid {owner}, not by you (uid {me}) or root; fix it with `chown {me} {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Refuses `path` (a plugin file) when it, or the directory that really holds it (symlinks
/// resolved), is group- or world-writable or owned by another non-root user. The error is one
/// line naming the offending file or directory and the `chmod` / `chown` that fixes it.
pub fn check_permissions(path: &Path) -> Result<(), String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    check_one(&real, "file")?;
    match real.parent() {
        Some(dir) => check_one(dir, "directory"),
        None => Ok(()),
    }
}

/// Checks a directory the process itself writes plugin copies into (the loader's cache): it
/// must be owned by the current user and writable by no one else.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if meta.uid() != current_uid() || mode & 0o022 != 0 {
        return Err(format!(
            "plugin cache {} must be owned by you and writable only by you (mode {mode:o}, uid {}); remove it or set FERRITE_PLUGIN_CACHE",
            dir.display(),
            meta.uid()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferrite-trust-perms-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    fn file_with_mode(dir: &Path, mode: u32) -> PathBuf {
        let f = dir.join("libferrite_x.so");
        fs::write(&f, b"\x7fELF").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    #[test]
    fn owner_only_writable_file_is_accepted() {
        let d = scratch("ok");
        let f = file_with_mode(&d, 0o644);
        assert_eq!(check_permissions(&f), Ok(()));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn world_writable_file_is_refused_with_the_chmod() {
        let d = scratch("file");
        let f = file_with_mode(&d, 0o666);
        let e = check_permissions(&f).unwrap_err();
        assert!(e.contains("file") && e.contains("libferrite_x.so") && e.contains("chmod go-w"), "{e}");
        assert!(e.contains("666"), "{e}");
        assert_eq!(e.lines().count(), 1);
        let f = file_with_mode(&d, 0o664);
        assert!(check_permissions(&f).unwrap_err().contains("writable by other users"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn world_writable_directory_is_refused() {
        let d = scratch("dir");
        let f = file_with_mode(&d, 0o644);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_permissions(&f).unwrap_err();
        assert!(e.starts_with("directory") && e.contains(&format!("chmod go-w {}", d.canonicalize().unwrap().display())), "{e}");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_permissions(&f).is_err(), "sticky does not help: others can add files");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn symlink_is_judged_by_its_target() {
        let d = scratch("link");
        let f = file_with_mode(&d, 0o666);
        let l = d.join("liblink.so");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(check_permissions(&l).unwrap_err().contains("libferrite_x.so"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn file_of_another_user_is_refused() {
        if current_uid() != 0 {
            return; // only root can give a file away
        }
        let d = scratch("owner");
        let f = file_with_mode(&d, 0o644);
        std::os::unix::fs::chown(&f, Some(4242), None).unwrap();
        let e = check_permissions(&f).unwrap_err();
        assert!(e.contains("owned by uid 4242") && e.contains("chown 0"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn private_dir_rule() {
        let d = scratch("cache");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_private_dir(&d), Ok(()));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_private_dir(&d).is_err());
        fs::remove_dir_all(&d).unwrap();
    }
}
