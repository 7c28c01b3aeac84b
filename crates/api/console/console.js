// The operator console: plain JavaScript over the REST API and /events, nothing fetched
// from anywhere but this bridge. Caller names come from the network: they only ever
// reach the page as text (never as HTML).
"use strict";

const TOKEN_KEY = "chorus-token";
const PROPERTIES = [
  ["pin", "text", "PIN"],
  ["moderator_pin", "text", "Moderator PIN"],
  ["max_members", "number", "Most members"],
  ["mute_non_moderator", "checkbox", "Participants enter muted"],
  ["announce_caller_name", "checkbox", "Announce each caller's name"],
  ["record_enabled", "checkbox", "Record invited numbers (*8)"],
  ["enter_sound", "sound", "Entry sound"],
  ["music_on_hold_sound", "sound", "Music while alone"],
];

let events = null;

/** An element with attributes (`on*` become listeners) and children (strings as text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function say(message, bad = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.className = bad ? "error" : "";
}

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

class Unauthorized extends Error {}

/** A call to the API: the parsed JSON (or null), or the API's error body thrown. */
async function api(method, path, body, type = "application/json") {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": type }) };
  if (body !== undefined) init.body = type === "application/json" ? JSON.stringify(body) : body;
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorized();
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw Object.assign(new Error(json?.message ?? response.statusText), { body: json });
  return json;
}

/** Runs an operator action, saying what happened. */
async function act(label, method, path, body) {
  try {
    await api(method, path, body);
    say(`${label}: done`);
    return true;
  } catch (e) {
    if (e instanceof Unauthorized) return askToken();
    say(`${label}: ${e.message}`, true);
    return false;
  }
}

function askToken() {
  const main = document.getElementById("main");
  main.replaceChildren(document.getElementById("token-form").content.cloneNode(true));
  const form = document.getElementById("token");
  document.getElementById("token-value").focus();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-value").value);
    route();
  });
}

// Live events: fetch (not EventSource) so the token goes in a header.
async function follow(onEvent) {
  if (events) events.abort();
  events = new AbortController();
  try {
    const response = await fetch("/events", { headers: headers(), signal: events.signal });
    if (!response.ok) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data) onEvent(name, JSON.parse(data));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") say("event stream lost; reload to follow again", true);
  }
}

async function conferencesPage(main) {
  const [live, extensions] = await Promise.all([
    api("GET", "/conference/"),
    api("GET", "/extension/?limit=500"),
  ]);
  const counts = new Map(live.map((c) => [c.extension_id, c]));
  const rows = extensions.items.map((item) => {
    const c = counts.get(item.extension_id);
    return el("tr", {},
      el("td", {}, el("a", { href: `#/conference/${encodeURIComponent(item.extension_id)}` }, item.extension_id)),
      el("td", { "data-members": item.extension_id }, String(c?.members ?? 0)),
      el("td", {}, c?.locked ? "locked" : ""),
      el("td", {}, c?.recording ? "recording" : ""));
  });
  main.replaceChildren(
    el("h2", {}, "Conferences"),
    el("table", {},
      el("caption", {}, "Extensions and who is in them now"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Extension"), el("th", { scope: "col" }, "Members"),
        el("th", { scope: "col" }, "Lock"), el("th", { scope: "col" }, "Recording"))),
      el("tbody", {}, rows)));
  follow((name) => {
    if (["member_joined", "member_left", "locked", "unlocked", "recording_started", "recording_stopped"].includes(name)) {
      clearTimeout(conferencesPage.pending);
      conferencesPage.pending = setTimeout(route, 200);
    }
  });
}

function memberRow(base, m, extensions) {
  const media = m.media ?? {};
  const loss = media.packets_received ? (100 * media.packets_lost / (media.packets_received + media.packets_lost)).toFixed(1) : "0.0";
  const path = `${base}members/${m.id}/`;
  return el("tr", { id: `member-${m.id}` },
    el("td", {}, m.caller),
    el("td", {}, m.role),
    el("td", {}, m.codec),
    el("td", { class: m.talking ? "talking" : "quiet", "data-talking": String(m.talking) }, m.talking ? "talking" : "quiet"),
    el("td", { "data-muted": String(m.muted) }, m.muted ? "muted" : "open"),
    el("td", {}, `${loss} % lost, ${media.jitter_ms ?? 0} ms jitter`),
    el("td", {},
      el("button", { type: "button", "aria-label": `${m.muted ? "Unmute" : "Mute"} ${m.caller}`,
        onclick: () => act(m.muted ? "unmute" : "mute", "POST", `${path}${m.muted ? "unmute" : "mute"}`) },
        m.muted ? "Unmute" : "Mute"),
      el("button", { type: "button", "aria-label": `${m.deaf ? "Let hear" : "Deafen"} ${m.caller}`,
        onclick: () => act(m.deaf ? "undeaf" : "deaf", "POST", `${path}${m.deaf ? "undeaf" : "deaf"}`).then(route) },
        m.deaf ? "Undeafen" : "Deafen"),
      el("button", { type: "button", "aria-label": `Hang up ${m.caller}`,
        onclick: () => act("kick", "POST", `${path}kick`) }, "Kick"),
      moveControl(path, m, extensions)));
}

