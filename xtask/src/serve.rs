//! A small static file server for the app and its bundles, bound to 127.0.0.1, with the MIME
//! types browsers insist on (application/wasm for streaming compilation).
//!
//! Each connection has its own thread and carries one request (`Connection: close`). A pool of
//! threads shared by keep-alive connections (tiny_http's, before) starved: when a browser opened
//! several connections at once, some waited for a thread until another connection closed, so a
//! fresh page's module scripts could hang for half a minute.

use crate::root;
use anyhow::{anyhow, Result};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Server {
    port: u16,
    accept: JoinHandle<()>,
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "jsonl" => "application/jsonl; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// The page's Content-Security-Policy (index.html has it as a `<meta>`), sent with every file: as a
/// header it also covers the engine's worker, and can forbid framing, which a `<meta>` cannot.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' https:; \
                       img-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; \
                       form-action 'self'; frame-ancestors 'none'";

/// Maps a URL path to a file under the root, refusing anything that climbs out of it.
fn resolve(url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let mut out = root();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

impl Server {
    /// Serves the workspace root on 127.0.0.1:`port` (0 picks a free port).
    pub fn start(port: u16) -> Result<Server> {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let port = listener.local_addr()?.port();
        // A thread per connection: one slow download (a 46 MB embedder to a throttled page) never
        // holds up another request.
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = serve_connection(stream);
                });
            }
        });
        Ok(Server { port, accept })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn join(self) {
        let _ = self.accept.join();
    }
}

/// Answers one GET or HEAD request with a file under the workspace (or 404), then closes.
fn serve_connection(stream: TcpStream) -> std::io::Result<()> {
    // A connection opened ahead of need (browsers preconnect) and never used ends here.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut header = String::new();
    while reader.read_line(&mut header)? > 0 && !header.trim().is_empty() {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let file = match method {
        "GET" | "HEAD" => resolve(target).and_then(|p| {
            let f = std::fs::File::open(&p).ok()?;
            f.metadata().ok().filter(|m| m.is_file()).map(|m| (p, f, m.len()))
        }),
        _ => None,
    };
    let mut out = BufWriter::new(&stream);
    match file {
        Some((path, mut f, bytes)) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {bytes}\r\nCache-Control: no-cache\r\n\
                 Content-Security-Policy: {CSP}\r\nConnection: close\r\n\r\n",
                mime(&path)
            )?;
            if method == "GET" {
                std::io::copy(&mut f, &mut out)?;
            }
        }
        None => write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
        )?,
    }
    out.flush()
}
