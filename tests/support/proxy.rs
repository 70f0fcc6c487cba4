//! A fault proxy between the operator and the AWS emulator: every request passes through, and the
//! test can make the answers slow, never come, break off mid-response (connection reset),
//! arrive truncated or garbled, or be a bare server error, for a number of requests or until
//! cleared. It logs every request with the operation it named, to measure call rates.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to the next answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass every answer through as it is.
    Pass,
    /// Hold each answer back this long.
    Delay(Duration),
    /// Never answer (the connection stays open).
    Hang,
    /// Send half the answer, then reset the connection.
    Reset,
    /// Send the headers and half the body, then close the connection.
    Truncate,
    /// Send the answer with its body replaced by as many bytes of noise.
    Garble,
    /// Answer with this HTTP status and no body, without asking the emulator.
    Status(u16),
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Proxied {
    /// Since the proxy started.
    pub at: Duration,
    /// The operation: `X-Amz-Target`'s last part, or the query protocol's `Action`.
    pub action: String,
    pub fault: Fault,
}

struct State {
    upstream: String,
    fault: Mutex<(Fault, Option<u32>)>,
    log: Mutex<Vec<Proxied>>,
    started: Instant,
}

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<State>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` (`http://host:port`), on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.trim_start_matches("http://").to_string(),
            fault: Mutex::new((Fault::Pass, None)),
            log: Mutex::default(),
            started: Instant::now(),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, serving.clone()));
            }
        });
        Self { endpoint, state }
    }

    /// Apply `fault` to the next `count` requests (all of them when `None`).
    pub fn set(&self, fault: Fault, count: Option<u32>) {
        *self.state.fault.lock().unwrap() = (fault, count);
    }

    pub fn clear(&self) {
        self.set(Fault::Pass, None);
    }

    pub fn requests(&self) -> Vec<Proxied> {
        self.state.log.lock().unwrap().clone()
    }

    /// Environment for the operator binary to call AWS through the proxy.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("AWS_ENDPOINT_URL", self.endpoint.clone())]
    }
}

impl State {
    /// The fault for one more request, counting it down.
    fn take(&self) -> Fault {
        let mut fault = self.fault.lock().unwrap();
        match fault.1 {
            Some(0) => Fault::Pass,
            Some(n) => {
                fault.1 = Some(n - 1);
                fault.0
            }
            None => fault.0,
        }
    }
}

async fn serve(mut client: TcpStream, state: Arc<State>) {
    while let Some(request) = read_message(&mut client).await {
        let fault = state.take();
        state.log.lock().unwrap().push(Proxied {
            at: state.started.elapsed(),
            action: action_of(&request),
            fault,
        });
        if !answer(&mut client, &state, &request, fault).await {
            return;
        }
    }
}

/// Answer one request as `fault` says; false when the connection is done.
async fn answer(client: &mut TcpStream, state: &State, request: &[u8], fault: Fault) -> bool {
    match fault {
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return false;
        }
        Fault::Status(code) => {
            let head = format!("HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = client.write_all(head.as_bytes()).await;
            return false;
        }
        _ => {}
    }
    let Some(response) = forward(&state.upstream, request).await else {
        return false;
    };
    let body_at = head_end(&response).unwrap_or(response.len());
    match fault {
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::Reset => {
            let _ = client.write_all(&response[..response.len() / 2]).await;
            let _ = client.set_zero_linger();
            return false;
        }
        Fault::Truncate => {
            let half = body_at + (response.len() - body_at) / 2;
            let _ = client.write_all(&response[..half]).await;
            return false;
        }
        Fault::Garble => {
            let mut garbled = response.clone();
            garbled[body_at..]
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = b"#<~%&"[i % 5]);
            return client.write_all(&garbled).await.is_ok();
        }
        _ => {}
    }
    client.write_all(&response).await.is_ok()
}

/// Send one request to the emulator on a connection of its own, closed after the answer, and
/// read its whole answer.
async fn forward(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(&closing(request)).await.ok()?;
    read_message(&mut server).await
}

/// `request` asking the server to close the connection after answering.
fn closing(request: &[u8]) -> Vec<u8> {
    let at = head_end(request).unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..at]);
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut out = format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes();
    out.extend_from_slice(&request[at..]);
    out
}

/// One HTTP/1.1 message: the head, and a body of `Content-Length` bytes (or up to the end of the
/// connection when there is none, as moto's answers with `Connection: close` may do).
async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let body_at = loop {
        if let Some(end) = head_end(&message) {
            break end;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        message.extend_from_slice(&buf[..n]);
    };
    let length = content_length(&message[..body_at]);
    while length.is_none_or(|l| message.len() < body_at + l) {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        message.extend_from_slice(&buf[..n]);
    }
    Some(message)
}

fn head_end(message: &[u8]) -> Option<usize> {
    message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn content_length(head: &[u8]) -> Option<usize> {
    let head = String::from_utf8_lossy(head);
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        })
        .and_then(|(_, v)| v.trim().parse().ok())
}

fn action_of(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    if let Some(target) = text.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
    }) {
        return target.1.trim().rsplit('.').next().unwrap_or_default().to_string();
    }
    text.split(['&', '\n'])
        .find_map(|p| p.trim().strip_prefix("Action="))
        .unwrap_or_default()
        .to_string()
}