/** A member's move: the other extensions, and a button. */
function moveControl(path, m, extensions) {
  const id = `move-${m.id}`;
  const choice = el("select", { id, "aria-label": `Move ${m.caller} to` },
    extensions.map((e) => el("option", { value: e }, e)));
  return el("span", {}, choice,
    el("button", { type: "button", "aria-label": `Move ${m.caller}`,
      onclick: () => act("move", "POST", `${path}move`, { to: choice.value }) }, "Move"));
}

function field(name, type, label, value, sounds) {
  const id = `setting-${name}`;
  let input;
  if (type === "checkbox") {
    input = el("input", { id, name, type, checked: value === true });
  } else if (type === "sound") {
    input = el("select", { id, name },
      el("option", { value: "" }, "none"),
      sounds.map((s) => el("option", { value: String(s.id), selected: s.id === value }, s.name)));
  } else {
    input = el("input", { id, name, type, value: value ?? "", "aria-describedby": `${id}-error` });
  }
  input.setAttribute("aria-describedby", `${id}-error`);
  return el("div", { class: "row" },
    el("label", { for: id }, label), input,
    el("span", { id: `${id}-error`, class: "error", "data-error-for": name }));
}

function settingsForm(ext, settings, sounds) {
  const path = `/extension/${encodeURIComponent(ext)}/conference/`;
  const form = el("form", { id: "settings", "aria-labelledby": "settings-title" },
    el("h3", { id: "settings-title" }, "Settings"),
    PROPERTIES.map(([name, type, label]) => field(name, type, label, settings[name], sounds)),
    el("button", { type: "submit" }, "Save settings"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, type] of PROPERTIES) {
      const input = form.elements[name];
      if (type === "checkbox") body[name] = input.checked;
      else if (type === "number" || type === "sound") body[name] = input.value === "" ? null : Number(input.value);
      else body[name] = input.value === "" ? null : input.value;
    }
    for (const span of form.querySelectorAll("[data-error-for]")) span.textContent = "";
    try {
      await api("PUT", path, body);
      say("settings saved");
    } catch (e) {
      if (e instanceof Unauthorized) return askToken();
      const errors = e.body?.errors?.length ? e.body.errors : [e.body ?? { message: e.message }];
      for (const error of errors) {
        const span = form.querySelector(`[data-error-for="${error.field}"]`);
        if (span) span.textContent = error.message;
      }
      say(`settings not saved: ${e.message}`, true);
      form.querySelector(`[data-error-for="${errors[0]?.field}"]`)?.previousElementSibling?.focus();
    }
  });
  return form;
}

async function recordingsList(base) {
  const recordings = await api("GET", `${base}recordings/`);
  return el("table", { id: "recordings" },
    el("caption", {}, "Recordings"),
    el("tbody", {}, recordings.map((r) => el("tr", {},
      el("td", {}, r.id), el("td", {}, r.kind), el("td", {}, r.finished ? `${(r.duration_ms / 1000).toFixed(0)} s` : "recording"),
      el("td", {},
        el("button", { type: "button", onclick: () => playRecording(base, r.id) }, "Play"),
        el("button", { type: "button", onclick: () => download(`${base}recordings/${r.id}`, `${r.id}.wav`) }, "Download"),
        el("button", { type: "button", "aria-label": `Delete recording ${r.id}`,
          onclick: async () => { if (await act("delete", "DELETE", `${base}recordings/${r.id}`)) route(); } }, "Delete"))))));
}

/** Fetches a file with the token and hands the browser a local URL for it. */
async function blobUrl(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw new Error(response.statusText);
  return URL.createObjectURL(await response.blob());
}

async function playRecording(base, id) {
  const audio = document.getElementById("player");
  audio.src = await blobUrl(`${base}recordings/${id}`);
  audio.play().catch(() => {});
}

async function download(path, name) {
  const link = el("a", { href: await blobUrl(path), download: name });
  link.click();
}

