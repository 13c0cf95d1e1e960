//! Postfix's own tools against `roster lookup serve`: `postmap -q` on every map over TCP and a
//! Unix socket, and a private Postfix instance (its own configuration directory, `smtpd` on a
//! loopback port, `relay_domains`, `relay_recipient_maps` and `virtual_alias_maps` pointing at
//! Roster) spoken to over SMTP. They run when ROSTER_TEST_POSTFIX=1 (as .ci/run sets it), and
//! then fail if Postfix is not installed.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::support::{ACCOUNT, Holdings, Roster, Sim};

const POSTFIX: &str = "/usr/sbin/postfix";
const POSTMAP: &str = "/usr/sbin/postmap";

/// Whether the Postfix tests are wanted; with ROSTER_TEST_POSTFIX=1, Postfix must be there.
fn postfix_wanted(test: &str) -> bool {
    if std::env::var("ROSTER_TEST_POSTFIX").as_deref() != Ok("1") {
        println!("{test}: not run; set ROSTER_TEST_POSTFIX=1 with Debian's postfix installed");
        return false;
    }
    for tool in [POSTFIX, POSTMAP] {
        assert!(
            Path::new(tool).exists(),
            "ROSTER_TEST_POSTFIX=1 but {tool} is missing: apt-get install postfix"
        );
    }
    true
}

/// `roster lookup serve` in a child process, stopped when dropped.
struct Lookups {
    child: Child,
    socketmap: String,
    socketmap_unix: PathBuf,
    _socket_dir: TempDir,
}

impl Lookups {
    fn start(roster: &Roster) -> Self {
        Self::spawn(
            roster,
            &[
                "lookup",
                "serve",
                "--socketmap",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ],
            "--socketmap-unix",
        )
    }

    /// `roster serve` with the lookups beside the API.
    fn beside_the_api(roster: &Roster) -> (Self, Value) {
        Self::spawn_announcing(
            roster,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-scheduler",
                "--lookup-socketmap",
                "127.0.0.1:0",
            ],
            "--lookup-socketmap-unix",
        )
    }

    fn spawn(roster: &Roster, args: &[&str], unix_flag: &str) -> Self {
        Self::spawn_announcing(roster, args, unix_flag).0
    }

    /// Starts the command, reads its start-up line and waits until its view has loaded.
    fn spawn_announcing(roster: &Roster, args: &[&str], unix_flag: &str) -> (Self, Value) {
        let socket_dir = tempfile::tempdir().unwrap();
        let socketmap_unix = socket_dir.path().join("roster.sock");
        let mut child = roster
            .command(args)
            .arg(unix_flag)
            .arg(&socketmap_unix)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("roster starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("roster prints its addresses");
        let announced: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the start-up line is JSON ({e}): {line:?}"));
        let lookups = Self {
            child,
            socketmap: announced["socketmap"].as_str().unwrap().to_owned(),
            socketmap_unix,
            _socket_dir: socket_dir,
        };
        lookups.wait_until_loaded();
        (lookups, announced)
    }

    /// One socketmap request, spoken as Postfix does, and its reply without the netstring frame.
    fn ask(&self, map: &str, key: &str) -> String {
        let request = format!("{map} {key}");
        let mut stream = TcpStream::connect(&self.socketmap).unwrap();
        write!(stream, "{}:{request},", request.len()).unwrap();
        let mut length = String::new();
        let mut byte = [0u8; 1];
        loop {
            stream.read_exact(&mut byte).unwrap();
            if byte[0] == b':' {
                break;
            }
            length.push(char::from(byte[0]));
        }
        let mut reply = vec![0u8; length.parse::<usize>().unwrap() + 1];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(reply.pop(), Some(b','), "a netstring ends with a comma");
        String::from_utf8(reply).unwrap()
    }

    /// The view loads after the sockets are bound; until then every answer is TEMP.
    fn wait_until_loaded(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let mut stream = TcpStream::connect(&self.socketmap).unwrap();
            stream.write_all(b"18:domain contoso.com,").unwrap();
            let mut reply = [0u8; 8];
            stream.read_exact(&mut reply).unwrap();
            if !String::from_utf8_lossy(&reply).contains("TEMP") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the lookup view never loaded");
    }

    fn inet(&self, map: &str) -> String {
        format!("socketmap:inet:{}:{map}", self.socketmap)
    }

    fn unix(&self, map: &str) -> String {
        format!("socketmap:unix:{}:{map}", self.socketmap_unix.display())
    }
}

