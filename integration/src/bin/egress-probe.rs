//! A small client copied into test containers, to speak from inside a restricted sandbox.
//!
//! - `egress-probe get URL [METHOD [BODY]]`: an HTTP(S) request through `HTTPS_PROXY` /
//!   `HTTP_PROXY` (ureq reads them), trusting only the PEM file named by `SSL_CERT_FILE`;
//!   prints the status line `status: N` then the body. Exit 0 on any HTTP answer, 2 when no
//!   answer came (connection refused, TLS failure, proxy refusal of CONNECT).
//! - `egress-probe tcp HOST:PORT`: connects and sends a line; exit 0 if a reply came back,
//!   2 otherwise.
//! - `egress-probe udp HOST:PORT TEXT`: sends one datagram (delivery is checked by the
//!   receiver).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

fn usage() -> ExitCode {
    eprintln!("usage: egress-probe get URL [METHOD [BODY]] | tcp HOST:PORT | udp HOST:PORT TEXT");
    ExitCode::from(64)
}

fn get(url: &str, method: &str, body: Option<&str>) -> ExitCode {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Ok(path) = std::env::var("SSL_CERT_FILE") {
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(error) => {
                eprintln!("cannot read {path}: {error}");
                return ExitCode::from(2);
            }
        };
        let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(
            certificates,
        )));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .proxy(ureq::Proxy::try_from_env())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let result = match body {
        Some(body) => agent.run(
            ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .expect("request"),
        ),
        None => agent.run(
            ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .body(())
                .expect("request"),
        ),
    };
    match result {
        Ok(mut response) => {
            println!("status: {}", response.status().as_u16());
            let text = response.body_mut().read_to_string().unwrap_or_default();
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn tcp(address: &str) -> ExitCode {
    let Some(address) = address.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        println!("error: cannot resolve {address}");
        return ExitCode::from(2);
    };
    let mut stream = match TcpStream::connect_timeout(&address, Duration::from_secs(3)) {
        Ok(stream) => stream,
        Err(error) => {
            println!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = stream.write_all(b"hello\n");
    let mut reply = [0u8; 256];
    match stream.read(&mut reply) {
        Ok(n) if n > 0 => {
            println!("reply: {}", String::from_utf8_lossy(&reply[..n]).trim());
            ExitCode::SUCCESS
        }
        Ok(_) => {
            println!("error: closed without a reply");
            ExitCode::from(2)
        }
        Err(error) => {
            println!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn udp(address: &str, text: &str) -> ExitCode {
    let sent =
        UdpSocket::bind("0.0.0.0:0").and_then(|socket| socket.send_to(text.as_bytes(), address));
    match sent {
        Ok(_) => {
            println!("sent");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["get", url] => get(url, "GET", None),
        ["get", url, method] => get(url, method, None),
        ["get", url, method, body] => get(url, method, Some(body)),
        ["tcp", address] => tcp(address),
        ["udp", address, text] => udp(address, text),
        _ => usage(),
    }
}
