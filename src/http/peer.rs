//! Noticing that the client of a long request (a waiting acquire) has gone.
//! actix-web keeps running a handler whose client disconnected until it
//! answers, so the handler asks the socket itself.

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::HttpRequest;

/// The connection's socket, recorded when the connection opens. It stays
/// open while any of its requests is being handled.
#[derive(Clone, Copy)]
struct PeerSocket(RawFd);

/// For `HttpServer::on_connect`.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(PeerSocket(tcp.as_raw_fd()));
    }
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

/// Peeks without consuming: end of stream or a reset means the client left;
/// no data yet, or a pipelined request, means it is still there.
fn closed(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is the open socket of the connection whose request is being
    // handled, and the buffer is one valid byte.
    let read =
        unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    match read {
        0 => true,
        n if n > 0 => false,
        _ => !matches!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN | libc::EINTR)),
    }
}
