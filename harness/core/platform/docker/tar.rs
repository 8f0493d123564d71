//! A minimal ustar archive writer: directories and regular files with their mode and owner, all
//! the Docker engine's archive upload needs to write a pod's configMap and secret files and its
//! subPath directories into volumes (as `docker cp` would, without a shell in the image).
//!
//! # Caveats
//! Names are limited to ustar's 100 + 155 bytes (prefix split at a `/`); longer ones are an error.

/// One entry: a directory (`data` None) or a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The archive of `entries`, in order, ended by two zero blocks.
pub fn archive(entries: &[Entry]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        let path = if e.data.is_none() && !e.path.ends_with('/') { format!("{}/", e.path) } else { e.path.clone() };
        let (prefix, name) = split_name(&path).ok_or(format!("{path}: a name longer than a tar header holds"))?;
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], e.mode as u64 & 0o7777);
        octal(&mut h[108..116], e.uid as u64);
        octal(&mut h[116..124], e.gid as u64);
        let size = e.data.as_ref().map(Vec::len).unwrap_or(0);
        octal(&mut h[124..136], size as u64);
        octal(&mut h[136..148], 0);
        h[156] = if e.data.is_some() { b'0' } else { b'5' };
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        // The checksum is computed with its own field as spaces.
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| *b as u64).sum();
        octal(&mut h[148..155], sum);
        h[155] = b' ';
        out.extend_from_slice(&h);
        if let Some(d) = &e.data {
            out.extend_from_slice(d);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

/// `(prefix, name)` of ustar: name up to 100 bytes, prefix up to 155, split at a `/`.
fn split_name(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    let cut = path[..path.len().min(156)].rfind('/')?;
    let (prefix, name) = (&path[..cut], &path[cut + 1..]);
    (prefix.len() <= 155 && !name.is_empty() && name.len() <= 100).then_some((prefix, name))
}

/// Zero-padded octal filling the field but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read back with the system's tar (GNU tar, a reader no one here wrote).
    #[test]
    fn gnu_tar_reads_the_archive_with_modes_and_owners() {
        let entries = [
            Entry { path: "scripts".into(), data: None, mode: 0o777, uid: 0, gid: 1001 },
            Entry { path: "scripts/setup.sh".into(), data: Some(b"#!/bin/bash\nexec true\n".to_vec()), mode: 0o755, uid: 0, gid: 1001 },
            Entry { path: format!("{}/deep.txt", "d".repeat(120)), data: Some(vec![b'x'; 700]), mode: 0o644, uid: 0, gid: 0 },
        ];
        let bytes = archive(&entries).unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.tar");
        std::fs::write(&file, &bytes).unwrap();
        let out = std::process::Command::new("tar").args(["--numeric-owner", "-tvf"]).arg(&file).output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = listing.lines().collect();
        assert!(lines[0].starts_with("drwxrwxrwx 0/1001") && lines[0].ends_with(" scripts/"), "{listing}");
        assert!(lines[1].starts_with("-rwxr-xr-x 0/1001") && lines[1].contains(" 22 ") && lines[1].ends_with(" scripts/setup.sh"), "{listing}");
        assert!(lines[2].contains(" 700 ") && lines[2].ends_with(&format!("{}/deep.txt", "d".repeat(120))), "{listing}");
        let x = std::process::Command::new("tar").arg("-xf").arg(&file).arg("-C").arg(dir.path()).output().unwrap();
        assert!(x.status.success());
        assert_eq!(std::fs::read(dir.path().join("scripts/setup.sh")).unwrap(), b"#!/bin/bash\nexec true\n");
        assert!(archive(&[Entry { path: "x".repeat(300), data: None, mode: 0, uid: 0, gid: 0 }]).is_err());
    }
}
