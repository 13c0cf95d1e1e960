//! The socketmap protocol over real sockets: several requests per connection, the reply
//! formats, and every way a client can misbehave, each answered or closed while the service
//! keeps serving.

use std::sync::Arc;
use std::time::Duration;

use roster_lookup::{LookupView, Socketmap, SocketmapLimits};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::support::{Fixture, ask, group, read_reply, user};

async fn contoso() -> Fixture {
    Fixture::new(&[
        user("u-ann", "ann@contoso.com", &["ann.b@contoso.com"]),
        user("u-bob", "bob@contoso.com", &[]),
        group(
            "g-all",
            Some("all@contoso.com"),
            &[],
            &["u-ann", "u-bob"],
            &[],
        ),
    ])
    .await
}

/// Serves `view` on a loopback port; its address.
async fn serve(view: Arc<LookupView>, limits: SocketmapLimits) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(Socketmap { view, limits }.serve_tcp(listener));
    address
}

#[tokio::test]
async fn one_connection_carries_many_requests_and_each_map_answers_in_postfixs_format() {
    let f = contoso().await;
    let address = serve(f.view.clone(), SocketmapLimits::default()).await;
    let mut client = TcpStream::connect(address).await.unwrap();
    let account = f.account.id.to_string();

    assert_eq!(
        ask(&mut client, "recipient ann.b@contoso.com").await,
        format!("OK {account}")
    );
    assert_eq!(
        ask(&mut client, "recipient nobody@contoso.com").await,
        "NOTFOUND "
    );
    assert_eq!(
        ask(&mut client, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com"
    );
    assert_eq!(ask(&mut client, "alias ann@contoso.com").await, "NOTFOUND ");
    assert_eq!(
        ask(&mut client, "alias all@contoso.com").await,
        "OK ann@contoso.com,bob@contoso.com"
    );
    assert_eq!(
        ask(&mut client, "expand bob@contoso.com").await,
        "OK bob@contoso.com"
    );
    assert_eq!(
        ask(&mut client, "domain CONTOSO.ORG").await,
        format!("OK {account}")
    );
    assert_eq!(ask(&mut client, "domain fabrikam.com").await, "NOTFOUND ");
}

#[tokio::test]
async fn the_unix_socket_answers_as_tcp_does() {
    let f = contoso().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(
        Socketmap {
            view: f.view.clone(),
            limits: SocketmapLimits::default(),
        }
        .serve_unix(listener),
    );
    let mut client = UnixStream::connect(&path).await.unwrap();
    assert_eq!(
        ask(&mut client, "recipient bob@contoso.com").await,
        format!("OK {}", f.account.id)
    );
    assert_eq!(
        ask(&mut client, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com"
    );
}

#[tokio::test]
async fn a_request_that_is_not_name_and_key_is_refused_and_the_connection_goes_on() {
    let f = contoso().await;
    let address = serve(f.view.clone(), SocketmapLimits::default()).await;
    let mut client = TcpStream::connect(address).await.unwrap();

    assert_eq!(
        ask(&mut client, "recipient").await,
        "PERM expected a map name, a space and a key"
    );
    let unknown = ask(&mut client, "mailbox ann@contoso.com").await;
    assert!(
        unknown.starts_with("PERM ") && unknown.contains("recipient, alias, expand and domain"),
        "{unknown}"
    );
    assert_eq!(
        ask(&mut client, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com"
    );
}

#[tokio::test]
async fn malformed_and_oversized_netstrings_are_refused_and_closed_and_the_service_keeps_serving() {
    let f = contoso().await;
    let address = serve(f.view.clone(), SocketmapLimits::default()).await;
    for (input, why) in [
        (&b"recipient ann@contoso.com\n"[..], "malformed netstring"),
        (b"9:recipient;", "not followed by ','"),
        (b"99999:recipient ", "at most 4096 are accepted"),
        (b"123456789012:", "too many digits"),
    ] {
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(input).await.unwrap();
        let reply = read_reply(&mut client)
            .await
            .expect("a reply before closing");
        assert!(reply.starts_with("PERM ") && reply.contains(why), "{reply}");
        assert_eq!(
            read_reply(&mut client).await,
            None,
            "then the connection is closed"
        );
    }
    let mut client = TcpStream::connect(address).await.unwrap();
    assert_eq!(
        ask(&mut client, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com"
    );
}

#[tokio::test]
async fn slow_and_idle_clients_are_disconnected_without_holding_others_up() {
    let f = contoso().await;
    let limits = SocketmapLimits {
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(300),
        ..SocketmapLimits::default()
    };
    let address = serve(f.view.clone(), limits).await;
    let mut idle = TcpStream::connect(address).await.unwrap();
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"25:recipient ann@").await.unwrap();

    let mut other = TcpStream::connect(address).await.unwrap();
    assert_eq!(
        ask(&mut other, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com"
    );

    assert_eq!(
        read_reply(&mut slow).await,
        None,
        "a request begun and never finished"
    );
    assert_eq!(
        read_reply(&mut idle).await,
        None,
        "a connection with nothing to ask"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_its_replies_is_dropped_and_the_service_keeps_serving() {
    let f = contoso().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // Two connections at most: the one that keeps asking, and the one that stops reading.
    let limits = SocketmapLimits {
        request_timeout: Duration::from_millis(200),
        max_connections: 2,
        ..SocketmapLimits::default()
    };
    tokio::spawn(
        Socketmap {
            view: f.view.clone(),
            limits,
        }
        .serve_unix(listener),
    );
    let mut asking = UnixStream::connect(&path).await.unwrap();
    assert_eq!(
        ask(&mut asking, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com"
    );

    // Replies to 50,000 requests, about 2 MB, fill every socket buffer between the server and
    // a client that reads none of them.
    let stalled = UnixStream::connect(&path).await.unwrap();
    let (_unread, mut requests) = stalled.into_split();
    let request = b"21:alias all@contoso.com,".repeat(50_000);
    let sending = tokio::spawn(async move {
        let _ = requests.write_all(&request).await;
        requests
    });

    // The service answers meanwhile.
    for _ in 0..10 {
        assert_eq!(
            ask(&mut asking, "alias ann.b@contoso.com").await,
            "OK ann@contoso.com"
        );
    }
    // The stalled connection's place is given back once it is dropped: then a third
    // connection is served instead of being closed at once for want of room.
    let mut third = None;
    for _ in 0..300 {
        let mut client = UnixStream::connect(&path).await.unwrap();
        client.write_all(b"23:alias ann.b@contoso.com,").await.ok();
        if read_reply(&mut client).await.as_deref() == Some("OK ann@contoso.com") {
            third = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        third.is_some(),
        "the client that stopped reading was never dropped"
    );
    sending.abort();
}

#[tokio::test]
async fn thousands_of_idle_connections_leave_the_service_answering() {
    let f = contoso().await;
    let limits = SocketmapLimits {
        max_connections: 1500,
        ..SocketmapLimits::default()
    };
    let address = serve(f.view.clone(), limits).await;
    let mut idle = Vec::new();
    for _ in 0..1500 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    let mut asking = idle.pop().unwrap();
    assert_eq!(
        ask(&mut asking, "recipient bob@contoso.com").await,
        format!("OK {}", f.account.id),
        "the 1,500th connection is served"
    );

    let mut over = TcpStream::connect(address).await.unwrap();
    over.write_all(b"25:recipient bob@contoso.com,").await.ok();
    assert_eq!(
        read_reply(&mut over).await,
        None,
        "beyond the limit a connection is closed"
    );

    drop(idle.split_off(1000));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fresh = TcpStream::connect(address).await.unwrap();
    assert_eq!(
        ask(&mut fresh, "alias ann.b@contoso.com").await,
        "OK ann@contoso.com",
        "connections closed by their clients make room for new ones"
    );
}

#[tokio::test]
async fn a_group_too_large_for_one_reply_is_sent_in_parts_within_postfixs_limit() {
    let members: Vec<String> = (0..4000).map(|i| format!("u-{i}")).collect();
    let mut changes: Vec<_> = members
        .iter()
        .map(|id| {
            user(
                id,
                &format!("member-{id}-with-a-long-local-part@contoso.com"),
                &[],
            )
        })
        .collect();
    let ids: Vec<&str> = members.iter().map(String::as_str).collect();
    changes.push(group("g-big", Some("everyone@contoso.com"), &[], &ids, &[]));
    let f = Fixture::new(&changes).await;
    let address = serve(f.view.clone(), SocketmapLimits::default()).await;
    let mut client = TcpStream::connect(address).await.unwrap();

    let reply = ask(&mut client, "alias everyone@contoso.com").await;
    let parts = reply.strip_prefix("OK ").expect("found").split(',');
    let mut received = Vec::new();
    for part in parts {
        let reply = ask(&mut client, &format!("alias {part}")).await;
        assert!(reply.len() <= 100_000, "{} characters", reply.len());
        received.extend(
            reply
                .strip_prefix("OK ")
                .expect("found")
                .split(',')
                .map(str::to_owned),
        );
    }
    let mut expected: Vec<String> = members
        .iter()
        .map(|id| format!("member-{id}-with-a-long-local-part@contoso.com"))
        .collect();
    expected.sort();
    assert!(received.len() > 2000, "more than one part's worth");
    assert_eq!(received, expected);
}