impl Drop for Lookups {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration directory holding only what `postmap` needs.
fn postmap_config() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.cf"), "compatibility_level = 3.6\n").unwrap();
    dir
}

/// `postmap -q KEY TABLE`: the value, or `None` when not found (exit status 1).
fn postmap_q(config: &Path, key: &str, table: &str) -> Option<String> {
    let output = Command::new(POSTMAP)
        .arg("-c")
        .arg(config)
        .args(["-q", key, table])
        .output()
        .unwrap();
    match output.status.code() {
        Some(0) => Some(
            String::from_utf8(output.stdout)
                .unwrap()
                .trim_end()
                .to_owned(),
        ),
        Some(1) => None,
        _ => panic!(
            "postmap -q {key} {table} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// `postmap -q - TABLE <keys`: the found keys with their values.
fn postmap_q_many(config: &Path, keys: &[String], table: &str) -> HashMap<String, String> {
    let mut child = Command::new(POSTMAP)
        .arg("-c")
        .arg(config)
        .args(["-q", "-", table])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = keys.join("\n") + "\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "postmap -q - {table}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('\t').expect("key TAB value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// The primary addresses of a group's transitive members, computed from the holdings.
fn expansion(holdings: &Holdings, group_external_id: &str) -> Vec<String> {
    let users: HashMap<&str, &str> = holdings
        .users
        .iter()
        .map(|u| (u.external_id.as_str(), u.primary_address.as_str()))
        .collect();
    let groups: HashMap<&str, &Vec<String>> = holdings
        .groups
        .iter()
        .map(|g| (g.external_id.as_str(), &g.members))
        .collect();
    let mut seen = BTreeSet::new();
    let mut members = BTreeSet::new();
    let mut pending = vec![group_external_id];
    while let Some(group) = pending.pop() {
        if !seen.insert(group) {
            continue;
        }
        for member in groups[group].iter() {
            match users.get(member.as_str()) {
                Some(primary) => {
                    members.insert((*primary).to_owned());
                }
                None => pending.push(member),
            }
        }
    }
    members.into_iter().collect()
}

/// A synced account with users and groups, and its lookups served.
fn synced() -> (Sim, Roster, Holdings, Lookups) {
    let sim = Sim::start(40, 6, 5);
    let roster = Roster::connected_to(&sim);
    roster.ok(&["sync", "run", ACCOUNT]);
    let holdings = roster.holdings();
    let lookups = Lookups::start(&roster);
    (sim, roster, holdings, lookups)
}

fn account_id(roster: &Roster) -> String {
    roster.json(&["account", "show", ACCOUNT])["id"]
        .as_str()
        .expect("the account's id")
        .to_owned()
}

#[test]
fn postmap_answers_every_map_over_tcp_and_a_unix_socket() {
    if !postfix_wanted("postmap_answers_every_map_over_tcp_and_a_unix_socket") {
        return;
    }
    let (_sim, roster, holdings, lookups) = synced();
    let config = postmap_config();
    let config = config.path();
    let account = account_id(&roster);
    let aliased = holdings
        .users
        .iter()
        .find(|u| !u.aliases.is_empty())
        .expect("the tenant has a user with an alias");
    let group = holdings
        .groups
        .iter()
        .find(|g| g.address.is_some() && !expansion(&holdings, &g.external_id).is_empty())
        .expect("the tenant has a mail-enabled group with members");
    let group_address = group.address.clone().unwrap();
    let primary = aliased.primary_address.as_str();
    let alias = aliased.aliases[0].as_str();

    for table in [lookups.inet("recipient"), lookups.unix("recipient")] {
        assert_eq!(
            postmap_q(config, primary, &table),
            Some(account.clone()),
            "{table}"
        );
        assert_eq!(
            postmap_q(config, &alias.to_uppercase(), &table),
            Some(account.clone())
        );
        assert_eq!(
            postmap_q(config, &group_address, &table),
            Some(account.clone())
        );
        assert_eq!(postmap_q(config, "nobody@contoso.com", &table), None);
    }
    let plus = primary.replacen('@', "+news@", 1);
    assert_eq!(
        postmap_q(config, &plus, &lookups.inet("recipient")),
        Some(account.clone()),
        "an address extension is matched as a hash: table would match it"
    );
    assert_eq!(
        postmap_q(config, alias, &lookups.inet("alias")),
        Some(primary.to_owned())
    );
    assert_eq!(postmap_q(config, primary, &lookups.inet("alias")), None);
    assert_eq!(
        postmap_q(config, &group_address, &lookups.inet("alias")),
        Some(expansion(&holdings, &group.external_id).join(","))
    );
    assert_eq!(
        postmap_q(config, primary, &lookups.inet("expand")),
        Some(primary.to_owned())
    );
    assert_eq!(
        postmap_q(config, "contoso.com", &lookups.inet("domain")),
        Some(account.clone())
    );
    assert_eq!(
        postmap_q(config, "fabrikam.com", &lookups.inet("domain")),
        None
    );

    let mut keys: Vec<String> = holdings
        .addresses()
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    keys.extend((0..20).map(|i| format!("unknown-{i}@contoso.com")));
    let found = postmap_q_many(config, &keys, &lookups.inet("recipient"));
    let expected: HashMap<String, String> = holdings
        .addresses()
        .iter()
        .map(|a| ((*a).to_owned(), account.clone()))
        .collect();
    assert_eq!(
        found, expected,
        "every address found with its account, no unknown one"
    );
}

/// A private Postfix instance relaying the account's domains, every table a Roster socketmap,
/// every message discarded after routing (so the log shows where it would have gone).
struct Postfix {
    root: TempDir,
    smtp_port: u16,
}

impl Postfix {
    fn start(lookups: &Lookups) -> Self {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let smtp_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Postfix's daemons run as the postfix user and must reach the queue below this directory.
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.join("etc")).unwrap();
        std::fs::create_dir(dir.join("queue")).unwrap();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {root}/queue\n\
             data_directory = {root}/data\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = gateway.test\n\
             mydestination =\n\
             mynetworks = 192.0.2.1/32\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             maillog_file_prefixes = {root}\n\
             maillog_file = {root}/maillog\n\
             recipient_delimiter = +\n\
             relay_domains = {domain}\n\
             relay_recipient_maps = {recipient}\n\
             virtual_alias_maps = {alias}\n\
             relay_transport = discard:\n\
             default_transport = discard:\n",
            root = dir.display(),
            domain = lookups.inet("domain"),
            recipient = lookups.inet("recipient"),
            alias = lookups.inet("alias"),
        );
        std::fs::write(dir.join("etc/main.cf"), main_cf).unwrap();
        let master_cf = format!(
            "127.0.0.1:{smtp_port} inet n - n - - smtpd\n\
             cleanup unix n - n - 0 cleanup\n\
             qmgr unix n - n 300 1 qmgr\n\
             rewrite unix - - n - - trivial-rewrite\n\
             bounce unix - - n - 0 bounce\n\
             defer unix - - n - 0 bounce\n\
             trace unix - - n - 0 bounce\n\
             verify unix - - n - 1 verify\n\
             flush unix n - n 1000? 0 flush\n\
             proxymap unix - - n - - proxymap\n\
             showq unix n - n - - showq\n\
             error unix - - n - - error\n\
             retry unix - - n - - error\n\
             discard unix - - n - - discard\n\
             anvil unix - - n - 1 anvil\n\
             scache unix - - n - 1 scache\n\
             postlog unix-dgram n - n - 1 postlogd\n"
        );
        std::fs::write(dir.join("etc/master.cf"), master_cf).unwrap();
        let postfix = Self { root, smtp_port };
        postfix.control("start");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", smtp_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "smtpd listens: {}",
                postfix.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        postfix
    }

    fn control(&self, command: &str) {
        let output = Command::new(POSTFIX)
            .arg("-c")
            .arg(self.root.path().join("etc"))
            .arg(command)
            .output()
            .unwrap();
        assert!(
            output.status.success() || command == "stop",
            "postfix {command}: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("maillog")).unwrap_or_default()
    }

    /// Waits for a line of the log containing every one of `parts`.
    fn wait_for_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.control("stop");
    }
}

/// One SMTP session.
struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut smtp = Self {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        };
        assert!(smtp.reply().starts_with("220"));
        assert!(smtp.say("EHLO client.test").starts_with("250"));
        assert!(
            smtp.say("MAIL FROM:<sender@example.net>")
                .starts_with("250")
        );
        smtp
    }

    /// Sends one command; the reply's last line.
    fn say(&mut self, command: &str) -> String {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }

    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_owned();
            }
        }
    }

    fn rcpt(&mut self, address: &str) -> String {
        self.say(&format!("RCPT TO:<{address}>"))
    }

    fn send(&mut self) -> String {
        assert!(self.say("DATA").starts_with("354"));
        let reply = self.say("Subject: test\r\n\r\nHello.\r\n.");
        assert!(reply.starts_with("250"), "{reply}");
        self.say("QUIT");
        reply
    }
}

