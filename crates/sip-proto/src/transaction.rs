//! Server and client transactions.

use bytes::Bytes;
use chorus_sip_msg::{Essentials, Request, Response};
use ezk_sip_types::Method;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams: the transaction layer retransmits.
    Udp,
    /// A stream: no retransmission.
    Tcp,
    /// A TLS stream (RFC 3261 §26): reliable, and what SDES keys may travel over.
    Tls,
}

impl Transport {
    /// The token written in Via.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The `transport=` URI parameter that routes back over this transport, with its `;`.
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        }
    }

    fn reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Which transport.
    pub transport: Transport,
    /// The peer address (for TCP: the connection's peer).
    pub destination: SocketAddr,
    /// The whole message.
    pub data: Bytes,
}

/// RFC 3261 timer values.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Round-trip estimate, 500 ms.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Identifies a server transaction (RFC 3261 §17.2.3): branch, sent-by, and the method
/// (ACK counting as INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerKey {
    branch: String,
    sent_by: String,
    invite: bool,
    /// Only for CANCEL, which shares its INVITE's branch but is its own transaction.
    cancel: bool,
}

impl ServerKey {
    /// The key of a request, or `None` when its Via has no RFC 3261 branch; such
    /// (RFC 2543) requests fall back to a key from Call-ID, CSeq and From tag.
    pub fn of(request: &Request, essentials: &Essentials) -> ServerKey {
        let via = essentials.via.first();
        let sent_by = via
            .map(|v| format!("{}:{}", v.sent_by.host, v.sent_by.port.unwrap_or(5060)))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let branch = match essentials.branch() {
            Some(b) if b.starts_with("z9hG4bK") && b.len() > 7 => b.to_owned(),
            _ => format!(
                "rfc2543:{}:{}:{}",
                essentials.call_id,
                essentials.cseq.cseq,
                essentials.from.tag.as_deref().unwrap_or("")
            ),
        };
        ServerKey {
            branch,
            sent_by,
            invite: request.method == Method::INVITE || request.method == Method::ACK,
            cancel: request.method == Method::CANCEL,
        }
    }

    /// The key of the INVITE transaction a CANCEL (with this key) targets.
    pub fn cancelled_invite(&self) -> ServerKey {
        ServerKey {
            invite: true,
            cancel: false,
            ..self.clone()
        }
    }
}

/// Identifies a client transaction by the branch we generated (a CANCEL shares its
/// INVITE's branch but is a transaction of its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey(pub String);

impl ClientKey {
    fn new(branch: &str, method: &Method) -> ClientKey {
        if *method == Method::CANCEL {
            ClientKey(format!("{branch}|CANCEL"))
        } else {
            ClientKey(branch.to_owned())
        }
    }
}

/// What to do with an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// A new transaction: the core must answer it with [`Transactions::respond`].
    New(ServerKey),
    /// A retransmission, answered (or ignored) by the transaction layer.
    Absorbed,
    /// An ACK that belongs to no non-2xx INVITE transaction: it acknowledges a 2xx and
    /// goes to the dialog.
    AckFor2xx,
}

/// How a response matched a client transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMatch {
    /// News for the core: a provisional, or the first final response.
    New(ClientKey),
    /// A retransmitted final response to an INVITE: the core answers it with its ACK again.
    Retransmission(ClientKey),
}

/// Something the core must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEvent {
    /// A 2xx to an INVITE was retransmitted for 64·T1 without an ACK (Timer H / L).
    AckTimeout(ServerKey),
    /// A final response to a request we sent.
    ClientResponse {
        /// The transaction.
        key: ClientKey,
        /// Its status code.
        code: u16,
    },
    /// A request we sent got no final response in 64·T1 (Timer F).
    ClientTimeout(ClientKey),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum ServerState {
    /// INVITE: 100 sent, waiting for the core; non-INVITE: Trying.
    Proceeding,
    /// INVITE 2xx sent, retransmitting until ACK (RFC 6026 Accepted).
    Accepted,
    /// Final non-2xx sent; INVITE waits for ACK, non-INVITE absorbs retransmissions.
    Completed,
    /// INVITE: ACK received, absorbing ACK retransmissions (Timer I).
    Confirmed,
}

