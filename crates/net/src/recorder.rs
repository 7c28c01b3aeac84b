//! Writes recordings of invited legs: a stereo WAV per leg (left: what the invited party
//! said, right: what they heard) and, when the leg ends, a JSON sidecar.
//!
//! Files are written on a thread of their own, so a slow disk never delays a mixing tick.
//! The WAV header is rewritten every second, so a crash or `kill -9` leaves a playable
//! file holding everything up to a second before. A write error stops the recording, not
//! the call.

use chorus_engine::{CallId, Notification};
use chorus_types::Frame;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::SystemTime;
use tokio::sync::broadcast;
use tracing::{info, warn};

/// Frames between header rewrites (one second).
const FLUSH_FRAMES: u32 = 50;

pub(crate) enum Recording {
    Start {
        call: CallId,
        conference: String,
        number: String,
        call_id: String,
    },
    /// Boxed: two frames are 640 bytes, the other variants a few words.
    Frames {
        call: CallId,
        audio: Box<(Frame, Frame)>,
    },
    Stop {
        call: CallId,
    },
}

struct Open {
    call: CallId,
    writer: hound::WavWriter<BufWriter<File>>,
    wav: PathBuf,
    conference: String,
    number: String,
    call_id: String,
    started: SystemTime,
    frames: u64,
}

/// The sending side; a thread writes.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    sender: Sender<Recording>,
}

impl Recorder {
    /// Starts the writer thread for recordings under `dir`; started and stopped recordings
    /// are announced on `notify`.
    pub(crate) fn start(
        dir: PathBuf,
        notify: broadcast::Sender<Notification>,
    ) -> std::io::Result<Recorder> {
        let (sender, receiver) = channel();
        std::thread::Builder::new()
            .name("chorus-recorder".into())
            .spawn(move || write_loop(&dir, &receiver, &notify))?;
        Ok(Recorder { sender })
    }

    pub(crate) fn send(&self, recording: Recording) {
        let _ = self.sender.send(recording);
    }
}

fn file_stem(number: &str, when: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(when)
        .to_string()
        .replace([':', '-'], "");
    let number: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{stamp}-{number}")
}

fn open(
    dir: &std::path::Path,
    conference: &str,
    number: &str,
) -> std::io::Result<(PathBuf, hound::WavWriter<BufWriter<File>>)> {
    let folder = dir.join(conference);
    std::fs::create_dir_all(&folder)?;
    let wav = folder.join(format!("{}.wav", file_stem(number, SystemTime::now())));
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let writer = hound::WavWriter::create(&wav, spec).map_err(std::io::Error::other)?;
    Ok((wav, writer))
}

fn recording_id(wav: &std::path::Path) -> String {
    wav.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn finish(open: Open, reason: &str, notify: &broadcast::Sender<Notification>) {
    let _ = notify.send(Notification::RecordingStopped {
        conference: open.conference.clone(),
        member: open.call.0,
        recording: recording_id(&open.wav),
        reason: reason.to_owned(),
    });
    let Open {
        call: _,
        writer,
        wav,
        conference,
        number,
        call_id,
        started,
        frames,
    } = open;
    if let Err(e) = writer.finalize() {
        warn!(file = %wav.display(), error = %e, "recording could not be finished");
    }
    let ended = SystemTime::now();
    let sidecar = serde_json::json!({
        "extension_id": conference,
        "number": number,
        "call_id": call_id,
        "start": humantime::format_rfc3339_seconds(started).to_string(),
        "end": humantime::format_rfc3339_seconds(ended).to_string(),
        "duration_ms": frames * 20,
    });
    let json = wav.with_extension("json");
    match std::fs::write(&json, sidecar.to_string()) {
        Ok(()) => info!(file = %wav.display(), seconds = frames / 50, "recording finished"),
        Err(e) => warn!(file = %json.display(), error = %e, "recording sidecar not written"),
    }
}

fn write_loop(
    dir: &std::path::Path,
    receiver: &Receiver<Recording>,
    notify: &broadcast::Sender<Notification>,
) {
    let mut open_files: HashMap<CallId, Open> = HashMap::new();
    while let Ok(message) = receiver.recv() {
        match message {
            Recording::Start {
                call,
                conference,
                number,
                call_id,
            } => match open(dir, &conference, &number) {
                Ok((wav, writer)) => {
                    info!(file = %wav.display(), "recording started");
                    let _ = notify.send(Notification::RecordingStarted {
                        conference: conference.clone(),
                        member: call.0,
                        recording: recording_id(&wav),
                    });
                    open_files.insert(
                        call,
                        Open {
                            call,
                            writer,
                            wav,
                            conference,
                            number,
                            call_id,
                            started: SystemTime::now(),
                            frames: 0,
                        },
                    );
                }
                Err(e) => {
                    warn!(error = %e, dir = %dir.display(), "recording not started; the call goes on")
                }
            },
            Recording::Frames { call, audio } => {
                let (said, heard) = *audio;
                let Some(file) = open_files.get_mut(&call) else {
                    continue;
                };
                let mut result = Ok(());
                for (l, r) in said.iter().zip(heard.iter()) {
                    result = file
                        .writer
                        .write_sample(*l)
                        .and_then(|()| file.writer.write_sample(*r));
                    if result.is_err() {
                        break;
                    }
                }
                file.frames += 1;
                if result.is_ok() && file.frames.is_multiple_of(u64::from(FLUSH_FRAMES)) {
                    result = file.writer.flush();
                }
                if let Err(e) = result {
                    warn!(file = %file.wav.display(), error = %e, "recording stopped; the call goes on");
                    if let Some(broken) = open_files.remove(&call) {
                        finish(broken, &format!("error: {e}"), notify);
                    }
                }
            }
            Recording::Stop { call } => {
                if let Some(file) = open_files.remove(&call) {
                    finish(file, "hangup", notify);
                }
            }
        }
    }
    for (_, file) in open_files.drain() {
        finish(file, "shutdown", notify);
    }
}
