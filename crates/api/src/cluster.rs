//! The API of one node speaking for all (several nodes on one database): an action on a
//! conference another node hosts is carried out there (the request is forwarded, the
//! answer returned as it came), and the list of live conferences is every node's.
//! `/admin/drain` empties this node.
//!
//! A forwarded request carries [`FORWARDED`], and a request that carries it is always
//! answered by the node it reached: one hop, never a loop. It also carries the caller's
//! `Authorization` header: the nodes share one `--api-token`.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chorus_cluster::Peer;
use chorus_net::Control;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Marks a request one node forwarded to another.
pub(crate) const FORWARDED: &str = "x-chorus-forwarded";
/// How long a node waits for another.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request body forwarded: live control takes small JSON bodies.
const MAX_REQUEST: usize = 64 * 1024;
/// The largest answer relayed (a recording of several hours fits).
const MAX_BODY: u64 = 1 << 30;

/// Which node answers a request.
fn conference_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/extension/")?;
    let (extension, rest) = rest.split_once('/')?;
    // Live control only: settings live in the shared store, which any node serves.
    let live = [
        "conference/members",
        "conference/lock",
        "conference/unlock",
        "conference/recordings",
        "conference/recording/",
        "conference/mute-all",
        "conference/unmute-all",
        "conference/play",
    ]
    .iter()
    .any(|prefix| rest.starts_with(prefix));
    live.then_some(extension)
}

/// What a request asks of the cluster, when no node hosts its conference.
#[derive(Debug, PartialEq, Eq)]
enum Ask {
    /// A list every node has a part of: the live conferences, an extension's recordings.
    Merged,
    /// One recording, on whichever node made it.
    AnyNode,
    /// This node's answer is the answer.
    Here,
}

fn ask_of(method: &Method, path: &str) -> Ask {
    let recordings = path
        .strip_prefix("/extension/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(_, rest)| rest.strip_prefix("conference/recordings"));
    match (recordings, path) {
        (_, "/conference/" | "/conference") if method == Method::GET => Ask::Merged,
        (Some("" | "/"), _) if method == Method::GET => Ask::Merged,
        (Some(id), _) if id.len() > 1 && (method == Method::GET || method == Method::DELETE) => {
            Ask::AnyNode
        }
        _ => Ask::Here,
    }
}

/// Forwards live control of a conference another node hosts; merges lists every node has
/// a part of; finds a recording on whichever node has it.
pub(crate) async fn route(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(directory) = state.inner.cluster.get().cloned() else {
        return next.run(request).await;
    };
    if request.headers().contains_key(FORWARDED) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    if let Some(host) = conference_of(&path).and_then(|c| directory.host_of(c)) {
        return forward(&host, directory.node(), request).await;
    }
    let ask = ask_of(request.method(), &path);
    if ask == Ask::Here {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let peer_request = |peer: &Peer| {
        let mut ask = axum::http::Request::builder()
            .method(method.clone())
            .uri(format!("{}{path_and_query}", peer.api_url))
            .header(FORWARDED, directory.node());
        if let Some(value) = &authorization {
            ask = ask.header(header::AUTHORIZATION, value);
        }
        ask.body(Vec::new()).ok()
    };
    let mine = next.run(request).await;
    if ask == Ask::AnyNode {
        if mine.status() != StatusCode::NOT_FOUND {
            return mine;
        }
        for peer in directory.peers() {
            let Some(request) = peer_request(&peer) else {
                continue;
            };
            if let Ok((status, content_type, body)) = call(request).await
                && status != StatusCode::NOT_FOUND
            {
                return relayed(&peer, status, content_type, body);
            }
        }
        return mine;
    }
    if mine.status() != StatusCode::OK {
        return mine;
    }
    let Ok(body) = axum::body::to_bytes(mine.into_body(), usize::MAX).await else {
        return ApiError::internal("reading a list").into_response();
    };
    let mut all: Vec<serde_json::Value> = with_node(&body, directory.node());
    for peer in directory.peers() {
        let Some(request) = peer_request(&peer) else {
            continue;
        };
        match call(request).await {
            Ok((StatusCode::OK, _, body)) => all.extend(with_node(&body, &peer.name)),
            Ok((status, _, _)) => {
                tracing::warn!(node = %peer.name, %status, %path, "another node refused its part of a list")
            }
            Err(e) => tracing::warn!(node = %peer.name, error = %e, "another node did not answer"),
        }
    }
    Json(all).into_response()
}

/// Another node's answer, as it came, naming the node.
fn relayed(
    peer: &Peer,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Vec<u8>,
) -> Response {
    let mut response = (status, body).into_response();
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&peer.name) {
        response.headers_mut().insert("x-chorus-node", value);
    }
    response
}

/// The items of a JSON array, each with `node` set.
fn with_node(body: &[u8], node: &str) -> Vec<serde_json::Value> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|mut item| {
            if let Some(object) = item.as_object_mut() {
                object.insert("node".to_owned(), node.into());
            }
            item
        })
        .collect()
}