/// Which transaction a timer belongs to.
#[derive(Debug, Clone)]
enum TimerKey {
    Server(ServerKey),
    Client(ClientKey),
}

/// One scheduled deadline. Entries are never removed from the heap when a transaction
/// moves on or ends: when one comes due it is checked against the transaction's current
/// deadline and dropped if stale, so every change costs O(log n).
#[derive(Debug)]
struct Due {
    at: Instant,
    seq: u64,
    key: TimerKey,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed, so the max-heap yields the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct ServerTxn {
    invite: bool,
    state: ServerState,
    transport: Transport,
    peer: SocketAddr,
    last_response: Option<Bytes>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    give_up_at: Option<Instant>,
}

impl ServerTxn {
    fn deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.give_up_at]
            .into_iter()
            .flatten()
            .min()
    }
}

#[derive(Debug)]
struct ClientTxn {
    invite: bool,
    transport: Transport,
    peer: SocketAddr,
    request: Bytes,
    method: Method,
    completed: bool,
    retransmit_at: Option<Instant>,
    interval: Duration,
    give_up_at: Instant,
}

impl ClientTxn {
    fn deadline(&self) -> Instant {
        self.retransmit_at
            .map_or(self.give_up_at, |at| at.min(self.give_up_at))
    }
}

/// The transaction layer. See the crate docs for how to drive it.
#[derive(Debug, Default)]
pub struct Transactions {
    timers: Timers,
    server: HashMap<ServerKey, ServerTxn>,
    client: HashMap<ClientKey, ClientTxn>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxnEvent>,
    /// Every transaction's deadlines, earliest first (stale entries included).
    due: BinaryHeap<Due>,
    next_seq: u64,
}

impl Transactions {
    /// A layer with the given timer values.
    pub fn new(timers: Timers) -> Self {
        Transactions {
            timers,
            ..Default::default()
        }
    }

    /// Live server plus client transactions.
    pub fn len(&self) -> usize {
        self.server.len() + self.client.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn schedule(&mut self, at: Option<Instant>, key: TimerKey) {
        if let Some(at) = at {
            self.next_seq += 1;
            self.due.push(Due {
                at,
                seq: self.next_seq,
                key,
            });
        }
    }

    fn schedule_server(&mut self, key: &ServerKey) {
        let at = self.server.get(key).and_then(ServerTxn::deadline);
        self.schedule(at, TimerKey::Server(key.clone()));
    }

    fn schedule_client(&mut self, key: &ClientKey) {
        let at = self.client.get(key).map(ClientTxn::deadline);
        self.schedule(at, TimerKey::Client(key.clone()));
    }

    /// Classifies an incoming request. For a new INVITE, `trying` (a 100 response) is sent
    /// at once so the caller stops retransmitting.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: &Request,
        essentials: &Essentials,
        transport: Transport,
        source: SocketAddr,
        trying: impl FnOnce() -> Bytes,
    ) -> Disposition {
        let key = ServerKey::of(request, essentials);
        if request.method == Method::ACK {
            return match self.server.get_mut(&key) {
                Some(txn) if txn.state == ServerState::Completed => {
                    txn.state = ServerState::Confirmed;
                    txn.retransmit_at = None;
                    txn.give_up_at = Some(if transport.reliable() {
                        now
                    } else {
                        now + self.timers.t4
                    });
                    self.schedule_server(&key);
                    Disposition::Absorbed
                }
                Some(txn) if txn.state == ServerState::Confirmed => Disposition::Absorbed,
                _ => Disposition::AckFor2xx,
            };
        }
        if let Some(txn) = self.server.get(&key) {
            if let Some(last) = &txn.last_response {
                self.transmits.push_back(Transmit {
                    transport: txn.transport,
                    destination: txn.peer,
                    data: last.clone(),
                });
            }
            return Disposition::Absorbed;
        }
        let invite = request.method == Method::INVITE;
        let mut txn = ServerTxn {
            invite,
            state: ServerState::Proceeding,
            transport,
            peer: source,
            last_response: None,
            retransmit_at: None,
            interval: self.timers.t1,
            give_up_at: None,
        };
        if invite {
            let trying = trying();
            self.transmits.push_back(Transmit {
                transport,
                destination: source,
                data: trying.clone(),
            });
            txn.last_response = Some(trying);
        }
        self.server.insert(key.clone(), txn);
        Disposition::New(key)
    }

