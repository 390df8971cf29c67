//! `bizra models`: import, list, and download from a real HTTP server on loopback (a thread
//! serving one file with Range support, able to cut its first transfer short).

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::Digest as _;
use support::{tiny_gguf, write, Bizra};

/// A file server on 127.0.0.1: `GET /<name>` serves `body` (206 for `Range: bytes=N-`), any
/// other path 404. With `cut_first`, the first answer promises the whole file and closes after
/// half of it.
struct FileServer {
    port: u16,
    name: String,
    /// Every request's `Range` header (None where absent), in order.
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl FileServer {
    fn start(name: &str, body: Vec<u8>, cut_first: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ranges);
        let path = format!("/{name}");
        std::thread::spawn(move || {
            let mut first = true;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let cut = cut_first && std::mem::take(&mut first);
                serve(stream, &path, &body, cut, &seen);
            }
        });
        Self {
            port,
            name: name.to_owned(),
            ranges,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, self.name)
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.ranges.lock().unwrap().clone()
    }
}

fn serve(
    mut stream: TcpStream,
    path: &str,
    body: &[u8],
    cut: bool,
    seen: &Mutex<Vec<Option<String>>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_owned());
            }
        }
    }
    seen.lock().unwrap().push(range.clone());
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    if target != path {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let len = body.len();
    let (head, part) = match start {
        Some(s) if s < len => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{len}\r\nConnection: close\r\n\r\n",
                len - s,
                len - 1
            ),
            &body[s..],
        ),
        Some(_) => (
            format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            &body[..0],
        ),
        None => (
            format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"),
            body,
        ),
    };
    let _ = stream.write_all(head.as_bytes());
    let part = if cut { &part[..part.len() / 2] } else { part };
    let _ = stream.write_all(part);
    let _ = stream.flush();
    // Dropping the stream closes the connection (mid-body when cut).
}

fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_download_cut_off_resumes_with_range_and_is_checked_before_it_is_registered() {
    let body = tiny_gguf("tiny", 400_000);
    let server = FileServer::start("tiny-model.Q4.gguf", body.clone(), true);
    let b = Bizra::new();
    let sha = sha256_hex(&body);
    let blake = blake3::hash(&body).to_hex().to_string();

    let first = b.run(&["models", "download", &server.url(), "--sha256", &sha]);
    first
        .code(7)
        .one_line_error(&["stopped at", "run the same command again to resume"]);
    let models = b.home().join("models");
    let part = models.join(".tiny-model.Q4.gguf.part");
    let have = fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have < body.len() as u64, "{have}");
    assert!(b.run(&["--json", "models", "list"]).json()["models"]
        .as_array()
        .unwrap()
        .is_empty());

    let second = b.run(&[
        "--json",
        "models",
        "download",
        &server.url(),
        "--sha256",
        &sha,
        "--blake3",
        &blake,
    ]);
    second.ok();
    let entry = second.json();
    assert_eq!(entry["key"], "tiny-model.Q4");
    assert_eq!(entry["name"], "tiny");
    assert_eq!(entry["file_blake3"], blake);
    assert_eq!(entry["file_size"], body.len());
    assert_eq!(
        server.ranges(),
        vec![None, Some(format!("bytes={have}-"))],
        "the second request resumed where the first stopped"
    );
    assert_eq!(fs::read(models.join("tiny-model.Q4.gguf")).unwrap(), body);
    assert_eq!(
        files_in(&models),
        vec!["tiny-model.Q4.gguf"],
        "no partial file left"
    );
    let listed = b.run(&["--json", "models", "list"]).json();
    assert_eq!(listed["models"][0]["key"], "tiny-model.Q4");
    assert!(b.run(&["models", "list"]).stdout.contains("tiny-model.Q4"));

    // The same name again: refused before any transfer.
    b.run(&["models", "download", &server.url()])
        .code(4)
        .one_line_error(&["already registered"]);
    assert_eq!(server.ranges().len(), 2);
}

