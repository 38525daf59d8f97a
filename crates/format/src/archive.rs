//! A bundle as one zip file: what the page's workshop exports, and what `saescope inspect` and
//! the page open (a single file is easier to publish on a static host than a folder). Entries
//! are stored (the bundle's large files are f16 arrays and gzip, which deflate barely shrinks);
//! a zip made by hand from a bundle folder, deflated, is read too.

use crate::manifest::{Manifest, MAX_MANIFEST_BYTES};
use saescope_core::error::{Error, Result};
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// A bundle's files as (path, bytes), in manifest order.
pub type BundleFiles = Vec<(String, Vec<u8>)>;

fn zip_err(e: impl std::fmt::Display) -> Error {
    Error::Format(format!("bundle zip: {e}"))
}

/// A zip of `manifest.json` and every file of the bundle, at the archive's root.
pub fn write_zip(manifest_json: &[u8], files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    // Zip64 only where a file needs it (over 4 GiB), so ordinary tools read the rest plainly.
    let options = |bytes: usize| {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(bytes as u64 >= u32::MAX as u64)
    };
    zip.start_file("manifest.json", options(manifest_json.len())).map_err(zip_err)?;
    zip.write_all(manifest_json).map_err(zip_err)?;
    for (path, bytes) in files {
        zip.start_file(path.as_str(), options(bytes.len())).map_err(zip_err)?;
        zip.write_all(bytes).map_err(zip_err)?;
    }
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}

/// The bundle in a zip: its `manifest.json` bytes and every file the manifest lists, as
/// (path, bytes). The manifest may sit at the root or inside one folder (a zipped bundle
/// folder). Each entry's size is checked against the manifest before it is read, so an archive
/// cannot make this allocate more than the manifest declares; files it does not list are
/// ignored. Verify the contents with `BundleLoader` (sizes and sha256).
pub fn read_zip(bytes: &[u8]) -> Result<(Vec<u8>, BundleFiles)> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(zip_err)?;
    let manifests: Vec<String> = zip
        .file_names()
        .filter(|n| n.strip_suffix("manifest.json").is_some_and(|root| root.is_empty() || root.ends_with('/')))
        .map(str::to_owned)
        .collect();
    let Some(manifest_name) = manifests.iter().min_by_key(|n| n.matches('/').count()) else {
        return Err(Error::Format(format!(
            "this zip holds no manifest.json ({} entries): it is not a saescope bundle",
            zip.len()
        )));
    };
    let root = manifest_name.strip_suffix("manifest.json").unwrap_or_default().to_owned();
    let manifest_json = read_entry(&mut zip, manifest_name, MAX_MANIFEST_BYTES)?;
    let manifest = Manifest::parse(&manifest_json)?;
    let mut files = Vec::with_capacity(manifest.files.len());
    let mut missing = Vec::new();
    for entry in &manifest.files {
        let name = format!("{root}{}", entry.path);
        if zip.index_for_name(&name).is_none() {
            missing.push(entry.path.clone());
            continue;
        }
        files.push((entry.path.clone(), read_entry(&mut zip, &name, entry.bytes)?));
    }
    if !missing.is_empty() {
        return Err(Error::Format(format!(
            "the bundle zip lacks {} of the {} files its manifest lists: {}",
            missing.len(),
            manifest.files.len(),
            missing.join(", ")
        )));
    }
    Ok((manifest_json, files))
}

/// One entry, refused if it says or turns out to be longer than `limit` bytes.
fn read_entry(zip: &mut ZipArchive<Cursor<&[u8]>>, name: &str, limit: u64) -> Result<Vec<u8>> {
    let entry = zip.by_name(name).map_err(|e| zip_err(format!("{name}: {e}")))?;
    let declared = entry.size();
    if declared > limit {
        return Err(Error::Format(format!("{name} is {declared} bytes in the zip, but should be at most {limit}")));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(declared as usize).map_err(|_| Error::Format(format!("{name} does not fit in memory")))?;
    entry.take(limit + 1).read_to_end(&mut out).map_err(|e| zip_err(format!("{name}: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::Format(format!("{name} is longer than the {limit} bytes it should have")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{small_manifest, FileEntry, Role};

    fn bundle() -> (Vec<u8>, BundleFiles) {
        let files = vec![("labels.json".to_string(), b"[]".to_vec()), ("codes/values.npy".to_string(), vec![7u8; 300])];
        let manifest = small_manifest(vec![
            FileEntry::describe("labels.json", Role::Labels, &files[0].1),
            FileEntry::describe("codes/values.npy", Role::CodesValues, &files[1].1),
        ]);
        (manifest.to_json(), files)
    }

    #[test]
    fn a_written_zip_reads_back_as_the_same_bundle() {
        let (manifest, files) = bundle();
        let zip = write_zip(&manifest, &files).unwrap();
        let (m, got) = read_zip(&zip).unwrap();
        assert_eq!(m, manifest);
        assert_eq!(got, files);
    }

    #[test]
    fn a_zipped_folder_is_read_and_unlisted_entries_are_ignored() {
        let (manifest, files) = bundle();
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        zip.start_file("demo/manifest.json", deflated).unwrap();
        zip.write_all(&manifest).unwrap();
        for (path, bytes) in &files {
            zip.start_file(format!("demo/{path}"), deflated).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.start_file("demo/notes.txt", deflated).unwrap();
        zip.write_all(b"not listed").unwrap();
        let (_, got) = read_zip(&zip.finish().unwrap().into_inner()).unwrap();
        assert_eq!(got, files);
    }

    #[test]
    fn missing_and_oversized_entries_and_other_zips_are_refused() {
        let (manifest, files) = bundle();
        let zip = write_zip(&manifest, &files[..1]).unwrap();
        let e = read_zip(&zip).unwrap_err().to_string();
        assert!(e.contains("lacks 1 of the 2 files") && e.contains("codes/values.npy"), "{e}");

        let mut longer = files.clone();
        longer[1].1.push(0);
        let e = read_zip(&write_zip(&manifest, &longer).unwrap()).unwrap_err().to_string();
        assert!(e.contains("codes/values.npy is 301 bytes") && e.contains("at most 300"), "{e}");

        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("readme.txt", SimpleFileOptions::default()).unwrap();
        let e = read_zip(&zip.finish().unwrap().into_inner()).unwrap_err().to_string();
        assert!(e.contains("no manifest.json"), "{e}");
        assert!(read_zip(b"not a zip at all").is_err());
    }
}