    /// Whether a server transaction is waiting for its final response.
    pub fn is_proceeding(&self, key: &ServerKey) -> bool {
        self.server
            .get(key)
            .is_some_and(|t| t.state == ServerState::Proceeding)
    }

    /// Sends a response on a server transaction and moves it on.
    pub fn respond(&mut self, now: Instant, key: &ServerKey, code: u16, response: Bytes) {
        let Some(txn) = self.server.get_mut(key) else {
            return;
        };
        if txn.state != ServerState::Proceeding {
            return; // a final response was already sent
        }
        self.transmits.push_back(Transmit {
            transport: txn.transport,
            destination: txn.peer,
            data: response.clone(),
        });
        txn.last_response = Some(response);
        if code < 200 {
            return;
        }
        let unreliable = !txn.transport.reliable();
        self.finish_response(now, key, code, unreliable);
    }

    fn finish_response(&mut self, now: Instant, key: &ServerKey, code: u16, unreliable: bool) {
        let Some(txn) = self.server.get_mut(key) else {
            return;
        };
        let timers = self.timers;
        match (txn.invite, code < 300) {
            (true, true) => {
                txn.state = ServerState::Accepted;
                txn.retransmit_at = unreliable.then(|| now + timers.t1);
                txn.give_up_at = Some(now + timers.t1 * 64);
            }
            (true, false) => {
                txn.state = ServerState::Completed;
                txn.retransmit_at = unreliable.then(|| now + timers.t1);
                txn.give_up_at = Some(now + timers.t1 * 64);
            }
            (false, _) => {
                txn.state = ServerState::Completed;
                txn.retransmit_at = None;
                txn.give_up_at = Some(if unreliable {
                    now + timers.t1 * 64
                } else {
                    now
                });
            }
        }
        self.schedule_server(key);
    }

    /// The ACK for a 2xx arrived (matched by the dialog): stop retransmitting it.
    pub fn acknowledge_2xx(&mut self, key: &ServerKey) {
        if let Some(txn) = self.server.get(key)
            && txn.state == ServerState::Accepted
        {
            self.server.remove(key);
            self.prune();
        }
    }

    /// Whether a heap entry is still its transaction's next deadline.
    fn is_current(&self, due: &Due) -> bool {
        match &due.key {
            TimerKey::Server(key) => {
                self.server.get(key).and_then(ServerTxn::deadline) == Some(due.at)
            }
            TimerKey::Client(key) => self.client.get(key).map(ClientTxn::deadline) == Some(due.at),
        }
    }

    /// Drops stale entries from the top, so [`Transactions::poll_timeout`] names a real
    /// deadline.
    fn prune(&mut self) {
        while self.due.peek().is_some_and(|due| !self.is_current(due)) {
            self.due.pop();
        }
    }

    /// Starts a client transaction whose top Via carries `branch`: INVITE (Timers A, B,
    /// D) or non-INVITE such as BYE and CANCEL (Timers E, F, K).
    pub fn send_request(
        &mut self,
        now: Instant,
        branch: &str,
        method: Method,
        transport: Transport,
        destination: SocketAddr,
        request: Bytes,
    ) -> ClientKey {
        let key = ClientKey::new(branch, &method);
        self.transmits.push_back(Transmit {
            transport,
            destination,
            data: request.clone(),
        });
        self.client.insert(
            key.clone(),
            ClientTxn {
                invite: method == Method::INVITE,
                transport,
                peer: destination,
                request,
                method,
                completed: false,
                retransmit_at: (!transport.reliable()).then(|| now + self.timers.t1),
                interval: self.timers.t1,
                give_up_at: now + self.timers.t1 * 64,
            },
        );
        self.schedule_client(&key);
        key
    }