/// Sends `request` on to `peer` and returns its answer as it came.
async fn forward(peer: &Peer, me: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST).await else {
        return ApiError::client(StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let target = format!(
        "{}{}",
        peer.api_url,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut ask = axum::http::Request::builder()
        .method(parts.method)
        .uri(target)
        .header(FORWARDED, me);
    for name in [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::IF_MATCH,
    ] {
        if let Some(value) = parts.headers.get(&name) {
            ask = ask.header(name, value);
        }
    }
    let Ok(ask) = ask.body(body.to_vec()) else {
        return ApiError::internal("building the forwarded request").into_response();
    };
    match call(ask).await {
        Ok((status, content_type, body)) => relayed(peer, status, content_type, body),
        Err(e) => {
            tracing::warn!(node = %peer.name, error = %e, "forwarding to the hosting node failed");
            ApiError::client(
                StatusCode::BAD_GATEWAY,
                format!(
                    "node {} hosts this conference and did not answer",
                    peer.name
                ),
            )
            .into_response()
        }
    }
}

/// One HTTP exchange with another node, off the async threads.
async fn call(
    request: axum::http::Request<Vec<u8>>,
) -> Result<(StatusCode, Option<HeaderValue>, Vec<u8>), String> {
    let done = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(PEER_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent.run(request).map_err(|e| e.to_string())?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok((status, content_type, body))
    });
    done.await.map_err(|e| e.to_string())?
}

/// What `POST /admin/drain` answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Draining {
    /// Always true: the node drains from now until it exits.
    draining: bool,
    /// Calls still up on this node.
    calls: usize,
}

#[utoipa::path(post, path = "/admin/drain", tag = "operations",
    responses((status = 202, description = "The node drains: callers of conferences it hosts still join; new conferences go to other nodes (OPTIONS answer 503); the process exits when its last call ends, or hangs everyone up at --drain-timeout. Asking again changes nothing", body = Draining)))]
pub(crate) async fn drain(State(state): State<AppState>) -> Result<Response, ApiError> {
    let calls = state.inner.control.ask(Control::Drain).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Draining {
            draining: true,
            calls,
        }),
    )
        .into_response())
}

pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/admin/drain", axum::routing::post(drain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_control_of_a_conference_is_forwarded() {
        for (path, conference) in [
            ("/extension/700/conference/members/", Some("700")),
            ("/extension/700/conference/members/3/mute", Some("700")),
            ("/extension/700/conference/lock", Some("700")),
            ("/extension/700/conference/recordings/5", Some("700")),
            ("/extension/700/conference/mute-all", Some("700")),
            ("/extension/700/conference/play", Some("700")),
            ("/extension/700/conference/recording/start", Some("700")),
            // Settings live in the shared store: any node answers.
            ("/extension/700/conference/", None),
            ("/sound/", None),
            ("/conference/", None),
            ("/extension/", None),
        ] {
            assert_eq!(conference_of(path), conference, "{path}");
        }
    }

    #[test]
    fn lists_are_merged_and_a_recording_is_sought_on_every_node() {
        for (method, path, ask) in [
            (Method::GET, "/conference/", Ask::Merged),
            (Method::POST, "/conference/", Ask::Here),
            (
                Method::GET,
                "/extension/700/conference/recordings",
                Ask::Merged,
            ),
            (
                Method::GET,
                "/extension/700/conference/recordings/",
                Ask::Merged,
            ),
            (
                Method::GET,
                "/extension/700/conference/recordings/r1",
                Ask::AnyNode,
            ),
            (
                Method::DELETE,
                "/extension/700/conference/recordings/r1",
                Ask::AnyNode,
            ),
            (Method::GET, "/extension/700/conference/", Ask::Here),
            (Method::GET, "/sound/", Ask::Here),
        ] {
            assert_eq!(ask_of(&method, path), ask, "{method} {path}");
        }
    }

    #[test]
    fn every_row_of_a_list_names_its_node() {
        let rows = with_node(br#"[{"extension_id":"700"},{"extension_id":"701"}]"#, "b");
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r["node"] == "b"));
        assert!(with_node(b"not json", "b").is_empty());
    }
}