async function conferencePage(main, ext) {
  const base = `/extension/${encodeURIComponent(ext)}/conference/`;
  const [settings, live, sounds, all] = await Promise.all([
    api("GET", base), api("GET", "/conference/"), api("GET", "/sound/"), api("GET", "/extension/?limit=500"),
  ]);
  const others = all.items.map((i) => i.extension_id).filter((e) => e !== ext);
  const state = live.find((c) => c.extension_id === ext);
  let members = [];
  try { members = await api("GET", `${base}members/`); } catch (e) { if (e instanceof Unauthorized) throw e; }
  const tbody = el("tbody", { id: "members" }, members.map((m) => memberRow(base, m, others)));
  const soundChoice = el("select", { id: "play-sound", "aria-label": "Sound to play" },
    sounds.map((s) => el("option", { value: String(s.id) }, s.name)));
  const number = el("input", { id: "dial-number", type: "tel", "aria-label": "Number to dial", inputmode: "numeric" });
  main.replaceChildren(
    el("h2", {}, `Conference ${ext}`),
    el("div", { class: "actions", role: "group", "aria-label": "Whole conference" },
      el("button", { type: "button", onclick: () => act("mute all", "POST", `${base}mute-all`) }, "Mute all"),
      el("button", { type: "button", onclick: () => act("unmute all", "POST", `${base}unmute-all`) }, "Unmute all"),
      el("button", { type: "button", onclick: async () => { await act("lock", "POST", `${base}${state?.locked ? "unlock" : "lock"}`); route(); } },
        state?.locked ? "Unlock" : "Lock"),
      el("button", { type: "button", onclick: async () => { await act("recording", "POST", `${base}recording/${state?.recording ? "stop" : "start"}`); route(); } },
        state?.recording ? "Stop recording" : "Start recording"),
      soundChoice,
      el("button", { type: "button", onclick: () => act("play", "POST", `${base}play`, { sound: Number(soundChoice.value) }) }, "Play sound"),
      number,
      el("button", { type: "button", onclick: () => act("dial", "POST", `${base}members/`, { number: number.value }) }, "Dial")),
    el("table", {},
      el("caption", {}, "Members"),
      el("thead", {}, el("tr", {}, ["Caller", "Role", "Codec", "Talking", "Muted", "Media", "Actions"].map((h) => el("th", { scope: "col" }, h)))),
      tbody),
    settingsForm(ext, settings, sounds),
    await recordingsList(base),
    el("audio", { id: "player", controls: true, "aria-label": "Recording player" }));
  follow(async (name, data) => {
    if (data.extension_id !== ext) return;
    if (name === "talking_started" || name === "talking_stopped") {
      const cell = document.querySelector(`#member-${data.member_id} [data-talking]`);
      if (cell) {
        const talking = name === "talking_started";
        cell.dataset.talking = String(talking);
        cell.className = talking ? "talking" : "quiet";
        cell.textContent = talking ? "talking" : "quiet";
      }
    } else if (["member_joined", "member_left", "muted", "unmuted", "hearing_changed"].includes(name)) {
      try {
        const now = await api("GET", `${base}members/`);
        tbody.replaceChildren(...now.map((m) => memberRow(base, m, others)));
      } catch {
        tbody.replaceChildren();
      }
    }
  });
}

async function soundsPage(main) {
  const sounds = await api("GET", "/sound/");
  const file = el("input", { id: "sound-file", type: "file", accept: "audio/wav,.wav", required: true });
  const name = el("input", { id: "sound-name", type: "text", required: true, pattern: "[A-Za-z0-9_-]{1,64}" });
  const form = el("form", { id: "upload", "aria-labelledby": "upload-title" },
    el("h3", { id: "upload-title" }, "Upload a sound (WAV)"),
    el("div", { class: "row" }, el("label", { for: "sound-name" }, "Name"), name),
    el("div", { class: "row" }, el("label", { for: "sound-file" }, "File"), file),
    el("button", { type: "submit" }, "Upload"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const bytes = await file.files[0].arrayBuffer();
    try {
      const sound = await api("POST", `/sound/?name=${encodeURIComponent(name.value)}`, bytes, "audio/wav");
      say(`uploaded ${sound.name} as sound ${sound.id}`);
      route();
    } catch (e) {
      if (e instanceof Unauthorized) return askToken();
      say(`not uploaded: ${e.message}`, true);
    }
  });
  main.replaceChildren(
    el("h2", {}, "Sounds"),
    el("table", { id: "sounds" }, el("caption", {}, "Stored sounds"),
      el("tbody", {}, sounds.map((s) => el("tr", {},
        el("td", {}, String(s.id)), el("td", {}, s.name), el("td", {}, `${(s.duration_ms / 1000).toFixed(1)} s`),
        el("td", {}, el("button", { type: "button", "aria-label": `Play ${s.name}`, onclick: async () => {
          const audio = document.getElementById("player");
          audio.src = await blobUrl(`/sound/${s.id}/audio`);
          audio.play().catch(() => {});
        } }, "Play")))))),
    form,
    el("audio", { id: "player", controls: true, "aria-label": "Sound player" }));
}

async function route() {
  const main = document.getElementById("main");
  const hash = location.hash || "#/";
  try {
    const conference = /^#\/conference\/([A-Za-z0-9_-]{1,64})$/.exec(hash);
    if (conference) await conferencePage(main, conference[1]);
    else if (hash === "#/sounds") await soundsPage(main);
    else await conferencesPage(main);
  } catch (e) {
    if (e instanceof Unauthorized) return askToken();
    say(e.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