    /// Matches a response to a client transaction. `None` when it matches none: a stray
    /// response, or a 2xx retransmission for an INVITE the core already has a dialog for.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: &Response,
        essentials: &Essentials,
    ) -> Option<ClientMatch> {
        let key = ClientKey::new(essentials.branch()?, &essentials.cseq.method);
        let txn = self.client.get_mut(&key)?;
        if essentials.cseq.method != txn.method {
            return None;
        }
        if response.code < 200 {
            if txn.invite {
                // Proceeding: the far end has it; Timer B gives way to the core's ring timeout.
                txn.retransmit_at = None;
                txn.give_up_at = now + self.timers.t1 * 64 * 6;
                self.schedule_client(&key);
            } else {
                // Timer E keeps running but at T2 once the far end has said it is working.
                txn.interval = self.timers.t2;
            }
            return Some(ClientMatch::New(key));
        }
        if txn.invite && response.code < 300 {
            // The 2xx ends the transaction; its retransmissions belong to the dialog.
            self.client.remove(&key);
            return Some(ClientMatch::New(key));
        }
        if txn.completed {
            return Some(ClientMatch::Retransmission(key));
        }
        txn.completed = true;
        txn.retransmit_at = None;
        let linger = if txn.invite {
            self.timers.t1 * 64 // Timer D
        } else {
            self.timers.t4 // Timer K
        };
        txn.give_up_at = if txn.transport.reliable() {
            now
        } else {
            now + linger
        };
        self.schedule_client(&key);
        self.events.push_back(TxnEvent::ClientResponse {
            key: key.clone(),
            code: response.code,
        });
        Some(ClientMatch::New(key))
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the core.
    pub fn poll_event(&mut self) -> Option<TxnEvent> {
        self.events.pop_front()
    }

    /// The earliest timer, if any (possibly one that turns out stale: waking for it is
    /// harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due.peek().map(|due| due.at)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.due.peek() {
            if due.at > now {
                break;
            }
            let Some(due) = self.due.pop() else {
                break;
            };
            if !self.is_current(&due) {
                continue;
            }
            match due.key {
                TimerKey::Server(key) => self.fire_server(now, key),
                TimerKey::Client(key) => self.fire_client(now, key),
            }
        }
        self.prune();
    }

    fn fire_server(&mut self, now: Instant, key: ServerKey) {
        let t2 = self.timers.t2;
        let Some(txn) = self.server.get_mut(&key) else {
            return;
        };
        if txn.give_up_at.is_some_and(|at| at <= now) {
            if txn.state == ServerState::Accepted {
                self.events.push_back(TxnEvent::AckTimeout(key.clone()));
            }
            self.server.remove(&key);
            return;
        }
        if let Some(at) = txn.retransmit_at
            && at <= now
        {
            if let Some(last) = &txn.last_response {
                self.transmits.push_back(Transmit {
                    transport: txn.transport,
                    destination: txn.peer,
                    data: last.clone(),
                });
            }
            txn.interval = (txn.interval * 2).min(t2);
            txn.retransmit_at = Some(now + txn.interval);
        }
        self.schedule_server(&key);
    }

    fn fire_client(&mut self, now: Instant, key: ClientKey) {
        let t2 = self.timers.t2;
        let Some(txn) = self.client.get_mut(&key) else {
            return;
        };
        if txn.give_up_at <= now {
            if !txn.completed {
                self.events.push_back(TxnEvent::ClientTimeout(key.clone()));
            }
            self.client.remove(&key);
            return;
        }
        if let Some(at) = txn.retransmit_at
            && at <= now
        {
            self.transmits.push_back(Transmit {
                transport: txn.transport,
                destination: txn.peer,
                data: txn.request.clone(),
            });
            // Timer A doubles without limit; Timer E stops at T2.
            txn.interval = if txn.invite {
                txn.interval * 2
            } else {
                (txn.interval * 2).min(t2)
            };
            txn.retransmit_at = Some(now + txn.interval);
        }
        self.schedule_client(&key);
    }
}

#[cfg(test)]
mod tests;
