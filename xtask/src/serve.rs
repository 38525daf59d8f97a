//! A small static file server for the app and its bundles, bound to 127.0.0.1, with the MIME
//! types browsers insist on (application/wasm for streaming compilation).

use crate::root;
use anyhow::{anyhow, Result};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Server {
    port: u16,
    workers: Vec<JoinHandle<()>>,
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "jsonl" => "application/jsonl; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

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
        let server = Arc::new(
            tiny_http::Server::http(("127.0.0.1", port))
                .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?,
        );
        let port = server.server_addr().to_ip().map(|a| a.port()).ok_or_else(|| anyhow!("no TCP address"))?;
        // Several threads answer, so one slow download (a 46 MB embedder to a throttled page)
        // never holds up the requests of another page.
        let workers: Vec<JoinHandle<()>> = (0..8)
            .map(|_| {
                let server = Arc::clone(&server);
                std::thread::spawn(move || serve_requests(&server))
            })
            .collect();
        Ok(Server { port, workers })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn join(self) {
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

/// Answers requests with files under the workspace until the server closes.
fn serve_requests(server: &tiny_http::Server) {
    for request in server.incoming_requests() {
        let file = resolve(request.url()).and_then(|p| std::fs::File::open(&p).ok().map(|f| (p, f)));
        let _ = match file {
            Some((path, f)) => {
                let header =
                    |k: &str, v: &str| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("ascii header");
                let response = tiny_http::Response::from_file(f)
                    .with_header(header("Content-Type", mime(&path)))
                    .with_header(header("Cache-Control", "no-cache"));
                request.respond(response)
            }
            None => request.respond(tiny_http::Response::from_string("not found").with_status_code(404)),
        };
    }
}
