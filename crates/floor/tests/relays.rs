//! Both floor relays through the real binary: many connections at once, every byte back
//! in order, and the end of a client reaching the target.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;

/// The relay as a child process, killed when dropped.
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mode` in front of `target`; the address it listens on (from its first line).
fn start(mode: &str, target: &str) -> (Relay, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ballast-floor"))
        .args([mode, "--listen", "127.0.0.1:0", "--target", target])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the relay starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("its first line");
    let addr = line
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_owned();
    (Relay(child), addr)
}

/// An echo server on its own thread per connection; each connection's total echoed goes to
/// `ends` when its client closes.
fn echo() -> (String, std::sync::mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (ends, ended) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let ends = ends.clone();
            thread::spawn(move || {
                let (mut reader, mut writer) = (&stream, &stream);
                let mut buf = [0u8; 4096];
                let mut total = 0;
                while let Ok(n @ 1..) = reader.read(&mut buf) {
                    total += n;
                    if writer.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = ends.send(total);
            });
        }
    });
    (addr, ended)
}

fn exchange_through(mode: &str) {
    if mode == "uring" && !io_uring_available() {
        eprintln!("skipped: io_uring is not available here");
        return;
    }
    let (target, ended) = echo();
    let (_relay, addr) = start(mode, &target);
    let clients: Vec<_> = (0..32u8)
        .map(|id| {
            let addr = addr.clone();
            thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).expect("connect");
                for round in 0..50u8 {
                    let sent: Vec<u8> = (0..64u8).map(|i| i ^ id ^ round.rotate_left(3)).collect();
                    stream.write_all(&sent).expect("write");
                    let mut back = vec![0u8; sent.len()];
                    stream.read_exact(&mut back).expect("read back");
                    assert_eq!(back, sent, "connection {id}, round {round}");
                }
                // A large message too: several reads and sends on the way.
                let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 ^ id).collect();
                let writer = stream.try_clone().expect("clone");
                let sender = thread::spawn(move || (&writer).write_all(&big).map(|()| big));
                let mut back = vec![0u8; 200_000];
                stream
                    .read_exact(&mut back)
                    .expect("read the large message back");
                let big = sender
                    .join()
                    .expect("sender")
                    .expect("write the large message");
                assert!(
                    back == big,
                    "connection {id}: the large message came back changed"
                );
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client");
    }
    // Every client has closed: each target connection sees its end, after 50 × 64 + 200,000
    // bytes.
    for _ in 0..32 {
        let total = ended.recv().expect("a target connection ends");
        assert_eq!(total, 50 * 64 + 200_000);
    }
}

fn io_uring_available() -> bool {
    io_uring::IoUring::new(8).is_ok()
}

#[test]
fn epoll_relay_moves_every_byte_and_passes_the_end_on() {
    exchange_through("epoll");
}

#[test]
fn uring_relay_moves_every_byte_and_passes_the_end_on() {
    exchange_through("uring");
}
