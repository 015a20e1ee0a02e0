//! A TCP proxy standing for a network link between two places (regions, an edge site and
//! its hub): it forwards connections to a target port until cut, then closes every
//! connection it carries and refuses new ones until restored — as a partition would.

use crate::process::free_port;
use crate::HarnessError;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A link from `127.0.0.1:port` to a target port on loopback.
pub struct LinkProxy {
    pub port: u16,
    state: Arc<LinkState>,
}

#[derive(Default)]
struct LinkState {
    cut: AtomicBool,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

impl LinkProxy {
    /// Starts forwarding a fresh port to `target`.
    pub fn start(target: u16) -> Result<Self, HarnessError> {
        let listener = TcpListener::bind(("127.0.0.1", free_port()))?;
        let port = listener.local_addr()?.port();
        // Polled, so that the accept thread notices when the link is dropped.
        listener.set_nonblocking(true)?;
        let state = Arc::new(LinkState::default());
        let st = state.clone();
        thread::Builder::new()
            .name(format!("link-{port}"))
            .spawn(move || accept_loop(listener, target, st))?;
        Ok(LinkProxy { port, state })
    }

    /// Closes every carried connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.close_all();
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.close_all();
    }
}

impl LinkState {
    fn close_all(&self) {
        if let Ok(mut open) = self.open.lock() {
            for s in open.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn track(&self, s: &TcpStream) {
        if let (Ok(c), Ok(mut open)) = (s.try_clone(), self.open.lock()) {
            open.push(c);
        }
    }
}

fn accept_loop(listener: TcpListener, target: u16, state: Arc<LinkState>) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((inbound, _)) => {
                if state.cut.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                state.track(&inbound);
                state.track(&outbound);
                for (from, to) in [(&inbound, &outbound), (&outbound, &inbound)] {
                    if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                        let _ = thread::Builder::new()
                            .name("link-copy".into())
                            .spawn(move || pump(from, to));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Copies one direction until either side closes, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
