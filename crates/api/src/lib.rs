//! The REST management API, the only crate that speaks HTTP and JSON.
//!
//! - `/extension/{extension_id}/conference/`: the conference properties (GET, PUT with any
//!   subset, DELETE), validated field by field, stored through `chorus-store`, and pushed
//!   to the running bridge so the next caller meets them.
//! - `/sound/`: WAV uploads, converted once to what the mixer plays.
//! - `/conference/`, `…/members/`, `…/lock`: live state and control, through
//!   [`chorus_net::ControlHandle`].
//! - `…/recordings/`: recordings of legs invited with `*8`.
//! - `/events` (Server-Sent Events), `/metrics` (Prometheus), `/openapi.json`, `/docs/`.
//! - `/health` and `/ready`, open without a token (and so, unless told otherwise, are the
//!   document and the API browser: they hold no secrets).
//!
//! Build the router with [`router`] and serve it with [`serve`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod actions;
mod cluster;
mod conference;
mod console;
mod error;
mod events;
mod health;
mod hearing;
mod live;
mod openapi;
mod recordings;
mod sounds;
mod temporary;

pub use conference::{extension_configs, seed_check};
pub use error::{ApiError, ErrorBody};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chorus_engine::Notification;
use chorus_net::{ControlHandle, Metrics};
use chorus_store::Store;
use chorus_types::Clip;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

/// Limits on what the API accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Highest `max_members` an operator may set.
    pub max_members_cap: u32,
    /// Largest sound upload in bytes.
    pub max_sound_bytes: usize,
    /// Longest sound in seconds.
    pub max_sound_seconds: u32,
    /// Shortest PIN accepted.
    pub min_pin_digits: usize,
    /// Require the token for `/docs/` and `/openapi.json` too.
    pub protect_docs: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_members_cap: 1000,
            max_sound_bytes: 20 * 1024 * 1024,
            max_sound_seconds: 600,
            min_pin_digits: 4,
            protect_docs: false,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    control: ControlHandle,
    /// Numbered recent events for `/events`.
    events: Arc<events::EventLog>,
    metrics: Arc<Metrics>,
    token: Option<String>,
    limits: Limits,
    /// Where recordings of invited legs are written.
    recordings: std::path::PathBuf,
    /// Sounds already decoded, by id (uploads are immutable).
    clips: Mutex<HashMap<i64, Clip>>,
    /// Serialises "store changed, push the new settings to the bridge", so two
    /// concurrent changes cannot reach the engine in the wrong order.
    publish: tokio::sync::Mutex<()>,
    /// The other nodes, on a node of several.
    cluster: std::sync::OnceLock<Arc<chorus_cluster::Directory>>,
}

impl AppState {
    /// The state for [`router`].
    pub fn new(
        store: Arc<dyn Store>,
        control: ControlHandle,
        notify: broadcast::Sender<Notification>,
        metrics: Arc<Metrics>,
        token: Option<String>,
        limits: Limits,
        recordings: std::path::PathBuf,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                control,
                events: events::EventLog::start(&notify),
                metrics,
                token: token.filter(|t| !t.is_empty()),
                limits,
                recordings,
                clips: Mutex::new(HashMap::new()),
                publish: tokio::sync::Mutex::new(()),
                cluster: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes this node's API speak for every node in `directory`: actions on conferences
    /// hosted elsewhere are forwarded there, lists and events cover every node.
    pub fn join_cluster(&self, directory: Arc<chorus_cluster::Directory>) {
        self.inner.events.join_cluster(Arc::clone(&directory));
        let _ = self.inner.cluster.set(directory);
    }

    /// Runs a store call off the async threads (SQLite commits wait for the disk).
    async fn store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = Arc::clone(&self.inner.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| ApiError::internal(format!("store task: {e}")))
    }

    /// Reads every extension from the store again and pushes it to the running bridge:
    /// what a node does when another node changed the shared store.
    pub async fn reload_extensions(&self) -> Result<(), String> {
        self.publish_extensions()
            .await
            .map_err(|e| format!("{e:?}"))
    }

    /// Pushes every extension's current settings to the running bridge.
    async fn publish_extensions(&self) -> Result<(), ApiError> {
        let _order = self.inner.publish.lock().await;
        let state = self.clone();
        let configs = self
            .store(move |store| {
                let mut clips = state
                    .inner
                    .clips
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                extension_configs(store, &mut clips)
            })
            .await?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        // A stopped bridge is not the operator's error: the store has the change.
        let _ = self
            .inner
            .control
            .send(chorus_net::Control::SetExtensions(configs));
        Ok(())
    }
}

/// Paths served without a token: probes always, the API document unless protected.
fn is_open(path: &str, protect_docs: bool) -> bool {
    matches!(path, "/health" | "/ready")
        || console::is_console(path)
        || !protect_docs
            && (path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/"))
}

/// Requires `Authorization: Bearer <token>` when a token is configured.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.inner.token else {
        return next.run(request).await;
    };
    if is_open(request.uri().path(), state.inner.limits.protect_docs) {
        return next.run(request).await;
    }
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time, so the comparison leaks nothing about the token.
    if bool::from(offered.as_bytes().ct_eq(token.as_bytes())) {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Counts every request by its route template and status (outermost, so refusals by the
/// token check count too).
async fn count_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .inner
        .metrics
        .http_requests
        .get_or_create(&chorus_net::HttpRequest {
            route,
            code: response.status().as_u16(),
        })
        .inc();
    response
}

/// Gives the framework's own refusals (a bad path parameter or query, a body over the
/// limit, an unknown route, a method the route lacks) the one JSON error shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut out = ApiError::client(status, message).into_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let api = conference::routes()
        .merge(sounds::routes(state.inner.limits))
        .merge(live::routes())
        .merge(hearing::routes())
        .merge(actions::routes())
        .merge(temporary::routes())
        .merge(recordings::routes())
        .merge(health::routes())
        .merge(cluster::routes())
        .merge(openapi::routes())
        .merge(console::routes());
    api.fallback(|| async { ApiError::client(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            cluster::route,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?address, "REST API listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
