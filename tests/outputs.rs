//! Outputs never destroy anything: device nodes are written into, not replaced;
//! symlinks are written through; directory outputs are complete or absent and
//! hold nothing stale; a closed pipe ends a command quietly; missing arguments
//! are named.

use lowp::io::npy::{NpyArray, NpyData};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn lowp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lowp")).args(args).output().expect("run lowp")
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lowp-out-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn input(d: &Path) -> PathBuf {
    let p = d.join("x.npy");
    NpyArray { shape: vec![2, 64], data: NpyData::F32((0..128).map(|i| i as f32 / 7.0 - 9.0).collect()) }
        .write(&p)
        .unwrap();
    p
}

/// `-o /dev/full` fails (no space) and `-o /dev/null` succeeds, and both stay
/// character devices; so does a device node made with mknod in a temp dir (where
/// the test may create one).
#[test]
fn device_nodes_are_written_into_not_replaced() {
    let d = dir("dev");
    let x = input(&d);
    let r = lowp(&["cast", "--to", "e4m3fn", s(&x), "-o", "/dev/full"]);
    assert!(!r.status.success(), "writing /dev/full must fail");
    assert!(String::from_utf8_lossy(&r.stderr).contains("/dev/full"));
    assert!(std::fs::metadata("/dev/full").unwrap().file_type().is_char_device());
    let r = lowp(&["cast", "--to", "e4m3fn", s(&x), "-o", "/dev/null"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    let r = lowp(&["cast", "--every", "f16", "--to", "e5m2", "-o", "/dev/full"]);
    assert!(!r.status.success());
    // a device node of our own: /dev/null's numbers (1, 3)
    let node = d.join("null");
    let made = Command::new("mknod").args([s(&node), "c", "1", "3"]).status().is_ok_and(|st| st.success());
    if made {
        let r = lowp(&["matmul", "--scheme", "e4m3fn", "--a", s(&x), "--b", s(&x), "-o", s(&node)]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert!(std::fs::metadata(&node).unwrap().file_type().is_char_device(), "the node was replaced");
    } else {
        eprintln!("mknod not permitted here: checked /dev/null and /dev/full only");
    }
}

/// `-o link.npy` writes the file the link points to; the link stays a link.
#[test]
fn symlinks_are_written_through() {
    let d = dir("link");
    let x = input(&d);
    let real = d.join("real.npy");
    let link = d.join("link.npy");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let r = lowp(&["cast", "--to", "e4m3fn", s(&x), "-o", s(&link)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(NpyArray::read(&real).unwrap().shape, vec![2, 64]);
    // and again over the existing target
    let r = lowp(&["decode", "--from", "e4m3fn", s(&real), "-o", s(&link)]);
    assert!(r.status.success());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(matches!(NpyArray::read(&real).unwrap().data, NpyData::F32(_)));
    // a directory is not a file output
    let r = lowp(&["cast", "--to", "e4m3fn", s(&x), "-o", s(&d)]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("directory"));
}

/// A quantize directory replaces an earlier one whole (no stale
/// `global_scale.npy` beside a new `scheme.txt`), refuses a directory lowp did
/// not write unless `--force`, and a failing run leaves the old output as it was.
#[test]
fn directory_outputs_are_complete_or_absent() {
    let d = dir("qdir");
    let x = input(&d);
    let q = d.join("q");
    let ok = |args: &[&str]| {
        let r = lowp(args);
        assert!(r.status.success(), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
    };
    ok(&["quantize", "--scheme", "nvfp4@global-scale=on", "--layout", "kernel", s(&x), "-o", s(&q)]);
    assert!(q.join("global_scale.npy").exists() && q.join("packed.bin").exists());
    ok(&["quantize", "--scheme", "mxfp8-e4m3", s(&x), "-o", s(&q)]);
    assert!(!q.join("global_scale.npy").exists(), "stale file of the earlier scheme");
    assert!(!q.join("packed.bin").exists(), "stale file of the earlier layout");
    assert!(std::fs::read_to_string(q.join("scheme.txt")).unwrap().starts_with("mxfp8-e4m3"));
    // the directory reads back as one operand
    ok(&["matmul", "--scheme", "mxfp8-e4m3", "--a", s(&q), "--b", s(&x), "-o", s(&d.join("d.npy"))]);
    // a failing run (bad layout after the scheme parsed) keeps the old output
    let before = std::fs::read(q.join("codes.npy")).unwrap();
    let r = lowp(&["quantize", "--scheme", "mxfp4", "--layout", "sideways", s(&x), "-o", s(&q)]);
    assert!(!r.status.success());
    assert_eq!(std::fs::read(q.join("codes.npy")).unwrap(), before);
    // a directory lowp did not write
    let mine = d.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep me").unwrap();
    let r = lowp(&["quantize", "--scheme", "mxfp4", s(&x), "-o", s(&mine)]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(mine.join("notes.txt")).unwrap(), "keep me");
    ok(&["quantize", "--scheme", "mxfp4", "--force", s(&x), "-o", s(&mine)]);
    assert!(mine.join("codes.npy").exists() && !mine.join("notes.txt").exists());
    // a file in the way, and `-`
    let file = d.join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(!lowp(&["quantize", "--scheme", "mxfp4", s(&x), "-o", s(&file)]).status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    assert!(!lowp(&["quantize", "--scheme", "mxfp4", s(&x), "-o", "-"]).status.success());
    // nothing temporary is left beside the outputs
    let left: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lowp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A reader that closes the pipe early (`| head`) ends the command with status 0
/// and nothing on stderr; `-o -` is standard output.
#[test]
fn closed_pipe_ends_quietly() {
    for args in [
        vec!["cast", "--every", "f32", "--to", "e4m3fn", "-o", "-"],
        vec!["bench", "--n", "65536", "--reps", "1", "--filter", "cast/"],
        vec!["table", "e4m3fn"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lowp"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 16];
        std::io::Read::read_exact(&mut out, &mut buf).unwrap();
        drop(out); // the reader goes away
        let r = child.wait_with_output().unwrap();
        assert!(r.status.success(), "{args:?}: {:?} {}", r.status, String::from_utf8_lossy(&r.stderr));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!err.contains("error") && !err.contains("pipe") && !err.contains("panick"), "{args:?}: {err}");
    }
    let d = dir("stdout");
    let x = input(&d);
    let r = lowp(&["cast", "--to", "e4m3fn", s(&x), "-o", "-"]);
    assert!(r.status.success());
    assert_eq!(NpyArray::parse(&r.stdout, "stdout").unwrap().shape, vec![2, 64]);
    assert!(!d.join("-").exists());
}

/// A missing required argument names it, on one line.
#[test]
fn missing_arguments_are_named() {
    let r = lowp(&["cast", "--to", "e4m3fn"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--output") && err.contains("<INPUT>"), "{err}");
    let r = lowp(&["matmul", "--a", "a.npy"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--scheme") && err.contains("--b"), "{err}");
}