#[test]
fn a_private_postfix_accepts_synced_recipients_rewrites_aliases_and_groups_and_rejects_the_rest() {
    if !postfix_wanted(
        "a_private_postfix_accepts_synced_recipients_rewrites_aliases_and_groups_and_rejects_the_rest",
    ) {
        return;
    }
    let (sim, roster, holdings, lookups) = synced();
    let postfix = Postfix::start(&lookups);
    let aliased = holdings
        .users
        .iter()
        .find(|u| !u.aliases.is_empty())
        .expect("a user with an alias")
        .clone();
    let group = holdings
        .groups
        .iter()
        .find(|g| g.address.is_some() && !expansion(&holdings, &g.external_id).is_empty())
        .expect("a mail-enabled group with members")
        .clone();
    let group_address = group.address.clone().unwrap();
    let leaving = holdings
        .users
        .iter()
        .find(|u| u.external_id != aliased.external_id)
        .unwrap()
        .clone();

    let mut smtp = Smtp::connect(postfix.smtp_port);
    assert!(smtp.rcpt(&leaving.primary_address).starts_with("250"));
    let unknown = smtp.rcpt("nobody@contoso.com");
    assert!(unknown.starts_with("550 5.1.1"), "{unknown}");
    let foreign = smtp.rcpt("someone@example.org");
    assert!(!foreign.starts_with("250"), "not a relay domain: {foreign}");
    assert!(smtp.rcpt(&aliased.aliases[0]).starts_with("250"));
    assert!(smtp.rcpt(&group_address).starts_with("250"));
    smtp.send();

    postfix.wait_for_log(&[
        &format!("to=<{}>", aliased.primary_address),
        &format!("orig_to=<{}>", aliased.aliases[0]),
    ]);
    for member in expansion(&holdings, &group.external_id) {
        postfix.wait_for_log(&[
            &format!("to=<{member}>"),
            &format!("orig_to=<{group_address}>"),
        ]);
    }

    sim.hard_delete_users(std::slice::from_ref(&leaving.external_id));
    roster.ok(&["sync", "run", ACCOUNT]);
    let synced_at = Instant::now();
    let rejected_after = loop {
        let mut smtp = Smtp::connect(postfix.smtp_port);
        let reply = smtp.rcpt(&leaving.primary_address);
        if reply.starts_with("550 5.1.1") {
            break synced_at.elapsed();
        }
        assert!(
            synced_at.elapsed() < Duration::from_secs(10),
            "a user the sync removed is still accepted: {reply}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("a removed user was rejected {rejected_after:?} after the sync ended");
}

/// `roster serve --lookup-socketmap` answers the MTA from the same process as the API: the
/// single-process deployment of product.md §9. Needs no Postfix: the test speaks socketmap itself.
#[test]
fn roster_serve_answers_the_lookups_beside_the_api() {
    let sim = Sim::start(40, 6, 5);
    let roster = Roster::connected_to(&sim);
    roster.ok(&["sync", "run", ACCOUNT]);
    let holdings = roster.holdings();
    let (lookups, announced) = Lookups::beside_the_api(&roster);
    let user = &holdings.users[0];

    assert!(
        announced["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("http://127.0.0.1:")),
        "{announced}"
    );
    assert_eq!(
        lookups.ask("recipient", user.primary_address.as_str()),
        format!("OK {}", account_id(&roster))
    );
    assert_eq!(lookups.ask("recipient", "nobody@contoso.com"), "NOTFOUND ");
}
