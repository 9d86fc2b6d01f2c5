//! The accept loop the servers share: bounded concurrent connections, each served in a task
//! owned by the loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Accepts connections until aborted. At most `max` are served at once; one beyond that is
/// closed at once and reported through `rejected`. `nodelay` sets `TCP_NODELAY` on accepted
/// sockets. Connection tasks live in this loop's `JoinSet`, so aborting the loop aborts them too.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max: usize,
    nodelay: bool,
    rejected: impl Fn(),
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let conns = Arc::new(Semaphore::new(max));
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // e.g. EMFILE: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            rejected();
            drop(tcp);
            continue;
        };
        if nodelay {
            let _ = tcp.set_nodelay(true);
        }
        let conn = serve(tcp, peer);
        running.spawn(async move {
            conn.await;
            drop(permit);
        });
    }
}