#[test]
fn a_download_whose_hash_differs_is_refused_and_leaves_nothing() {
    let body = tiny_gguf("tiny", 100_000);
    let server = FileServer::start("m.gguf", body.clone(), false);
    let b = Bizra::new();
    let wrong = sha256_hex(b"something else");
    let r = b.run(&["models", "download", &server.url(), "--sha256", &wrong]);
    r.code(1)
        .one_line_error(&["sha256 is", &wrong, "discarded"]);
    let models = b.home().join("models");
    assert_eq!(
        files_in(&models),
        Vec::<String>::new(),
        "nothing left in the registry"
    );
    let listed = b.run(&["--json", "models", "list"]).json();
    assert!(listed["models"].as_array().unwrap().is_empty());

    let wrong_blake = "00".repeat(32);
    let j = b.run(&[
        "--json",
        "models",
        "download",
        &server.url(),
        "--blake3",
        &wrong_blake,
    ]);
    j.code(1);
    assert_eq!(j.json()["error"]["status"], "refused");
    assert_eq!(files_in(&models), Vec::<String>::new());

    // Malformed hashes never start a transfer.
    let before = server.ranges().len();
    b.run(&["models", "download", &server.url(), "--sha256", "abc"])
        .code(2)
        .one_line_error(&["--sha256", "64 hex"]);
    assert_eq!(server.ranges().len(), before);
}

#[test]
fn downloads_that_cannot_be_models_are_refused() {
    let b = Bizra::new();
    let models = b.home().join("models");
    // Not GGUF (a web page): refused, discarded.
    let html = FileServer::start("page.gguf", b"<html>nope</html>".to_vec(), false);
    b.run(&["models", "download", &html.url()])
        .code(6)
        .one_line_error(&["not a GGUF file"]);
    assert_eq!(files_in(&models), Vec::<String>::new());
    // 404.
    let missing = format!("http://127.0.0.1:{}/other.gguf", html.port);
    b.run(&["models", "download", &missing])
        .code(7)
        .one_line_error(&["404"]);
    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    b.run(&[
        "models",
        "download",
        &format!("http://127.0.0.1:{port}/x.gguf"),
    ])
    .code(7);
    // No name to give it; not a URL; not HTTP.
    b.run(&["models", "download", "http://127.0.0.1:1/download?id=3"])
        .code(2)
        .one_line_error(&["--name"]);
    b.run(&["models", "download", "not a url"]).code(2);
    b.run(&["models", "download", "ftp://h/x.gguf"])
        .code(2)
        .one_line_error(&["http"]);
    // --name picks the key.
    let good = FileServer::start("download", tiny_gguf("named", 10), false);
    let r = b.run(&[
        "--json",
        "models",
        "download",
        &good.url(),
        "--name",
        "my-model",
    ]);
    r.ok();
    assert_eq!(r.json()["key"], "my-model");
    b.run(&["models", "download", &good.url(), "--name", "../escape"])
        .code(2)
        .one_line_error(&["invalid model key"]);
}

#[test]
fn models_are_imported_and_listed_with_what_is_wrong_with_the_rest() {
    let b = Bizra::new();
    b.run(&["models", "list"]).ok();
    let file = b.path("little.gguf");
    write(&file, tiny_gguf("little one", 10));
    let r = b.run(&["--json", "models", "import", file.to_str().unwrap()]);
    r.ok();
    let entry = r.json();
    assert_eq!(entry["key"], "little");
    assert_eq!(entry["tier"], "edge");
    // Again: the same file, a no-op; another file under that name: refused.
    b.run(&["models", "import", file.to_str().unwrap()]).ok();
    let other = b.path("sub");
    fs::create_dir_all(&other).unwrap();
    let other = other.join("little.gguf");
    write(&other, tiny_gguf("another", 10));
    b.run(&["models", "import", other.to_str().unwrap()])
        .code(2)
        .one_line_error(&["different model"]);
    // Not a model, and not there.
    let junk = b.path("junk.gguf");
    write(&junk, "GGUF but not really");
    b.run(&["models", "import", junk.to_str().unwrap()])
        .code(6)
        .one_line_error(&["junk.gguf"]);
    b.run(&["models", "import", b.path("absent.gguf").to_str().unwrap()])
        .code(6)
        .one_line_error(&["absent.gguf", "no such file"]);
    // A damaged file in the directory is listed as unusable, with why.
    write(&b.home().join("models").join("broken.gguf"), "xx");
    let listed = b.run(&["--json", "models", "list"]).json();
    assert_eq!(listed["models"].as_array().unwrap().len(), 1);
    assert!(listed["unusable"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("broken.gguf"));
    let human = b.run(&["models", "list"]);
    assert!(human.stdout.contains("little") && human.stdout.contains("unusable: "));
}
