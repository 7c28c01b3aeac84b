//! `/events`: Server-Sent Events for operators. Every event has an `id:` and a timestamp;
//! the most recent are kept, so a client that reconnects with `Last-Event-ID` misses
//! nothing that is still kept.

use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chorus_cluster::{Directory, RemoteEvent};
use chorus_engine::Notification;
use futures_util::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

/// Events kept for replay.
const KEPT: usize = 1000;

/// One numbered event, ready to send.
#[derive(Debug)]
pub(crate) struct Logged {
    id: u64,
    name: String,
    data: String,
}

/// The recent events, and a channel of the new ones as they are numbered.
#[derive(Debug)]
pub(crate) struct EventLog {
    /// The kept events and the id of the last one.
    recent: Mutex<(VecDeque<Arc<Logged>>, u64)>,
    live: broadcast::Sender<Arc<Logged>>,
    /// Set on a node of several: this node's events go to the others and theirs come in.
    cluster: OnceLock<Arc<Directory>>,
}

impl EventLog {
    /// Numbers and keeps every notification from `notify`, from now on.
    pub(crate) fn start(notify: &broadcast::Sender<Notification>) -> Arc<EventLog> {
        let log = Arc::new(EventLog {
            recent: Mutex::new((VecDeque::with_capacity(KEPT), 0)),
            live: broadcast::channel(1024).0,
            cluster: OnceLock::new(),
        });
        let mut receiver = notify.subscribe();
        let keeper = Arc::clone(&log);
        // Without a runtime (unit tests of the router) there is nothing to relay.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                loop {
                    match receiver.recv().await {
                        Ok(n) => keeper.keep_local(&n),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        log
    }

    /// From now on, every event names its node, this node's events are published to the
    /// others, and theirs are kept and streamed here too.
    pub(crate) fn join_cluster(self: &Arc<Self>, directory: Arc<Directory>) {
        let mut remote = directory.remote_events();
        if self.cluster.set(directory).is_err() {
            return;
        }
        let keeper = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match remote.recv().await {
                    Ok(event) => keeper.keep_remote(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn keep_local(&self, notification: &Notification) {
        let (name, mut data) = event_json(notification);
        if let Some(object) = data.as_object_mut() {
            let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            object.insert("timestamp".to_owned(), now.into());
            if let Some(directory) = self.cluster.get() {
                object.insert("node".to_owned(), directory.node().into());
                let published = serde_json::json!({"event": name, "data": &data});
                directory.publish(published.to_string());
            }
        }
        self.keep(name.to_owned(), data.to_string());
    }

    /// Another node's event: kept if it is one of ours, with its node named.
    fn keep_remote(&self, event: &RemoteEvent) {
        let Ok(serde_json::Value::Object(mut outer)) = serde_json::from_str(&event.json) else {
            return;
        };
        let (Some(serde_json::Value::String(name)), Some(serde_json::Value::Object(mut data))) =
            (outer.remove("event"), outer.remove("data"))
        else {
            return;
        };
        if !EVENT_NAMES.contains(&name.as_str()) {
            return;
        }
        data.insert("node".to_owned(), event.node.clone().into());
        self.keep(name, serde_json::Value::Object(data).to_string());
    }

    fn keep(&self, name: String, data: String) {
        let logged = {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            recent.1 += 1;
            let logged = Arc::new(Logged {
                id: recent.1,
                name,
                data,
            });
            if recent.0.len() == KEPT {
                recent.0.pop_front();
            }
            recent.0.push_back(Arc::clone(&logged));
            logged
        };
        // Nobody listening is fine.
        let _ = self.live.send(logged);
    }

    /// Kept events after `last`.
    fn since(&self, last: u64) -> Vec<Arc<Logged>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.0.iter().filter(|e| e.id > last).cloned().collect()
    }
}

fn sse(logged: &Logged) -> Event {
    Event::default()
        .id(logged.id.to_string())
        .event(&logged.name)
        .data(&logged.data)
}

/// Every event name [`event_json`] gives: what another node may relay.
const EVENT_NAMES: &[&str] = &[
    "member_joined",
    "member_left",
    "talking_started",
    "talking_stopped",
    "muted",
    "unmuted",
    "hearing_changed",
    "locked",
    "unlocked",
    "recording_started",
    "recording_stopped",
    "call_ended",
    "caller_refused",
    "wrong_pin",
    "dial_out",
    "conference_created",
    "conference_ended",
    "action",
    "play_finished",
    "draining",
];

/// The JSON of one event on `/events`; its SSE event name is `type`.
fn event_json(n: &Notification) -> (&'static str, serde_json::Value) {
    use serde_json::json;
    match n {
        Notification::MemberJoined {
            conference,
            member,
            caller,
            moderator,
        } => (
            "member_joined",
            json!({"extension_id": conference, "member_id": member, "caller": caller,
                   "role": if *moderator { "moderator" } else { "participant" }}),
        ),
        Notification::MemberLeft {
            conference,
            member,
            reason,
        } => (
            "member_left",
            json!({"extension_id": conference, "member_id": member, "reason": reason}),
        ),
        Notification::Talking {
            conference,
            member,
            talking,
        } => (
            if *talking {
                "talking_started"
            } else {
                "talking_stopped"
            },
            json!({"extension_id": conference, "member_id": member}),
        ),
        Notification::Muted {
            conference,
            member,
            muted,
        } => (
            if *muted { "muted" } else { "unmuted" },
            json!({"extension_id": conference, "member_id": member}),
        ),
        Notification::Hearing {
            conference,
            member,
            hearing,
        } => (
            "hearing_changed",
            json!({
                "extension_id": conference,
                "member_id": member,
                "volume_in_db": f64::from(hearing.input_tenths_db) / 10.0,
                "volume_out_db": f64::from(hearing.output_tenths_db) / 10.0,
                "deaf": hearing.deaf,
            }),
        ),
        Notification::Locked { conference, locked } => (
            if *locked { "locked" } else { "unlocked" },
            json!({"extension_id": conference}),
        ),
        Notification::RecordingStarted {
            conference,
            member,
            recording,
        } => (
            "recording_started",
            json!({"extension_id": conference, "member_id": member, "recording_id": recording}),
        ),
        Notification::RecordingStopped {
            conference,
            member,
            recording,
            reason,
        } => (
            "recording_stopped",
            json!({"extension_id": conference, "member_id": member, "recording_id": recording, "reason": reason}),
        ),
        Notification::CallEnded(summary) => (
            "call_ended",
            json!({"extension_id": summary.conference, "member_id": summary.member,
                   "call_id": summary.sip_call_id, "caller": summary.caller,
                   "codec": summary.codec, "duration_ms": summary.duration_ms,
                   "reason": summary.reason}),
        ),
        Notification::Refused {
            conference,
            caller,
            reason,
        } => (
            "caller_refused",
            json!({"extension_id": conference, "caller": caller, "reason": reason}),
        ),
        Notification::WrongPin { conference, caller } => (
            "wrong_pin",
            json!({"extension_id": conference, "caller": caller}),
        ),
        Notification::DialOut {
            conference,
            member,
            caller,
            number,
            outcome,
        } => (
            "dial_out",
            json!({"extension_id": conference, "member_id": member, "caller": caller,
                   "number": number, "outcome": outcome}),
        ),
        Notification::ConferenceCreated { conference, by } => (
            "conference_created",
            json!({"extension_id": conference, "temporary": true, "by": by}),
        ),
        Notification::ConferenceEnded { conference, reason } => (
            "conference_ended",
            json!({"extension_id": conference, "temporary": true, "reason": reason}),
        ),
        Notification::Action {
            conference,
            action,
            member,
            by,
        } => (
            "action",
            match by {
                chorus_engine::Actor::Api => json!({"extension_id": conference,
                    "action": action, "member_id": member, "by": "api"}),
                chorus_engine::Actor::Keypad { member: presser } => json!({
                    "extension_id": conference, "action": action, "member_id": member,
                    "by": "keypad", "by_member_id": presser}),
            },
        ),
        Notification::PlayFinished {
            conference,
            play,
            member,
        } => (
            "play_finished",
            json!({"extension_id": conference, "play_id": play, "member_id": member}),
        ),
        Notification::Draining { calls } => ("draining", json!({"calls": calls})),
    }
}

#[utoipa::path(get, path = "/events", tag = "live",
    params(("Last-Event-ID" = Option<String>, Header, description = "Replay the kept events after this id")),
    responses((status = 200, description = "Server-Sent Events, each with an id and a timestamp: member_joined, member_left, call_ended (one summary per call), talking_started, talking_stopped, muted, unmuted, hearing_changed (an operator set a member's volume or deafness), locked, unlocked, recording_started, recording_stopped, caller_refused (locked or full), wrong_pin (never the keys), dial_out (*8: number, who keyed it, outcome), conference_created and conference_ended (temporary conferences: by factory or api; ended when empty or by api), action (every change someone asked for: action, member_id, by api or keypad with by_member_id), play_finished (a sound played over REST ended for everyone it was played to), draining (the node began to drain, with its calls)", content_type = "text/event-stream", body = String)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let log = Arc::clone(&state.inner.events);
    // Subscribe before reading the backlog, so nothing falls between the two.
    let receiver = log.live.subscribe();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let backlog = last.map(|l| log.since(l)).unwrap_or_default();
    let sent = backlog.last().map(|e| e.id).or(last).unwrap_or(0);
    let replay = futures_util::stream::iter(backlog.into_iter().map(|e| Ok(sse(&e))));
    let live = futures_util::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(logged) if logged.id > sent => return Some((Ok(sse(&logged)), receiver)),
                Ok(_) => continue,
                // A slow client missed some: carry on with the newest (it can replay).
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    use futures_util::StreamExt;
    Sse::new(replay.chain(live)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
