//! Noticing that the client of a long request (a waiting acquire) has gone.
//! actix-web keeps running a handler whose client disconnected until it
//! answers, so the handler asks the socket itself.

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::HttpRequest;

/// The connection's socket, recorded when the connection opens. It stays
/// open while any of its requests is being handled.
#[derive(Clone, Copy)]
struct PeerSocket(RawFd);

/// For `HttpServer::on_connect`: the socket under plain HTTP or under TLS.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;
    let socket = match connection.downcast_ref::<TcpStream>() {
        Some(tcp) => tcp.as_raw_fd(),
        None => match connection.downcast_ref::<Tls>() {
            Some(tls) => tls.get_ref().0.as_raw_fd(),
            None => return,
        },
    };
    data.insert(PeerSocket(socket));
}

/// Resolves once the client has closed its connection; never, when that
/// cannot be told.
pub async fn gone(req: &HttpRequest) {
    let Some(PeerSocket(fd)) = req.conn_data::<PeerSocket>().copied() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if closed(fd) {
            return;
        }
    }
}

/// Whether the client has shut its side (end of stream) or the connection
/// broke. Unread data does not hide it, so this holds under TLS too, where
/// a closing client's last record may still be waiting to be read.
fn closed(fd: RawFd) -> bool {
    let mut poll = libc::pollfd { fd, events: libc::POLLRDHUP, revents: 0 };
    // SAFETY: `fd` is the open socket of the connection whose request is
    // being handled; one pollfd, no wait.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready > 0 && poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}
